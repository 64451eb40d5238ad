#!/usr/bin/env python
"""Batched greedy decoding of the `small` LauraGPT backbone on CPU: laura with its KV cache, laura
recomputing the whole prefix every step, and transformers' Qwen2 `generate` with the same config and
weights, in one run. Prints tokens/s, peak memory and the ratios; `--json PATH` writes the figures.
Also laura with its KV cache on the PyTorch path alone (`laura_pytorch`: no fused C++ decode step, as
where no compiler is at hand).

Each measurement runs in a fresh process so peak memory (max RSS) belongs to that system alone.
Targets: laura >= 1.2x transformers at every batch size; the cache >= 5x no-cache at 128 tokens.

At batch 1 a cached step is bound by reading every weight matrix once, and a no-cache step by
arithmetic, so their ratio has a ceiling set by the machine: the bench measures how long plain
streaming reads of those matrices take, against the measured steps.

usage: python bench/decode.py [--batch-sizes 1 8] [--new-tokens 128] [--prompt-len 32] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import torch

from isolated import run_isolated

SYSTEMS = ("laura", "laura_pytorch", "laura_no_cache", "transformers")


def build_weights(directory: Path, config: str) -> None:
    """The `small` config's backbone with its LauraGPT vocabulary, saved in the Hugging Face format."""
    from laura_core.model import build_model, load_model_config
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


def measure(system: str, weights: str, batch: int, new_tokens: int, prompt_len: int, repeats: int, queue) -> None:
    torch.set_num_threads(2)
    if system == "laura_pytorch":
        os.environ["LAURA_DECODE_KERNEL"] = "0"
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if system == "transformers":
        from transformers import Qwen2ForCausalLM

        model = Qwen2ForCausalLM.from_pretrained(weights, dtype=torch.float32).eval()
        vocab = model.config.vocab_size
        ids, mask = prompts(vocab, batch, prompt_len)

        def run():
            out = model.generate(input_ids=ids, attention_mask=mask.long(), max_new_tokens=new_tokens,
                                 min_new_tokens=new_tokens, do_sample=False, pad_token_id=0)
            return out[:, ids.shape[1]:]
    else:
        from laura_core.generation import DecodeOptions, Prompt, decode
        from laura_plugins.backbones.qwen2 import Qwen2Backbone

        model = Qwen2Backbone.from_pretrained(weights).eval()
        vocab = model.vocab_size
        ids, mask = prompts(vocab, batch, prompt_len)
        opts = DecodeOptions(max_new_tokens=new_tokens, min_new_tokens=new_tokens, use_cache=system != "laura_no_cache")

        def run():
            with torch.no_grad():
                prompt = Prompt(model.embed(ids), mask, [(0, vocab)],
                                torch.full((batch,), new_tokens))
                return torch.tensor(decode(model, prompt, eos_id=vocab - 1, options=opts))
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put({
        "tokens_per_s": batch * new_tokens / min(times),
        "seconds": min(times),
        "peak_rss_mb": peak / 1024,
        "decode_rss_mb": (peak - max(rss_loaded, rss_before)) / 1024,
        "tokens": out.tolist(),
    })


