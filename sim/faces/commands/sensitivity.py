"""``ceasefire sensitivity SPEC``: Sobol' indices or Morris screening of a spec's sampled ranges."""

from __future__ import annotations

import argparse
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from sim.faces.commands.experiment import add_batch_options, describe, run_batch, stopped

HELP = "sensitivity analysis (SALib: Sobol' indices or Morris screening) of a spec's [sample] ranges"


def add_parser(subparsers: Any) -> None:
    """Register ``sensitivity`` and its options."""
    p = subparsers.add_parser("sensitivity", help=HELP,
                              description=HELP + ". Writes sensitivity.csv (Sobol': indices corrected for "
                              "replicate noise, bootstrap intervals, noise share, warnings) and a bar "
                              "chart into --out, and prints a warning per index its noise hides.")
    add_batch_options(p)
    p.add_argument("--method", choices=("sobol", "morris"), help="overrides the spec's method")
    p.add_argument("--base-samples", type=int, metavar="N",
                   help="Sobol': N (a power of two); Morris: trajectories (overrides the spec)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Run the design, analyse it, write the table and the chart, print the table."""
    from sim.faces.figures import save
    from sim.faces.figures.batch import sensitivity_bars
    from sim.studies.experiment_spec import SpecError
    from sim.studies.runner import write_csv_atomic
    from sim.studies.sensitivity import analyse, warnings_of

    changes: dict[str, Any] = {}
    if args.method:
        changes["sensitivity.method"] = args.method
    if args.base_samples is not None:
        changes["sensitivity.base_samples"] = args.base_samples

    def needs_design(exp: Any) -> None:
        if exp.spec.sensitivity is None:
            raise SpecError(f"{args.spec}: no [sensitivity] table (method, base_samples, outcomes); "
                            f"see experiments/sensitivity.toml")

    try:
        results = run_batch(args, changes, needs_design)
    except (KeyboardInterrupt, BrokenProcessPool, OSError) as exc:
        return stopped("sensitivity", args, exc)
    table = analyse(results)
    table_path = write_csv_atomic(table, results.folder / "sensitivity.csv")
    chart = save(sensitivity_bars(table, title=results.experiment.spec.experiment.title),
                 results.folder / "sensitivity", args.figure_format)
    print(describe(results))
    shown = table.drop(columns=[c for c in ("warning", "S1_raw", "ST_raw", "replicates") if c in table])
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for line in warnings_of(table):
        print(f"warning: {line}")
    print(f"  {table_path}\n  {chart}")
    return 0
