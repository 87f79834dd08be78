"""Benchmark of the calibration: simulations per second, and time to a posterior for Karabakh.

    python benchmarks/bench_calibration.py [--budget N] [--workers W] [--seed S] [--json]

Runs ``sim.studies.calibration.calibrate`` on the Karabakh scenario with its calibration spec (default
budget and seed unless given) and prints the wall time to the posterior and the simulations per
second it sustained (worker start-up and the ABC bookkeeping included); for reference it also
times the same calibration runs one by one in this process.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from sim.studies.calibration import (
    as_overrides,
    calibrate,
    calibration_case,
    load_spec,
    prior_values,
    spec_path_for,
)
from sim.studies.runner import map_runs

SCENARIO = "karabakh-2020-10-10"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, help="simulations (default: the spec's)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--seed", type=int, help="seed (default: the spec's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    spec = load_spec(spec_path_for(SCENARIO))
    case, _, horizon_min = calibration_case(spec)
    probe = 100
    z = np.random.default_rng(0).random((probe, len(spec.priors)))
    overrides = {i: as_overrides(spec.priors, row) for i, row in enumerate(prior_values(spec.priors, z))}
    start = time.perf_counter()
    map_runs(case, 0, range(probe), workers=1, keep_steps=False, overrides_by_run=overrides)
    serial = probe / (time.perf_counter() - start)

    start = time.perf_counter()
    post = calibrate(spec, budget=args.budget, seed=args.seed, workers=args.workers, progress=False)
    seconds = time.perf_counter() - start
    result = {
        "scenario": SCENARIO, "budget": post.spec.budget, "seed": post.seed, "workers": args.workers,
        "horizon_h": horizon_min / 60.0, "simulations": post.simulations,
        "populations": len(post.populations), "final_tolerance": post.last.tolerance,
        "seconds_to_posterior": seconds, "sims_per_s": post.simulations / seconds,
        "serial_sims_per_s_one_process": serial,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"{SCENARIO}: budget {result['budget']}, seed {result['seed']}, {args.workers} workers, "
          f"runs of {result['horizon_h']:g} h after t = 0")
    print(f"time to posterior: {seconds:.1f} s ({post.simulations} simulations, "
          f"{len(post.populations)} populations, final tolerance {post.last.tolerance:.3g})")
    print(f"simulations per second during calibration: {result['sims_per_s']:.0f}")
    print(f"simulations per second, one process, no ABC: {serial:.0f}")


if __name__ == "__main__":
    main()
