"""`laura serve` through a real HTTP client: every task, bad requests, concurrency, the queue's limit."""
import base64
import io
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import soundfile as sf

from laura_core.serving.app import ServeConfig, create_app
from tests.serving.conftest import TASKS, running


def post(url: str, task: str, item, **fields) -> httpx.Response:
    files = {}
    if isinstance(item, str):
        fields["text"] = item
    else:
        files["audio"] = (item.name, item.read_bytes(), "audio/wav")
    for name in ("prompt",):
        if name in fields:
            path = fields.pop(name)
            files[name] = (path.name, path.read_bytes(), "audio/wav")
    return httpx.post(f"{url}/api/{task}", data=fields, files=files or None, timeout=120)


def check_against_infer(served, task: str, answer: dict) -> None:
    """The server's answer is what `laura infer` wrote for its id."""
    written = served.hyps[task].get(answer["id"])
    assert answer["task"] == task
    if answer["type"] == "audio":
        wave, rate = sf.read(io.BytesIO(base64.b64decode(answer["wav"])), dtype="float32")
        if written is None:
            assert answer["codes"] == [] and len(wave) == 0
            return
        expected, _ = sf.read(served.infer_out / task / task / written["audio"], dtype="float32")
        assert answer["codes"] == written["codes"] and rate == answer["sample_rate"] and wave.shape == expected.shape
        # The codes exactly; the waveform to float rounding: the vocoder's batch (and its GEMMs) may differ.
        assert np.abs(wave - expected).max() <= 1e-4
    elif written is None:
        assert all(v is None for k, v in answer["record"].items() if k != "id")
    else:
        assert answer["record"] == written


def test_health_and_tasks(server_url, served):
    health = httpx.get(f"{server_url}/health").json()
    assert health["status"] == "ok" and health["tasks"] == list(TASKS) and health["speaks"] is True
    assert health["model"] == str(served.checkpoint())
    tasks = {t["name"]: t for t in httpx.get(f"{server_url}/api/tasks").json()["tasks"]}
    assert tasks["tts"]["prompt"] and not tasks["asr"]["prompt"] and tasks["se"]["output"] == "codec"
    page = httpx.get(server_url)
    assert page.status_code == 200 and "<select id=\"task\">" in page.text
    assert httpx.get(f"{server_url}/static/app.js").status_code == 200


def test_concurrent_requests_of_mixed_tasks_each_get_their_own_output(server_url, served):
    jobs = [(task, rid, item) for task in TASKS for rid, item in served.inputs[task]][:24]
    assert len({task for task, _, _ in jobs}) == 6 and len(jobs) == 24
    before = httpx.get(f"{server_url}/health").json()["batches"]
    with ThreadPoolExecutor(len(jobs)) as pool:
        answers = list(pool.map(lambda job: post(server_url, job[0], job[2], id=job[1]), jobs))
    for (task, rid, _), answer in zip(jobs, answers):
        assert answer.status_code == 200, answer.text
        assert answer.json()["id"] == rid
        check_against_infer(served, task, answer.json())
    batches = httpx.get(f"{server_url}/health").json()["batches"] - before
    assert batches < len(jobs)  # requests of a task were decoded together


def test_audio_out_as_a_wav_file(server_url, served):
    rid, text = served.inputs["tts"][0]
    answer = httpx.post(f"{server_url}/api/tts?format=wav", data={"text": text, "id": rid}, timeout=60)
    assert answer.status_code == 200 and answer.headers["content-type"] == "audio/wav"
    assert answer.headers["x-laura-id"] == rid
    wave, _ = sf.read(io.BytesIO(answer.content), dtype="float32")
    written = served.hyps["tts"].get(rid)
    if written:
        assert np.abs(wave - sf.read(served.infer_out / "tts" / "tts" / written["audio"], dtype="float32")[0]).max() <= 1e-4
    assert post(server_url, "asr", served.wavs[0], format="wav").status_code == 200  # a form field, not the query
    assert httpx.post(f"{server_url}/api/asr?format=wav", files={"audio": ("a.wav", served.wavs[0].read_bytes())}).status_code == 400


def test_a_voice_prompt_upload(server_url, served):
    plain = post(server_url, "tts", "good morning")
    prompted = post(server_url, "tts", "good morning", prompt=served.wavs[3], prompt_text=served.texts[3])
    assert plain.status_code == prompted.status_code == 200
    assert post(server_url, "asr", served.wavs[0], prompt=served.wavs[3]).status_code == 422


