#!/usr/bin/env python
"""LM training throughput on CPU, in one run:

1. laura's training step against a plain transformers loop on the same model and batch: the GPT of
   `--gpt` (Qwen2 layout) on text-to-text items, laura's collate + forward + backward + AdamW step
   against transformers' Qwen2ForCausalLM (the same weights, exported by the backbone) with
   input_ids, attention_mask and labels masked alike, both under bf16 autocast (`--precision`); and
   laura's step on the batch padded whole (`length_groups=1`) beside its default (rows of like
   length in groups, each padded to its own longest). The three alternate step by step after a
   warm-up, for `--compare-steps` steps each; the median and spread of tokens/s and their ratios are
   printed, so machine noise hits all alike, and the second half of the run against the first
   (steady state: a run that slows as it goes shows there). Twice: items of `--length`/2 to
   `--length` positions, and mixed as a multi-task batch is (a quarter of them 2-2.5 times
   `--length`, as tts rows of codec frames are among text rows; `--mixed-steps`).
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

usage: python bench/train.py [--compare-steps 60] [--mixed-steps 30] [--gpt 384x6] [--steps 12] [--cuts 240] [--max-duration 60]
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
from laura_core.model.sequence import length_groups
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
        real, padded = real + int(batch.mask.sum()), padded + computed_positions(model, batch)
    return {"steps": steps, "tokens_per_s": real / seconds, "step_padding_efficiency": durations.ratio,
            "position_efficiency": real / padded, "seconds": seconds}


def computed_positions(model, batch) -> int:
    """Positions the GPT computes for a training batch: each group of rows padded to its longest."""
    lengths = batch.mask.sum(1).tolist()
    return sum(len(g) * max(lengths[i] for i in g) for g in length_groups(lengths, model.length_groups))


def item_lengths(batch: int, length: int, mixed: bool, gen: torch.Generator) -> list[int]:
    """Positions of each item: ``length``/2 to ``length``; ``mixed``: a quarter of them 2-2.5 times that."""
    lengths = torch.randint(length // 2, length + 1, (batch,), generator=gen)
    if mixed:
        long = torch.randperm(batch, generator=gen)[: batch // 4]
        lengths[long] = torch.randint(2 * length, 5 * length // 2 + 1, (len(long),), generator=gen)
    return lengths.tolist()


def compare_with_transformers(registry, gpt: str, steps: int, batch: int, length: int, precision: str,
                              seed: int, mixed: bool = False) -> dict:
    """Tokens/s of laura's LM step (and of it on one padded batch) and of a plain transformers loop on
    the same GPT and batches."""
    import copy
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
                 for n in item_lengths(batch, length, mixed, gen)]
        collated = model.collate(items)
        batches.append(collated)
    dtype = {"bf16": torch.bfloat16, "fp32": None}[precision]

    def autocast():
        return torch.autocast("cpu", dtype=dtype) if dtype else torch.autocast("cpu", enabled=False)

    padded = copy.deepcopy(model)
    padded.length_groups = 1

    def laura_step(net):
        def step(opt, b):
            with autocast():
                loss = net(b).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        return step

    def transformers_step(opt, b):
        ids = b.ids.clone()
        labels = b.labels.roll(1, dims=1)  # transformers shifts labels itself: labels[t] is the token at t
        labels[:, 0] = -100
        with autocast():
            loss = reference(input_ids=ids, attention_mask=b.mask.long(), labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    systems = {"laura": (laura_step(model), torch.optim.AdamW(model.parameters(), lr=1e-4)),
               "laura_padded": (laura_step(padded), torch.optim.AdamW(padded.parameters(), lr=1e-4)),
               "transformers": (transformers_step, torch.optim.AdamW(reference.parameters(), lr=1e-4))}
    times: dict[str, list[float]] = {name: [] for name in systems}
    positions = [int(b.mask.sum()) for b in batches]
    for i, b in enumerate(batches):
        order = list(systems)[i % 3:] + list(systems)[:i % 3]  # each system goes first in turn
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
    out["groups_vs_padded"] = out["laura"]["median_tokens_per_s"] / out["laura_padded"]["median_tokens_per_s"]
    out["position_efficiency"] = sum(positions) / sum(b.mask.numel() for b in batches)  # of one padded batch
    out["position_efficiency_groups"] = sum(positions) / sum(computed_positions(model, b) for b in batches)
    out["setup"] = {"gpt": gpt, "batch": batch, "max_length": length, "precision": precision, "steps": steps,
                    "mixed": mixed, "parameters": sum(p.numel() for p in model.backbone.parameters())}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--compare-steps", type=int, default=60, help="timed steps of each system in part 1 (0: skip)")
    ap.add_argument("--mixed-steps", type=int, default=30, help="timed steps of each system on mixed lengths (0: skip)")
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
    for key, steps, mixed in (("vs_transformers", args.compare_steps, False),
                              ("vs_transformers_mixed", args.mixed_steps, True)):
        if not steps:
            continue
        summary[key] = vs = compare_with_transformers(
            registry, args.gpt, steps, args.batch, args.length, args.precision, args.seed, mixed)
        shape = (f"a quarter of them {2 * args.length}-{5 * args.length // 2} positions, the rest "
                 f"{args.length // 2}-{args.length}" if mixed else f"of {args.length // 2}-{args.length} positions")
        print(f"LM training step, GPT {args.gpt} ({vs['setup']['parameters'] / 1e6:.1f}M), {args.batch} text items "
              f"{shape} (real / computed positions {vs['position_efficiency']:.2f} padded whole, "
              f"{vs['position_efficiency_groups']:.2f} in groups), {args.precision}, "
              f"{steps} alternating steps each after 2 untimed")
        for name, label in (("laura", "laura"), ("laura_padded", "laura, batch padded whole"),
                            ("transformers", "transformers")):
            r = vs[name]
            print(f"  {label:<27} {r['median_tokens_per_s']:>8.0f} tokens/s (median; {r['min']:.0f}-{r['max']:.0f}, "
                  f"+-{r['spread'] * 100:.0f}%); second half / first half {r['second_half_vs_first']:.2f}")
        print(f"  laura / transformers = {vs['ratio']:.2f}x; laura / laura padded whole = {vs['groups_vs_padded']:.2f}x")
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
