"""Cuts laid out as ``laura_core.manifest`` says (its builders, shared with the Python API)."""
from laura_core.manifest import audio_cut, text_cut

__all__ = ["audio_cut", "text_cut"]
