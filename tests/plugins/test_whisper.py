"""The whisper encoder: the same weights read from Hugging Face, CTranslate2 (made by ctranslate2's own
converter) and OpenAI files, outputs equal to transformers' WhisperEncoder, padding-independent."""
import math

import numpy as np
import pytest
import torch

from laura_core.errors import ConfigError
from laura_plugins.encoders.whisper import WhisperEncoder, WhisperEncoderConfig
from laura_plugins.whisper_models import load_whisper_encoder_state, read_ct2

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def hf_whisper(tmp_path_factory):
    """A small random Whisper saved as Hugging Face does, with its encoder module for reference."""
    from transformers import WhisperConfig, WhisperModel

    torch.manual_seed(0)
    cfg = WhisperConfig(d_model=32, encoder_layers=2, encoder_attention_heads=4, decoder_layers=1,
                        decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128, num_mel_bins=80,
                        vocab_size=100, max_source_positions=1500, max_target_positions=64, pad_token_id=0,
                        bos_token_id=1, eos_token_id=2, decoder_start_token_id=1)
    model = WhisperModel(cfg).eval()
    with torch.no_grad():  # non-trivial norms and biases, so that a mixed-up name shows
        for name, p in model.named_parameters():
            if "embed_positions" not in name and p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.1)
    path = tmp_path_factory.mktemp("hf")
    model.save_pretrained(path)
    return path, model.encoder


def _openai_checkpoint(hf_dir, path):
    """The same weights in OpenAI's file layout (whisper/model.py names, dims)."""
    state, shape = load_whisper_encoder_state(str(hf_dir))
    openai = {f"encoder.{k}": v.half() for k, v in state.items()}
    dims = dict(n_mels=shape["n_mels"], n_audio_ctx=1500, n_audio_state=shape["d_model"],
                n_audio_head=shape["n_heads"], n_audio_layer=shape["n_layers"], n_vocab=100, n_text_ctx=64,
                n_text_state=shape["d_model"], n_text_head=4, n_text_layer=1)
    torch.save({"dims": dims, "model_state_dict": openai}, path)
    return path


def test_formats_agree_with_transformers(hf_whisper, tmp_path):
    hf_dir, reference = hf_whisper
    feats = torch.randn(1, 3000, 80)  # a full 30 s window: what transformers' encoder takes
    with torch.no_grad():
        expected = reference(feats.transpose(1, 2)).last_hidden_state
    ct2_dir = tmp_path / "ct2"
    ctranslate2 = pytest.importorskip("ctranslate2")
    try:
        ctranslate2.converters.TransformersConverter(str(hf_dir), load_as_float16=False).convert(str(ct2_dir))
        checkpoints = [str(hf_dir), str(ct2_dir)]
    except Exception as e:  # a converter that needs a tokenizer for this toy model
        pytest.fail(f"ctranslate2 could not convert the model: {e}")
    checkpoints.append(str(_openai_checkpoint(hf_dir, tmp_path / "tiny.pt")))
    for checkpoint in checkpoints:
        enc = WhisperEncoder(WhisperEncoderConfig(checkpoint=checkpoint)).eval()
        assert (enc.config.d_model, enc.config.n_layers, enc.config.n_heads) == (32, 2, 4), checkpoint
        with torch.no_grad():
            hidden, lengths = enc.encode(feats, torch.tensor([3000]))
        assert lengths.tolist() == [1500]
        atol = 2e-2 if checkpoint.endswith(".pt") else 1e-4  # the .pt holds float16 weights
        torch.testing.assert_close(hidden, expected, atol=atol, rtol=0, msg=checkpoint)


def test_ct2_reader_reads_aliases_and_dtypes(hf_whisper, tmp_path):
    ctranslate2 = pytest.importorskip("ctranslate2")
    hf_dir, _ = hf_whisper
    ctranslate2.converters.TransformersConverter(str(hf_dir)).convert(str(tmp_path / "m"), quantization="float16")
    raw = read_ct2(tmp_path / "m" / "model.bin")
    assert raw["encoder/conv1/weight"].dtype == np.float16 and raw["encoder/conv1/weight"].shape == (32, 80, 3)
    assert "decoder/projection/weight" in raw  # an alias of the embeddings, resolved
    np.testing.assert_array_equal(raw["decoder/projection/weight"], raw["decoder/embeddings/weight"])
    bad = tmp_path / "bad" / "model.bin"
    bad.parent.mkdir()
    bad.write_bytes(b"\x06\x00\x00\x00\x05")
    with pytest.raises(ConfigError, match="not a CTranslate2 model.bin"):
        read_ct2(bad)


def test_lengths_padding_and_long_input(hf_whisper):
    hf_dir, _ = hf_whisper
    enc = WhisperEncoder(WhisperEncoderConfig(checkpoint=str(hf_dir), stack=4, output_dim=24)).eval()
    torch.manual_seed(1)
    lengths = [160, 1000, 16000, 33333, 16000 * 31]  # the last crosses a 30 s window
    wavs = [torch.randn(n) * 0.1 for n in lengths]
    batch = torch.nn.utils.rnn.pad_sequence(wavs, batch_first=True)
    expected = [math.ceil(math.ceil(n // 160 / 2) / 4) for n in lengths]
    with torch.no_grad():
        emb, emb_lengths = enc(batch, torch.tensor(lengths))
        assert emb_lengths.tolist() == expected == enc.output_lengths(torch.tensor(lengths)).tolist()
        for wav, n in zip(wavs, expected):
            alone, _ = enc(wav[None], torch.tensor([len(wav)]))
            torch.testing.assert_close(emb[lengths.index(len(wav)), :n], alone[0], atol=1e-4, rtol=0)


def test_frozen_trunk_and_trained_adapter(hf_whisper):
    hf_dir, _ = hf_whisper
    frozen = WhisperEncoder(WhisperEncoderConfig(checkpoint=str(hf_dir)))
    assert frozen.trunk_frozen and all(p.requires_grad for p in frozen.adapter.parameters())
    assert not WhisperEncoder(WhisperEncoderConfig(checkpoint=str(hf_dir), freeze=False)).trunk_frozen


def test_bad_checkpoints_are_named(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        WhisperEncoder(WhisperEncoderConfig(checkpoint=str(tmp_path / "missing")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="neither a CTranslate2"):
        WhisperEncoder(WhisperEncoderConfig(checkpoint=str(tmp_path / "empty")))
    torch.save({"weights": {}}, tmp_path / "x.pt")
    with pytest.raises(ConfigError, match="not an OpenAI Whisper checkpoint"):
        WhisperEncoder(WhisperEncoderConfig(checkpoint=str(tmp_path / "x.pt")))
