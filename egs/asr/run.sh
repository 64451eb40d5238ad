#!/usr/bin/env bash
# speech recognition: LibriSpeech (or AISHELL-1: --corpus aishell) -> WER.
# Default: the mini corpus's asr slice, on CPU (conf/mini.yaml), end to end:  egs/asr/run.sh
# Real corpus: --corpus librispeech --root /corpora/... (conf/gpu.yaml; conf/paper.yaml for many GPUs).
# Stages, options and resuming: egs/TEMPLATE/recipe.sh (egs/asr/run.sh --help). Writes exp/asr/<corpus>/RESULTS.md.
TASKS=(asr)
REAL_CORPUS=librispeech
PREPARE_OPTS=""
VOCAB=512
DECODE=${DECODE-text.ctc_weight=0.8}  # asr decodes jointly with the CTC head (laura infer --help)
RECIPE=egs/asr
source "$(dirname "$0")/../TEMPLATE/recipe.sh"
recipe_main "$@"
