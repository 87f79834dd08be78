"""Outcome definitions (sim/model/outcomes.py) on hand-made logs with known answers, and on real runs."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from conftest import run_model

from sim.model.events import FIELDS, EventLog
from sim.model.outcomes import (
    OUTCOMES,
    branching_ratio,
    collapse_min,
    daily_violations,
    erosion_trend_per_day,
    first_violation_min,
    held,
    held_at,
    pre_rate_per_h,
    recommitments,
    relapse_min,
    retaliation_share,
    run_outcomes,
    sections_active,
    undefined,
    violations_per_h,
)
from sim.model.scenario import Scenario
from sim.studies.runner import run_replicates

MakeCase = Callable[..., Scenario]
NAN = math.nan

# Seven incidents: three before t = 0, four after (at 5, 20, 30 and 200 minutes).
T = np.array([-100.0, -50.0, -10.0, 5.0, 20.0, 30.0, 200.0])
SECTION = np.array([0, 1, 0, 2, 2, 1, 0])
PARENT = np.array([-1, -1, 0, -1, 3, 4, -1])  # 2 answers 0 (pre), 4 answers 3, 5 answers 4
EMPTY = np.empty(0)
EMPTY_INT = np.empty(0, dtype=np.int64)


def test_first_violation() -> None:
    assert first_violation_min(T) == 5.0
    assert first_violation_min(np.array([-3.0, 0.0, 7.0])) == 0.0  # t = 0 is already a violation
    assert math.isnan(first_violation_min(EMPTY))
    assert math.isnan(first_violation_min(np.array([-5.0, -1.0])))


def test_violations_per_hour() -> None:
    assert violations_per_h(T, 240.0) == 1.0  # 4 violations in 4 h
    assert violations_per_h(T, 120.0) == 2.0
    assert violations_per_h(EMPTY, 60.0) == 0.0
    assert violations_per_h(np.array([-5.0]), 60.0) == 0.0


def test_sections_active() -> None:
    assert sections_active(T, SECTION) == 3  # sections 2, 1, 0 after t = 0
    assert sections_active(T[:3], SECTION[:3]) == 0  # only before t = 0
    assert sections_active(EMPTY, EMPTY_INT) == 0


def test_retaliation_share() -> None:
    assert retaliation_share(T, PARENT) == 0.5  # events 4 and 5 of the four violations
    assert math.isnan(retaliation_share(EMPTY, EMPTY_INT))
    assert math.isnan(retaliation_share(T[:3], PARENT[:3]))


def test_branching_ratio() -> None:
    # Answers to violations: 4 (to 3) and 5 (to 4); the answer to event 0 is to a pre-ceasefire act.
    assert branching_ratio(T, PARENT) == 0.5
    two_children = np.array([-1, 0, 0, -1])
    assert branching_ratio(np.array([1.0, 2.0, 3.0, 4.0]), two_children) == 0.5
    assert math.isnan(branching_ratio(EMPTY, EMPTY_INT))
    assert math.isnan(branching_ratio(T[:3], PARENT[:3]))


def test_pre_ceasefire_rate() -> None:
    assert pre_rate_per_h(T, -120.0) == 1.5  # 3 incidents in 2 h
    assert pre_rate_per_h(EMPTY, -120.0) == 0.0
    assert math.isnan(pre_rate_per_h(T[3:], 0.0))  # the run starts at t = 0


@pytest.mark.parametrize(("window", "fraction", "expected"), [
    (60.0, 0.5, 5.0),  # need 0.5 x 1.5/h x 1 h = 0.75: the first violation already reaches it
    (60.0, 1.5, 30.0),  # need 2.25 -> 3 in the trailing hour: at t = 30 (5, 20, 30)
    (60.0, 2.0, 30.0),  # need exactly 3: "reaches" includes equality
    (60.0, 2.1, NAN),  # need 3.15 -> 4 in one hour: never
    (25.0, 4.0, NAN),  # need 2.5 -> 3 in 25 min: at t = 30 the window (5, 30] holds only 2
    (26.0, 4.0 * 25.0 / 26.0, 30.0),  # need 2.5 in 26 min: (4, 30] holds 3
])
def test_relapse_against_war_time_intensity(window: float, fraction: float, expected: float) -> None:
    got = relapse_min(T, 1.5, window, fraction)  # war-time intensity 1.5 incidents/h
    assert (math.isnan(got) and math.isnan(expected)) or got == expected


def test_relapse_ignores_pre_ceasefire_events_and_the_run_start() -> None:
    # Need 1.5/h x 2 x 1 h = 3 in the trailing hour; at t = 5 the hour before holds -50, -10 and 5,
    # but only violations count: relapse comes at 30, whatever happened before t = 0.
    assert relapse_min(T, 1.5, 60.0, 2.0) == 30.0
    assert relapse_min(T[3:], 1.5, 60.0, 2.0) == 30.0
    assert math.isnan(relapse_min(T, 0.0, 60.0, 2.0))  # no war-time intensity: undefined
    assert math.isnan(relapse_min(EMPTY, 1.5, 60.0, 0.1))


DECISIONS = [(200.0, 1, "abandon", "attacks", 0.29), (900.0, 1, "recommit", "broker", 0.6),
             (1500.0, 0, "abandon", "war_aims", 0.3)]


def test_collapse_is_the_first_abandonment() -> None:
    assert collapse_min(DECISIONS) == 200.0
    assert held(DECISIONS) == 0.0
    assert recommitments(DECISIONS) == 1.0
    assert math.isnan(collapse_min([])) and held([]) == 1.0 and recommitments([]) == 0.0
    assert collapse_min(DECISIONS[1:2]) != collapse_min(DECISIONS[1:2])  # a recommit is no collapse


def test_collapse_and_held_are_undefined_without_commitment() -> None:
    for f in (collapse_min, held, recommitments):
        assert math.isnan(f(DECISIONS, commitment=False))
        assert math.isnan(f([], commitment=False))  # never "held" by default
    assert "rule 8" in undefined("held", commitment=False, war_rate_per_h=1.0)
    assert undefined("held", commitment=True, war_rate_per_h=1.0) is None
    assert "war-time" in undefined("relapse_min", commitment=True, war_rate_per_h=0.0)


def test_daily_violations_and_their_trend() -> None:
    t = np.array([-5.0, 10.0, 1500.0, 1600.0, 3000.0, 3001.0, 3002.0, 4400.0])
    assert daily_violations(t, 3 * 1440.0).tolist() == [1, 2, 3]  # 4400 is after day 3
    assert daily_violations(t, 1000.0).size == 0  # no full day
    assert erosion_trend_per_day(np.array([1, 2, 3])) == pytest.approx(1.0)
    assert erosion_trend_per_day(np.array([5, 5, 5, 5])) == pytest.approx(0.0)
    assert math.isnan(erosion_trend_per_day(np.array([4])))


def test_run_outcomes_collects_every_outcome() -> None:
    log = {"t_min": T, "section": SECTION, "parent": PARENT}
    out = run_outcomes(log, DECISIONS, start_min=-120.0, horizon_min=240.0, war_rate_per_h=1.5,
                       window_min=60.0, fraction=1.5)
    assert tuple(out) == OUTCOMES
    erosion = out.pop("erosion_trend_per_day")
    assert math.isnan(erosion)  # no two full days
    assert out == {"first_violation_min": 5.0, "violations_per_h": 1.0, "sections_active": 3,
                   "retaliation_share": 0.5, "branching_ratio": 0.5, "pre_rate_per_h": 1.5,
                   "collapse_min": 200.0, "held": 0.0, "recommitments": 1.0, "relapse_min": 30.0}


def test_run_outcomes_of_an_empty_log() -> None:
    log = EventLog(["a"], ["x", "y"], ["small_arms"]).arrays()
    assert set(log) == set(FIELDS)
    out = run_outcomes(log, [], start_min=-60.0, horizon_min=60.0, war_rate_per_h=2.0,
                       window_min=60.0, fraction=0.5)
    assert out["held"] == 1.0 and out["violations_per_h"] == 0.0 and out["sections_active"] == 0
    for key in ("first_violation_min", "retaliation_share", "branching_ratio", "collapse_min",
                "relapse_min"):
        assert math.isnan(out[key]), key
    assert out["pre_rate_per_h"] == 0.0


def test_held_at() -> None:
    collapse = np.array([NAN, 100.0, 2000.0, 360.0])
    assert held_at(collapse, 6, 72) == 0.5  # NaN and 2000 hold past 360 min; 360 itself does not
    assert held_at(collapse, 24, 72) == 0.5
    assert held_at(collapse, 72, 72) == 0.25
    assert math.isnan(held_at(collapse, 73, 72))
    assert math.isnan(held_at(EMPTY, 6, 72))
    # One run whose fate is undefined makes the share undefined, not "held".
    assert math.isnan(held_at(collapse, 6, 72, held=np.array([1.0, 0.0, 1.0, NAN])))
    assert held_at(collapse, 6, 72, held=np.array([1.0, 0.0, 0.0, 0.0])) == 0.5


# -- the model's decisions and the outcomes agree ------------------------------------------------------

def test_models_collapse_time_is_its_first_abandonment(make_case: MakeCase) -> None:
    case = make_case({"sides.*.command.violation_cost": 0.02, "scenario.horizon_h": 6.0})
    collapsed = 0
    for seed in range(12):
        model = run_model(case, seed)
        live = model.collapsed_at_min
        expected = collapse_min(model.decisions)
        assert (live is None and math.isnan(expected)) or live == expected, (seed, live, expected)
        steps = model.steps_table()
        if live is not None:
            collapsed += 1
            first = steps.index[steps["t_min"] >= live][0]
            assert not steps.loc[first, "holding"]
            assert steps.loc[steps["t_min"] < live, "holding"].all()
    assert collapsed > 0


def test_no_outcome_says_held_where_it_is_undefined(make_case: MakeCase) -> None:
    # Rule 8 off and heavy fighting after t = 0: the old definition called this "held".
    case = make_case({"rules.commitment": False, "scenario.start_min": 0.0,
                      "sides.*.force.discipline": 0.0, "sides.*.force.ceasefire_rate_per_h": 20.0})
    res = run_replicates(case, runs=5, seed=0)
    summary = res.summary()
    assert all(v is None for v in summary["p_hold"].values())
    assert summary["collapse_h"] is None and "rule 8" in summary["undefined"]["p_hold"]
    assert res.outcomes["held"].isna().all() and res.outcomes["collapse_min"].isna().all()
    model = run_model(case, 0)
    assert model.status.startswith("undefined")
