"""``ceasefire experiment SPEC``: run an experiment batch and draw its figure."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from sim.studies.batch_store import FORMATS

HELP = "run an experiment batch (grid, sampled parameters, replicates) from a spec file"


def add_parser(subparsers: Any) -> None:
    """Register ``experiment`` and its options."""
    p = subparsers.add_parser(
        "experiment", help=HELP, description=HELP + ". Results stream to Parquet (or CSV) as runs finish; "
        "an interrupted batch continues with --resume.")
    add_batch_options(p)
    p.add_argument("--no-figure", action="store_true", help="skip the spec's figure")
    p.set_defaults(func=main)


def add_batch_options(p: argparse.ArgumentParser) -> None:
    """The options every batch command shares (experiment, sensitivity)."""
    from sim.faces.figures import FORMATS as FIGURE_FORMATS

    p.add_argument("spec", help="experiment spec (TOML), e.g. experiments/erosion-curves.toml")
    p.add_argument("--workers", type=int, metavar="N",
                   help="local worker processes (default: all cores; 1 runs in this process)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on a Dask distributed cluster, e.g. tcp://10.0.0.5:8786 (the 'cluster' extra)")
    p.add_argument("--out", metavar="DIR", help="batch folder (default: results/<experiment name>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the unfinished batch in --out (refused if the spec changed)")
    p.add_argument("--replicates", type=int, metavar="N", help="runs per point (overrides the spec)")
    p.add_argument("--format", choices=FORMATS, default="parquet", help="table format (default: parquet)")
    p.add_argument("--figure-format", choices=FIGURE_FORMATS, default="png", help="figure format")


def run_batch(args: argparse.Namespace, changes: dict[str, Any] | None = None,
              check: Callable[[Any], None] | None = None) -> Any:
    """Load the spec with the command's overrides, ``check`` it, run it; returns BatchResults.

    Raises UsageError / SpecError for bad input; a crashed worker or a full disk ends in one
    line and exit code 1, with the finished runs kept for --resume.
    """
    from sim.faces.cli import UsageError, check_workers
    from sim.studies import experiment

    if args.workers is not None:
        check_workers(args.workers)
    if args.workers is not None and args.scheduler:
        raise UsageError("--workers and --scheduler: choose one (the cluster has its own workers)")
    changes = dict(changes or {})
    if args.replicates is not None:
        changes["experiment.replicates"] = args.replicates
    exp = experiment.load_spec(args.spec, changes or None)
    if check is not None:
        check(exp)
    out = Path(args.out) if args.out else Path("results") / exp.name
    args.out = str(out)  # named in the message if the batch stops early
    return experiment.run(exp, workers=args.workers, scheduler=args.scheduler, out=out,
                          resume=args.resume, fmt=args.format)


def stopped(command: str, args: argparse.Namespace, exc: BaseException) -> int:
    """Report a batch that stopped before its end, and how to continue it."""
    reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"stopped: {exc}"
    saved = f"the finished runs are saved in {args.out}" if args.out else "the finished runs are saved"
    print(f"ceasefire {command}: {reason}; {saved}: continue with "
          f"`ceasefire {command} {args.spec} --resume{f' --out {args.out}' if args.out else ''}`",
          file=sys.stderr)
    return 130 if isinstance(exc, KeyboardInterrupt) else 1


def describe(results: Any) -> str:
    """One line on what ran: runs, points × replicates, time, rate."""
    m = results.manifest
    rate = f", {m['runs_per_s']:.0f} runs/s" if m.get("runs_per_s") else ""
    return (f"{m['experiment']}: {m['runs']} runs ({m['points']} points × {m['replicates']} replicates, "
            f"seed {m['seed']}) in {m.get('elapsed_s', 0):.1f} s{rate}")


def main(args: argparse.Namespace) -> int:
    """Run the batch, draw its figure, print where everything went."""
    try:
        results = run_batch(args)
    except (KeyboardInterrupt, BrokenProcessPool, OSError) as exc:
        return stopped("experiment", args, exc)
    print(describe(results))
    written = [results.folder / f"{name}.{results.fmt}" for name in ("outcomes", "series", "points")]
    if not args.no_figure:
        from sim.faces.figures.batch import experiment_figure

        figure = experiment_figure(results, args.figure_format)
        if figure is not None:
            written.append(figure)
    for path in [*written, results.folder / "manifest.json"]:
        if path.is_file():
            print(f"  {path}")
    return 0
