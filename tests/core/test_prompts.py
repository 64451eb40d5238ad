"""Zero-shot tts prompts: drawing and cropping, the prompted item, padding-exact batches, and the
prompt cut from what is generated."""
import random

import numpy as np
import pytest
import torch
from lhotse import AudioSource, MonoCut, Recording, SupervisionSegment

from laura_core.data.batches import prompted
from laura_core.data.prompts import PromptPool, VoicePrompt, crop, prompt_pools
from laura_core.model.generation import DecodeOptions
from laura_core.model.lauragpt import Item
from tests.core.test_model import codec_ids, mixed_items, text_ids, tiny  # noqa: F401


def cut(cid, speaker, codes, text, duration):
    sup = SupervisionSegment(id=cid, recording_id=cid, start=0, duration=duration, text=text, speaker=speaker)
    recording = Recording(cid, [AudioSource("file", [0], f"{cid}.wav")], 16000, int(16000 * duration), duration)
    return MonoCut(id=cid, start=0, duration=duration, channel=0, supervisions=[sup], recording=recording,
                   custom={"codes": codes})


def test_a_prompt_longer_than_its_limit_is_cut_and_loses_its_text():
    assert crop(list(range(50)), "two seconds", 2.0, 3.0) == VoicePrompt(tuple(range(50)), "two seconds")
    assert crop(list(range(100)), "four seconds", 4.0, 3.0) == VoicePrompt(tuple(range(75)), None)
    # The recording, where given (inference: for a vocoder that hears the prompt), is cut with its codes.
    samples = np.arange(100 * 640, dtype=np.float32)
    assert np.array_equal(crop(list(range(100)), None, 4.0, 3.0, samples).samples, samples[: 75 * 640])
    assert crop(list(range(50)), "two", 2.0, 3.0, samples[: 50 * 640]).samples is not None


def test_prompts_come_from_another_utterance_of_the_same_speaker():
    cuts = [cut("a1", "A", [1, 2], "a one", 1.0), cut("a2", "A", [3, 4], "a two", 1.0),
            cut("b1", "B", [5], "b one", 1.0), cut("n1", None, [6], "nobody", 1.0)]
    pool = PromptPool(cuts, seconds=3.0)
    rng = random.Random(0)
    assert {pool.draw(cuts[0], rng) for _ in range(5)} == {VoicePrompt((3, 4), "a two")}
    assert pool.draw(cuts[2], rng) is None  # B has no other utterance
    assert pool.draw(cuts[3], rng) is None  # no speaker, no prompt


def test_a_task_listed_with_two_manifests_draws_prompts_from_both(tmp_path):
    from types import SimpleNamespace

    from lhotse import CutSet

    corpus = [cut("a1", "A", [1], "a one", 1.0), cut("b1", "B", [2], "b one", 1.0)]
    extra = [cut("a2", "A", [3], "a two", 1.0), cut("c1", "C", [4], "c one", 1.0)]
    CutSet.from_cuts(corpus).to_file(tmp_path / "corpus.jsonl.gz")
    CutSet.from_cuts(extra).to_file(tmp_path / "extra.jsonl.gz")
    specs = [SimpleNamespace(task="tts", manifest=str(tmp_path / "corpus.jsonl.gz")),
             SimpleNamespace(task="tts", manifest=str(tmp_path / "extra.jsonl.gz"))]
    pools = prompt_pools(specs, seconds=3.0)
    assert list(pools) == ["tts"]
    rng = random.Random(0)
    # A's utterances are split over the two manifests: each prompts with the other
    assert pools["tts"].draw(corpus[0], rng) == VoicePrompt((3,), "a two")
    assert pools["tts"].draw(extra[0], rng) == VoicePrompt((1,), "a one")
    assert pools["tts"].draw(extra[1], rng) is None


class Spelling:
    """A tokenizer stand-in: one id per character."""

    def encode(self, text):
        return [ord(c) % 40 for c in text]


def test_a_prompted_item_reads_the_prompt_text_first_and_continues_its_codes(tiny):  # noqa: F811
    model, _ = tiny
    layout = model.layout
    source, prefix = prompted(torch.tensor([7, 8]), VoicePrompt((3, 1), "ab"), Spelling(), layout)
    assert source.tolist() == [ord("a") % 40, ord("b") % 40, 7, 8]
    assert prefix.tolist() == [layout.codec_id(3), layout.codec_id(1)]
    source, _ = prompted(torch.tensor([7]), VoicePrompt((3,), None), Spelling(), layout)
    assert source.tolist() == [7]  # a cut prompt: codes only


