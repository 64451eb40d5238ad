"""Serving a trained model: ``laura serve`` (``app``), its request batching (``batcher``) and web page (``web/``)."""
