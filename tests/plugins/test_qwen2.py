"""The qwen2 backbone against transformers' Qwen2ForCausalLM, its KV cache, padding and checkpoint handling."""
import contextlib
import json

import pytest
import torch
import transformers
from torch import nn

from laura_core.errors import ConfigError, DataError
from laura_core.registry import get_registry
from laura_plugins.backbones import decode_kernel
from laura_plugins.backbones.qwen2 import Qwen2Backbone, Qwen2Config, attention_bias, onednn_linear_available

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
    assert torch.equal(full_logits(Qwen2Backbone.from_pretrained(tmp_path).eval(), ids, mask), expected)


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


# -- inference weights (the fused, prepacked copy used in eval mode without autograd on CPU) ----------


def perturbed_model(tied: bool = False) -> Qwen2Backbone:
    """A tiny model whose biases and norms are not the fresh zeros and ones, in eval mode."""
    torch.manual_seed(0)
    model = Qwen2Backbone(Qwen2Config(**{**TINY, "tie_word_embeddings": tied})).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


@contextlib.contextmanager
def plain(model: Qwen2Backbone):
    """A context in which ``model`` runs its nn.Linear modules (the reference path)."""
    model.use_inference_weights = False
    try:
        yield
    finally:
        model.use_inference_weights = True


needs_onednn = pytest.mark.skipif(not onednn_linear_available(), reason="this PyTorch has no oneDNN linear")


@torch.no_grad()
@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
@needs_onednn
def test_inference_weights_match_modules(tied):
    model = perturbed_model(tied)
    ids, mask = left_padded([3, 9, 6])
    fast = full_logits(model, ids, mask)
    assert model._inference is not None
    with plain(model):
        expected = full_logits(model, ids, mask)
        assert model.inference_weights(model.embed(ids)) is None
    torch.testing.assert_close(fast, expected, rtol=0, atol=1e-5)
    # Restricted logits: the gathered rows in the order of the ranges.
    hidden = model(model.embed(ids), mask, positions(mask))
    ranges = [(100, 128), (0, 7), (50, 60)]
    restricted = model.logits(hidden, ranges)
    torch.testing.assert_close(restricted, torch.cat([fast[..., lo:hi] for lo, hi in ranges], -1), rtol=0, atol=1e-5)
    with plain(model):
        torch.testing.assert_close(restricted, model.logits(hidden, ranges), rtol=0, atol=1e-5)
    # Decoding with the cache, step by step: the same tokens, logits equal to recomputation.
    tokens = greedy(model, ids, mask, 12, check_against_full=True)
    with plain(model):
        assert torch.equal(tokens, greedy(model, ids, mask, 12))


@torch.no_grad()
@pytest.mark.parametrize("use_cache", [True, False], ids=["cache", "no-cache"])
def test_decode_with_inference_weights_matches_modules_and_transformers(pair, use_cache):
    from laura_core.model.generation import DecodeOptions, Prompt, decode

    hf, ours = pair
    ids, mask = left_padded([4, 10, 7])
    expected = hf.generate(input_ids=ids, attention_mask=mask.long(), do_sample=False, max_new_tokens=16,
                           min_new_tokens=16, pad_token_id=PAD)[:, ids.shape[1]:]
    vocab = ours.vocab_size
    options = DecodeOptions(max_new_tokens=16, min_new_tokens=16, use_cache=use_cache)

    def run():
        prompt = Prompt(ours.embed(ids), mask, [(0, vocab)], torch.full((len(ids),), 16))
        return torch.tensor(decode(ours, prompt, eos_id=vocab - 1, options=options))
    assert torch.equal(run(), expected)
    with plain(ours):
        assert torch.equal(run(), expected)


