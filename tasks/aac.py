"""AAC: audio -> caption. Scored against several reference captions per clip with the COCO
caption metrics (pycocoevalcap): BLEU-1..4, METEOR, ROUGE-L, CIDEr-D, SPICE and
SPIDEr = (CIDEr-D + SPICE) / 2. Captions are tokenised by the PTB tokenizer first, as in COCO
and DCASE. SPICE needs the Stanford CoreNLP 3.6.0 jars that pycocoevalcap downloads at first
use; without them (no network here) SPICE and SPIDEr are reported unavailable, with the reason.
"""
from importlib.metadata import version
from pathlib import Path

from laura_core import hookimpl
from laura_core.task import Example, Field, FieldType, Metric, Modality, Task, TaskScore, record_id, require


def spice_missing() -> str | None:
    """Why SPICE cannot run here, or None when it can."""
    import shutil

    import pycocoevalcap.spice

    lib = Path(pycocoevalcap.spice.__file__).parent / "lib"
    needed = [lib / "stanford-corenlp-3.6.0.jar", lib / "stanford-corenlp-3.6.0-models.jar"]
    absent = [p.name for p in needed if not p.is_file()]
    if absent:
        return f"SPICE needs {' and '.join(absent)} in {lib}; they are absent and cannot be downloaded here"
    if shutil.which("java") is None:
        return "SPICE needs java on PATH"
    return None


class Aac(Task):
    name = "aac"
    description = "automated audio captioning: audio -> caption"
    input = Modality.AUDIO
    output = Modality.TEXT
    source_field = "audio"
    target_field = "captions"
    ref_fields = (Field("text", FieldType.TEXTS, "one or more reference captions"),)
    metrics = (
        *(Metric(f"bleu_{n}", f"corpus BLEU-{n} (COCO)", True, "fraction") for n in range(1, 5)),
        Metric("meteor", "METEOR 1.5", True, "fraction"),
        Metric("rouge_l", "ROUGE-L", True, "fraction"),
        Metric("cider", "CIDEr-D", True, "CIDEr (0-10)"),
        Metric("spice", "SPICE", True, "fraction"),
        Metric("spider", "SPIDEr = (CIDEr-D + SPICE) / 2", True, "CIDEr (0-10)"),
    )
    primary_metric = "cider"  # SPIDEr needs SPICE's Java jars, which are often absent

    @property
    def record_fields(self):
        return (Field("audio", FieldType.AUDIO, "the clip"), Field("captions", FieldType.TEXTS, "reference captions"))

    def captions(self, record: dict) -> list[str]:
        value = require(record, self.target_field, FieldType.TEXTS)
        return [value] if isinstance(value, str) else list(value)

    def format_target(self, record):
        return self.captions(record)[0]

    def to_examples(self, record):
        # One training example per reference caption.
        rid = record_id(record)
        base = self.to_example(record)
        return [Example(f"{rid}#{k}", self.name, base.source, c) for k, c in enumerate(self.captions(record))]

    def to_reference(self, record):
        return {"id": record_id(record), "text": self.captions(record)}

    def score(self, pairs, options, registry):
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.cider.cider import Cider
        from pycocoevalcap.meteor.meteor import Meteor
        from pycocoevalcap.rouge.rouge import Rouge
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

        refs = {p.id: [{"caption": c} for c in ([p.ref["text"]] if isinstance(p.ref["text"], str) else p.ref["text"])] for p in pairs}
        hyps = {p.id: [{"caption": p.hyp["text"]}] for p in pairs}
        tokenizer = PTBTokenizer()
        gts, res = tokenizer.tokenize(refs), tokenizer.tokenize(hyps)
        bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
        metrics = {f"bleu_{n + 1}": float(b) for n, b in enumerate(bleu)}
        metrics["meteor"] = float(Meteor().compute_score(gts, res)[0])  # its java process ends with the object
        metrics["rouge_l"] = float(Rouge().compute_score(gts, res)[0])
        metrics["cider"] = float(Cider().compute_score(gts, res)[0])
        unavailable = {}
        why = spice_missing()
        if why is None:
            from pycocoevalcap.spice.spice import Spice

            metrics["spice"] = float(Spice().compute_score(gts, res)[0])
            metrics["spider"] = (metrics["cider"] + metrics["spice"]) / 2
        else:
            metrics["spice"] = metrics["spider"] = None
            unavailable = {"spice": why, "spider": "needs SPICE"}
        meta = {"pycocoevalcap": version("pycocoevalcap"), "tokenizer": "PTBTokenizer (Stanford CoreNLP 3.4.1)",
                "references_per_clip": sorted({len(v) for v in refs.values()})}
        return TaskScore(metrics, unavailable=unavailable, meta=meta)


@hookimpl
def register_tasks(register):
    register(Aac())
