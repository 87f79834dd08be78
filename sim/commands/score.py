"""``ceasefire score``: the model's forecasts and the baselines' scored against a record."""

from __future__ import annotations

import argparse
from pathlib import Path

from sim.cli import check_runs_and_seed, check_workers
from sim.figures import FORMATS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="score forecasts against a record, beside simple baselines",
                       description="Score the model's runs, the model without rule 8 and three "
                                   "baselines (constant-rate Poisson, pre-ceasefire rate x drop, "
                                   "Hawkes) on what a scenario's record supports (monitor counts, "
                                   "else numeric claims; the first violation; collapse by 6 h to "
                                   "7 days), which none of them is fitted to; the rest is undefined, "
                                   "with why. Writes scores.csv, skill.csv and score-bands.png.")
    p.add_argument("scenario", help="scenario file or bundled name; its record is the truth")
    p.add_argument("--posterior", type=Path, metavar="FILE",
                   help="draw each run's parameters from a posterior sample (from ceasefire calibrate)")
    p.add_argument("--runs", type=int, default=1000, help="runs per model predictor (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--train", nargs="+", metavar="REC",
                   help="scenarios whose records fit the baselines (default: every other bundled "
                        "record with count lines of the kind)")
    p.add_argument("--kind", choices=("violations", "explosions", "claims"), default=None,
                   help="which series to score by the CRPS (default: the monitor count kind with "
                        "more windows after t = 0, else the parties' numeric claims)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="output folder (default: results/<scenario name>-score)")
    p.add_argument("--format", choices=FORMATS, default="png", help="figure format (default png)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Carry out ``ceasefire score``."""
    check_runs_and_seed(args.runs, args.seed, least_runs=2)
    check_workers(args.workers)
    from sim.scoring import score, summary_text, write_outputs

    result = score(args.scenario, posterior=args.posterior, runs=args.runs, seed=args.seed,
                   workers=args.workers, train=args.train, kind=args.kind)
    out = args.out or Path("results") / f"{result.scenario}-score"
    written = write_outputs(result, out, args.format)
    print(summary_text(result))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0
