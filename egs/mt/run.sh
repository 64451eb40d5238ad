#!/usr/bin/env bash
# machine translation: aligned text files (e.g. WMT) -> BLEU, chrF.
# Default: the mini corpus's mt slice, on CPU (conf/mini.yaml), end to end:  egs/mt/run.sh
# Real corpus: --corpus parallel_text --root /corpora/... --prepare-opts "src_lang=zh tgt_lang=en" (conf/gpu.yaml; conf/paper.yaml for many GPUs).
# Stages, options and resuming: egs/TEMPLATE/recipe.sh (egs/mt/run.sh --help). Writes exp/mt/<corpus>/RESULTS.md.
TASKS=(mt)
REAL_CORPUS=parallel_text
PREPARE_OPTS="src_lang=zh tgt_lang=en"
VOCAB=512
RECIPE=egs/mt
source "$(dirname "$0")/../TEMPLATE/recipe.sh"
recipe_main "$@"
