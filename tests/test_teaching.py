"""The four exercises of docs/teaching/exercises.md, each claim checked headless.

Each exercise changes the page's controls on the classroom scenario; here the same key paths
are set on 200 replicates per setting (batch seed fixed, so the test is deterministic). Every
threshold sits at least 4 standard errors below the difference we measured, so a model change
that keeps the claim true will not fail the test by bad luck, and one that breaks it will.

Standard errors: a share p over N = 200 independent runs has SE sqrt(p (1 - p) / N); a
difference of two such shares has SE sqrt(p1 (1 - p1) / N + p2 (1 - p2) / N); a difference of
two means has SE sqrt(s1^2 + s2^2) / sqrt(N), with s the between-run standard deviation.
The values measured when the claims were written are in the comments (seed 2026).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest

from sim.studies.runner import Results, run_replicates

CLASSROOM = "classroom-two-villages"
RUNS = 200
SEED = 2026
DISCIPLINE = "sides.*.force.discipline"
POLICY = "sides.*.force.retaliation.policy"
PROBABILITY = "sides.*.force.retaliation.probability"
EFFECTIVENESS = "mediator.effectiveness"
CAPACITY = "mediator.capacity_per_day"


@cache
def batch(*overrides: tuple[str, object]) -> Results:
    """200 replicates of the classroom scenario with the page's controls set as given."""
    return run_replicates(CLASSROOM, runs=RUNS, seed=SEED, overrides=dict(overrides),
                          progress=False)


def held(r: Results) -> float:
    """Share of runs in which the ceasefire held to the horizon (48 h)."""
    return float(r.outcomes["held"].mean())


def per_hour(r: Results, cause: str | None = None) -> pd.Series:
    """Violations (incidents at t >= 0) per hour in each run, of one cause or all."""
    ev = r.events
    ev = ev[ev["t_min"] >= 0]
    if cause is not None:
        ev = ev[ev["cause"] == cause]
    counts = ev.groupby("run").size().reindex(range(r.runs), fill_value=0)
    return counts / r.scenario.scenario.horizon_h


def se_diff_shares(p1: float, p2: float) -> float:
    return float(np.sqrt(p1 * (1 - p1) / RUNS + p2 * (1 - p2) / RUNS))


def se_diff_means(a: pd.Series, b: pd.Series) -> float:
    return float(np.sqrt(a.var(ddof=1) + b.var(ddof=1)) / np.sqrt(RUNS))


# -- exercise 1: discipline ------------------------------------------------------------------

def test_exercise_1_discipline_keeps_the_ceasefire() -> None:
    base, disciplined = batch(), batch((DISCIPLINE, 0.95))
    # Held: 0.245 -> 0.81; SE of the difference ~0.041: 0.35 is ~5 SE below what we saw.
    gain = held(disciplined) - held(base)
    assert gain >= 0.35, (held(base), held(disciplined))
    assert gain - 0.35 >= 4 * se_diff_shares(held(base), held(disciplined))
    # Violations per hour: 6.7 -> 2.9; 2.5 fewer leaves many SE of the difference of means.
    a, b = per_hour(base), per_hour(disciplined)
    assert a.mean() - b.mean() >= 2.5 + 4 * se_diff_means(a, b), (a.mean(), b.mean())


# -- exercise 2: the cycle of retaliation ----------------------------------------------------

def test_exercise_2_without_retaliation_fewer_answers_and_fewer_shots_start() -> None:
    base, none = batch(), batch((PROBABILITY, 0.0))
    # Answers do not vanish (a loosened grip answers some acts, rule 8) but halve: 0.27 -> 0.14.
    share_base = base.outcomes["retaliation_share"]
    share_none = none.outcomes["retaliation_share"]
    assert share_base.mean() - share_none.mean() >= 0.08 + 4 * se_diff_means(share_base, share_none)
    assert share_none.mean() > 0  # not zero: the claim in the text is "still some"
    # Held: 0.245 -> 0.825, SE of the difference ~0.04: 0.4 is ~4 SE below what we saw.
    assert held(none) - held(base) >= 0.4, (held(base), held(none))
    # Initiated violations per hour fall too: 5.0 -> 3.4.
    a, b = per_hour(base, "initiated"), per_hour(none, "initiated")
    assert a.mean() - b.mean() >= 1.0 + 4 * se_diff_means(a, b), (a.mean(), b.mean())


def test_exercise_2_tit_for_tat_feeds_the_cycle_restraint_starves_it() -> None:
    tft, restrained = batch((POLICY, "tit_for_tat")), batch((POLICY, "restrained"))
    share_tft = tft.outcomes["retaliation_share"]
    share_res = restrained.outcomes["retaliation_share"]
    # Share of violations that are answers: 0.28 vs 0.22.
    assert share_tft.mean() - share_res.mean() >= 0.03 + 4 * se_diff_means(share_tft, share_res)
    # Held: 0.055 vs 0.80, SE of the difference ~0.033; 0.5 is ~7 SE below what we saw.
    assert held(restrained) - held(tft) >= 0.5, (held(tft), held(restrained))


# -- exercise 3: the mediator ----------------------------------------------------------------

def test_exercise_3_a_mediator_without_capacity_never_intervenes() -> None:
    idle = batch((CAPACITY, 0))
    assert (idle.steps.groupby("run")["interventions"].max() == 0).all()


def test_exercise_3_the_mediator_never_exceeds_its_daily_capacity() -> None:
    base = batch()
    capacity = base.scenario.mediator.capacity_per_day
    steps_per_day = round(1440 / base.scenario.scenario.report_interval_min)
    for _, run in base.steps.groupby("run"):
        counts = run["interventions"].to_numpy()
        in_a_day = counts[steps_per_day:] - counts[:-steps_per_day]
        assert in_a_day.max() <= capacity
        assert counts[:steps_per_day + 1].max() <= capacity


def test_exercise_3_an_effective_mediator_keeps_more_ceasefires() -> None:
    idle, strong = batch((CAPACITY, 0)), batch((EFFECTIVENESS, 1.0))
    # Held: 0.065 -> 0.80, SE of the difference ~0.034: 0.5 is ~9 SE below what we saw.
    assert held(strong) - held(idle) >= 0.5, (held(idle), held(strong))
    # Violations per hour: 8.5 -> 4.4.
    a, b = per_hour(idle), per_hour(strong)
    assert a.mean() - b.mean() >= 2.5 + 4 * se_diff_means(a, b), (a.mean(), b.mean())


# -- exercise 4: a post on the ridge ---------------------------------------------------------

def test_exercise_4_a_post_on_the_ridge_holds_the_truce() -> None:
    base = batch()
    post = run_replicates("classroom-peacekeepers", runs=RUNS, seed=SEED, progress=False)
    # Held: 1.0 with the post (200 of 200) against 0.245: a gap of 0.6 is ~20 SE inside.
    assert held(post) - held(base) >= 0.6, (held(base), held(post))
    assert held(post) >= 0.97  # with 200 of 200 seen, a true share below 0.97 is unlikely (~0.2%)
    a, b = per_hour(base), per_hour(post)
    assert a.mean() - b.mean() >= 4.0 + 4 * se_diff_means(a, b), (a.mean(), b.mean())
    # Never collapsed, so the status can only have said holding or eroding.
    assert post.decisions.empty


@pytest.mark.parametrize("control", [DISCIPLINE, POLICY, PROBABILITY, EFFECTIVENESS, CAPACITY])
def test_the_exercises_use_controls_the_page_has(control: str) -> None:
    app = pytest.importorskip("sim.faces.app", reason="the app extra is not installed")
    assert control in {c.path for c in app.CONTROLS}
