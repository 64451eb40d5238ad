import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

import laura_core.inference.infer as infer_module
from laura_core.cli import main
from laura_core.data.batches import item_source
from laura_core.data.validate import OnError, ValidationOptions
from laura_core.errors import ConfigError, DataError
from laura_core.inference.infer import InferConfig, infer, load_inference_model, split_name
from laura_core.io import read_jsonl, write_manifest
from laura_core.manifest import cut_to_record, read_cuts
from laura_core.model.generation import DecodeOptions
from laura_core.model.lauragpt import Item
from laura_core.training.checkpoint import list_checkpoints
from laura_core.training.trainer import train
from tests.core.conftest import manifests
from tests.core.test_train import config

SHORT = ["text.max_new_tokens=12", "codec.max_new_tokens=10", "max_duration=1.2"]  # several small batches


@pytest.fixture(scope="module")
def model_dir(setup, tmp_path_factory) -> Path:
    exp_dir = tmp_path_factory.mktemp("lm")
    train(config(setup, exp_dir, "max_steps=6", "save_every=3", "valid_every=0", "keep_last=0"))
    return list_checkpoints(exp_dir / "checkpoints")[-1]


def run(model_dir: Path, out: Path, data: dict[str, str], *options: str, vocoder: Path | None = None) -> int:
    args = ["infer", str(model_dir), str(out)] + [f"--data={t}={m}" for t, m in data.items()]
    return main(args + (["--vocoder", str(vocoder)] if vocoder else []) + [*SHORT, *options])


def records(path: Path) -> list[dict]:
    return [r for _, r in read_jsonl(path)]


