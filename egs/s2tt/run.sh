#!/usr/bin/env bash
# speech-to-text translation: CoVoST 2 -> BLEU.
# Default: the mini corpus's s2tt slice, on CPU (conf/mini.yaml), end to end:  egs/s2tt/run.sh
# Real corpus: --corpus covost2 --root /corpora/... --prepare-opts "src_lang=fr tgt_lang=en" (conf/gpu.yaml; conf/paper.yaml for many GPUs).
# Stages, options and resuming: egs/TEMPLATE/recipe.sh (egs/s2tt/run.sh --help). Writes exp/s2tt/<corpus>/RESULTS.md.
TASKS=(s2tt)
REAL_CORPUS=covost2
PREPARE_OPTS="src_lang=fr tgt_lang=en"
VOCAB=512
RECIPE=egs/s2tt
source "$(dirname "$0")/../TEMPLATE/recipe.sh"
recipe_main "$@"
