"""Violations per hour across replicates, with the ceasefire's start and the reported events."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sim.faces.figures import CAUSE_COLOURS, mark_ceasefire, new_figure
from sim.model.events import CAUSES


def hourly_counts(events: pd.DataFrame, runs: int, start_min: float,
                  horizon_min: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Incidents per hour, per run and cause: (hour edges, {cause: array runs x hours})."""
    edges = np.arange(np.floor(start_min / 60.0), np.ceil(horizon_min / 60.0) + 1) * 60.0
    out = {}
    run_codes = events["run"].to_numpy() if len(events) else np.empty(0, int)
    run_ids = np.unique(run_codes) if len(events) else np.empty(0, int)
    index = {r: i for i, r in enumerate(run_ids)}
    rows = np.array([index[r] for r in run_codes], dtype=int)
    for cause in CAUSES:
        mask = events["cause"].to_numpy() == cause if len(events) else np.empty(0, bool)
        counts = np.zeros((runs, len(edges) - 1))
        if mask.any():
            hour = np.searchsorted(edges, events["t_min"].to_numpy()[mask], side="right") - 1
            np.add.at(counts, (rows[mask], hour), 1)
        out[cause] = counts
    return edges / 60.0, out


def violations_per_hour(events: pd.DataFrame, *, runs: int, start_min: float, horizon_min: float,
                        reported: pd.DataFrame | None = None, title: str = "") -> Figure:
    """Mean incidents per hour over the runs, by cause, with the 5-95% range of the total.

    ``reported`` (columns t_min_earliest, t_min_latest, kind) is overlaid as time ranges.
    """
    hours, counts = hourly_counts(events, runs, start_min, horizon_min)
    mid = (hours[:-1] + hours[1:]) / 2
    total = sum(counts.values())
    fig, ax = new_figure(width_in=13.0, height_in=6.0)
    lo, hi = np.quantile(total, [0.05, 0.95], axis=0)
    ax.fill_between(mid, lo, hi, step="mid", color="#999999", alpha=0.3,
                    label=f"all incidents, 5–95% of {runs} runs")
    ax.step(mid, total.mean(axis=0), where="mid", color="#000000", linewidth=1.2,
            label="all incidents, mean")
    for cause in CAUSES:
        ax.step(mid, counts[cause].mean(axis=0), where="mid", color=CAUSE_COLOURS[cause],
                linewidth=2, label=f"{cause}, mean")
    mark_ceasefire(ax)
    if reported is not None and len(reported):
        _overlay_reported(ax, reported)
    ax.set_xlabel("hours since the ceasefire took effect (h)")
    ax.set_ylabel("incidents per hour")
    ax.set_xlim(hours[0], hours[-1])
    ax.set_ylim(bottom=0)
    ax.set_title(title or "Incidents per hour across runs")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def _overlay_reported(ax: Axes, reported: pd.DataFrame) -> None:
    """Reported incidents as labelled time ranges, one lane each, above the curves."""
    incidents = reported[reported["type"] == "incident"].reset_index(drop=True)
    if incidents.empty:
        return
    top = ax.get_ylim()[1]
    lane = top * 0.09
    ax.set_ylim(0, top + lane * (len(incidents) + 1))
    for i, row in incidents.iterrows():
        y = top + lane * (i + 0.8)
        x0, x1 = row["t_min_earliest"] / 60.0, row["t_min_latest"] / 60.0
        ax.plot([x0, max(x1, x0 + 0.15)], [y, y], color="#CC79A7", linewidth=4,
                solid_capstyle="butt", label="reported incidents (time range)" if i == 0 else None)
        where = row["section"] or "unnamed place"
        ax.annotate(f"{row['kind'].replace('_', ' ')}, {where.replace('_', ' ')}", (x1, y),
                    xytext=(4, 0), textcoords="offset points", va="center", fontsize=10,
                    color="#6b2f5a")
