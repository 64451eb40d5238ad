import dataclasses
import random
from collections import Counter
from itertools import islice

import numpy as np
import pytest
import torch
from lhotse import CutSet, MonoCut, Recording

from laura_core.data.batches import (
    TASK, DataConfig, LauraDataset, NoiseConfig, TaskData, cut_to_item, make_loader, make_sampler, mix_tasks,
    padding_efficiency,
)
from laura_core.data.validate import OnError, ValidationOptions
from laura_core.errors import ConfigError, DataError
from laura_core.model.vocab import VocabLayout
from tests.conftest import write_wav
from tests.core.test_validate import audio_cut, text_cut, tone

SENTENCES = [
    "the birch canoe slid on the smooth planks", "glue the sheet to the dark blue background",
    "guten morgen und danke", "bitte schön", "it is easy to tell the depth of a well",
    "four hours of steady work faced us", "rice is often served in round bowls",
    "das wetter ist heute schön", "ich lese gern bücher", "wir fahren morgen nach berlin",
]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory, registry):
    trainer = registry.component("tokenizer", "sentencepiece").obj.train
    path = trainer(SENTENCES, tmp_path_factory.mktemp("sp"), vocab_size=60)
    return registry.create("tokenizer", "sentencepiece", model=str(path))


@pytest.fixture(scope="module")
def layout(tokenizer, registry):
    return VocabLayout.create(tokenizer.vocab_size, registry.tasks(), codec_size=1024)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """asr: 400 cuts over 8 files of 1-8 s; mt: 200 text cuts; tts: 30 cuts with codes, 1 without."""
    root = tmp_path_factory.mktemp("corpus")
    files = [write_wav(root / f"f{s}.wav", tone(s)) for s in range(1, 9)]
    asr = CutSet([audio_cut(files[i % 8], f"a{i:03d}", SENTENCES[i % 10]) for i in range(400)])
    mt = CutSet([text_cut(f"m{i:03d}", SENTENCES[i % 10] * (1 + i % 4), translation=SENTENCES[(i + 1) % 10])
                 for i in range(200)])
    tts = [audio_cut(files[i % 3], f"t{i:02d}", SENTENCES[i % 10], codes=[i, 1023, 0]) for i in range(30)]
    tts.append(audio_cut(files[0], "t_nocodes", SENTENCES[0]))
    paths = {}
    for name, cuts in (("asr", asr), ("mt", mt), ("tts", CutSet(tts))):
        paths[name] = root / name / "train.jsonl.gz"
        paths[name].parent.mkdir()
        cuts.to_file(paths[name])
    return paths


def config(corpus, **kwargs) -> DataConfig:
    weights = kwargs.pop("tasks", {"asr": 1.0, "mt": 1.0})
    tasks = [TaskData(name, str(corpus[name]), weight) for name, weight in weights.items()]
    return DataConfig(tasks=tasks, **{"max_duration": 60.0, **kwargs})


def batch_ids(sampler, limit: int | None = None) -> list[list[tuple[str, str]]]:
    return [[(c.custom[TASK], c.id) for c in batch] for batch in islice(sampler, limit)]


# -- mixing and epochs --------------------------------------------------------------------------


def test_an_epoch_visits_every_cut_once_with_tasks_interleaved_by_size(registry, corpus):
    cfg = config(corpus)
    stream = mix_tasks(cfg, registry.tasks())
    first = [c.custom[TASK] for c in islice(stream, 150)]
    assert 0.55 < first.count("asr") / 150 < 0.78  # 400 of 600 cuts: the mix holds from the start
    batches = batch_ids(make_sampler(stream, cfg))
    seen = [key for batch in batches for key in batch]
    expected = [("asr", f"a{i:03d}") for i in range(400)] + [("mt", f"m{i:03d}") for i in range(200)]
    assert sorted(seen) == sorted(expected)  # each exactly once
    assert any(len({task for task, _ in batch}) == 2 for batch in batches)  # batches may mix tasks


def test_a_single_task_epoch_is_its_manifest(registry, corpus):
    cfg = config(corpus, tasks={"asr": 1.0}, shuffle=False)
    seen = [cid for batch in batch_ids(make_sampler(mix_tasks(cfg, registry.tasks()), cfg)) for _, cid in batch]
    assert sorted(seen) == [f"a{i:03d}" for i in range(400)]


def test_endless_streams_follow_the_weights(registry, corpus):
    cfg = config(corpus, tasks={"asr": 1.0, "mt": 3.0}, endless=True)
    stream = mix_tasks(cfg, registry.tasks())
    tasks = Counter(c.custom[TASK] for c in islice(stream, 4000))  # mt's 200 cuts repeat many times
    assert abs(tasks["mt"] / 4000 - 0.75) < 0.03
    in_batches = Counter(task for batch in batch_ids(make_sampler(stream, cfg), 200) for task, _ in batch)
    assert abs(in_batches["mt"] / sum(in_batches.values()) - 0.75) < 0.05