@needs_onednn
def test_inference_weights_follow_parameter_changes():
    model = perturbed_model()
    ids, mask = left_padded([5, 8])

    def check():
        with torch.no_grad():
            fast = full_logits(model, ids, mask)
            with plain(model):
                expected = full_logits(model, ids, mask)
        torch.testing.assert_close(fast, expected, rtol=0, atol=1e-5)
        return fast

    before = check()
    with torch.no_grad():  # in place (version counter)
        model.layers[0].self_attn.k_proj.bias.add_(1.0)
        model.layers[1].post_attention_layernorm.weight.mul_(2.0)
    after = check()
    assert (after - before).abs().max() > 1e-2
    # load_state_dict, copying into the parameters and replacing them
    other = perturbed_model()
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(-1.5)
    model.load_state_dict(other.state_dict())
    loaded = check()
    with torch.no_grad():
        torch.testing.assert_close(loaded, full_logits(other, ids, mask), rtol=0, atol=1e-5)
    model.load_state_dict(perturbed_model().state_dict(), assign=True)
    torch.testing.assert_close(check(), before, rtol=0, atol=1e-5)
    # a replaced parameter and a replaced submodule
    model.layers[1].mlp.down_proj.weight = nn.Parameter(torch.randn(64, 96))
    check()
    model.layers[0].mlp = type(model.layers[0].mlp)(model.config)
    check()
    # training steps, then eval again
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    model.train()
    assert model._inference is None  # train() drops the copy
    for _ in range(2):
        loss = full_logits(model, ids, mask).logsumexp(-1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    trained = check()
    assert (trained - before).abs().max() > 1e-2
    model.resize_vocab(150)
    assert check().shape[-1] == 150


@needs_onednn
def test_inference_weights_only_where_they_apply():
    import copy
    import pickle

    model = perturbed_model().train()
    assert model.prepare_for_inference() is model and not model.training and model._inference is not None
    ids, mask = left_padded([5, 8])
    x = model.embed(ids)
    with torch.no_grad():
        assert model.inference_weights(x) is model._inference
        model.train()
        assert model.inference_weights(x) is None  # training mode
        model.eval()
        assert model.inference_weights(torch.empty(2, 3, 64, device="meta")) is None  # not CPU
        assert model.inference_weights(x.double()) is None
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert model.inference_weights(x) is None
    assert model.inference_weights(x) is None  # autograd on
    # A forward hook on a submodule: the modules run, so it is called.
    with torch.no_grad():
        expected = full_logits(model, ids, mask)
        calls = []
        handle = model.layers[1].mlp.register_forward_hook(lambda *args: calls.append(1))
        assert model.inference_weights(x) is None
        torch.testing.assert_close(full_logits(model, ids, mask), expected, rtol=0, atol=1e-5)
        assert calls
        handle.remove()
        assert model.inference_weights(x) is not None
    # Copies and pickles leave the derived weights behind and rebuild their own.
    for twin in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert twin._inference is None
        with torch.no_grad():
            torch.testing.assert_close(full_logits(twin, ids, mask), expected, rtol=0, atol=1e-5)


@needs_onednn
def test_inference_session_checks_once():
    model = perturbed_model()
    ids, mask = left_padded([6])
    with torch.no_grad():
        before = full_logits(model, ids, mask)
        with model.inference_session():
            trusted = model._inference
            model.layers[0].mlp.up_proj.weight.mul_(3.0)  # not done during decode(): not seen
            torch.testing.assert_close(full_logits(model, ids, mask), before, rtol=0, atol=0)
            assert model._inference is trusted
        changed = full_logits(model, ids, mask)  # checked again after the session
        with plain(model):
            torch.testing.assert_close(changed, full_logits(model, ids, mask), rtol=0, atol=1e-5)


@torch.no_grad()
def test_without_onednn_the_modules_run(monkeypatch):
    import laura_plugins.backbones.qwen2 as qwen2

    model = perturbed_model()
    ids, mask = left_padded([4, 7])
    with plain(model):
        expected = full_logits(model, ids, mask)
    monkeypatch.setattr(qwen2, "onednn_linear_available", lambda: False)
    assert model.inference_weights(model.embed(ids)) is None
    assert torch.equal(full_logits(model, ids, mask), expected)
    monkeypatch.undo()

    def cannot_pack(*args):
        raise RuntimeError("no kernel for this CPU")
    monkeypatch.setattr(qwen2.FrozenLinear, "__init__", cannot_pack)
    with pytest.warns(UserWarning, match="could not prepack"):
        assert torch.equal(full_logits(model, ids, mask), expected)
    assert not model.use_inference_weights and model.inference_weights(model.embed(ids)) is None


# -- the fused C++ decode step (decode_kernel) ---------------------------------------------------------


def test_fused_decode_step_builds_here():
    # make install provides the compiler and ninja: CI must exercise the kernel, not its fallback.
    assert decode_kernel.load() is not None


@contextlib.contextmanager
def counting_fused_steps(monkeypatch):
    """Counts the fused kernel's decode_step and head_rows calls: {"decode_step": n, "head_rows": m}."""
    ops, calls = decode_kernel.load(), {"decode_step": 0, "head_rows": 0}

    class Counted:
        def __getattr__(self, name):
            def call(*args):
                calls[name] += 1
                return getattr(ops, name)(*args)
            return call
    monkeypatch.setattr(decode_kernel, "load", lambda: Counted())
    yield calls
    monkeypatch.undo()


ODD = dict(vocab_size=70, hidden_size=40, intermediate_size=72, num_hidden_layers=2, num_attention_heads=4,
           num_key_value_heads=2)  # widths that are not multiples of the kernel's 16-float vectors


@torch.no_grad()
@pytest.mark.parametrize("lengths", [[7], [3, 9, 6], [2, 5, 8, 4, 6, 3, 7, 9], [2, 5, 8, 4, 6, 3, 7, 9, 4]],
                         ids=["batch1", "batch3", "batch8", "batch9"])
@pytest.mark.parametrize("sizes", ["tiny", "odd"])
@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
@needs_onednn
def test_fused_decode_step_matches_modules(monkeypatch, lengths, sizes, tied):
    torch.manual_seed(0)
    model = Qwen2Backbone(Qwen2Config(**{**(TINY if sizes == "tiny" else ODD), "tie_word_embeddings": tied})).eval()
    for p in model.parameters():  # biases and norms that are not the fresh zeros and ones
        p.add_(0.1 * torch.randn_like(p))
    ids, mask = left_padded(lengths)
    ids = ids % model.vocab_size
    with counting_fused_steps(monkeypatch) as calls:
        tokens = greedy(model, ids, mask, 10, check_against_full=True)  # each step's logits vs recomputing all
    fused = len(lengths) <= decode_kernel.MAX_ROWS
    assert calls["decode_step"] == (9 if fused else 0)  # the prompt itself goes through oneDNN's matmuls
    with plain(model):
        assert torch.equal(tokens, greedy(model, ids, mask, 10))
    # Step by step against the modules: hidden states, restricted logits and the cache's contents.
    caches = [model.new_cache(len(ids), ids.shape[1] + 4) for _ in range(2)]
    pos = positions(mask)
    for step in range(4):
        outputs = []
        for cache, modules in zip(caches, [False, True]):
            with plain(model) if modules else contextlib.nullcontext():
                x = model.embed(ids if step == 0 else ids[:, -1:])
                hidden = model(x, mask, pos if step == 0 else pos[:, -1:], cache)
                outputs.append((hidden, model.logits(hidden, [(5, 20), (0, 3)])))
        torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=1e-5)
        torch.testing.assert_close(caches[0].keys, caches[1].keys, rtol=0, atol=1e-5)
        torch.testing.assert_close(caches[0].values, caches[1].values, rtol=0, atol=1e-5)
        ids = torch.cat([ids, outputs[0][1][:, -1].argmax(-1, keepdim=True) + 5], dim=1)
        mask = torch.cat([mask, mask.new_ones(len(ids), 1)], dim=1)
        pos = torch.cat([pos, pos[:, -1:] + 1], dim=1)


