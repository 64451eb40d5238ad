"""Outputs stay in their folder, one run writes a folder, and every load of laura's own files is verified."""
import json
import math
import shutil

import pytest
from lhotse import CutSet

from laura_core.cli import main
from laura_core.errors import DataError
from laura_core.inference.infer import InferConfig, infer, load_inference_model
from laura_core.lock import output_lock
from laura_core.manifest import read_cuts
from laura_core.names import MAX_ID_LENGTH, id_problem, output_path
from laura_core.training.checkpoint import list_checkpoints
from laura_core.training.trainer import train
from tests.core.conftest import manifests
from tests.core.test_train import config

SHORT = ["text.max_new_tokens=4", "codec.max_new_tokens=4"]


@pytest.fixture(scope="module")
def model_dir(setup, tmp_path_factory):
    exp = tmp_path_factory.mktemp("lm")
    train(config(setup, exp, "max_steps=2", "save_every=2", "valid_every=0"))
    return list_checkpoints(exp / "checkpoints")[-1]


def with_ids(src: str, dst, ids: dict[str, str]) -> str:
    """A copy of manifest ``src`` whose cuts ``ids`` maps are renamed."""
    cuts = [c.with_id(ids.get(c.id, c.id)) for c in read_cuts(src)]
    CutSet(cuts).to_file(dst)
    return str(dst)


@pytest.mark.parametrize("rid, reason", [
    ("../../x", "path separator"), ("a/b", "path separator"), ("a\\b", "path separator"), ("..", "starts with '.'"),
    (".hidden", "starts with '.'"), ("a\nb", "control character"), ("a\x00b", "control character"),
    ("x" * (MAX_ID_LENGTH + 1), "characters long"), ("", "non-empty"),
])
def test_unsafe_ids_are_named_with_the_reason(rid, reason, tmp_path):
    assert reason in id_problem(rid)
    with pytest.raises(DataError, match=r"field 'id': "):
        output_path(tmp_path, rid, ".wav")
    assert id_problem("utt-01_a.b") is None and output_path(tmp_path, "utt-01_a.b", ".wav").parent == tmp_path


def test_validate_refuses_an_id_that_leads_out_and_infer_writes_nothing_outside(setup, model_dir, vocoder_dir,
                                                                              tmp_path, capsys):
    first = next(iter(read_cuts(manifests(setup)["tts"]))).id
    bad = with_ids(manifests(setup)["tts"], tmp_path / "bad.jsonl.gz", {first: "../../escaped"})
    assert main(["validate", bad, "--task", "tts"]) == 1
    listed = capsys.readouterr().out
    assert "../../escaped" in listed and "path separator" in listed
    out = tmp_path / "deep" / "out"
    code = main(["infer", str(model_dir), str(out), f"--data=tts={bad}", "--vocoder", str(vocoder_dir), *SHORT])
    assert code == 2 and "'../../escaped'" in capsys.readouterr().err
    assert not list(tmp_path.rglob("escaped*"))


def test_nan_infinite_and_negative_durations_are_refused_by_validate(setup, tmp_path, capsys):
    cuts = list(read_cuts(manifests(setup)["mt"]))[:3]
    for cut, duration in zip(cuts, (math.nan, math.inf, -1.0)):
        cut.duration = duration
    path = tmp_path / "mt.jsonl"
    with open(path, "w") as f:  # lhotse writes NaN and Infinity as Python's json does
        for cut in cuts:
            f.write(json.dumps(cut.to_dict()) + "\n")
    assert main(["validate", str(path), "--task", "mt"]) == 1
    out = capsys.readouterr().out
    assert out.count("duration") >= 3 and "must be a finite number of seconds above 0" in out


def test_a_second_infer_into_the_same_folder_is_refused(setup, model_dir, tmp_path, capsys):
    out = tmp_path / "out"
    with output_lock(out, "laura infer"):
        code = main(["infer", str(model_dir), str(out), f"--data=mt={manifests(setup)['mt']}", *SHORT])
    assert code == 2 and f"{out} is in use by laura infer (pid" in capsys.readouterr().err
    assert not (out / "mt").exists()