def test_text_outputs_are_the_models_own_decodes_in_manifest_order(setup, model_dir, registry, tmp_path):
    data = {t: m for t, m in manifests(setup).items() if t in ("asr", "mt")}
    assert run(model_dir, tmp_path / "out", data) == 0
    bundle = load_inference_model(model_dir, registry)
    for task_name, manifest in data.items():
        folder = tmp_path / "out" / task_name / "train"
        task = bundle.tasks[task_name]
        cuts = list(read_cuts(manifest))
        assert [r["id"] for r in records(folder / "ref.jsonl")] == [c.id for c in cuts]
        assert records(folder / "ref.jsonl") == [task.to_reference(cut_to_record(c)) for c in cuts]
        rate = bundle.model.encoder.sample_rate
        for cut, hyp in zip(cuts, records(folder / "hyp.jsonl"), strict=True):
            alone = bundle.model.generate([Item(task_name, item_source(cut, task, bundle.tokenizer, rate))],
                                          text=DecodeOptions(max_new_tokens=12))[0]
            assert hyp == {"id": cut.id, "text": bundle.tokenizer.decode(alone)}
        info = json.loads((folder / "infer.json").read_text())
        assert info["task"] == task_name and info["decode"]["max_new_tokens"] == 12 and len(info["weights"]) == 16
        assert not (folder / "hyp.partial.jsonl").exists()
    calls = []
    again = infer(bundle, [("mt", data["mt"])], tmp_path / "again",
                  InferConfig(max_duration=1.2, text=DecodeOptions(max_new_tokens=12)),
                  progress=lambda folder, done, total: calls.append((done, total)))
    assert (again[0] / "hyp.jsonl").read_text() == (tmp_path / "out" / "mt" / "train" / "hyp.jsonl").read_text()
    assert len(calls) > 1 and calls[-1] == (6, 6) and [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert main(["score", "--dir", str(tmp_path / "out")]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(results) == {"asr/train", "mt/train"} and results["asr/train"]["n"] == 6


def test_a_tasks_own_decode_options_apply_to_it_alone(setup, model_dir, tmp_path, capsys):
    data = {t: m for t, m in manifests(setup).items() if t in ("asr", "mt")}
    assert run(model_dir, tmp_path / "out", data, "tasks.mt.no_repeat_ngram_size=3",
               "tasks.mt.max_new_tokens=7") == 0
    mt, asr = (json.loads((tmp_path / "out" / t / "train" / "infer.json").read_text())["decode"] for t in ("mt", "asr"))
    assert (mt["no_repeat_ngram_size"], mt["max_new_tokens"]) == (3, 7)
    assert (asr["no_repeat_ngram_size"], asr["max_new_tokens"]) == (0, 12)
    for option, says in (("tasks.tm.top_k=3", "tasks.tm: decode options for a task the model was not trained for"),
                         ("tasks.mt.beam=3", "tasks.mt: .*beam"),
                         ("tasks.mt.no_repeat_ngram_size=-1", "tasks.mt: no_repeat_ngram_size must be >= 0")):
        assert run(model_dir, tmp_path / option, data, option) == 2
        assert re.search(says, capsys.readouterr().err), option


def test_an_interrupted_run_resumes_to_the_same_files(setup, model_dir, registry, tmp_path, monkeypatch):
    data = {"mt": manifests(setup)["mt"]}
    assert run(model_dir, tmp_path / "whole", data) == 0
    real, batches = infer_module._decode_batch, []

    def dies_after_two_batches(*args, **kwargs):
        if len(batches) == 2:
            raise KeyboardInterrupt
        batches.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(infer_module, "_decode_batch", dies_after_two_batches)
    assert run(model_dir, tmp_path / "cut", data) == 130
    partial = tmp_path / "cut" / "mt" / "train" / "hyp.partial.jsonl"
    done = partial.read_text().splitlines()
    assert 0 < len(done) < 6 and not (tmp_path / "cut" / "mt" / "train" / "hyp.jsonl").exists()
    with open(partial, "a") as f:
        f.write('{"id": "m5", "te')  # torn by the interruption
    monkeypatch.undo()
    assert run(model_dir, tmp_path / "cut", data) == 0
    for name in ("ref.jsonl", "hyp.jsonl"):
        assert (tmp_path / "cut" / "mt" / "train" / name).read_text() == \
            (tmp_path / "whole" / "mt" / "train" / name).read_text()
    assert not partial.exists()
    with pytest.raises(ConfigError, match="holds outputs of another run .differing in decode"):
        infer(load_inference_model(model_dir, registry), [("mt", data["mt"])], tmp_path / "cut",
              InferConfig(text=DecodeOptions(max_new_tokens=5)))


def test_audio_outputs_are_voiced_reproducibly(setup, model_dir, vocoder_dir, registry, tmp_path):
    data = {"tts": manifests(setup)["tts"]}
    with pytest.raises(ConfigError, match="task tts outputs audio: give the vocoder"):
        infer(load_inference_model(model_dir, registry), list(data.items()), tmp_path / "none", InferConfig())
    assert run(model_dir, tmp_path / "a", data, vocoder=vocoder_dir) == 0
    assert run(model_dir, tmp_path / "b", data, "max_duration=100", vocoder=vocoder_dir) == 0  # one batch
    codec = load_inference_model(model_dir, registry).codec
    a, b = (tmp_path / out / "tts" / split_name(data["tts"]) for out in ("a", "b"))
    hyps = records(a / "hyp.jsonl")
    assert hyps and all(h["audio"] == f"wav/{h['id']}.wav" for h in hyps)
    # Per-item seeded sampling: the same codes in batches of any size; the audio equal but for the
    # float rounding of a batched vocoder.
    assert [h["codes"] for h in records(b / "hyp.jsonl")] == [h["codes"] for h in hyps]
    for hyp in hyps:
        wav, rate = sf.read(a / hyp["audio"])
        assert rate == codec.sample_rate and len(wav) == len(hyp["codes"]) * codec.hop_length
        assert 0 < len(hyp["codes"]) <= 10 and all(0 <= c < codec.codebook_size for c in hyp["codes"])
        assert np.abs(sf.read(b / hyp["audio"])[0] - wav).max() < 1e-4
    refs = records(a / "ref.jsonl")
    assert all(Path(r["audio"]).is_absolute() and Path(r["audio"]).is_file() for r in refs)

    tampered = Path(shutil.copytree(vocoder_dir, tmp_path / "voc"))
    saved = json.loads((tampered / "vocoder.json").read_text())
    assert saved["tokenizer"] == load_inference_model(model_dir, registry).tokenizer.identity()
    (tampered / "vocoder.json").write_text(json.dumps({**saved, "tokenizer": "sentencepiece:other:0"}))
    with pytest.raises(DataError, match="vocoder.json: corrupt or truncated"):  # an edited file is caught first
        load_inference_model(model_dir, registry, tampered)
    write_manifest(tampered)  # as a vocoder trained with another tokenizer would be
    with pytest.raises(ConfigError, match="trained with tokenizer sentencepiece:other:0, not sentencepiece:"):
        load_inference_model(model_dir, registry, tampered)


def test_a_model_with_another_tokenizer_or_an_averaged_one(setup, model_dir, registry, tmp_path):
    averaged = tmp_path / "avg"
    assert main(["average", str(model_dir.parent.parent), str(averaged), "--last", "2"]) == 0
    bundle = load_inference_model(averaged, registry)
    assert bundle.codec is not None and set(bundle.tasks) >= {"asr", "mt", "tts"}

    moved = Path(shutil.copytree(model_dir, tmp_path / "moved"))
    train_yaml = yaml.safe_load((moved / "train.yaml").read_text())
    other = registry.component("tokenizer", "sentencepiece").obj.train(
        ["a b c d e f g h", "i j k l m n o p"], tmp_path / "tok", vocab_size=30)
    train_yaml["tokenizer"]["options"]["model"] = str(other)
    (moved / "train.yaml").write_text(yaml.safe_dump(train_yaml))
    with pytest.raises(ConfigError, match="trained with tokenizer sentencepiece"):
        load_inference_model(moved, registry)
    with pytest.raises(ConfigError, match="not a LauraGPT checkpoint .train.yaml is missing"):
        load_inference_model(tmp_path, registry)
    with pytest.raises(DataError, match="nowhere.jsonl.gz: file not found .--data asr=MANIFEST"):
        infer(bundle, [("asr", str(tmp_path / "nowhere.jsonl.gz"))], tmp_path / "out", InferConfig())
    with pytest.raises(ConfigError, match="task 'lid': the model was trained for"):
        infer(bundle, [("lid", manifests(setup)["asr"])], tmp_path / "out", InferConfig())
    with pytest.raises(ConfigError, match="validation.on_error must stay stop"):
        infer(bundle, [("asr", manifests(setup)["asr"])], tmp_path / "out",
              InferConfig(validation=ValidationOptions(on_error=OnError.skip)))
    with pytest.raises(DataError, match="1 of 6 records are bad: 'a5' audio: duration 0.90 s outside .0.1, 0.85. s"):
        infer(bundle, [("asr", manifests(setup)["asr"])], tmp_path / "out2",
              InferConfig(validation=ValidationOptions(max_duration=0.85)))


def test_records_without_references_get_hypotheses_alone(setup, model_dir, registry, tmp_path):
    from lhotse import CutSet

    from tests.core.test_validate import audio_cut

    labelled = manifests(setup)["asr"]
    cuts = list(read_cuts(labelled))
    bare = tmp_path / "new_audio.jsonl.gz"
    CutSet([audio_cut(c.recording.sources[0].source, c.id, None) for c in cuts]).to_file(bare)
    bundle = load_inference_model(model_dir, registry)
    cfg = InferConfig(text=DecodeOptions(max_new_tokens=12))
    with_refs, without = (infer(bundle, [("asr", str(m))], tmp_path / "out", cfg)[0] for m in (labelled, bare))
    assert not (without / "ref.jsonl").exists() and (with_refs / "ref.jsonl").is_file()
    assert (without / "hyp.jsonl").read_text() == (with_refs / "hyp.jsonl").read_text()

    mixed = tmp_path / "mixed.jsonl.gz"
    CutSet([audio_cut(c.recording.sources[0].source, c.id, None if i else "words") for i, c in enumerate(cuts)]
           ).to_file(mixed)
    with pytest.raises(DataError, match="5 of 6 records are bad: .a1. text: missing.*records need all their references"):
        infer(bundle, [("asr", str(mixed))], tmp_path / "out", cfg)


def test_enhancement_is_voiced_from_the_noisy_input(setup, model_dir, vocoder_dir, registry, tmp_path):
    from lhotse import CutSet, Recording

    from tests.core.test_validate import audio_cut

    cuts = list(read_cuts(manifests(setup)["asr"]))[:3]
    noisy = tmp_path / "se.jsonl.gz"
    CutSet([audio_cut(c.recording.sources[0].source, f"s{i}", None,
                      clean=Recording.from_file(c.recording.sources[0].source, recording_id=f"c{i}"))
            for i, c in enumerate(cuts)]).to_file(noisy)
    bundle = load_inference_model(model_dir, registry, vocoder_dir)
    folder = infer(bundle, [("se", str(noisy))], tmp_path / "out", InferConfig(codec=DecodeOptions(
        strategy="sample", top_k=25, max_new_tokens=8)))[0]
    hyps, refs = records(folder / "hyp.jsonl"), records(folder / "ref.jsonl")
    assert [r["id"] for r in refs] == ["s0", "s1", "s2"] and all(Path(r["audio"]).is_file() for r in refs)
    for hyp in hyps:
        wav, rate = sf.read(folder / hyp["audio"])
        assert rate == bundle.codec.sample_rate and len(wav) == len(hyp["codes"]) * bundle.codec.hop_length
    assert main(["score", "--dir", str(tmp_path / "out")]) == 0


def test_tts_speaks_in_the_voice_of_a_prompt(setup, model_dir, vocoder_dir, registry, tmp_path, monkeypatch, capsys):
    from lhotse import CutSet, Recording

    from laura_core.audio import read_audio
    from laura_core.data.codes import encode_waves
    from laura_core.model.lauragpt import LauraGPT

    cuts = list(read_cuts(manifests(setup)["tts"]))
    voice = cut_to_record(cuts[3])
    cuts[0] = cuts[0].with_custom("prompt", Recording.from_file(voice["audio"])).with_custom("prompt_text", voice["text"])
    manifest = tmp_path / "tts.jsonl.gz"
    CutSet(cuts).to_file(manifest)
    seen = {}
    generate = LauraGPT.generate

    def spy(self, items, *args, **kwargs):
        seen.update({len(seen) + i: it for i, it in enumerate(items)})
        return generate(self, items, *args, **kwargs)

    monkeypatch.setattr(LauraGPT, "generate", spy)
    bundle = load_inference_model(model_dir, registry)
    codec = bundle.codec
    wave = read_audio(voice["audio"], codec.sample_rate)[0]
    codes = encode_waves(codec, [wave])[0][0][: int(codec.frame_rate * 0.5)]  # prompt_seconds=0.5 cuts it
    layout = bundle.model.layout

    assert run(model_dir, tmp_path / "own", {"tts": str(manifest)}, "prompt_seconds=0.5", vocoder=vocoder_dir) == 0
    prompted = [it for it in seen.values() if it.prefix is not None]
    assert len(prompted) == 1 and prompted[0].prefix.tolist() == [layout.codec_id(int(c)) for c in codes]
    refs = {r["id"]: r for r in records(tmp_path / "own" / "tts" / "tts" / "ref.jsonl")}
    assert refs[cuts[0].id]["prompt"] == str(Path(voice["audio"]).resolve())
    assert all("prompt" not in r for rid, r in refs.items() if rid != cuts[0].id)
    # The audio written is the new codes alone.
    hyp = next(h for h in records(tmp_path / "own" / "tts" / "tts" / "hyp.jsonl") if h["id"] == cuts[0].id)
    assert len(sf.read(tmp_path / "own" / "tts" / "tts" / hyp["audio"])[0]) == len(hyp["codes"]) * codec.hop_length

    seen.clear()
    assert main(["infer", str(model_dir), str(tmp_path / "all"), f"--data=tts={manifest}", "--vocoder", str(vocoder_dir),
                 "--prompt", voice["audio"], "--prompt-text", voice["text"], *SHORT]) == 0
    items = list(seen.values())
    whole = [layout.codec_id(int(c)) for c in encode_waves(codec, [wave])[0][0]]  # 0.7 s: under the 3 s limit
    assert len(items) == len(cuts) and all(it.prefix.tolist() == whole for it in items)
    # Its transcript comes first: the source holds the prompt text's ids before the text's.
    said = bundle.tokenizer.encode(voice["text"])
    assert all(it.source[: len(said)].tolist() == said for it in items)
    assert all(r["prompt"] == str(Path(voice["audio"]).resolve())
               for r in records(tmp_path / "all" / "tts" / "tts" / "ref.jsonl"))
    # Another prompt setting is another run: not into the same folder.
    assert main(["infer", str(model_dir), str(tmp_path / "all"), f"--data=tts={manifest}", "--vocoder", str(vocoder_dir),
                 "prompts=false", *SHORT]) == 2
    assert "differing in prompts" in capsys.readouterr().err
    seen.clear()
    assert run(model_dir, tmp_path / "none", {"tts": str(manifest)}, "prompts=false", vocoder=vocoder_dir) == 0
    assert all(it.prefix is None for it in seen.values())
    # The prompt stays in the references: the similarity to it is what a prompt should raise.
    assert "prompt" in {k for r in records(tmp_path / "none" / "tts" / "tts" / "ref.jsonl") for k in r}


def test_shards_split_a_manifest_and_the_last_merges_in_order(setup, model_dir, registry, tmp_path, capsys):
    data = {"asr": manifests(setup)["asr"], "mt": manifests(setup)["mt"]}
    assert run(model_dir, tmp_path / "whole", data) == 0
    out = tmp_path / "split"
    for k in (1, 0):  # any order
        assert run(model_dir, out, data, f"shard={k}/2") == 0
        for task in data:
            folder = out / task / split_name(data[task])
            assert (folder / "hyp.jsonl").is_file() == (k == 0), (k, task)  # only the last shard merges
    for task in data:
        name = split_name(data[task])
        for file in ("hyp.jsonl", "ref.jsonl"):
            assert (out / task / name / file).read_text() == (tmp_path / "whole" / task / name / file).read_text()
        assert not (out / task / name / "shards").exists()
    # Three shards side by side: each holds its own lock, none waits for another.
    procs = [subprocess.Popen([sys.executable, "-m", "laura_core", "infer", str(model_dir), str(tmp_path / "three"),
                               f"--data=mt={data['mt']}", *SHORT, f"shard={k}/3"], stderr=subprocess.PIPE, text=True)
             for k in range(3)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0], [p.stderr.read() for p in procs]
    merged = tmp_path / "three" / "mt" / split_name(data["mt"]) / "hyp.jsonl"
    assert merged.read_text() == (tmp_path / "whole" / "mt" / split_name(data["mt"]) / "hyp.jsonl").read_text()
    assert main(["infer", str(model_dir), str(tmp_path / "bad"), f"--data=mt={data['mt']}", "shard=2/2"]) == 2
    assert "expected K/N with 0 <= K < N" in capsys.readouterr().err
