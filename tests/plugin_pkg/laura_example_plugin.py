"""A third-party laura plugin: a language-identification task and a lookup judge for tests."""
import hashlib
import json

import numpy as np

from laura_core import hookimpl
from laura_core.task import Field, FieldType, Metric, Modality, Task, TaskScore


class Lid(Task):
    name = "lid"
    description = "spoken language identification: speech -> language code"
    input = Modality.AUDIO
    output = Modality.TEXT
    source_field = "audio"
    target_field = "language"
    ref_fields = (Field("text", FieldType.LABEL, "reference language code"),)
    metrics = (Metric("accuracy", "fraction of utterances with the right language", True, "fraction"),)

    def score(self, pairs, options, registry):
        right = sum(p.hyp["text"].strip() == p.ref["text"].strip() for p in pairs)
        return TaskScore({"accuracy": right / len(pairs)})


def pcm_key(wave) -> str:
    pcm = (np.clip(np.asarray(wave, dtype=np.float32), -1, 1) * 32767).astype("<i2")
    return hashlib.sha1(pcm.tobytes()).hexdigest()


class LookupJudge:
    """Transcribes by looking the 16-bit PCM's hash up in a JSON table: exact, for testing scorers."""

    sample_rate = 16000

    def __init__(self, table: str):
        with open(table) as f:
            self.table = json.load(f)
        self.path = table

    def identity(self):
        return f"lookup judge ({self.path})"

    def transcribe(self, waves):
        return [self.table.get(pcm_key(w), "") for w in waves]


@hookimpl
def register_tasks(register):
    register(Lid())


@hookimpl
def register_components(register):
    register("judge", "lookup", LookupJudge, "test judge: transcripts looked up by audio hash")
