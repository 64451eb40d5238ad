#!/usr/bin/env python
"""Copy the records of a decoded set (ref.jsonl, hyp.jsonl) whose ids start with PREFIX into another
folder, for `laura score --dir` to score a part on its own (asr: the real Asterisk recordings alone).

usage: subset.py SRC_DIR DST_DIR PREFIX
"""
import json
import sys
from pathlib import Path

src, dst, prefix = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
dst.mkdir(parents=True, exist_ok=True)
for name in ("ref.jsonl", "hyp.jsonl"):
    lines = [line for line in (src / name).read_text().splitlines() if json.loads(line)["id"].startswith(prefix)]
    (dst / name).write_text("".join(line + "\n" for line in lines))