def test_altered_weights_are_refused_by_infer_average_and_init(setup, model_dir, registry, tmp_path, capsys):
    altered = shutil.copytree(model_dir, tmp_path / "ckpt")
    weights = altered / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    code = main(["infer", str(altered), str(tmp_path / "out"), f"--data=mt={manifests(setup)['mt']}", *SHORT])
    assert code == 2 and "model.safetensors: corrupt or truncated (sha256 differs from manifest.json)" in \
        capsys.readouterr().err
    with pytest.raises(DataError, match="corrupt or truncated"):
        train(config(setup, tmp_path / "exp", "max_steps=1", f"init.backbone={weights}"))
    # An average is verified like a checkpoint.
    exp = model_dir.parent.parent
    assert main(["average", str(exp), str(tmp_path / "avg"), "--last", "1"]) == 0
    load_inference_model(tmp_path / "avg", registry)
    (tmp_path / "avg" / "config.yaml").write_text((tmp_path / "avg" / "config.yaml").read_text() + "\n# edited\n")
    with pytest.raises(DataError, match="avg/config.yaml: corrupt or truncated"):
        load_inference_model(tmp_path / "avg", registry)


def test_an_altered_vocoder_is_refused(setup, model_dir, vocoder_dir, registry, tmp_path):
    altered = shutil.copytree(vocoder_dir, tmp_path / "voc")
    (altered / "model.safetensors").write_bytes((altered / "model.safetensors").read_bytes()[:-4])
    with pytest.raises(DataError, match="voc/model.safetensors: corrupt or truncated"):
        load_inference_model(model_dir, registry, altered)


def test_a_state_file_with_code_in_it_is_named_and_never_unpickled(tmp_path):
    import pickle

    from laura_core.training.checkpoint import load_state

    class Evil:
        def __reduce__(self):
            return (print, ("ran",))

    path = tmp_path / "trainer.pt"
    path.write_bytes(pickle.dumps({"step": Evil()}))
    with pytest.raises(DataError, match=r"trainer.pt: not a training state laura loads") as e:
        load_state(path)
    assert "weights_only" not in str(e.value)
    path.write_bytes(b"PK\x03\x04 torn")
    with pytest.raises(DataError, match=r"trainer.pt: damaged"):
        load_state(path)


@pytest.mark.parametrize("override, key", [
    ("optim.lr=nan", "optim.lr is nan"), ("optim.lr=0", "optim.lr is 0.0"), ("optim.warmup_steps=-1", "optim.warmup_steps"),
    ("data.max_duration=0", "data.max_duration is 0.0"), ("optim.lr=inf", "optim.lr is inf"),
    ("optim.betas=[0.9,1.5]", r"optim.betas\[1\]"),
])
def test_bad_numbers_in_a_config_name_their_key(setup, tmp_path, override, key, capsys):
    assert main(["train", str(setup), f"exp_dir={tmp_path}", override]) == 2
    err = capsys.readouterr().err
    assert err.startswith("laura: error: ") and "must be finite and" in err
    import re
    assert re.search(key, err)


def test_tts_speaks_text_only_records(setup, model_dir, vocoder_dir, tmp_path):
    from tests.core.test_validate import text_cut

    manifest = tmp_path / "new_text.jsonl.gz"
    CutSet([text_cut(f"n{i}", text) for i, text in enumerate(["the birch canoe", "glue the sheet"])]).to_file(manifest)
    assert main(["infer", str(model_dir), str(tmp_path / "out"), f"--data=tts={manifest}", "--vocoder",
                 str(vocoder_dir), *SHORT]) == 0
    folder = tmp_path / "out" / "tts" / "new_text"
    hyps = [json.loads(line) for line in (folder / "hyp.jsonl").read_text().splitlines()]
    assert not (folder / "ref.jsonl").exists()  # nothing to compare with
    assert {h["id"] for h in hyps} <= {"n0", "n1"} and all((folder / h["audio"]).is_file() for h in hyps)


