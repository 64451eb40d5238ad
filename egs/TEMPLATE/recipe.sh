# The stages every laura recipe shares, sourced by egs/<recipe>/run.sh after it sets:
#   TASKS=(asr)          the tasks the recipe trains one model on
#   REAL_CORPUS=NAME     the preparer of its real corpus (`laura plugins` lists them), and
#   PREPARE_OPTS="..."   that preparer's options (key=value), if it needs any
#   VOCAB=N              tokenizer size for the mini slice (the real corpus: --vocab)
#   RECIPE=egs/<recipe>  its folder (configs in $RECIPE/conf)
#   TASK_DATA[task]="weight: 2, loss_weight: 4"   optional: more keys of a task's data.tasks entry
#   MINI_BACKBONE=DIR    optional: a released GPT (`laura release --part backbone`) that training starts from on
#                        the mini slice, where it was trained with the run's tokenizer (else from scratch)
# then calls `recipe_main "$@"` (a recipe of another shape calls `recipe_parse "$@"` and its own stages,
# with the helpers below: egs/codec/run.sh). Every stage is a `laura` command; a stage run again continues where it
# stopped (prepare skips a built corpus, train resumes from its last checkpoint, infer from its last batch).
#
# usage: egs/<recipe>/run.sh [options] [key=value ...]   (key=value: overrides of the training config)
#   --stage N --stop-stage M   run stages N..M (default 1..8):
#                              1 prepare  2 validate  3 tokenizer  4 codec codes and vocoder (audio outputs)
#                              5 train  6 average  7 infer (test)  8 score, RESULTS.md
#   --corpus NAME --root DIR   the real corpus at DIR (NAME: a preparer; default the recipe's REAL_CORPUS);
#                              default: the mini corpus (`laura prepare mini`), built here, this task's slice
#                              --corpus prepared --data DIR: manifests already in DIR/<task>/<split>.jsonl.gz
#   --prepare-opts "k=v ..."   options of the corpus's preparer
#   --conf YAML                training config (default: $RECIPE/conf/mini.yaml, or gpu.yaml for a real corpus)
#   --exp DIR --data DIR       experiment and manifest folders (default exp/<recipe>/<corpus>, data/<corpus>)
#   --steps N --vocab N        max_steps; tokenizer size
#   --codec DIR --vocoder DIR  codec of tts/se targets (default: the released egs/mini/pretrained/codec_small_freq);
#                              vocoder voicing them (default: the released one where it fits, else trained)
#   --ngpu N                   processes per node (torchrun; one per GPU; 0 = one process)
#   --nnodes N --node-rank R --master-addr HOST --master-port PORT   several nodes (torchrun rendezvous)
#   --launcher local|slurm     slurm: the training stage is submitted with egs/TEMPLATE/slurm.sh
#   --average N                the newest N checkpoints averaged for decoding (default 2; the mini configs save
#                              every tenth of their steps, so both are near the end of the schedule)
# environment: BIN (the laura install, default .venv/bin), DECODE (`laura infer` options, e.g.
#   text.ctc_weight=0.8), SCORING (`laura score` options, e.g. tts.judge=pocketsphinx), VOCODER_STEPS and
#   VOCODER_OPTS (steps and overrides of the vocoder trained where none fits)
set -euo pipefail
declare -A TASK_DATA 2>/dev/null || true  # a recipe may have filled it already

