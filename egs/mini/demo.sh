#!/usr/bin/env bash
# make demo: everything laura can do end to end today, on 2 CPU cores.
#   1. build the mini corpus (all eight tasks, from Debian/PyPI material; skipped when already built)
#   2. validate every manifest
#   3. train a tokenizer and the tiny LauraGPT on the six text-output tasks (tts and se join with a
#      trained codec: conf/codec_small.yaml, `laura codec encode`, codec.path), with validation loss per task
#   4. score the bundled example outputs of all eight tasks with one command
# Inference (`laura infer`) replaces stage 4's example outputs with the model's own when it lands.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-.venv/bin}
DATA=data/mini  # where egs/mini/conf/train_tiny.yaml looks
EXP=${EXP:-exp/mini}
STEPS=${STEPS:-300}
TEXT_TASKS=(asr s2tt mt aac ser slu)

echo "== 1. mini corpus -> $DATA"
"$BIN/laura" prepare mini "$DATA"

echo "== 2. validate"
for task in asr s2tt tts mt se aac ser slu; do
  for split in train dev test; do
    "$BIN/laura" validate "$DATA/$task/$split.jsonl.gz" --task "$task" | head -n 1
  done
done

echo "== 3. tokenizer and the tiny model ($STEPS steps)"
inputs=()
for task in "${TEXT_TASKS[@]}"; do inputs+=(--input "$DATA/$task/train.jsonl.gz"); done
"$BIN/laura" tokenizer train "${inputs[@]}" --fields text,translation,captions,emotion,intent \
  --vocab-size 256 --out "$EXP/tokenizer"
rm -rf "$EXP/lm"
"$BIN/laura" train egs/mini/conf/train_tiny.yaml exp_dir="$EXP/lm" \
  tokenizer.options.model="$EXP/tokenizer/tokenizer.model" max_steps="$STEPS" valid_every=100 save_every=100

echo "== 4. decode the test sets with the model and score them"
data=()
for task in "${TEXT_TASKS[@]}"; do data+=(--data "$task=$DATA/$task/test.jsonl.gz"); done
last=$(ls -d "$EXP"/lm/checkpoints/step_* | tail -n 1)
rm -rf "$EXP/decode"
"$BIN/laura" infer "$last" "$EXP/decode" "${data[@]}" text.max_new_tokens=60
"$BIN/laura" score --dir "$EXP/decode"

echo "== 5. scores of the bundled example outputs"
rm -rf "$EXP/examples"
"$BIN/python" egs/mini/local/make_example_outputs.py "$EXP/examples"
"$BIN/laura" score --dir "$EXP/examples"