def test_empty_text_outputs_are_left_out_and_counted(setup, model_dir, tmp_path, monkeypatch, capsys):
    from laura_core.model.lauragpt import LauraGPT

    real = LauraGPT.generate

    def generate(self, items, **kwargs):
        outputs = real(self, items, **kwargs)
        return [[] if i == 0 else out for i, out in enumerate(outputs)]  # the first item of each batch: eos at once

    monkeypatch.setattr(LauraGPT, "generate", generate)
    assert main(["infer", str(model_dir), str(tmp_path / "out"), f"--data=mt={manifests(setup)['mt']}", *SHORT,
                 "max_duration=1000"]) == 0
    folder = tmp_path / "out" / "mt" / "train"
    hyps = [json.loads(line) for line in (folder / "hyp.jsonl").read_text().splitlines()]
    refs = (folder / "ref.jsonl").read_text().splitlines()
    assert len(hyps) == len(refs) - 1 and all(h["text"] for h in hyps)
    assert "1 empty outputs left out" in capsys.readouterr().out
    assert main(["score", "--task", "mt", "--ref", str(folder / "ref.jsonl"), "--hyp", str(folder / "hyp.jsonl")]) == 0
    assert "missing" in capsys.readouterr().out.lower()


def test_a_prefill_in_chunks_decodes_as_one_pass(setup, model_dir, registry, monkeypatch):
    import laura_core.model.generation as generation
    from laura_core.data.batches import item_source
    from laura_core.model.lauragpt import Item

    bundle = load_inference_model(model_dir, registry)
    task = registry.task("mt")
    items = [Item("mt", item_source(c, task, bundle.tokenizer, 0)) for c in list(read_cuts(manifests(setup)["mt"]))[:4]]
    options = generation.DecodeOptions(max_new_tokens=6)
    whole = bundle.model.generate(items, text=options)
    monkeypatch.setattr(generation, "PREFILL_CHUNK", 3)  # every prompt in several chunks
    assert bundle.model.generate(items, text=options) == whole


def test_unbounded_text_is_refused_by_id_before_decoding(setup, model_dir, tmp_path, capsys):
    from tests.core.test_validate import text_cut

    manifest = tmp_path / "long.jsonl.gz"
    CutSet([text_cut("short", "the birch canoe", translation="x"),
            text_cut("huge", "word " * 8000, translation="y")]).to_file(manifest)
    assert main(["validate", str(manifest), "--task", "mt"]) == 1
    assert "huge" in (out := capsys.readouterr().out) and "40000 characters, more than validation.max_text_chars=4000" in out
    assert main(["infer", str(model_dir), str(tmp_path / "out"), f"--data=mt={manifest}", *SHORT]) == 2
    assert "'huge'" in capsys.readouterr().err and not (tmp_path / "out" / "mt" / "long" / "hyp.jsonl").exists()


def test_atomic_writes_get_the_modes_plain_files_get(tmp_path):
    import os

    from laura_core.io import atomic_write_text

    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic = atomic_write_text(tmp_path / "atomic.txt", "x")
    assert os.stat(atomic).st_mode & 0o777 == os.stat(plain).st_mode & 0o777


def test_codec_encode_and_decode_refuse_an_output_in_use(setup, tmp_path, capsys):
    codec = tmp_path / "codec"
    assert main(["codec", "export", "laura_codec", str(codec), "--size", "tiny"]) == 0
    dst = tmp_path / "coded.jsonl.gz"
    with output_lock(dst, "laura codec encode", is_file=True):
        assert main(["codec", "encode", "--codec", str(codec), manifests(setup)["tts"], str(dst)]) == 2
    assert f"{dst} is in use by laura codec encode" in capsys.readouterr().err and not dst.exists()
    with output_lock(tmp_path / "wavs", "laura codec decode"):
        assert main(["codec", "decode", "--codec", str(codec), str(tmp_path), str(tmp_path / "wavs")]) == 2
    assert "is in use by laura codec decode" in capsys.readouterr().err
