"""What the model does to learn faster: per-task loss weights, the auxiliary CTC loss and the CTC
text embedding of audio, the frozen-trunk cache, free-running accuracy."""
import dataclasses

import pytest
import torch
import torch.nn.functional as F

from laura_core.errors import ConfigError
from laura_core.model.lauragpt import Item, build_model, load_model_config
from laura_core.model.trunk_cache import TrunkCache
from laura_core.training.lm import free_running_accuracy
from tests.core.test_model import mixed_items


def build(registry, **changes):
    torch.manual_seed(0)
    return build_model(dataclasses.replace(load_model_config("tiny"), **changes), registry).eval()


def test_task_weights_weight_the_mean_over_tokens(registry):
    model = build(registry)
    batch = model.collate(mixed_items(model))
    out = model(batch)
    stats = out.stats
    weights = {"ser": 5.0, "tts": 0.5}
    weighted = model(batch, weights)
    total = sum(weights.get(t, 1.0) * s.loss_sum for t, s in stats.items())
    norm = sum(weights.get(t, 1.0) * s.tokens for t, s in stats.items())
    assert weighted.loss.item() == pytest.approx(total / norm, rel=1e-5)
    assert weighted.denominator() == pytest.approx(norm)
    assert out.loss.item() == pytest.approx(sum(s.loss_sum for s in stats.values()) / out.denominator(), rel=1e-5)


def with_transcripts(model, items):
    gen = torch.Generator().manual_seed(3)
    return [dataclasses.replace(it, transcript=torch.randint(0, model.layout.text_size, (3,), generator=gen))
            if it.source.is_floating_point() and it.task != "aac" else it for it in items]


def test_ctc_loss_is_added_and_trains_the_head(registry):
    model = build(registry, ctc_weight=0.5).train()
    items = with_transcripts(model, mixed_items(model))
    out = model(model.collate(items))
    token_mean = sum(s.loss_sum for s in out.stats.values()) / out.denominator()
    assert out.values["ctc"] > 0 and out.loss.item() == pytest.approx(token_mean + 0.5 * out.values["ctc"], rel=1e-4)
    out.loss.backward()
    assert model.ctc_head.weight.grad.abs().sum() > 0
    # By hand: CTC of the audio items' embeddings against their transcripts (blank = the id after the text).
    audio = [it for it in items if it.transcript is not None]
    batch = model.collate(audio)
    encoding = model.encode_audio(batch.wav, batch.wav_lengths)
    logp = model.ctc_head(encoding.encoder_output).float().log_softmax(-1).transpose(0, 1)
    expected = F.ctc_loss(logp, torch.cat([it.transcript for it in audio]), encoding.lengths,
                          torch.tensor([len(it.transcript) for it in audio]), blank=model.layout.text_size)
    assert model.ctc_loss(encoding, [it.transcript for it in audio]).item() == pytest.approx(expected.item(), rel=1e-5)


def test_items_without_transcripts_still_reach_every_parameter(registry):
    model = build(registry, ctc_weight=0.3).train()
    model(model.collate(mixed_items(model))).loss.backward()  # no transcripts at all
    assert model.ctc_head.weight.grad is not None  # zero, but there: data-parallel training needs it


def test_ctc_embedding_adds_the_expected_text_embedding(registry):
    plain = build(registry, ctc_weight=0.3)
    mixed = build(registry, ctc_weight=0.3, ctc_embed=True)
    mixed.load_state_dict(plain.state_dict())
    wav = 0.1 * torch.randn(2, 8000)
    lengths = torch.tensor([8000, 6000])
    with torch.no_grad():
        base, enc = plain.encode_audio(wav, lengths), mixed.encode_audio(wav, lengths)
        table = plain.backbone.embed(torch.arange(plain.layout.text_size)[None])[0]
        posterior = plain.ctc_head(base.embeddings).softmax(-1)[..., : plain.layout.text_size]
    assert torch.equal(base.lengths, enc.lengths) and torch.equal(base.embeddings, base.encoder_output)
    torch.testing.assert_close(enc.encoder_output, base.encoder_output)
    torch.testing.assert_close(enc.embeddings, base.embeddings + posterior @ table)
    with pytest.raises(ConfigError, match="ctc_weight"):
        build(registry, ctc_embed=True)


