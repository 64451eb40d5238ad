"""The ``laura`` command. Each subcommand is a small function; user mistakes end as one line on
stderr (``laura: error: ...``) and exit status 2, never a traceback."""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence

from laura_core.errors import LauraError


def cmd_plugins(args: argparse.Namespace) -> int:
    from laura_core.registry import get_registry

    registry = get_registry()
    entries = registry.entries()
    if args.json:
        print(json.dumps([
            {"kind": e.kind, "name": e.name, "source": e.source, "distribution": e.distribution, "description": e.description}
            for e in entries
        ] + [{"kind": "broken", "name": b.name, "source": b.value, "distribution": b.distribution,
              "description": b.error} for b in registry.broken], indent=2))
        return 0
    rows = [("KIND", "NAME", "DISTRIBUTION", "PLUGIN", "DESCRIPTION")]
    rows += [(e.kind, e.name, e.distribution, e.source, e.description) for e in entries]
    rows += [("BROKEN", b.name, b.distribution, b.value, f"failed to import: {b.error}") for b in registry.broken]
    print_table(rows)
    return 0


def cmd_tasks(args: argparse.Namespace) -> int:
    from laura_core.registry import get_registry
    from laura_core.task_contract import describe

    registry = get_registry()
    if args.action == "show":
        if not args.name:
            raise LauraError("laura tasks show NAME: which task? (`laura tasks` lists them)")
        print(describe(registry.task(args.name)))
        return 0
    if args.name:
        raise LauraError(f"did you mean `laura tasks show {args.name}`?")
    rows = [("TASK", "PROMPT", "INPUT -> OUTPUT", "METRICS")]
    rows += [(t.name, t.prompt_token, f"{t.input.value} -> {t.output.value}", ", ".join(m.name for m in t.metrics))
             for t in registry.tasks().values()]
    print_table(rows)
    return 0


def cmd_new_task(args: argparse.Namespace) -> int:
    from laura_core.scaffold import new_task

    folder = new_task(args.name, args.input, args.output, args.out)
    print(f"wrote {folder}: `pip install -e {folder}` (next to this laura), then `pytest {folder}` walks the "
          f"whole way; `laura tasks show {args.name}` prints its contract")
    return 0


def cmd_new_metric(args: argparse.Namespace) -> int:
    from laura_core.registry import get_registry
    from laura_core.scaffold import new_metric

    folder = new_metric(args.name, get_registry().task(args.task), args.out)
    print(f"wrote {folder}: `pip install -e {folder}` (next to this laura), then `pytest {folder}`; "
          f"`laura score --task {args.task} ...` scores it beside {args.task}'s own metrics")
    return 0


