"""Corpus BLEU and chrF through sacreBLEU, each with its signature (what makes the number reproducible)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from laura_core.task import Metric, Pair, TaskScore

if TYPE_CHECKING:
    from laura_core.registry import Registry


@dataclass
class TranslationOptions:
    tokenize: str = "13a"  # sacreBLEU tokenizer: 13a, intl, zh, ja-mecab, char, none, flores200
    lowercase: bool = False
    chrf_word_order: int = 0  # 0: chrF, 2: chrF++


def bleu_chrf(refs: Sequence[str], hyps: Sequence[str], options: TranslationOptions) -> tuple[dict, dict]:
    """Corpus BLEU and chrF (0-100) of ``hyps`` against one reference each; returns ``(metrics, meta)``."""
    from sacrebleu.metrics import BLEU, CHRF

    bleu = BLEU(tokenize=options.tokenize, lowercase=options.lowercase)
    chrf = CHRF(word_order=options.chrf_word_order, lowercase=options.lowercase)
    bleu_score = bleu.corpus_score(list(hyps), [list(refs)])
    chrf_score = chrf.corpus_score(list(hyps), [list(refs)])
    metrics = {"bleu": float(bleu_score.score), "chrf": float(chrf_score.score)}
    meta = {"bleu_signature": str(bleu.get_signature()), "chrf_signature": str(chrf.get_signature())}
    return metrics, meta


class TranslationScoring:
    """Scoring shared by every text-output translation task (s2tt, mt): mix in before ``Task``."""

    metrics = (
        Metric("bleu", "sacreBLEU corpus BLEU", True, "0-100"),
        Metric("chrf", "sacreBLEU corpus chrF", True, "0-100"),
    )
    Options = TranslationOptions

    def score(self, pairs: Sequence[Pair], options: TranslationOptions, registry: "Registry") -> TaskScore:
        metrics, meta = bleu_chrf([p.ref["text"] for p in pairs], [p.hyp["text"] for p in pairs], options)
        return TaskScore(metrics, meta=meta)
