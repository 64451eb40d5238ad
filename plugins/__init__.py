"""Built-in component plugins (installed as ``laura_plugins``): encoders, backbones, codecs,
vocoders, tokenizers and judges, registered through the ``laura`` entry-point group."""
