"""The rules of sim/model/agents.py, one by one: each is switched off or contrasted, and measured.

Stochastic checks compare a count or share with its exact expectation under the rule, within
four standard errors (Poisson: sqrt(mean); binomial: sqrt(p(1-p)/n)); the replicate counts are
chosen so that the contrasted cases lie many standard errors apart. A run of these small cases
takes about 2 ms, so a few hundred runs are cheap.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from conftest import (
    base_data,
    binomial_check,
    events_of,
    no_hang,
    poisson_check,
    run_model,
    with_mediator,
)

from sim.model.ceasefire import CeasefireModel
from sim.model.events import INITIATED, NO_ONE
from sim.model.scenario import Scenario

MakeCase = Callable[..., Scenario]
ONLY = "rules.violation"


def _post(events: pd.DataFrame, cause: str | None = "initiated") -> pd.DataFrame:
    post = events[events["t_min"] >= 0]
    return post if cause is None else post[post["cause"] == cause]


def _parents(events: pd.DataFrame) -> pd.DataFrame:
    """Each answered event's row joined with its parent's (same run)."""
    answers = events[events["parent"] != NO_ONE]
    return answers.merge(events, left_on=["run", "parent"], right_on=["run", "event"],
                         suffixes=("", "_parent"), how="left", validate="many_to_one")


# -- rule 1: order propagation ---------------------------------------------------------------------

WAR_ONLY = {ONLY: ["pre_ceasefire_fighting"], "sides.*.force.war_rate_per_h": 60.0,
            "scenario.start_min": -30.0, "scenario.horizon_h": 2.0}
"""Only pre-ceasefire fighting, at 1 incident per minute per force."""


@pytest.mark.parametrize("delay", [5.0, 30.0])
def test_order_delay_sets_how_long_war_fighting_goes_on_after_t0(make_case: MakeCase,
                                                                 delay: float) -> None:
    # The order leaves at t = 0 and reaches each force after Exp(mean = delay); until then the force
    # fights at 1/min. Per force the count after t = 0 is Poisson mixed over that delay: mean delay,
    # variance delay + delay². 4 forces x 100 runs: SE = sqrt((delay + delay²) / 400).
    runs, forces = 100, 4
    case = make_case({**WAR_ONLY, "rules.order_propagation": True,
                      "sides.*.command.order_delay_mean_min": delay}, quiet=True)
    post = _post(events_of(case, runs))
    per_force = len(post) / (runs * forces)
    se = math.sqrt((delay + delay**2) / (runs * forces))
    assert abs(per_force - delay) <= 4 * se, (per_force, delay, se)
    assert len(_post(events_of(case, 1), cause=None)) == len(_post(events_of(case, 1)))  # all initiated


def test_order_arrival_times_follow_the_delay(make_case: MakeCase) -> None:
    # Exp(mean 30): mean of n arrivals has SE 30 / sqrt(n); 50 runs x 4 forces.
    case = make_case({**WAR_ONLY, "rules.order_propagation": True,
                      "sides.*.command.order_delay_mean_min": 30.0}, quiet=True)
    arrivals = np.concatenate([CeasefireModel(case, rng=s).orders_table()["order_arrival_min"]
                               for s in range(50)])
    assert np.all(np.isinf(arrivals))  # not sent before the order is issued at t = 0
    arrivals = np.concatenate([run_model(case, s).orders_table()["order_arrival_min"]
                               for s in range(50)])
    assert np.all(arrivals >= 0.0)
    assert abs(arrivals.mean() - 30.0) <= 4 * 30.0 / math.sqrt(arrivals.size)


def test_without_order_propagation_the_order_arrives_when_issued(make_case: MakeCase) -> None:
    case = make_case({**WAR_ONLY, "rules.order_propagation": False,
                      "sides.*.command.order_delay_mean_min": 30.0}, quiet=True)
    events = events_of(case, 20)
    assert len(events) > 0 and len(_post(events, cause=None)) == 0
    assert (run_model(case, 1).orders_table()["order_arrival_min"] == 0.0).all()


def test_a_late_order_lets_war_fighting_run_until_it_is_issued(make_case: MakeCase) -> None:
    case = make_case({**WAR_ONLY, "rules.order_propagation": False,
                      "sides.*.command.order_issue_min": 45.0}, quiet=True)
    model = run_model(case, 3)
    t = model.events_table()["t_min"]
    # 1/min per force from 0 to 45: about 180 incidents, none from 45 on.
    assert (t >= 0).sum() > 100 and t.max() < 45.0
    steps = model.steps_table()
    assert (steps.loc[steps["t_min"] < 45.0, "forces_ordered"] == 0.0).all()
    assert (steps.loc[steps["t_min"] > 45.0, "forces_ordered"] == 1.0).all()


@pytest.mark.parametrize("issue", [0.2, 10.3])
def test_an_order_issued_after_t0_is_issued(make_case: MakeCase, issue: float) -> None:
    case = make_case({**WAR_ONLY, "scenario.start_min": -120.0,
                      "sides.*.command.order_issue_min": issue}, quiet=True)
    with no_hang(3):
        model = run_model(case, 0)
    assert model.events_table()["t_min"].max() < issue


def test_forces_ordered_rises_from_zero_to_one(make_case: MakeCase) -> None:
    case = make_case({**WAR_ONLY, "rules.order_propagation": True,
                      "sides.*.command.order_delay_mean_min": 20.0}, quiet=True)
    ordered = run_model(case, 4).steps_table().set_index("t_min")["forces_ordered"]
    assert (ordered[ordered.index <= 0] == 0.0).all()
    assert ordered.is_monotonic_increasing and ordered.iloc[-1] == 1.0


# -- rule 2: last-minute gains and spoilers ----------------------------------------------------------

OFFENSIVE = {"sides.*.force.war_rate_per_h": 30.0, "sides.*.force.last_minute_gain": 2.0,
             "sides.*.force.offensive_intent": 1.0, "sections.north.value": 1.0,
             "sections.south.value": 0.0}
"""On north (value 1) the offensive rate is 30/60 x 2 x 1 x 1 = 1 per minute per force."""


def test_last_minute_gains_rise_towards_t0_on_valued_sections(make_case: MakeCase) -> None:
    # Rate per north force e^(t / 60) per minute for t < 0 (ramp 60 min): expected counts in the last
    # hour 60(1 - e^-1) = 37.9 and in the hour before 60(e^-1 - e^-2) = 14.0; Poisson tolerances.
    runs = 20
    case = make_case({**OFFENSIVE, ONLY: ["last_minute_gains"], "sides.*.force.gain_ramp_min": 60.0,
                      "sides.*.force.capabilities": {"artillery": 1.0}}, quiet=True)
    events = events_of(case, runs)
    assert set(events["section"]) == {"north"}  # no value, no gains
    assert (events["t_min"] < 0).all()  # the ceasefire ends them (no spoilers here)
    n = 2 * runs
    poisson_check(int((events["t_min"] >= -60).sum()), n * 60 * (1 - math.exp(-1)))
    poisson_check(int((events["t_min"] < -60).sum()), n * 60 * (math.exp(-1) - math.exp(-2)))


@pytest.mark.parametrize("change", [{"sections.*.value": 0.0}, {"sides.*.force.last_minute_gain": 0.0},
                                    {"sides.*.force.offensive_intent": 0.0}])
def test_no_value_gain_or_intent_means_no_last_minute_gains(make_case: MakeCase, change: dict) -> None:
    case = make_case({**OFFENSIVE, ONLY: ["last_minute_gains"],
                      "sides.*.force.capabilities": {"artillery": 1.0}, **change}, quiet=True)
    assert len(events_of(case, 10)) == 0


SPOILERS = {**OFFENSIVE, ONLY: ["spoiler"], "sides.*.force.spoiler_persistence_min": 60.0,
            "sides.*.force.capabilities": {"raid": 1.0}}


def test_spoilers_raid_after_t0(make_case: MakeCase) -> None:
    # A spoiler on north raids at e^(-t / 60) per minute after t = 0: 60(1 - e^-4) per force in 4 h.
    runs = 10
    case = make_case({**SPOILERS, "sides.*.force.spoiler_probability": 1.0}, quiet=True)
    events = events_of(case, runs)
    assert (events["t_min"] >= 0).all() and (events["cause"] == "initiated").all()
    assert set(events["kind"]) == {"raid"} and set(events["section"]) == {"north"}
    poisson_check(len(events), 2 * runs * 60 * (1 - math.exp(-4)))


def test_without_spoilers_there_are_no_raids_after_t0(make_case: MakeCase) -> None:
    case = make_case({**SPOILERS, "sides.*.force.spoiler_probability": 0.0}, quiet=True)
    assert len(events_of(case, 10)) == 0


def test_spoilers_are_drawn_with_their_probability(make_case: MakeCase) -> None:
    # Each of 4 forces is a spoiler with probability 0.3 (all have intent): binomial over 400 forces.
    case = make_case({**SPOILERS, "sides.*.force.spoiler_probability": 0.3}, quiet=True)
    spoilers = [CeasefireModel(case, rng=s).orders_table()["spoiler"] for s in range(100)]
    flags = pd.concat(spoilers)
    binomial_check(int(flags.sum()), len(flags), 0.3)


# -- rule 3: violation under the order -----------------------------------------------------------------

INDISCIPLINE = {ONLY: ["indiscipline"], "sides.*.force.ceasefire_rate_per_h": 6.0,
                "sides.*.force.grievance_gain": 0.0, "sides.*.force.capabilities": {"small_arms": 1.0}}


@pytest.mark.parametrize("discipline", [0.25, 0.75])
def test_violations_scale_with_indiscipline(make_case: MakeCase, discipline: float) -> None:
    # Rate 6/h x (1 - discipline) per force from t = 0 for 4 h; no grievance: Poisson count
    # with mean 4 forces x runs x 24 (1 - discipline). 0.25 and 0.75 differ threefold.
    runs = 25
    case = make_case({**INDISCIPLINE, "sides.*.force.discipline": discipline}, quiet=True)
    events = events_of(case, runs)
    assert (events["t_min"] >= 0).all()
    poisson_check(len(events), 4 * runs * 24 * (1 - discipline))


@pytest.mark.parametrize("weight", [0.0, 3.0])
def test_violations_scale_with_grievance(make_case: MakeCase, weight: float) -> None:
    # Two hours of war at 1/min per force, every act detected and worth a full point of grievance
    # that never fades (half-life 1e9 min): every force enters the ceasefire with grievance 1. Then
    # the rate is 6/h x 0.5 x (1 + weight) per force: 12 (1 + weight) per force in 4 h.
    runs = 10
    case = make_case({**INDISCIPLINE, ONLY: ["pre_ceasefire_fighting", "indiscipline"],
                      "sides.*.force.war_rate_per_h": 60.0, "sides.*.force.discipline": 0.5,
                      "sides.*.force.grievance_gain": 1.0,
                      "sides.*.force.grievance_half_life_min": 1e9,
                      "sides.*.force.grievance_weight": weight,
                      "kinds.small_arms.detection_probability": 1.0}, quiet=True)
    model = run_model(case, 0)
    assert model.mean_grievance == pytest.approx(1.0, abs=1e-5)
    poisson_check(len(_post(events_of(case, runs))), 4 * runs * 12 * (1 + weight))


# -- rule 4: perception and attribution ------------------------------------------------------------------

DETECTION = {**WAR_ONLY, "sides.*.force.capabilities": {"small_arms": 1.0, "artillery": 1.0},
             "kinds.small_arms.detection_probability": 0.3, "kinds.artillery.detection_probability": 0.8,
             "kinds.small_arms.ambiguity": 0.6, "kinds.artillery.ambiguity": 0.1,
             "scenario.start_min": -120.0, "scenario.horizon_h": 0.25}


def test_detection_follows_each_kinds_probability(make_case: MakeCase) -> None:
    # About 480 incidents per run before t = 0, half of each kind: binomial checks on ~2400 each.
    case = make_case(DETECTION, quiet=True)
    events = events_of(case, 10)
    for kind, p in (("small_arms", 0.3), ("artillery", 0.8)):
        of_kind = events[events["kind"] == kind]
        binomial_check(int(of_kind["detected"].sum()), len(of_kind), p)


def test_the_side_that_fired_blames_the_other_with_the_kinds_ambiguity(make_case: MakeCase) -> None:
    case = make_case({**DETECTION, "rules.attribution_errors": True}, quiet=True)
    events = events_of(case, 10)
    detected = events[events["detected"]]
    for kind, p in (("small_arms", 0.6), ("artillery", 0.1)):
        rows = detected[detected["kind"] == kind]
        by_firer = np.where(rows["side"] == "east", rows["blamed_by_east"], rows["blamed_by_west"])
        other = np.where(rows["side"] == "east", "west", "east")
        binomial_check(int((by_firer == other).sum()), len(rows), p)
    # The side fired upon always blames the side that fired, when it detects the act.
    by_target = np.where(detected["side"] == "east", detected["blamed_by_west"], detected["blamed_by_east"])
    assert (by_target == detected["side"]).all()
    undetected = events[~events["detected"]]
    assert (undetected["blamed_by_east"] == "").all() and (undetected["blamed_by_west"] == "").all()


def test_without_attribution_errors_no_side_blames_the_other_for_its_own_fire(make_case: MakeCase) -> None:
    case = make_case({**DETECTION, "rules.attribution_errors": False}, quiet=True)
    events = events_of(case, 5)
    assert not ((events["side"] == "east") & (events["blamed_by_east"] != "")).any()
    assert not ((events["side"] == "west") & (events["blamed_by_west"] != "")).any()


def test_both_commands_accuse_the_other(make_case: MakeCase) -> None:
    model = run_model(make_case(DETECTION, quiet=True), 2)
    events, last = model.events_table(), model.steps_table().iloc[-1]
    for side, other in (("east", "west"), ("west", "east")):
        blamed = int((events[f"blamed_by_{side}"] == other).sum())
        assert blamed > 0 and last[f"accusations_by_{side}"] == blamed


# -- rule 5: retaliation ---------------------------------------------------------------------------

def test_retaliation_exists_only_when_switched_on(make_case: MakeCase) -> None:
    on = events_of(make_case({"rules.retaliation": True}), 5)
    off = events_of(make_case({"rules.retaliation": False}), 5)
    assert (on["cause"] == "retaliation").sum() > 0
    assert set(off["cause"]) == {"initiated"} and (off["parent"] == NO_ONE).all()


@pytest.mark.parametrize("policy", ["tit_for_tat", "proportional", "escalating", "restrained", "grudger"])
def test_every_answer_follows_an_earlier_act_of_the_other_side(make_case: MakeCase, policy: str) -> None:
    case = make_case({"sides.*.force.retaliation.policy": policy,
                      "sides.*.force.retaliation.forgiveness": 0.2,
                      "sides.*.force.capabilities": {"small_arms": 1.0, "rockets": 0.5},
                      "spillover.neighbour_probability": 0.5})
    events = events_of(case, 5)
    answers = _parents(events)
    assert len(answers) > 0
    assert set(answers["cause"]) <= {"retaliation", "spillover"}
    assert answers["t_min_parent"].notna().all()  # the parent exists in the same run
    assert (answers["t_min_parent"] < answers["t_min"]).all()
    assert (answers["event_parent"] < answers["event"]).all()
    assert (answers["side_parent"] != answers["side"]).all()
    assert (events.loc[events["cause"] == "initiated", "parent"] == NO_ONE).all()


@pytest.mark.parametrize("delay", [5.0, 20.0])
def test_answers_come_after_the_policys_mean_delay(make_case: MakeCase, delay: float) -> None:
    # Tit-for-tat answers every detected act after Exp(mean = delay). Only parents at least
    # 10 delays before the horizon count (an answer beyond the horizon is lost with
    # probability e^-10). The mean of n delays has SE delay / sqrt(n).
    case = make_case({"rules.spillover": False, "sides.*.force.retaliation.policy": "tit_for_tat",
                      "sides.*.force.retaliation.delay_mean_min": delay})
    answers = _parents(events_of(case, 20))
    answers = answers[(answers["cause"] == "retaliation")
                      & (answers["t_min_parent"] < case.scenario.horizon_h * 60 - 10 * delay)]
    gaps = (answers["t_min"] - answers["t_min_parent"]).to_numpy()
    assert gaps.size > 200 and (gaps > 0).all()
    assert abs(gaps.mean() - delay) <= 4 * delay / math.sqrt(gaps.size), (gaps.mean(), gaps.size)


# -- rule 6: spillover -----------------------------------------------------------------------------

SPILL = {"sides.*.force.capabilities": {"small_arms": 1.0, "rockets": 1.0},
         "sides.*.force.retaliation.policy": "tit_for_tat", "spillover.min_severity": 3.0,
         "spillover.neighbour_probability": 1.0, "spillover.rear_probability": 0.0}


def test_severe_acts_spill_over_to_neighbouring_sections(make_case: MakeCase) -> None:
    case = make_case(SPILL)
    answers = _parents(events_of(case, 5))
    spill = answers[answers["cause"] == "spillover"]
    assert len(spill) > 0
    assert (spill["severity_parent"] >= 3.0).all()
    neighbours = {"north": {"south", "east_town"}, "south": {"north", "west_town"}}
    assert all(s in neighbours[p] for s, p in zip(spill["section"], spill["section_parent"], strict=True))


@pytest.mark.parametrize("change", [{"rules.spillover": False}, {"spillover.min_severity": 10.0}])
def test_no_spillover_when_switched_off_or_no_act_is_severe_enough(make_case: MakeCase,
                                                                   change: dict) -> None:
    events = events_of(make_case({**SPILL, **change}), 5)
    assert "spillover" not in set(events["cause"])
    assert (events["cause"] == "retaliation").sum() > 0


def test_severe_acts_can_bring_strikes_on_the_rear_of_the_side_that_fired(make_case: MakeCase) -> None:
    case = make_case({**SPILL, "spillover.neighbour_probability": 0.0, "spillover.rear_probability": 1.0,
                      "sides.*.force.rear_strike_share": 0.0})
    answers = _parents(events_of(case, 5))
    spill = answers[answers["cause"] == "spillover"]
    assert len(spill) > 0 and (spill["severity_parent"] >= 3.0).all()
    town = {"east": "east_town", "west": "west_town"}
    assert (spill["section"] == spill["side_parent"].map(town)).all()


@pytest.mark.parametrize("amount", [0.0, 0.35])
def test_a_strike_on_a_rear_area_aggrieves_every_force_of_its_side(make_case: MakeCase,
                                                                   amount: float) -> None:
    case = make_case({"spillover.rear_grievance": amount, "sides.*.force.grievance_gain": 0.0})
    model = CeasefireModel(case, rng=0)  # not started: every grievance is 0
    east_north = next(f for f in model.forces_of[0] if f.section.name == "north")
    town = next(s for s in model.sections if s.name == "west_town")
    east_north.fire(model.kind_index["artillery"], town, INITIATED, NO_ONE)
    now = model.now
    assert [f.grievance(now) for f in model.forces_of[1]] == pytest.approx([amount, amount])
    assert [f.grievance(now) for f in model.forces_of[0]] == [0.0, 0.0]


# -- rule 7: mediation -----------------------------------------------------------------------------

MEDIATED = {**INDISCIPLINE, "sides.*.force.discipline": 0.5, "rules.mediation": True}
"""3 violations per hour per force from t = 0, under a mediator (conftest.MEDIATOR)."""


def test_a_fully_effective_mediator_stops_violations(make_case: MakeCase) -> None:
    # Without mediation: Poisson, mean 4 forces x 3/h x 4 h = 48 per run. With effectiveness 1
    # and credibility 1, the first intervention stops all violations for the rest of the run.
    runs = 20
    data = with_mediator(base_data())
    off = events_of(make_case({**MEDIATED, "rules.mediation": False}, data=data, quiet=True), runs)
    poisson_check(len(off), runs * 48)
    case = make_case(MEDIATED, data=data, quiet=True)
    on = events_of(case, runs)
    assert len(on) < runs * 48 / 4
    for seed in range(5):
        model = run_model(case, seed)
        first = model.interventions_table()["t_min"].min()
        assert model.events_table()["t_min"].max() < first


def test_interventions_stay_within_the_daily_capacity(make_case: MakeCase) -> None:
    data = with_mediator(base_data(), capacity_per_day=2, pressure_duration_min=30.0,
                         effectiveness=0.0)
    case = make_case({**MEDIATED, "scenario.horizon_h": 72.0}, data=data, quiet=True)
    for seed in range(3):
        t = run_model(case, seed).interventions_table()["t_min"].to_numpy()
        in_day = [int(np.count_nonzero((t > x - 1440.0) & (t <= x))) for x in t]
        assert max(in_day) == 2  # the capacity binds ...
        assert len(t) >= 4  # ... and is renewed each day
    none = make_case({**MEDIATED, "mediator.capacity_per_day": 0}, data=data, quiet=True)
    assert len(run_model(none, 0).interventions_table()) == 0


@pytest.mark.parametrize("loss", [0.0, 0.1])
def test_credibility_falls_when_violations_continue(make_case: MakeCase, loss: float) -> None:
    data = with_mediator(base_data(), effectiveness=0.5, credibility_loss=loss)
    model = run_model(make_case(MEDIATED, data=data, quiet=True), 1)
    credibility = model.steps_table()["mediator_credibility"]
    assert credibility.is_monotonic_decreasing and credibility.iloc[0] == 1.0
    if loss == 0.0:
        assert credibility.iloc[-1] == 1.0
    else:
        # It loses a tenth per violation heard under pressure: 0.9 ** k for a whole k ≥ 1.
        k = math.log(credibility.iloc[-1]) / math.log(0.9)
        assert k >= 1 and k == pytest.approx(round(k), abs=1e-9)


@pytest.mark.parametrize(("monitors", "right"), [(False, 1 - 0.8 / 2), (True, 0.95)])
def test_monitors_make_the_mediators_attribution_accurate(make_case: MakeCase, monitors: bool,
                                                          right: float) -> None:
    # Ambiguity 0.8: without monitors the mediator blames the right side with 1 - 0.8 / 2 = 0.6,
    # with monitors with monitor_accuracy = 0.95. About 96 violations per run, all detected.
    data = with_mediator(base_data(), monitors=monitors, monitor_accuracy=0.95)
    case = make_case({**MEDIATED, "rules.mediation": False, "sides.*.force.discipline": 0.0,
                      "kinds.small_arms.ambiguity": 0.8, "kinds.small_arms.detection_probability": 1.0},
                     data=data, quiet=True)
    events = _post(events_of(case, 10), cause=None)
    assert (events["blamed_by_mediator"] != "").all()
    binomial_check(int((events["blamed_by_mediator"] == events["side"]).sum()), len(events), right)
