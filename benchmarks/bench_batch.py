"""Benchmark of experiment batches: parallel efficiency and memory against the number of runs.

Prints runs per second of a Karabakh batch (72 h horizon) on 1 and 2 local workers, the
parallel efficiency (rate on 2 workers / twice the rate on 1), and the peak resident memory of
a 1,000-run and a 10,000-run batch (classroom scenario, with a time series), each measured in
a fresh process: the largest of the batch's own process and its worker processes.

Targets: efficiency ≥ 85% on 2 cores; the 10,000-run batch's peak ≤ 1.5 × the 1,000-run one.
``--json`` prints one object: runs_per_s_1, runs_per_s_2, efficiency, peak_rss_mb_1000,
peak_rss_mb_10000 (and the sizes used).

Usage: python benchmarks/bench_batch.py [--json] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SPEC = """\
[experiment]
name = "bench"
scenario = "{scenario}"
seed = 1
replicates = {runs}
{extra}
"""

CHILD = """\
import json, os, resource, sys, time
from sim.studies import experiment

if __name__ == "__main__":
    spec, out, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    t0, c0 = time.perf_counter(), os.times()
    results = experiment.run(spec, workers=workers, out=out, progress=False)
    elapsed, c1 = time.perf_counter() - t0, os.times()
    cpu = sum(c1[:4]) - sum(c0[:4])  # this process and its (finished) workers
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"runs": results.manifest["runs"], "elapsed_s": elapsed, "cpu_s": cpu,
                      "rss_mb": own, "workers_rss_mb": workers_rss}))
"""


def batch(folder: Path, name: str, scenario: str, runs: int, workers: int, extra: str = "") -> dict:
    """Run one batch in a fresh Python process and return its timing and peak memory."""
    spec = folder / f"{name}.toml"
    spec.write_text(SPEC.format(scenario=scenario, runs=runs, extra=extra), encoding="utf-8")
    script = folder / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script), str(spec), str(folder / f"{name}-out"),
                           str(workers)], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes (a smoke test)")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    # Pool start-up (spawning two workers that import Mesa) is a fixed ~2 s: the 2-worker batch is
    # long enough (~25 s) that it weighs as it would in a real batch, not a toy one.
    sizes = {"throughput_runs_1": 600 // scale, "throughput_runs_2": 2400 // scale,
             "memory_runs_small": 1000 // scale, "memory_runs_large": 10_000 // scale}
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        folder = Path(tmp)
        one = batch(folder, "one", "karabakh-2020-10-10", sizes["throughput_runs_1"], 1, "horizon_h = 72")
        two = batch(folder, "two", "karabakh-2020-10-10", sizes["throughput_runs_2"], 2, "horizon_h = 72")
        series = "series_min = 60"
        small = batch(folder, "small", "classroom-two-villages", sizes["memory_runs_small"], 2, series)
        large = batch(folder, "large", "classroom-two-villages", sizes["memory_runs_large"], 2, series)
    rate1 = one["runs"] / one["elapsed_s"]
    rate2 = two["runs"] / two["elapsed_s"]
    peak_small = max(small["rss_mb"], small["workers_rss_mb"])
    peak_large = max(large["rss_mb"], large["workers_rss_mb"])
    cpu_ms_1 = 1000 * one["cpu_s"] / one["runs"]
    cpu_ms_2 = 1000 * two["cpu_s"] / two["runs"]
    result = {
        "runs_per_s_1": round(rate1, 1),
        "runs_per_s_2": round(rate2, 1),
        "efficiency": round(rate2 / (2 * rate1), 3),
        "peak_rss_mb_1000": round(peak_small, 1),
        "peak_rss_mb_10000": round(peak_large, 1),
        # Load-independent view: CPU per run (workers' start-up included) on 1 vs 2 workers. On a
        # machine shared with other jobs the wall-clock efficiency falls, this does not.
        "cpu_ms_per_run_1": round(cpu_ms_1, 2),
        "cpu_ms_per_run_2": round(cpu_ms_2, 2),
        "cpu_efficiency": round(cpu_ms_1 / cpu_ms_2, 3),
        "load_average": round(os.getloadavg()[0], 2),
        "sizes": sizes,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"Karabakh, 72 h: {rate1:.1f} runs/s on 1 worker ({one['runs']} runs), "
          f"{rate2:.1f} runs/s on 2 workers ({two['runs']} runs)")
    print(f"parallel efficiency on 2 workers: {result['efficiency']:.0%} (target ≥ 85%); CPU per run "
          f"{cpu_ms_1:.1f} ms on 1 worker, {cpu_ms_2:.1f} ms on 2 ({result['cpu_efficiency']:.0%}); "
          f"load average {result['load_average']}")
    for label, r, peak in ((sizes["memory_runs_small"], small, peak_small),
                           (sizes["memory_runs_large"], large, peak_large)):
        print(f"{label:>6} runs (classroom, series): peak RSS {peak:.0f} MB "
              f"(batch process {r['rss_mb']:.0f} MB, largest worker {r['workers_rss_mb']:.0f} MB), "
              f"{r['runs'] / r['elapsed_s']:.0f} runs/s")
    print(f"memory ratio {peak_large / peak_small:.2f} (target ≤ 1.5)")


if __name__ == "__main__":
    main()
