"""The three kinds of utterance the task builders share: an Asterisk prompt, a Fish Fillets line and a
synthetic sentence. A recording is decoded to one file that every task using it points at."""
from __future__ import annotations

import re

from laura_plugins.preparers.mini.audio import Decoded
from laura_plugins.preparers.mini.cuts import Utterance, Wav
from laura_plugins.preparers.mini.sources import Line, Prompt
from laura_plugins.preparers.mini.speech import NEUTRAL, Prosody, Spoken, Voice

PROMPT_SPEAKERS = {"en": "asterisk/allison-smith", "es": "asterisk/allison-smith", "fr": "asterisk/june-wallack"}


def slug(*parts: str) -> str:
    return "-".join(re.sub(r"[^a-z0-9]+", "_", p.lower()).strip("_") for p in parts)


def prompt_wav(prompt: Prompt) -> Wav:
    return Wav(f"audio/asterisk/{prompt.language}/{prompt.id}.wav", Decoded(prompt.path))


def prompt_utterance(prompt: Prompt, **custom) -> Utterance:
    return Utterance(slug("asterisk", prompt.language, prompt.id), prompt.text, prompt.language,
                     PROMPT_SPEAKERS[prompt.language], prompt_wav(prompt), custom)


def line_utterance(line: Line, **custom) -> Utterance:
    """A Fish Fillets line; spoken when it has audio, else text only."""
    wav = Wav(f"audio/fillets/{line.language}/{line.level}/{line.id}.wav", Decoded(line.path)) if line.path else None
    speaker = f"fillets-{line.language}/{line.font.removeprefix('font_')}" if wav else None
    uid = slug("fillets", line.language, line.level, line.id)
    return Utterance(uid, line.text, line.language, speaker, wav, custom)


def spoken_utterance(task: str, uid: str, text: str, voice: Voice, prosody: Prosody = NEUTRAL, **custom) -> Utterance:
    wav = Wav(f"audio/{task}/{uid}.wav", Spoken(text, voice, prosody))
    return Utterance(uid, text, "en", voice.speaker, wav, custom)
