"""SER: speech -> emotion label. Scored by accuracy (weighted accuracy, WA), unweighted accuracy
(UA: mean per-class recall over the reference classes) and support-weighted F1 (scikit-learn).
Labels are compared after trimming and lowercasing; a label outside the reference classes is an error."""
from importlib.metadata import version

from laura_core import hookimpl
from laura_core.task import Field, FieldType, Metric, Modality, Task, TaskScore


def canonical_label(label: str) -> str:
    return label.strip().lower()


class Ser(Task):
    name = "ser"
    description = "speech emotion recognition: speech -> emotion label"
    input = Modality.AUDIO
    output = Modality.TEXT
    source_field = "audio"
    target_field = "emotion"
    ref_fields = (Field("text", FieldType.LABEL, "reference emotion label"),)
    metrics = (
        Metric("accuracy", "accuracy (weighted accuracy, WA)", True, "fraction"),
        Metric("unweighted_accuracy", "mean per-class recall over reference classes (UA)", True, "fraction"),
        Metric("weighted_f1", "F1 averaged over reference classes, weighted by support", True, "fraction"),
    )

    @property
    def record_fields(self):
        return (Field("audio", FieldType.AUDIO, "the utterance"), Field("emotion", FieldType.LABEL, "emotion label"))

    def score(self, pairs, options, registry):
        from sklearn.metrics import accuracy_score, f1_score, recall_score

        y_true = [canonical_label(p.ref["text"]) for p in pairs]
        y_pred = [canonical_label(p.hyp["text"]) for p in pairs]
        classes = sorted(set(y_true))
        metrics = {
            "accuracy": float(accuracy_score(y_true, y_pred)),
            "unweighted_accuracy": float(recall_score(y_true, y_pred, labels=classes, average="macro", zero_division=0)),
            "weighted_f1": float(f1_score(y_true, y_pred, labels=classes, average="weighted", zero_division=0)),
        }
        return TaskScore(metrics, meta={"classes": classes, "scikit-learn": version("scikit-learn")})


@hookimpl
def register_tasks(register):
    register(Ser())
