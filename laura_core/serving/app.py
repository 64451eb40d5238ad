"""``laura serve``: the Python API over HTTP (FastAPI), with a web page to try every task.

    GET  /              the web page: pick a task, upload or record audio or type text, see or hear the output
    GET  /health        {"status": "ok", "model", "weights", "tasks", "speaks", "waiting", "batches"}
    GET  /api/tasks     the model's tasks (input, output, whether they take a voice prompt) and the limits
    POST /api/<task>    a multipart form: ``audio`` (a file) or ``text``; for tts optionally ``prompt`` (a file)
                        and ``prompt_text``; optionally ``id``, ``seed`` and ``options`` (decoding, as JSON).
                        -> JSON: the typed result and the hypothesis record ``laura infer`` writes; an audio
                        output as a base64 WAV in ``wav``, or the WAV file itself with ``?format=wav``

Requests are checked against the limits (upload size, audio duration, text length, decoding options)
and refused with a 4xx and a JSON ``{"error": ...}`` that says which limit; they are queued and batched
on one worker (``batcher``), each answered with its own output.
"""
from __future__ import annotations

import asyncio
import base64
import json
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from laura_core.errors import ConfigError, DataError
from laura_core.inference.infer import InferConfig
from laura_core.serving.batcher import Batcher, Busy, Job
from laura_core.task import Modality

if TYPE_CHECKING:
    from laura_core.api import Model, Result

WEB = Path(__file__).parent / "web"
# Decoding options a request may set; max_new_tokens and beam_size only below the server's own.
REQUEST_OPTIONS = ("strategy", "temperature", "top_k", "top_p", "beam_size", "length_penalty", "max_new_tokens",
                   "ctc_weight", "no_repeat_ngram_size", "repetition_penalty")
MAX_BEAM = 8


