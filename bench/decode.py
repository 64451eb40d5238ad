#!/usr/bin/env python
"""Batched greedy decoding of the `small` LauraGPT backbone on CPU, laura against transformers' Qwen2
`generate` (same config and weights), in one run:

    laura            the KV cache and the fused decode step on the float32 weights
    laura_bf16/int8  the same step reading bf16 or int8 (per-row scales) copies of the matrices
    laura_pytorch    the KV cache on the PyTorch path alone (as where no compiler is at hand)
    transformers     Qwen2ForCausalLM.generate, greedy, float32
    laura_no_cache   recomputing the whole prefix every step (batch 1 only: it is slow)

Timing follows bench/harness.py: warm-up untimed, systems alternated over rounds, medians with their
spread, the machine's streaming bandwidth beside them (`--swap` reverses the order: the figures must not
move). Peak memory is measured apart, one fresh process per system. Targets (issue 18): laura >= 3x
transformers at batch 1 and 8 with identical greedy tokens in fp32; a bf16 and an int8 step below the
fp32 streaming bound / 1.8. A batch-1 step reads every weight matrix once, so the bound of a step is
those bytes over the streaming bandwidth: the bench prints it, and what it allows.

usage: python bench/decode.py [--batch-sizes 1 8] [--new-tokens 128] [--rounds 5] [--swap] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from harness import alternate, describe, high_water_mb, machine
from isolated import run_isolated

TIMED = ("laura", "laura_bf16", "laura_int8", "laura_pytorch", "transformers")


def build_weights(directory: Path, config: str) -> None:
    """The config's backbone with its LauraGPT vocabulary, saved in the Hugging Face format."""
    from laura_core.model.lauragpt import build_model, load_model_config
    from laura_core.registry import get_registry

    torch.manual_seed(0)
    model = build_model(load_model_config(config), get_registry())
    model.backbone.save_pretrained(directory)


def prompts(vocab: int, batch: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded prompts of different lengths (from length/2 to length), as a real batch has."""
    gen = torch.Generator().manual_seed(batch)
    ids = torch.randint(0, vocab, (batch, length), generator=gen)
    mask = torch.ones(batch, length, dtype=torch.bool)
    for b in range(batch):
        mask[b, : (b * length // 2) // max(batch - 1, 1)] = False
    return ids, mask


def system(name: str, weights: str, batch: int, new_tokens: int, prompt_len: int):
    """A call that decodes the batch with ``name`` and returns the new tokens [B, new_tokens]."""
    if name == "transformers":
        from transformers import Qwen2ForCausalLM

        model = Qwen2ForCausalLM.from_pretrained(weights, dtype=torch.float32).eval()
        ids, mask = prompts(model.config.vocab_size, batch, prompt_len)

        def run():
            out = model.generate(input_ids=ids, attention_mask=mask.long(), max_new_tokens=new_tokens,
                                 min_new_tokens=new_tokens, do_sample=False, pad_token_id=0)
            return out[:, ids.shape[1]:]
        return run
    from laura_core.model.generation import DecodeOptions, Prompt, decode
    from laura_plugins.backbones.qwen2 import Qwen2Backbone

    model = Qwen2Backbone.from_pretrained(weights).eval()
    model.use_decode_kernel = name != "laura_pytorch"
    model.set_decode_weights({"laura_bf16": "bf16", "laura_int8": "int8"}.get(name, "fp32"))
    vocab = model.vocab_size
    ids, mask = prompts(vocab, batch, prompt_len)
    opts = DecodeOptions(max_new_tokens=new_tokens, min_new_tokens=new_tokens, use_cache=name != "laura_no_cache")

    def run():
        with torch.no_grad():
            prompt = Prompt(model.embed(ids), mask, [(0, vocab)], torch.full((batch,), new_tokens))
            return torch.tensor(decode(model, prompt, eos_id=vocab - 1, options=opts))
    return run


def peak_memory(name: str, weights: str, batch: int, new_tokens: int, prompt_len: int, queue) -> None:
    """Peak RSS of one decode by ``name`` in a fresh process, and how much of it the decode added
    (the first decode builds the inference copies of the weights: fp32's prepacked copy, or the
    bf16/int8 ones)."""
    torch.set_num_threads(THREADS)
    run = system(name, weights, batch, new_tokens, prompt_len)
    loaded = high_water_mb()
    run()
    peak = high_water_mb()
    queue.put({"peak_rss_mb": peak, "decode_rss_mb": peak - loaded})


def matrix_megabytes(weights: str) -> float:
    """Megabytes of float32 weight matrices one cached step reads (every layer's, and the head)."""
    from torch import nn

    from laura_plugins.backbones.qwen2 import Qwen2Backbone

    model = Qwen2Backbone.from_pretrained(weights)
    head = model.embed_tokens if model.lm_head is None else model.lm_head
    n = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear)) + head.weight.numel()
    return n * 4 / 1e6


