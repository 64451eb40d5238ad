#!/usr/bin/env python
"""Exit 0 when the released backbone RELEASE (laura release --part backbone) was trained with tokenizer
TOKENIZER_MODEL, else say why and exit 1: the demo then trains its GPT from scratch.

usage: backbone_fits.py RELEASE TOKENIZER_MODEL
"""
import json
import sys
from pathlib import Path

from laura_core.errors import LauraError
from laura_core.io import verify_checkpoint
from laura_core.registry import get_registry


def main() -> int:
    release, tokenizer = Path(sys.argv[1]), sys.argv[2]
    if not (release / "backbone.safetensors").is_file():
        print(f"{release}: no released backbone; the GPT starts from scratch")
        return 1
    try:
        verify_checkpoint(release)
        theirs = json.loads((release / "tokenizer.json").read_text())["identity"]
        ours = get_registry().create("tokenizer", "sentencepiece", model=tokenizer).identity()
    except LauraError as e:
        print(f"the released backbone cannot be used: {e}")
        return 1
    if theirs != ours:
        print(f"the released backbone was trained with tokenizer {theirs}, this run's is {ours}: "
              f"the GPT starts from scratch")
        return 1
    print(f"the GPT starts from the released backbone {release}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