def test_mixing_refuses_bad_configs(registry, corpus):
    tasks = registry.tasks()
    with pytest.raises(ConfigError, match="weights need endless=true"):
        mix_tasks(config(corpus, tasks={"asr": 1.0, "mt": 2.0}), tasks)
    with pytest.raises(ConfigError, match="'asr_typo', which is not one of"):
        mix_tasks(DataConfig(tasks=[TaskData("asr_typo", str(corpus["asr"]))]), tasks)
    with pytest.raises(ConfigError, match="lists no tasks"):
        mix_tasks(DataConfig(), tasks)


def test_codec_tasks_need_codes_and_the_policy_decides(registry, corpus):
    cfg = config(corpus, tasks={"tts": 1.0})
    with pytest.raises(DataError, match=r"1 of 31 records are bad: 't_nocodes' codes: missing: extract codec codes first"):
        mix_tasks(cfg, registry.tasks())
    cfg.validation = ValidationOptions(on_error=OnError.skip)
    assert sorted(c.id for c in mix_tasks(cfg, registry.tasks())) == [f"t{i:02d}" for i in range(30)]


def test_batches_are_deterministic_for_a_seed(registry, corpus):
    def run(seed: int, epoch: int = 0):
        cfg = config(corpus, seed=seed)
        sampler = make_sampler(mix_tasks(cfg, registry.tasks()), cfg)
        sampler.set_epoch(epoch)
        return batch_ids(sampler)

    first = run(0)
    assert run(0) == first
    for other in (run(1), run(0, epoch=1)):
        assert other != first and sorted(sum(other, [])) == sorted(sum(first, []))


# -- padding ------------------------------------------------------------------------------------


def timed_cuts(n: int, seed: int = 0) -> CutSet:
    rng = random.Random(seed)
    return CutSet([MonoCut(f"c{i}", 0, round(rng.uniform(1, 20), 2), 0) for i in range(n)])


@pytest.mark.filterwarnings("ignore:You are using DynamicBucketingSampler with an eagerly read CutSet")
def test_bucketing_pads_far_less_than_fixed_size_batches():
    cuts = timed_cuts(2000)
    sampler = make_sampler(cuts, DataConfig(max_duration=100.0, num_buckets=20))
    batches = list(sampler)
    bucketed = padding_efficiency(batches)
    assert sampler.stats.ratio == bucketed.ratio and sampler.stats.per_batch == bucketed.per_batch
    assert sum(len(b) for b in batches) == 2000 and max(sum(c.duration for c in b) for b in batches) <= 100.0
    shuffled = list(cuts)
    random.Random(0).shuffle(shuffled)
    size = round(2000 / len(batches))  # the same number of batches
    baseline = padding_efficiency(shuffled[i:i + size] for i in range(0, 2000, size))
    print(f"padding efficiency: bucketed {bucketed.ratio:.3f} over {len(batches)} batches, "
          f"fixed size {size} {baseline.ratio:.3f}")
    assert bucketed.ratio > 0.85 and baseline.ratio < 0.7
    assert min(bucketed.per_batch) > 0.5


def test_padding_efficiency_of_known_batches():
    a, b, c = (MonoCut(name, 0, d, 0) for name, d in (("a", 2.0), ("b", 4.0), ("c", 3.0)))
    stats = padding_efficiency([[a, b], [c]])
    assert stats.per_batch == [0.75, 1.0] and stats.real == 9.0 and stats.padded == 11.0
    assert stats.ratio == pytest.approx(9 / 11)


# -- cuts to items ------------------------------------------------------------------------------


@pytest.fixture
def wav8k(tmp_path):
    t = np.arange(8000) / 8000
    return write_wav(tmp_path / "tone8k.wav", 0.5 * np.sin(2 * np.pi * 440 * t), 8000)


def test_audio_input_is_resampled_to_the_encoders_rate(registry, tokenizer, layout, wav8k):
    cut = audio_cut(wav8k, "u8k", "the birch canoe")
    item = cut_to_item(cut, registry.task("asr"), tokenizer, layout, 16000)
    assert item.task == "asr" and item.source.dtype == torch.float32 and item.source.shape == (16000,)
    expected = 0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    assert np.abs(item.source.numpy() - expected)[200:-200].max() < 0.01  # edges aside, the same tone
    assert item.target.tolist() == tokenizer.encode("the birch canoe") and item.target.dtype == torch.long


def test_text_input_and_output_are_token_ids(registry, tokenizer, layout):
    cut = text_cut("m1", "guten morgen", translation="good morning")
    item = cut_to_item(cut, registry.task("mt"), tokenizer, layout, 16000)
    assert item.source.tolist() == tokenizer.encode("guten morgen")
    assert item.target.tolist() == tokenizer.encode("good morning")
    assert item.source.dtype == item.target.dtype == torch.long


