"""``laura score``: hypotheses against references per task, the shared metrics, and the judges of
generated audio."""
