"""Codec vocoders: components of kind ``vocoder``."""
