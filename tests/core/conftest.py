from pathlib import Path

import numpy as np
import pytest
import yaml
from lhotse import CutSet

from laura_core.cli import main
from tests.conftest import write_wav
from tests.core.test_validate import audio_cut, text_cut

SENTENCES = [
    "the birch canoe slid on the smooth planks", "glue the sheet to the dark blue background",
    "it is easy to tell the depth of a well", "four hours of steady work faced us",
    "rice is often served in round bowls", "the juice of lemons makes fine punch",
]


@pytest.fixture(scope="module")
def setup(tmp_path_factory, registry) -> Path:
    return make_setup(tmp_path_factory.mktemp("train"), registry)


def make_setup(root: Path, registry) -> Path:
    """A training YAML over asr (audio -> text), mt (text -> text) and tts (text -> codec) cuts of
    tones and noise, with a tiny SentencePiece tokenizer, the tiny model and a tiny codec, whose codes
    ``laura codec encode`` attached to the tts cuts."""
    rng = np.random.default_rng(0)
    cuts: dict[str, list] = {"asr": [], "mt": [], "tts": []}
    for i, text in enumerate(SENTENCES):
        seconds = 0.4 + 0.1 * i
        t = np.arange(int(seconds * 16000)) / 16000
        wav = 0.3 * np.sin(2 * np.pi * (150 + 60 * i) * t) + 0.02 * rng.standard_normal(len(t))
        path = write_wav(root / "wav" / f"{i}.wav", wav)
        cuts["asr"].append(audio_cut(path, f"a{i}", text))
        cuts["mt"].append(text_cut(f"m{i}", text, translation=SENTENCES[(i + 1) % len(SENTENCES)]))
        cuts["tts"].append(audio_cut(path, f"t{i}", text))
    tasks = []
    for name, task_cuts in cuts.items():
        path = root / name / "train.jsonl.gz"
        path.parent.mkdir()
        CutSet(task_cuts).to_file(path)
        tasks.append({"task": name, "manifest": str(path)})
    codec_dir = root / "codec"
    assert main(["codec", "export", "laura_codec", str(codec_dir), "--size", "tiny"]) == 0
    coded = root / "tts" / "coded.jsonl.gz"
    assert main(["codec", "encode", "--codec", str(codec_dir), tasks[2]["manifest"], str(coded)]) == 0
    tasks[2]["manifest"] = str(coded)
    trainer = registry.component("tokenizer", "sentencepiece").obj.train
    spm = trainer(SENTENCES, root / "tokenizer", vocab_size=60)
    conf = {
        "model_size": "tiny",
        "codec": {"path": str(codec_dir)},
        "tokenizer": {"name": "sentencepiece", "options": {"model": str(spm)}},
        "data": {"tasks": tasks, "max_duration": 4.0, "num_buckets": 2},
        "valid": {"tasks": tasks[:2], "max_duration": 6.0, "num_buckets": 2, "shuffle": False},
        "optim": {"lr": 3e-3, "warmup_steps": 3, "min_lr": 3e-4},
        "log_every": 2, "valid_every": 5, "save_every": 4, "keep_last": 2,
    }
    path = root / "conf.yaml"
    path.write_text(yaml.safe_dump(conf))
    return path


def manifests(setup: Path) -> dict[str, str]:
    """The training manifest of each task in ``setup``'s config."""
    return {t["task"]: t["manifest"] for t in yaml.safe_load(setup.read_text())["data"]["tasks"]}


@pytest.fixture(scope="module")
def vocoder_dir(setup, tmp_path_factory) -> Path:
    return make_vocoder(setup, tmp_path_factory.mktemp("voc"))


def make_vocoder(setup: Path, exp_dir: Path) -> Path:
    """A onestep vocoder trained for two steps against ``setup``'s codec, with its tokenizer."""
    from laura_core.training.config import load_train_config
    from laura_core.training.trainer import train

    values = yaml.safe_load(setup.read_text())
    return train(load_train_config(None, [
        "kind=vocoder", f"exp_dir={exp_dir}", f"codec.path={values['codec']['path']}",
        "vocoder.name=onestep", "vocoder.size=tiny", f"tokenizer.options.model={values['tokenizer']['options']['model']}",
        f"data.tasks=[{{task: tts, manifest: {manifests(setup)['tts']}}}]", "data.max_duration=4",
        "data.num_buckets=2", "max_steps=2", "save_every=2", "valid_every=0"]))