THREADS = 2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="small")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--prompt-len", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--swap", action="store_true", help="run the systems in the reverse order")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(THREADS)
    from laura_plugins.backbones import decode_kernel

    fused = decode_kernel.load() is not None  # built here, once, rather than inside a measurement
    info = machine()
    results: dict = {"config": args.config, "new_tokens": args.new_tokens, "prompt_len": args.prompt_len,
                     "rounds": args.rounds, "swap": args.swap, "machine": info, "fused_decode_step": fused,
                     "batches": {}}
    with tempfile.TemporaryDirectory() as tmp:
        build_weights(Path(tmp), args.config)
        megabytes = matrix_megabytes(tmp)
        for batch in args.batch_sizes:
            calls = {name: system(name, tmp, batch, args.new_tokens, args.prompt_len) for name in TIMED}
            timings, outputs = alternate(calls, rounds=args.rounds, swap=args.swap)
            row: dict = {name: {"tokens_per_s": batch * args.new_tokens / t.median, "step_ms": t.median * 1e3 /
                                args.new_tokens, "spread": t.spread, "rounds": len(t.times)}
                         for name, t in timings.items()}
            row["greedy_identical_to_transformers"] = torch.equal(outputs["laura"], outputs["transformers"])
            row["pytorch_path_identical"] = torch.equal(outputs["laura_pytorch"], outputs["transformers"])
            for kind in ("bf16", "int8"):  # rounded weights may pick another token now and then
                row[f"{kind}_tokens_as_fp32"] = float((outputs[f"laura_{kind}"] == outputs["laura"]).float().mean())
            for name in TIMED[:-1]:
                row[f"{name}_vs_transformers"] = row[name]["tokens_per_s"] / row["transformers"]["tokens_per_s"]
            if batch == 1:
                pair, _ = alternate({"laura": calls["laura"], "laura_no_cache": system(
                    "laura_no_cache", tmp, 1, args.new_tokens, args.prompt_len)}, rounds=3, swap=args.swap)
                row["cache_vs_no_cache"] = pair["laura_no_cache"].median / pair["laura"].median
                # A cached step alone: a whole decode less the prefill and its first token.
                kinds = ("laura", "laura_bf16", "laura_int8")
                firsts = {f"{k}_first": system(k, tmp, 1, 1, args.prompt_len) for k in kinds}
                alone, _ = alternate({**{k: calls[k] for k in kinds}, **firsts}, rounds=args.rounds, swap=args.swap)
                for k in kinds:
                    row[k]["cached_step_ms"] = (alone[k].median - alone[f"{k}_first"].median) / (args.new_tokens - 1) * 1e3
            if not args.no_memory:
                for name in TIMED:
                    row[name].update(run_isolated(peak_memory, name, tmp, batch, args.new_tokens, args.prompt_len))
            results["batches"][str(batch)] = row
            del calls

    bound_ms = megabytes / 1e3 / info["stream_gbps"] * 1e3
    results["fp32_matrices_mb"], results["fp32_step_bound_ms"] = megabytes, bound_ms
    print(f"greedy decoding, {args.config} backbone, {args.new_tokens} new tokens after {args.prompt_len}-token "
          f"left-padded prompts, CPU, {THREADS} threads; fused decode step {'built' if fused else 'NOT available'}")
    print(describe(info))
    print(f"medians of {args.rounds} alternating rounds{' (order swapped)' if args.swap else ''}, "
          f"warm-up excluded; +-: interquartile spread")
    print(f"{'batch':>5}  {'system':<15}{'tokens/s':>10}{'step ms':>9}{'spread':>8}{'peak MB':>9}{'decode MB':>10}"
          f"{'vs transformers':>17}")
    for batch, row in results["batches"].items():
        for name in TIMED:
            r = row[name]
            ratio = f"{row[name + '_vs_transformers']:.2f}x" if name != "transformers" else ""
            memory = f"{r['peak_rss_mb']:>9.0f}{r['decode_rss_mb']:>10.0f}" if "peak_rss_mb" in r else f"{'':>19}"
            print(f"{batch:>5}  {name:<15}{r['tokens_per_s']:>10.1f}{r['step_ms']:>9.2f}{r['spread'] * 100:>7.0f}%"
                  f"{memory}{ratio:>17}")
        verdict = lambda ok: "ok" if ok else "MISSED"  # noqa: E731
        print(f"{'':>5}  laura / transformers {row['laura_vs_transformers']:.2f}x (target >= 3: "
              f"{verdict(row['laura_vs_transformers'] >= 3)}); same greedy tokens as transformers: "
              f"{row['greedy_identical_to_transformers']} (PyTorch path: {row['pytorch_path_identical']}); "
              f"bf16 / int8 tokens as fp32's: {row['bf16_tokens_as_fp32']:.1%} / {row['int8_tokens_as_fp32']:.1%}")
        if "cache_vs_no_cache" in row:
            print(f"{'':>5}  cache / no cache {row['cache_vs_no_cache']:.2f}x")
    one = results["batches"].get("1")
    if one:
        print(f"bound: a cached step reads {megabytes:.0f} MB of fp32 matrices: {bound_ms:.2f} ms at the "
              f"{info['stream_gbps']} GB/s of plain streaming reads, {1e3 / bound_ms:.0f} tokens/s at batch 1 "
              f"({1e3 / bound_ms / one['transformers']['tokens_per_s']:.2f}x transformers here; the fused step's "
              f"prefetching reads a little faster than a plain sum).")
        for kind in ("laura", "laura_bf16", "laura_int8"):
            step = one[kind]["cached_step_ms"]
            print(f"       {kind:<11} cached step (a decode less its prefill) {step:.2f} ms = fp32 bound / "
                  f"{bound_ms / step:.2f}" +
                  ("" if kind == "laura" else f" (target: below it by 1.8x: {verdict(bound_ms / step >= 1.8)})"))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
