"""Benchmark of the command line: ``ceasefire run --runs 300`` end to end, as a user meets it.

Times, each as the best of ``--repeats`` (other load on the machine only slows a repeat):

- ``import``: a fresh interpreter importing what ``ceasefire run`` imports (interpreter
  start-up, ``python -c pass``, shown apart);
- ``end to end``: ``python -m sim.faces.cli run SCENARIO --runs N`` in a subprocess, from start-up to
  exit, writing events, steps, outcomes and the figure into a temporary folder: runs/s;
- ``writing``: in this process, the three tables of those runs written as ``ceasefire run``
  writes them (``Results.write``), beside pandas' own ``to_csv`` of the same frames.

The machine's load average is printed with the figures. ``--json`` prints one JSON object.

    python benchmarks/bench_cli.py [--runs 300] [--repeats 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IMPORTS = ("from sim.faces.cli import build_parser; build_parser('run'); "
           "import sim.studies.runner, sim.faces.figures.timeline, sim.records.record, sim.studies.tables, "
           "pyarrow.compute, pyarrow.csv")
"""What ``ceasefire run`` imports: its parser, then the modules it uses to run, draw and write."""


def best_subprocess(args: list[str], repeats: int, cwd: str | None = None) -> float:
    """Wall time of a subprocess, best of ``repeats``; raises if it fails."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, cwd=cwd)
        best = min(best, time.perf_counter() - t0)
    return best


def writing_times(scenario: str, runs: int, repeats: int) -> dict[str, float]:
    """Seconds to write the tables of ``runs`` runs: as ``ceasefire run`` does, and by pandas."""
    from sim.studies.runner import run_replicates

    results = run_replicates(scenario, runs=runs, seed=0, progress=False)
    frames = {"events.csv": results.events, "steps.csv": results.steps, "outcomes.csv": results.outcomes}
    ours = pandas = float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            t0 = time.perf_counter()
            results.write(tmp)
            ours = min(ours, time.perf_counter() - t0)
            t0 = time.perf_counter()
            for name, frame in frames.items():
                frame.to_csv(Path(tmp) / name, index=False, float_format="%.6g", lineterminator="\n")
            pandas = min(pandas, time.perf_counter() - t0)
    return {"write_s": ours, "write_pandas_s": pandas, "events_rows": len(frames["events.csv"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="karabakh-2020-10-10")
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--imports", default=IMPORTS,
                        help="the import statement timed (e.g. to compare with an older checkout)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    load_before = os.getloadavg()
    python = sys.executable
    startup = best_subprocess([python, "-c", "pass"], args.repeats)
    imports = best_subprocess([python, "-c", args.imports], args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        run = [python, "-m", "sim.faces.cli", "run", args.scenario, "--runs", str(args.runs), "--seed", "0",
               "--workers", str(args.workers), "--out", str(Path(tmp) / "out"), "--json"]
        end_to_end = best_subprocess(run, args.repeats, cwd=tmp)
    writing = writing_times(args.scenario, args.runs, args.repeats)
    figures = {
        "scenario": args.scenario, "runs": args.runs, "workers": args.workers, "repeats": args.repeats,
        "startup_s": startup, "import_s": imports - startup, "end_to_end_s": end_to_end,
        "runs_per_s": args.runs / end_to_end, **writing,
        "load_average": [round(x, 2) for x in (*load_before, *os.getloadavg())],
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(f"ceasefire run {args.scenario} --runs {args.runs} --workers {args.workers} "
          f"(best of {args.repeats})")
    print(f"  interpreter start-up      {startup:6.2f} s")
    print(f"  imports of `run`          {imports - startup:6.2f} s")
    print(f"  end to end                {end_to_end:6.2f} s   {args.runs / end_to_end:5.1f} runs/s")
    print(f"  writing the tables        {writing['write_s']:6.2f} s   "
          f"(pandas to_csv: {writing['write_pandas_s']:.2f} s; {writing['events_rows']} event rows)")
    print(f"  load average              before {' '.join(f'{x:.2f}' for x in load_before)}, "
          f"after {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
