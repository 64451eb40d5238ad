"""Concurrent requests of mixed tasks to a running `laura serve`, each compared with what `laura infer`
wrote for the same record (same model and decoding options): every answer must be its own.

    laura serve exp/mini/lm infer.text.ctc_weight=0.8 infer.codec.max_new_tokens=400 &
    python egs/mini/local/serve_check.py http://127.0.0.1:8000 exp/mini/decode data/mini --n 24
"""
import argparse
import base64
import io
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

from laura_core.manifest import cut_to_record, read_cuts
from laura_core.registry import get_registry
from laura_core.task import Modality


def requests_for(task, manifest: Path, k: int) -> list[tuple[str, str, dict, dict]]:
    """(task, id, form fields, files) of the manifest's first ``k`` records, as `laura infer` read them."""
    out = []
    for cut in list(read_cuts(manifest))[:k]:
        record, data, files = cut_to_record(cut), {"id": cut.id}, {}
        if task.input is Modality.AUDIO:
            files["audio"] = Path(record["audio"]).read_bytes()
        else:
            data["text"] = task.to_source(record)
        if task.prompt_field and record.get(task.prompt_field):
            files["prompt"] = Path(record[task.prompt_field]).read_bytes()
            data["prompt_text"] = record.get(f"{task.prompt_field}_text") or ""
        out.append((task.name, cut.id, data, files))
    return out


def same(answer: dict, written: dict | None, folder: Path) -> bool:
    """Text and codes exactly; audio to float rounding (the vocoder's batch, and so its GEMMs, differ)."""
    if answer["type"] != "audio":
        return answer["record"] == written if written else all(v is None for k, v in answer["record"].items() if k != "id")
    if written is None:
        return answer["codes"] == []
    wave = sf.read(io.BytesIO(base64.b64decode(answer["wav"])), dtype="float32")[0]
    expected = sf.read(folder / written["audio"], dtype="float32")[0]
    return answer["codes"] == written["codes"] and wave.shape == expected.shape and \
        float(np.abs(wave - expected).max()) <= AUDIO_TOLERANCE


AUDIO_TOLERANCE = 1e-4  # of full scale: -80 dB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("decode", type=Path, help="`laura infer` output folder (OUT/<task>/test/hyp.jsonl)")
    parser.add_argument("data", type=Path, help="the manifests it decoded (DATA/<task>/test.jsonl.gz)")
    parser.add_argument("--n", type=int, default=24, help="requests in all, dealt over the tasks")
    args = parser.parse_args()
    registry = get_registry()
    tasks = sorted(p.parent.parent.name for p in args.decode.glob("*/test/hyp.jsonl"))
    jobs = []
    for i, name in enumerate(tasks):
        k = args.n // len(tasks) + (i < args.n % len(tasks))
        jobs += requests_for(registry.task(name), args.data / name / "test.jsonl.gz", k)
    jobs = jobs[::2] + jobs[1::2]  # tasks interleaved in the order sent
    hyps = {name: {json.loads(line)["id"]: json.loads(line) for line in open(args.decode / name / "test" / "hyp.jsonl")}
            for name in tasks}

    def send(job):
        name, rid, data, files = job
        return httpx.post(f"{args.url}/api/{name}", data=data, files={k: (k, v) for k, v in files.items()} or None,
                          timeout=600)

    before = httpx.get(f"{args.url}/health").json()["batches"]
    with ThreadPoolExecutor(len(jobs)) as pool:
        answers = list(pool.map(send, jobs))
    batches = httpx.get(f"{args.url}/health").json()["batches"] - before
    wrong = 0
    for (name, rid, _, _), answer in zip(jobs, answers):
        ok = answer.status_code == 200 and answer.json()["id"] == rid and \
            same(answer.json(), hyps[name].get(rid), args.decode / name / "test")
        wrong += not ok
        print(f"{name:5} {rid:40} {'same as laura infer' if ok else 'DIFFERS: ' + answer.text[:200]}")
    print(f"{len(jobs)} concurrent requests of {len(tasks)} tasks in {batches} batches: "
          f"{len(jobs) - wrong} the same as laura infer, {wrong} not")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
