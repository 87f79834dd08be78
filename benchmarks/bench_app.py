"""How long the classroom page takes per step: the model's step plus redrawing every panel.

Steps the classroom scenario through its whole horizon the way the page does (one
``model.step()``, then the three figures redrawn as SVG and the status text), and prints the
median and the 95th percentile per step, in wall-clock and in CPU time of this thread (CPU
time is what the machine's load does not inflate). Target: under 200 ms per step.

    python benchmarks/bench_app.py [--scenario NAME] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from sim.faces.app import ClassroomModel, status_text
from sim.faces.figures.live import accusations_figure, figure_svg, front_figure, incidents_figure

TARGET_MS = 200.0


def render(model: ClassroomModel) -> None:
    """What the page does after each step."""
    for draw in (front_figure, incidents_figure, accusations_figure):
        figure_svg(draw(model))
    status_text(model)


def measure(scenario: str) -> dict[str, float]:
    """Per-step times (ms) over one run to the horizon, after a warm-up step."""
    model = ClassroomModel(scenario, seed=0)
    render(model)  # the first draw builds the figures; the page pays it once, at Reset
    wall, cpu = [], []
    while model.running:
        w, c = time.perf_counter(), time.thread_time()
        model.step()
        render(model)
        wall.append(time.perf_counter() - w)
        cpu.append(time.thread_time() - c)
    ms = {"wall": np.array(wall) * 1e3, "cpu": np.array(cpu) * 1e3}
    return {"scenario": scenario, "steps": len(wall), "events": len(model.events_table()),
            "wall_ms_median": float(np.median(ms["wall"])),
            "wall_ms_p95": float(np.percentile(ms["wall"], 95)),
            "cpu_ms_median": float(np.median(ms["cpu"])),
            "cpu_ms_p95": float(np.percentile(ms["cpu"], 95)),
            "target_ms": TARGET_MS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="classroom-two-villages")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    r = measure(args.scenario)
    if args.json:
        print(json.dumps(r))
        return
    verdict = "within" if r["wall_ms_median"] < TARGET_MS else "OVER"
    print(f"{r['scenario']}: {r['steps']} steps, {r['events']} events")
    print(f"  one step + redraw, wall: median {r['wall_ms_median']:.0f} ms, "
          f"95th percentile {r['wall_ms_p95']:.0f} ms ({verdict} the {TARGET_MS:.0f} ms target)")
    print(f"  one step + redraw, CPU:  median {r['cpu_ms_median']:.0f} ms, "
          f"95th percentile {r['cpu_ms_p95']:.0f} ms")


if __name__ == "__main__":
    main()
