import copy
import math

import pytest
import torch

from laura_core.errors import ConfigError
from laura_plugins.codecs.laura_codec import LauraCodec, LauraCodecConfig
from laura_plugins.codecs.laura_codec.quantizer import ResidualVQ


DOMAINS = ["tiny", "tiny_freq"]  # the test size of each domain: time (SEANet) and frequency (STFT)


def tiny(registry, seed: int = 0, size: str = "tiny", **options) -> LauraCodec:
    torch.manual_seed(seed)
    return registry.create("codec", "laura_codec", size=size, **options)


def clip(speech, samples: int) -> torch.Tensor:
    return torch.as_tensor(speech["a"][:samples]).float()[None, None]  # [1, 1, S]


def si_sdr(est: torch.Tensor, ref: torch.Tensor) -> float:
    est, ref = est.flatten().double(), ref.flatten().double()
    target = (est @ ref) / (ref @ ref) * ref
    return 10 * math.log10(target.square().sum() / (est - target).square().sum())


def test_registered_with_sizes(registry):
    reg = registry.component("codec", "laura_codec")
    assert reg.config is LauraCodecConfig and set(reg.sizes) == {"tiny", "small", "tiny_freq", "small_freq", "paper"}
    codec = tiny(registry)
    n_params = sum(p.numel() for p in codec.parameters())
    assert 1_000 < n_params < 100_000, n_params
    for size in ("small", "small_freq"):  # the CPU recipe's: the paper's 25 Hz
        small = registry.create("codec", "laura_codec", size=size)
        assert (small.frame_rate, small.n_q, small.codebook_size) == (25.0, 8, 256)


@pytest.mark.parametrize("size", DOMAINS)
@pytest.mark.parametrize("options,rate,frame_rate", [
    ({}, 16000, 500.0),  # tiny: strides [4, 4, 2]
    # A 16 x 512 codec with other strides and rate: nothing may assume 32 x 1024 or hop 640.
    (dict(n_q=16, codebook_size=512, strides=[5, 4, 2], sample_rate=24000, quantizer_dropout=[4, 16]), 24000, 600.0),
])
def test_frame_rate_and_shapes(registry, options, rate, frame_rate, size):
    if size == "tiny_freq" and "strides" in options:
        options = {**options, "stft_hop": 10, "n_fft": 40}  # the STFT hop divides the hop (40)
    codec = tiny(registry, size=size, **options).eval()
    hop = math.prod(codec.config.strides)
    assert codec.hop_length == hop and codec.sample_rate == rate
    assert codec.frame_rate == frame_rate == rate / hop
    with torch.no_grad():
        for samples in (1, hop - 1, hop, hop + 1, 7 * hop + 3):
            frames = math.ceil(samples / hop)
            codes = codec.encode(torch.randn(2, 1, samples) * 0.1)
            assert codes.shape == (2, codec.n_q, frames) and codec.frames(samples) == frames
            assert codec.encode(torch.randn(2, 1, samples), n_q=2).shape == (2, 2, frames)
            assert codec.embed(codes).shape == (2, codec.dim, frames)
            assert codec.decode(codes).shape == (2, 1, frames * hop)
            assert codec.decode(codes[:, :1]).shape == (2, 1, frames * hop)
        with pytest.raises(ValueError, match="groups"):
            codec.embed(codes[:, :2], 3)


@pytest.mark.parametrize("size", ["tiny", "small", "tiny_freq", "small_freq"])
def test_the_encoder_passes_its_input_on_from_the_start(registry, speech, size):
    # Two utterances must give clearly different latents before any training. With PyTorch's default
    # initialisation each layer kept a third of the variance, the latents of different inputs differed
    # by 0.02% of their size, and the codec never learnt to encode: its first group stayed on one code.
    torch.manual_seed(0)
    codec = registry.create("codec", "laura_codec", size=size)
    a = torch.as_tensor(speech["a"][:16000]).float()[None, None]
    b = torch.as_tensor(speech["b"][:16000]).float()[None, None]
    with torch.no_grad():
        za, zb = codec.encoder(a), codec.encoder(b)
    assert (za - zb).norm() > 0.1 * za.norm()