def print_table(rows: list[tuple[str, ...]]) -> None:
    """Columns padded to their widest cell; the last one runs free."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])


def cmd_score(args: argparse.Namespace) -> int:
    from laura_core.io import write_json
    from laura_core.registry import get_registry
    from laura_core.scoring.score import format_report, results_markdown, score_dir, score_files

    registry = get_registry()
    if args.dir:
        if args.task or args.ref or args.hyp:
            raise LauraError("--dir scores a whole experiment folder; do not combine it with --task/--ref/--hyp")
        reports = score_dir(args.dir, registry, args.options)
        print(results_markdown(reports), end="")
        print(f"wrote {args.dir}/RESULTS.md and {args.dir}/results.json")
        return 0
    missing = [flag for flag, value in (("--task", args.task), ("--ref", args.ref), ("--hyp", args.hyp)) if not value]
    if missing:
        raise LauraError(f"score needs {', '.join(missing)} (or --dir EXP)")
    report = score_files(registry.task(args.task), args.ref, args.hyp, registry, args.options, args.config)
    print(format_report(report))
    if args.json:
        write_json(args.json, report.to_json())
    return 0


def cmd_model_info(args: argparse.Namespace) -> int:
    import torch

    from laura_core.model.lauragpt import build_model, load_model_config
    from laura_core.registry import get_registry

    cfg = load_model_config(args.config, args.options)
    with torch.device("meta"):  # shapes only: even the paper size costs no memory
        model = build_model(cfg, get_registry())
    counts = model.parameter_counts()
    layout = model.layout
    print(f"model {args.config}")
    print(f"  encoder   {cfg.encoder:<10} {counts['encoder']:>15,} parameters")
    print(f"  backbone  {cfg.backbone:<10} {counts['backbone']:>15,} parameters")
    print(f"  total     {'':<10} {counts['total']:>15,} parameters")
    print(f"  vocabulary {layout.size:,} = {layout.text_size:,} text + {layout.special_slots} special + "
          f"{layout.task_slots} task slots ({len(layout.tasks)} tasks) + {layout.codec_size:,} codec")
    return 0


def cmd_tokenizer_train(args: argparse.Namespace) -> int:
    from itertools import chain

    from laura_core.config import options_from_dotlist
    from laura_core.data.corpus import iter_texts, task_texts
    from laura_core.registry import get_registry

    registry = get_registry()
    trainer = getattr(registry.component("tokenizer", args.type).obj, "train", None)
    if trainer is None:
        raise LauraError(f"tokenizer {args.type!r} cannot be trained (it loads an existing vocabulary)")
    if not args.input and not args.data:
        raise LauraError("give the training text: --data TASK=MANIFEST or --input FILE (repeatable)")
    options = options_from_dotlist(args.options)
    fields = tuple(f for f in args.fields.split(",") if f)
    missing: list[str] = []
    jobs = [_task_job(spec, registry) for spec in args.data]
    texts = chain(chain.from_iterable(task_texts(task, manifest) for task, manifest in jobs),
                  chain.from_iterable(iter_texts(path, fields, missing) for path in args.input))
    path = trainer(texts, args.out, args.vocab_size, **options)
    print(f"wrote {path}")
    if missing:
        print(f"records without text in {', '.join(fields)}: {len(missing)}, e.g. {', '.join(missing[:3])}")
    return 0


def _task_job(spec: str, registry):
    """``TASK=MANIFEST`` -> (the registered task, the manifest)."""
    name, sep, manifest = spec.partition("=")
    if not sep or not name or not manifest:
        raise LauraError(f"--data {spec!r}: expected TASK=MANIFEST")
    return registry.task(name), manifest


def cmd_validate(args: argparse.Namespace) -> int:
    from laura_core.config import load_config
    from laura_core.data.validate import ValidationOptions, validate_manifest
    from laura_core.io import write_json
    from laura_core.registry import get_registry

    task = get_registry().task(args.task)
    manifests = [a for a in args.manifest if "=" not in a]
    options = load_config(ValidationOptions, overrides=[a for a in args.manifest if "=" in a] + args.options)
    if not manifests:
        raise LauraError("validate needs at least one manifest")
    reports = [validate_manifest(path, task, options) for path in manifests]
    print("\n".join(report.format() for report in reports))
    if args.json:  # one report, or {manifest: report} for several
        write_json(args.json, reports[0].to_json() if len(reports) == 1
                   else {path: report.to_json() for path, report in zip(manifests, reports)})
    return 0 if all(report.ok for report in reports) else 1


def cmd_prepare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from laura_core.config import options_from_dotlist
    from laura_core.manifest import manifest_stats
    from laura_core.registry import get_registry

    paths = [a for a in args.args if "=" not in a]
    options = options_from_dotlist([a for a in args.args if "=" in a])
    preparer = get_registry().create("preparer", args.name, **options)
    usage = f"laura prepare {args.name} {'SRC ' if preparer.needs_source else ''}DST"
    if len(paths) != 1 + preparer.needs_source:
        what = "a source folder and a destination" if preparer.needs_source else "only a destination (no SRC)"
        raise LauraError(f"preparer {args.name!r} takes {what}: {usage}")
    src = Path(paths[0]) if preparer.needs_source else None
    if src is not None and not src.exists():
        raise LauraError(f"source {src} not found")
    manifests = preparer.prepare(src, Path(paths[-1]))
    rows = [("TASK", "SPLIT", "CUTS", "HOURS", "MANIFEST")]
    for task, splits in sorted(manifests.items()):
        for split, path in sorted(splits.items()):
            n, seconds = manifest_stats(path)
            rows.append((task, split, str(n), f"{seconds / 3600:.2f}", str(path)))
    print_table(rows)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from laura_core.training.config import load_train_config
    from laura_core.training.trainer import train

    final = train(load_train_config(args.config, args.options))
    if os.environ.get("RANK", "0") == "0":  # under torchrun, once
        print(f"wrote {final}")
    return 0


def cmd_average(args: argparse.Namespace) -> int:
    from pathlib import Path

    from laura_core.registry import get_registry
    from laura_core.training.checkpoint import average_checkpoints, list_checkpoints

    last, best = args.last, args.best
    if last is None and best is None:  # every checkpoint there is
        last = max(1, len(list_checkpoints(Path(args.exp_dir) / "checkpoints")))
    chosen = average_checkpoints(Path(args.exp_dir), Path(args.out_dir), get_registry(), last=last, best=best)
    print(f"averaged {len(chosen)} checkpoints ({', '.join(d.name for d in chosen)}) into {args.out_dir}")
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    import torch

    from laura_core.training.checkpoint import release_checkpoint

    dtype = None if args.dtype == "keep" else getattr(torch, args.dtype)
    released = release_checkpoint(args.src, args.dst, dtype, args.part)
    what = f"its {args.part} alone, for init.{args.part}" if args.part else "no trainer state"
    print(f"released {args.src} as {released} ({what})")
    return 0


def cmd_curves(args: argparse.Namespace) -> int:
    from laura_core.training.curves import plot_curves

    print(f"wrote {plot_curves(args.exp_dir, args.out)}")
    return 0


def cmd_infer(args: argparse.Namespace) -> int:
    from pathlib import Path

    from laura_core.config import load_config
    from laura_core.inference.infer import InferConfig, infer, load_inference_model
    from laura_core.registry import get_registry

    jobs = []
    for item in args.data:
        task, sep, manifest = item.partition("=")
        if not sep or not task or not manifest:
            raise LauraError(f"--data {item!r}: expected TASK=MANIFEST, e.g. asr=data/mini/asr/test.jsonl.gz")
        jobs.append((task, manifest))
    cfg = load_config(InferConfig, None, args.options)
    cfg.prompt = args.prompt or cfg.prompt
    cfg.prompt_text = cfg.prompt_text if args.prompt_text is None else args.prompt_text
    if cfg.prompt and not Path(cfg.prompt).is_file():
        raise LauraError(f"--prompt {cfg.prompt}: file not found")
    bundle = load_inference_model(args.model, get_registry(), args.vocoder or "")
    progress = (lambda folder, done, total: _progress(f"{folder}: decoded")(done, total)) \
        if sys.stderr.isatty() else None
    for folder in infer(bundle, jobs, args.out, cfg, progress):
        if not (folder / "hyp.jsonl").is_file():
            print(f"{folder}: shard {cfg.shard} done; the last shard to finish merges the outputs")
            continue
        hyps = sum(1 for line in open(folder / "hyp.jsonl", encoding="utf-8") if line.strip())
        refs = folder / "ref.jsonl"
        empty = sum(1 for line in open(refs, encoding="utf-8") if line.strip()) - hyps if refs.is_file() else 0
        note = f" ({empty} empty outputs left out: laura score counts them as missing)" if empty else ""
        print(f"wrote {folder}/hyp.jsonl: {hyps} outputs{note}")
    print(f"score them with: laura score --dir {args.out}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from laura_core.api import open_model
    from laura_core.config import load_config
    from laura_core.serving.app import ServeConfig, serve

    cfg = load_config(ServeConfig, None, args.options)
    cfg.infer.device = args.device
    model = open_model(args.model, args.vocoder, cfg.infer)
    print(f"serving {model.bundle.directory} ({', '.join(model.tasks)}; audio outputs "
          f"{'on' if model.can_speak else 'off: no vocoder'}) at http://{args.host}:{args.port}/", flush=True)
    serve(model, cfg, args.host, args.port)
    return 0


def _codec(args: argparse.Namespace):
    """The codec of ``--codec``: a codec directory, or a registry name with ``--size`` and options."""
    from pathlib import Path

    from laura_core.config import options_from_dotlist
    from laura_core.model.codec import CodecSpec, build_codec
    from laura_core.registry import get_registry
    from laura_core.runtime import prepare_torch

    prepare_torch()  # coding is heavy work
    is_dir = Path(args.codec).is_dir()
    spec = CodecSpec(path=args.codec if is_dir else "", name="" if is_dir else args.codec, size=args.size,
                     options=options_from_dotlist(args.options))
    if is_dir and (args.size or args.options):
        raise LauraError(f"--codec {args.codec} is a trained codec directory: --size and options do not apply")
    return build_codec(spec, get_registry())


def _progress(label: str):
    """A counter on a terminal; nothing in logs (the command reports the total at the end)."""
    def report(done: int, total: int) -> None:
        print(f"\r{label} {done}/{total}", end="\n" if done == total else "", file=sys.stderr, flush=True)
    return report if sys.stderr.isatty() else None


def cmd_codec_encode(args: argparse.Namespace) -> int:
    from pathlib import Path

    from laura_core.data.codes import manifest_code_usage
    from laura_core.lock import output_lock

    codec, identity = _codec(args)
    codec.to(args.device)
    src = Path(args.src)
    with output_lock(args.dst, "laura codec encode", is_file=not src.is_dir()):
        n = _encode(codec, identity, src, args)
    print(f"encoded {n} new items with {identity} into {args.dst}")
    if not src.is_dir():
        usage = manifest_code_usage(Path(args.dst), codec.codebook_size)
        print(usage)
        if usage.collapsed:
            print(f"warning: one code stands for {usage.top_share:.0%} of the frames: this codec's first group "
                  f"carries little of the audio, so an LM learns little from these codes (train the codec longer)",
                  file=sys.stderr)
    return 0


def _encode(codec, identity: str, src, args: argparse.Namespace) -> int:
    from pathlib import Path

    from laura_core.data.codes import encode_dir, encode_manifest

    if src.is_dir():
        return encode_dir(codec, identity, src, Path(args.dst), args.batch_seconds, args.device, _progress("encoded"))
    return encode_manifest(codec, identity, src, Path(args.dst), args.field, args.batch_seconds, args.device,
                           _progress("encoded"))


def cmd_codec_decode(args: argparse.Namespace) -> int:
    from pathlib import Path

    from laura_core.data.codes import decode_dir
    from laura_core.lock import output_lock

    codec, identity = _codec(args)
    codec.to(args.device)
    with output_lock(args.dst, "laura codec decode"):
        n = decode_dir(codec, identity, Path(args.src), Path(args.dst), args.batch_seconds, args.device,
                       _progress("decoded"))
    print(f"decoded {n} new files with {identity} into {args.dst}")
    return 0


def cmd_codec_export(args: argparse.Namespace) -> int:
    from laura_core.config import options_from_dotlist
    from laura_core.model.codec import CodecSpec, resolved_options, save_codec
    from laura_core.registry import get_registry

    registry = get_registry()
    spec = CodecSpec(name=args.name, size=args.size, options=options_from_dotlist(args.options))
    options = resolved_options(spec, registry)
    import torch

    torch.manual_seed(args.seed)  # a codec without trained weights is still reproducible
    codec = registry.create("codec", args.name, **options)
    save_codec(codec, args.name, options, args.dst)
    print(f"wrote codec directory {args.dst}")
    return 0


def cmd_codec_release(args: argparse.Namespace) -> int:
    import torch

    from laura_core.model.codec import release_codec
    from laura_core.registry import get_registry

    identity = release_codec(args.src, args.dst, get_registry(), getattr(torch, args.dtype))
    print(f"wrote codec directory {args.dst} ({args.dtype} weights, identity {identity})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="laura",
        description="laura: one GPT that listens, understands and regenerates audio (LauraGPT).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("plugins", help="list registered tasks and components",
                       description="List every registered task and component: kind, name, providing "
                                   "distribution and plugin. Third-party packages appear here once installed.")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("tasks", help="list the registered tasks, or show one task's contract",
                       description="Without NAME: every registered task with its prompt token, modalities and "
                                   "metrics. `laura tasks show NAME`: what the task reads and writes (record fields "
                                   "and where each is read on a lhotse cut), its reference and hypothesis records "
                                   "with an example of each, its metrics and its scoring options with defaults.")
    p.add_argument("action", nargs="?", choices=("show",), help="show one task")
    p.add_argument("name", nargs="?", metavar="NAME")
    p.set_defaults(func=cmd_tasks)

    new = sub.add_parser("new", help="write a ready plugin package (a new task, or a metric for a task)").add_subparsers(
        dest="what", required=True, metavar="WHAT")
    p = new.add_parser("task", help="a plugin package for a new task, with a test that trains, decodes and scores it",
                       description="Write OUT/laura-task-NAME: the task (a laura_core.task.Task), its entry point, a "
                                   "README and a test that walks data -> validate -> tokenizer -> train -> infer -> "
                                   "score with the laura commands. It passes as written; edit the task from there.",
                       epilog="example:\n  laura new task keyword --input audio --output text --out ~/src\n"
                              "  pip install -e ~/src/laura-task-keyword && pytest ~/src/laura-task-keyword",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", metavar="NAME", help="the task's name (its prompt token is <|NAME|>)")
    p.add_argument("--input", choices=("audio", "text"), required=True)
    p.add_argument("--output", choices=("text", "codec"), required=True, help="text, or audio as codec tokens")
    p.add_argument("--out", default=".", help="where the package folder goes (default: here)")
    p.set_defaults(func=cmd_new_task)
    p = new.add_parser("metric", help="a plugin package adding a metric to a registered task, with its test",
                       description="Write OUT/laura-metric-NAME: a metric component for TASK (scored by `laura score` "
                                   "beside the task's own, its version in the scores' meta), its entry point, a "
                                   "README and a test. Its first version compares the task's hypothesis field "
                                   "with the reference (text: exact match; audio: length error); edit it from there.",
                       epilog="example:\n  laura new metric sentence_match --task asr --out ~/src\n"
                              "  pip install -e ~/src/laura-metric-sentence_match && pytest ~/src/laura-metric-sentence_match",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", metavar="NAME", help="the metric's name, as it appears among the task's scores")
    p.add_argument("--task", required=True, help="the registered task it scores (`laura tasks` lists them)")
    p.add_argument("--out", default=".", help="where the package folder goes (default: here)")
    p.set_defaults(func=cmd_new_metric)

    p = sub.add_parser(
        "score", help="score hypotheses of any task against references",
        description="Score a task from two JSONL files matched by 'id' (each task's record fields: "
                    "`laura tasks show TASK`), or every task of an experiment folder with --dir. Missing hypotheses count as errors; "
                    "unknown ids are reported. Options of the task's scorer are given as key=value.",
        epilog="examples:\n  laura score --task asr --ref ref.jsonl --hyp hyp.jsonl --json asr.json\n"
               "  laura score --task asr --ref ref.jsonl --hyp hyp.jsonl normalizer.lowercase=false\n"
               "  laura score --dir exp/mini      # writes exp/mini/RESULTS.md and results.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--task", help="registered task name (see `laura plugins`)")
    p.add_argument("--ref", help="reference JSONL")
    p.add_argument("--hyp", help="hypothesis JSONL")
    p.add_argument("--json", metavar="OUT", help="also write the scores as JSON")
    p.add_argument("--config", metavar="YAML", help="scoring options as YAML (key=value overrides win)")
    p.add_argument("--dir", metavar="EXP", help="score every folder under EXP that holds ref.jsonl and hyp.jsonl")
    p.add_argument("options", nargs="*", metavar="key=value",
                   help="scoring options; with --dir, prefix each with its task: asr.normalizer.lowercase=false")
    p.set_defaults(func=cmd_score)

    tok = sub.add_parser("tokenizer", help="train text tokenizers",
                         description="Text tokenizers (components of kind 'tokenizer').")
    tok_sub = tok.add_subparsers(dest="tokenizer_command", required=True, metavar="COMMAND")
    p = tok_sub.add_parser(
        "train", help="train a tokenizer on the text of manifests",
        description="Train a tokenizer on the text a model reads and writes: task manifests as each task "
                    "formats them (--data), or the text fields of lhotse manifests, JSONL records or .txt "
                    "files (--input, --fields; records without text in any of the fields are counted and reported).",
        epilog="examples:\n  laura tokenizer train --data asr=data/asr/train.jsonl.gz --data slu=data/slu/train.jsonl.gz "
               "--vocab-size 4000 --out exp/tokenizer\n"
               "  laura tokenizer train --input data/mt/train.jsonl --fields text,translation --vocab-size 4000 "
               "--out exp/tokenizer model_type=bpe",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", action="append", default=[], metavar="TASK=MANIFEST",
                   help="a task's manifest: its text inputs and targets as the task formats them (repeatable)")
    p.add_argument("--input", action="append", default=[], metavar="FILE", help="a manifest, JSONL or .txt (repeatable)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (tokenizer.model + tokenizer.yaml)")
    p.add_argument("--vocab-size", type=int, required=True)
    p.add_argument("--fields", default="text", help="comma-separated text fields to read (default: text)")
    p.add_argument("--type", default="sentencepiece", help="tokenizer component to train (default: sentencepiece)")
    p.add_argument("options", nargs="*", metavar="key=value", help="trainer options, e.g. model_type=bpe")
    p.set_defaults(func=cmd_tokenizer_train)

    p = sub.add_parser(
        "validate", help="check a manifest's records before training or inference",
        description="Check every record of a lhotse manifest against a task: each field the task needs is present, "
                    "non-empty and of the right type; audio files exist, decode, have an accepted sample rate, match "
                    "their cut's duration and fall within the duration limits; texts are within max_text_chars; ids are unique, safe file names (no path separators, no leading '.', no control characters, at most 200 characters) and durations finite and positive. Prints the first "
                    "problems (record id, field, reason); --json writes them all. Options are key=value.\n\n"
                    "exit status: 0 every record is valid, 1 some record is bad, 2 usage error",
        epilog="options (key=value):\n"
               "  sample_rates=[16000]   accepted file sample rates (default: any; audio is resampled when read)\n"
               "  min_duration=0.1 max_duration=30   seconds, for every audio field\n"
               "  tolerance=0.01         seconds an audio file may differ from its cut's duration\n"
               "  max_text_chars=4000    characters of a text field\n"
               "  decode_all=true        decode whole files (default: header and first frames)\n"
               "  require_codes=true     codec-output tasks (tts, se) must hold codec codes\n"
               "  inputs_only=true       check the model's input field alone (records without references)\n\n"
               "example:\n  laura validate data/asr/train.jsonl.gz --task asr --json asr_train.json max_duration=20",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("manifest", nargs="+", metavar="MANIFEST",
                   help="lhotse CutSets of the task, e.g. DST/asr/train.jsonl.gz DST/asr/dev.jsonl.gz")
    p.add_argument("--task", required=True, help="registered task name (see `laura plugins`)")
    p.add_argument("--json", metavar="OUT", help="also write the report, every problem included, as JSON "
                                                 "(several manifests: an object keyed by manifest)")
    p.add_argument("options", nargs="*", metavar="key=value", help="validation options (see below)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser(
        "prepare", help="turn a corpus into laura manifests", usage="laura prepare [-h] NAME [SRC] DST [key=value ...]",
        description="Run corpus preparer NAME (a component of kind 'preparer', see `laura plugins`): it reads the "
                    "corpus at SRC, if it needs one, and writes DST/<task>/<split>.jsonl.gz. Options of the preparer "
                    "are given as key=value. Prints each manifest written with its cuts and hours of audio.",
        epilog="examples:\n  laura prepare mini data/mini\n  laura prepare NAME /corpora/NAME data/NAME key=value",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", metavar="NAME", help="registered preparer")
    p.add_argument("args", nargs="+", metavar="[SRC] DST [key=value ...]",
                   help="corpus folder (for preparers that need one), output folder and preparer options; "
                        "an argument holding '=' is an option, never a path")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser(
        "train", help="train a model from a YAML config",
        description="Train what CONFIG describes: kind lm (LauraGPT on the tasks of its data section), codec (a codec "
                    "and its discriminator) or vocoder (a codec vocoder against a trained codec). The resolved "
                    "config goes to EXP/config.yaml, values to EXP/log.jsonl (and EXP/tensorboard when tensorboard "
                    "is installed), checkpoints to EXP/checkpoints/step_<N>/. resume=true continues from the newest "
                    "valid checkpoint exactly where it stopped. EXP is locked for the run; SIGTERM or SIGUSR1 "
                    "(preemption) finishes the step, writes a checkpoint and exits with status 143.",
        epilog="examples:\n  laura train egs/mini/conf/lauragpt.yaml exp_dir=exp/mini/lm\n"
               "  laura train egs/mini/conf/lauragpt.yaml exp_dir=exp/mini/lm resume=true max_steps=4000\n"
               "  laura train egs/mini/conf/codec_small.yaml exp_dir=exp/codec",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", metavar="CONFIG", help="training config YAML")
    p.add_argument("options", nargs="*", metavar="key=value", help="config overrides, e.g. optim.lr=3e-4")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "curves", help="plot a training run's learning curves",
        description="Plot per-task validation loss and each task's own metric (from decoded dev items) against "
                    "step and wall time, from EXP/log.jsonl, as a PNG.",
    )
    p.add_argument("exp_dir", metavar="EXP_DIR", help="training experiment folder (holds log.jsonl)")
    p.add_argument("--out", default=None, metavar="PNG", help="output file (default: EXP_DIR/curves.png)")
    p.set_defaults(func=cmd_curves)

    p = sub.add_parser(
        "average", help="average the weights of the last or best N checkpoints into a model",
        description="Average the model weights of the newest N (--last) or the best N (--best, as ranked in "
                    "EXP/checkpoints/best.json by a run with keep_best > 0) checkpoints of EXP into OUT, a model "
                    "directory load_model reads. Every checkpoint is verified first; checkpoints of different "
                    "layouts are refused. Without --last or --best, every checkpoint is averaged.",
        epilog="examples:\n  laura average exp/tiny exp/tiny/avg_last5 --last 5\n"
               "  laura average exp/tiny exp/tiny/avg_best3 --best 3",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("exp_dir", metavar="EXP_DIR", help="training experiment folder (holds checkpoints/)")
    p.add_argument("out_dir", metavar="OUT_DIR", help="where the averaged model goes")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--last", type=int, metavar="N", help="average the newest N checkpoints")
    which.add_argument("--best", type=int, metavar="N", help="average the best N checkpoints (by best.json)")
    p.set_defaults(func=cmd_average)

    p = sub.add_parser(
        "release", help="copy a checkpoint without its trainer state, to ship with a recipe",
        description="Copy checkpoint SRC (LauraGPT or vocoder; verified first) without trainer.pt (optimizer, data "
                    "position) to DST, with its own manifest: what a recipe ships and loads in place of training. "
                    "Codecs have `laura codec release`.",
        epilog="example:\n  laura release exp/release/vocoder_small/checkpoints/step_00001000 egs/mini/pretrained/vocoder_small",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("src", metavar="SRC", help="checkpoint directory (EXP/checkpoints/step_N)")
    p.add_argument("dst", metavar="DST", help="new folder (must not exist)")
    p.add_argument("--dtype", choices=("keep", "float16", "bfloat16", "float32"), default="keep",
                   help="cast the floating weights (float16: half the size; loading casts them back)")
    p.add_argument("--part", choices=("backbone", "encoder"),
                   help="keep only this part of a LauraGPT (PART.safetensors, with the layout and tokenizer it "
                        "was trained with): a pretrained starting point for another run's init.PART")
    p.set_defaults(func=cmd_release)

    p = sub.add_parser(
        "infer", help="run a trained model on task manifests (outputs `laura score` reads)",
        description="Decode every record of each --data manifest with the LauraGPT of MODEL (a checkpoint directory "
                    "EXP/checkpoints/step_N or a `laura average` output; its tokenizer and codec must be the ones it "
                    "was trained with) into OUT/<task>/<split>/{ref,hyp}.jsonl. Audio outputs (tts, se) are voiced by "
                    "the vocoder (--vocoder) and written to OUT/<task>/<split>/wav/. Batched by duration, KV-cached; "
                    "an interrupted run resumes where it stopped. Options are key=value.",
        epilog="options (key=value):\n"
               "  text.strategy=greedy   greedy | beam | sample, for text outputs (text.beam_size=4, text.top_k, ...)\n"
               "  prompts=true           promptable tasks (tts) speak in the voice of each record's prompt recording\n"
               "                         (its `prompt` and `prompt_text` fields); prompts=false: without prompts\n"
               "  prompt_seconds=3       prompts are cut to this length (a cut prompt gives no text)\n"
               "  text.ctc_weight=0      joint CTC/attention decoding of transcribing tasks (asr) by a model with a\n"
               "                         CTC head: weight of the CTC prefix score (text.ctc_pre_beam=256 candidates)\n"
               "  codec.top_k=25         codec outputs sample (codec.temperature, codec.max_new_tokens=750)\n"
               "  text.no_repeat_ngram_size=0   N > 0: no output holds an N-gram twice (text.repetition_penalty=1.0)\n"
               "  tasks.NAME.OPTION=...  one task's decode options over its modality's: tasks.mt.no_repeat_ngram_size=3\n"
               "  max_duration=60        seconds of input per batch\n"
               "  shard=K/N              decode every N-th record from the K-th: N processes split the manifests\n"
               "                         into the same OUT; the last to finish merges in manifest order\n"
               "  validation.max_duration=30   longest accepted input, seconds (see `laura validate --help`)\n"
               "  precision=fp32         or bf16: autocast, about 2x faster on CPUs with AMX (outputs may differ)\n"
               "  decode_weights=fp32    or bf16, int8: decode steps read rounded copies of the weight matrices\n"
               "                         (weight-only; a memory-bound step reads 2x or 4x fewer bytes)\n"
               "  seed=0 device=cpu\n\n"
               "example:\n  laura infer exp/mini/lm/checkpoints/step_00000300 exp/mini/decode "
               "--data asr=data/mini/asr/test.jsonl.gz --data mt=data/mini/mt/test.jsonl.gz text.strategy=beam\n"
               "  laura score --dir exp/mini/decode",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", help="checkpoint, averaged model or experiment folder (its newest checkpoint)")
    p.add_argument("out", metavar="OUT", help="output directory")
    p.add_argument("--data", action="append", required=True, metavar="TASK=MANIFEST",
                   help="a task and its manifest (repeat for more)")
    p.add_argument("--vocoder", metavar="DIR", help="vocoder checkpoint for audio outputs (tts, se)")
    p.add_argument("--prompt", metavar="WAV", help="one voice prompt for every record of a promptable task (tts)")
    p.add_argument("--prompt-text", metavar="TEXT", help="the transcript of --prompt")
    p.add_argument("options", nargs="*", metavar="key=value", help="inference options (see below)")
    p.set_defaults(func=cmd_infer)

    p = sub.add_parser(
        "serve", help="serve a trained model over HTTP: a JSON endpoint per task and a web page",
        description="Serve the LauraGPT of MODEL (a checkpoint, an averaged or released model, or an experiment "
                    "folder: its newest checkpoint) over HTTP: POST /api/<task> with a multipart form (audio as a "
                    "file upload, or text), GET /health, and a web page at / to try every task from a browser. "
                    "Concurrent requests are batched; inputs over the limits get a 4xx naming the limit. Binds to "
                    "localhost unless --host says otherwise. Options are key=value.",
        epilog="options (key=value):\n"
               "  max_upload_mb=20       per request          max_seconds=60   of audio per input or prompt\n"
               "  max_text=1000          characters of text   max_batch=8      requests decoded together\n"
               "  batch_wait_ms=20       how long a batch waits to fill      max_queue=64   then 429\n"
               "  infer.<key>=...        `laura infer`'s options: infer.text.max_new_tokens=200 (a request may\n"
               "                         ask for fewer), infer.precision=bf16, infer.prompt_seconds=3, ...\n\n"
               "example:\n  laura serve exp/mini/lm --port 8000\n"
               "  curl -F audio=@speech.wav http://127.0.0.1:8000/api/asr\n"
               "  curl -F text='good morning' 'http://127.0.0.1:8000/api/tts?format=wav' -o morning.wav",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", help="checkpoint, averaged model or experiment folder")
    p.add_argument("--vocoder", metavar="DIR", help="vocoder for audio outputs (default: the model's valid_vocoder)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--device", default="cpu")
    p.add_argument("options", nargs="*", metavar="key=value", help="server options (see below)")
    p.set_defaults(func=cmd_serve)

    codec = sub.add_parser("codec", help="encode audio into codec codes and decode them back",
                           description="Codec codes: encode manifests or wav folders, decode code folders, export "
                                       "a codec directory. --codec is a codec directory (a `laura train` kind codec "
                                       "checkpoint, or `laura codec export`) or a registered codec name.")
    codec_sub = codec.add_subparsers(dest="codec_command", required=True, metavar="COMMAND")
    for name, func, help_, epilog in (
        ("encode", cmd_codec_encode,
         "SRC manifest -> DST manifest with first-group codes (and the codec identity) on each cut; "
         "SRC wav folder -> DST folder of .npy codes [n_q, T]",
         "examples:\n  laura codec encode --codec exp/codec/checkpoints/step_1000 data/tts/train.jsonl.gz "
         "data/coded/tts/train.jsonl.gz\n"
         "  laura codec encode --codec exp/codec/checkpoints/step_1000 data/se/train.jsonl.gz "
         "data/coded/se/train.jsonl.gz --field clean\n"
         "  laura codec encode --codec encodec wavs/ codes/ bandwidth=6"),
        ("decode", cmd_codec_decode, "SRC folder of .npy codes -> DST folder of wav files",
         "example:\n  laura codec decode --codec exp/codec/checkpoints/step_1000 codes/ wavs_out/"),
    ):
        p = codec_sub.add_parser(name, help=help_, description=help_ + ". Batched; an interrupted run resumes where "
                                 "it stopped; outputs are written atomically.", epilog=epilog,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("src", metavar="SRC")
        p.add_argument("dst", metavar="DST")
        p.add_argument("--codec", required=True, help="codec directory or registered codec name")
        p.add_argument("--size", default="", help="size preset of a named codec (e.g. tiny, paper)")
        p.add_argument("options", nargs="*", metavar="key=value", help="options of a named codec")
        p.add_argument("--batch-seconds", type=float, default=60.0, help="audio per batch, padding included")
        p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
        if name == "encode":
            p.add_argument("--field", default="audio",
                           help="which audio of a manifest's cuts to encode: audio (the cut's own; tts targets) "
                                "or clean (se targets)")
        p.set_defaults(func=func)
    p = codec_sub.add_parser("export", help="write a codec directory for a registered codec",
                             description="Build codec NAME (size preset and options, e.g. a pretrained checkpoint "
                                         "path) and write it as a codec directory that encode, decode and training "
                                         "configs (codec.path) use.",
                             epilog="example:\n  laura codec export encodec exp/encodec_6k bandwidth=6 "
                                    "checkpoint=~/encodec_24khz-d7cc33bc.th",
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", metavar="NAME")
    p.add_argument("dst", metavar="DST")
    p.add_argument("--size", default="")
    p.add_argument("--seed", type=int, default=0, help="initialises weights the options do not load")
    p.add_argument("options", nargs="*", metavar="key=value")
    p.set_defaults(func=cmd_codec_export)
    p = codec_sub.add_parser("release", help="copy a codec directory with its weights cast (float16: half the size)",
                             description="Copy codec directory SRC to DST with its floating weights cast to "
                                         "--dtype, e.g. to ship a trained codec with a recipe. The copy has its "
                                         "own identity: codes made with SRC are not DST's.")
    p.add_argument("src", metavar="SRC")
    p.add_argument("dst", metavar="DST")
    p.add_argument("--dtype", choices=("float16", "bfloat16", "float32"), default="float16")
    p.set_defaults(func=cmd_codec_release)

    model = sub.add_parser("model", help="inspect model configurations",
                           description="Model configurations: a named size (tiny, small, paper) or a YAML file.")
    model_sub = model.add_subparsers(dest="model_command", required=True, metavar="COMMAND")
    p = model_sub.add_parser("info", help="build a model config (shapes only) and print its parameter counts",
                             description="Build the model of CONFIG on the meta device (no memory, no weights) and "
                                         "print parameters per component and the vocabulary layout.")
    p.add_argument("config", help="named size (tiny, small, paper) or a model YAML")
    p.add_argument("options", nargs="*", metavar="key=value", help="config overrides, e.g. backbone_conf.num_hidden_layers=4")
    p.set_defaults(func=cmd_model_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse takes a command's positionals in one run: key=value options after a flag come back as extras.
    takes_options = isinstance(getattr(args, "options", None), list)
    if extra and takes_options and all("=" in e and not e.startswith("-") for e in extra):
        args.options += extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args)
    except LauraError as e:
        code = getattr(e, "exit_code", 2)  # a stop on a signal is not an error, but it is not done either
        print(f"laura: {'error: ' if code == 2 else ''}{e}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print("laura: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into head and the like
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
