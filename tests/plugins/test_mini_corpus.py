"""The mini corpus, built small: deterministic to the byte, every task and split present with the
fields its task needs, no utterance or sentence in two splits, and a README of sources and licences."""
import gzip
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from laura_core.errors import DataError
from laura_core.manifest import SPLITS, cut_to_record
from laura_core.task import FieldType
from laura_plugins.preparers.mini import sources
from laura_plugins.preparers.mini.config import TASKS
from laura_plugins.preparers.mini.splits import text_key

SMALL = {task: 10 for task in TASKS} | {"tts": 40, "seed": 3}  # tts: unseen speakers in dev and test


@pytest.fixture(scope="module")
def built(registry, tmp_path_factory):
    """The same small config built twice, into two folders."""
    try:
        sources.require()
    except DataError as e:
        pytest.skip(f"{e} (scripts/install-system-deps.sh installs them)")
    out = []
    for name in ("a", "b"):
        dst = tmp_path_factory.mktemp(name) / "mini"
        out.append((dst, registry.create("preparer", "mini", **SMALL).prepare(None, dst)))
    return out


def cuts(path: Path):
    from lhotse import load_manifest

    return list(load_manifest(path))


def test_same_seed_and_config_give_the_same_bytes(built):
    (a, _), (b, _) = built
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert any(f.suffix == ".wav" for f in files)
    for f in files:
        assert content(a, f) == content(b, f), f


def content(root: Path, f: Path) -> bytes:
    """The bytes of ``root / f``; in manifests, the audio paths name the folder, which is left out."""
    data = (root / f).read_bytes()
    return gzip.decompress(data).replace(bytes(root), b"DST") if f.name.endswith(".jsonl.gz") else data


def test_every_task_has_train_dev_test_with_its_fields(built, registry):
    _, manifests = built[0]
    assert set(manifests) == set(TASKS)
    for task_name, splits in manifests.items():
        task = registry.task(task_name)
        for split in SPLITS:
            split_cuts = cuts(splits[split])
            assert split_cuts, f"{task_name}/{split} is empty"
            for cut in split_cuts:
                record = cut_to_record(cut)
                assert cut.duration > 0
                if cut.has_recording:
                    assert cut.duration == cut.recording.duration
                for field in task.record_fields:
                    assert record.get(field.name), f"{task_name}/{split} {cut.id}: no {field.name}"
                    if field.type is FieldType.AUDIO:
                        info = sf.info(record[field.name])
                        assert (info.samplerate, info.channels) == (16000, 1) and info.frames > 0


def test_task_specific_fields(built):
    _, manifests = built[0]
    for cut in cuts(manifests["slu"]["train"]):
        for slot in cut.custom["slots"]:
            assert slot["filler"] in cut.supervisions[0].text  # fillers are words spoken
    assert {c.custom["target_language"] for c in cuts(manifests["mt"]["train"])} <= {"en", "es"}
    assert all(c.recording is None for c in cuts(manifests["mt"]["dev"]))
    assert all(3 <= len(c.custom["captions"]) <= 5 for c in cuts(manifests["aac"]["test"]))
    assert {c.custom["emotion"] for c in cuts(manifests["ser"]["dev"])} == {"neutral", "happy", "sad", "angry"}
    for cut in cuts(manifests["se"]["test"]):
        assert cut.custom["clean"].num_samples == cut.recording.num_samples
    # Every dev and test tts item whose speaker says something else in its split has a voice prompt:
    # another utterance of its speaker, with its text.
    assert not any("prompt" in (c.custom or {}) for c in cuts(manifests["tts"]["train"]))
    for split in ("dev", "test"):
        by_audio = {c.recording.sources[0].source: c for c in cuts(manifests["tts"][split])}
        prompted = [c for c in by_audio.values() if (c.custom or {}).get("prompt")]
        said = Counter(c.supervisions[0].speaker for c in by_audio.values())
        assert {c.id for c in prompted} == {c.id for c in by_audio.values() if said[c.supervisions[0].speaker] > 1}
        assert prompted
        for cut in prompted:
            other = by_audio[cut.custom["prompt"].sources[0].source]
            assert other.id != cut.id and other.supervisions[0].speaker == cut.supervisions[0].speaker
            assert cut.custom["prompt_text"] == other.supervisions[0].text
    # Zero-shot means unseen: tts's dev and test speakers are heard neither in its training split nor
    # in any other task's audio.
    speakers = {task: {s.speaker for split in SPLITS for c in cuts(manifests[task][split]) for s in c.supervisions}
                for task in manifests}
    tts_train = {c.supervisions[0].speaker for c in cuts(manifests["tts"]["train"])}
    for split in ("dev", "test"):
        unseen = [c.supervisions[0].speaker for c in cuts(manifests["tts"][split]) if c.id.startswith("multi-")]
        assert unseen and not set(unseen) & tts_train
        assert not any(set(unseen) & speakers[t] for t in manifests if t != "tts")


