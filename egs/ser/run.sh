#!/usr/bin/env bash
# speech emotion recognition: MELD (or IEMOCAP: --corpus iemocap) -> accuracy, UA, weighted F1.
# Default: the mini corpus's ser slice, on CPU (conf/mini.yaml), end to end:  egs/ser/run.sh
# Real corpus: --corpus meld --root /corpora/... (conf/gpu.yaml; conf/paper.yaml for many GPUs).
# Stages, options and resuming: egs/TEMPLATE/recipe.sh (egs/ser/run.sh --help). Writes exp/ser/<corpus>/RESULTS.md.
TASKS=(ser)
REAL_CORPUS=meld
PREPARE_OPTS=""
VOCAB=512
RECIPE=egs/ser
source "$(dirname "$0")/../TEMPLATE/recipe.sh"
recipe_main "$@"
