"""What goes in: manifests checked record by record, text for tokenizers, codec codes of audio targets,
voice prompts, and the mixed, bucketed training batches."""
