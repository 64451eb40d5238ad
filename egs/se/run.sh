#!/usr/bin/env bash
# speech enhancement: VoiceBank-DEMAND -> PESQ, STOI, ESTOI, SI-SDR, DNSMOS.
# Default: the mini corpus's se slice, on CPU (conf/mini.yaml), end to end:  egs/se/run.sh
# Real corpus: --corpus voicebank_demand --root /corpora/... (conf/gpu.yaml; conf/paper.yaml for many GPUs).
# Stages, options and resuming: egs/TEMPLATE/recipe.sh (egs/se/run.sh --help). Writes exp/se/<corpus>/RESULTS.md.
TASKS=(se)
REAL_CORPUS=voicebank_demand
PREPARE_OPTS=""
VOCAB=512
RECIPE=egs/se
source "$(dirname "$0")/../TEMPLATE/recipe.sh"
recipe_main "$@"
