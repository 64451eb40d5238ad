"""``laura prepare mini DST``: build the mini corpus from installed packages."""
from __future__ import annotations

import json
from pathlib import Path

from laura_core.config import to_dict
from laura_core.errors import DataError
from laura_core.interfaces import CorpusPreparer
from laura_core.io import atomic_write_text
from laura_core.manifest import SPLITS
from laura_plugins.preparers.mini import aac, asr, mt, s2tt, se, ser, slu, sources, tts
from laura_plugins.preparers.mini.config import TASKS, MiniConfig
from laura_plugins.preparers.mini.context import Context, Materials
from laura_plugins.preparers.mini.cuts import Utterance, to_cut, write_cuts
from laura_plugins.preparers.mini.readme import readme
from laura_plugins.preparers.mini.render import render_all
from laura_plugins.preparers.mini.splits import Splitter

BUILDERS = {"asr": asr, "s2tt": s2tt, "mt": mt, "tts": tts, "se": se, "aac": aac, "ser": ser, "slu": slu}
RECIPE = 6  # bump when a change to the builders changes what a config produces
STAMP = "mini.json"  # the recipe and config of the corpus in a folder


class MiniCorpus(CorpusPreparer):
    needs_source = False

    def __init__(self, cfg: MiniConfig | None = None):
        self.cfg = cfg or MiniConfig()

    def prepare(self, src: Path | None, dst: Path) -> dict[str, dict[str, Path]]:
        dst = Path(dst).resolve()
        manifests = {task: {s: dst / task / f"{s}.jsonl.gz" for s in SPLITS} for task in TASKS}
        stamp = json.dumps({"recipe": RECIPE, "config": to_dict(self.cfg)}, sort_keys=True) + "\n"
        if dst.is_dir() and any(dst.iterdir()):
            if not (dst / STAMP).is_file() or (dst / STAMP).read_text() != stamp:
                raise DataError(f"{dst}: not empty, and not a mini corpus of this config; "
                                f"build into a new folder or remove this one")
            if (dst / "README").is_file() and all(p.is_file() for m in manifests.values() for p in m.values()):
                return manifests  # built before, with this config
        sources.require()
        atomic_write_text(dst / STAMP, stamp)  # an interrupted build can then be rerun into dst
        built = self._utterances()
        wavs = (w for splits in built.values() for utts in splits.values() for u in utts for w in u.wavs())
        samples = render_all(wavs, dst, self.cfg.workers)
        for task, splits in built.items():
            for split, utts in splits.items():
                write_cuts(manifests[task][split], [to_cut(u, dst, samples) for u in sorted(utts, key=lambda u: u.id)])
        docs = {task: module.__doc__ for task, module in BUILDERS.items()}
        atomic_write_text(dst / "README", readme(self.cfg, docs, built, samples))
        return manifests

    def _utterances(self) -> dict[str, dict[str, list[Utterance]]]:
        materials = Materials(self.cfg.min_seconds, self.cfg.max_seconds)
        splitter = Splitter(self.cfg.seed, self.cfg.fractions)
        built = {}
        for task in TASKS:
            built[task] = BUILDERS[task].build(Context(task, self.cfg, materials, splitter))
            ids = [u.id for utts in built[task].values() for u in utts]
            if len(ids) != len(set(ids)):
                raise ValueError(f"mini corpus: {task} has repeated utterance ids")
            empty = [s for s in SPLITS if not built[task][s]]
            if empty:
                raise DataError(f"mini corpus: the installed sources give task {task} no {'/'.join(empty)} utterances")
        return built
