"""Which parameters did each record inform? Posterior 90% width against prior 90% width.

    python benchmarks/posterior_widths.py [NAME ...]

For every record with a committed calibration (``scenarios/<name>.calibration.toml`` and
``scenarios/<name>.posterior.csv``) and every parameter with a prior, prints a Markdown table of
the posterior median, the weighted 90% interval, and the ratio

    (q95 - q05 of the posterior) / (q95 - q05 of the prior),

both measured in the prior's unit space (the parameter itself for a uniform prior, its logarithm
for a log-uniform one), so the prior's 90% width is 0.9 and a ratio near 1 means "not learned".
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from sim.studies.calibration import load_spec, read_posterior, weighted_quantile

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
PRIOR_WIDTH = 0.9
"""Width of a prior's 90% interval in its unit space (every prior is uniform there)."""


def widths(name: str) -> list[dict[str, object]]:
    """One row per prior of the record's calibration."""
    spec = load_spec(SCENARIOS / f"{name}.calibration.toml")
    table = read_posterior(SCENARIOS / f"{name}.posterior.csv")
    w = table["weight"].to_numpy(dtype=float)
    rows = []
    for prior in spec.priors:
        x = table[prior.path].to_numpy(dtype=float)
        z = prior.to_unit(x)
        z05, z95 = weighted_quantile(z, w, [0.05, 0.95])
        q05, q50, q95 = weighted_quantile(x, w, [0.05, 0.5, 0.95])
        rows.append({"record": name, "parameter": prior.path,
                     "prior": f"{prior.distribution} {prior.low:g}–{prior.high:g}",
                     "median": q50, "q05": q05, "q95": q95,
                     "ratio": (z95 - z05) / PRIOR_WIDTH})
    return rows


def markdown(rows: list[dict[str, object]]) -> str:
    out = ["| record | parameter | prior | posterior median | posterior 90% | width / prior width |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['record']} | `{r['parameter']}` | {r['prior']} | {r['median']:.3g} | "
                   f"{r['q05']:.3g}–{r['q95']:.3g} | {r['ratio']:.2f} |")
    return "\n".join(out)


def main(argv: list[str]) -> None:
    names = argv or sorted(p.name.removesuffix(".posterior.csv")
                           for p in SCENARIOS.glob("*.posterior.csv"))
    rows = [r for n in names for r in widths(n)]
    print(markdown(rows))
    ess = {n: None for n in names}
    for n in names:
        w = read_posterior(SCENARIOS / f"{n}.posterior.csv")["weight"].to_numpy(dtype=float)
        ess[n] = float(w.sum() ** 2 / np.sum(w * w))
    print()
    print("effective sample size of each posterior (Kish): " +
          ", ".join(f"{n} {e:.0f}" for n, e in ess.items()))


if __name__ == "__main__":
    main(sys.argv[1:])
