#!/usr/bin/env python
"""LM training throughput on CPU, in one run:

1. laura's training step against a plain transformers loop on the same model and batch: the GPT of
   `--gpt` (Qwen2 layout) on text-to-text items, laura's collate + forward + backward + AdamW step
   against transformers' Qwen2ForCausalLM (the same weights, exported by the backbone) with
   input_ids, attention_mask and labels masked alike, both under bf16 autocast (`--precision`). The
   two alternate step by step after a warm-up, for `--compare-steps` steps each; the median and
   spread of tokens/s and their ratio are printed, so machine noise hits both alike, and the second
   half of the run against the first (steady state: a run that slows as it goes shows there).
2. The `small` LauraGPT on asr batches: duration-bucketed batches (laura's sampler) vs fixed-size
   batches of the same data (lhotse's SimpleCutSampler, the size set so batches hold the same audio
   on average).

Prints, for each: training tokens/s (real sequence positions: audio frames after the encoder, task
token, targets) over the timed steps, the padding efficiency by duration (real / padded seconds) over
a whole epoch of the sampler and over the timed steps, and by positions (real / padded positions the
model computes) over the timed steps, and the ratios. Target: padding efficiency >= 0.9 with
bucketing. `--json PATH` writes the figures.

The data is synthesised: `--cuts` asr utterances of 1-15 s of noise with a transcript whose length
follows the duration (throughput does not depend on what the audio says).

usage: python bench/train.py [--compare-steps 60] [--gpt 384x6] [--steps 12] [--cuts 240] [--max-duration 60]
                             [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from harness import Timing, describe, machine
from laura_core.data.batches import DataConfig, PaddingStats, cut_to_item, make_sampler, padding_efficiency
from laura_core.model.lauragpt import build_model, load_model_config
from laura_core.registry import get_registry

RATE = 16000
WORDS = "the a cat dog runs over under bright river stone green house old new quiet morning light".split()


def synthesise(root: Path, n: int, seed: int):
    from lhotse import CutSet, MonoCut, Recording, SupervisionSegment

    rng = np.random.default_rng(seed)
    cuts = []
    for i in range(n):
        seconds = float(rng.uniform(1.0, 15.0))
        path = root / f"u{i:04d}.wav"
        sf.write(path, (0.05 * rng.standard_normal(int(seconds * RATE))).astype(np.float32), RATE)
        rec = Recording.from_file(path, recording_id=f"u{i:04d}")
        text = " ".join(rng.choice(WORDS, size=max(1, int(seconds * 2.5))))
        sup = SupervisionSegment(id=rec.id, recording_id=rec.id, start=0, duration=rec.duration, text=text)
        cuts.append(MonoCut(id=rec.id, start=0, duration=rec.duration, channel=0, recording=rec, supervisions=[sup]))
    return CutSet.from_cuts(cuts)


def sampler(name: str, cuts, max_duration: float, mean: float, seed: int):
    if name == "bucketing":
        return make_sampler(cuts, DataConfig(max_duration=max_duration, seed=seed))
    from lhotse.dataset import SimpleCutSampler

    size = max(1, round(max_duration / mean))  # the same audio per batch on average
    return SimpleCutSampler(cuts, max_cuts=size, shuffle=True, seed=seed)


def run(batches, model, task, tokenizer, steps: int) -> dict:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    durations, real, padded, seconds = PaddingStats(), 0, 0, 0.0
    for step, cuts in enumerate(batches):
        if step == steps:
            break
        items = [cut_to_item(c, task, tokenizer, model.layout, RATE) for c in cuts]
        start = time.perf_counter()
        batch = model.collate(items)
        loss = model(batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        seconds += time.perf_counter() - start
        durations.add([c.duration for c in cuts])
        real, padded = real + int(batch.mask.sum()), padded + batch.mask.numel()
    return {"steps": steps, "tokens_per_s": real / seconds, "step_padding_efficiency": durations.ratio,
            "position_efficiency": real / padded, "seconds": seconds}


def compare_with_transformers(registry, gpt: str, steps: int, batch: int, length: int, precision: str,
                              seed: int) -> dict:
    """Tokens/s of laura's LM step and of a plain transformers loop on the same GPT and batches."""
    import statistics
    import tempfile

    from transformers import Qwen2ForCausalLM

    from laura_core.model.lauragpt import Item

    width, layers = (int(v) for v in gpt.split("x"))
    torch.manual_seed(seed)
    backbone = dict(hidden_size=width, intermediate_size=4 * width, num_hidden_layers=layers,
                    num_attention_heads=width // 64, num_key_value_heads=width // 64, tie_word_embeddings=True)
    cfg = load_model_config("tiny", [f"backbone_conf={json.dumps(backbone)}", "text_vocab_size=1024", "tasks=[mt]"])
    model = build_model(cfg, registry).train()
    with tempfile.TemporaryDirectory() as tmp:
        model.backbone.save_pretrained(tmp)
        reference = Qwen2ForCausalLM.from_pretrained(tmp, dtype=torch.float32, attn_implementation="sdpa").train()
    gen = torch.Generator().manual_seed(seed)
    layout = model.layout
    batches = []
    for _ in range(steps + 2):
        items = [Item("mt", torch.randint(0, 1024, (int(n) // 2,), generator=gen),
                      torch.randint(0, 1024, (int(n) - int(n) // 2 - 2,), generator=gen))
                 for n in torch.randint(length // 2, length + 1, (batch,), generator=gen)]
        collated = model.collate(items)
        batches.append(collated)
    dtype = {"bf16": torch.bfloat16, "fp32": None}[precision]

    def autocast():
        return torch.autocast("cpu", dtype=dtype) if dtype else torch.autocast("cpu", enabled=False)

    def laura_step(opt, b):
        with autocast():
            loss = model(b).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def transformers_step(opt, b):
        ids = b.ids.clone()
        labels = b.labels.roll(1, dims=1)  # transformers shifts labels itself: labels[t] is the token at t
        labels[:, 0] = -100
        with autocast():
            loss = reference(input_ids=ids, attention_mask=b.mask.long(), labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    systems = {"laura": (laura_step, torch.optim.AdamW(model.parameters(), lr=1e-4)),
               "transformers": (transformers_step, torch.optim.AdamW(reference.parameters(), lr=1e-4))}
    times: dict[str, list[float]] = {name: [] for name in systems}
    positions = [int(b.mask.sum()) for b in batches]
    for i, b in enumerate(batches):
        order = list(systems) if i % 2 == 0 else list(reversed(systems))  # alternate who goes first
        for name in order:
            step, opt = systems[name]
            start = time.perf_counter()
            step(opt, b)
            if i >= 2:  # the first two batches warm up both
                times[name].append(positions[i] / (time.perf_counter() - start))
    # Spread as the harness reports it; steady state: the second half of the run against the first
    # (a run that slows down as it goes, e.g. from fp32 denormals, shows here).
    out = {name: {"median_tokens_per_s": statistics.median(t), "min": min(t), "max": max(t),
                  "spread": Timing([1 / v for v in t]).spread,
                  "second_half_vs_first": statistics.median(t[len(t) // 2:]) / statistics.median(t[: len(t) // 2])}
           for name, t in times.items()}
    out["ratio"] = out["laura"]["median_tokens_per_s"] / out["transformers"]["median_tokens_per_s"]
    out["setup"] = {"gpt": gpt, "batch": batch, "max_length": length, "precision": precision, "steps": steps,
                    "parameters": sum(p.numel() for p in model.backbone.parameters())}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--compare-steps", type=int, default=60, help="timed steps of each system in part 1 (0: skip)")
    ap.add_argument("--gpt", default="384x6", help="part 1's GPT: WIDTHxLAYERS (heads of 64)")
    ap.add_argument("--batch", type=int, default=32, help="part 1's items per batch")
    ap.add_argument("--length", type=int, default=100, help="part 1's longest item (positions)")
    ap.add_argument("--precision", default="bf16", choices=("bf16", "fp32"))
    ap.add_argument("--config", default="small")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--cuts", type=int, default=240)
    ap.add_argument("--max-duration", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.set_flush_denormal(True)
    registry = get_registry()
    summary = {"machine": machine()}
    print(describe(summary["machine"]))
    if args.compare_steps:
        summary["vs_transformers"] = vs = compare_with_transformers(
            registry, args.gpt, args.compare_steps, args.batch, args.length, args.precision, args.seed)
        print(f"LM training step, GPT {args.gpt} ({vs['setup']['parameters'] / 1e6:.1f}M), {args.batch} text items "
              f"of <= {args.length} positions, {args.precision}, {args.compare_steps} alternating steps each "
              f"after 2 untimed")
        for name in ("laura", "transformers"):
            r = vs[name]
            print(f"  {name:<13} {r['median_tokens_per_s']:>8.0f} tokens/s (median; {r['min']:.0f}-{r['max']:.0f}, "
                  f"+-{r['spread'] * 100:.0f}%); second half / first half {r['second_half_vs_first']:.2f}")
        print(f"  laura / transformers = {vs['ratio']:.2f}x")
    if not args.steps:
        return _write(args.json, summary)
    task = registry.task("asr")
    with tempfile.TemporaryDirectory() as tmp:
        cuts = synthesise(Path(tmp), args.cuts, args.seed).to_eager()
        trainer = registry.component("tokenizer", "sentencepiece").obj.train
        model_path = trainer((c.supervisions[0].text for c in cuts), Path(tmp) / "tok", 64)
        tokenizer = registry.create("tokenizer", "sentencepiece", model=str(model_path))
        results = {}
        mean = float(np.mean([c.duration for c in cuts]))
        for name in ("bucketing", "fixed"):
            torch.manual_seed(args.seed)
            cfg = load_model_config(args.config, [f"text_vocab_size={tokenizer.vocab_size}", "tasks=[asr]"])
            model = build_model(cfg, registry).train()
            batches = sampler(name, cuts, args.max_duration, mean, args.seed)
            results[name] = run(batches, model, task, tokenizer, args.steps)
            # Padding over a whole epoch: the sampler alone, no audio read.
            results[name]["padding_efficiency"] = padding_efficiency(sampler(name, cuts, args.max_duration, mean, args.seed)).ratio
    ratio = results["bucketing"]["tokens_per_s"] / results["fixed"]["tokens_per_s"]
    summary.update({"config": args.config, "cuts": args.cuts, "max_duration": args.max_duration,
                    "torch": torch.__version__, "results": results, "bucketing_vs_fixed_tokens_per_s": ratio})
    print(f"LM training, {args.config} model, {args.steps} steps each, asr batches of ~{args.max_duration:.0f} s, CPU, 2 threads")
    print(f"{'batching':<12}{'tokens/s':>10}{'padding (epoch, s)':>20}{'padding (timed steps, s)':>26}"
          f"{'padding (timed steps, positions)':>34}")
    for name, r in results.items():
        print(f"{name:<12}{r['tokens_per_s']:>10.0f}{r['padding_efficiency']:>20.3f}{r['step_padding_efficiency']:>26.3f}"
              f"{r['position_efficiency']:>34.3f}")
    eff = results["bucketing"]["padding_efficiency"]
    print(f"bucketing / fixed tokens/s = {ratio:.2f}x; bucketing padding efficiency {eff:.3f} "
          f"(target >= 0.9: {'ok' if eff >= 0.9 else 'MISSED'})")
    _write(args.json, summary)


def _write(path: Path | None, summary: dict) -> None:
    if path:
        path.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
