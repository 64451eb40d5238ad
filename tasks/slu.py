"""SLU: speech -> intent and slots, SLURP style.

The model's text output is ``intent | type = filler | type = filler``. Scored by intent accuracy,
exact match (intent and the multiset of slots) and SLU-F1 as defined for SLURP (Bastianelli et al.,
2020): span F1 where a predicted slot of a gold type counts as a true positive and adds its filler
distance to the nearest unmatched gold filler of that type to both false positives and false
negatives; SLU-F1 pools those counts for the word-level distance (WER) and the character-level
distance (normalised Levenshtein), micro-averaged. Fillers compare lowercased, whitespace collapsed.
"""
from collections import Counter
from dataclasses import dataclass

from laura_core import hookimpl
from laura_core.task import Field, FieldType, Metric, Modality, Task, TaskScore, record_id, require

SEP, EQ = " | ", " = "


def format_frame(intent: str, slots: list[dict]) -> str:
    return SEP.join([intent] + [f"{s['type']}{EQ}{s['filler']}" for s in slots])


def parse_frame(text: str) -> tuple[str, list[dict]]:
    """Inverse of ``format_frame``. A chunk without ``=`` becomes a slot with an empty filler, so a
    malformed output is scored as wrong rather than dropped."""
    intent, *chunks = [c.strip() for c in text.split(SEP.strip())]
    slots = []
    for chunk in chunks:
        type_, _, filler = chunk.partition(EQ.strip())
        slots.append({"type": type_.strip(), "filler": filler.strip()})
    return intent, slots


def canonical_filler(text: str) -> str:
    return " ".join(text.lower().split())


@dataclass
class Counts:
    tp: float = 0.0
    fp: float = 0.0
    fn: float = 0.0

    def f1(self) -> float:
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def word_distance(gold: str, pred: str) -> float:
    import jiwer

    if not gold:
        return 0.0 if not pred else 1.0
    return float(jiwer.wer(gold, pred))


def char_distance(gold: str, pred: str) -> float:
    from rapidfuzz.distance import Levenshtein

    return float(Levenshtein.normalized_distance(gold, pred))


def span_distance_counts(gold: list[dict], pred: list[dict], distance, counts: Counts) -> None:
    """Accumulate SLURP's distance-softened span counts for one utterance."""
    remaining = [(s["type"], canonical_filler(s["filler"])) for s in gold]
    for slot in pred:
        ptype, pfill = slot["type"], canonical_filler(slot["filler"])
        candidates = [(distance(gfill, pfill), i) for i, (gtype, gfill) in enumerate(remaining) if gtype == ptype]
        if candidates:
            dist, i = min(candidates)
            counts.tp += 1
            counts.fp += dist
            counts.fn += dist
            remaining.pop(i)
        else:
            counts.fp += 1
    counts.fn += len(remaining)


class Slu(Task):
    name = "slu"
    description = "spoken language understanding: speech -> intent and slots"
    input = Modality.AUDIO
    output = Modality.TEXT
    source_field = "audio"
    target_field = "intent"
    ref_fields = (
        Field("intent", FieldType.LABEL, "reference intent (SLURP: scenario_action)"),
        Field("slots", FieldType.SLOTS, "reference slots, each {type, filler}"),
    )
    metrics = (
        Metric("intent_accuracy", "fraction of utterances with the right intent", True, "fraction"),
        Metric("slu_f1", "SLURP SLU-F1 (word and character distance, micro)", True, "fraction"),
        Metric("exact_match", "fraction with the right intent and exactly the right slots", True, "fraction"),
    )

    @property
    def record_fields(self):
        return (Field("audio", FieldType.AUDIO, "the utterance"), *self.ref_fields)

    @property
    def hyp_fields(self):
        return (Field("intent", FieldType.TEXT, "predicted intent"), Field("slots", FieldType.SLOTS, "predicted slots"))

    def format_target(self, record):
        return format_frame(require(record, "intent", FieldType.LABEL), require(record, "slots", FieldType.SLOTS))

    def to_hypothesis(self, id, output):
        intent, slots = parse_frame(output)
        return {"id": id, "intent": intent, "slots": slots}

    def to_reference(self, record):
        return {"id": record_id(record), "intent": record["intent"], "slots": record["slots"]}

    def missing_hypothesis(self, ref):
        return {"id": ref["id"], "intent": "", "slots": []}

    def score(self, pairs, options, registry):
        n = len(pairs)
        word, char = Counts(), Counts()
        right_intent = exact = 0
        for p in pairs:
            intent_ok = p.hyp["intent"].strip() == p.ref["intent"].strip()
            right_intent += intent_ok
            as_set = lambda slots: Counter((s["type"], canonical_filler(s["filler"])) for s in slots)  # noqa: E731
            exact += intent_ok and as_set(p.ref["slots"]) == as_set(p.hyp["slots"])
            span_distance_counts(p.ref["slots"], p.hyp["slots"], word_distance, word)
            span_distance_counts(p.ref["slots"], p.hyp["slots"], char_distance, char)
        pooled = Counts(word.tp + char.tp, word.fp + char.fp, word.fn + char.fn)
        metrics = {"intent_accuracy": right_intent / n, "slu_f1": pooled.f1(), "exact_match": exact / n}
        meta = {"word_distance_f1": word.f1(), "char_distance_f1": char.f1()}
        return TaskScore(metrics, meta=meta)


@hookimpl
def register_tasks(register):
    register(Slu())
