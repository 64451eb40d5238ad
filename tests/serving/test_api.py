"""The Python API on a tiny trained model: every task, typed results, the same outputs as `laura infer`."""
import json

import numpy as np
import pytest
import soundfile as sf
import torch

from laura_core import api
from laura_core.errors import ConfigError, DataError
from tests.serving.conftest import API_OPTIONS, TASKS

TYPES = {"asr": api.Text, "s2tt": api.Text, "mt": api.Text, "aac": api.Text, "ser": api.Label,
         "slu": api.Understanding, "tts": api.Audio, "se": api.Audio}


def same_as_infer(served, task: str, result) -> None:
    """``result`` is what `laura infer` wrote for its id (an empty output: left out of hyp.jsonl there)."""
    written = served.hyps[task].get(result.id)
    if isinstance(result, api.Audio):
        if written is None:
            assert result.codes == [] and len(result.samples) == 0
            return
        assert result.codes == written["codes"] and result.record == {"id": result.id, "codes": written["codes"]}
        wav, rate = sf.read(served.infer_out / task / task / written["audio"], dtype="float32")
        assert rate == result.sample_rate and np.array_equal(wav, result.samples)
    elif written is None:
        assert all(v is None for k, v in result.record.items() if k != "id")
    else:
        assert result.record == written


@pytest.mark.parametrize("task", TASKS)
def test_every_task_gives_typed_results_equal_to_laura_infer(served, model, task):
    ids, inputs = zip(*served.inputs[task])
    results = model.run(task, list(inputs), ids=list(ids))
    assert [r.id for r in results] == list(ids) and all(type(r) is TYPES[task] and r.task == task for r in results)
    for result in results:
        same_as_infer(served, task, result)
    assert any(served.hyps[task]), f"the tiny model said nothing at all for {task}: nothing was compared"
    # One item alone: one result, the same (its batch does not change it).
    alone = model.run(task, inputs[1], ids=ids[1])
    assert isinstance(alone, TYPES[task]) and alone.record == results[1].record


def test_the_named_helpers_are_the_tasks(served, model):
    wav, text = served.wavs[0], served.texts[0]
    assert model.transcribe(wav) == model.run("asr", wav)
    assert model.translate(text) == model.run("mt", text) and model.translate(wav) == model.run("s2tt", wav)
    assert model.caption(wav) == model.run("aac", wav) and model.emotion(wav) == model.run("ser", wav)
    assert model.understand(wav) == model.run("slu", wav)
    speech, enhanced = model.synthesize(text), model.enhance(wav)
    assert speech.codes == model.run("tts", text).codes and enhanced.codes == model.run("se", wav).codes
    assert isinstance(model.transcribe([wav, wav]), list)


def test_audio_in_any_form_reads_the_same(served, model):
    path = served.wavs[2]
    wave, rate = sf.read(path, dtype="float32")
    expected = model.transcribe(path, ids="x").record
    assert model.transcribe(path.read_bytes(), ids="x").record == expected
    assert model.transcribe(str(path), ids="x").record == expected
    assert model.transcribe(wave, sample_rate=rate, ids="x").record == expected
    assert model.transcribe(torch.from_numpy(wave), sample_rate=rate, ids="x").record == expected
    assert model.transcribe(np.stack([wave, wave]), sample_rate=rate, ids="x").record == expected  # channels averaged
    # Any rate: resampled to the encoder's as a manifest's audio is.
    low = sf.read(path, dtype="float32")[0][::2]
    assert isinstance(model.transcribe(low, sample_rate=8000).text, str)
    # Without ids, an item's id is its content's hash: the same input, the same sampled speech in any list.
    first = model.synthesize(served.texts[0], strategy="sample", top_k=25)
    again = model.synthesize([served.texts[3], served.texts[0]], strategy="sample", top_k=25)[1]
    assert first.id == again.id and first.codes == again.codes


def test_batches_do_not_change_outputs(served):
    ids, inputs = zip(*served.inputs["asr"])
    one_by_one = api.load(served.exp_dir, **{**API_OPTIONS, "max_duration": 0.1}).run("asr", list(inputs), ids=list(ids))
    together = api.load(served.exp_dir, **{**API_OPTIONS, "max_duration": 100}).run("asr", list(inputs), ids=list(ids))
    assert [r.record for r in one_by_one] == [r.record for r in together]


def test_decode_options_and_seed_apply_per_call(served, model, monkeypatch):
    from laura_core.model.lauragpt import LauraGPT

    asked = []
    generate = LauraGPT.generate

    def spy(self, items, *args, **kwargs):
        asked.append(kwargs.get("text") or kwargs.get("codec"))
        return generate(self, items, *args, **kwargs)

    monkeypatch.setattr(LauraGPT, "generate", spy)
    wav = served.wavs[0]
    model.transcribe(wav, max_new_tokens=2)
    model.transcribe(wav, strategy="beam", beam_size=3)
    model.transcribe(wav)
    assert [(o.max_new_tokens, o.strategy, o.beam_size) for o in asked] == [(2, "greedy", 4), (12, "beam", 3), (12, "greedy", 4)]
    monkeypatch.undo()
    a = model.synthesize(served.texts[1], strategy="sample", top_k=50, seed=1)
    b = model.synthesize(served.texts[1], strategy="sample", top_k=50, seed=1)
    assert a.codes == b.codes
    with pytest.raises(ConfigError, match="no_such_option"):
        model.transcribe(wav, no_such_option=1)
    with pytest.raises(ConfigError, match="strategy"):
        model.transcribe(wav, strategy="nope")


