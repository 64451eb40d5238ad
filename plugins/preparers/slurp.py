"""SLURP (Bastianelli et al., 2020) -> slu.

SRC is a checkout of the SLURP repository with its audio: ``dataset/slurp/{train,devel,test}.jsonl``
and, in ``audio/`` (option ``audio_dir``, relative to SRC or absolute), the archives
``scripts/download_audio.sh`` fetches, unpacked: ``slurp_real/*.flac`` and, for the option
``synthetic``, ``slurp_synth/*.flac`` with ``dataset/slurp/train_synthetic.jsonl``.

Every record (slurp_id, sentence, scenario, action, tokens, entities, recordings) yields one cut per
recording file, close-talk (``-headset``) and far-field alike: id = the file name without its
extension; text = sentence; language ``en``; ``intent`` = ``<scenario>_<action>`` and ``slots`` =
[{type, filler}] with filler = the entity's token surfaces, lowercased and joined by spaces. Both
are built exactly as SLURP's evaluation script builds its references (the records' own ``intent``
field differs from scenario_action in a few dozen records, e.g. "music" for play_music).

Splits: train, devel -> dev, test; synthetic recordings join train.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from laura_core.interfaces import CorpusPreparer
from laura_core.io import read_jsonl
from laura_plugins.preparers.cuts import audio_cut
from laura_plugins.preparers.output import Manifests
from laura_plugins.preparers.sources import Where, corpus_dir, load_clip, require_dir, require_file

REAL = {"train": "train.jsonl", "dev": "devel.jsonl", "test": "test.jsonl"}
SYNTHETIC = "train_synthetic.jsonl"
FIELDS = ("slurp_id", "sentence", "scenario", "action", "tokens", "entities", "recordings")


@dataclass
class SlurpConfig:
    audio_dir: str = "audio"  # holds slurp_real/ (and slurp_synth/)
    synthetic: bool = False  # add the synthetic (TTS) recordings to train


class Slurp(CorpusPreparer):
    def __init__(self, config: SlurpConfig):
        self.config = config

    def prepare(self, src: Path | None, dst: Path) -> dict[str, dict[str, Path]]:
        corpus = corpus_dir(src, "slurp")
        tables = corpus / "dataset/slurp"
        audio = corpus / self.config.audio_dir
        sources = [(split, tables / name, audio / "slurp_real") for split, name in REAL.items()]
        if self.config.synthetic:
            sources.append(("train", tables / SYNTHETIC, audio / "slurp_synth"))
        out = Manifests("slurp", corpus, "slu")
        for split, table, folder in sources:
            require_dir(folder, "SLURP audio")
            for line, record in read_jsonl(require_file(table, "SLURP records")):
                where = Where(table, line)
                missing = [f for f in FIELDS if f not in record]
                if missing:
                    raise where.error(missing[0], "missing")
                where = where.of(str(record["slurp_id"]))
                intent, slots = frame(record, where)
                if not record["recordings"]:
                    out.skip("slu", split, where, "no recordings")
                for k, entry in enumerate(record["recordings"]):
                    if not isinstance(entry, dict) or not entry.get("file"):
                        raise where.error(f"recordings[{k}].file", "missing")
                    recording, at = load_clip(folder, entry["file"], where, f"recordings[{k}].file")
                    out.add("slu", split, audio_cut(recording, record["sentence"] or None, "en", intent=intent, slots=slots), at)
        return out.write(dst)


def frame(record: dict[str, Any], where: Where) -> tuple[str, list[dict[str, str]]]:
    """The intent and slots of a record, as SLURP's evaluation builds its references."""
    surfaces = []
    for i, token in enumerate(record["tokens"]):
        if not isinstance(token, dict) or not isinstance(token.get("surface"), str):
            raise where.error(f"tokens[{i}].surface", "missing")
        surfaces.append(token["surface"])
    slots = []
    for k, entity in enumerate(record["entities"]):
        if not isinstance(entity, dict) or not entity.get("type"):
            raise where.error(f"entities[{k}].type", "missing")
        span = entity.get("span")
        if not span or not all(isinstance(i, int) and 0 <= i < len(surfaces) for i in span):
            raise where.error(f"entities[{k}].span", f"{span!r} does not index the record's {len(surfaces)} tokens")
        slots.append({"type": entity["type"], "filler": " ".join(surfaces[i].lower() for i in span)})
    return f"{record['scenario']}_{record['action']}", slots