def test_the_tts_voices_are_distinct_and_spoken_by_no_other_task():
    from laura_plugins.preparers.mini.speech import NEAR_TWINS, TTS_CANDIDATES, TTS_VOICES, VOICES

    assert len(set(TTS_VOICES)) == len(TTS_VOICES) == 299
    assert len(TTS_CANDIDATES) == len(TTS_VOICES) + len(NEAR_TWINS)
    assert not {v.name for v in TTS_VOICES} & NEAR_TWINS
    variants = [v.name.split("+")[1] for v in TTS_VOICES]
    assert len(set(variants)) == len(variants)  # one accent per variant, no variant twice
    assert not set(variants) & {v.name.split("+")[1] for v in VOICES if "+" in v.name}
    generated = [v for v in TTS_VOICES if v.variant]
    assert len(generated) == 251 and len({v.variant for v in generated}) == 251


@pytest.mark.skipif(not shutil.which("espeak-ng"), reason="needs espeak-ng (scripts/install-system-deps.sh)")
def test_every_espeak_voice_is_its_variant_not_its_accent_alone():
    """espeak-ng 1.51 silently ignores a variant given with "en-gb" (every "en-gb+X" is one voice):
    each voice of the corpus must sound other than its accent alone, and generated voices each other."""
    from laura_plugins.preparers.mini.speech import ACCENTS, ESPEAK_VOICES, TTS_VOICES, Spoken, Voice

    def sound(voice):
        return Spoken("A short sentence to say.", voice).render()

    one_per_accent = {v.name.split("+")[0]: v for v in TTS_VOICES if v.variant}
    assert set(one_per_accent) == set(ACCENTS)
    for voice in [*ESPEAK_VOICES, *one_per_accent.values(), *[v for v in TTS_VOICES if not v.variant][:8]]:
        assert not np.array_equal(sound(Voice("espeak-ng", voice.name.split("+")[0])), sound(voice)), voice.name
    a, b = [v for v in TTS_VOICES if v.variant and v.name.startswith("en-us+")][:2]
    assert not np.array_equal(sound(a), sound(b))
    assert np.array_equal(sound(a), sound(a))  # deterministic, the variant file made once in the cache


def test_no_utterance_or_sentence_is_in_two_splits(built):
    _, manifests = built[0]
    for task, splits in manifests.items():
        ids, texts = {}, {}
        for split in SPLITS:
            for cut in cuts(splits[split]):
                assert ids.setdefault(cut.id, split) == split, f"{task}: {cut.id} in two splits"
                if task == "aac":  # a scene has no sentence; its sounds are dealt out per split
                    continue
                for text in (cut.supervisions[0].text, (cut.custom or {}).get("translation")):
                    if text:
                        key = text_key(text)
                        assert texts.setdefault(key, split) == split, f"{task}: {text!r} in {texts[key]} and {split}"


def test_readme_names_every_source_and_licence(built):
    readme = (built[0][0] / "README").read_text()
    for package in sources.PACKAGES:
        assert package.name in readme and package.licence in readme
    for licence in ("CC-BY-SA-3.0", "GPL-2", "public domain", "CC0-1.0"):
        assert licence in readme


def test_rerun_is_a_no_op_and_another_config_is_refused(built, registry):
    dst, manifests = built[0]
    before = {p: p.stat().st_mtime_ns for m in manifests.values() for p in m.values()}
    assert registry.create("preparer", "mini", **SMALL).prepare(None, dst) == manifests
    assert before == {p: p.stat().st_mtime_ns for p in before}
    with pytest.raises(DataError, match="not a mini corpus of this config"):
        registry.create("preparer", "mini", **(SMALL | {"seed": 4})).prepare(None, dst)


def test_missing_packages_are_named_with_the_install_command(monkeypatch, registry, tmp_path):
    absent = sources.Package("asterisk-core-sounds-en-g722", "", "", str(tmp_path / "absent"))
    monkeypatch.setattr(sources, "PACKAGES", (absent,))
    with pytest.raises(DataError, match="apt-get install asterisk-core-sounds-en-g722"):
        registry.create("preparer", "mini").prepare(None, tmp_path / "mini")


def test_every_manifest_validates(built, registry):
    from laura_core.data.validate import ValidationOptions, validate_manifest

    _, manifests = built[0]
    for task_name, splits in manifests.items():
        for path in splits.values():
            report = validate_manifest(path, registry.task(task_name), ValidationOptions(decode_all=True))
            assert report.ok, report.format()


def test_bucketing_keeps_padding_low_on_the_mini_corpus(registry, tmp_path):
    """A mini corpus of 150 utterances per task, mixed as training mixes the tasks that need no codec codes."""
    from laura_core.data.batches import DataConfig, TaskData, make_sampler, mix_tasks, padding_efficiency

    try:
        sources.require()
    except DataError as e:
        pytest.skip(f"{e} (scripts/install-system-deps.sh installs them)")
    names = ["asr", "s2tt", "mt", "aac", "ser", "slu"]
    size = {task: (150 if task in names else 3) for task in TASKS}
    manifests = registry.create("preparer", "mini", **size).prepare(None, tmp_path / "mini")
    cfg = DataConfig(tasks=[TaskData(t, str(manifests[t]["train"])) for t in names], max_duration=120.0, num_buckets=10)
    stats = padding_efficiency(make_sampler(mix_tasks(cfg, {t: registry.task(t) for t in names}), cfg))
    assert stats.ratio > 0.85, stats
