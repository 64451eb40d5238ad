"""English sentences for the synthetic voices: Fish Fillets lines and Bible verses, tidied so that
the text is exactly what gets spoken (plain ASCII, no quotes, no symbols read out)."""
from __future__ import annotations

import re
from typing import Iterable

from laura_plugins.preparers.mini.splits import text_key

_ASCII = str.maketrans({"’": "'", "‘": "'", "“": "", "”": "", '"': "", "—": ", ", "–": ", ", "…": "..."})
_SPEAKABLE = re.compile(r"^[A-Za-z][A-Za-z0-9 ,.;:!?'-]*$")


def speakable(text: str, min_chars: int = 20, max_chars: int = 140) -> str | None:
    """``text`` tidied for a synthesiser, or None when it has symbols or is too short or long."""
    text = " ".join(text.translate(_ASCII).replace(" ,", ",").split()).strip(" ,;:-")
    ok = _SPEAKABLE.match(text) and min_chars <= len(text) <= max_chars
    return text if ok else None


def english_pool(texts: Iterable[str]) -> list[str]:
    """The speakable texts, sorted, one of each ``text_key``."""
    return sorted({text_key(s): s for s in map(speakable, texts) if s}.values())