@torch.no_grad()
@pytest.mark.parametrize("kind", ["bf16", "int8"])
@pytest.mark.parametrize("lengths", [[7], [3, 9, 6, 2, 5, 8, 4, 6], [3, 9, 6, 2, 5, 8, 4, 6, 7, 5, 3]],
                         ids=["batch1", "batch8", "batch11"])
@pytest.mark.parametrize("sizes", ["tiny", "odd"])
@needs_onednn
def test_quantised_decode_weights_are_the_rounded_matrices(monkeypatch, kind, lengths, sizes):
    """A step on bf16 or int8 matrices equals the modules' step on those matrices rounded (dequantised)
    in float32: the kernel reads what it was given, and only the rounding differs from float32."""
    import copy

    from plugins.backbones.qwen2 import MATRICES, _step_weights, pack

    torch.manual_seed(0)
    # Untied: rounding the head must not change the input embeddings of the reference.
    model = Qwen2Backbone(Qwen2Config(**{**(TINY if sizes == "tiny" else ODD), "tie_word_embeddings": False})).eval()
    for p in model.parameters():
        p.add_(0.1 * torch.randn_like(p))
    model.set_decode_weights(kind)
    rounded = copy.deepcopy(model)
    for layer in rounded.layers:
        for i, w in enumerate(_step_weights(layer)):
            if i in MATRICES:
                packed, scale = pack(w, kind)
                w.copy_(packed.float() * scale[:, None] if kind == "int8" else packed.float())
    head = rounded.lm_head.weight
    packed, scale = pack(head, kind)
    head.copy_(packed.float() * scale[:, None] if kind == "int8" else packed.float())
    assert not torch.equal(rounded.lm_head.weight, model.lm_head.weight)  # rounding moved the weights
    ids, mask = left_padded(lengths)
    ids, pos = ids % model.vocab_size, positions(mask)
    cache = model.new_cache(len(ids), ids.shape[1] + 3)
    model(model.embed(ids), mask, pos, cache)  # the prompt: float32 modules (no prepacked copy is made)
    assert model._inference is not None and model._inference.layers is None
    reference = copy.deepcopy(cache)
    step_mask = torch.cat([mask, mask.new_ones(len(ids), 1)], dim=1)
    x, step_pos = model.embed(ids[:, -1:]), pos[:, -1:] + 1
    with counting_fused_steps(monkeypatch) as calls:
        hidden = model(x, step_mask, step_pos, cache)
        logits = model.logits(hidden, [(5, 20), (0, 3)])
    assert calls == {"decode_step": 1, "head_rows": 1}
    with plain(rounded):
        expected = rounded(x, step_mask, step_pos, reference)
        expected_logits = rounded.logits(expected, [(5, 20), (0, 3)])
    torch.testing.assert_close(hidden, expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(logits, expected_logits, rtol=0, atol=1e-5)
    torch.testing.assert_close(cache.keys, reference.keys, rtol=0, atol=1e-5)
    # The setting is checked: a bad kind is refused; back to fp32, the parameters are read in place.
    with pytest.raises(ValueError, match="expected one of fp32, bf16, int8"):
        model.set_decode_weights("fp16")
    model.set_decode_weights("fp32")
    assert model.inference_weights(x).layers is not None


@torch.no_grad()
def test_fused_decode_step_refuses_a_full_cache():
    model = perturbed_model()
    ids, mask = left_padded([4])
    cache = model.new_cache(1, 4)
    model(model.embed(ids), mask, positions(mask), cache)
    step = mask.new_ones(1, 5)
    with pytest.raises(RuntimeError, match="KV cache overflow: 5 positions > max_len 4"):
        model(model.embed(ids[:, :1]), step, torch.tensor([[4]]), cache)


def test_fused_decode_step_falls_back_with_a_warning(monkeypatch):
    import torch.utils.cpp_extension

    def no_compiler(*args, **kwargs):
        raise RuntimeError("Error building extension: c++: not found")
    monkeypatch.setattr(torch.utils.cpp_extension, "load", no_compiler)
    with pytest.warns(UserWarning, match="could not be built.*c\\+\\+: not found"):
        assert decode_kernel.load.__wrapped__() is None
    monkeypatch.setenv("LAURA_DECODE_KERNEL", "0")
    assert decode_kernel.load.__wrapped__() is None  # turned off: no build, no warning
    # Without the kernel, decoding runs the PyTorch path with the same results.
    model = perturbed_model()
    ids, mask = left_padded([3, 6])
    with torch.no_grad():
        expected = greedy(model, ids, mask, 6)
        monkeypatch.setattr(decode_kernel, "load", lambda: None)
        assert torch.equal(greedy(model, ids, mask, 6), expected)


@torch.no_grad()
def test_a_backbone_over_the_size_limit_runs_the_modules():
    model = perturbed_model()
    ids, mask = left_padded([3, 5])
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    assert model.inference_weights(model.embed(ids)) is not None  # the tiny model is far under the default
    model.inference_weights_max_bytes = weights - 1
    assert model.inference_weights(model.embed(ids)) is None
    with plain(model):
        expected = full_logits(model, ids, mask)
    assert torch.equal(full_logits(model, ids, mask), expected)
    model.inference_weights_max_bytes = None
    assert model.inference_weights(model.embed(ids)) is not None
