"""Audio encoders: components of kind ``encoder``."""
