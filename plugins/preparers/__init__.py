"""Corpus preparers (components of kind ``preparer``): each turns a corpus as distributed into laura
manifests, ``laura prepare NAME SRC DST [key=value ...]``. Each module's docstring gives its corpus's
layout, its split mapping and what goes where on the cuts."""
from laura_core import hookimpl
from laura_plugins.preparers.aishell import Aishell, AishellConfig
from laura_plugins.preparers.clotho import Clotho, ClothoConfig
from laura_plugins.preparers.covost2 import CoVoST2, CoVoST2Config
from laura_plugins.preparers.iemocap import Iemocap, IemocapConfig
from laura_plugins.preparers.librispeech import LibriSpeech, LibriSpeechConfig
from laura_plugins.preparers.libritts import LibriTTS, LibriTTSConfig
from laura_plugins.preparers.meld import Meld, MeldConfig
from laura_plugins.preparers.parallel_text import ParallelText, ParallelTextConfig
from laura_plugins.preparers.slurp import Slurp, SlurpConfig
from laura_plugins.preparers.voicebank_demand import VoiceBankDemand, VoiceBankDemandConfig


@hookimpl
def register_components(register):
    register("preparer", "librispeech", LibriSpeech, "LibriSpeech -> asr (English read speech)", config=LibriSpeechConfig)
    register("preparer", "aishell", Aishell, "AISHELL-1 -> asr (Mandarin read speech)", config=AishellConfig)
    register("preparer", "libritts", LibriTTS, "LibriTTS / LibriTTS-R -> tts", config=LibriTTSConfig)
    register("preparer", "covost2", CoVoST2, "CoVoST 2 on Common Voice -> s2tt and asr", config=CoVoST2Config)
    register("preparer", "clotho", Clotho, "Clotho -> aac (five captions a clip)", config=ClothoConfig)
    register("preparer", "voicebank_demand", VoiceBankDemand, "VoiceBank-DEMAND -> se (noisy/clean pairs)",
             config=VoiceBankDemandConfig)
    register("preparer", "meld", Meld, "MELD (audio extracted from its videos) -> ser", config=MeldConfig)
    register("preparer", "iemocap", Iemocap, "IEMOCAP -> ser (4-class by default)", config=IemocapConfig)
    register("preparer", "slurp", Slurp, "SLURP -> slu (intent and slots)", config=SlurpConfig)
    register("preparer", "parallel_text", ParallelText, "aligned text files or a TSV -> mt", config=ParallelTextConfig)
