"""Corpus preparers: components of kind ``preparer`` (being written)."""
