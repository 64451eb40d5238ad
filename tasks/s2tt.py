"""S2TT: speech -> text in another language. Scored by sacreBLEU corpus BLEU and chrF."""
from laura_core import hookimpl
from laura_core.scoring.metrics.translation import TranslationScoring
from laura_core.task import Field, FieldType, Modality, Task


class S2tt(TranslationScoring, Task):
    name = "s2tt"
    description = "speech-to-text translation: speech -> text in the target language"
    input = Modality.AUDIO
    output = Modality.TEXT
    source_field = "audio"
    target_field = "translation"
    ref_fields = (Field("text", FieldType.TEXT, "reference translation"),)


@hookimpl
def register_tasks(register):
    register(S2tt())