@dataclass
class ServeConfig:
    infer: InferConfig = field(default_factory=InferConfig)  # decoding defaults, precision, prompt_seconds, ...
    max_upload_mb: float = 20.0  # per request, all files together
    max_seconds: float = 60.0  # of audio per input (and per voice prompt)
    max_text: int = 1000  # characters of text input (and of a prompt's transcript)
    max_batch: int = 8  # requests decoded together
    batch_wait_ms: float = 20.0  # how long the first request of a batch waits for others
    max_queue: int = 64  # requests waiting; more are refused with 429

    def __post_init__(self):
        for name in ("max_upload_mb", "max_seconds", "max_text", "max_batch", "max_queue"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.batch_wait_ms < 0:
            raise ConfigError(f"batch_wait_ms must be >= 0, got {self.batch_wait_ms}")


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def create_app(model: "Model", cfg: ServeConfig | None = None):
    """The FastAPI app over ``model`` (its config's decoding defaults are the server's)."""
    cfg = cfg or ServeConfig()
    batcher: Batcher | None = None

    @asynccontextmanager
    async def lifespan(app):
        nonlocal batcher
        batcher = Batcher(model, cfg.max_batch, cfg.batch_wait_ms / 1000, cfg.max_queue)
        app.state.batcher = batcher
        yield
        batcher.close()

    app = FastAPI(title="laura", description="LauraGPT: one model that listens, understands and speaks",
                  lifespan=lifespan)
    app.mount("/static", StaticFiles(directory=WEB), name="static")
    max_bytes = int(cfg.max_upload_mb * 1024 * 1024)

    @app.exception_handler(Refused)
    async def refused(request: Request, e: Refused):
        return JSONResponse({"error": str(e)}, status_code=e.status)

    @app.middleware("http")
    async def limit_size(request: Request, call_next):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > max_bytes + 64 * 1024:  # the form's own bytes aside
            return JSONResponse({"error": f"the request is {int(length) / 2**20:.1f} MB; at most "
                                          f"{cfg.max_upload_mb:g} MB (max_upload_mb)"}, status_code=413)
        return await call_next(request)

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(WEB / "index.html")

    @app.get("/health")
    async def health():
        return {"status": "ok", "model": str(model.bundle.directory), "weights": model.bundle.weights,
                "tasks": list(model.tasks), "speaks": model.can_speak, "waiting": batcher.waiting,
                "batches": batcher.batches}

    @app.get("/api/tasks")
    async def tasks():
        return {"tasks": [{"name": t.name, "description": t.description, "input": t.input.value,
                           "output": t.output.value, "prompt": bool(t.prompt_field),
                           "available": t.output is not Modality.CODEC or model.can_speak}
                          for t in model.tasks.values()],
                "limits": {"max_upload_mb": cfg.max_upload_mb, "max_seconds": cfg.max_seconds,
                           "max_text": cfg.max_text}, "sample_rate": model.sample_rate}

    def endpoint(name: str):
        async def run_task(request: Request):
            task = model.tasks[name]
            try:
                form = await request.form(max_files=4, max_fields=16, max_part_size=max_bytes)
            except Exception as e:  # starlette's multipart errors: too many parts, a part too large, not a form
                raise Refused(400, f"not a readable multipart form ({e})") from None
            job = await _job(task, form, cfg, model)
            try:
                future = batcher.submit(job)
            except Busy as e:
                raise Refused(429, str(e)) from None
            try:
                result = await asyncio.wrap_future(future)
            except DataError as e:
                raise Refused(400, str(e)) from None
            except ConfigError as e:
                raise Refused(422, str(e)) from None
            if request.query_params.get("format") == "wav":
                if not hasattr(result, "wav_bytes"):
                    raise Refused(400, f"task {name} outputs {task.output.value}, not audio: drop format=wav")
                return Response(result.wav_bytes(), media_type="audio/wav",
                                headers={"X-Laura-Id": result.id, "X-Laura-Codes": str(len(result.codes))})
            return as_json(result)

        run_task.__name__ = f"run_{name}"
        return run_task

    for name, task in model.tasks.items():
        what = "audio (a file in the form field audio)" if task.input is Modality.AUDIO else "text (form field text)"
        app.post(f"/api/{name}", summary=f"{name}: {task.description}",
                 description=f"Input: {what}. Output: {task.output.value}.")(endpoint(name))

    @app.post("/api/{name}", include_in_schema=False)
    async def unknown(name: str):
        raise Refused(404, f"task {name!r}: this model does {', '.join(model.tasks)}")

    return app


async def _job(task, form, cfg: ServeConfig, model: "Model") -> Job:
    """The request's job, its input checked against the limits."""
    from laura_core.api import Prompt, content_id

    if task.output is Modality.CODEC and not model.can_speak:
        raise Refused(503, f"task {task.name} outputs audio, and the server has no vocoder (laura serve --vocoder DIR)")
    if task.input is Modality.AUDIO:
        data = await _file(form, "audio", cfg, required=True)
        _check_audio(data, "audio", cfg)
        item: Any = data
    else:
        item = _text(form, "text", cfg, required=True)
    prompt = None
    prompt_audio = await _file(form, "prompt", cfg, required=False)
    if prompt_audio is not None:
        if not task.prompt_field:
            raise Refused(422, f"task {task.name} takes no voice prompt")
        _check_audio(prompt_audio, "prompt", cfg)
        prompt = Prompt(prompt_audio, _text(form, "prompt_text", cfg, required=False) or None)
    rid = form.get("id") or content_id(item, None)
    if not isinstance(rid, str):
        raise Refused(422, "id: expected a string")
    seed = form.get("seed")
    if seed is not None and not (isinstance(seed, str) and seed.lstrip("-").isdigit()):
        raise Refused(422, f"seed: expected an integer, got {seed!r}")
    return Job(task.name, item, rid, prompt, _options(form, task, cfg), None if seed is None else int(seed))


async def _file(form, name: str, cfg: ServeConfig, required: bool) -> bytes | None:
    value = form.get(name)
    if value is None or value == "":
        if required:
            raise Refused(422, f"field {name!r}: missing (upload the audio file as form field {name!r})")
        return None
    if isinstance(value, str):
        raise Refused(422, f"field {name!r}: expected a file upload, got text")
    data = await value.read()
    if len(data) > cfg.max_upload_mb * 1024 * 1024:
        raise Refused(413, f"field {name!r}: {len(data) / 2**20:.1f} MB; at most {cfg.max_upload_mb:g} MB (max_upload_mb)")
    if not data:
        raise Refused(400, f"field {name!r}: the file is empty")
    return data


def _text(form, name: str, cfg: ServeConfig, required: bool) -> str:
    value = form.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise Refused(422, f"field {name!r}: missing (send the text to run on as form field {name!r})")
        return ""
    if not isinstance(value, str):
        raise Refused(422, f"field {name!r}: expected text, got a file")
    if len(value) > cfg.max_text:
        raise Refused(413, f"field {name!r}: {len(value)} characters; at most {cfg.max_text} (max_text)")
    return value


def _check_audio(data: bytes, name: str, cfg: ServeConfig) -> None:
    from laura_core.api import recording

    try:
        seconds = recording(data, "upload").duration
    except DataError:
        raise Refused(400, f"field {name!r}: not an audio file this server reads (WAV, FLAC, OGG, MP3, ...)") from None
    if seconds > cfg.max_seconds:
        raise Refused(413, f"field {name!r}: {seconds:.1f} s of audio; at most {cfg.max_seconds:g} s (max_seconds)")


def _options(form, task, cfg: ServeConfig) -> dict:
    raw = form.get("options")
    if not raw:
        return {}
    try:
        options = json.loads(raw)
    except (TypeError, json.JSONDecodeError) as e:
        raise Refused(422, f"options: not a JSON object ({e})") from None
    if not isinstance(options, dict):
        raise Refused(422, "options: expected a JSON object, e.g. {\"max_new_tokens\": 50}")
    unknown = sorted(set(options) - set(REQUEST_OPTIONS))
    if unknown:
        raise Refused(422, f"options: {', '.join(unknown)} cannot be set per request (allowed: {', '.join(REQUEST_OPTIONS)})")
    base = cfg.infer.options_for(task)
    limit = options.get("max_new_tokens", base.max_new_tokens)
    if not isinstance(limit, int) or not 1 <= limit <= base.max_new_tokens:
        raise Refused(422, f"options: max_new_tokens must be an integer in 1..{base.max_new_tokens} (the server's limit)")
    beam = options.get("beam_size", 1)
    if not isinstance(beam, int) or not 1 <= beam <= MAX_BEAM:
        raise Refused(422, f"options: beam_size must be an integer in 1..{MAX_BEAM}")
    return options


def as_json(result: "Result") -> dict:
    """A result as the JSON the server answers with."""
    from laura_core.api import Audio, Label, Text, Understanding

    out: dict[str, Any] = {"id": result.id, "task": result.task, "record": result.record}
    if isinstance(result, Text):
        out.update(type="text", text=result.text)
    elif isinstance(result, Label):
        out.update(type="label", label=result.label)
    elif isinstance(result, Understanding):
        out.update(type="understanding", intent=result.intent, slots=result.slots)
    elif isinstance(result, Audio):
        out.update(type="audio", sample_rate=result.sample_rate, duration=result.duration, codes=result.codes,
                   wav=base64.b64encode(result.wav_bytes()).decode("ascii"))
    else:
        out.update(type="record")
    return out


def serve(model: "Model", cfg: ServeConfig, host: str = "127.0.0.1", port: int = 8000) -> None:
    import uvicorn

    uvicorn.run(create_app(model, cfg), host=host, port=port, log_level="info")
