#!/usr/bin/env bash
# The codec and its one-step vocoder: train the codec on speech, release it (float16), code the tts and se
# targets with it, train the vocoder on those codes, and score the codec's resynthesis of the test speech
# (PESQ, STOI, ESTOI, SI-SDR against the original: the ceiling of every audio output through it).
# Default: the mini corpus's speech (asr + tts), on CPU (egs/mini/conf/codec_small_freq.yaml, the frequency-domain
# codec, about 35 minutes on 2 cores; --steps N for less).  Real corpus: --corpus libritts --root /corpora/LibriTTS (conf/gpu.yaml).
# Stages (--stage N --stop-stage M; egs/TEMPLATE/recipe.sh has every option):
#   1 prepare  2 validate  3 train the codec  4 release it  5 code tts/se targets  6 train the vocoder
#   7 resynthesise the test speech and score it  8 RESULTS.md
# Writes exp/codec/<corpus>/{codec,release,vocoder}, RESULTS.md. The released codec is what --codec of the
# tts, se and lauragpt recipes takes; the vocoder here is trained with this recipe's tokenizer (its text
# condition), so those recipes train their own against the codec unless given one with theirs.
TASKS=(asr tts)  # whose speech trains the codec (the real corpus: its own, e.g. tts for libritts)
REAL_CORPUS=libritts
PREPARE_OPTS=""
MINI_CONF=egs/mini/conf/codec_small_freq.yaml
RECIPE=egs/codec
source "$(dirname "$0")/../TEMPLATE/recipe.sh"
recipe_parse "$@"
[ "$corpus" = mini ] || TASKS=(tts)
speech=() valid=()
for t in "${TASKS[@]}"; do
  speech+=("{task: $t, manifest: $data/$t/train.jsonl.gz}")
  valid+=("{task: $t, manifest: $data/$t/dev.jsonl.gz}")
done
if stage_on 1; then say "1 prepare ($corpus -> $data)"; prepare_corpus; fi
if stage_on 2; then say "2 validate"; validate_tasks; fi
if stage_on 3; then say "3 train the codec ($conf)"
  launch_train "$conf" exp_dir="$exp/codec" resume=true "data.tasks=[$(IFS=,; echo "${speech[*]}")]" \
    "valid.tasks=[${valid[0]}]" "${overrides[@]}"
fi
[ "$node_rank" = 0 ] || exit 0  # the other nodes only train
if stage_on 4; then say "4 release"
  rm -rf "$exp/release"
  "$BIN/laura" codec release "$(ls -d "$exp"/codec/checkpoints/step_* | tail -n 1)" "$exp/release"
fi
if stage_on 5; then say "5 code the tts and se targets"
  for split in train dev test; do
    "$BIN/laura" codec encode --codec "$exp/release" "$data/tts/$split.jsonl.gz" "$coded/tts/$split.jsonl.gz"
    if [ -f "$data/se/$split.jsonl.gz" ]; then
      "$BIN/laura" codec encode --codec "$exp/release" "$data/se/$split.jsonl.gz" "$coded/se/$split.jsonl.gz" --field clean
    fi
  done
fi
if stage_on 6; then say "6 train the vocoder"
  voc=() voc_valid=()
  for t in tts se; do
    if [ -f "$coded/$t/train.jsonl.gz" ]; then
      voc+=("{task: $t, manifest: $coded/$t/train.jsonl.gz}"); voc_valid+=("{task: $t, manifest: $coded/$t/dev.jsonl.gz}")
    fi
  done
  "$BIN/laura" tokenizer train --data "tts=$data/tts/train.jsonl.gz" --vocab-size "$vocab" --out "$exp/tokenizer" byte_fallback=true
  "$BIN/laura" train egs/mini/conf/vocoder_small.yaml exp_dir="$exp/vocoder" codec.path="$exp/release" resume=true \
    tokenizer.options.model="$exp/tokenizer/tokenizer.model" "data.tasks=[$(IFS=,; echo "${voc[*]}")]" \
    "valid.tasks=[$(IFS=,; echo "${voc_valid[*]}")]" max_steps="${VOCODER_STEPS:-2000}" log_every=100 ${VOCODER_OPTS:-}
  ln -sfn "$(basename "$(ls -d "$exp"/vocoder/checkpoints/step_* | tail -n 1)")" "$exp/vocoder/checkpoints/last"
fi
if stage_on 7; then say "7 resynthesise the test speech and score it"
  resyn=$exp/decode/se/resynth
  rm -rf "$resyn" && mkdir -p "$resyn/clean"
  "$BIN/python" - "$data/tts/test.jsonl.gz" "$resyn" <<'PY'
import json, sys
from pathlib import Path
from laura_core.manifest import cut_to_record, read_cuts
out = Path(sys.argv[2])
records = [cut_to_record(c) for c in read_cuts(sys.argv[1])]
for r in records:
    (out / "clean" / f"{r['id']}.wav").symlink_to(Path(r["audio"]).resolve())
(out / "ref.jsonl").write_text("".join(json.dumps({"id": r["id"], "audio": str(Path(r["audio"]).resolve())}) + "\n" for r in records))
(out / "hyp.jsonl").write_text("".join(json.dumps({"id": r["id"], "audio": f"wav/{r['id']}.wav"}) + "\n" for r in records))
PY
  "$BIN/laura" codec encode --codec "$exp/release" "$resyn/clean" "$resyn/codes"
  "$BIN/laura" codec decode --codec "$exp/release" "$resyn/codes" "$resyn/wav"
  # shellcheck disable=SC2086  # SCORING holds words
  "$BIN/laura" score --dir "$exp/decode" ${SCORING:-} > "$exp/decode/scores.txt"
fi
if stage_on 8; then say "8 RESULTS.md"
  "$BIN/python" egs/TEMPLATE/results.py "$exp/decode/results.json" --out "$exp/RESULTS.md" --recipe codec \
    --corpus "$corpus${root:+ at $root}" --conf "$conf" --minutes "$(((SECONDS - start) / 60))" \
    --command "$0 $given"
  cat "$exp/RESULTS.md"
fi
