#!/usr/bin/env bash
# one LauraGPT on all eight tasks (the paper's setting).
# Default: the mini corpus's slices, on CPU (conf/mini.yaml), end to end:  egs/lauragpt/run.sh
# Real corpora: prepare each task's corpus with its recipe's stage 1 into one folder (e.g.
#   egs/asr/run.sh --corpus librispeech --root R --data data/paper --stop-stage 1, and so on),
# then: egs/lauragpt/run.sh --corpus prepared --data data/paper (conf/gpu.yaml; conf/paper.yaml for many GPUs).
# Several nodes: --nnodes N --node-rank R --master-addr HOST (each node runs the same command),
# or --launcher slurm.
# Stages, options and resuming: egs/TEMPLATE/recipe.sh (egs/lauragpt/run.sh --help). Writes exp/lauragpt/<corpus>/RESULTS.md.
TASKS=(asr s2tt tts mt se aac ser slu)
REAL_CORPUS=prepared
PREPARE_OPTS=""
VOCAB=1024
DECODE=${DECODE-text.ctc_weight=0.8 tasks.mt.no_repeat_ngram_size=3}  # asr with its CTC head; mt never repeats a 3-gram
# Items drawn per task and the weight of ser's one-token targets, as the demo (egs/mini/conf/lauragpt.yaml).
declare -A TASK_DATA=([asr]="weight: 1200" [s2tt]="weight: 1280" [tts]="weight: 480" [mt]="weight: 1600"
                      [se]="weight: 400" [aac]="weight: 1600" [ser]="weight: 2880, loss_weight: 4.0" [slu]="weight: 2400")
# On the mini slice the GPT starts from the demo's released text-pretrained one, as LauraGPT starts from an LLM
# (a real corpus: name one, e.g. backbone_conf.pretrained=DIR or init.backbone=FILE).
MINI_BACKBONE=egs/mini/pretrained/gpt_text
RECIPE=egs/lauragpt
source "$(dirname "$0")/../TEMPLATE/recipe.sh"
recipe_main "$@"
