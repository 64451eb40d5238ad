#!/usr/bin/env bash
# zero-shot text-to-speech: LibriTTS -> WER (Whisper judge), SIM (speaker judge).
# Default: the mini corpus's tts slice, on CPU (conf/mini.yaml), end to end:  egs/tts/run.sh
# Real corpus: --corpus libritts --root /corpora/... (conf/gpu.yaml; conf/paper.yaml for many GPUs).
# Stages, options and resuming: egs/TEMPLATE/recipe.sh (egs/tts/run.sh --help). Writes exp/tts/<corpus>/RESULTS.md.
TASKS=(tts)
REAL_CORPUS=libritts
PREPARE_OPTS=""
VOCAB=512
RECIPE=egs/tts
source "$(dirname "$0")/../TEMPLATE/recipe.sh"
recipe_main "$@"
