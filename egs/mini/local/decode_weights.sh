#!/usr/bin/env bash
# The text test sets decoded with fp32, bf16 and int8 decode weights (weight-only; laura infer
# decode_weights=...), scored side by side: what rounding the weights costs in accuracy.
#   bash egs/mini/local/decode_weights.sh MODEL DATA OUT [infer options...]
#   e.g. bash egs/mini/local/decode_weights.sh exp/mini/lm data/mini exp/mini/decode_weights text.ctc_weight=0.8
set -euo pipefail
BIN=${BIN:-.venv/bin}
model=$1 data=$2 out=$3
shift 3
model=$(ls -d "$model"/checkpoints/step_* 2>/dev/null | tail -n 1 || true)
model=${model:-$1}
tasks=(asr s2tt mt aac ser slu)
args=()
for task in "${tasks[@]}"; do args+=(--data "$task=$data/$task/test.jsonl.gz"); done
for kind in fp32 bf16 int8; do
  start=$SECONDS
  "$BIN/laura" infer "$model" "$out/$kind" "${args[@]}" decode_weights=$kind "$@" > /dev/null
  echo "$kind: decoded in $((SECONDS - start)) s"
  "$BIN/laura" score --dir "$out/$kind" > /dev/null
done
"$BIN/python" - "$out" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
results = {kind: json.loads((out / kind / "results.json").read_text()) for kind in ("fp32", "bf16", "int8")}
print(f"{'task/metric':<24}{'fp32':>10}{'bf16':>10}{'int8':>10}{'bf16-fp32':>11}{'int8-fp32':>11}")
for key in sorted(results["fp32"]):
    for metric, value in results["fp32"][key]["metrics"].items():
        if value is None or metric not in ("wer", "bleu", "chrf", "accuracy", "intent_accuracy", "cider", "slu_f1"):
            continue
        row = [results[k][key]["metrics"][metric] for k in ("fp32", "bf16", "int8")]
        print(f"{key + ' ' + metric:<24}" + "".join(f"{v:>10.4f}" for v in row)
              + f"{row[1] - row[0]:>+11.4f}{row[2] - row[0]:>+11.4f}")
PY