class CountingTrunk:
    def __init__(self, encoder):
        self.encoder, self.calls = encoder, 0

    def __call__(self, wav, lengths):
        self.calls += len(wav)
        return self.encoder.trunk(wav, lengths)


def test_trunk_cache_gives_what_the_trunk_gives(registry):
    model = build(registry)
    encoder = model.encoder
    for p in encoder.trunk_parameters():
        p.requires_grad_(False)
    trunk = CountingTrunk(encoder)
    cache = TrunkCache()
    gen = torch.Generator().manual_seed(0)
    waves = [0.1 * torch.randn(n, generator=gen) for n in (4000, 9000, 6500)]
    batch = torch.nn.utils.rnn.pad_sequence(waves, batch_first=True)
    lengths = torch.tensor([len(w) for w in waves])
    with torch.no_grad():
        expected, expected_lengths = encoder.trunk(batch, lengths)
        first, first_lengths = cache.frames(["a", "b", None], batch, lengths, trunk, encoder.trunk_parameters())
        # The same audio in another batch order and padding: cached items come back, unkeyed ones are recomputed.
        again, again_lengths = cache.frames(["b", None, "a"], batch[[1, 2, 0]], lengths[[1, 2, 0]], trunk,
                                            encoder.trunk_parameters())
    assert trunk.calls == 4 and (cache.hits, cache.misses) == (2, 4) and len(cache) == 2
    assert torch.equal(first_lengths, expected_lengths) and torch.equal(again_lengths, expected_lengths[[1, 2, 0]])
    for i, j in ((0, 2), (1, 0), (2, 1)):
        n = int(expected_lengths[i])
        torch.testing.assert_close(first[i, :n], expected[i, :n])
        torch.testing.assert_close(again[j, :n], expected[i, :n])
    # New weights (a loaded checkpoint) empty it.
    with torch.no_grad():
        next(iter(encoder.trunk_parameters())).add_(1.0)
        cache.frames(["a"], batch[:1], lengths[:1], trunk, encoder.trunk_parameters())
    assert trunk.calls == 5 and len(cache) == 1


def test_trunk_cache_keeps_to_its_budget(registry):
    model = build(registry)
    wav, lengths = 0.1 * torch.randn(3, 8000), torch.tensor([8000, 8000, 8000])
    cache = TrunkCache(max_bytes=1)
    with torch.no_grad():
        cache.frames(["a", "b", "c"], wav, lengths, model.encoder.trunk, model.encoder.trunk_parameters())
    assert len(cache) == 0 and cache.bytes == 0


def test_model_uses_the_cache_only_for_a_frozen_trunk(registry):
    model = build(registry)
    model.trunk_cache = TrunkCache()
    item = Item("asr", 0.1 * torch.randn(8000), torch.tensor([1, 2]), audio_key="k")
    model(model.collate([item]))
    assert len(model.trunk_cache) == 0  # the conformer trains: nothing to cache
    for p in model.encoder.trunk_parameters():
        p.requires_grad_(False)
    fresh = model(model.collate([item])).loss
    cached = model(model.collate([item])).loss
    assert len(model.trunk_cache) == 1 and model.trunk_cache.hits == 1
    assert cached.item() == pytest.approx(fresh.item(), rel=1e-6)


def test_free_running_accuracy():
    assert free_running_accuracy([[1, 2, 3]], [[1, 2, 3]]) == 1.0
    assert free_running_accuracy([[1, 9, 3]], [[1, 2, 3]]) == 0.75  # 3 of 3 tokens + eos, one wrong
    assert free_running_accuracy([[]], [[1, 2]]) == 0.0  # eos at once: every position wrong
    assert free_running_accuracy([[1, 2, 3, 4]], [[1, 2]]) == pytest.approx(2 / 3)  # no eos where due