def prompted_items(model, seed=0):
    """The mixed items, the tts one with a prompt, and a second tts item with a longer one."""
    gen = torch.Generator().manual_seed(seed)
    layout, items = model.layout, mixed_items(model, seed)
    tts = [i for i, it in enumerate(items) if it.task == "tts"][0]
    items[tts].prefix = codec_ids(3, gen, layout)
    items.append(Item("tts", text_ids(4, gen, layout), codec_ids(5, gen, layout), prefix=codec_ids(7, gen, layout)))
    return items


def test_prompted_batches_equal_their_items_alone(tiny):  # noqa: F811
    model, _ = tiny
    items = prompted_items(model)
    together = model(model.collate(items)).stats["tts"]
    alone = [model(model.collate([it])).stats["tts"] for it in items if it.task == "tts"]
    assert together.loss_sum == pytest.approx(sum(a.loss_sum for a in alone), abs=1e-4)
    # Only the new codes and eos count: the prompt's codes are given.
    assert together.tokens == sum(len(it.target) + 1 for it in items if it.task == "tts")


def test_generation_continues_after_the_prompt_and_returns_only_the_new_codes(tiny):  # noqa: F811
    model, _ = tiny
    items = [Item(it.task, it.source, prefix=it.prefix) for it in prompted_items(model, seed=2)]
    opts = DecodeOptions(strategy="greedy", max_new_tokens=6, min_new_tokens=6)
    together = model.generate(items, opts, opts)
    alone = [model.generate([it], opts, opts)[0] for it in items]
    assert together == alone and all(len(out) == 6 for out in together)
    # The prompt is the start of the output: continuing a prompt that already holds the first three
    # new codes gives the other three.
    tts = items[-1]
    longer = Item("tts", tts.source, prefix=torch.cat([tts.prefix, torch.tensor(together[-1][:3])]))
    rest = DecodeOptions(strategy="greedy", max_new_tokens=3, min_new_tokens=3)
    assert model.generate([longer], rest, rest)[0] == together[-1][3:]
    assert model.collate([tts], left_pad=True).ids[0, -len(tts.prefix):].tolist() == tts.prefix.tolist()


def test_training_items_draw_their_prompts_by_config(tiny, registry, tmp_path):  # noqa: F811
    from lhotse import CutSet

    from laura_core.data.batches import DataConfig, LauraDataset, TaskData, _tagged
    from laura_core.data.prompts import PromptConfig
    from laura_core.errors import ConfigError

    model, _ = tiny
    Spelling.vocab_size = 40
    cuts = [cut(f"{s}{i}", s, [10 * k + i, i], f"{s} says {i}", 1.0) for k, s in enumerate("AB") for i in range(4)]
    path = tmp_path / "tts.jsonl.gz"
    CutSet(cuts).to_file(path)
    tasks = {"tts": registry.task("tts")}

    def items(prob):
        cfg = DataConfig(tasks=[TaskData("tts", str(path))], prompt=PromptConfig(prob=prob, seconds=3.0))
        return LauraDataset(tasks, Spelling(), model.layout, cfg)[CutSet([_tagged(c, "tts") for c in cuts])].items

    assert all(it.prefix is None for it in items(0.0))
    always = items(1.0)
    for c, it in zip(cuts, always):
        speaker = c.supervisions[0].speaker
        own = Spelling().encode(c.supervisions[0].text)
        assert it.source[-len(own):].tolist() == own  # the text to speak comes last
        codes = [model.layout.codec_code(t) for t in it.prefix.tolist()]
        other = next(o for o in cuts if o.custom["codes"] == codes)
        assert other.id != c.id and other.supervisions[0].speaker == speaker
        assert it.source[: len(it.source) - len(own)].tolist() == Spelling().encode(other.supervisions[0].text)
    # Drawn by seed: the same batch draws the same prompts.
    assert [it.prefix.tolist() for it in always] == [it.prefix.tolist() for it in items(1.0)]
    half = items(0.5)
    assert 0 < sum(it.prefix is not None for it in half) < len(half)
    with pytest.raises(ConfigError, match="data.prompt"):
        items(1.5)
