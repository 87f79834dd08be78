"""Outcomes of a run: what a ceasefire's fate is measured by, defined once, here.

Every function takes one run's event log as numpy columns (``EventLog.arrays()``), the
commands' decisions (rule 8) and the scenario's window; times are minutes relative to t = 0.
A *violation* is any incident at t >= 0 (initiated, retaliation or spillover alike): after
t = 0 every shot breaks the ceasefire.

A ceasefire *collapses* when a side decides so: the first abandonment by either command (a
decision in the log), never a threshold on the noise of incident counts. It *relapses* when
violations are back at a share of war-time intensity, defined from the scenario's parameters
(the forces' war-time rates), so neither depends on how long before t = 0 a run starts.
An outcome that cannot be computed is NaN, never a comfortable default; :func:`undefined`
says why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from sim.model.events import ABANDON, NO_ONE, RECOMMIT

OUTCOMES = ("first_violation_min", "violations_per_h", "sections_active", "retaliation_share",
            "branching_ratio", "pre_rate_per_h", "collapse_min", "held", "recommitments",
            "relapse_min", "erosion_trend_per_day")
"""Names of the per-run outcomes, in the order tables list them."""
FLAGS = ("held",)
"""Outcomes that are yes (1.0) or no (0.0), or NaN where undefined: ``held == false`` reads them."""


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


def collapse_min(decisions: Sequence[tuple], *, commitment: bool = True) -> float:
    """Minute of the first abandonment of the ceasefire by either side (rule 8).

    NaN if no side abandoned it before the horizon, and NaN when rule 8 is off (then no side
    can decide, and whether the truce held is undefined: see :func:`held`).
    """
    if not commitment:
        return math.nan
    for t, _side, decision, *_ in decisions:
        if decision == ABANDON:
            return float(t)
    return math.nan


def held(decisions: Sequence[tuple], *, commitment: bool = True) -> float:
    """1.0 if no side abandoned the ceasefire before the horizon, 0.0 if one did; NaN (undefined)
    when rule 8 is off."""
    if not commitment:
        return math.nan
    return 0.0 if any(d[2] == ABANDON for d in decisions) else 1.0


def recommitments(decisions: Sequence[tuple], *, commitment: bool = True) -> float:
    """How many times a side came back to the ceasefire after abandoning it (NaN without rule 8)."""
    if not commitment:
        return math.nan
    return float(sum(d[2] == RECOMMIT for d in decisions))


def relapse_min(t_min: np.ndarray, war_rate_per_h: float, window_min: float,
                fraction: float) -> float:
    """First violation at which the violations of the trailing ``window_min`` reach ``fraction``
    x the war-time intensity ``war_rate_per_h`` (incidents/h, from the scenario's parameters).

    NaN if it never does, and NaN when the war-time intensity is 0 (see :func:`undefined`).
    """
    if not war_rate_per_h > 0:
        return math.nan
    need = fraction * war_rate_per_h / 60.0 * window_min
    post = np.sort(t_min[t_min >= 0])
    if post.size == 0:
        return math.nan
    in_window = np.arange(1, post.size + 1) - np.searchsorted(post, post - window_min,
                                                             side="right")
    hit = np.flatnonzero(in_window >= need)
    return float(post[hit[0]]) if hit.size else math.nan


def daily_violations(t_min: np.ndarray, horizon_min: float) -> np.ndarray:
    """Violations on each full day after t = 0 (day 1 = the first 24 h), up to the horizon."""
    days = int(horizon_min // 1440.0)
    if days == 0:
        return np.zeros(0, dtype=np.int64)
    post = t_min[(t_min >= 0) & (t_min < days * 1440.0)]
    return np.bincount((post // 1440.0).astype(np.int64), minlength=days)


def erosion_trend_per_day(daily: np.ndarray) -> float:
    """Least-squares slope of violations per day against the day (violations/day per day).

    Positive when violations rise day by day (erosion). NaN with fewer than two full days.
    """
    if daily.size < 2:
        return math.nan
    days = np.arange(1, daily.size + 1, dtype=float)
    return float(np.polyfit(days, daily.astype(float), 1)[0])


def run_outcomes(log: Mapping[str, np.ndarray], decisions: Sequence[tuple], *, start_min: float,
                 horizon_min: float, war_rate_per_h: float, window_min: float, fraction: float,
                 commitment: bool = True) -> dict[str, float]:
    """All outcomes of one run, keyed as in OUTCOMES."""
    t = log["t_min"]
    return {
        "first_violation_min": first_violation_min(t),
        "violations_per_h": violations_per_h(t, horizon_min),
        "sections_active": sections_active(t, log["section"]),
        "retaliation_share": retaliation_share(t, log["parent"]),
        "branching_ratio": branching_ratio(t, log["parent"]),
        "pre_rate_per_h": pre_rate_per_h(t, start_min),
        "collapse_min": collapse_min(decisions, commitment=commitment),
        "held": held(decisions, commitment=commitment),
        "recommitments": recommitments(decisions, commitment=commitment),
        "relapse_min": relapse_min(t, war_rate_per_h, window_min, fraction),
        "erosion_trend_per_day": erosion_trend_per_day(daily_violations(t, horizon_min)),
    }


def held_at(collapse: np.ndarray, hours: float, horizon_h: float,
            held: np.ndarray | None = None) -> float:
    """Share of runs whose ceasefire still held ``hours`` after t = 0.

    NaN past the horizon, with no runs, and when ``held`` (the per-run outcome) is undefined
    for any run (rule 8 off): a run that cannot collapse has not "held".
    """
    if hours > horizon_h or collapse.size == 0:
        return math.nan
    if held is not None and np.isnan(np.asarray(held, dtype=float)).any():
        return math.nan
    return float(np.mean(np.isnan(collapse) | (collapse > hours * 60.0)))


def undefined(name: str, *, commitment: bool, war_rate_per_h: float) -> str | None:
    """Why outcome ``name`` cannot be computed for a scenario, or None if it can."""
    if name in ("collapse_min", "held", "recommitments", "p_hold") and not commitment:
        return ("rule 8 (commitment) is off: no side can decide that the ceasefire is over, so "
                "whether it held is undefined")
    if name == "relapse_min" and not war_rate_per_h > 0:
        return "the forces' war-time rates are all 0, so there is no war-time intensity to relapse to"
    return None
