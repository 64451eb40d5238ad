"""What the mini corpus reads from installed Debian packages, and under which licence.

Every reader returns its items in a fixed order (sorted paths and ids), so a build depends only on
the seed, the config and the installed package versions.
"""
from __future__ import annotations

import gzip
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from laura_core.errors import DataError

ASTERISK = Path("/usr/share/asterisk/sounds")
ASTERISK_VOICES = {"en": "en_US_f_Allison", "es": "es_MX_f_Allison", "fr": "fr_CA_f_June"}
FILLETS = Path("/usr/share/games/fillets-ng")
BIBLE_MODULES = {"en": "engWEB2015eb", "es": "spaRV1909eb"}
BIBLE_BOOKS = ("Matthew", "Mark", "Luke", "John", "Acts")
SOUND_ROOTS = {
    "minetest-data": Path("/usr/share/games/minetest/games/minetest_game/mods"),
    "sound-theme-freedesktop": Path("/usr/share/sounds/freedesktop/stereo"),
    "sonic-pi-samples": Path("/usr/share/sonic-pi/samples"),
}
G722_BYTES_PER_SECOND = 8000  # 64 kbit/s


@dataclass(frozen=True)
class Package:
    name: str
    provides: str  # what the corpus takes from it
    licence: str  # of those files, as /usr/share/doc/<name>/copyright states it
    probe: str  # a path the package installs


def _asterisk(language: str, speaker: str) -> tuple[Package, Package]:
    licence = f"CC-BY-SA-3.0 ({speaker}; Digium, Inc.)"
    doc = f"/usr/share/doc/asterisk-core-sounds-{language}/core-sounds-{language}.txt.gz"
    return (
        Package(f"asterisk-core-sounds-{language}", f"transcripts of the {language} prompts", licence, doc),
        Package(f"asterisk-core-sounds-{language}-g722", f"{language} telephone prompts spoken by {speaker} "
                "(G.722, 16 kHz)", licence, str(ASTERISK / ASTERISK_VOICES[language])),
    )


_BOOKS = ", ".join(BIBLE_BOOKS)
PACKAGES: tuple[Package, ...] = (
    *_asterisk("en", "Allison Smith"),
    *_asterisk("es", "Allison Smith"),
    *_asterisk("fr", "June Wallack"),
    Package("fillets-ng-data", "Fish Fillets NG dialogue: English lines and translations (script/*/dialogs_*.lua)",
            "GPL-2 (ALTAR interactive, Ivo and Pavel Danihelka, translators)", str(FILLETS / "script")),
    Package("fillets-ng-data-cs", "Fish Fillets NG dialogue spoken in Czech", "GPL-2 (ALTAR interactive)",
            str(FILLETS / "sound/airplane/cs")),
    Package("fillets-ng-data-nl", "Fish Fillets NG dialogue spoken in Dutch",
            "GPL-2 (ALTAR interactive, Dutch voice actors)", str(FILLETS / "sound/airplane/nl")),
    Package("diatheke", "reads the Bible modules (a tool: nothing of it is in the corpus)", "GPL-2+",
            "/usr/bin/diatheke"),
    Package("sword-text-web", f"World English Bible, verses of {_BOOKS}", "public domain",
            "/usr/share/sword/mods.d/engWEB2015eb.conf"),
    Package("sword-text-sparv", f"Reina-Valera 1909 (Spanish), verses of {_BOOKS}", "public domain",
            "/usr/share/sword/mods.d/spaRV1909eb.conf"),
    Package("espeak-ng", "synthetic English voices (the synthesiser and its voice data)", "GPL-3+",
            "/usr/bin/espeak-ng"),
    Package("flite", "synthetic English voices cmu_us_slt, rms, awb, kal16",
            "CMU Flite licence (free use and redistribution, notice kept)", "/usr/bin/flite"),
    Package("minetest-data", "sound effects: water, lava, fire, footsteps, doors, glass, digging",
            "CC-BY-SA-3.0; doors sounds CC-BY-3.0; glass-door and TNT sounds CC0-1.0 (per file below)",
            str(SOUND_ROOTS["minetest-data"])),
    Package("sound-theme-freedesktop", "bell, alarm clock, telephone, camera shutter and chime sounds",
            "per file below: CC-BY-3.0, CC-BY-SA-3.0, GPL-2+", str(SOUND_ROOTS["sound-theme-freedesktop"])),
    Package("sonic-pi-samples", "drum, percussion, vinyl, guitar and ambience samples", "CC0-1.0 (every sample used)",
            str(SOUND_ROOTS["sonic-pi-samples"])),
)


def require() -> None:
    """A ``DataError`` naming every missing package and how to install it."""
    missing = [p.name for p in PACKAGES if not Path(p.probe).exists()]
    problems = []
    if missing:
        problems.append(f"Debian package(s) {', '.join(missing)} (sudo apt-get install {' '.join(missing)}, "
                        f"or bash scripts/install-system-deps.sh)")
    try:
        import av  # noqa: F401  (decodes the G.722 prompts)
    except ImportError:
        problems.append("the Python package av (pip install av)")
    if problems:
        raise DataError(f"the mini corpus is built from installed packages; missing: {'; '.join(problems)}")


