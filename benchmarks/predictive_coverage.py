"""Posterior predictive coverage of a record's monitor counts.

    python benchmarks/predictive_coverage.py NAME [--runs N] [--workers W] [--seed S] [--figure PNG]

Draws ``--runs`` parameter sets from ``scenarios/<NAME>.posterior.csv`` (by weight), simulates
each over the calibration's window (same start and horizon as ``ceasefire calibrate``), computes
every monitor count of the record the way the calibration does (sim.records.observations, each run's own
monitor stream), and says for each count line whether the recorded count lies inside the 90%
predictive band (5th to 95th percentile of the simulated counts). Prints one line per count and
the number of periods inside and outside, before and after t = 0. ``--figure`` draws the bands
and the recorded counts over time.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from sim.records.observations import simulated
from sim.studies.calibration import (
    as_overrides,
    calibration_case,
    load_spec,
    read_posterior,
    run_observer,
)
from sim.studies.runner import map_runs

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
PREDICTIVE_SEED = 0x70726564
"""Seed of the predictive runs, apart from the calibration's run seeds."""


def coverage(name: str, runs: int, workers: int, seed: int) -> list[dict[str, object]]:
    spec = load_spec(SCENARIOS / f"{name}.calibration.toml")
    table = read_posterior(SCENARIOS / f"{name}.posterior.csv")
    case, stats, horizon_min = calibration_case(spec)
    w = table["weight"].to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(table), size=runs, p=w / w.sum())
    values = table[[p.path for p in spec.priors]].to_numpy(dtype=float)[picks]
    overrides = {i: as_overrides(spec.priors, values[i]) for i in range(runs)}
    records = map_runs(case, seed, range(runs), workers=workers, keep_events=True, keep_steps=False,
                       overrides_by_run=overrides)
    here = replace(spec, seed=seed)  # monitor draws from this check's own streams
    sims = np.array([simulated(stats, rec.events, horizon_min, run_observer(case, here, values[i], i))
                     for i, rec in enumerate(records)])
    rows = []
    for j, st in enumerate(stats):
        if st.measure != "monitor_count":
            continue
        col = sims[:, j]
        lo, hi = np.quantile(col, [0.05, 0.95])
        to_count = np.expm1 if st.log_scale else (lambda v: v)
        rows.append({"name": st.name, "t_from": st.t_from, "t_to": st.t_to,
                     "recorded": float(to_count(st.low)), "band_low": float(to_count(lo)),
                     "band_high": float(to_count(hi)), "median": float(to_count(np.median(col))),
                     "inside": bool(lo <= st.low <= hi)})
    return rows


def figure(rows: list[dict[str, object]], title: str, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    kinds = sorted({r["name"].split("_")[1] + " " + r["name"].split("_")[2] for r in rows})
    fig, axes = plt.subplots(len(kinds), 1, figsize=(9, 2.2 * len(kinds)), sharex=True, squeeze=False)
    for ax, kind in zip(axes[:, 0], kinds, strict=True):
        sel = [r for r in rows if r["name"].split("_")[1] + " " + r["name"].split("_")[2] == kind]
        for r in sel:
            x0, x1 = r["t_from"] / 1440, r["t_to"] / 1440
            ax.fill_between([x0, x1], 1 + r["band_low"], 1 + r["band_high"], color="tab:blue", alpha=0.3,
                            linewidth=0)
            ax.plot([(x0 + x1) / 2], [1 + r["recorded"]], "o", ms=3,
                    color="black" if r["inside"] else "tab:red")
        ax.set_yscale("log")
        ax.set_ylabel(f"1 + {kind}")
        ax.axvline(0, color="grey", linewidth=0.8)
    axes[-1, 0].set_xlabel("days since the ceasefire took effect")
    axes[0, 0].set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=PREDICTIVE_SEED)
    parser.add_argument("--figure", type=Path)
    args = parser.parse_args()
    rows = coverage(args.name, args.runs, args.workers, args.seed)
    for r in rows:
        print(f"{r['name']:40s} recorded {r['recorded']:6.0f}   90% band {r['band_low']:6.0f} to "
              f"{r['band_high']:6.0f}   {'inside' if r['inside'] else 'OUTSIDE'}")
    for label, part in (("before t = 0", [r for r in rows if r["t_to"] <= 0]),
                        ("after t = 0", [r for r in rows if r["t_to"] > 0]), ("all", rows)):
        inside = sum(r["inside"] for r in part)
        print(f"{args.name}, {label}: {inside} of {len(part)} count periods inside the 90% band, "
              f"{len(part) - inside} outside")
    if args.figure:
        figure(rows, f"{args.name}: recorded counts (dots; red outside) and 90% posterior "
               f"predictive bands, {args.runs} runs", args.figure)


if __name__ == "__main__":
    main()
