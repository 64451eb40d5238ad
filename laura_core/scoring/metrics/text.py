"""Word and character error rates (jiwer), after a documented, versioned text normaliser.

The normaliser is part of the number: its name and settings are recorded with every score.
``basic-v1``: Unicode normalisation (NFKC by default), lowercase, punctuation removed (Unicode
category P, keeping apostrophes inside words), whitespace collapsed. CER counts spaces as characters,
as jiwer and ESPnet do; ``cer_ignore_spaces`` removes them first, so that CER does not depend on word
segmentation (the AISHELL convention).
"""
from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from typing import Sequence

NORMALIZER_VERSION = "basic-v1"


@dataclass
class NormalizerOptions:
    lowercase: bool = True
    remove_punctuation: bool = True
    keep_apostrophes: bool = True  # "don't" stays one word when punctuation is removed
    unicode_form: str = "NFKC"  # NFC, NFKC, NFD, NFKD, or "" for none


@dataclass
class ErrorRateOptions:
    normalizer: NormalizerOptions = field(default_factory=NormalizerOptions)
    cer_ignore_spaces: bool = False  # jiwer's and ESPnet's convention: spaces are characters


def normalize(text: str, options: NormalizerOptions) -> str:
    if options.unicode_form:
        text = unicodedata.normalize(options.unicode_form, text)
    if options.lowercase:
        text = text.lower()
    if options.remove_punctuation:
        chars = []
        for i, ch in enumerate(text):
            if unicodedata.category(ch).startswith("P"):
                inner = 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()
                if options.keep_apostrophes and ch in "'’" and inner:
                    chars.append("'")
                else:
                    chars.append(" ")
            else:
                chars.append(ch)
        text = "".join(chars)
    return " ".join(text.split())


def describe_normalizer(options: NormalizerOptions) -> str:
    return f"{NORMALIZER_VERSION}({', '.join(f'{k}={v}' for k, v in asdict(options).items())})"


def error_rates(refs: Sequence[str], hyps: Sequence[str], options: ErrorRateOptions) -> tuple[dict, dict]:
    """Corpus-level WER and CER of ``hyps`` against ``refs``; returns ``(metrics, meta)``."""
    import jiwer

    refs_n = [normalize(t, options.normalizer) for t in refs]
    hyps_n = [normalize(t, options.normalizer) for t in hyps]
    if not any(refs_n):
        raise ValueError("every reference is empty after normalisation: WER is undefined")
    words = jiwer.process_words(refs_n, hyps_n)
    strip = (lambda t: "".join(t.split())) if options.cer_ignore_spaces else (lambda t: t)
    chars = jiwer.process_characters([strip(t) for t in refs_n], [strip(t) for t in hyps_n])
    meta = {
        "normalizer": describe_normalizer(options.normalizer),
        "cer_ignore_spaces": options.cer_ignore_spaces,
        "word_errors": {"substitutions": words.substitutions, "deletions": words.deletions, "insertions": words.insertions},
        "jiwer": version("jiwer"),
    }
    return {"wer": float(words.wer), "cer": float(chars.cer)}, meta
