"""Contract tests run over every registered task, built-in or third-party."""
import pytest

from laura_core.model.vocab import VocabLayout
from laura_core.registry import get_registry
from laura_core.task import AudioRef, FieldType, Modality, Pair
from tests.conftest import write_wav

TASKS = sorted(get_registry().tasks())


def sample_record(task, tmp_path, speech) -> dict:
    """A valid data record for any task, built from the field types it declares."""
    values = {
        FieldType.TEXT: "the birch canoe slid on the smooth planks",
        FieldType.TEXTS: ["a canoe slides on planks", "a boat moves over wood"],
        FieldType.LABEL: "happy",
        FieldType.SLOTS: [{"type": "date", "filler": "tomorrow"}, {"type": "time", "filler": "seven am"}],
    }
    record = {"id": "rec-1"}
    for field in task.record_fields:
        if field.type is FieldType.AUDIO:
            record[field.name] = str(write_wav(tmp_path / f"{field.name}.wav", speech["a"]))
        else:
            record[field.name] = values[field.type]
    return record


@pytest.mark.parametrize("name", TASKS)
def test_task_follows_the_protocol(name, registry):
    task = registry.task(name)
    task.validate()
    assert task.prompt_token == f"<|{name}|>"
    assert task.input in (Modality.TEXT, Modality.AUDIO) and task.output in (Modality.TEXT, Modality.CODEC)
    assert {f.name for f in task.record_fields} >= {task.source_field}
    layout = VocabLayout.create(100, TASKS, 16)
    assert layout.kind_of(layout.task_id(name)) == "task"


@pytest.mark.parametrize("name", TASKS)
def test_formatting_round_trips_a_record(name, registry, tmp_path, speech):
    task = registry.task(name)
    record = sample_record(task, tmp_path, speech)
    example = task.to_example(record)
    assert example.id == "rec-1" and example.task == name
    assert isinstance(example.source, AudioRef) == (task.input is Modality.AUDIO)
    assert isinstance(example.target, AudioRef) == (task.output is Modality.CODEC)
    assert all(e.source == example.source for e in task.to_examples(record))
    # The model producing exactly the target gives a hypothesis equal to the reference on every hypothesis field.
    ref = task.to_reference(record)
    hyp = task.to_hypothesis(example.id, example.target)
    assert hyp["id"] == ref["id"] == "rec-1"
    for field in task.hyp_fields:
        expected = ref[field.name]
        assert hyp[field.name] == (expected[0] if isinstance(expected, list) and field.type is FieldType.TEXT else expected)


@pytest.mark.parametrize("name", TASKS)
def test_perfect_output_scores_at_least_as_well_as_an_empty_one(name, registry, tmp_path, speech):
    task = registry.task(name)
    if name == "tts":
        pytest.skip("tts needs a judge; covered in test_audio_tasks with the lookup judge")
    record = sample_record(task, tmp_path, speech)
    ref = task.to_reference(record)
    perfect = task.score([Pair("rec-1", ref, task.to_hypothesis("rec-1", task.to_example(record).target))],
                         task.Options(), registry)
    empty = task.score([Pair("rec-1", ref, task.missing_hypothesis(ref), missing=True)], task.Options(), registry)
    assert set(perfect.metrics) == {m.name for m in task.metrics}
    for metric in task.metrics:
        good, bad = perfect.metrics[metric.name], empty.metrics[metric.name]
        if good is None:
            assert metric.name in perfect.unavailable
            continue
        assert (good >= bad) if metric.higher_is_better else (good <= bad), metric.name
        assert good != bad or metric.name in ("cider", "spider"), metric.name  # CIDEr's IDF is 0 on one clip
