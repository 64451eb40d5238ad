#!/usr/bin/env python
"""The text corpus the mini recipe's GPT is pretrained on (egs/mini/conf/gpt_text.yaml): translation
pairs in the mt task's format from the same Debian packages as the mini corpus, none of them in it.

- Bible verses of the 60 books the mini corpus does not use (it takes Matthew-Acts; Psalms is left out), World English
  Bible and Reina-Valera 1909, both ways: English -> Spanish as mini mt, Spanish -> English.
- Fish Fillets dialogue lines of every translation the game ships, to English (English -> Spanish for
  the Spanish one), as mini mt's and s2tt's Czech and Dutch lines are.

Both directions follow mini mt's rule (English goes to Spanish, every other language to English), so the
mt task needs no target-language token. A pair is left out when either side matches (case, punctuation
and spacing aside) any text of the mini corpus's dev or test split of any task: nothing held out is seen.

usage: python egs/mini/local/text_corpus.py data/mini data/mini_text
Writes OUT/mt/{train,dev}.jsonl.gz (lhotse cuts, text only; dev: 400 pairs drawn with seed 0) and
OUT/README.md with the counts.
"""
from __future__ import annotations

import argparse
import gzip
import json
import random
from pathlib import Path

from laura_core.io import atomic_write_bytes, atomic_write_text
from laura_core.manifest import CHARS_PER_SECOND
from laura_plugins.preparers.mini.sources import BIBLE_BOOKS, BIBLE_MODULES, FILLETS, _book, fillets_lines
from laura_plugins.preparers.mini.splits import text_key

# The Protestant canon as diatheke prints the book names.
CANON = (
    "Genesis", "Exodus", "Leviticus", "Numbers", "Deuteronomy", "Joshua", "Judges", "Ruth", "I Samuel",
    "II Samuel", "I Kings", "II Kings", "I Chronicles", "II Chronicles", "Ezra", "Nehemiah", "Esther", "Job",
    "Psalms", "Proverbs", "Ecclesiastes", "Song of Solomon", "Isaiah", "Jeremiah", "Lamentations", "Ezekiel",
    "Daniel", "Hosea", "Joel", "Amos", "Obadiah", "Jonah", "Micah", "Nahum", "Habakkuk", "Zephaniah", "Haggai",
    "Zechariah", "Malachi", "Matthew", "Mark", "Luke", "John", "Acts", "Romans", "I Corinthians",
    "II Corinthians", "Galatians", "Ephesians", "Philippians", "Colossians", "I Thessalonians",
    "II Thessalonians", "I Timothy", "II Timothy", "Titus", "Philemon", "Hebrews", "James", "I Peter",
    "II Peter", "I John", "II John", "III John", "Jude", "Revelation of John",
)
DEV_PAIRS = 400
MAX_CHARS = 600  # a longer side is a parsing accident, not a sentence


def held_out_texts(data: Path) -> set[str]:
    """Every string of every dev and test record of the mini corpus (text, translations, captions, ...)."""
    held: set[str] = set()

    def walk(value) -> None:
        if isinstance(value, str):
            held.add(text_key(value))
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for path in sorted(data.glob("*/dev.jsonl.gz")) + sorted(data.glob("*/test.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                cut = json.loads(line)
                walk([s.get("text") for s in cut.get("supervisions", [])])
                walk(cut.get("custom", {}))
    held.discard("")
    return held


def pairs() -> list[dict]:
    """(id, source, source language, target, target language), before holding anything out."""
    out = []
    for book in CANON:
        if book in BIBLE_BOOKS or book == "Psalms":  # diatheke prints the WEB's Psalms garbled past Psalm 2
            continue
        english, spanish = (_book(BIBLE_MODULES[lang], book) for lang in ("en", "es"))
        for ref, en in english.items():
            es = spanish.get(ref)
            if not en or not es:
                continue
            rid = "bible-" + ref.lower().replace(" ", "_").replace(":", "_")
            out.append(dict(id=f"{rid}-en-es", source=en, language="en", target=es, target_language="es"))
            out.append(dict(id=f"{rid}-es-en", source=es, language="es", target=en, target_language="en"))
    languages = sorted({p.stem.removeprefix("dialogs_") for p in (FILLETS / "script").glob("*/dialogs_*.lua")} - {"en"})
    for language in languages:
        for line in fillets_lines(language):
            rid = f"fillets-{language}-{line.level}-{line.id}".lower()
            if language == "es":
                out.append(dict(id=rid + "-en-es", source=line.english, language="en", target=line.text,
                                target_language="es"))
            else:
                out.append(dict(id=rid, source=line.text, language=language, target=line.english,
                                target_language="en"))
    return out


def cut(pair: dict) -> dict:
    """A text-only mt cut, as the mini corpus writes one (its duration is the source's length in reading time)."""
    duration = len(pair["source"]) / CHARS_PER_SECOND
    supervision = dict(id=pair["id"], recording_id=pair["id"], start=0.0, duration=duration, channel=0,
                       text=pair["source"], language=pair["language"])
    return dict(id=pair["id"], start=0.0, duration=duration, channel=0, supervisions=[supervision],
                custom={"translation": pair["target"], "target_language": pair["target_language"]}, type="MonoCut")


def write_manifest(path: Path, cuts: list[dict]) -> None:
    body = "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cuts).encode("utf-8")
    atomic_write_bytes(path, gzip.compress(body, mtime=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="the mini corpus (laura prepare mini DIR)")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    held = held_out_texts(args.data)
    if not held:
        raise SystemExit(f"{args.data}: no dev or test manifests found (laura prepare mini {args.data} first)")
    found = pairs()
    kept, seen, ids = [], set(), set()
    for pair in found:
        keys = (text_key(pair["source"]), text_key(pair["target"]))
        if keys[0] in held or keys[1] in held or keys in seen or not all(keys) or \
                max(len(pair["source"]), len(pair["target"])) > MAX_CHARS:
            continue
        seen.add(keys)
        while pair["id"] in ids:  # a level may hold two lines under one dialogue id
            pair["id"] += "+"
        ids.add(pair["id"])
        kept.append(pair)
    rng = random.Random(0)
    dev_ids = set(rng.sample([p["id"] for p in kept], DEV_PAIRS))
    train = [cut(p) for p in kept if p["id"] not in dev_ids]
    dev = [cut(p) for p in kept if p["id"] in dev_ids]
    write_manifest(args.out / "mt" / "train.jsonl.gz", train)
    write_manifest(args.out / "mt" / "dev.jsonl.gz", dev)
    counts: dict[str, int] = {}
    for p in kept:
        direction = f"{p['language']} -> {p['target_language']}"
        group = "Bible" if p["id"].startswith("bible") else "Fish Fillets"
        counts[f"{group}, {direction}"] = counts.get(f"{group}, {direction}", 0) + 1
    lines = [f"# {args.out}: text pretraining corpus (egs/mini/local/text_corpus.py {args.data} {args.out})", "",
             f"{len(found)} pairs found, {len(found) - len(kept)} left out (held-out text of {args.data}, a repeat, or over {MAX_CHARS} characters), "
             f"{len(train)} train, {len(dev)} dev.", "", "| source | pairs |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(counts.items())]
    atomic_write_text(args.out / "README.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
