"""`laura new task NAME`: a ready plugin package for a new task, installable from anywhere.

The package holds the task (``laura_task_NAME.py``), its entry point (``pyproject.toml``), a README,
and a test that walks the whole way a user does, with the `laura` commands themselves: a manifest
of generated recordings -> `laura validate` -> `laura tokenizer train` -> `laura train` (the new task
beside asr, 3 steps of the tiny model) -> `laura infer` -> `laura score`. The test passes as
generated; the task's formatting and metric are where the author starts.

`laura new metric NAME --task TASK`: the same for a metric added to a registered task (a ``metric``
component), with a test that `laura score` gives it beside the task's own metrics.
"""
from __future__ import annotations

import re
from pathlib import Path

from laura_core.errors import ConfigError
from laura_core.io import atomic_write_text
from laura_core.task import Modality, Task

INPUTS, OUTPUTS = ("audio", "text"), ("text", "codec")

_PYPROJECT = '''[build-system]
requires = ["setuptools>=68", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "laura-{kind}-{name}"
version = "0.1.0"
description = "{description}"
requires-python = ">=3.10"
# laura's distribution is laura-speech ("laura" on PyPI is another project)
dependencies = ["laura-speech"]

[project.entry-points.laura]
{name} = "laura_{kind}_{name}"

[tool.setuptools]
py-modules = ["laura_{kind}_{name}"]
'''

_TASK = '''"""The {name} task for laura: {input} -> {output}.

Record fields, as `laura tasks show {name}` prints them once installed: the input is {source_place};
the target is {target_place}.
"""
{imports}from laura_core import hookimpl
{metric_import}from laura_core.task import Field, FieldType, Metric, Modality, Task, TaskScore


class {cls}(Task):
    name = "{name}"
    description = "{name}: {input} -> {output} (say what it does)"
    input = Modality.{input_upper}
    output = Modality.{output_upper}
    source_field = "{source_field}"
    target_field = "{target_field}"
    # The default to_reference writes what a hypothesis holds ("{hyp_field}"), so the reference does too.
    ref_fields = (Field("{hyp_field}", FieldType.{ref_type}, "the reference"),)
    metrics = ({metric},)

    def score(self, pairs, options, registry):
{score}


@hookimpl
def register_tasks(register):
    register({cls}())
'''

_TEXT_METRIC = 'Metric("accuracy", "outputs equal to the reference (trimmed, lowercased)", True, "fraction")'
_TEXT_SCORE = '''        right = sum(p.hyp["text"].strip().lower() == p.ref["text"].strip().lower() for p in pairs)
        return TaskScore({"accuracy": right / len(pairs)})'''
_CODEC_METRIC = 'Metric("si_sdr", "scale-invariant SDR against the reference audio (dB)", True, "dB")'
_CODEC_SCORE = '''        values = []
        for p in pairs:  # a missing output scores the floor
            ref, _ = sf.read(p.ref["audio"], dtype="float32")
            est = sf.read(p.hyp["audio"], dtype="float32")[0] if p.hyp["audio"] else np.zeros(0, np.float32)
            values.append(si_sdr(ref, est))
        return TaskScore({"si_sdr": float(np.mean(values))})'''