@pytest.mark.parametrize("size", DOMAINS)
def test_codes_are_integers_in_range(registry, speech, size):
    codec = tiny(registry, size=size)
    wav = clip(speech, 8000)
    for _ in range(3):  # k-means initialisation, EMA updates, dead-code replacement
        codec.training_losses(wav, torch.tensor([8000]), adversarial=False)
    codec.eval()
    with torch.no_grad():
        for x in (wav, torch.randn(3, 1, 1000), 5 * torch.randn(1, 1, 640)):
            codes = codec.encode(x)
            assert codes.dtype == torch.long
            assert 0 <= int(codes.min()) and int(codes.max()) < codec.codebook_size


def test_error_decreases_with_each_quantizer(registry, speech):
    codec = tiny(registry, n_q=8, quantizer_dropout=[])
    with torch.no_grad():
        z = codec.encoder(clip(speech, 16000))
        codec.quantizer.initialize(z)  # k-means on these latents, as the first training step does
        errors = [z.square().mean().item()]  # no quantizer: the latent itself
        for n in range(1, codec.n_q + 1):
            errors.append((z - codec.quantizer.decode(codec.quantizer.encode(z, n))).square().mean().item())
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 0.01 * errors[1]  # each level removes a good share of what is left


def test_codebook_settles_with_small_batches():
    # 16 vectors per step for 64 codes: a code is used once every 4 steps on average. The codebook must
    # still settle on the data's 64 clusters and keep its mapping, not replace unused codes at every
    # step: an absolute dead-code count of 2 did, and ended with one code for everything.
    from laura_plugins.codecs.laura_codec.quantizer import Codebook

    g = torch.Generator().manual_seed(0)
    centres = 3 * torch.randn(64, 8, generator=g)

    def batch(n=16):
        return centres[torch.randint(64, (n,), generator=g)] + 0.05 * torch.randn(n, 8, generator=g)
    torch.manual_seed(0)
    book = Codebook(dim=8, size=64, decay=0.99, kmeans_iters=10, dead_code_share=0.1)
    book(batch(256), update=True)  # k-means on a first, larger batch
    for _ in range(300):
        book(batch(), update=True)
    settled = book.encode(centres)
    for _ in range(50):
        book(batch(), update=True)
    assert torch.equal(book.encode(centres), settled)
    assert len(settled.unique()) >= 40  # k-means leaves some clusters sharing a code; most have their own
    assert (book.decode(settled) - centres).norm(dim=1).median() < 0.5


def test_structured_dropout_draws_from_the_configured_set():
    torch.manual_seed(0)
    rvq = ResidualVQ(dim=4, n_q=6, codebook_size=8, kmeans_iters=1, dropout_choices=[1, 3, 6]).train()
    z = torch.randn(2, 4, 10)
    drawn = []
    for _ in range(60):
        out = rvq(z)
        assert out.codes.shape == (2, out.n_q, 10)
        drawn.append(out.n_q)
    assert set(drawn) == {1, 3, 6}
    assert rvq.eval()(z).n_q == 6  # no dropout outside training
    always_all = ResidualVQ(dim=4, n_q=6, codebook_size=8, kmeans_iters=1, dropout_choices=[]).train()
    assert {always_all(z).n_q for _ in range(10)} == {6}


def test_embed_equals_quantized_output(registry, speech):
    codec = tiny(registry)
    wav = clip(speech, 4000)
    codec.training_losses(wav, torch.tensor([4000]), adversarial=False)  # initialise the codebooks
    codec.eval()
    with torch.no_grad():
        z = codec.encoder(wav)
        for n in (1, 3, codec.n_q):
            out = codec.quantizer(z, n)
            assert torch.equal(out.codes, codec.encode(wav, n))
            torch.testing.assert_close(codec.embed(out.codes), out.quantized, atol=1e-5, rtol=0)
            full = codec.encode(wav)
            torch.testing.assert_close(codec.embed(full, n), out.quantized, atol=1e-5, rtol=0)


