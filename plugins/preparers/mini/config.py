"""The mini corpus options: utterances per task, split fractions, seed."""
from __future__ import annotations

from dataclasses import dataclass

from laura_core.errors import ConfigError

TASKS = ("asr", "s2tt", "mt", "tts", "se", "aac", "ser", "slu")


@dataclass
class MiniConfig:
    """Sizes are utterances per task over all splits (before ``scale``); dev and test take their
    fractions of each task, train the rest, every split at least one."""

    seed: int = 0
    scale: float = 1.0  # multiplies every task's size
    dev_fraction: float = 0.1
    test_fraction: float = 0.1
    workers: int = 2  # processes that render audio
    min_seconds: float = 0.3  # recorded prompts and lines shorter than this are left out (a few are empty)
    max_seconds: float = 15.0  # recorded prompts and lines longer than this are left out
    # utterances per task; a task gets fewer where its sources run out (the README has the counts)
    asr: int = 1500  # a third real (Asterisk English prompts), the rest synthetic (espeak-ng, flite)
    s2tt: int = 1600  # a quarter each Asterisk es and fr prompts, the rest Fish Fillets cs and nl lines; -> English
    mt: int = 2000  # half Bible verses en -> es, a quarter each Fish Fillets lines cs and nl -> en
    tts: int = 1200  # 40% one voice (flite slt), 60% in 299 other voices, held out per split (zero-shot)
    se: int = 1000  # Asterisk English prompts mixed with noise at 0-15 dB SNR
    aac: int = 1000  # scenes of one to three labelled sounds, five captions each
    ser: int = 1200  # sentences spoken in four emotions (prosody presets)
    slu: int = 1500  # templated commands: intent and slots

    def __post_init__(self):
        if not (self.dev_fraction > 0 and self.test_fraction > 0 and self.dev_fraction + self.test_fraction < 1):
            raise ConfigError("MiniConfig: dev_fraction and test_fraction must be > 0 and sum to less than 1")
        if self.scale <= 0 or self.workers < 1 or not 0 < self.min_seconds < self.max_seconds:
            raise ConfigError("MiniConfig: scale must be > 0, 0 < min_seconds < max_seconds, workers >= 1")
        if any(getattr(self, task) < 1 for task in TASKS):
            raise ConfigError("MiniConfig: task sizes must be >= 1 (every split of every task gets one)")

    @property
    def fractions(self) -> dict[str, float]:
        dev, test = self.dev_fraction, self.test_fraction
        return {"train": 1 - dev - test, "dev": dev, "test": test}

    def counts(self, task: str) -> dict[str, int]:
        """Utterances of ``task`` per split."""
        total = round(getattr(self, task) * self.scale)
        dev, test = (max(1, round(total * self.fractions[s])) for s in ("dev", "test"))
        return {"train": max(1, total - dev - test), "dev": dev, "test": test}