recipe_parse() {  # the options above -> variables (stage, corpus, exp, data, ...)
  given="$*"  # for RESULTS.md: the command as run
  local root_dir; root_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  cd "$root_dir"
  BIN=${BIN:-.venv/bin}
  stage=1 stop_stage=8 corpus="" root="" conf="" exp="" data="" steps="" ngpu=0 nnodes=1 node_rank=0
  master_addr=127.0.0.1 master_port=29500 launcher=local codec=egs/mini/pretrained/codec_small_freq vocoder=""
  average=2 vocab="${VOCAB:-512}" prepare_opts="${PREPARE_OPTS:-}" overrides=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --stage) stage=$2; shift 2 ;;
      --stop-stage) stop_stage=$2; shift 2 ;;
      --corpus) corpus=$2; shift 2 ;;
      --root) root=$2; shift 2 ;;
      --prepare-opts) prepare_opts=$2; shift 2 ;;
      --conf) conf=$2; shift 2 ;;
      --exp) exp=$2; shift 2 ;;
      --data) data=$2; shift 2 ;;
      --steps) steps=$2; shift 2 ;;
      --vocab) vocab=$2; shift 2 ;;
      --codec) codec=$2; shift 2 ;;
      --vocoder) vocoder=$2; shift 2 ;;
      --ngpu) ngpu=$2; shift 2 ;;
      --nnodes) nnodes=$2; shift 2 ;;
      --node-rank) node_rank=$2; shift 2 ;;
      --master-addr) master_addr=$2; shift 2 ;;
      --master-port) master_port=$2; shift 2 ;;
      --launcher) launcher=$2; shift 2 ;;
      --average) average=$2; shift 2 ;;
      -h|--help) sed -n '/^# usage/,/^set -euo/p' egs/TEMPLATE/recipe.sh | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
      *=*) overrides+=("$1"); shift ;;
      *) echo "$0: unknown option $1 (--help lists them)" >&2; exit 2 ;;
    esac
  done
  name=$(basename "$RECIPE")
  if [ -z "$corpus" ]; then if [ -n "$root" ]; then corpus=$REAL_CORPUS; else corpus=mini; fi; fi
  case "$corpus" in mini|prepared) ;; *) [ -n "$root" ] || { echo "$0: --corpus $corpus needs --root DIR" >&2; exit 2; } ;; esac
  if [ -z "$conf" ]; then if [ "$corpus" = mini ]; then conf=${MINI_CONF:-$RECIPE/conf/mini.yaml}; else conf=$RECIPE/conf/gpu.yaml; fi; fi
  exp=${exp:-exp/$name/$corpus}
  data=${data:-data/$corpus}
  coded=$exp/coded start=$SECONDS
  mkdir -p "$exp"
  if [ -n "$steps" ]; then overrides+=("max_steps=$steps"); fi
}

stage_on() { [ "$1" -ge "$stage" ] && [ "$1" -le "$stop_stage" ]; }
say() { printf '\n== %s: stage %s (%dm%02ds)\n' "$name" "$1" $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60)); }
audio_out() { case "$1" in tts|se) return 0 ;; *) return 1 ;; esac; }
manifest() {  # manifest TASK SPLIT: where the model reads a task's split (coded for audio outputs)
  if audio_out "$1"; then echo "$coded/$1/$2.jsonl.gz"; else echo "$data/$1/$2.jsonl.gz"; fi
}

launch_train() {  # laura train ARGS..., on one process, through torchrun, or as a SLURM job
  if [ "$launcher" = slurm ]; then
    sbatch --wait --nodes "$nnodes" egs/TEMPLATE/slurm.sh "$ngpu" "$@"
  elif [ "$nnodes" -gt 1 ] || [ "$ngpu" -gt 1 ]; then
    "$BIN/torchrun" --nnodes "$nnodes" --nproc_per_node "$((ngpu > 0 ? ngpu : 1))" --node_rank "$node_rank" \
      --master_addr "$master_addr" --master_port "$master_port" -m laura_core train "$@"
  else
    "$BIN/laura" train "$@"
  fi
}

prepare_corpus() {  # the corpus's manifests into $data
  # shellcheck disable=SC2086  # the options are words
  case "$corpus" in
    mini) "$BIN/laura" prepare mini "$data" ;;
    prepared) echo "manifests prepared before, in $data" ;;
    *) "$BIN/laura" prepare "$corpus" "$root" "$data" $prepare_opts ;;
  esac
}

validate_tasks() {  # every split of every task in TASKS
  local t
  for t in "${TASKS[@]}"; do "$BIN/laura" validate "$data/$t/"{train,dev,test}.jsonl.gz --task "$t" | grep -v '^ '; done
}

