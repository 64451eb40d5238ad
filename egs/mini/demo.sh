#!/usr/bin/env bash
# make demo: the whole pipeline on 2 CPU cores, every stage with the `laura` command a recipe uses.
#   1. build the mini corpus (all eight tasks, from Debian/PyPI material; skipped when already built)
#   2. validate every manifest
#   3. train the text tokenizer
#   4. train the codec (conf/codec_small.yaml) and code the tts and se targets with it
#   5. train the one-step vocoder on those codes (conf/vocoder_tiny.yaml)
#   6. train the tiny LauraGPT on all eight tasks (conf/train_tiny.yaml), validating each task with
#      its own metrics on decoded dev items (tts and se voiced by the vocoder)
#   7. decode every task's test set with `laura infer` and score them all with `laura score`
#   8. score the bundled example outputs of all eight tasks
# Step counts are demo-sized (env: CODEC_STEPS, VOCODER_STEPS, STEPS); the configs' own are longer.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-.venv/bin}
DATA=data/mini          # where the egs/mini/conf configs look
CODED=data/mini_coded   # the tts and se manifests with their targets' codec codes
EXP=${EXP:-exp/mini}
CODEC_STEPS=${CODEC_STEPS:-600}
VOCODER_STEPS=${VOCODER_STEPS:-300}
STEPS=${STEPS:-300}
TASKS=(asr s2tt tts mt se aac ser slu)
last_checkpoint() { ls -d "$1"/checkpoints/step_* | tail -n 1; }

echo "== 1. mini corpus -> $DATA"
"$BIN/laura" prepare mini "$DATA"

echo "== 2. validate"
for task in "${TASKS[@]}"; do
  for split in train dev test; do
    "$BIN/laura" validate "$DATA/$task/$split.jsonl.gz" --task "$task" | head -n 1
  done
done

echo "== 3. tokenizer"
inputs=()
for task in asr s2tt tts mt aac ser slu; do inputs+=(--input "$DATA/$task/train.jsonl.gz"); done
"$BIN/laura" tokenizer train "${inputs[@]}" --fields text,translation,captions,emotion,intent \
  --vocab-size 256 --out "$EXP/tokenizer"

echo "== 4. codec ($CODEC_STEPS steps; reconstruction losses only at this length) and codes"
rm -rf "$EXP/codec" "$CODED"
"$BIN/laura" train egs/mini/conf/codec_small.yaml exp_dir="$EXP/codec" max_steps="$CODEC_STEPS" \
  gan.start_step="$CODEC_STEPS" valid_every="$CODEC_STEPS" save_every="$CODEC_STEPS" log_every=100
codec=$(last_checkpoint "$EXP/codec")
for split in train dev test; do
  "$BIN/laura" codec encode --codec "$codec" "$DATA/tts/$split.jsonl.gz" "$CODED/tts/$split.jsonl.gz"
  "$BIN/laura" codec encode --codec "$codec" "$DATA/se/$split.jsonl.gz" "$CODED/se/$split.jsonl.gz" --field clean
done

echo "== 5. vocoder ($VOCODER_STEPS steps)"
rm -rf "$EXP/vocoder"
"$BIN/laura" train egs/mini/conf/vocoder_tiny.yaml exp_dir="$EXP/vocoder" codec.path="$codec" \
  tokenizer.options.model="$EXP/tokenizer/tokenizer.model" max_steps="$VOCODER_STEPS" \
  valid_every="$VOCODER_STEPS" save_every="$VOCODER_STEPS" log_every=100
vocoder=$(last_checkpoint "$EXP/vocoder")

echo "== 6. the tiny LauraGPT on all eight tasks ($STEPS steps)"
rm -rf "$EXP/lm"
"$BIN/laura" train egs/mini/conf/train_tiny.yaml exp_dir="$EXP/lm" codec.path="$codec" valid_vocoder="$vocoder" \
  tokenizer.options.model="$EXP/tokenizer/tokenizer.model" max_steps="$STEPS" valid_every=100 save_every=100

echo "== 7. decode every test set with the model and score them"
data=()
for task in "${TASKS[@]}"; do data+=(--data "$task=$DATA/$task/test.jsonl.gz"); done
rm -rf "$EXP/decode"
"$BIN/laura" infer "$(last_checkpoint "$EXP/lm")" "$EXP/decode" "${data[@]}" --vocoder "$vocoder" \
  text.max_new_tokens=60 codec.max_new_tokens=250
"$BIN/laura" score --dir "$EXP/decode"

echo "== 8. scores of the bundled example outputs"
rm -rf "$EXP/examples"
"$BIN/python" egs/mini/local/make_example_outputs.py "$EXP/examples"
"$BIN/laura" score --dir "$EXP/examples"