def test_generator_and_discriminator_gradients_stay_apart(registry, speech):
    codec = tiny(registry)
    groups = codec.param_groups()
    gen, disc = groups["generator"], groups["discriminator"]
    assert {id(p) for p in gen}.isdisjoint(id(p) for p in disc)
    assert len(gen) + len(disc) == len(list(codec.parameters()))

    wav = torch.cat([clip(speech, 6000), clip(speech, 6000).roll(1000, -1)])
    losses = codec.training_losses(wav, torch.tensor([6000, 4500]), adversarial=True)
    assert {"l1", "mel", "spec", "commit", "adv", "fm", "disc", "n_q"} <= set(losses.values)
    g_gen = torch.autograd.grad(losses.generator, gen + disc, retain_graph=True, allow_unused=True)
    g_disc = torch.autograd.grad(losses.discriminator, gen + disc, allow_unused=True)
    assert all(g is None for g in g_gen[len(gen):])  # generator loss: no discriminator weight
    assert all(g is None for g in g_disc[: len(gen)])  # discriminator loss: no generator weight
    assert sum(g is not None and bool(g.abs().sum() > 0) for g in g_gen[: len(gen)]) > 0.9 * len(gen)
    # (The hinge loss gives the last bias no gradient while every logit is inside (-1, 1).)
    assert all(g is not None for g in g_disc[len(gen):])
    assert sum(bool(g.abs().sum() > 0) for g in g_disc[len(gen):]) > 0.9 * len(disc)

    warmup = codec.training_losses(wav, torch.tensor([6000, 4500]), adversarial=False)
    assert warmup.discriminator is None and "adv" not in warmup.values


@pytest.mark.parametrize("size", DOMAINS)
def test_samples_past_lengths_do_not_matter(registry, speech, size):
    codec = tiny(registry, size=size)
    wav = torch.cat([clip(speech, 6000), clip(speech, 6000)])
    noisy = wav.clone()
    noisy[1, :, 3000:] = torch.randn(1, 3000)
    lengths = torch.tensor([6000, 3000])
    values = []
    for x in (wav, noisy):
        model = copy.deepcopy(codec)
        torch.manual_seed(1)  # same k-means start and quantizer dropout
        values.append(model.training_losses(x, lengths, adversarial=True).values)
    assert values[0] == values[1]


@pytest.mark.parametrize("size", DOMAINS)
def test_state_dict_holds_codebooks_and_inference_leaves_out_the_discriminator(registry, speech, size):
    codec = tiny(registry, size=size)
    wav = clip(speech, 4000)
    codec.training_losses(wav, torch.tensor([4000]), adversarial=False)
    state = codec.state_dict()
    assert bool(state["quantizer.layers.0.initialized"]) and "quantizer.layers.3.cluster_size" in state
    assert not any("window" in k or ".fb" in k for k in state)  # fixed analysis buffers are not saved
    inference = codec.inference_state_dict()
    assert inference.keys() == {k for k in state if not k.startswith("discriminator.")}
    assert any(k.startswith("discriminator.") for k in state)

    fresh = tiny(registry, seed=5, size=size)
    missing, unexpected = fresh.load_state_dict(inference, strict=False)
    assert not unexpected and all(k.startswith("discriminator.") for k in missing)
    codec.eval(), fresh.eval()
    with torch.no_grad():
        codes = codec.encode(wav)
        assert torch.equal(fresh.encode(wav), codes)
        torch.testing.assert_close(fresh.decode(codes), codec.decode(codes))
    assert bool(fresh.quantizer.layers[0].initialized)  # resumed: no second k-means