_TEST = '''"""The whole way, with the laura commands: data -> validate -> tokenizer -> train -> infer -> score.

Run with `pytest` after `pip install -e .` (next to an installed laura)."""
import json
import subprocess
import sys

import numpy as np
import soundfile as sf
from lhotse import CutSet, MonoCut, Recording, SupervisionSegment

NAME, INPUT, OUTPUT = "{name}", "{input}", "{output}"
SENTENCES = ["the birch canoe slid", "glue the sheet down", "rice in round bowls", "four hours of work",
             "the juice of lemons", "it is easy to tell"]


def laura(*args):
    """Run a laura command as a user would; fail the test with its output when it fails."""
    done = subprocess.run([sys.executable, "-m", "laura_core", *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def wav(path, seconds, pitch):
    t = np.arange(int(seconds * 16000)) / 16000
    sf.write(path, (0.3 * np.sin(2 * np.pi * pitch * t)).astype(np.float32), 16000)
    return Recording.from_file(path, recording_id=path.stem)


def manifest(root):
    """Six records of the task, in the manifest convention (`laura tasks show {name}`)."""
    cuts = []
    for i, sentence in enumerate(SENTENCES):
        rid, custom = f"{{NAME}}-{{i}}", {{}}
        if OUTPUT == "text":
            custom["{target_field}"] = "yes" if i % 2 else "no"
        else:
            # As long as the cut: `laura validate` checks every audio field against the cut's duration.
            custom["{target_field}"] = wav(root / f"target{{i}}.wav", 0.5 if INPUT == "audio" else 1.0, 200 + 40 * i)
        if INPUT == "audio":
            rec = wav(root / f"input{{i}}.wav", 0.5, 150 + 60 * i)
            sup = SupervisionSegment(id=rid, recording_id=rec.id, start=0, duration=rec.duration, text=sentence)
            cuts.append(MonoCut(id=rid, start=0, duration=rec.duration, channel=0, recording=rec,
                                supervisions=[sup], custom=custom))
        else:
            sup = SupervisionSegment(id=rid, recording_id=rid, start=0, duration=1.0, text=sentence)
            cuts.append(MonoCut(id=rid, start=0, duration=1.0, channel=0, supervisions=[sup], custom=custom))
    path = root / "{name}.jsonl.gz"
    CutSet(cuts).to_file(path)
    return path


def test_the_whole_way(tmp_path):
    data = manifest(tmp_path)
    assert "6 records checked, 0 bad" in laura("validate", data, "--task", NAME)
    laura("tokenizer", "train", "--data", f"{{NAME}}={{data}}", "--vocab-size", 60, "--out", tmp_path / "tok")
    tokenizer = tmp_path / "tok" / "tokenizer.model"
    conf = {{"model_size": "tiny", "tokenizer": {{"name": "sentencepiece", "options": {{"model": str(tokenizer)}}}},
            "data": {{"tasks": [{{"task": NAME, "manifest": str(data)}}], "max_duration": 4.0, "num_buckets": 1}},
            "optim": {{"lr": 3e-3, "warmup_steps": 1}}, "max_steps": 3, "save_every": 3, "valid_every": 0}}
    vocoder = []
    if OUTPUT == "codec":  # a codec for the targets' tokens, and a vocoder to voice the model's
        laura("codec", "export", "laura_codec", tmp_path / "codec", "--size", "tiny")
        coded = tmp_path / "coded.jsonl.gz"
        laura("codec", "encode", "--codec", tmp_path / "codec", data, coded, "--field", "{target_field}")
        data = coded
        conf["data"]["tasks"][0]["manifest"] = str(coded)
        conf["codec"] = {{"path": str(tmp_path / "codec")}}
        voc = {{"kind": "vocoder", "codec": conf["codec"], "vocoder": {{"name": "onestep", "size": "tiny"}},
               "tokenizer": conf["tokenizer"], "data": conf["data"], "max_steps": 2, "save_every": 2, "valid_every": 0}}
        (tmp_path / "vocoder.json").write_text(json.dumps(voc))
        laura("train", tmp_path / "vocoder.json", f"exp_dir={{tmp_path / 'voc'}}")
        vocoder = ["--vocoder", tmp_path / "voc" / "checkpoints" / "step_00000002"]
    (tmp_path / "train.json").write_text(json.dumps(conf))  # JSON is YAML
    laura("train", tmp_path / "train.json", f"exp_dir={{tmp_path / 'exp'}}")
    model = tmp_path / "exp" / "checkpoints" / "step_00000003"
    laura("infer", model, tmp_path / "decode", "--data", f"{{NAME}}={{data}}", *vocoder,
          "text.max_new_tokens=4", "codec.max_new_tokens=8")
    laura("score", "--dir", tmp_path / "decode")
    results = json.loads((tmp_path / "decode" / "results.json").read_text())
    (report,) = results.values()
    assert report["task"] == NAME and report["n"] == 6
    metric = "accuracy" if OUTPUT == "text" else "si_sdr"
    assert report["metrics"][metric] is not None  # an untrained model scores low, but it is scored
'''

_README = '''# laura-task-{name}

A [laura](https://github.com/) task plugin: `{name}`, {input} -> {output}.

```sh
pip install -e .              # next to an installed laura: `laura tasks show {name}` now lists it
pytest                        # the whole way: data -> validate -> tokenizer -> train -> infer -> score
```

Records (lhotse cuts): the input is {source_place}; the target is {target_place}.
Train it beside the built-in tasks by naming it in a training config's `data.tasks`; train the
tokenizer with `laura tokenizer train --data {name}=MANIFEST ...` so its targets are spelt.
'''


