"""The qwen2 backbone against transformers' Qwen2ForCausalLM, its KV cache, padding and checkpoint handling."""
import json

import pytest
import torch
import transformers

from laura_core.errors import ConfigError, DataError
from laura_core.registry import get_registry
from laura_plugins.backbones.qwen2 import Qwen2Backbone, Qwen2Config, attention_bias

TINY = dict(vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2)
PAD = 0


def hf_model(tied: bool) -> transformers.Qwen2ForCausalLM:
    torch.manual_seed(0)
    config = transformers.Qwen2Config(**TINY, tie_word_embeddings=tied, pad_token_id=PAD,
                                      rope_parameters={"rope_type": "default", "rope_theta": 1e6})
    model = transformers.Qwen2ForCausalLM(config).eval()
    with torch.no_grad():  # a fresh model has zero biases and unit norms: perturb them so loading them is tested
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


@pytest.fixture(scope="module", params=[True, False], ids=["tied", "untied"])
def pair(request, tmp_path_factory):
    """(transformers model, ours loaded from its save_pretrained)."""
    hf = hf_model(request.param)
    path = tmp_path_factory.mktemp("qwen2")
    hf.save_pretrained(path)
    return hf, Qwen2Backbone.from_pretrained(path).eval()


def left_padded(lengths: list[int], seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Random prompts of ``lengths``, left-padded: ids and key mask ``[B, max(lengths)]``."""
    g = torch.Generator().manual_seed(seed)
    width = max(lengths)
    ids = torch.randint(1, TINY["vocab_size"], (len(lengths), width), generator=g)
    mask = torch.arange(width) >= width - torch.tensor(lengths)[:, None]
    return ids.masked_fill(~mask, PAD), mask


def positions(mask: torch.Tensor) -> torch.Tensor:
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def full_logits(model: Qwen2Backbone, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return model.logits(model(model.embed(ids), mask, positions(mask)))


def greedy(model: Qwen2Backbone, ids: torch.Tensor, mask: torch.Tensor, steps: int,
           check_against_full: bool = False) -> torch.Tensor:
    """Greedy decoding with the KV cache; optionally checks each step's logits against recomputing everything."""
    cache = model.new_cache(len(ids), ids.shape[1] + steps)
    logits = model.logits(model(model.embed(ids), mask, positions(mask), cache))[:, -1]
    next_pos = mask.sum(-1)
    new = []
    for step in range(steps):
        if check_against_full:
            torch.testing.assert_close(logits, full_logits(model, ids, mask)[:, -1], rtol=0, atol=1e-5)
        token = logits.argmax(-1)
        new.append(token)
        if step == steps - 1:
            break
        ids = torch.cat([ids, token[:, None]], dim=1)
        mask = torch.cat([mask, mask.new_ones(len(ids), 1)], dim=1)
        logits = model.logits(model(model.embed(token[:, None]), mask, next_pos[:, None], cache))[:, -1]
        next_pos = next_pos + 1
    return torch.stack(new, dim=1)


@torch.no_grad()
def test_logits_match_transformers(pair):
    hf, ours = pair
    ids, mask = left_padded([9, 13, 5])
    expected = hf(input_ids=ids, attention_mask=mask.long()).logits
    got = full_logits(ours, ids, mask)
    assert (got - expected)[mask].abs().max() < 1e-4  # padded positions are unspecified


@torch.no_grad()
@pytest.mark.parametrize("lengths", [[7], [4, 10]], ids=["single", "left-padded"])
def test_greedy_matches_transformers_generate(pair, lengths):
    hf, ours = pair
    ids, mask = left_padded(lengths)
    expected = hf.generate(input_ids=ids, attention_mask=mask.long(), do_sample=False, max_new_tokens=20,
                           pad_token_id=PAD)[:, ids.shape[1]:]
    assert torch.equal(greedy(ours, ids, mask, 20), expected)


@torch.no_grad()
def test_sharded_checkpoint_loads(tmp_path):
    hf = hf_model(tied=False)
    hf.save_pretrained(tmp_path, max_shard_size="60KB")
    assert (tmp_path / "model.safetensors.index.json").is_file()
    assert len(list(tmp_path.glob("model-*.safetensors"))) > 1
    ids, mask = left_padded([6, 8])
    got = full_logits(Qwen2Backbone.from_pretrained(tmp_path), ids, mask)
    assert (got - hf(input_ids=ids, attention_mask=mask.long()).logits)[mask].abs().max() < 1e-4


@torch.no_grad()
def test_cache_matches_recomputation():
    torch.manual_seed(0)
    model = Qwen2Backbone(Qwen2Config(**TINY, tie_word_embeddings=False)).eval()
    ids, mask = left_padded([3, 9, 6])
    greedy(model, ids, mask, 12, check_against_full=True)


@torch.no_grad()
def test_left_padding_does_not_change_outputs():
    torch.manual_seed(0)
    model = Qwen2Backbone(Qwen2Config(**TINY)).eval()
    ids, mask = left_padded([8])
    alone = full_logits(model, ids, mask)
    padded_ids = torch.cat([torch.full((1, 5), PAD), ids], dim=1)
    padded_mask = torch.cat([torch.zeros(1, 5, dtype=torch.bool), mask], dim=1)
    padded = full_logits(model, padded_ids, padded_mask)
    # Every query sees at least one key, so no SDPA kernel can give a padding query NaN.
    bias = attention_bias(padded_mask, padded_mask.shape[1], groups=2, dtype=torch.float32)
    assert bias.isfinite().any(-1).all()
    assert torch.isfinite(padded).all()
    torch.testing.assert_close(padded[:, 5:], alone, rtol=0, atol=1e-5)


@torch.no_grad()
@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
def test_resize_vocab_keeps_old_rows(tied):
    torch.manual_seed(0)
    model = Qwen2Backbone(Qwen2Config(**{**TINY, "tie_word_embeddings": tied})).eval()
    ids, mask = left_padded([5, 7])
    ids = ids % 100  # still valid after shrinking to 100 rows
    before = full_logits(model, ids, mask)
    old_rows = model.embed_tokens.weight.clone()
    model.resize_vocab(200)
    assert model.vocab_size == 200 and model.embed_tokens.weight.shape == (200, 64)
    assert torch.equal(model.embed_tokens.weight[:128], old_rows)
    assert (model.lm_head is None) == tied
    after = full_logits(model, ids, mask)
    assert after.shape[-1] == 200
    torch.testing.assert_close(after[..., :128], before, rtol=0, atol=1e-6)
    model.resize_vocab(100)
    torch.testing.assert_close(full_logits(model, ids, mask), before[..., :100], rtol=0, atol=1e-6)


@torch.no_grad()
@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
def test_save_pretrained_loads_in_transformers(tmp_path, tied):
    torch.manual_seed(0)
    ours = Qwen2Backbone(Qwen2Config(**{**TINY, "tie_word_embeddings": tied}, rope_theta=5e5)).eval()
    ours.save_pretrained(tmp_path)
    hf = transformers.Qwen2ForCausalLM.from_pretrained(tmp_path, dtype=torch.float32).eval()
    ids, mask = left_padded([6, 8])
    expected = full_logits(ours, ids, mask)
    assert (hf(input_ids=ids, attention_mask=mask.long()).logits - expected)[mask].abs().max() < 1e-4
    assert torch.equal(full_logits(Qwen2Backbone.from_pretrained(tmp_path), ids, mask), expected)


def write_checkpoint(path, **config_changes):
    torch.manual_seed(0)
    Qwen2Backbone(Qwen2Config(**TINY)).save_pretrained(path)
    config = json.loads((path / "config.json").read_text())
    config.update(config_changes)
    (path / "config.json").write_text(json.dumps({k: v for k, v in config.items() if v is not None}))
    return path


def test_legacy_top_level_rope_theta(tmp_path):
    write_checkpoint(tmp_path, rope_parameters=None, rope_theta=12345.0)
    assert Qwen2Backbone.from_pretrained(tmp_path).config.rope_theta == 12345.0


def test_refuses_other_model_types(tmp_path):
    write_checkpoint(tmp_path, model_type="llama")
    with pytest.raises(ConfigError, match=r"config\.json: model_type is 'llama'"):
        Qwen2Backbone.from_pretrained(tmp_path)


def test_refuses_sliding_window(tmp_path):
    write_checkpoint(tmp_path, use_sliding_window=True, sliding_window=16, max_window_layers=1)
    with pytest.raises(ConfigError, match="sliding-window"):
        Qwen2Backbone.from_pretrained(tmp_path)
    write_checkpoint(tmp_path, use_sliding_window=True, sliding_window=16, max_window_layers=2)
    Qwen2Backbone.from_pretrained(tmp_path)  # no layer uses the window


def test_refuses_missing_tensor(tmp_path):
    from safetensors.torch import load_file, save_file

    write_checkpoint(tmp_path)
    tensors = load_file(tmp_path / "model.safetensors")
    del tensors["model.layers.1.mlp.up_proj.weight"]
    save_file(tensors, tmp_path / "model.safetensors")
    with pytest.raises(DataError, match=r"missing tensors model\.layers\.1\.mlp\.up_proj\.weight;"):
        Qwen2Backbone.from_pretrained(tmp_path)


def test_refuses_pickled_checkpoints(tmp_path):
    write_checkpoint(tmp_path)
    (tmp_path / "model.safetensors").rename(tmp_path / "pytorch_model.bin")
    with pytest.raises(DataError, match="no model.safetensors"):
        Qwen2Backbone.from_pretrained(tmp_path)


def test_registry_builds_it():
    model = get_registry().create("backbone", "qwen2", hidden_size=32, num_attention_heads=2,
                                  num_key_value_heads=1, vocab_size=50, tie_word_embeddings=False)
    assert isinstance(model, Qwen2Backbone)
    assert (model.hidden_size, model.vocab_size, model.lm_head.weight.shape) == (32, 50, (50, 32))
    with pytest.raises(ConfigError, match="hidden_sise"):
        get_registry().create("backbone", "qwen2", hidden_sise=32)
    with pytest.raises(ConfigError, match="num_key_value_heads"):
        get_registry().create("backbone", "qwen2", num_attention_heads=4, num_key_value_heads=3)