def test_distributed_single_rank_matches_local(registry, speech, tmp_path):
    """The all-reduce / broadcast code path (world size 1) gives what a local run gives."""
    import torch.distributed as dist

    wav = clip(speech, 4000)
    results = []
    for distributed in (False, True):
        codec = tiny(registry, seed=2)
        if distributed:
            dist.init_process_group("gloo", store=dist.FileStore(str(tmp_path / "store"), 1), rank=0, world_size=1)
        try:
            torch.manual_seed(3)
            for _ in range(2):
                codec.training_losses(wav, torch.tensor([4000]), adversarial=False)
        finally:
            if distributed:
                dist.destroy_process_group()
        results.append(codec.quantizer.state_dict())
    for k, v in results[0].items():
        assert torch.equal(v, results[1][k]), k


def test_training_improves_si_sdr(registry, speech):
    """A tiny codec trained for 250 CPU steps on one clip reconstructs it far better than after one step.

    The multi-scale spectral terms are switched off here: they are blind to phase, so in a few hundred
    steps only the waveform L1 can move SI-SDR (in full training the two work together)."""
    codec = tiny(registry, seed=3, quantizer_dropout=[], l1_weight=1.0, mel_weight=0.0, spec_weight=0.0)
    wav, lengths = clip(speech, 8000), torch.tensor([8000])
    opt = torch.optim.Adam(codec.param_groups()["generator"], lr=3e-3, betas=(0.5, 0.9))

    def score() -> float:
        codec.eval()
        with torch.no_grad():
            out = si_sdr(codec.decode(codec.encode(wav)), wav)
        codec.train()
        return out

    for step in range(250):
        losses = codec.training_losses(wav, lengths, adversarial=False)
        opt.zero_grad()
        losses.generator.backward()
        opt.step()
        if step == 0:
            first = score()
    last = score()
    assert last > first + 20.0, (first, last)


@pytest.mark.parametrize("size", DOMAINS)
def test_adversarial_training_steps_run(registry, speech, size):
    """Both optimizers step from one backward pass of generator + discriminator with the default losses."""
    codec = tiny(registry, size=size)
    groups = codec.param_groups()
    opts = {name: torch.optim.Adam(params, lr=3e-4, betas=(0.5, 0.9)) for name, params in groups.items()}
    before = {name: [p.detach().clone() for p in params] for name, params in groups.items()}
    wav = clip(speech, 4000)
    mels = []
    for _ in range(8):
        losses = codec.training_losses(wav, torch.tensor([4000]), adversarial=True)
        for opt in opts.values():
            opt.zero_grad()
        (losses.generator + losses.discriminator).backward()
        for opt in opts.values():
            opt.step()
        assert all(math.isfinite(v) for v in losses.values.values())
        mels.append(losses.values["mel"])
    for name, params in groups.items():
        assert any(not torch.equal(p, b) for p, b in zip(params, before[name])), name
    assert mels[-1] < mels[0]


def test_frequency_domain_training_brings_the_mel_spectrum_close(registry, speech):
    """The frequency-domain codec learns the log-mel spectrum of a clip (what the judges of speech
    output, Whisper and the speaker encoder, listen to) in 200 CPU steps; its phase is its own, so
    SI-SDR is no measure of it."""
    codec = tiny(registry, seed=3, size="tiny_freq", quantizer_dropout=[], width=32, layers=2)
    wav, lengths = clip(speech, 8000), torch.tensor([8000])
    opt = torch.optim.Adam(codec.param_groups()["generator"], lr=3e-3, betas=(0.5, 0.9))
    mels = []
    for _ in range(200):
        losses = codec.training_losses(wav, lengths, adversarial=False)
        opt.zero_grad()
        losses.generator.backward()
        opt.step()
        mels.append(losses.values["mel"])
    assert sum(mels[-10:]) / 10 < 0.5 * sum(mels[:10]) / 10, (mels[:10], mels[-10:])
    codec.eval()
    with torch.no_grad():  # and the decoded waveform is that spectrum: the loss measured again at inference
        mel, _ = codec.spectral_loss(codec.decode(codec.encode(wav)), wav)
    assert float(mel) < 0.5 * sum(mels[:10]) / 10