def weight_reads(weights: str, repeats: int, queue) -> None:
    """Seconds to stream the matrices one cached batch-1 step reads, with plain reads (a sum)."""
    from torch import nn

    from laura_plugins.backbones.qwen2 import Qwen2Backbone

    torch.set_num_threads(2)
    model = Qwen2Backbone.from_pretrained(weights)
    head = model.embed_tokens if model.lm_head is None else model.lm_head
    matrices = [m.weight.detach() for m in model.modules() if isinstance(m, nn.Linear)] + [head.weight.detach()]
    flat = torch.cat([w.reshape(-1) for w in matrices])
    del model
    flat.sum()
    times = []
    for _ in range(max(repeats, 5)):
        start = time.perf_counter()
        flat.sum()
        times.append(time.perf_counter() - start)
    queue.put({"megabytes": flat.numel() * flat.element_size() / 1e6, "stream_seconds": min(times)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="small")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--prompt-len", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from laura_plugins.backbones import decode_kernel

    fused = decode_kernel.load() is not None  # built here, once, rather than inside a measurement
    results: dict = {"config": args.config, "new_tokens": args.new_tokens, "prompt_len": args.prompt_len,
                     "torch": torch.__version__, "threads": 2, "fused_decode_step": fused, "batches": {}}
    with tempfile.TemporaryDirectory() as tmp:
        build_weights(Path(tmp), args.config)
        for batch in args.batch_sizes:
            row = {s: run_isolated(measure, s, tmp, batch, args.new_tokens, args.prompt_len, args.repeats)
                   for s in SYSTEMS}
            tokens = {s: row[s].pop("tokens") for s in SYSTEMS}
            row["greedy_outputs_identical"] = tokens["laura"] == tokens["transformers"]
            row["pytorch_path_outputs_identical"] = tokens["laura_pytorch"] == tokens["transformers"]
            row["laura_vs_transformers"] = row["laura"]["tokens_per_s"] / row["transformers"]["tokens_per_s"]
            row["cache_vs_no_cache"] = row["laura"]["tokens_per_s"] / row["laura_no_cache"]["tokens_per_s"]
            row["fused_vs_pytorch_path"] = row["laura"]["tokens_per_s"] / row["laura_pytorch"]["tokens_per_s"]
            results["batches"][str(batch)] = row
        if "1" in results["batches"]:
            results["weight_reads"] = run_isolated(weight_reads, tmp, args.repeats)

    print(f"greedy decoding, {args.config} backbone, {args.new_tokens} new tokens after {args.prompt_len}-token "
          f"left-padded prompts, CPU, 2 threads; fused decode step {'built' if fused else 'NOT available'}")
    print(f"{'batch':>5}  {'system':<16}{'tokens/s':>10}{'peak MB':>10}{'decode MB':>11}")
    for batch, row in results["batches"].items():
        for s in SYSTEMS:
            r = row[s]
            print(f"{batch:>5}  {s:<16}{r['tokens_per_s']:>10.1f}{r['peak_rss_mb']:>10.0f}{r['decode_rss_mb']:>11.0f}")
        verdict = lambda x, target: "ok" if x >= target else "MISSED"  # noqa: E731
        print(f"{'':>5}  laura / transformers = {row['laura_vs_transformers']:.2f}x "
              f"(target >= 1.2: {verdict(row['laura_vs_transformers'], 1.2)}); "
              f"cache / no cache = {row['cache_vs_no_cache']:.2f}x (target >= 5: {verdict(row['cache_vs_no_cache'], 5)}); "
              f"fused / PyTorch path = {row['fused_vs_pytorch_path']:.2f}x; same greedy tokens as transformers: "
              f"{row['greedy_outputs_identical']} (PyTorch path: {row['pytorch_path_outputs_identical']})")
    reads, row = results.get("weight_reads"), results["batches"].get("1")
    if reads and row:
        # The no-cache run decodes new_tokens steps over prompt_len + t positions: its mean step.
        step = {s: row[s]["seconds"] / args.new_tokens for s in ("laura", "laura_no_cache")}
        reads["cache_ratio_ceiling"] = step["laura_no_cache"] / reads["stream_seconds"]
        mb, stream = reads["megabytes"], reads["stream_seconds"]
        print(f"ceiling at batch 1: a cached step reads {mb:.0f} MB of weight matrices, which plain streaming reads "
              f"take {stream * 1e3:.1f} ms for ({mb / 1e3 / stream:.0f} GB/s); laura's cached step takes "
              f"{step['laura'] * 1e3:.1f} ms ({step['laura'] / stream:.2f}x that), a no-cache step "
              f"{step['laura_no_cache'] * 1e3:.1f} ms. So on this machine the cache cannot beat no-cache by more "
              f"than {reads['cache_ratio_ceiling']:.2f}x at batch 1; measured {row['cache_vs_no_cache']:.2f}x.")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
