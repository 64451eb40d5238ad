"""The README written into the corpus: what is in it, where each part came from, under which licence."""
from __future__ import annotations

from laura_core.config import to_yaml
from laura_core.manifest import SPLITS
from laura_plugins.preparers.mini.audio import RATE
from laura_plugins.preparers.mini.config import MiniConfig
from laura_plugins.preparers.mini.cuts import Utterance
from laura_plugins.preparers.mini.sounds import SOUNDS
from laura_plugins.preparers.mini.sources import PACKAGES, version

INTRO = """\
# The laura mini corpus

Built by `laura prepare mini` (laura_plugins.preparers.mini) from nothing but what Debian (main) and
PyPI packages install: the same config and package versions give the same bytes. Every task has
train, dev and test splits; an English sentence (transcript, translation or text to speak) falls in
the same split in every task, so no task is tested on what another trains on.

Layout: `<task>/<split>.jsonl.gz` are lhotse CutSets (see laura_core.manifest); `audio/` holds every
recording as a 16 kHz mono 16-bit wav file, decoded, resampled, synthesised or mixed by the build.
"""

LICENCE_NOTE = """\
Licences carry over to what the build made of each part: decoding, resampling and mixing change a
recording without changing its licence. A noisy mixture (se) or a scene (aac) holds the licences of
all its parts: see the `noise` field of se cuts and the `labels` of aac cuts, and the sound table.
The synthetic speech is generated here; espeak-ng and flite are the programs and voice data that made it.
"""


def readme(cfg: MiniConfig, docs: dict[str, str], built: dict[str, dict[str, list[Utterance]]],
           samples: dict[str, int]) -> str:
    parts = [INTRO, "## Contents\n", "| task | train | dev | test | hours of audio |", "|---|---|---|---|---|"]
    for task, splits in built.items():
        seconds = sum(samples[u.audio.path] for utts in splits.values() for u in utts if u.audio) / RATE
        hours = f"{seconds / 3600:.2f}" if seconds else "text only"
        parts.append(f"| {task} | " + " | ".join(str(len(splits[s])) for s in SPLITS) + f" | {hours} |")
    parts.append("")
    parts += [f"- **{task}**: {' '.join(doc.split())}" for task, doc in docs.items()]
    parts += ["", "## Sources and licences\n",
              "Each licence is as the package's `/usr/share/doc/<package>/copyright` states it for the files used.\n",
              "| Debian package | version | what the corpus takes | licence |", "|---|---|---|---|"]
    parts += [f"| {p.name} | {version(p.name)} | {p.provides} | {p.licence} |" for p in PACKAGES]
    parts += ["", "PyPI packages do the decoding and arithmetic (av for G.722, soundfile, scipy, numpy, lhotse); "
              "none of their content is in the corpus.", "", "### Sounds (aac scenes, se noise)\n",
              "| label | package | files | licence |", "|---|---|---|---|"]
    for sound in SOUNDS:
        label = f"{sound.label} (background)" if sound.background else sound.label
        names = ", ".join(f.rsplit("/", 1)[-1] for f in sound.files)
        parts.append(f"| {label} | {sound.package} | {names} | {sound.licence} |")
    parts += ["", LICENCE_NOTE, "## Config\n", "```yaml", to_yaml(cfg).rstrip(), "```", ""]
    return "\n".join(parts)
