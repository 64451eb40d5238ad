"""VoiceBank-DEMAND (Valentini-Botinhao et al., the 28-speaker version) -> se.

SRC holds ``clean_trainset_28spk_wav/``, ``noisy_trainset_28spk_wav/``, ``clean_testset_wav/`` and
``noisy_testset_wav/`` (48 kHz WAV); a noisy file and its clean twin share a name (``p226_001.wav``).

Splits: ``test`` <- the test set; ``dev`` <- the training-set utterances of ``dev_speakers``
(default p226 and p287, a hold-out many papers use); ``train`` <- the rest of the training set.
The split follows the speaker alone, so it is the same on every run. id = the file name without
its extension; the cut's recording is the noisy file and ``clean`` the clean one (id + ``_clean``);
speaker = the name's prefix (``p226``); language ``en``. A file without its twin, or a twin of
another length, is a DataError.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from lhotse.cut import Cut

from laura_core.errors import DataError
from laura_core.interfaces import CorpusPreparer
from laura_plugins.preparers.cuts import audio_cut
from laura_plugins.preparers.output import Manifests
from laura_plugins.preparers.sources import Where, corpus_dir, load_recording, require_dir

TRAIN = ("clean_trainset_28spk_wav", "noisy_trainset_28spk_wav")
TEST = ("clean_testset_wav", "noisy_testset_wav")


@dataclass
class VoiceBankDemandConfig:
    dev_speakers: list[str] = field(default_factory=lambda: ["p226", "p287"])  # held out of the training set


class VoiceBankDemand(CorpusPreparer):
    def __init__(self, config: VoiceBankDemandConfig):
        self.config = config

    def prepare(self, src: Path | None, dst: Path) -> dict[str, dict[str, Path]]:
        corpus = corpus_dir(src, "voicebank_demand")
        out = Manifests("voicebank_demand", corpus, "se")
        for where, cut in pairs(corpus, *TEST):
            out.add("se", "test", cut, where)
        speakers = set()
        for where, cut in pairs(corpus, *TRAIN):
            speaker = cut.supervisions[0].speaker
            speakers.add(speaker)
            out.add("se", "dev" if speaker in self.config.dev_speakers else "train", cut, where)
        absent = sorted(set(self.config.dev_speakers) - speakers)
        if absent:
            raise DataError(f"{corpus / TRAIN[1]}: no audio of the dev speaker(s) {', '.join(absent)} (option dev_speakers)")
        return out.write(dst)


def pairs(corpus: Path, clean_name: str, noisy_name: str) -> Iterator[tuple[Where, Cut]]:
    """A cut per noisy file of a set, with its clean twin."""
    clean = require_dir(corpus / clean_name, "VoiceBank-DEMAND clean speech")
    noisy = require_dir(corpus / noisy_name, "VoiceBank-DEMAND noisy speech")
    for path in sorted(clean.glob("*.wav")):
        if not (noisy / path.name).is_file():
            raise Where(path, record=path.stem).error("audio", f"no noisy twin {noisy / path.name}")
    for path in sorted(noisy.glob("*.wav")):
        where = Where(path, record=path.stem)
        noisy_rec = load_recording(path, path.stem, where, "audio")
        clean_rec = load_recording(clean / path.name, f"{path.stem}_clean", where, "clean")
        if (clean_rec.sampling_rate, clean_rec.num_samples) != (noisy_rec.sampling_rate, noisy_rec.num_samples):
            raise where.error("clean", f"{clean / path.name} ({clean_rec.num_samples} samples at "
                              f"{clean_rec.sampling_rate} Hz) does not match the noisy file "
                              f"({noisy_rec.num_samples} at {noisy_rec.sampling_rate} Hz)")
        yield where, audio_cut(noisy_rec, language="en", speaker=path.stem.split("_")[0], clean=clean_rec)
