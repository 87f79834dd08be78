"""Rule 8, commitment: commands weigh the truce, loosen their grip, abandon it and come back.

Scripted tests fire known acts at known minutes and check the commitment to the last digit;
statistical tests compare counts with their exact expectation under the rule, within four
standard errors (conftest.poisson_check / binomial_check).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from conftest import base_data, binomial_check, events_of, poisson_check, run_model, with_mediator

from sim.model.ceasefire import CeasefireModel
from sim.model.events import INITIATED, NO_ONE
from sim.model.policies import Grudger
from sim.model.scenario import Scenario

MakeCase = Callable[..., Scenario]

STILL = {"sides.*.force.war_rate_per_h": 0.0, "sides.*.force.ceasefire_rate_per_h": 0.0,
         "scenario.start_min": 0.0, "scenario.horizon_h": 48.0, "rules.commitment": True,
         "sides.*.command.recovery_per_day": 0.0}
"""Nobody fires of their own accord, commitment does not recover: only scripted acts move it."""
SURE = {"kinds.artillery.detection_probability": 1.0, "kinds.artillery.ambiguity": 0.0,
        "kinds.artillery.casualties_mean": 0.0}
"""Artillery is always detected, never deniable, never deadly."""
DAY = 1440.0


def _force(model: CeasefireModel, side: str, section: str):
    s = model.side_names.index(side)
    return next(f for f in model.forces_of[s] if f.section.name == section)


def _command(model: CeasefireModel, side: str):
    return model.commands[model.side_names.index(side)]


def _fire_at(model: CeasefireModel, t: float, side: str, section: str, target: str,
             kind: str = "artillery") -> None:
    force = _force(model, side, section)
    where = next(s for s in model.sections if s.name == target)
    model.at(t, force.fire, model.kind_index[kind], where, INITIATED, NO_ONE)


def _advance(model: CeasefireModel, t: float) -> None:
    while model.running and model.now < t:
        model.step()


def test_commitment_falls_with_each_act_blamed_on_the_other_side(make_case: MakeCase) -> None:
    case = make_case({**STILL, **SURE, "sides.*.command.violation_cost": 0.01,
                      "sides.*.command.rear_multiplier": 4.0}, quiet=True)
    model = CeasefireModel(case, rng=0)
    _fire_at(model, 10.0, "east", "north", "north")  # artillery (2.5) on west's front
    _fire_at(model, 20.0, "west", "north", "east_town")  # artillery on east's rear
    _advance(model, 60.0)
    west, east = _command(model, "west"), _command(model, "east")
    assert west.commitment(model.now) == pytest.approx(1.0 - 0.01 * 2.5)
    assert east.commitment(model.now) == pytest.approx(1.0 - 0.01 * 2.5 * 4.0)
    assert model.decisions == []


def test_casualties_cost_commitment(make_case: MakeCase) -> None:
    case = make_case({**STILL, "sides.*.command.violation_cost": 0.0,
                      "sides.*.command.casualty_cost": 0.05}, quiet=True)
    model = CeasefireModel(case, rng=0)
    _advance(model, 30.0)
    east = _command(model, "east")
    east.hostile_act(2.5, False, 3, "rear_strikes")
    assert east.commitment(model.now) == pytest.approx(1.0 - 3 * 0.05)


def test_before_t0_nothing_moves_commitment(make_case: MakeCase) -> None:
    case = make_case({**STILL, **SURE, "scenario.start_min": -60.0,
                      "sides.*.command.violation_cost": 0.1, "sides.*.command.war_aims_per_day": 5.0},
                     quiet=True)
    model = CeasefireModel(case, rng=0)
    _fire_at(model, -30.0, "east", "north", "north")
    _advance(model, -1.0)
    assert _command(model, "west").commitment(model.now) == 1.0


def test_a_command_that_believes_it_was_attacked_loses_commitment(make_case: MakeCase) -> None:
    # Ambiguity 1: the side that fired always says "they fired first", and believes it.
    blamed = {**STILL, **SURE, "kinds.artillery.ambiguity": 1.0, "sides.*.command.violation_cost": 0.02}
    for errors, expected in ((True, 1.0 - 0.02 * 2.5), (False, 1.0)):
        case = make_case({**blamed, "rules.attribution_errors": errors}, quiet=True)
        model = CeasefireModel(case, rng=0)
        _fire_at(model, 10.0, "east", "north", "north")
        _advance(model, 30.0)
        assert _command(model, "east").commitment(model.now) == pytest.approx(expected)
        assert _command(model, "west").commitment(model.now) == pytest.approx(1.0 - 0.02 * 2.5)


def test_misattributed_fire_can_tip_a_command_over(make_case: MakeCase) -> None:
    case = make_case({**STILL, **SURE, "kinds.artillery.ambiguity": 1.0,
                      "sides.*.command.violation_cost": 0.3}, quiet=True)
    model = CeasefireModel(case, rng=0)
    _fire_at(model, 10.0, "east", "north", "north")
    run_to_end(model)
    terms = {(model.side_names[side], term) for _t, side, decision, term, _c in model.decisions
             if decision == "abandon"}
    assert ("east", "misattributed_fire") in terms and ("west", "attacks") in terms


def run_to_end(model: CeasefireModel) -> None:
    while model.running:
        model.step()


@pytest.mark.parametrize(("recovery", "guarantee"), [(0.0, 0.0), (0.0, 0.5), (0.5, 0.0)])
def test_war_aims_alone_abandon_the_truce_at_the_computed_minute(make_case: MakeCase, recovery: float,
                                                                  guarantee: float) -> None:
    # dC/dt = r (1 - C) - w (1 - g), C(0) = 1, threshold 0.3, w = 1 per day.
    data = base_data()
    if guarantee:
        data["peacekeepers"] = {"sections": ["north"], "guarantee": guarantee}
    case = make_case({**STILL, "sides.east.command.war_aims_per_day": 1.0,
                      "sides.*.command.recovery_per_day": recovery}, data=data, quiet=True)
    pull = 1.0 * (1 - guarantee) / DAY
    if recovery:
        r = recovery / DAY
        target = 1.0 - pull / r
        expected = math.log((1.0 - target) / (0.3 - target)) / r
    else:
        expected = 0.7 / pull
    model = run_model(case, 0)
    assert len(model.decisions) == 1
    t, side, decision, term, c = model.decisions[0]
    assert (model.side_names[side], decision, term) == ("east", "abandon", "war_aims")
    assert t == pytest.approx(expected, rel=1e-9)
    assert c < 0.3
    assert model.collapsed_at_min == t


def test_after_abandoning_its_forces_fight_at_the_war_time_rate(make_case: MakeCase) -> None:
    # East abandons at 0.7 day = 1008 min (war aims); with no propagation delay its two forces
    # fight at 1/min from then to the 48 h horizon; west keeps the truce: Poisson(2 x 1872) events.
    case = make_case({**STILL, "sides.east.command.war_aims_per_day": 1.0,
                      "sides.east.force.war_rate_per_h": 60.0, "rules.violation": ["pre_ceasefire_fighting"]},
                     quiet=True)
    events = events_of(case, 5)
    post = events[events["t_min"] >= 0]
    assert (post["t_min"] >= 1008.0 - 1e-9).all() and (post["side"] == "east").all()
    poisson_check(len(post), 5 * 2 * (48 * 60.0 - 1008.0))


def test_the_broker_can_bring_a_side_back(make_case: MakeCase) -> None:
    data = with_mediator(base_data(), commitment_support=0.5, recommitment=True)
    case = make_case({**STILL, "sides.east.command.war_aims_per_day": 1.0,
                      "sides.*.force.retaliation.policy": "grudger", "rules.mediation": True},
                     data=data, quiet=True)
    model = CeasefireModel(case, rng=0)
    _advance(model, 1100.0)
    east = _command(model, "east")
    assert east.abandoned and all(f.resume_arrival_min <= model.now for f in east.forces)
    for f in east.forces:
        f.policy.notice(2.5)  # a grudge held since the fighting
    east.supported(1.0)  # two interventions at full pressure: 0.5 each
    east.supported(1.0)
    assert not east.abandoned
    assert [d[2] for d in model.decisions] == ["abandon", "recommit"]
    assert model.decisions[-1][3] == "broker"
    assert all(not f.policy.grudge for f in east.forces), "grudges set aside on recommitment"
    assert all(f.under_ceasefire(model.now) for f in east.forces)  # no propagation delay here


def test_orders_still_on_their_way_are_called_back_and_sent_again(make_case: MakeCase) -> None:
    # Orders take ~1000 min to arrive: the side abandons (and recommits) while they travel.
    data = with_mediator(base_data(), commitment_support=0.5, recommitment=True)
    case = make_case({**STILL, "rules.order_propagation": True, "rules.mediation": True,
                      "sides.*.command.order_delay_mean_min": 1000.0}, data=data, quiet=True)
    model = CeasefireModel(case, rng=3)
    _advance(model, 15.0)
    east = _command(model, "east")
    assert all(model.now < f.order_arrival_min < math.inf for f in east.forces)
    east.hostile_act(1000.0, False, 0, "attacks")  # far past the threshold at once
    assert east.abandoned
    assert all(f.order_arrival_min == math.inf for f in east.forces), "the order is called back"
    assert all(f.resume_arrival_min > model.now for f in east.forces)
    east.supported(1.0)
    east.supported(1.0)
    assert not east.abandoned
    for f in east.forces:  # the resume order is cancelled, a new order to cease fire is on its way
        assert f.resume_arrival_min == math.inf and model.now <= f.order_arrival_min < math.inf


def test_without_the_brokers_leave_no_side_comes_back(make_case: MakeCase) -> None:
    data = with_mediator(base_data(), commitment_support=0.5, recommitment=False)
    case = make_case({**STILL, "sides.east.command.war_aims_per_day": 1.0, "rules.mediation": True},
                     data=data, quiet=True)
    model = CeasefireModel(case, rng=0)
    _advance(model, 1100.0)
    east = _command(model, "east")
    east.supported(1.0)
    east.supported(1.0)
    assert east.abandoned and [d[2] for d in model.decisions] == ["abandon"]


LOOSE = {"scenario.start_min": 0.0, "scenario.horizon_h": 12.0, "rules.commitment": True,
         "sides.*.force.war_rate_per_h": 0.0, "sides.*.force.ceasefire_rate_per_h": 6.0,
         "sides.*.force.discipline": 0.8, "sides.*.force.grievance_weight": 0.0,
         "rules.violation": ["indiscipline"], "sides.*.command.violation_cost": 0.0,
         "sides.*.command.casualty_cost": 0.0,
         "sides.*.command.recovery_per_day": 0.0, "sides.*.command.abandon_threshold": 0.0,
         "sides.*.command.recommit_threshold": 0.0}
"""Commitment fixed at its initial value: only the grip it gives on the forces matters."""


@pytest.mark.parametrize(("initial", "rule"), [(1.0, True), (0.5, True), (0.5, False)])
def test_a_loosened_grip_lets_more_violations_start(make_case: MakeCase, initial: float,
                                                    rule: bool) -> None:
    # Rate per force = 6/h x (1 - 0.8 x C); rule 8 off: C counts as 1 whatever the file says.
    case = make_case({**LOOSE, "sides.*.command.commitment_initial": initial, "rules.commitment": rule},
                     quiet=True)
    runs = 10
    c = initial if rule else 1.0
    events = events_of(case, runs)
    poisson_check(len(events), runs * 4 * 0.1 * (1 - 0.8 * c) * 12 * 60)


@pytest.mark.parametrize("initial", [1.0, 0.5])
def test_a_loosened_grip_answers_what_the_policy_would_let_go(make_case: MakeCase,
                                                             initial: float) -> None:
    # The policy never answers (probability 0); with commitment C an act is answered in kind with
    # probability 1 - C. Answers come after 0.001 min on average, so one is rarely pending.
    case = make_case({**LOOSE, "sides.*.command.commitment_initial": initial,
                      "rules.retaliation": True, "kinds.small_arms.detection_probability": 1.0,
                      "kinds.artillery.detection_probability": 1.0,
                      "sides.*.force.retaliation": {"policy": "proportional", "probability": 0.0,
                                                    "delay_mean_min": 0.001}}, quiet=True)
    events = events_of(case, 10)
    initiated = events[events["cause"] == "initiated"]
    answers = events[events["parent"].isin(initiated["event"]) & (events["cause"] != "initiated")]
    answered = answers.merge(initiated, left_on=["run", "parent"], right_on=["run", "event"])
    if initial == 1.0:
        assert len(answered) == 0
    else:
        binomial_check(len(answered), len(initiated), 0.5)


def test_a_loosened_grip_answers_one_rung_heavier(make_case: MakeCase) -> None:
    case = make_case({**LOOSE, "sides.*.command.commitment_initial": 0.5, "rules.retaliation": True,
                      "kinds.small_arms.detection_probability": 1.0,
                      "sides.*.force.capabilities": {"small_arms": 1.0, "artillery": 1.0},
                      "sides.*.force.retaliation": {"policy": "proportional", "probability": 1.0,
                                                    "delay_mean_min": 0.001}}, quiet=True)
    events = events_of(case, 10)
    merged = events[events["parent"] != NO_ONE].merge(
        events, left_on=["run", "parent"], right_on=["run", "event"], suffixes=("", "_act"))
    to_small = merged[merged["kind_act"] == "small_arms"]
    heavier = int((to_small["kind"] == "artillery").sum())
    binomial_check(heavier, len(to_small), 0.5)


def test_grudger_remembers_acts_it_could_not_answer() -> None:
    policy = Grudger((1.0, 2.5), 0.5, 10.0)
    assert not policy.keeps_grievance
    policy.notice(1.0)  # perceived while held back, or while an answer was on its way
    assert policy.grudge and policy.keeps_grievance
    policy.reset()
    assert not policy.grudge


def test_steps_carry_each_sides_commitment(make_case: MakeCase) -> None:
    case = make_case({**STILL, "sides.east.command.war_aims_per_day": 1.0,
                      "scenario.horizon_h": 6.0}, quiet=True)
    steps = run_model(case, 0).steps_table()
    expected = 1.0 - steps["t_min"].clip(lower=0) / DAY
    np.testing.assert_allclose(steps["commitment_east"], expected)
    assert (steps["commitment_west"] == 1.0).all()