recipe_main() {  # the stages of a LauraGPT recipe
  recipe_parse "$@"
  local t

  if stage_on 1; then say "1 prepare ($corpus -> $data)"; prepare_corpus; fi
  if stage_on 2; then say "2 validate"; validate_tasks; fi
  if stage_on 3; then say "3 tokenizer ($vocab pieces)"
    local tok=()
    for t in "${TASKS[@]}"; do tok+=(--data "$t=$data/$t/train.jsonl.gz"); done
    "$BIN/laura" tokenizer train "${tok[@]}" --vocab-size "$vocab" --out "$exp/tokenizer" byte_fallback=true
  fi
  local wants_codec=0
  for t in "${TASKS[@]}"; do if audio_out "$t"; then wants_codec=1; fi; done
  if [ "$wants_codec" = 1 ] && [ -z "$vocoder" ]; then
    vocoder=egs/mini/pretrained/vocoder_small
    "$BIN/python" egs/mini/local/vocoder_fits.py "$vocoder" "$codec" "$exp/tokenizer/tokenizer.model" >/dev/null 2>&1 \
      || vocoder=$exp/vocoder/checkpoints/last
  fi
  if stage_on 4 && [ "$wants_codec" = 1 ]; then say "4 codec codes and vocoder"
    local voc_data=() voc_valid=()
    for t in "${TASKS[@]}"; do
      audio_out "$t" || continue
      local field=audio; if [ "$t" = se ]; then field=clean; fi
      for split in train dev test; do
        "$BIN/laura" codec encode --codec "$codec" "$data/$t/$split.jsonl.gz" "$coded/$t/$split.jsonl.gz" --field "$field"
      done
      voc_data+=("{task: $t, manifest: $coded/$t/train.jsonl.gz}")
      voc_valid+=("{task: $t, manifest: $coded/$t/dev.jsonl.gz}")
    done
    if [ "$vocoder" = "$exp/vocoder/checkpoints/last" ]; then
      local joined; joined=$(IFS=,; echo "${voc_data[*]}")
      local joined_valid; joined_valid=$(IFS=,; echo "${voc_valid[*]}")
      # shellcheck disable=SC2086  # VOCODER_OPTS holds words
      "$BIN/laura" train egs/mini/conf/vocoder_small.yaml exp_dir="$exp/vocoder" codec.path="$codec" resume=true \
        tokenizer.options.model="$exp/tokenizer/tokenizer.model" "data.tasks=[$joined]" "valid.tasks=[$joined_valid]" \
        max_steps="${VOCODER_STEPS:-300}" valid_every="${VOCODER_STEPS:-300}" save_every="${VOCODER_STEPS:-300}" log_every=100 \
        ${VOCODER_OPTS:-}
      ln -sfn "$(basename "$(ls -d "$exp"/vocoder/checkpoints/step_* | tail -n 1)")" "$exp/vocoder/checkpoints/last"
    fi
  fi
  local train_data=() valid_data=()
  for t in "${TASKS[@]}"; do
    train_data+=("{task: $t, manifest: $(manifest "$t" train)${TASK_DATA[$t]:+, ${TASK_DATA[$t]}}}")
    valid_data+=("{task: $t, manifest: $(manifest "$t" dev)}")
  done
  local train_args=("$conf" exp_dir="$exp/lm" resume=true tokenizer.options.model="$exp/tokenizer/tokenizer.model"
                    "data.tasks=[$(IFS=,; echo "${train_data[*]}")]" "valid.tasks=[$(IFS=,; echo "${valid_data[*]}")]")
  if [ "$wants_codec" = 1 ]; then train_args+=(codec.path="$codec" valid_vocoder="$vocoder"); fi
  if stage_on 5; then say "5 train ($conf)"
    if [ "$corpus" = mini ] && [ -n "${MINI_BACKBONE:-}" ] \
        && "$BIN/python" egs/mini/local/backbone_fits.py "$MINI_BACKBONE" "$exp/tokenizer/tokenizer.model"; then
      train_args+=(init.backbone="$MINI_BACKBONE/backbone.safetensors")
    fi
    train_args+=("${overrides[@]}")  # last: a given init.backbone=... wins
    launch_train "${train_args[@]}"
    "$BIN/laura" curves "$exp/lm" || true  # a picture, not a result: never fails the recipe
  fi
  [ "$node_rank" = 0 ] || return 0  # the other nodes only train
  if stage_on 6; then say "6 average (last $average)"
    rm -rf "$exp/lm/avg"
    "$BIN/laura" average "$exp/lm" "$exp/lm/avg" --last "$average"
  fi
  if stage_on 7; then say "7 infer"
    local test=()
    for t in "${TASKS[@]}"; do test+=(--data "$t=$data/$t/test.jsonl.gz"); done
    if [ "$wants_codec" = 1 ]; then test+=(--vocoder "$vocoder"); fi
    # shellcheck disable=SC2086  # DECODE holds words
    "$BIN/laura" infer "$exp/lm/avg" "$exp/decode" "${test[@]}" ${DECODE:-}
  fi
  if stage_on 8; then say "8 score"
    # shellcheck disable=SC2086  # SCORING holds words
    "$BIN/laura" score --dir "$exp/decode" ${SCORING:-} > "$exp/decode/scores.txt"
    "$BIN/python" egs/TEMPLATE/results.py "$exp/decode/results.json" --out "$exp/RESULTS.md" --recipe "$name" \
      --corpus "$corpus${root:+ at $root}" --conf "$conf" --minutes "$(((SECONDS - start) / 60))" \
      --command "$0 $given"
    cat "$exp/RESULTS.md"
  fi
}