def package_folder(kind: str, name: str, out_dir: str | Path) -> Path:
    """``out_dir/laura-<kind>-<name>``, refused for a bad name or where it exists already."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ConfigError(f"{kind} name {name!r}: lowercase letters, digits and '_', starting with a letter")
    folder = Path(out_dir) / f"laura-{kind}-{name}"
    if folder.exists():
        raise ConfigError(f"{folder} already exists: choose another --out or remove it")
    return folder


def new_task(name: str, input: str, output: str, out_dir: str | Path) -> Path:
    """Write the plugin package of task ``name`` under ``out_dir/laura-task-<name>``; returns its folder."""
    folder = package_folder("task", name, out_dir)
    if input not in INPUTS or output not in OUTPUTS:
        raise ConfigError(f"--input is one of {', '.join(INPUTS)} and --output one of {', '.join(OUTPUTS)}")
    codec = output == "codec"
    fields = {
        "name": name, "input": input, "output": output, "cls": "".join(p.title() for p in name.split("_")),
        "kind": "task", "description": f"A laura task plugin: {name} ({input} -> {output})",
        "input_upper": input.upper(), "output_upper": output.upper(),
        "source_field": "audio" if input == "audio" else "text",
        "source_place": "the cut's recording" if input == "audio" else "the text of the cut's first supervision",
        "target_field": "target_audio" if codec else "label",
        "target_place": "a Recording in cut.custom['target_audio']" if codec else "a string in cut.custom['label']",
        "hyp_field": "audio" if codec else "text", "ref_type": "AUDIO" if codec else "TEXT",
        "metric": _CODEC_METRIC if codec else _TEXT_METRIC, "score": _CODEC_SCORE if codec else _TEXT_SCORE,
        "imports": "import numpy as np\nimport soundfile as sf\n\n" if codec else "",
        "metric_import": "from laura_core.scoring.metrics.audio import si_sdr\n" if codec else "",
    }
    for filename, template in (("pyproject.toml", _PYPROJECT), (f"laura_task_{name}.py", _TASK),
                               (f"test_laura_task_{name}.py", _TEST), ("README.md", _README)):
        atomic_write_text(folder / filename, template.format(**fields))
    return folder


# -- `laura new metric`: a metric for an existing task, from its own package --------------------------

_METRIC = '''"""The {name} metric for laura's {task} task, scored by `laura score` beside the task's own metrics.

