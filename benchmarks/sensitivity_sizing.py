"""How many replicates and base samples do the Sobol' indices need? Measured on a finished batch.

    python benchmarks/sensitivity_sizing.py RESULTS [--spec experiments/sensitivity.toml]

``RESULTS`` is the folder of a finished ``ceasefire sensitivity SPEC --out RESULTS``. The batch
is analysed again on its first R runs per point (R = 1 .. the spec's replicates) and its first N
base rows (N = 32 .. the spec's base_samples, powers of two), without running anything, and a
Markdown table is printed: per statistic, the noise share, the parameter with the largest total
index and its interval, and how many parameters' indices are *distinguishable*: an interval
that excludes 0 and is narrower than the index.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from sim.studies import experiment
from sim.studies.experiment_spec import SpecError
from sim.studies.sensitivity import analyse

SPEC = Path(__file__).resolve().parent.parent / "experiments" / "sensitivity.toml"


def distinguishable(table: pd.DataFrame, col: str) -> pd.Series:
    """Rows whose ``col`` interval excludes 0 and is narrower than the index."""
    low, high, est = table[f"{col}_low"], table[f"{col}_high"], table[col]
    return (low > 0) & (high - low < est)


def sizing(results: experiment.BatchResults) -> pd.DataFrame:
    """One row per (base samples, replicates, statistic)."""
    spec = results.experiment.spec
    full = spec.sensitivity.base_samples if spec.sensitivity is not None else 0
    rows = []
    sizes = [2 ** k for k in range(5, full.bit_length()) if 2 ** k <= full]
    for base in sizes:
        for reps in range(1, results.experiment.spec.experiment.replicates + 1):
            table = analyse(results, replicates=reps, base_samples=base)
            for stat, t in table.groupby("statistic", sort=False):
                top = t.loc[t["ST"].idxmax()]
                rows.append({"base_samples": base, "replicates": reps, "runs": base * (len(t) + 2) * reps,
                             "statistic": stat, "noise_share": round(float(t["noise_share"].iloc[0]), 3),
                             "top (ST)": top["parameter"],
                             "ST [95%]": f"{top['ST']:.2f} [{top['ST_low']:.2f}, {top['ST_high']:.2f}]",
                             "ST distinguishable": int(distinguishable(t, "ST").sum()),
                             "S1 distinguishable": int(distinguishable(t, "S1").sum())})
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    """A Markdown table of ``table`` (without needing the tabulate package)."""
    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="folder of a finished `ceasefire sensitivity` batch")
    parser.add_argument("--spec", type=Path, default=SPEC, help="the spec it ran (default: %(default)s)")
    args = parser.parse_args()
    try:
        results = experiment.run(args.spec, out=args.results, resume=True, workers=1, progress=False)
        if results.experiment.spec.sensitivity is None:
            raise SpecError(f"{args.spec}: no [sensitivity] table")
        print(markdown(sizing(results)))
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
