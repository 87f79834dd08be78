"""``ceasefire discover RESULTS``: PRIM boxes and feature scores on a finished experiment batch."""

from __future__ import annotations

import argparse
from typing import Any

HELP = "scenario discovery on a finished batch: PRIM boxes where an outcome is concentrated, feature scores"


def add_parser(subparsers: Any) -> None:
    """Register ``discover`` and its options."""
    from sim.faces.figures import FORMATS as FIGURE_FORMATS
    from sim.studies.discover import CONDITION_HELP, PER

    p = subparsers.add_parser(
        "discover", help=HELP,
        description=HELP + ". Writes discover-trajectory.csv, discover-box.csv, discover-scores.csv and "
        "discover.png into the batch folder (or --out).")
    p.add_argument("results",
                   help="folder of a finished `ceasefire experiment` with [sample] or [grid] points")
    p.add_argument("--where", dest="condition", default="held == false", metavar="CONDITION",
                   help=f"which runs are of interest (default: 'held == false'); {CONDITION_HELP}")
    p.add_argument("--per", choices=PER, default="run",
                   help="a case is a run (0/1, the default) or a point (the share of its replicates)")
    p.add_argument("--box", type=int, metavar="I", help="report box I of the trajectory (default: the knee)")
    p.add_argument("--out", metavar="DIR", help="where the tables and figure go (default: RESULTS)")
    p.add_argument("--seed", type=int, default=0, help="seed of the feature scoring's trees (default: 0)")
    p.add_argument("--figure-format", choices=FIGURE_FORMATS, default="png", help="figure format")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Run the discovery, print the chosen box and the scores, list the files."""
    from sim.faces.cli import UsageError
    from sim.faces.figures.discover import write_discovery_figure
    from sim.studies.discover import discover

    if args.seed < 0:
        raise UsageError(f"--seed {args.seed}: must be ≥ 0")
    found = discover(args.results, args.condition, per=args.per, box=args.box, out=args.out, seed=args.seed)
    write_discovery_figure(found, args.out if args.out is not None else args.results, args.figure_format)
    print(found.summary())
    for path in found.files:
        print(f"  {path}")
    return 0
