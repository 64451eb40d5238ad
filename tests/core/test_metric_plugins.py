"""A metric added to an existing task by a plugin of another package, scored beside the task's own."""
import types

import pytest

from laura_core import hookimpl
from laura_core.errors import LauraError
from laura_core.registry import Registry
from laura_core.scoring.score import score_files
from laura_core.task import Metric, TaskScore


class ExactSentences:
    """asr: the share of utterances transcribed exactly (case-insensitive): a metric asr lacks."""

    task = "asr"
    metrics = (Metric("sentence_accuracy", "utterances transcribed exactly", True, "fraction"),)

    def score(self, pairs):
        right = sum(p.hyp["text"].strip().lower() == p.ref["text"].strip().lower() for p in pairs)
        return TaskScore({"sentence_accuracy": right / len(pairs)}, meta={"version": "exact-1"})


def registry_with(factory, name="sentence_accuracy"):
    mod = types.ModuleType("extra_metrics")

    @hookimpl
    def register_components(register):
        register("metric", name, factory, "exact sentences for asr")

    mod.register_components = register_components
    registry = Registry()
    registry.add_plugin(mod, name="extra_metrics")
    return registry


def write(path, rows):
    path.write_text("".join(f'{{"id": "{i}", "text": "{t}"}}\n' for i, t in rows))
    return path


def test_a_metric_plugin_is_scored_beside_the_tasks_own_with_its_meta(tmp_path):
    registry = registry_with(ExactSentences)
    ref = write(tmp_path / "ref.jsonl", [("a", "hello world"), ("b", "good morning")])
    hyp = write(tmp_path / "hyp.jsonl", [("a", "Hello world"), ("b", "good mourning")])
    report = score_files(registry.task("asr"), ref, hyp, registry)
    assert report.metrics["sentence_accuracy"] == 0.5 and report.metrics["wer"] == pytest.approx(0.25)
    assert report.meta["metric_plugins"]["sentence_accuracy"] == {"version": "exact-1"}
    mt = write(tmp_path / "mt.jsonl", [("a", "hello world")])
    assert "sentence_accuracy" not in score_files(registry.task("mt"), mt, mt, registry).metrics  # asr's only


def test_a_metric_plugin_may_not_shadow_the_tasks_own(tmp_path):
    class Shadow(ExactSentences):
        metrics = (Metric("wer", "another wer", False, "fraction"),)

    registry = registry_with(Shadow, "shadow")
    ref = write(tmp_path / "ref.jsonl", [("a", "hello")])
    with pytest.raises(LauraError, match=r"metric plugin shadow \(extra_metrics.*reuses asr's own metric names \['wer'\]"):
        score_files(registry.task("asr"), ref, ref, registry)

