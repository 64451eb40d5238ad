"""Audio codecs: components of kind ``codec``."""
