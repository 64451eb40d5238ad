"""ASR judges: components of kind ``judge`` that transcribe generated speech for TTS scoring."""