Each pair holds a reference and a hypothesis record (`laura tasks show {task}` prints both). This
first version {what}; edit `score` from here.
"""
{imports}from laura_core import hookimpl
from laura_core.task import Metric, TaskScore

VERSION = "0.1.0"  # goes into the scores' meta, so a figure says which metric made it


class {cls}:
    task = "{task}"
    metrics = (Metric("{name}", "{doc}", {higher}, "{scale}"),)

    def score(self, pairs):
{score}
        return TaskScore({{"{name}": value}}, meta={{"version": VERSION}})


@hookimpl
def register_components(register):
    register("metric", "{name}", {cls}, "{doc}, for {task}")
'''

_TEXT_METRIC_SCORE = '''        right = 0
        for p in pairs:  # a missing hypothesis is never right
            refs = p.ref["{field}"] if isinstance(p.ref["{field}"], list) else [p.ref["{field}"]]
            right += not p.missing and str(p.hyp["{field}"]).strip().lower() in [str(r).strip().lower() for r in refs]
        value = right / len(pairs)'''
_AUDIO_METRIC_SCORE = '''        errors = []
        for p in pairs:  # a missing output is all wrong
            ref = sf.info(p.ref["{field}"]).duration
            hyp = sf.info(p.hyp["{field}"]).duration if not p.missing and p.hyp["{field}"] else 0.0
            errors.append(abs(hyp / ref - 1.0))
        value = sum(errors) / len(errors)'''

_METRIC_TEST = '''"""{name} for {task}: registered through the entry point, and scored on pairs whose answer is known."""
import json
import subprocess
import sys

NAME, TASK = "{name}", "{task}"


def laura(*args):
    """Run a laura command as a user would; fail the test with its output when it fails."""
    done = subprocess.run([sys.executable, "-m", "laura_core", *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_registered_for_its_task():
    listed = json.loads(laura("plugins", "--json"))
    assert any(e["kind"] == "metric" and e["name"] == NAME for e in listed)

{body}'''

_TEXT_METRIC_TEST = '''
def test_scored_by_laura_score_beside_the_tasks_own_metrics(tmp_path):
    from laura_core.registry import get_registry
    from laura_core.task_contract import example_record

    task = get_registry().task(TASK)
    ref = json.loads(example_record(task.ref_fields))  # a valid reference record of the task
    right = {{f.name: ref[f.name] if f.name in ref else "" for f in task.hyp_fields}}
    right["{field}"] = ref["{field}"][0] if isinstance(ref["{field}"], list) else ref["{field}"]
    wrong = {{**right, "{field}": "something else entirely"}}
    (tmp_path / "ref.jsonl").write_text("".join(json.dumps({{**ref, "id": i}}) + "\\n" for i in "ab"))
    (tmp_path / "hyp.jsonl").write_text(json.dumps({{**right, "id": "a"}}) + "\\n" + json.dumps({{**wrong, "id": "b"}}) + "\\n")
    laura("score", "--task", TASK, "--ref", tmp_path / "ref.jsonl", "--hyp", tmp_path / "hyp.jsonl",
          "--json", tmp_path / "scores.json")
    report = json.loads((tmp_path / "scores.json").read_text())
    assert report["metrics"][NAME] == 0.5  # one of the two right
    assert report["meta"]["metric_plugins"][NAME] == {{"version": "0.1.0"}}
    assert set(report["metrics"]) > {{m.name for m in task.metrics}}  # beside the task's own
'''

_AUDIO_METRIC_TEST = '''
def test_scores_pairs_whose_answer_is_known(tmp_path):
    import numpy as np
    import soundfile as sf

    from laura_core.task import Pair
    from laura_metric_{name} import {cls}

    def wav(name, seconds):
        sf.write(tmp_path / name, np.zeros(int(seconds * 16000), np.float32), 16000)
        return str(tmp_path / name)

    pairs = [Pair("a", {{"{field}": wav("ref_a.wav", 1.0)}}, {{"{field}": wav("hyp_a.wav", 0.5)}}),
             Pair("b", {{"{field}": wav("ref_b.wav", 2.0)}}, {{"{field}": wav("hyp_b.wav", 2.0)}}),
             Pair("c", {{"{field}": wav("ref_c.wav", 1.0)}}, {{"{field}": None}}, missing=True)]
    score = {cls}().score(pairs)
    assert abs(score.metrics[NAME] - (0.5 + 0.0 + 1.0) / 3) < 1e-6
    assert score.meta == {{"version": "0.1.0"}}
'''


def new_metric(name: str, task: Task, out_dir: str | Path) -> Path:
    """Write the plugin package of metric ``name`` for the registered ``task`` under
    ``out_dir/laura-metric-<name>``: a first metric that compares the task's first hypothesis field with
    its reference (text: exact match; audio: length error), a test, and the entry point."""
    folder = package_folder("metric", name, out_dir)
    if name in {m.name for m in task.metrics}:
        raise ConfigError(f"{task.name} already has a metric {name!r}: choose another name")
    field = task.hyp_fields[0].name
    if field not in {f.name for f in task.ref_fields}:
        raise ConfigError(f"{task.name}'s hypothesis field {field!r} is not in its reference record: write its "
                          f"metric by hand (`laura tasks show {task.name}` prints both records)")
    audio = task.output is Modality.CODEC
    fields = {
        "name": name, "task": task.name, "field": field, "cls": "".join(p.title() for p in name.split("_")),
        "kind": "metric", "description": f"A laura metric plugin: {name} for the {task.name} task",
        "doc": f"how far the length of the hypothesis {field} is from the reference's (mean |ratio - 1|)" if audio
        else f"hypotheses equal to a reference {field} (trimmed, case-insensitive)",
        "what": f"compares the hypothesis's {field!r} with the reference's",
        "higher": str(not audio), "scale": "ratio" if audio else "fraction",
        "imports": "import soundfile as sf\n\n" if audio else "",
    }
    fields["score"] = (_AUDIO_METRIC_SCORE if audio else _TEXT_METRIC_SCORE).format(**fields)
    fields["body"] = (_AUDIO_METRIC_TEST if audio else _TEXT_METRIC_TEST).format(**fields)
    for filename, template in (("pyproject.toml", _PYPROJECT), (f"laura_metric_{name}.py", _METRIC),
                               (f"test_laura_metric_{name}.py", _METRIC_TEST)):
        atomic_write_text(folder / filename, template.format(**fields))
    atomic_write_text(folder / "README.md", f"# laura-metric-{name}\n\nA laura metric plugin: `{name}` for the "
                      f"`{task.name}` task, scored by `laura score` beside the task's own metrics.\n\n```sh\n"
                      f"pip install -e .   # next to an installed laura: `laura plugins` lists it\npytest\n```\n")
    return folder
