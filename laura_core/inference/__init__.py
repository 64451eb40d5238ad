"""``laura infer``: a trained model on task manifests, resumable and sharded; the API and ``laura serve``
open models the same way."""
