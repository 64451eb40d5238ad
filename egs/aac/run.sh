#!/usr/bin/env bash
# automated audio captioning: Clotho -> CIDEr-D, SPICE, SPIDEr.
# Default: the mini corpus's aac slice, on CPU (conf/mini.yaml), end to end:  egs/aac/run.sh
# Real corpus: --corpus clotho --root /corpora/... (conf/gpu.yaml; conf/paper.yaml for many GPUs).
# Stages, options and resuming: egs/TEMPLATE/recipe.sh (egs/aac/run.sh --help). Writes exp/aac/<corpus>/RESULTS.md.
TASKS=(aac)
REAL_CORPUS=clotho
PREPARE_OPTS=""
VOCAB=512
RECIPE=egs/aac
source "$(dirname "$0")/../TEMPLATE/recipe.sh"
recipe_main "$@"