@pytest.mark.parametrize("request_, status, says", [
    (lambda url, s: httpx.post(f"{url}/api/asr", data={"text": "hi"}), 422, "field 'audio': missing"),
    (lambda url, s: httpx.post(f"{url}/api/mt", data={}), 422, "field 'text': missing"),
    (lambda url, s: httpx.post(f"{url}/api/asr", files={"audio": ("x.wav", b"not audio")}), 400, "not an audio file"),
    (lambda url, s: httpx.post(f"{url}/api/asr", files={"audio": ("x.wav", b"")}), 400, "empty"),
    (lambda url, s: httpx.post(f"{url}/api/nope", data={"text": "hi"}), 404, "task 'nope'"),
    (lambda url, s: httpx.post(f"{url}/api/mt", data={"text": "hi", "options": "{"}), 422, "not a JSON object"),
    (lambda url, s: httpx.post(f"{url}/api/mt", data={"text": "hi", "options": '{"device": "cuda"}'}), 422, "cannot be set"),
    (lambda url, s: httpx.post(f"{url}/api/mt", data={"text": "hi", "options": '{"max_new_tokens": 100000}'}), 422, "1..12"),
    (lambda url, s: httpx.post(f"{url}/api/mt", data={"text": "hi", "options": '{"strategy": "nope"}'}), 422, "strategy"),
    (lambda url, s: httpx.post(f"{url}/api/mt", data={"text": "hi", "seed": "x"}), 422, "seed"),
    (lambda url, s: httpx.post(f"{url}/api/mt", data={"text": "hi", "id": "../../x"}), 400, "path separator"),
    (lambda url, s: httpx.post(f"{url}/api/mt", content=b"{}", headers={"content-type": "application/json"}), 422, "missing"),
])
def test_bad_requests_get_a_4xx_that_says_why(server_url, served, request_, status, says):
    answer = request_(server_url, served)
    assert answer.status_code == status and says in answer.json()["error"], answer.text
    assert httpx.get(f"{server_url}/health").json()["status"] == "ok"


def test_limits(model, served):
    cfg = ServeConfig(infer=model.config, max_upload_mb=0.02, max_seconds=0.5, max_text=20)
    with running(create_app(model, cfg)) as url:
        long_audio = served.wavs[-1]  # 0.9 s, 57 KB
        answer = post(url, "asr", long_audio)
        assert answer.status_code == 413 and "max_upload_mb" in answer.json()["error"]
        answer = httpx.post(f"{url}/api/asr", files={"audio": ("x.wav", b"0" * 200_000)})
        assert answer.status_code == 413 and "max_upload_mb" in answer.json()["error"]  # refused before reading
        quiet = io.BytesIO()
        sf.write(quiet, np.zeros(9600, np.float32), 16000, format="WAV", subtype="PCM_16")  # 0.6 s, 19 KB
        answer = httpx.post(f"{url}/api/asr", files={"audio": ("x.wav", quiet.getvalue())})
        assert answer.status_code == 413 and "0.6 s of audio; at most 0.5 s (max_seconds)" in answer.json()["error"]
        answer = post(url, "mt", "x" * 21)
        assert answer.status_code == 413 and "21 characters; at most 20 (max_text)" in answer.json()["error"]
        assert post(url, "mt", "x" * 20).status_code == 200


class Blocking:
    """A model whose calls wait for ``release``: requests pile up in the queue."""

    def __init__(self, model):
        self.model, self.entered, self.release = model, threading.Event(), threading.Event()

    def __getattr__(self, name):
        return getattr(self.model, name)

    def run(self, *args, **kwargs):
        self.entered.set()
        self.release.wait(60)
        return self.model.run(*args, **kwargs)


def test_a_full_queue_refuses_with_429_and_the_waiting_finish(model, served):
    blocking = Blocking(model)
    cfg = ServeConfig(infer=model.config, max_batch=1, max_queue=1, batch_wait_ms=0)
    with running(create_app(blocking, cfg)) as url, ThreadPoolExecutor(2) as pool:
        first = pool.submit(post, url, "mt", "first")
        assert blocking.entered.wait(30)
        second = pool.submit(post, url, "mt", "second")
        deadline = time.monotonic() + 30
        while httpx.get(f"{url}/health").json()["waiting"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        third = post(url, "mt", "third")
        assert third.status_code == 429 and "try again" in third.json()["error"]
        blocking.release.set()
        assert first.result().status_code == second.result().status_code == 200
        assert first.result().json()["record"] == model.translate("first").record


def test_laura_serve_binds_to_localhost_by_default(served):
    from laura_core.cli import build_parser

    args = build_parser().parse_args(["serve", str(served.exp_dir)])
    assert args.host == "127.0.0.1" and args.port == 8000 and json.dumps(args.options) == "[]"


def test_the_laura_serve_command(served, tmp_path):
    """The command as a user starts it: it serves until stopped (SIGINT, as Ctrl-C)."""
    import signal
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "laura_core", "serve", str(served.exp_dir), "--port", str(port),
                                "max_text=5"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.stdout.read()
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health").json()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert health["speaks"] and health["model"] == str(served.checkpoint())
        assert httpx.post(f"http://127.0.0.1:{port}/api/mt", data={"text": "too long"}).status_code == 413
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=30)[0]
    assert process.returncode == 0 and f"at http://127.0.0.1:{port}/" in output
