#!/usr/bin/env python
"""LM training throughput of the `small` LauraGPT on CPU: duration-bucketed batches (laura's
sampler) vs fixed-size batches of the same data (lhotse's SimpleCutSampler, the size set so batches
hold the same audio on average), in one run.

Prints, for each: training tokens/s (real sequence positions: audio frames after the encoder, task
token, targets) over the timed steps, the padding efficiency by duration (real / padded seconds) over
a whole epoch of the sampler and over the timed steps, and by positions (real / padded positions the
model computes) over the timed steps, and the ratios. Target: padding efficiency >= 0.9 with
bucketing. `--json PATH` writes the figures.

The data is synthesised: `--cuts` asr utterances of 1-15 s of noise with a transcript whose length
follows the duration (throughput does not depend on what the audio says).

usage: python bench/train.py [--steps 12] [--cuts 240] [--max-duration 60] [--json out.json]
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

from laura_core.data import DataConfig, PaddingStats, cut_to_item, make_sampler, padding_efficiency
from laura_core.model import build_model, load_model_config
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="small")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--cuts", type=int, default=240)
    ap.add_argument("--max-duration", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(2)
    registry = get_registry()
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
    summary = {"config": args.config, "cuts": args.cuts, "max_duration": args.max_duration,
               "torch": torch.__version__, "results": results, "bucketing_vs_fixed_tokens_per_s": ratio}
    print(f"LM training, {args.config} model, {args.steps} steps each, asr batches of ~{args.max_duration:.0f} s, CPU, 2 threads")
    print(f"{'batching':<12}{'tokens/s':>10}{'padding (epoch, s)':>20}{'padding (timed steps, s)':>26}"
          f"{'padding (timed steps, positions)':>34}")
    for name, r in results.items():
        print(f"{name:<12}{r['tokens_per_s']:>10.0f}{r['padding_efficiency']:>20.3f}{r['step_padding_efficiency']:>26.3f}"
              f"{r['position_efficiency']:>34.3f}")
    eff = results["bucketing"]["padding_efficiency"]
    print(f"bucketing / fixed tokens/s = {ratio:.2f}x; bucketing padding efficiency {eff:.3f} "
          f"(target >= 0.9: {'ok' if eff >= 0.9 else 'MISSED'})")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
