"""The ``laura`` command. Each subcommand is a small function; user mistakes end as one line on
stderr (``laura: error: ...``) and exit status 2, never a traceback."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from laura_core.errors import LauraError


def cmd_plugins(args: argparse.Namespace) -> int:
    from laura_core.registry import get_registry

    entries = get_registry().entries()
    if args.json:
        print(json.dumps([
            {"kind": e.kind, "name": e.name, "source": e.source, "distribution": e.distribution, "description": e.description}
            for e in entries
        ], indent=2))
        return 0
    rows = [("KIND", "NAME", "DISTRIBUTION", "PLUGIN", "DESCRIPTION")]
    rows += [(e.kind, e.name, e.distribution, e.source, e.description) for e in entries]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4])
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from laura_core.io import write_json
    from laura_core.registry import get_registry
    from laura_core.scoring import format_report, results_markdown, score_dir, score_files

    registry = get_registry()
    if args.dir:
        if args.task or args.ref or args.hyp:
            raise LauraError("--dir scores a whole experiment folder; do not combine it with --task/--ref/--hyp")
        reports = score_dir(args.dir, registry, args.overrides)
        print(results_markdown(reports), end="")
        print(f"wrote {args.dir}/RESULTS.md and {args.dir}/results.json")
        return 0
    missing = [flag for flag, value in (("--task", args.task), ("--ref", args.ref), ("--hyp", args.hyp)) if not value]
    if missing:
        raise LauraError(f"score needs {', '.join(missing)} (or --dir EXP)")
    report = score_files(registry.task(args.task), args.ref, args.hyp, registry, args.overrides, args.config)
    print(format_report(report))
    if args.json:
        write_json(args.json, report.to_json())
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

    p = sub.add_parser(
        "score", help="score hypotheses of any task against references",
        description="Score a task from two JSONL files matched by 'id' (text outputs in 'text', audio outputs in "
                    "'audio' as a file path relative to the JSONL file; slu records hold 'intent' and 'slots'), "
                    "or every task of an experiment folder with --dir. Missing hypotheses count as errors; "
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
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="scoring options; with --dir, prefix each with its task: asr.normalizer.lowercase=false")
    p.set_defaults(func=cmd_score)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LauraError as e:
        print(f"laura: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("laura: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
