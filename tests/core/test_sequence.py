import pytest

from laura_core.model.sequence import IGNORE_INDEX, build_sequence, length_groups
from laura_core.model.vocab import VocabLayout
from laura_core.task import Modality

L = VocabLayout.create(text_size=50, tasks=["asr", "tts", "mt"], codec_size=16)


def test_audio_in_text_out():
    seq = build_sequence(L, "asr", Modality.TEXT, source=4, target=[7, 8, 9])
    assert seq.ids == (L.audio_id,) * 4 + (L.task_id("asr"), 7, 8, 9, L.eos_id)
    assert seq.is_audio == (True,) * 4 + (False,) * 5
    # The loss covers exactly the output tokens and eos.
    assert seq.loss_mask == (False,) * 5 + (True,) * 4
    assert seq.prompt_length == 5
    # Position i predicts token i+1: the task token predicts the first output, the last output predicts eos.
    assert seq.labels() == [IGNORE_INDEX] * 4 + [7, 8, 9, L.eos_id, IGNORE_INDEX]


def test_text_in_codec_out():
    codes = [L.codec_id(c) for c in (0, 15, 3)]
    seq = build_sequence(L, "tts", Modality.CODEC, source=[1, 2], target=codes)
    assert seq.ids == (1, 2, L.task_id("tts"), *codes, L.eos_id)
    assert not any(seq.is_audio)
    assert [i for i, m in enumerate(seq.loss_mask) if m] == [3, 4, 5, 6]


def test_inference_prompt_has_no_output_and_no_loss():
    seq = build_sequence(L, "mt", Modality.TEXT, source=[5, 6])
    assert seq.ids == (5, 6, L.task_id("mt")) and not any(seq.loss_mask) and seq.prompt_length == 3


def test_empty_output_still_learns_eos():
    seq = build_sequence(L, "mt", Modality.TEXT, source=[5], target=[])
    assert seq.ids[-1] == L.eos_id and seq.loss_mask == (False, False, True)


@pytest.mark.parametrize(
    "output, source, target, message",
    [
        (Modality.TEXT, [1], [L.codec_id(0)], "not of the text output range"),  # text task emitting codec
        (Modality.CODEC, [1], [3], "not of the codec output range"),  # codec task emitting text
        (Modality.TEXT, [1], [L.eos_id], "not of the text output range"),  # eos is appended, never given
        (Modality.TEXT, [L.task_id("asr")], [1], "text input ids outside"),
        (Modality.TEXT, 0, [1], "at least one frame"),
    ],
)
def test_invalid_sequences(output, source, target, message):
    with pytest.raises(ValueError, match=message):
        build_sequence(L, "mt", output, source=source, target=target)


def test_a_prefix_is_given_output_and_never_learned():
    prompt_codes = [L.codec_id(c) for c in (4, 5)]
    codes = [L.codec_id(c) for c in (0, 15, 3)]
    seq = build_sequence(L, "tts", Modality.CODEC, source=[1, 2], target=codes, prefix=prompt_codes)
    assert seq.ids == (1, 2, L.task_id("tts"), *prompt_codes, *codes, L.eos_id)
    assert seq.prompt_length == 5
    # The loss covers the new output and eos, not the prompt's codes.
    assert [i for i, m in enumerate(seq.loss_mask) if m] == [5, 6, 7, 8]
    assert seq.labels()[:4] == [IGNORE_INDEX] * 4 and seq.labels()[4:8] == [*codes, L.eos_id]
    inference = build_sequence(L, "tts", Modality.CODEC, source=[1, 2], prefix=prompt_codes)
    assert inference.ids == seq.ids[:5] and inference.prompt_length == 5 and not any(inference.loss_mask)
    with pytest.raises(ValueError, match="prefix ids not of the codec output range"):
        build_sequence(L, "tts", Modality.CODEC, source=[1], target=codes, prefix=[3])


def test_length_groups_split_rows_of_like_length_at_the_least_padded_cost():
    lengths = [10, 200, 12, 190, 50, 11]
    groups = length_groups(lengths, 4, overhead=64)
    assert sorted(i for g in groups for i in g) == list(range(6))  # every row once
    # short, middle and long rows apart: 3*12 + 50 + 2*200 + 3*64 beats every other split
    assert [sorted(g) for g in groups] == [[0, 2, 5], [4], [1, 3]]
    assert length_groups(lengths, 1) == [sorted(range(6), key=lengths.__getitem__)]
    assert length_groups([7, 7, 7], 4) == [[0, 1, 2]]  # equal rows: one group, no overhead to pay
    # a high per-group overhead keeps the batch whole
    assert len(length_groups(lengths, 4, overhead=10_000)) == 1
