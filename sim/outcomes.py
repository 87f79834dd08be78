"""Outcomes of a run: what a ceasefire's fate is measured by, defined once, here.

Every function takes one run's event log as numpy columns (``EventLog.arrays()``) and the
scenario's window; times are minutes relative to t = 0. A *violation* is any incident at
t >= 0 (initiated, retaliation or spillover alike): after t = 0 every shot breaks the ceasefire.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from sim.events import NO_ONE

OUTCOMES = ("first_violation_min", "violations_per_h", "sections_active", "retaliation_share",
            "branching_ratio", "pre_rate_per_h", "collapse_min", "held")
"""Names of the per-run outcomes, in the order tables list them."""


def first_violation_min(t_min: np.ndarray) -> float:
    """Minutes from t = 0 to the first incident at or after t = 0 (NaN if none)."""
    post = t_min[t_min >= 0]
    return float(post.min()) if post.size else math.nan


def violations_per_h(t_min: np.ndarray, horizon_min: float) -> float:
    """Incidents per hour between t = 0 and the horizon."""
    return float(np.count_nonzero(t_min >= 0)) / (horizon_min / 60.0)


def sections_active(t_min: np.ndarray, section: np.ndarray) -> int:
    """Number of sections (front or rear) with at least one incident after t = 0."""
    return int(np.unique(section[t_min >= 0]).size)


def retaliation_share(t_min: np.ndarray, parent: np.ndarray) -> float:
    """Share of violations that answer an earlier incident (retaliation or spillover).

    NaN when there was no violation.
    """
    post = t_min >= 0
    n = np.count_nonzero(post)
    return float(np.count_nonzero(parent[post] != NO_ONE)) / n if n else math.nan


def branching_ratio(t_min: np.ndarray, parent: np.ndarray) -> float:
    """Mean number of direct answers each violation provoked (offspring per event).

    Answers that would fall after the horizon are not in the log, so the last hours count a
    little low. NaN when there was no violation.
    """
    post = np.flatnonzero(t_min >= 0)
    if post.size == 0:
        return math.nan
    children = parent[parent != NO_ONE]
    return float(np.count_nonzero(np.isin(children, post))) / post.size


def pre_rate_per_h(t_min: np.ndarray, start_min: float) -> float:
    """Incidents per hour before t = 0 (NaN when the run starts at t = 0)."""
    if start_min >= 0:
        return math.nan
    return float(np.count_nonzero(t_min < 0)) / (-start_min / 60.0)


def collapse_min(t_min: np.ndarray, start_min: float, window_min: float,
                 fraction: float) -> float:
    """When the ceasefire collapsed: the first violation at which the number of violations in
    the trailing ``window_min`` (counting only t >= 0) reaches ``fraction`` x the pre-ceasefire
    rate x the window. NaN if it never does (or the pre-ceasefire rate is 0 or undefined).
    """
    pre = pre_rate_per_h(t_min, start_min)
    if not pre > 0:
        return math.nan
    need = fraction * pre / 60.0 * window_min
    post = np.sort(t_min[t_min >= 0])
    if post.size == 0:
        return math.nan
    in_window = np.arange(1, post.size + 1) - np.searchsorted(post, post - window_min,
                                                             side="right")
    hit = np.flatnonzero(in_window >= need)
    return float(post[hit[0]]) if hit.size else math.nan


def run_outcomes(log: Mapping[str, np.ndarray], *, start_min: float, horizon_min: float,
                 window_min: float, fraction: float) -> dict[str, float]:
    """All outcomes of one run, keyed as in OUTCOMES."""
    t = log["t_min"]
    collapse = collapse_min(t, start_min, window_min, fraction)
    return {
        "first_violation_min": first_violation_min(t),
        "violations_per_h": violations_per_h(t, horizon_min),
        "sections_active": sections_active(t, log["section"]),
        "retaliation_share": retaliation_share(t, log["parent"]),
        "branching_ratio": branching_ratio(t, log["parent"]),
        "pre_rate_per_h": pre_rate_per_h(t, start_min),
        "collapse_min": collapse,
        "held": bool(math.isnan(collapse)),
    }


def held_at(collapse: np.ndarray, hours: float, horizon_h: float) -> float:
    """Share of runs whose ceasefire still held ``hours`` after t = 0 (NaN past the horizon)."""
    if hours > horizon_h or collapse.size == 0:
        return math.nan
    return float(np.mean(np.isnan(collapse) | (collapse > hours * 60.0)))
