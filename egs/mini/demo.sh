#!/usr/bin/env bash
# The demo: today it scores the bundled example outputs of all eight tasks with one command.
# (The full pipeline - mini corpus -> codec -> vocoder -> one model on eight tasks -> inference ->
# scores - replaces the first step as the training and inference stages land.)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-.venv/bin}
EXP=${EXP:-exp/demo}
rm -rf "$EXP"
"$BIN/python" egs/mini/local/make_example_outputs.py "$EXP"
"$BIN/laura" score --dir "$EXP"
