"""Codec directories, `laura codec encode/decode`, and training the codec and the vocoder with `laura train`."""
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from lhotse import CutSet

from laura_core.cli import main
from laura_core.data.codes import CodeUsage, encode_manifest, encode_waves, manifest_code_usage
from laura_core.errors import ConfigError
from laura_core.manifest import CODEC, CODES, read_cuts
from laura_core.model.codec import CODEC_WEIGHTS, CodecSpec, build_codec, load_codec
from laura_core.registry import get_registry
from laura_core.training.checkpoint import list_checkpoints
from laura_core.training.codec import load_vocoder
from laura_core.training.config import load_train_config
from laura_core.training.trainer import train
from tests.conftest import write_wav
from tests.core.test_train import log_records


@pytest.fixture(scope="module")
def codec_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("codec") / "tiny"
    assert main(["codec", "export", "laura_codec", str(out), "--size", "tiny"]) == 0
    return out


@pytest.fixture(scope="module")
def wav_dir(tmp_path_factory, speech) -> Path:
    root = tmp_path_factory.mktemp("wavs")
    write_wav(root / "a.wav", speech["a"])
    write_wav(root / "sub" / "b.wav", speech["b"][:7777])
    sf.write(root / "c8k.wav", speech["a"][::2][:4000], 8000)  # another rate: resampled on reading
    return root


# -- codec directories ------------------------------------------------------------------------


def test_a_codec_directory_round_trips_and_its_identity_is_its_weights(codec_dir, registry, tmp_path):
    codec, identity = load_codec(codec_dir, registry)
    info = json.loads((codec_dir / "codec.json").read_text())
    assert identity == info["identity"] and identity.startswith("laura_codec-")
    assert (info["sample_rate"], info["hop_length"]) == (codec.sample_rate, codec.hop_length)
    assert not any(p.requires_grad for p in codec.parameters()) and not codec.training
    # The same export is the same codec; another seed is another.
    again = tmp_path / "again"
    assert main(["codec", "export", "laura_codec", str(again), "--size", "tiny"]) == 0
    assert load_codec(again, registry)[1] == identity
    assert main(["codec", "export", "laura_codec", str(tmp_path / "other"), "--size", "tiny", "--seed", "1"]) == 0
    assert load_codec(tmp_path / "other", registry)[1] != identity


