import json

import pytest

from laura_core.errors import LayoutMismatchError
from laura_core.model.vocab import VocabLayout
from laura_core.task import Modality

TASKS = ["tts", "asr", "slu", "mt"]


def test_offsets_and_ranges():
    layout = VocabLayout.create(text_size=1000, tasks=TASKS, codec_size=1024)
    assert layout.special_offset == 1000
    assert layout.task_offset == 1016
    assert layout.codec_offset == 1016 + 64
    assert layout.size == 1016 + 64 + 1024
    assert [layout.kind_of(i) for i in (0, 999, 1000, 1015, 1016, 1079, 1080, layout.size - 1)] == [
        "text", "text", "special", "special", "task", "task", "codec", "codec"]
    assert layout.codec_id(0) == 1080 and layout.codec_code(1080 + 1023) == 1023
    with pytest.raises(ValueError):
        layout.codec_id(1024)
    assert layout.output_ranges(Modality.TEXT) == [(0, 1000), (layout.eos_id, layout.eos_id + 1)]
    assert layout.output_ranges(Modality.CODEC) == [(layout.eos_id, layout.eos_id + 1), (1080, layout.size)]
    eos = (layout.eos_id, layout.eos_id + 1)
    assert layout.output_ranges(Modality.TEXT, exclude=[0, 5, 6, 999, 1080]) == [(1, 5), (7, 999), eos]
    assert layout.output_ranges(Modality.CODEC, exclude=[0, layout.eos_id]) == [eos, (1080, layout.size)]


def test_task_ids_depend_on_names_not_order():
    a = VocabLayout.create(100, TASKS, 8)
    b = VocabLayout.create(100, list(reversed(TASKS)), 8)
    assert a == b
    assert [a.task_id(t) for t in ("asr", "mt", "slu", "tts")] == [116, 117, 118, 119]


def test_with_tasks_keeps_existing_ids_and_codec_range():
    a = VocabLayout.create(100, TASKS, 8)
    b = a.with_tasks(["aac", "asr"])  # "aac" sorts first but must not move the others
    assert all(a.task_id(t) == b.task_id(t) for t in TASKS)
    assert b.task_id("aac") == 120
    assert b.codec_offset == a.codec_offset


def test_round_trip_through_json_and_fingerprint():
    a = VocabLayout.create(100, TASKS, 8)
    b = VocabLayout.from_dict(json.loads(json.dumps(a.to_dict())))
    assert a == b and a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != a.with_tasks(["aac"]).fingerprint()


def test_mismatch_names_each_differing_field():
    a = VocabLayout.create(100, TASKS, 1024)
    b = VocabLayout.create(100, TASKS + ["aac"], 512)
    with pytest.raises(LayoutMismatchError) as e:
        a.check_same(b, "checkpoint exp/model.pt")
    msg = str(e.value)
    assert "checkpoint exp/model.pt" in msg and "codec_size: expected 1024" in msg and "tasks:" in msg
    assert "text_size" not in msg
    a.check_same(VocabLayout.create(100, TASKS, 1024), "same")  # no error


def test_invalid_layouts():
    with pytest.raises(ValueError, match="slots"):
        VocabLayout.create(10, [f"t{i}" for i in range(65)], 8)
    with pytest.raises(LayoutMismatchError, match="unknown keys"):
        VocabLayout.from_dict({**VocabLayout.create(10, [], 8).to_dict(), "extra": 1})
    with pytest.raises(KeyError, match="not in this vocabulary layout"):
        VocabLayout.create(10, ["asr"], 8).task_id("tts")