def test_a_voice_prompt_from_a_file_or_a_waveform(served, model, monkeypatch):
    from laura_core.model.lauragpt import LauraGPT

    prefixes = []
    generate = LauraGPT.generate

    def spy(self, items, *args, **kwargs):
        prefixes.extend(None if it.prefix is None else it.prefix.tolist() for it in items)
        return generate(self, items, *args, **kwargs)

    monkeypatch.setattr(LauraGPT, "generate", spy)
    path, text = served.wavs[3], served.texts[3]
    wave, rate = sf.read(path, dtype="float32")
    by_path = model.synthesize("good morning", prompt=(path, text))
    by_wave = model.synthesize("good morning", prompt=api.Prompt(wave, text, sample_rate=rate))
    by_name = model.synthesize("good morning", prompt=str(path))
    assert by_path.codes == by_wave.codes
    assert prefixes[0] == prefixes[1] == prefixes[2] and prefixes[0]  # the prompt's codes lead the output
    plain = model.synthesize("good morning")
    assert prefixes[-1] is None and by_name.id == plain.id
    # One prompt per item, or none for some.
    both = model.synthesize(["good morning", "good night"], prompt=[(path, text), None])
    assert prefixes[-2] and prefixes[-1] is None and len(both) == 2
    with pytest.raises(ConfigError, match="takes no voice prompt"):
        model.transcribe(path, prompt=path)


def test_bad_inputs_are_named(served, model):
    wav = served.wavs[0]
    with pytest.raises(ConfigError, match="task 'nope'.*trained for aac, asr"):
        model.run("nope", wav)
    with pytest.raises(DataError, match="field 'text'.*reads text"):
        model.run("mt", np.zeros(100))
    with pytest.raises(DataError, match="needs its sample_rate"):
        model.transcribe(np.zeros(1600, np.float32))
    with pytest.raises(DataError, match="NaN"):
        model.transcribe(np.full(1600, np.nan, np.float32), sample_rate=16000)
    with pytest.raises(DataError, match="shape"):
        model.transcribe(np.zeros((2, 2, 100)), sample_rate=16000)
    with pytest.raises(DataError, match="missing.wav: file not found"):
        model.transcribe(served.wavs[0].parent / "missing.wav")
    with pytest.raises(DataError, match="cannot read audio"):
        model.transcribe(b"not audio at all")
    with pytest.raises(DataError, match="field 'id'.*path separator"):
        model.transcribe(wav, ids="../x")
    with pytest.raises(ConfigError, match="not unique"):
        model.transcribe([wav, wav], ids=["a", "a"])
    with pytest.raises(ConfigError, match="empty list"):
        model.transcribe([])


def test_load_finds_the_checkpoint_and_vocoder(served, tmp_path):
    model = api.load(served.checkpoint())  # a checkpoint names its vocoder (valid_vocoder) too
    assert model.can_speak and model.sample_rate == 16000
    mute = api.load(served.exp_dir, vocoder="")
    assert not mute.can_speak
    with pytest.raises(ConfigError, match="vocoder"):
        mute.synthesize("hello")
    with pytest.raises(ConfigError, match="no such model folder"):
        api.load(tmp_path / "nothing")
    with pytest.raises(ConfigError, match="not a LauraGPT checkpoint .train.yaml is missing"):
        api.load(tmp_path)
    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(ConfigError, match="experiment folder without a checkpoint that verifies"):
        api.load(tmp_path)
    with pytest.raises(ConfigError, match="precision"):
        api.load(served.exp_dir, precision="fp8")
    fast = api.load(served.exp_dir, precision="bf16", **API_OPTIONS)
    assert isinstance(fast.transcribe(served.wavs[0]).text, str)


def test_quantised_decode_weights(served, tmp_path):
    from laura_core.cli import main

    model = api.load(served.exp_dir, decode_weights="int8", **API_OPTIONS)
    backbone = model.bundle.model.backbone
    assert backbone.decode_weights == "int8"
    results = model.run("mt", served.texts[:3])
    assert all(isinstance(r, api.Text) for r in results)
    assert backbone._inference is not None and backbone._inference.kind == "int8"  # the fused step read int8
    with pytest.raises(ConfigError, match="decode_weights.*fp32, bf16, int8"):
        api.load(served.exp_dir, decode_weights="int4")
    manifest = served.infer_out.parent / "manifests" / "mt.jsonl.gz"
    assert main(["infer", str(served.exp_dir), str(tmp_path / "out"), f"--data=mt={manifest}",  # an experiment folder
                 "decode_weights=bf16", "text.max_new_tokens=12"]) == 0
    info = json.loads((tmp_path / "out" / "mt" / "mt" / "infer.json").read_text())
    assert info["decode_weights"] == "bf16" and info["precision"] == "fp32"