def test_a_released_codec_is_half_the_size_and_decodes_as_the_original(codec_dir, registry, tmp_path, speech):
    released = tmp_path / "released"
    assert main(["codec", "release", str(codec_dir), str(released)]) == 0
    assert (released / CODEC_WEIGHTS).stat().st_size < 0.6 * (codec_dir / CODEC_WEIGHTS).stat().st_size
    half, identity = load_codec(released, registry)
    full, original = load_codec(codec_dir, registry)
    assert identity != original and next(half.parameters()).dtype == torch.float32  # cast back on loading
    wav = torch.from_numpy(speech["a"][:16000]).float()[None, None]
    with torch.no_grad():
        same = (half.encode(wav) == full.encode(wav)).float().mean()
        gap = (half.decode_embeddings(half.embed(full.encode(wav))) - full.decode_embeddings(full.embed(full.encode(wav))))
    assert same > 0.9 and gap.abs().max() < 0.05 * wav.abs().max()  # float16 rounding only
    # Releasing again gives the same bytes: the shipped file is reproducible from its checkpoint.
    assert main(["codec", "release", str(codec_dir), str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / CODEC_WEIGHTS).read_bytes() == (released / CODEC_WEIGHTS).read_bytes()


def test_swapped_weights_and_missing_files_are_refused(codec_dir, registry, tmp_path):
    other = tmp_path / "other"
    assert main(["codec", "export", "laura_codec", str(other), "--size", "tiny", "--seed", "1"]) == 0
    swapped = Path(shutil.copytree(codec_dir, tmp_path / "swapped"))
    shutil.copy(other / CODEC_WEIGHTS, swapped / CODEC_WEIGHTS)
    with pytest.raises(ConfigError, match=r"codec.safetensors: its weights hash to laura_codec-\w+, but codec.json "
                                          r"records laura_codec-\w+"):
        load_codec(swapped, registry)
    (swapped / "codec.json").unlink()
    with pytest.raises(ConfigError, match="is not a codec directory: codec.json is missing"):
        load_codec(swapped, registry)
    with pytest.raises(ConfigError, match="no codec given"):
        build_codec(CodecSpec(), registry)


# -- encode / decode ---------------------------------------------------------------------------


def test_batched_codes_equal_each_item_coded_alone(codec_dir, registry, speech):
    codec, _ = load_codec(codec_dir, registry)
    waves = [speech["a"][:5000], speech["b"][:9000], speech["a"][3000:3700]]
    together = encode_waves(codec, waves)
    for wave, codes in zip(waves, together):
        assert codes.shape == (codec.n_q, -(-len(wave) // codec.hop_length))
        assert np.array_equal(codes, encode_waves(codec, [wave])[0])


def test_a_wav_folder_encodes_decodes_and_resumes(codec_dir, registry, wav_dir, tmp_path, capsys):
    codec, identity = load_codec(codec_dir, registry)
    codes_dir, out_dir = tmp_path / "codes", tmp_path / "out"
    assert main(["codec", "encode", "--codec", str(codec_dir), str(wav_dir), str(codes_dir)]) == 0
    assert "encoded 3 new items" in capsys.readouterr().out
    b = np.load(codes_dir / "sub" / "b.npy")
    assert b.shape == (codec.n_q, -(-7777 // codec.hop_length)) and b.min() >= 0 and b.max() < codec.codebook_size
    c8k = np.load(codes_dir / "c8k.npy")
    assert c8k.shape[1] == -(-8000 // codec.hop_length)  # 0.5 s at the codec's 16 kHz
    assert json.loads((codes_dir / "codec.json").read_text())["identity"] == identity
    # Resuming: an intact output is kept; a missing or damaged one is made again.
    (codes_dir / "a.npy").unlink()
    (codes_dir / "c8k.npy").write_bytes((codes_dir / "c8k.npy").read_bytes()[:40])
    assert main(["codec", "encode", "--codec", str(codec_dir), str(wav_dir), str(codes_dir)]) == 0
    assert "encoded 2 new items" in capsys.readouterr().out
    assert np.array_equal(np.load(codes_dir / "c8k.npy"), c8k)

    assert main(["codec", "decode", "--codec", str(codec_dir), str(codes_dir), str(out_dir)]) == 0
    (out_dir / "a.wav").write_bytes(b"RIFF")
    assert main(["codec", "decode", "--codec", str(codec_dir), str(codes_dir), str(out_dir)]) == 0
    assert "decoded 1 new files" in capsys.readouterr().out.splitlines()[-1]
    wav, rate = sf.read(out_dir / "sub" / "b.wav")
    assert rate == codec.sample_rate and len(wav) == b.shape[1] * codec.hop_length
    expected = codec.decode(torch.from_numpy(b.astype(np.int64))[None])[0, 0].numpy()
    assert np.allclose(wav, expected, atol=1e-6)


def test_codes_of_another_codec_or_out_of_range_are_refused(codec_dir, wav_dir, tmp_path, capsys):
    other = tmp_path / "other"
    assert main(["codec", "export", "laura_codec", str(other), "--size", "tiny", "--seed", "1"]) == 0
    codes_dir = tmp_path / "codes"
    assert main(["codec", "encode", "--codec", str(codec_dir), str(wav_dir), str(codes_dir)]) == 0
    capsys.readouterr()
    assert main(["codec", "encode", "--codec", str(other), str(wav_dir), str(codes_dir)]) == 2
    assert "holds codes of codec laura_codec-" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    np.save(bad / "x.npy", np.full((2, 5), 10 ** 6, dtype=np.int32))
    assert main(["codec", "decode", "--codec", str(codec_dir), str(bad), str(tmp_path / "o")]) == 2
    assert "x.npy: codes must be integers in [0," in capsys.readouterr().err


def test_a_manifest_gets_codes_and_identity_and_an_interrupted_run_resumes(codec_dir, registry, wav_dir, tmp_path):
    from tests.core.test_validate import audio_cut

    codec, identity = load_codec(codec_dir, registry)
    files = [wav_dir / "a.wav", wav_dir / "sub" / "b.wav", wav_dir / "c8k.wav"]
    src = tmp_path / "tts.jsonl.gz"
    CutSet([audio_cut(f, f"t{i}", "some words") for i, f in enumerate(files)]).to_file(src)

    class Stop(Exception):
        pass

    def stop_after_first(done, total):
        raise Stop

    dst = tmp_path / "coded" / "tts.jsonl.gz"
    with pytest.raises(Stop):
        encode_manifest(codec, identity, src, dst, batch_seconds=0.1, progress=stop_after_first)
    partial = dst.with_name(dst.name + ".partial.jsonl")
    assert not dst.exists() and partial.is_file()
    with open(partial, "a") as f:
        f.write('{"id": "t1", "cust')  # a line torn by the interruption: t1 is encoded again
    with pytest.raises(Stop):  # and the next append starts on a line of its own
        encode_manifest(codec, identity, src, dst, batch_seconds=0.1, progress=stop_after_first)
    assert len(partial.read_text().splitlines()) == 2
    assert encode_manifest(codec, identity, src, dst, batch_seconds=0.1) == 1  # two were done before
    cuts = list(read_cuts(dst))
    assert [c.id for c in cuts] == ["t0", "t1", "t2"]  # the source's order
    for cut, f in zip(cuts, files):
        alone = encode_waves(codec, [cut.recording.resample(codec.sample_rate).load_audio()[0]])[0]
        assert cut.custom[CODES] == alone[0].tolist() and cut.custom[CODEC] == identity
    assert not dst.with_name(dst.name + ".partial.jsonl").exists()
    with pytest.raises(ConfigError, match="not over it"):
        encode_manifest(codec, identity, dst, dst)


def test_code_usage_tells_a_collapsed_first_group(codec_dir, wav_dir, tmp_path, capsys):
    from tests.core.test_validate import audio_cut

    usage = CodeUsage.of([[3, 3, 3, 1], [3, 0]], size=8)
    assert (usage.frames, usage.used, usage.size) == (6, 3, 8)
    assert usage.top_share == pytest.approx(4 / 6) and usage.collapsed
    entropy = -(4 / 6 * math.log2(4 / 6) + 2 * (1 / 6) * math.log2(1 / 6))
    assert usage.perplexity == pytest.approx(2 ** entropy)
    even = CodeUsage.of([[0, 1, 2, 3]], size=4)
    assert even.perplexity == pytest.approx(4.0) and not even.collapsed
    assert str(usage) == "first-group codes: 3 of 8 in use, perplexity 2.4, the commonest on 67% of 6 frames"
    # `laura codec encode` prints it for a manifest, and warns when one code covers most frames.
    src = tmp_path / "tts.jsonl.gz"
    CutSet([audio_cut(f, f"t{i}", "words") for i, f in enumerate(sorted(wav_dir.rglob("*.wav")))]).to_file(src)
    dst = tmp_path / "coded.jsonl.gz"
    assert main(["codec", "encode", "--codec", str(codec_dir), str(src), str(dst)]) == 0
    out = capsys.readouterr()
    expected = manifest_code_usage(dst, load_codec(codec_dir, get_registry())[0].codebook_size)
    assert str(expected) in out.out and expected.frames > 0
    assert ("warning: one code stands for" in out.err) == expected.collapsed


# -- training ---------------------------------------------------------------------------------


def setup_values(setup: Path) -> dict:
    values = yaml.safe_load(setup.read_text())
    values["manifest"] = {t["task"]: t["manifest"] for t in values["data"]["tasks"]}
    return values


def codec_config(setup: Path, exp_dir: Path, *overrides: str):
    asr = setup_values(setup)["manifest"]["asr"]
    return load_train_config(None, [
        "kind=codec", f"exp_dir={exp_dir}", "codec.name=laura_codec", "codec.size=tiny",
        f"data.tasks=[{{task: asr, manifest: {asr}}}]", "data.segment=0.2", "data.max_cuts=2",
        "optim.lr=3e-3", "optim.warmup_steps=2", "optim.betas=[0.5,0.9]", "gan.start_step=3",
        "max_steps=6", "log_every=1", "save_every=3", "valid_every=0", *overrides])


def test_laura_train_trains_a_codec_into_a_codec_directory_and_resumes_exactly(setup, registry, tmp_path):
    straight = train(codec_config(setup, tmp_path / "straight"))
    records = [r for r in log_records(tmp_path / "straight") if r["split"] == "train"]
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert all("codec/mel" in r and "codec/l1" in r for r in records)
    # The discriminator joins at step 3 (index 3 is the fourth step).
    assert "codec/disc" not in records[2] and "codec/disc" in records[3]
    codec, identity = load_codec(straight, registry)  # a checkpoint is a codec directory
    assert codec.hop_length == registry.create("codec", "laura_codec", size="tiny").hop_length

    train(codec_config(setup, tmp_path / "resumed", "max_steps=3"))
    resumed = train(codec_config(setup, tmp_path / "resumed", "resume=true"))
    assert load_codec(resumed, registry)[1] == identity  # the same weights, bit for bit
    assert [p.name for p in list_checkpoints(tmp_path / "straight" / "checkpoints")] == \
        ["step_00000003", "step_00000006"]


def test_a_frequency_domain_codec_trains_without_a_discriminator(setup, registry, tmp_path):
    final = train(codec_config(setup, tmp_path / "freq", "codec.size=tiny_freq", "gan.start_step=-1", "max_steps=3"))
    records = [r for r in log_records(tmp_path / "freq") if r["split"] == "train"]
    assert len(records) == 3 and not any("codec/disc" in r or "codec/adv" in r for r in records)
    codec, _ = load_codec(final, registry)
    assert codec.config.domain == "frequency"
    with torch.no_grad():
        assert codec.decode(codec.encode(torch.randn(1, 1, 5 * codec.hop_length))).shape == (1, 1, 5 * codec.hop_length)


def test_laura_train_trains_a_vocoder_against_a_frozen_codec(setup, registry, tmp_path):
    base = setup_values(setup)
    codec_path = base["codec"]["path"]
    common = ["kind=vocoder", f"codec.path={codec_path}", "vocoder.name=onestep", "vocoder.size=tiny",
              f"tokenizer.options.model={base['tokenizer']['options']['model']}",
              f"data.tasks=[{{task: tts, manifest: {base['manifest']['tts']}}}]", "data.max_duration=4", "data.num_buckets=2",
              "optim.lr=3e-3", "optim.warmup_steps=2", "max_steps=8", "log_every=2", "save_every=4",
              "valid_every=0"]
    final = train(load_train_config(None, [f"exp_dir={tmp_path / 'voc'}", *common]))
    losses = [r["loss"] for r in log_records(tmp_path / "voc") if r["split"] == "train"]
    assert len(losses) == 4 and losses[-1] < losses[0]
    codec, identity = load_codec(codec_path, registry)
    assert json.loads((final / "vocoder.json").read_text())["codec"] == identity
    vocoder = load_vocoder(final, registry, identity)
    codes = torch.randint(0, codec.codebook_size, (2, 9))
    cond, cond_lengths = vocoder.condition_features([torch.tensor([3, 4, 5]), torch.tensor([6])], [None, None])
    wav = vocoder.synthesize(codes, torch.tensor([9, 5]), cond, cond_lengths, codec)
    assert wav.shape == (2, 1, 9 * codec.hop_length) and not wav[1, 0, 5 * codec.hop_length:].any()
    other = tmp_path / "other"
    assert main(["codec", "export", "laura_codec", str(other), "--size", "tiny", "--seed", "1"]) == 0
    with pytest.raises(ConfigError, match="was trained against codec laura_codec-"):
        load_vocoder(final, registry, load_codec(other, registry)[1])
    with pytest.raises(ConfigError, match="codec mismatch: the config's codec is laura_codec-"):
        train(load_train_config(None, [f"exp_dir={tmp_path / 'voc'}", *common, "resume=true", "max_steps=12",
                                       f"codec.path={other}"]))


def test_a_vocoder_with_prompt_context_hears_another_utterance_of_the_targets_speaker(setup, registry, tmp_path):
    from lhotse.utils import fastcopy

    from laura_core.data.batches import _tagged
    from laura_core.model.synthesis import synthesize
    from laura_core.training.codec import VocoderKind

    base = setup_values(setup)
    cuts = [fastcopy(c, supervisions=[fastcopy(c.supervisions[0], speaker=f"s{i % 2}")])
            for i, c in enumerate(read_cuts(base["manifest"]["tts"]))]
    manifest = tmp_path / "tts.jsonl.gz"
    CutSet(cuts).to_file(manifest)
    common = ["kind=vocoder", f"codec.path={base['codec']['path']}", "vocoder.name=onestep", "vocoder.size=tiny",
              "vocoder.options={prompt_context: true}", f"tokenizer.options.model={base['tokenizer']['options']['model']}",
              f"data.tasks=[{{task: tts, manifest: {manifest}}}]", "data.max_duration=4", "data.num_buckets=2",
              "data.prompt={prob: 1.0, seconds: 0.3}", "optim.lr=3e-3", "optim.warmup_steps=2", "max_steps=4",
              "log_every=2", "save_every=4", "valid_every=0"]
    kind = VocoderKind(load_train_config(None, [f"exp_dir={tmp_path / 'peek'}", *common]), registry)
    _, data = kind.data(kind.cfg.data)
    batch = data[CutSet([_tagged(c, "tts") for c in cuts])]
    rate = kind.codec.sample_rate
    audio = {c.id: c.recording.resample(rate).load_audio().mean(0) for c in cuts}
    for cid, prompt in zip(batch.ids, batch.prompt):  # the start of another utterance of its speaker
        speaker = next(c for c in cuts if c.id == cid).supervisions[0].speaker
        assert 0 < len(prompt) <= round(0.3 * rate)
        assert any(np.allclose(prompt.numpy(), audio[c.id][: len(prompt)], atol=1e-6) for c in cuts
                   if c.id != cid and c.supervisions[0].speaker == speaker)
    assert all(torch.equal(a, b) for a, b in zip(batch.prompt, data[CutSet([_tagged(c, "tts") for c in cuts])].prompt))

    final = train(load_train_config(None, [f"exp_dir={tmp_path / 'voc'}", *common]))
    losses = [r["loss"] for r in log_records(tmp_path / "voc") if r["split"] == "train"]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)
    codec, identity = load_codec(base["codec"]["path"], registry)
    vocoder = load_vocoder(final, registry, identity)
    assert vocoder.takes_prompt
    torch.nn.init.normal_(vocoder.out.weight, std=0.1)  # four steps leave the head near zero
    codes, text = [[1, 2, 3, 4]], [torch.tensor([3, 4, 5])]
    heard = synthesize(vocoder, codec, codes, text, [None], [batch.prompt[0]])[0]
    plain = synthesize(vocoder, codec, codes, text, [None])[0]
    assert heard.shape == plain.shape == (4 * codec.hop_length,) and not np.allclose(heard, plain)
    with pytest.raises(ConfigError, match="data.prompt.prob is 0"):
        train(load_train_config(None, [f"exp_dir={tmp_path / 'none'}", *common, "data.prompt.prob=0"]))
