"""Text tokenizers: components of kind ``tokenizer``."""
