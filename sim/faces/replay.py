"""Replays: one run of a scenario as an animation (GIF, or MP4 where ffmpeg is installed).

The run is simulated to its horizon first; the frames are then drawn from its tables at evenly
spaced times (``speed_min`` simulated minutes apart, from ``from_min`` to ``to_min``), so the
animation shows exactly the run ``ceasefire run SCENARIO --seed S`` numbers ``run``:

- the front as the classroom page draws it (sim.faces.figures.live.front_layout), each section
  coloured by its incidents in the trailing hour, with a thick ring once the order to cease
  fire has reached every unit there;
- the incidents as they happen (one dot per incident, by section and cause), t = 0 marked;
- each side's accusations so far and, when the model's step table has ``commitment_<side>``
  columns (the commitment rule), each side's commitment.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.model.scenario import ScenarioError

FORMATS = ("gif", "mp4")
DEFAULT_SIZE = (960, 540)
"""Pixels (16:9): sharp on a projector, small as a GIF."""
MAX_FRAMES = 3000
"""More frames than this is almost surely a mistaken --speed (and a file too big for a slide)."""


class ReplayError(ScenarioError):
    """A replay cannot be made as asked (one line: the option, its value, what is allowed)."""


@dataclass
class Replay:
    """A written replay: where, how many frames, the simulated minutes they show, render time."""

    path: Path
    frames: int
    times_min: np.ndarray
    render_s: float
    events: pd.DataFrame
    """The run's incidents (the model's events table), to discuss beside the animation."""

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size


def frame_times(from_min: float, to_min: float, speed_min: float) -> np.ndarray:
    """The simulated minute of each frame: ``from_min``, then every ``speed_min`` up to ``to_min``.

    There are ``floor((to - from) / speed) + 1`` frames (the last at or just before ``to_min``).
    """
    count = math.floor((to_min - from_min) / speed_min + 1e-9) + 1
    return from_min + speed_min * np.arange(count)


def replay(scenario: Any = "classroom-two-villages", *, seed: int = 0, run: int = 0,
           out: str | Path = "run.gif", speed_min: float = 15.0, from_min: float | None = None,
           to_min: float | None = None, fmt: str | None = None, size: tuple[int, int] = DEFAULT_SIZE,
           fps: float = 10.0, horizon_h: float | None = None,
           overrides: Mapping[str, Any] | None = None) -> Replay:
    """Animate run ``run`` of a batch seeded ``seed``; the Python face of ``ceasefire replay``.

    ``scenario``: a bundled name, a path or a Scenario; ``overrides`` (key path -> value) and
    ``horizon_h`` change it as ``--set`` and ``--horizon`` do. ``speed_min``: simulated minutes
    per frame; ``from_min``/``to_min``: the span shown (default: the whole run); ``fmt``: "gif"
    or "mp4" (default: from ``out``'s suffix); ``size``: (width, height) in pixels; ``fps``:
    frames per second of the file. Raises ReplayError / ScenarioError for bad input.
    """
    from sim.model.ceasefire import CeasefireModel, forget
    from sim.model.scenario import load_scenario
    from sim.studies.runner import run_seed

    target = Path(out)
    fmt = (fmt or target.suffix.lstrip(".") or "gif").lower()
    if fmt not in FORMATS:
        raise ReplayError(f"--format {fmt!r}: allowed: {', '.join(FORMATS)}")
    if target.suffix.lower() != f".{fmt}":
        target = target.with_suffix(f".{fmt}")
    writer = _writer(fmt, fps)
    if seed < 0 or run < 0:
        raise ReplayError(f"--seed {seed} --run {run}: both must be whole numbers ≥ 0")
    if not speed_min > 0:
        raise ReplayError(f"--speed {speed_min}: must be simulated minutes per frame > 0")
    if not (fps > 0 and 1 <= size[0] <= 4096 and 1 <= size[1] <= 4096):
        raise ReplayError(f"--fps {fps} --size {size[0]}x{size[1]}: fps > 0, each side 1-4096 pixels")
    changes = dict(overrides or {})
    if horizon_h is not None:
        changes["scenario.horizon_h"] = horizon_h
    case = load_scenario(scenario, changes or None)
    meta = case.scenario
    start, end = meta.start_min, meta.horizon_h * 60.0
    lo = start if from_min is None else from_min
    hi = end if to_min is None else to_min
    if not start <= lo < hi <= end:
        raise ReplayError(f"--from {lo:g} --to {hi:g}: the span must satisfy {start:g} ≤ from < to ≤ {end:g} "
                          f"(minutes from t = 0, the run's start to its horizon)")
    times = frame_times(lo, hi, speed_min)
    if len(times) > MAX_FRAMES:
        raise ReplayError(f"--speed {speed_min:g}: {len(times)} frames for {hi - lo:g} min; at most "
                          f"{MAX_FRAMES} (raise --speed or shorten --from/--to)")

    t0 = time.perf_counter()
    model = CeasefireModel(case, rng=run_seed(seed, run))
    model.run_to_horizon()
    events = model.events_table()
    from sim.faces.figures.replay import ReplayFigure

    movie = ReplayFigure(model, size, title=f"{meta.title or meta.name}: seed {seed}, run {run}")
    forget(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.tmp.{fmt}")
    try:
        movie.write(times, writer, tmp)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return Replay(target, len(times), times, time.perf_counter() - t0, events)


def _writer(fmt: str, fps: float) -> Any:
    """The matplotlib animation writer for ``fmt``; MP4 needs ffmpeg on the PATH."""
    from matplotlib import animation

    if fmt == "gif":
        from sim.faces.figures.replay import BlitGifWriter

        return BlitGifWriter(fps=fps)
    if not animation.writers.is_available("ffmpeg"):
        raise ReplayError("--format mp4: needs ffmpeg, which is not installed here (e.g. apt install "
                          "ffmpeg); --format gif needs nothing more")
    from sim.faces.figures.replay import BlitFFMpegWriter

    # "h264": matplotlib then rounds the frame to even pixels and asks for yuv420p (plays everywhere).
    return BlitFFMpegWriter(fps=fps, codec="h264")


def commitment_columns(steps: pd.DataFrame, sides: tuple[str, ...]) -> dict[str, str]:
    """side -> its ``commitment_<side>`` column in the step table, for the sides that have one."""
    return {s: f"commitment_{s}" for s in sides if f"commitment_{s}" in steps.columns}


__all__ = ["FORMATS", "Replay", "ReplayError", "commitment_columns", "frame_times", "replay"]
