"""Benchmark of scenario discovery and replays.

- ``discover``: the time of `sim.studies.discover.discover` (PRIM, quasi-p-values, extra-trees scores,
  the tables and the figure) on a batch folder of 10,000 runs. By default the folder is written
  here with synthetic outcomes (six Latin-hypercube parameters, collapse planted in a box), so
  the benchmark times the analysis, not the simulations; ``--batch DIR`` times a real folder.
- ``replay``: the time to simulate and render a 72 h run of the classroom scenario as a GIF at
  the default size and speed (960x540, 15 min a frame), and the file's size.

    python benchmarks/bench_discover.py [--runs 10000] [--batch DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sim.faces.figures.discover import write_discovery_figure
from sim.faces.replay import replay
from sim.studies.discover import discover

PARAMETERS = {"sides.*.force.discipline": (0.4, 0.98), "sides.*.force.retaliation.probability": (0.1, 1.0),
              "sides.*.command.order_delay_mean_min": (5.0, 240.0),
              "sides.*.force.spoiler_probability": (0.0, 0.8), "mediator.effectiveness": (0.0, 0.95),
              "mediator.capacity_per_day": (1, 8)}


def synthetic_batch(folder: Path, runs: int, seed: int = 0) -> Path:
    """A finished batch folder (manifest + outcomes.parquet) of ``runs`` one-replicate points."""
    from scipy.stats import qmc

    rng = np.random.default_rng(seed)
    unit = qmc.LatinHypercube(d=len(PARAMETERS), rng=rng).random(runs)
    table = pd.DataFrame({"run": np.arange(runs), "point": np.arange(runs), "replicate": 0})
    for j, (name, (lo, hi)) in enumerate(PARAMETERS.items()):
        table[name] = (np.floor(lo + unit[:, j] * (hi - lo + 1)).astype(np.int64) if isinstance(lo, int)
                       else lo + unit[:, j] * (hi - lo))
    risk = np.where((table["sides.*.force.discipline"] < 0.7)
                    & (table["sides.*.command.order_delay_mean_min"] > 60), 0.9, 0.2)
    collapsed = rng.random(runs) < risk
    table["collapse_min"] = np.where(collapsed, rng.uniform(0, 4320, runs), np.nan)
    table["held"] = ~collapsed
    folder.mkdir(parents=True, exist_ok=True)
    table.to_parquet(folder / "outcomes.parquet", index=False)
    manifest = {"experiment": "synthetic", "status": "complete", "format": "parquet", "runs": runs,
                "points": runs, "replicates": 1, "parameters": list(PARAMETERS),
                "outcomes": ["collapse_min", "held"]}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000, help="runs in the synthetic batch")
    parser.add_argument("--batch", type=Path, help="time discover on this finished batch folder instead")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-discover-") as tmp:
        root = Path(tmp)
        folder = args.batch or synthetic_batch(root / "batch", args.runs)
        t0 = time.perf_counter()
        found = discover(folder, "held == false", out=root / "discover")
        write_discovery_figure(found, root / "discover")
        discover_s = time.perf_counter() - t0
        shown = replay("classroom-two-villages", seed=0, out=root / "run.gif", horizon_h=72)
        result = {"discover_runs": found.cases, "discover_s": round(discover_s, 2),
                  "discover_boxes": len(found.trajectory), "replay_frames": shown.frames,
                  "replay_s": round(shown.render_s, 2), "replay_mb": round(shown.size_bytes / 1e6, 2)}
    if args.json:
        print(json.dumps(result))
        return
    print(f"discover on {result['discover_runs']} runs: {result['discover_s']:.2f} s "
          f"({result['discover_boxes']} boxes, extra-trees scores, tables and figure)")
    print(f"replay of a 72 h classroom run: {result['replay_frames']} frames in {result['replay_s']:.2f} s, "
          f"{result['replay_mb']:.2f} MB GIF")


if __name__ == "__main__":
    main()
