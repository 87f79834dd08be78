"""Benchmark of the core model: runs and events per second (default: Karabakh at 72 h).

Prints runs/s, events/s, and, measured in the same process, the events per second of a bare
simpy loop doing as many timeouts as the model logged events: the model's cost per event is
compared with the cost of the clock alone. Both ways of running are timed, alternately in each
repeat so that other load on the machine hits both alike: with the steps table (what
``ceasefire run`` writes) and log only (``collect_steps=False``: calibrations, scores, batches
that keep no steps). ``--json`` prints one JSON object.

    python benchmarks/bench_core.py [--runs 200] [--scenario NAME] [--horizon-h H] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import simpy

from sim.model.ceasefire import CeasefireModel, forget
from sim.model.scenario import load_scenario
from sim.studies.runner import run_seed


def bare_simpy_events_per_s(n: int, repeats: int = 3) -> float:
    """Timeouts per second of a simpy process that only waits (best of ``repeats``)."""
    best = float("inf")
    for _ in range(repeats):
        env = simpy.Environment()

        def waiter(env: simpy.Environment, n: int = n):
            for _ in range(n):
                yield env.timeout(1.0)

        env.process(waiter(env))
        t0 = time.perf_counter()
        env.run()
        best = min(best, time.perf_counter() - t0)
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3,
                        help="time the batch this many times and keep the fastest")
    parser.add_argument("--scenario", default="karabakh-2020-10-10",
                        help="bundled scenario or TOML path (default karabakh-2020-10-10)")
    parser.add_argument("--horizon-h", type=float, default=72.0, help="hours after t = 0 (default 72)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    scenario = load_scenario(args.scenario, {"scenario.horizon_h": args.horizon_h})
    CeasefireModel(scenario, rng=run_seed(0, 0)).run_to_horizon()  # warm-up
    elapsed = {True: float("inf"), False: float("inf")}
    logged = {True: 0, False: 0}
    for _ in range(args.repeats):  # best of: other load on the machine only slows a repeat
        for steps in (True, False):
            events = 0
            t0 = time.perf_counter()
            for i in range(args.runs):
                model = CeasefireModel(scenario, rng=run_seed(0, i), collect_steps=steps)
                model.run_to_horizon()
                events += len(model.log)
                forget(model)  # Mesa 3.3 would otherwise keep every run in memory
            elapsed[steps] = min(elapsed[steps], time.perf_counter() - t0)
            logged[steps] = events
    if logged[True] != logged[False]:
        raise SystemExit("the two ways of running logged different numbers of events")
    events = logged[True]
    bare = bare_simpy_events_per_s(events // args.runs * 20)
    result = {"scenario": scenario.scenario.name, "horizon_h": args.horizon_h, "runs": args.runs,
              "events_per_run": events / args.runs, "bare_simpy_events_per_s": bare}
    for steps, label in ((True, ""), (False, "log_only_")):
        result[f"{label}runs_per_s"] = args.runs / elapsed[steps]
        result[f"{label}events_per_s"] = events / elapsed[steps]
        result[f"{label}cost_per_event_vs_bare_simpy"] = bare / (events / elapsed[steps])
    if args.json:
        print(json.dumps(result))
        return
    print(f"{scenario.scenario.name}, {args.horizon_h:g} h horizon, {args.runs} runs on one core, "
          f"best of {args.repeats}")
    print(f"  events per run:               {result['events_per_run']:10.0f}")
    print(f"  bare simpy timeouts per s:    {bare:10.0f}")
    for label, name in (("", "with the steps table"), ("log_only_", "log only (collect_steps=False)")):
        print(f"  {name}:")
        print(f"    runs per second:            {result[label + 'runs_per_s']:10.1f}   (target >= 50)")
        print(f"    events per second:          {result[label + 'events_per_s']:10.0f}")
        print(f"    model cost per event / bare:{result[label + 'cost_per_event_vs_bare_simpy']:10.1f}x  "
              "(target <= 10x)")

if __name__ == "__main__":
    main()
