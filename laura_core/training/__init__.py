"""``laura train``: the loop, its configs, the LM and codec kinds, checkpoints, logs, curves, and
distribution over processes."""
