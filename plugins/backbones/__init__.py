"""GPT backbones: components of kind ``backbone``."""