def test_frequency_domain_batches_code_each_item_as_alone(registry, speech):
    """The STFT encoder zeroes past each item's frames at every layer: a padded batch gives each item the
    codes and latents it gets alone."""
    codec = tiny(registry, size="tiny_freq").eval()
    a, b = clip(speech, 3000), torch.as_tensor(speech["b"][:1700]).float()[None, None]
    batch = torch.zeros(2, 1, 3008)
    batch[0, :, :3000], batch[1, :, :1700] = a, b
    with torch.no_grad():
        codec.quantizer.initialize(codec.encoder(codec._pad(batch)))
        together = codec.encode(batch, lengths=torch.tensor([3000, 1700]))
        alone = [codec.encode(a), codec.encode(b)]
        z_alone = codec.encoder(codec._pad(b))
        z_batch = codec.encoder(codec._pad(batch), torch.tensor([94, 54]))[1:, :, :54]
    torch.testing.assert_close(z_batch, z_alone, atol=1e-5, rtol=1e-5)
    assert torch.equal(together[0], alone[0][0]) and torch.equal(together[1, :, :54], alone[1][0])


def test_paper_config(registry):
    torch.manual_seed(0)
    codec = registry.create("codec", "laura_codec", size="paper")
    assert (codec.sample_rate, codec.hop_length, codec.frame_rate) == (16000, 640, 25.0)
    assert (codec.n_q, codec.codebook_size, codec.dim) == (32, 1024, 128)
    assert codec.config.strides == [8, 5, 4, 2, 2] and codec.config.quantizer_dropout == [2, 4, 8, 16, 32]
    n_generator = sum(p.numel() for p in codec.param_groups()["generator"])
    assert 50e6 < n_generator < 65e6, n_generator  # FunCodec's released model: 57.8M
    with torch.no_grad():
        assert codec.eval().encode(torch.zeros(1, 1, 1000)).shape == (1, 32, 2)


@pytest.mark.parametrize("options,field", [
    (dict(strides=[]), "strides"),
    (dict(strides=[4, 0]), "strides"),
    (dict(quantizer_dropout=[2, 64]), "quantizer_dropout"),
    (dict(ema_decay=1.0), "ema_decay"),
    (dict(mel_windows=[2]), "mel_windows"),
    (dict(codebook_size=0), "codebook_size"),
    (dict(domain="wavelet"), "domain"),
    (dict(domain="frequency", stft_hop=12), "stft_hop"),  # does not divide the hop, 32
    (dict(domain="frequency", stft_hop=16, n_fft=24), "n_fft"),  # too little overlap for the inverse STFT
])
def test_config_errors_name_the_field(registry, options, field):
    with pytest.raises(ConfigError, match=rf"LauraCodecConfig\.{field} ="):
        registry.create("codec", "laura_codec", size="tiny", **options)


@pytest.mark.parametrize("stride", [2, 4, 5, 8])
@pytest.mark.parametrize("norm", [True, False])
def test_transposed_convolution_in_polyphase_form_equals_the_module(stride, norm):
    """Without autograd the decoder's upsampling runs as a two-tap convolution: the same outputs."""
    from laura_plugins.codecs.laura_codec.seanet import ConvTranspose

    torch.manual_seed(stride)
    layer = ConvTranspose(12, 6, 2 * stride, stride, norm=norm)
    with torch.no_grad():
        layer.conv.bias.normal_()
    x = torch.randn(3, 12, 17)
    expected = layer(x)  # autograd on: the module's own ConvTranspose1d
    with torch.no_grad():
        fast = layer(x)
    assert expected.shape == fast.shape == (3, 6, 17 * stride)
    torch.testing.assert_close(fast, expected.detach(), rtol=1e-5, atol=1e-5)
