"""A tiny trained model, its vocoder, inputs for every task, and what `laura infer` makes of them:
built once for the API, server and page tests."""
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from lhotse import CutSet, Recording

from laura_core.cli import main
from laura_core.io import read_jsonl
from laura_core.manifest import audio_cut, text_cut
from tests.core.conftest import SENTENCES, make_setup, make_vocoder
from tests.core.test_train import config

TASKS = ("aac", "asr", "mt", "s2tt", "se", "ser", "slu", "tts")
# `laura infer`'s options, and the same for the API and the server: short outputs, several batches.
OPTIONS = ["text.max_new_tokens=12", "codec.max_new_tokens=10", "max_duration=1.2"]
API_OPTIONS = {"text": {"max_new_tokens": 12}, "codec": {"max_new_tokens": 10}, "max_duration": 1.2}


@dataclass
class Served:
    exp_dir: Path  # a trained model's experiment folder (its train.yaml names the vocoder as valid_vocoder)
    vocoder: Path
    wavs: list[Path]  # 16 kHz recordings, 0.4 to 0.9 s
    texts: list[str]
    inputs: dict[str, list[tuple[str, object]]]  # task -> (id, wav path or text), as in its manifest
    infer_out: Path  # `laura infer` on those manifests
    hyps: dict[str, dict[str, dict]]  # task -> id -> its hypothesis record in hyp.jsonl

    def checkpoint(self) -> Path:
        from laura_core.training.checkpoint import latest_checkpoint

        return latest_checkpoint(self.exp_dir / "checkpoints")


@pytest.fixture(scope="package")
def served(tmp_path_factory, registry) -> Served:
    from laura_core.training.trainer import train

    root = tmp_path_factory.mktemp("served")
    setup = make_setup(root / "data", registry)
    vocoder = make_vocoder(setup, root / "vocoder")
    exp_dir = root / "lm"
    train(config(setup, exp_dir, "max_steps=4", "save_every=4", "valid_every=0", "keep_last=0", "model.ctc_weight=0.3",
                 f"valid_vocoder={vocoder}"))
    wavs = sorted((root / "data" / "wav").glob("*.wav"))
    inputs, data = {}, []
    for task in TASKS:
        if task in ("mt", "tts"):
            inputs[task] = [(f"{task}{i}", text) for i, text in enumerate(SENTENCES[:4])]
            cuts = [text_cut(rid, text) for rid, text in inputs[task]]
        else:
            inputs[task] = [(f"{task}{i}", wav) for i, wav in enumerate(wavs[:4])]
            cuts = [audio_cut(Recording.from_file(wav, recording_id=rid)) for rid, wav in inputs[task]]
        manifest = root / "manifests" / f"{task}.jsonl.gz"
        manifest.parent.mkdir(exist_ok=True)
        CutSet(cuts).to_file(manifest)
        data.append(f"--data={task}={manifest}")
    checkpoint = Served(exp_dir, vocoder, wavs, SENTENCES, inputs, root / "infer", {}).checkpoint()
    assert main(["infer", str(checkpoint), str(root / "infer"), *data, "--vocoder", str(vocoder), *OPTIONS]) == 0
    hyps = {task: {r["id"]: r for _, r in read_jsonl(root / "infer" / task / task / "hyp.jsonl")} for task in TASKS}
    return Served(exp_dir, vocoder, wavs, SENTENCES, inputs, root / "infer", hyps)


@pytest.fixture(scope="package")
def model(served):
    from laura_core import api

    return api.load(served.exp_dir, **API_OPTIONS)


@contextmanager
def running(app):
    """``app`` served by uvicorn on a free localhost port, in a thread: its base URL."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="package")
def server_url(model):
    from laura_core.serving.app import ServeConfig, create_app

    with running(create_app(model, ServeConfig(infer=model.config, batch_wait_ms=100))) as url:
        yield url
