import pytest
import torch

from laura_core.errors import ConfigError, DataError
from laura_core.model.codec import vocoder_options

TEXT_VOCAB = 50
STEPS = 100  # optimizer steps the one-step vocoder gets to fit a small fixed set

# Two codecs that differ in every number a vocoder reads from them: nothing may be hard-coded.
CODECS = {"a": {}, "b": dict(n_q=3, codebook_size=24, dim=12, strides=[4, 2], quantizer_dropout=[1, 3])}


def make_codec(registry, name):
    torch.manual_seed(0)
    return registry.create("codec", "laura_codec", size="tiny", **CODECS[name]).eval().requires_grad_(False)


def make_vocoder(registry, name, codec, **options):
    torch.manual_seed(0)
    options = {**vocoder_options(codec, TEXT_VOCAB), **options}
    return registry.create("vocoder", name, size="tiny", **options).eval()


def conditions(seed=1):
    """A mixed batch: text, audio, text, audio conditions of different lengths."""
    g = torch.Generator().manual_seed(seed)
    text = [torch.randint(0, TEXT_VOCAB, (7,), generator=g), None, torch.randint(0, TEXT_VOCAB, (3,), generator=g),
            None]
    wav = [None, torch.randn(4000, generator=g) * 0.1, None, torch.randn(2500, generator=g) * 0.1]
    return text, wav


def codes_batch(codec, lengths, seed=2, pad=-1):
    """Random target codes ``[B, n_q, T]`` padded with ``pad``, their first group and lengths."""
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, codec.codebook_size, (len(lengths), codec.n_q, max(lengths)), generator=g)
    valid = torch.arange(max(lengths)) < torch.tensor(lengths)[:, None]
    target = target.masked_fill(~valid[:, None], pad)
    return target[:, 0], torch.tensor(lengths), target


def test_registered(registry):
    for name in ("onestep", "multistep"):
        reg = registry.component("vocoder", name)
        assert reg.description and set(reg.sizes) == {"tiny", "small", "paper"}
        paper = registry.component_config("vocoder", name, size="paper")
        assert (paper.n_layers, paper.d_model, paper.n_heads, paper.ffn_dim) == (6, 512, 8, 2048)


def test_the_first_group_base_is_on_in_every_preset_and_off_for_configs_saved_without_it(registry):
    codec = make_codec(registry, "a")
    for size in ("tiny", "small", "paper"):
        assert registry.component_config("vocoder", "onestep", size=size).first_group_base
    # A vocoder.json written before the option existed holds the preset's other options only: such a
    # vocoder regressed the whole sum, and must be rebuilt so.
    saved = {**registry.component_options("vocoder", "onestep", "tiny"), **vocoder_options(codec, TEXT_VOCAB)}
    saved.pop("first_group_base")
    old = registry.create("vocoder", "onestep", **saved).eval()
    assert not old.config.first_group_base
    codes, lengths, _ = codes_batch(codec, [4, 2])
    cond = old.condition_features([torch.tensor([1, 2]), torch.tensor([3])], [None, None])
    with torch.no_grad():
        assert torch.equal(old.predict(codes, lengths, *cond, codec), old(codes, lengths, *cond))


def test_config_checks(registry):
    codec = make_codec(registry, "a")
    with pytest.raises(ConfigError, match="n_heads"):
        make_vocoder(registry, "onestep", codec, d_model=30)
    with pytest.raises(ConfigError, match="codebook_size.*not set"):
        registry.create("vocoder", "onestep", size="tiny", dim=8, n_q=4, sample_rate=16000)
    with pytest.raises(ConfigError, match="n_q"):
        make_vocoder(registry, "multistep", codec, n_q=1)
    with pytest.raises(ConfigError, match="audio_conditions"):
        make_vocoder(registry, "onestep", codec, text_vocab_size=0, audio_conditions=False)
    voc = make_vocoder(registry, "onestep", codec)
    codes, lengths, target = codes_batch(codec, [3])
    cond, cond_lengths = voc.condition_features([torch.tensor([1, 2])], [None])
    with pytest.raises(ConfigError, match="another codec: n_q 4 .codec: 3.*codebook_size 64 .codec: 24"):
        voc.loss(codes, lengths, cond, cond_lengths, target, make_codec(registry, "b"))
    with pytest.raises(DataError, match="both text and a waveform"):
        voc.condition_features([torch.tensor([1])], [torch.zeros(100)])


