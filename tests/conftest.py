import importlib.util
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from laura_core.registry import get_registry

RATE = 16000
REPO = Path(__file__).resolve().parents[1]


def load_recipe_script(relative: str):
    """A recipe's script (``egs/mini/local/report.py``) imported as a module, to test its functions."""
    path = REPO / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def registry():
    """The registry of installed plugins: the built-ins plus tests/plugin_pkg."""
    return get_registry()


def write_jsonl(path: Path, records) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def write_wav(path: Path, wav: np.ndarray, rate: int = RATE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.asarray(wav, dtype=np.float32), rate, subtype="FLOAT")
    return path


@pytest.fixture(scope="session")
def speech(tmp_path_factory):
    """Real synthetic speech (espeak-ng), 16 kHz float32: {name: waveform}."""
    from laura_core.audio import read_audio

    out = tmp_path_factory.mktemp("speech")
    texts = {
        "a": ("en-us", "The birch canoe slid on the smooth planks."),
        "b": ("en-us", "Glue the sheet to the dark blue background."),
        "a_gb": ("en-gb-x-rp", "The birch canoe slid on the smooth planks."),
    }
    waves = {}
    for name, (voice, text) in texts.items():
        raw = out / f"{name}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True)
        waves[name] = read_audio(raw, RATE)[0]
    return waves