def version(package: str) -> str:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


# -- Asterisk prompts ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Prompt:
    language: str
    id: str  # e.g. "vm-password", "digits/1": one prompt id names the same words in every language
    text: str
    english: str
    path: str
    seconds: float


def asterisk_prompts(language: str) -> list[Prompt]:
    """The prompts of ``language`` that have audio, words (not tones or silence) and an English transcript."""
    english, own = _transcripts("en"), _transcripts(language)
    prompts = []
    for pid, text in sorted(own.items()):
        path = ASTERISK / ASTERISK_VOICES[language] / f"{pid}.g722"
        if pid in english and path.is_file():
            seconds = path.stat().st_size / G722_BYTES_PER_SECOND
            prompts.append(Prompt(language, pid, text, english[pid], str(path), seconds))
    return prompts


def _transcripts(language: str) -> dict[str, str]:
    """``id: text`` lines. Bracketed notes ("[ascending tones]", "at [@]") are not words spoken, and
    the ellipses around fragments ("... for ...") mark where other prompts join on."""
    path = f"/usr/share/doc/asterisk-core-sounds-{language}/core-sounds-{language}.txt.gz"
    out = {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            pid, sep, text = line.partition(":")
            text = " ".join(re.sub(r"\[[^\]]*\]|\([^)]*\)|^\s*\.\.\.|\.\.\.\s*$", " ", text).split())
            if sep and not line.startswith(";") and re.search(r"[^\W\d_]", text):
                out[pid.strip()] = text
    return out


# -- Fish Fillets NG dialogue -----------------------------------------------------------------------

@dataclass(frozen=True)
class Line:
    language: str
    level: str
    id: str
    font: str  # who speaks: font_small is the small fish, font_big the big one, others the rest
    text: str
    english: str
    path: str | None  # the spoken line, where a voice package ships one
    seconds: float


_STRING = r'"((?:[^"\\]|\\.)*)"'
_DIALOG = re.compile(rf"dialogId\(\s*{_STRING}\s*,\s*{_STRING}\s*,\s*{_STRING}\s*\)\s*dialogStr\(\s*{_STRING}\s*\)")


def fillets_lines(language: str) -> list[Line]:
    """Translated dialogue lines of every level (untranslated ones left out), with their audio if any."""
    import soundfile as sf

    lines = []
    for script in sorted((FILLETS / "script").glob(f"*/dialogs_{language}.lua")):
        level = script.parent.name
        for match in _DIALOG.finditer(script.read_text(encoding="utf-8")):
            did, font, english, text = (re.sub(r"\\(.)", r"\1", g).strip() for g in match.groups())
            if text == english:
                continue
            audio = FILLETS / "sound" / level / language / f"{did}.ogg"
            path, seconds = (str(audio), sf.info(str(audio)).duration) if audio.is_file() else (None, 0.0)
            lines.append(Line(language, level, did, font, text, english, path, seconds))
    return lines


# -- Bible --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Verse:
    ref: str  # "Mark 1:4"
    english: str
    spanish: str


def bible_verses() -> list[Verse]:
    """Verse pairs present in both modules, in canonical order."""
    verses = []
    for book in BIBLE_BOOKS:
        english, spanish = (_book(BIBLE_MODULES[lang], book) for lang in ("en", "es"))
        verses += [Verse(ref, text, spanish[ref]) for ref, text in english.items() if text and spanish.get(ref)]
    return verses


def _book(module: str, book: str) -> dict[str, str]:
    out = subprocess.run(["diatheke", "-b", module, "-k", book], capture_output=True, text=True)
    if out.returncode != 0:
        raise DataError(f"diatheke -b {module} -k {book} failed: {out.stderr.strip() or out.stdout.strip()}")
    verses: dict[str, list[str]] = {}
    ref = None
    for line in out.stdout.splitlines():  # "Mark 1:4: text", poetry going on over more lines
        head = re.match(rf"^({re.escape(book)} \d+:\d+): ?(.*)$", line)
        if head:
            ref = head.group(1)
            verses[ref] = [head.group(2)]
        elif ref is not None and line != f"({module})":
            verses[ref].append(line)
    return {ref: _osis_text(" ".join(parts)) for ref, parts in verses.items()}


def _osis_text(markup: str) -> str:
    """Plain text of a verse in OSIS markup. Tags become spaces because the modules run some words
    into their neighbours' tags ("God</w><w>created"); the spaces are then taken out before
    punctuation and after opening quotes."""
    text = re.sub(r"<note\b.*?</note>", " ", markup, flags=re.S)
    text = re.sub(r"<[^>]*>", " ", text)
    text = re.sub(r"\s+([,.;:!?’”)\]])", r"\1", text)
    text = re.sub(r"([“‘¿¡(\[])\s+", r"\1", text)
    return " ".join(text.split())


# -- sound effects --------------------------------------------------------------------------------------

def sound_files(package: str, pattern: str) -> list[str]:
    """Files of ``package`` whose name matches the glob ``pattern``."""
    return sorted(str(p) for p in SOUND_ROOTS[package].rglob(pattern))
