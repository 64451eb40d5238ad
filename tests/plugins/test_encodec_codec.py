import math
import pickle
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from laura_core.errors import ConfigError
from laura_core.model.codec import load_codec, save_codec, weights_hash
from laura_core.registry import Registry
from laura_plugins.codecs import encodec as plugin
from laura_plugins.codecs.encodec import BANDWIDTHS, EncodecCodec, EncodecConfig

HOP = 320


def _plant(path: str) -> None:
    """What a malicious checkpoint would run on unpickling: leaves a marker file."""
    Path(path).write_text("code ran")


class _Payload:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return _plant, (self.marker,)


def _signal(batch: int, samples: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(batch, 1, samples, generator=g)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small tensors: one thread is as fast, and immune to a busy machine (spinning threads made this file
    ten times slower on a loaded 2-core runner)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def codec() -> EncodecCodec:
    return EncodecCodec(EncodecConfig(bandwidth=6.0))


@pytest.fixture(scope="module")
def reference():
    """A randomly initialised EnCodec of the package (fixed seed, codebooks drawn so codes are diverse),
    and its state dict saved with torch.save exactly as Meta's checkpoints are."""
    torch.manual_seed(1234)
    model = plugin._build_model("24khz")
    plugin._fit_codebooks(model, torch.Generator().manual_seed(7))
    model.set_target_bandwidth(6.0)
    return model.eval()


@pytest.fixture(scope="module")
def checkpoint(reference, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "encodec_24khz-test.th"
    torch.save(reference.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def loaded(checkpoint) -> EncodecCodec:
    return EncodecCodec(EncodecConfig(bandwidth=6.0, checkpoint=str(checkpoint)))


# -- config and attributes ----------------------------------------------------------------------------

def test_config_checks():
    assert BANDWIDTHS["24khz"] == tuple(plugin._build_model("24khz").target_bandwidths)  # the package's own list
    with pytest.raises(ConfigError, match=r"bandwidth = 5\.0.*1\.5, 3, 6, 12, 24 kbps"):
        EncodecConfig(bandwidth=5.0)
    with pytest.raises(ConfigError, match="48khz.*not supported.*stereo.*overlap-add.*scale"):
        EncodecConfig(model="48khz", bandwidth=6.0)
    with pytest.raises(ConfigError, match="model = '16khz'"):
        EncodecConfig(model="16khz")


@pytest.mark.parametrize("bandwidth, n_q", [(1.5, 2), (3.0, 4), (6.0, 8), (12.0, 16), (24.0, 32)])
def test_attributes_and_n_q(bandwidth, n_q):
    codec = EncodecCodec(EncodecConfig(bandwidth=bandwidth))
    assert (codec.sample_rate, codec.hop_length, codec.codebook_size, codec.dim) == (24000, 320, 1024, 128)
    assert codec.frame_rate == 75.0
    assert codec.n_q == n_q
    q = codec.model.quantizer  # the package's own rule: floor(bandwidth / (10 bits x 75 Hz))
    assert q.get_num_quantizers_for_bandwidth(codec.model.frame_rate, bandwidth) == n_q
    assert sum(p.numel() for p in codec.parameters()) == 14_851_810
    codes = codec.encode(_signal(1, 2000))
    assert codes.shape == (1, n_q, 7)


def test_registered_and_built_through_the_registry(checkpoint):
    registry = Registry(autoload=False)
    registry.add_plugin(plugin, name="encodec_codec")
    assert registry.component("codec", "encodec").config is EncodecConfig
    codec = registry.create("codec", "encodec", bandwidth=1.5, checkpoint=str(checkpoint))
    assert isinstance(codec, EncodecCodec) and codec.n_q == 2
    with pytest.raises(ConfigError, match="bandwidth"):
        registry.create("codec", "encodec", bandwidth=2)


# -- encode: shapes, values, lengths ---------------------------------------------------------------------

def test_codes_shape_range_and_lengths(codec):
    for samples in [1, 319, 320, 321, 1000, 24000, 24001]:
        frames = math.ceil(samples / HOP)
        codes = codec.encode(_signal(2, samples))
        assert codec.frames(samples) == frames
        assert codes.shape == (2, 8, frames) and codes.dtype == torch.long
        assert 0 <= int(codes.min()) and int(codes.max()) < 1024
        if samples <= 1000:  # decoding is the slow part
            assert codec.decode(codes).shape == (2, 1, frames * HOP)  # exactly T * hop samples
    assert codes.unique().numel() > 100  # random weights still give diverse codes, not a constant
    assert codec.encode(torch.zeros(3, 1, 0)).shape == (3, 8, 0)
    assert codec.decode(torch.zeros(3, 8, 0, dtype=torch.long)).shape == (3, 1, 0)


def test_fewer_groups_are_a_prefix(codec):
    wav = _signal(2, 5000)
    full = codec.encode(wav)
    assert torch.equal(codec.encode(wav, n_q=3), full[:, :3])
    with pytest.raises(ValueError, match="n_q = 9"):
        codec.encode(wav, n_q=9)
    with pytest.raises(ValueError, match=r"wav \[B, 1, S\]"):
        codec.encode(wav[:, 0])


def test_padding_never_changes_a_clips_codes(codec):
    """Causal model, zero padding to a whole frame: a clip of 7 frames or more has the same codes alone and in
    a padded batch. (Below 7 frames EnCodec's left reflection padding reads frames the padding fills.)"""
    for samples in (1921, 3000):
        clip = _signal(1, samples, seed=3)
        batch = torch.cat([F.pad(clip, (0, 6000 - samples)), _signal(1, 6000, seed=4)])
        alone, together = codec.encode(clip), codec.encode(batch)
        assert alone.shape[-1] == math.ceil(samples / HOP) and torch.equal(together[:1, :, : alone.shape[-1]], alone)


# -- agreement with EnCodec's own encode / quantizer / decode ---------------------------------------------

def test_encode_equals_encodec(loaded, reference):
    wav = _signal(2, 24000, seed=5)  # a whole number of frames: EnCodec sees the same input
    with torch.no_grad():
        theirs, scale = reference.encode(wav)[0]
    assert scale is None and theirs.shape == (2, 8, 75)
    assert torch.equal(loaded.encode(wav), theirs)
    wav = _signal(2, 1000, seed=6)  # otherwise the plugin zero-pads to T * hop first
    with torch.no_grad():
        theirs = reference.encode(F.pad(wav, (0, 1280 - 1000)))[0][0]
    assert torch.equal(loaded.encode(wav), theirs)


def test_embed_equals_quantizer_decode(loaded, reference):
    codes = torch.randint(0, 1024, (2, 8, 11), generator=torch.Generator().manual_seed(8))
    emb = loaded.embed(codes, 8)
    assert emb.shape == (2, 128, 11)
    with torch.no_grad():
        assert torch.equal(emb, reference.quantizer.decode(codes.transpose(0, 1)))
        assert torch.equal(loaded.embed(codes), emb)  # n defaults to all groups given
        three = sum(reference.quantizer.vq.layers[i].codebook[codes[:, i]] for i in range(3))  # [B, T, dim]
        torch.testing.assert_close(loaded.embed(codes, 3), three.transpose(1, 2), rtol=0, atol=1e-6)
        assert torch.equal(loaded.embed(codes[:, :3]), loaded.embed(codes, 3))
    with pytest.raises(ValueError, match="n = 9"):
        loaded.embed(codes, 9)


def test_decode_equals_encodec_decode(loaded, reference):
    wav = _signal(2, 8000, seed=9)
    codes = loaded.encode(wav)
    assert codes.shape == (2, 8, 25)
    with torch.no_grad():
        theirs = reference.decode([(codes, None)])
    ours = loaded.decode(codes)
    assert ours.shape == theirs.shape == (2, 1, 25 * HOP)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    assert ours.abs().max() > 1e-4  # not a silent decoder
    emb = loaded.embed(codes).requires_grad_(True)  # frozen weights, but gradients reach the embeddings
    loaded.decode_embeddings(emb).square().sum().backward()
    assert emb.grad is not None and emb.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in loaded.parameters())


# -- weights: checkpoint loading, random weights, identity -------------------------------------------------

def test_checkpoint_weights_load_exactly(loaded, reference, codec):
    theirs = reference.state_dict()
    ours = loaded.model.state_dict()
    assert ours.keys() == theirs.keys() and len(ours) == 252
    for key, value in theirs.items():
        assert torch.equal(ours[key], value), key
    assert not torch.equal(codec.model.state_dict()["decoder.model.0.conv.conv.weight_v"],
                           theirs["decoder.model.0.conv.conv.weight_v"])  # the checkpoint did replace them


def test_bad_checkpoints_are_config_errors(tmp_path, checkpoint):
    def refused(path, match):
        with pytest.raises(ConfigError, match=match) as err:
            EncodecCodec(EncodecConfig(checkpoint=str(path)))
        assert str(path) in str(err.value)

    refused(tmp_path / "absent.th", "no such file")
    refused(tmp_path, "no such file.*directory")
    (tmp_path / "empty.th").write_bytes(b"")
    refused(tmp_path / "empty.th", "not a readable PyTorch checkpoint")
    (tmp_path / "noise.th").write_bytes(torch.randint(0, 256, (4096,), dtype=torch.uint8).numpy().tobytes())
    refused(tmp_path / "noise.th", "refused: not a PyTorch checkpoint")
    data = checkpoint.read_bytes()
    (tmp_path / "truncated.th").write_bytes(data[: len(data) // 2])
    refused(tmp_path / "truncated.th", "not a readable PyTorch checkpoint")

    torch.save({"weights": [1, 2, 3]}, tmp_path / "plain.th")
    refused(tmp_path / "plain.th", "not a state dict of tensors")
    state = torch.load(checkpoint, weights_only=True)
    torch.save({k: v for k, v in state.items() if k != "decoder.model.0.conv.conv.bias"}, tmp_path / "missing.th")
    refused(tmp_path / "missing.th", "missing key 'decoder.model.0.conv.conv.bias'")
    state["quantizer.vq.layers.0._codebook.embed"] = torch.zeros(512, 128)
    torch.save(state, tmp_path / "shape.th")
    refused(tmp_path / "shape.th", r"_codebook.embed' has shape \(512, 128\), the model needs \(1024, 128\)")


def test_pickled_objects_are_refused_never_run(tmp_path):
    marker = tmp_path / "marker"
    torch.save(_Payload(marker), tmp_path / "object.th")
    torch.save({"encoder.model.0.conv.conv.bias": torch.zeros(32), "x": _Payload(marker)}, tmp_path / "mixed.th")
    (tmp_path / "raw.th").write_bytes(pickle.dumps(_Payload(marker)))
    for name in ("object.th", "mixed.th", "raw.th"):
        with pytest.raises(ConfigError, match=f"{name}.*refused.*never runs code"):
            EncodecCodec(EncodecConfig(checkpoint=str(tmp_path / name)))
        assert not marker.exists(), name
    pickle.loads((tmp_path / "raw.th").read_bytes())  # the control: unpickling it plainly does run the code
    assert marker.read_text() == "code ran"


def test_random_weights_are_fixed_and_leave_the_callers_rng_alone(codec):
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    again = EncodecCodec(EncodecConfig(bandwidth=6.0))
    assert torch.equal(torch.rand(3), expected)
    assert weights_hash(again.inference_state_dict()) == weights_hash(codec.inference_state_dict())


def test_inference_weights_and_codec_directory(tmp_path, codec):
    state = codec.inference_state_dict()
    assert "model.quantizer.vq.layers.7._codebook.embed" in state
    assert "model.quantizer.vq.layers.8._codebook.embed" not in state  # 6 kbps uses 8 codebooks
    assert not any(k.endswith(("embed_avg", "cluster_size", "inited")) for k in state)
    low = EncodecCodec(EncodecConfig(bandwidth=1.5))
    assert weights_hash(low.inference_state_dict()) != weights_hash(state)  # each bandwidth its own identity

    registry = Registry(autoload=False)
    registry.add_plugin(plugin, name="encodec_codec")
    save_codec(codec, "encodec", {"model": "24khz", "bandwidth": 6.0, "checkpoint": ""}, tmp_path / "codec")
    again, identity = load_codec(tmp_path / "codec", registry)
    assert identity == f"encodec-{weights_hash(state)}"
    wav = _signal(1, 3000, seed=10)
    assert torch.equal(again.encode(wav), codec.encode(wav))


def test_an_exported_directory_no_longer_needs_the_checkpoint_file(tmp_path, checkpoint, loaded):
    """`laura codec export encodec DIR checkpoint=FILE`: the directory holds the weights; FILE may go."""
    from laura_core.cli import main

    moved = tmp_path / "encodec_24khz-copy.th"
    moved.write_bytes(checkpoint.read_bytes())
    assert main(["codec", "export", "encodec", str(tmp_path / "codec"), f"checkpoint={moved}", "bandwidth=6"]) == 0
    moved.unlink()
    assert "checkpoint: ''" in (tmp_path / "codec" / "codec.yaml").read_text()

    registry = Registry(autoload=False)
    registry.add_plugin(plugin, name="encodec_codec")
    again, identity = load_codec(tmp_path / "codec", registry)
    assert identity == f"encodec-{weights_hash(loaded.inference_state_dict())}"
    wav = _signal(2, 4000, seed=11)
    assert torch.equal(again.encode(wav), loaded.encode(wav))
