#!/usr/bin/env python
"""Copy the records of a decoded set (ref.jsonl, hyp.jsonl) whose ids start with PREFIX into another
folder, for `laura score --dir` to score a part on its own (asr: the real Asterisk recordings alone;
tts: the unseen speakers alone). An audio path relative to the set's folder is made absolute, so the
copy points at the same recordings.

usage: subset.py SRC_DIR DST_DIR PREFIX
"""
import json
import sys
from pathlib import Path

src, dst, prefix = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
dst.mkdir(parents=True, exist_ok=True)
for name in ("ref.jsonl", "hyp.jsonl"):
    records = [json.loads(line) for line in (src / name).read_text().splitlines()]
    kept = []
    for record in records:
        if record["id"].startswith(prefix):
            audio = record.get("audio")
            if isinstance(audio, str) and not Path(audio).is_absolute():
                record["audio"] = str((src / audio).resolve())
            kept.append(json.dumps(record) + "\n")
    (dst / name).write_text("".join(kept))