def test_codec_outputs_come_from_the_cuts_codes(registry, tokenizer, layout, tmp_path, wav8k):
    speech = write_wav(tmp_path / "speech.wav", tone(0.5))
    tts = audio_cut(speech, "t1", "bitte schön", codes=[0, 7, 1023])
    item = cut_to_item(tts, registry.task("tts"), tokenizer, layout, 16000)
    assert item.source.tolist() == tokenizer.encode("bitte schön")
    assert item.target.tolist() == [layout.codec_offset, layout.codec_offset + 7, layout.codec_offset + 1023]
    clean = Recording.from_file(speech, recording_id="clean")
    se = audio_cut(write_wav(tmp_path / "noisy.wav", tone(0.5) + 0.01), "s1", clean=clean, codes=[3, 4])
    item = cut_to_item(se, registry.task("se"), tokenizer, layout, 16000)
    assert item.source.shape == (8000,) and item.target.tolist() == [layout.codec_id(3), layout.codec_id(4)]
    for codes, message in ((None, "'t2', field 'codes': missing: extract codec codes first (`laura codec encode`)"),
                           ([5, 1024], "'t2', field 'codes': codec code 1024 outside")):
        cut = audio_cut(speech, "t2", "bitte", **({"codes": codes} if codes else {}))
        with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
            cut_to_item(cut, registry.task("tts"), tokenizer, layout, 16000)


def test_the_loader_turns_mixed_batches_into_items(registry, tokenizer, layout, corpus):
    cfg = config(corpus, tasks={"asr": 1.0, "mt": 1.0, "tts": 1.0}, max_duration=40.0)
    cfg.validation.on_error = OnError.skip
    loader = make_loader(cfg, registry.tasks(), tokenizer, layout)
    batches = list(loader)
    ids = [cid for batch in batches for cid in batch.ids]
    assert len(ids) == 630 and len(set(ids)) == 630
    for batch in batches[:20]:
        for cid, item in zip(batch.ids, batch.items):
            task = {"a": "asr", "m": "mt", "t": "tts"}[cid[0]]
            assert item.task == task
            if task == "asr":
                assert item.source.dtype == torch.float32 and len(item.source) % 16000 == 0
            else:
                assert item.source.dtype == torch.long
            if task == "tts":
                assert item.target.tolist() == [layout.codec_id(c) for c in (int(cid[1:]), 1023, 0)]
    assert loader.sampler.stats.ratio > 0.5


# -- augmentation -------------------------------------------------------------------------------


def test_speed_perturbation_copies_audio_to_text_tasks_only(registry, corpus):
    cfg = config(corpus, tasks={"asr": 1.0, "tts": 1.0}, speed_factors=[0.9, 1.1])
    cfg.validation.on_error = OnError.skip
    cuts = {c.id: c for c in mix_tasks(cfg, registry.tasks())}
    assert len(cuts) == 3 * 400 + 30
    original, slow = cuts["a001"], cuts["a001_sp0.9"]
    assert slow.duration == pytest.approx(original.duration / 0.9, abs=1e-3) and slow.custom[TASK] == "asr"
    assert "t01_sp0.9" not in cuts  # a codec target would no longer match its input


def test_noise_is_mixed_into_audio_inputs_deterministically(registry, tokenizer, layout, corpus, tmp_path):
    noise = CutSet([MonoCut(f"n{i}", 0, 2.0, 0, recording=Recording.from_file(
        write_wav(tmp_path / f"n{i}.wav", np.random.default_rng(i).uniform(-0.5, 0.5, 16000 * 2), 16000), f"n{i}"))
        for i in range(3)])
    noise.to_file(tmp_path / "noise.jsonl.gz")
    cfg = config(corpus, noise=NoiseConfig(str(tmp_path / "noise.jsonl.gz"), snr=[5.0, 5.0], prob=1.0))
    batch = next(iter(make_sampler(mix_tasks(cfg, registry.tasks()), cfg)))
    clean = LauraDataset(registry.tasks(), tokenizer, layout, dataclasses.replace(cfg, noise=NoiseConfig()))[batch]
    noisy = LauraDataset(registry.tasks(), tokenizer, layout, cfg)[batch]
    again = LauraDataset(registry.tasks(), tokenizer, layout, cfg)[batch]
    assert {item.task for item in clean.items} == {"asr", "mt"}
    for a, b, c in zip(clean.items, noisy.items, again.items):
        assert torch.equal(b.source, c.source) and torch.equal(a.target, b.target)
        if a.task == "asr":
            assert a.source.shape == b.source.shape
            snr = 10 * torch.log10(a.source.pow(2).sum() / (b.source - a.source).pow(2).sum())
            assert abs(snr - 5.0) < 0.5
        else:
            assert torch.equal(a.source, b.source)