def count_passes(vocoder):
    """Calls of the predictor trunk, the expensive part of a vocoder pass."""
    calls = []
    vocoder.predictor.register_forward_hook(lambda *_: calls.append(1))
    return calls


@pytest.mark.parametrize("name", ["onestep", "multistep"])
def test_conditions_under_bf16_autocast(registry, name):
    # A bf16 LM run voices its validation decodes under autocast: the encoders give bf16 into an fp32
    # buffer (this crashed the demo's LM run at its last step once).
    codec = make_codec(registry, "a")
    voc = make_vocoder(registry, name, codec)
    text, wav = conditions()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cond, cond_lengths = voc.condition_features(text, wav)
    plain, _ = voc.condition_features(text, wav)
    assert cond.dtype == torch.float32 and torch.allclose(cond, plain, atol=0.1, rtol=0.05)


@pytest.mark.parametrize("codec_name", ["a", "b"])
def test_synthesis_passes_and_shapes(registry, codec_name):
    codec = make_codec(registry, codec_name)
    text, wav = conditions()
    codes, lengths, _ = codes_batch(codec, [5, 3, 6, 1])
    for name, passes in (("onestep", 1), ("multistep", codec.n_q - 1)):
        voc = make_vocoder(registry, name, codec)
        cond, cond_lengths = voc.condition_features(text, wav)
        calls = count_passes(voc)
        out = voc.synthesize(codes, lengths, cond, cond_lengths, codec)
        assert len(calls) == passes
        assert out.shape == (4, 1, 6 * codec.hop_length) and torch.isfinite(out).all()
        for b, n in enumerate(lengths.tolist()):  # padding frames are silent, real ones are not
            hop = codec.hop_length
            assert not out[b, :, n * hop:].any() and out[b, :, : n * hop].abs().max() > 0
        if name == "multistep":
            all_codes = voc.generate_codes(codes, lengths, cond, cond_lengths)
            assert all_codes.shape == (4, codec.n_q, 6)
            assert all_codes.min() >= 0 and all_codes.max() < codec.codebook_size
            assert torch.equal(all_codes[:, 0], codes.clamp_min(0))


@pytest.mark.parametrize("name", ["onestep", "multistep"])
@pytest.mark.parametrize("codec_name", ["a", "b"])
def test_padded_batch_equals_items_alone(registry, name, codec_name):
    codec = make_codec(registry, codec_name)
    voc = make_vocoder(registry, name, codec)
    text, wav = conditions()
    codes, lengths, _ = codes_batch(codec, [5, 3, 6, 1])
    with torch.no_grad():
        cond, cond_lengths = voc.condition_features(text, wav)
        batch_wav = voc.synthesize(codes, lengths, cond, cond_lengths, codec)
        for b, n in enumerate(lengths.tolist()):
            c, cl = voc.condition_features(text[b : b + 1], wav[b : b + 1])
            assert cl.item() == cond_lengths[b] and c.shape[1] == cl.item()
            torch.testing.assert_close(cond[b, : cl.item()], c[0], atol=1e-5, rtol=0)
            assert not cond[b, cl.item():].any()
            alone = voc.synthesize(codes[b : b + 1, :n], lengths[b : b + 1], c, cl, codec)
            torch.testing.assert_close(batch_wav[b : b + 1, :, : alone.shape[2]], alone, atol=1e-5, rtol=0)
            if name == "onestep":
                emb = voc(codes[b : b + 1, :n], lengths[b : b + 1], c, cl)
                torch.testing.assert_close(voc(codes, lengths, cond, cond_lengths)[b : b + 1, :, :n], emb,
                                           atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["onestep", "multistep"])
