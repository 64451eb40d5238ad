"""MT: text -> text in another language. Scored by sacreBLEU corpus BLEU and chrF."""
from laura_core import hookimpl
from laura_core.scoring.metrics.translation import TranslationScoring
from laura_core.task import Field, FieldType, Modality, Task


class Mt(TranslationScoring, Task):
    name = "mt"
    description = "machine translation: text -> text in the target language"
    input = Modality.TEXT
    output = Modality.TEXT
    source_field = "text"
    target_field = "translation"
    ref_fields = (Field("text", FieldType.TEXT, "reference translation"),)


@hookimpl
def register_tasks(register):
    register(Mt())
