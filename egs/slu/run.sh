#!/usr/bin/env bash
# spoken language understanding: SLURP -> intent accuracy, SLU-F1.
# Default: the mini corpus's slu slice, on CPU (conf/mini.yaml), end to end:  egs/slu/run.sh
# Real corpus: --corpus slurp --root /corpora/... (conf/gpu.yaml; conf/paper.yaml for many GPUs).
# Stages, options and resuming: egs/TEMPLATE/recipe.sh (egs/slu/run.sh --help). Writes exp/slu/<corpus>/RESULTS.md.
TASKS=(slu)
REAL_CORPUS=slurp
PREPARE_OPTS=""
VOCAB=512
RECIPE=egs/slu
source "$(dirname "$0")/../TEMPLATE/recipe.sh"
recipe_main "$@"
