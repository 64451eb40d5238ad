import math

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from laura_core.errors import ConfigError
from laura_plugins.encoders.conformer import ConformerConfig, ConformerEncoder

TINY = dict(d_model=16, n_heads=2, ffn_dim=32, n_layers=2, conv_kernel=5, output_dim=24)


def tiny(**options) -> ConformerEncoder:
    torch.manual_seed(0)
    return ConformerEncoder(ConformerConfig(**{**TINY, **options}))


@pytest.mark.parametrize("subsampling", [4, 8, 16])
def test_output_lengths_match_forward(subsampling):
    enc = tiny(subsampling=subsampling).eval()
    lengths = [0, 1, 159, 160, 161, 319, 320, 479, 481, 1000, 1601, 2559, 2561, 3333, 16000, 16159]
    expected = [math.ceil((n // 160) / subsampling) for n in lengths]  # F = S // hop, T = ceil(F / s)
    wav_lengths = torch.tensor(lengths)
    assert enc.output_lengths(wav_lengths).tolist() == expected
    with torch.no_grad():
        emb, emb_lengths = enc(torch.randn(len(lengths), max(lengths)), wav_lengths)
        assert emb_lengths.tolist() == expected and emb.shape == (len(lengths), max(expected), 24)
        assert torch.isfinite(emb).all()  # the empty items too
        for n, t in zip(lengths, expected):
            alone, alone_lengths = enc(torch.randn(1, n), torch.tensor([n]))
            assert alone.shape[1] == alone_lengths.item() == t


def test_frame_rate():
    enc = tiny()
    feats, feat_lengths = enc.features(torch.randn(2, 16000), torch.tensor([16000, 8000]))
    assert feats.shape == (2, 100, 80) and feat_lengths.tolist() == [100, 50]  # 10 ms frames, exactly S // 160
    for subsampling, frames in [(4, 25), (8, 13), (16, 7)]:
        assert tiny(subsampling=subsampling).output_lengths(torch.tensor([16000])).item() == frames


@pytest.mark.parametrize("pad,subsampling", [("zeros", 4), ("noise", 4), ("noise", 16)])
def test_padded_batch_equals_items_alone(pad, subsampling):
    enc = tiny(subsampling=subsampling).eval()
    torch.manual_seed(1)
    items = [torch.randn(n) * 0.1 for n in (16000, 11111, 4321)]
    batch = torch.zeros(3, 16000) if pad == "zeros" else torch.randn(3, 16000)
    for i, wav in enumerate(items):
        batch[i, : len(wav)] = wav
    lengths = torch.tensor([len(w) for w in items])
    with torch.no_grad():
        feats, feat_lengths = enc.features(batch, lengths)
        emb, emb_lengths = enc.adapt(*enc.encode(feats, feat_lengths))
        for i, wav in enumerate(items):
            f, fl = enc.features(wav[None], lengths[i : i + 1])
            e, el = enc.adapt(*enc.encode(f, fl))
            assert fl.item() == feat_lengths[i] and el.item() == emb_lengths[i]
            torch.testing.assert_close(feats[i, : fl.item()], f[0], atol=1e-5, rtol=0)
            torch.testing.assert_close(emb[i, : el.item()], e[0], atol=1e-5, rtol=0)


def test_layer_norm_not_batch_norm():
    enc = tiny()
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in enc.modules())
    assert all(isinstance(block.conv.depthwise_norm, nn.LayerNorm) for block in enc.blocks)


def test_gradient_reaches_every_parameter():
    enc = tiny(output_dim=40).train()
    emb, lengths = enc(torch.randn(2, 4800), torch.tensor([4800, 3000]))
    assert enc.output_dim == 40 and emb.shape == (2, 8, 40) and lengths.tolist() == [8, 5]
    valid = torch.arange(emb.shape[1]) < lengths[:, None]
    (emb * torch.randn_like(emb))[valid].sum().backward()
    for name, p in enc.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_pretrained_round_trip(tmp_path):
    source = tiny().eval()
    wav, lengths = torch.randn(2, 8000), torch.tensor([8000, 5000])
    path = tmp_path / "encoder.safetensors"
    save_file(source.state_dict(), path)
    loaded = ConformerEncoder(ConformerConfig(**TINY, pretrained=str(path))).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(wav, lengths), source(wav, lengths), atol=0, rtol=0)

    # An ASR-trained encoder has no adapter: it loads, and the adapter stays fresh.
    encoder_only = {k: v for k, v in source.state_dict().items() if not k.startswith("adapter.")}
    save_file(encoder_only, path)
    loaded = ConformerEncoder(ConformerConfig(**TINY, pretrained=str(path)))
    assert torch.equal(loaded.blocks[1].conv.depthwise.weight, source.blocks[1].conv.depthwise.weight)

    del encoder_only["blocks.0.conv.depthwise.weight"]
    save_file(encoder_only, path)
    with pytest.raises(ConfigError, match=r"missing key 'blocks\.0\.conv\.depthwise\.weight'"):
        ConformerEncoder(ConformerConfig(**TINY, pretrained=str(path)))

    with pytest.raises(ConfigError, match="pretrained.*cannot read"):
        ConformerEncoder(ConformerConfig(**TINY, pretrained=str(tmp_path / "absent.safetensors")))


def test_pretrained_shape_mismatch(tmp_path):
    path = tmp_path / "encoder.safetensors"
    save_file(tiny(conv_kernel=7).state_dict(), path)
    with pytest.raises(ConfigError, match=r"'blocks\.0\.conv\.depthwise\.weight' has shape \(16, 1, 7\)"):
        ConformerEncoder(ConformerConfig(**TINY, pretrained=str(path)))


def test_registry(registry):
    enc = registry.create("encoder", "conformer", d_model=32, n_heads=4, n_layers=1, output_dim=48)
    assert isinstance(enc, ConformerEncoder) and enc.config.d_model == 32 and enc.output_dim == 48
    assert enc.sample_rate == 16000
    with pytest.raises(ConfigError, match="d_modle"):
        registry.create("encoder", "conformer", d_modle=32)
    with pytest.raises(ConfigError, match="subsampling"):
        registry.create("encoder", "conformer", subsampling=6)
    with pytest.raises(ConfigError, match="conv_kernel"):
        registry.create("encoder", "conformer", conv_kernel=4)


def test_runs_when_cast_to_bfloat16():
    enc = tiny().eval().to(torch.bfloat16)
    with torch.no_grad():
        emb, lengths = enc(torch.randn(2, 8000), torch.tensor([8000, 4000]))
    assert emb.dtype == torch.bfloat16 and emb.shape == (2, 13, 24) and lengths.tolist() == [13, 7]