def test_loss_masks_padding(registry, name):
    codec = make_codec(registry, "a")
    voc = make_vocoder(registry, name, codec)
    text, wav = conditions()
    cond, cond_lengths = voc.condition_features(text, wav)
    losses = []
    for pad in (0, 7, -1):  # different padded target frames (and first-group codes)
        codes, lengths, target = codes_batch(codec, [5, 3, 6, 1], pad=pad)
        torch.manual_seed(3)  # the same random groups (multistep)
        losses.append(voc.loss(codes, lengths, cond, cond_lengths, target, codec)[0])
    assert torch.isfinite(losses[0]) and losses[0] > 0
    for other in losses[1:]:
        torch.testing.assert_close(other, losses[0], atol=0, rtol=0)


@pytest.mark.parametrize("name", ["onestep", "multistep"])
@pytest.mark.parametrize("modality", ["text", "audio"])
def test_training_reaches_every_parameter(registry, name, modality):
    """One-modality batches still give every parameter a gradient (DDP/FSDP need all ranks in step)."""
    codec = make_codec(registry, "a")
    voc = make_vocoder(registry, name, codec).train()
    text, wav = conditions()
    keep = [i for i in range(4) if (text[i] is not None) == (modality == "text")]
    codes, lengths, target = codes_batch(codec, [5, 3, 6, 1])
    cond, cond_lengths = voc.condition_features([text[i] for i in keep], [wav[i] for i in keep])
    loss, values = voc.loss(codes[keep], lengths[keep], cond, cond_lengths, target[keep], codec)
    loss.backward()
    assert set(values) == ({"l1", "l2"} if name == "onestep" else {"ce", "accuracy"})
    assert [n for n, p in voc.named_parameters() if p.grad is None] == []


def test_onestep_fits_summed_embeddings(registry):
    """The regression target is the codec's sum of all groups: a tiny model memorises a small set. It
    starts from the first group's embedding (its head starts at zero), and learns what the others add."""
    codec = make_codec(registry, "b")
    voc = make_vocoder(registry, "onestep", codec).train()
    text, wav = conditions()
    codes, lengths, target = codes_batch(codec, [5, 3, 6, 1])
    valid = torch.arange(6) < lengths[:, None]
    goal = codec.embed(target.clamp_min(0)).transpose(1, 2)[valid]
    opt = torch.optim.Adam(voc.parameters(), lr=3e-3)

    def relative_l1():
        with torch.no_grad():
            pred = voc.predict(codes, lengths, *voc.condition_features(text, wav), codec).transpose(1, 2)[valid]
        return ((pred - goal).abs().sum() / goal.abs().sum()).item()

    first_group = codec.embed(target.clamp_min(0), 1).transpose(1, 2)[valid]
    start = relative_l1()
    assert start == pytest.approx(((first_group - goal).abs().sum() / goal.abs().sum()).item(), rel=1e-5)
    for _ in range(STEPS):
        loss, _ = voc.loss(codes, lengths, *voc.condition_features(text, wav), target, codec)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert start > 0.3 and relative_l1() < 0.05, (start, relative_l1())



# -- voice prompts (zero-shot tts): the prompt's sound after the condition ---------------------------


def prompt_embeddings(codec, frames, seed=4):
    """Per item a voice prompt's codec embeddings ``[dim, P]`` (None: no prompt)."""
    g = torch.Generator().manual_seed(seed)
    return [None if n is None else torch.randn(codec.dim, n, generator=g) for n in frames]


