"""What did a set calibration inform? Posterior 90% width against prior 90% width, per parameter,
beside the same parameter's width in each record's own (single-record) calibration.

    python benchmarks/set_widths.py [SET]        # default: donbas

Reads ``calibrations/<SET>.toml`` and its committed posterior ``calibrations/<SET>/<SET>.posterior.csv``;
for each record, ``scenarios/<record>.posterior.csv`` (the single-record calibration) if the
same key path has a prior there. Ratios are measured in the prior's unit space (log units for a
log-uniform prior), so a ratio near 1 means "not learned"; the prior ranges of the set and of a
single-record spec may differ (see the set spec), so compare the ratios with that in mind.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sim.studies.calibration import (
    SEPARATOR,
    Prior,
    load_set_spec,
    load_spec,
    read_posterior,
    weighted_quantile,
)

ROOT = Path(__file__).resolve().parent.parent
PRIOR_WIDTH = 0.9


def ratio(prior: Prior, x, w) -> tuple[float, float, float, float]:
    """Median, q05, q95 and the 90% width ratio of a weighted sample under ``prior``."""
    z05, z95 = weighted_quantile(prior.to_unit(x), w, [0.05, 0.95])
    q05, q50, q95 = weighted_quantile(x, w, [0.05, 0.5, 0.95])
    return q50, q05, q95, (z95 - z05) / PRIOR_WIDTH


def single_ratio(record: str, path: str) -> float | None:
    """The width ratio of ``path`` in ``record``'s own calibration, if it has one."""
    spec_file = ROOT / "scenarios" / f"{record}.calibration.toml"
    sample = ROOT / "scenarios" / f"{record}.posterior.csv"
    if not (spec_file.is_file() and sample.is_file()):
        return None
    spec = load_spec(spec_file)
    table = read_posterior(sample)
    for prior in spec.priors:
        if prior.path == path:
            return ratio(prior, table[path].to_numpy(dtype=float), table["weight"].to_numpy(dtype=float))[3]
    return None


def main(argv: list[str]) -> None:
    name = argv[0] if argv else "donbas"
    spec = load_set_spec(ROOT / "calibrations" / f"{name}.toml")
    table = read_posterior(ROOT / "calibrations" / name / f"{name}.posterior.csv")
    w = table["weight"].to_numpy(dtype=float)
    print("| parameter | prior | posterior median | posterior 90% | width / prior width | "
          "own calibration of each record |")
    print("|---|---|---|---|---|---|")
    for column, prior, owner in spec.parameters():
        if not isinstance(prior, Prior):
            continue
        q50, q05, q95, r = ratio(prior, table[column].to_numpy(dtype=float), w)
        records = [spec.records[owner].name] if owner is not None else spec.names
        path = column.split(SEPARATOR, 1)[-1]
        singles = [(rec, single_ratio(rec, path)) for rec in records]
        alone = ", ".join(f"{rec.split('-', 1)[1]} {s:.2f}" for rec, s in singles if s is not None) or "–"
        print(f"| `{column}` | {prior.distribution} {prior.low:g}–{prior.high:g} | {q50:.3g} | "
              f"{q05:.3g}–{q95:.3g} | {r:.2f} | {alone} |")


if __name__ == "__main__":
    main(sys.argv[1:])
