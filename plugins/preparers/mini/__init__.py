"""The mini corpus (being written)."""