@pytest.mark.parametrize("name", ["onestep", "multistep"])
def test_a_voice_prompt_follows_its_items_condition_and_batches_exactly(registry, name):
    codec = make_codec(registry, "a")
    voc = make_vocoder(registry, name, codec, prompt_context=True)
    assert voc.takes_prompt and not make_vocoder(registry, name, codec).takes_prompt
    text, wav = conditions()
    prompt = prompt_embeddings(codec, [4, None, 2, 3])
    codes, lengths, _ = codes_batch(codec, [5, 3, 6, 1])
    with torch.no_grad():
        bare, bare_lengths = voc.condition_features(text, wav)
        cond, cond_lengths = voc.condition_features(text, wav, prompt)
        assert cond_lengths.tolist() == [n + (0 if p is None else p.shape[1]) for n, p in zip(bare_lengths.tolist(), prompt)]
        for b, p in enumerate(prompt):
            n = int(bare_lengths[b])
            torch.testing.assert_close(cond[b, :n], bare[b, :n])  # the item's own condition first, unchanged
            if p is not None:
                torch.testing.assert_close(cond[b, n: n + p.shape[1]], voc.conditions.prompt_in(p.T))
            assert not cond[b, int(cond_lengths[b]):].any()
        batch_wav = voc.synthesize(codes, lengths, cond, cond_lengths, codec)
        for b, n in enumerate(lengths.tolist()):
            c, cl = voc.condition_features(text[b: b + 1], wav[b: b + 1], prompt[b: b + 1])
            alone = voc.synthesize(codes[b: b + 1, :n], lengths[b: b + 1], c, cl, codec)
            torch.testing.assert_close(batch_wav[b: b + 1, :, : alone.shape[2]], alone, atol=1e-5, rtol=0)


def test_the_prompt_changes_only_its_own_items_output(registry):
    codec = make_codec(registry, "a")
    voc = make_vocoder(registry, "onestep", codec, prompt_context=True)
    torch.nn.init.normal_(voc.out.weight, std=0.1)  # a trained head: at zero every output is the first group
    text, wav = conditions()
    prompt = prompt_embeddings(codec, [4, None, 2, None])
    codes, lengths, _ = codes_batch(codec, [5, 3, 6, 1])
    with torch.no_grad():
        with_prompt = voc(codes, lengths, *voc.condition_features(text, wav, prompt))
        without = voc(codes, lengths, *voc.condition_features(text, wav))
    for b, n in enumerate(lengths.tolist()):
        same = torch.allclose(with_prompt[b, :, :n], without[b, :, :n], atol=1e-6)
        assert same == (prompt[b] is None), b


def test_a_vocoder_without_prompt_context_ignores_prompts(registry):
    codec = make_codec(registry, "a")
    voc = make_vocoder(registry, "onestep", codec)
    text, wav = conditions()
    with torch.no_grad():
        plain = voc.condition_features(text, wav)
        given = voc.condition_features(text, wav, prompt_embeddings(codec, [4, None, 2, 3]))
    assert all(torch.equal(a, b) for a, b in zip(plain, given)) and not hasattr(voc.conditions.prompt_in, "weight")


@pytest.mark.parametrize("prompted", [True, False])
def test_prompt_training_reaches_every_parameter(registry, prompted):
    """With or without prompts in a batch, every parameter gets a gradient (DDP/FSDP)."""
    codec = make_codec(registry, "a")
    voc = make_vocoder(registry, "onestep", codec, prompt_context=True).train()
    torch.nn.init.normal_(voc.out.weight, std=0.1)  # past the first step: the head no longer zero
    text, wav = conditions()
    codes, lengths, target = codes_batch(codec, [5, 3, 6, 1])
    prompt = prompt_embeddings(codec, [4, None, 2, None] if prompted else [None] * 4)
    loss, _ = voc.loss(codes, lengths, *voc.condition_features(text, wav, prompt), target, codec)
    loss.backward()
    assert [n for n, p in voc.named_parameters() if p.grad is None] == []
    assert (voc.conditions.prompt_in.weight.grad.abs().sum() > 0) == prompted


def test_voice_context_is_the_codecs_summed_embeddings_of_each_prompt(registry):
    from laura_core.model.synthesis import voice_context

    codec = make_codec(registry, "b")
    g = torch.Generator().manual_seed(5)
    waves = [torch.randn(3 * codec.hop_length + 5, generator=g) * 0.1, None,
             torch.randn(7 * codec.hop_length, generator=g) * 0.1]
    out = voice_context(codec, waves)
    assert out[1] is None and voice_context(codec, [None]) == [None]
    for wave, got in ((waves[0], out[0]), (waves[2], out[2])):
        with torch.no_grad():
            alone = codec.embed(codec.encode(wave[None, None]), codec.n_q)[0]
        assert got.shape == (codec.dim, codec.frames(len(wave)))
        torch.testing.assert_close(got, alone[:, : got.shape[1]], atol=1e-4, rtol=0)
