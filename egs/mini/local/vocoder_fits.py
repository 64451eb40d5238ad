#!/usr/bin/env python
"""Exit 0 when vocoder checkpoint VOCODER serves codec CODEC with tokenizer TOKENIZER (the identities
it was trained against), else say why and exit 1: the demo then trains its own vocoder.

usage: vocoder_fits.py VOCODER CODEC TOKENIZER_MODEL
"""
import sys
from pathlib import Path

from laura_core.errors import LauraError
from laura_core.model.codec import load_codec
from laura_core.registry import get_registry
from laura_core.training.codec import load_vocoder


def main() -> int:
    vocoder, codec, tokenizer = sys.argv[1:4]
    registry = get_registry()
    if not Path(vocoder).is_dir():
        print(f"{vocoder}: no released vocoder")
        return 1
    try:
        _, codec_identity = load_codec(codec, registry)
        load_vocoder(vocoder, registry, codec_identity, registry.create("tokenizer", "sentencepiece", model=tokenizer).identity())
    except LauraError as e:
        print(f"the released vocoder does not fit: {e}")
        return 1
    print(f"using the released vocoder {vocoder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
