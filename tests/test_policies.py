"""Policies: invariants over both registries, and a scripted test per retaliation policy."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from conftest import base_data, binomial_check, run_model, with_mediator

from sim.model.ceasefire import CeasefireModel
from sim.model.draws import Draws
from sim.model.policies import (
    RETALIATION_POLICIES,
    VIOLATION_RULES,
    Answer,
    RetaliationPolicy,
    ViolationRule,
)
from sim.model.scenario import Scenario

MakeCase = Callable[..., Scenario]
LADDER = (1.0, 2.5, 4.0)
"""Severities of a force's ladder: small arms, artillery, raid."""
ACTS = (1.0, 2.5, 4.0, 3.5, 1.2, 2.0, 4.0, 1.0) * 25
"""A fixed sequence of hostile acts, by severity."""


def _draws(seed: int = 0) -> Draws:
    return Draws(np.random.default_rng(seed))


def _policy(name: str, probability: float = 0.5, delay: float = 30.0,
            forgiveness: float = 0.3) -> RetaliationPolicy:
    return RETALIATION_POLICIES[name](LADDER, probability, delay, forgiveness)


def _answers(policy: RetaliationPolicy, draws: Draws, acts: tuple[float, ...] = ACTS) -> list[Answer | None]:
    return [policy.answer(a, draws) for a in acts]


# -- registry-wide invariants ----------------------------------------------------------------------

@pytest.mark.parametrize("name", list(RETALIATION_POLICIES))
def test_retaliation_policy_metadata_is_complete(name: str) -> None:
    cls = RETALIATION_POLICIES[name]
    assert issubclass(cls, RetaliationPolicy) and cls.name == name
    assert set(cls.classifier) == {"stochastic", "memory", "escalates", "forgives"}
    assert all(isinstance(cls.classifier[k], bool) for k in ("stochastic", "escalates", "forgives"))
    assert isinstance(cls.classifier["memory"], str) and cls.classifier["memory"]
    assert cls.__doc__ and cls.__doc__.strip()


@pytest.mark.parametrize("name", list(VIOLATION_RULES))
def test_violation_rule_metadata_is_complete(name: str) -> None:
    cls = VIOLATION_RULES[name]
    assert issubclass(cls, ViolationRule) and cls.name == name
    assert set(cls.classifier) == {"posture", "depends_on"}
    assert cls.classifier["posture"] in ("war", "ceasefire")
    assert cls.kinds and cls.__doc__ and cls.__doc__.strip()


@pytest.mark.parametrize("name", list(RETALIATION_POLICIES))
def test_same_seed_same_decisions(name: str) -> None:
    first = _answers(_policy(name), _draws(7))
    assert _answers(_policy(name), _draws(7)) == first
    assert any(a is not None for a in first)


@pytest.mark.parametrize("name", list(RETALIATION_POLICIES))
def test_reset_forgets_the_past(name: str) -> None:
    fresh = _answers(_policy(name), _draws(3))
    used = _policy(name)
    _answers(used, _draws(99))
    used.reset()
    assert not used.keeps_grievance
    assert _answers(used, _draws(3)) == fresh


@pytest.mark.parametrize("name", list(RETALIATION_POLICIES))
def test_the_stochastic_flag_tells_the_truth(name: str) -> None:
    # Deterministic policies pick the same rungs whatever the draws; stochastic ones do not.
    rungs = [[None if a is None else a.rung for a in _answers(_policy(name), _draws(s))] for s in (1, 2)]
    assert (rungs[0] != rungs[1]) == RETALIATION_POLICIES[name].classifier["stochastic"]


@pytest.mark.parametrize("name", list(RETALIATION_POLICIES))
def test_answers_stay_on_the_ladder_with_positive_delays(name: str) -> None:
    answers = [a for a in _answers(_policy(name), _draws(5)) if a is not None]
    assert all(0 <= a.rung < len(LADDER) and a.delay_min > 0 for a in answers)


@pytest.mark.parametrize("name", list(RETALIATION_POLICIES))
def test_answer_delays_have_the_policys_mean(name: str) -> None:
    # Exponential delays: the mean of n has SE delay / sqrt(n).
    answers = [a for a in _answers(_policy(name, probability=1.0, forgiveness=0.0, delay=12.0),
                                   _draws(11), ACTS * 10) if a is not None]
    delays = np.array([a.delay_min for a in answers])
    assert abs(delays.mean() - 12.0) <= 4 * 12.0 / math.sqrt(delays.size)



@pytest.mark.parametrize(("name", "mediated"), [
    pytest.param(name, mediated, id=f"{name}-{'mediated' if mediated else 'alone'}")
    for name in VIOLATION_RULES for mediated in (False, True)])
def test_violation_rule_bounds_hold_until_they_say(make_case: MakeCase, name: str, mediated: bool) -> None:
    # Thinning is exact only if the bound is never below the hazard before its end, whatever the
    # mediator's pressure does meanwhile; check it at many times for every force of a case where
    # every ingredient of every rule is active.
    data = with_mediator(base_data(), effectiveness=0.6, pressure_duration_min=45.0) if mediated else None
    case = make_case({"rules.violation": [name], "sides.*.force.offensive_intent": 1.0,
                      "sides.*.force.spoiler_probability": 1.0, "sides.*.force.grievance_gain": 0.5,
                      "sides.*.force.capabilities": {"small_arms": 1.0, "artillery": 1.0, "raid": 1.0},
                      "sides.*.command.order_issue_min": -30.0}, data=data)
    model = CeasefireModel(case, rng=0)
    rule = model.forces[0].rules[0]
    assert rule.name == name
    checked = 0
    while model.running:  # check forwards from each reporting time (state as it then stands)
        t = model.now
        for force in model.forces:
            bound, until = rule.bound_per_min(force, t)
            assert until > t or bound == 0.0
            for s in np.linspace(t, min(until, t + 240.0), 16, endpoint=False):
                assert rule.rate_per_min(force, s) <= bound + 1e-12, (name, t, s)
                checked += rule.rate_per_min(force, s) > 0
        model.step()
    assert checked > 0


# -- scripted: "given these acts, it answers so" ------------------------------------------------------

def _rungs(policy: RetaliationPolicy, acts: tuple[float, ...], seed: int = 0) -> list[int | None]:
    return [None if a is None else a.rung for a in _answers(policy, _draws(seed), acts)]


def test_tit_for_tat_answers_every_act_in_kind() -> None:
    policy = _policy("tit_for_tat", probability=0.0)  # it ignores probability
    assert _rungs(policy, (1.0, 2.5, 4.0, 3.5, 1.7, 1.8)) == [0, 1, 2, 2, 0, 1]


def test_proportional_answers_at_the_closest_severity_with_its_probability() -> None:
    assert _rungs(_policy("proportional", probability=1.0), (1.0, 2.5, 4.0, 3.0, 3.4)) == [0, 1, 2, 1, 2]
    assert _rungs(_policy("proportional", probability=0.0), (1.0, 4.0)) == [None, None]
    # With probability 0.3 it answers 30% of acts: binomial check over 2000 acts.
    rungs = _rungs(_policy("proportional", probability=0.3), (2.5,) * 2000)
    binomial_check(sum(r is not None for r in rungs), len(rungs), 0.3)
    assert {r for r in rungs if r is not None} == {1}


def test_escalating_answers_one_rung_up_capped_at_its_heaviest() -> None:
    assert _rungs(_policy("escalating", probability=1.0), (1.0, 2.5, 4.0, 3.6)) == [1, 2, 2, 2]
    assert _rungs(_policy("escalating", probability=0.0), (1.0,)) == [None]


def test_restrained_answers_one_rung_down_and_forgives() -> None:
    assert _rungs(_policy("restrained", probability=1.0, forgiveness=0.0), (1.0, 2.5, 4.0)) == [0, 0, 1]
    assert _rungs(_policy("restrained", probability=1.0, forgiveness=1.0), (4.0,) * 50) == [None] * 50
    # Forgiveness 0.4, probability 1: it answers (1 - 0.4) of acts; binomial check over 2000.
    rungs = _rungs(_policy("restrained", probability=1.0, forgiveness=0.4), (4.0,) * 2000)
    binomial_check(sum(r is not None for r in rungs), len(rungs), 0.6)
    # Both filters apply: answered with (1 - forgiveness) x probability = 0.6 x 0.5.
    rungs = _rungs(_policy("restrained", probability=0.5, forgiveness=0.4), (4.0,) * 2000, seed=1)
    binomial_check(sum(r is not None for r in rungs), len(rungs), 0.3)


def test_grudger_answers_with_its_heaviest_and_keeps_its_grievance() -> None:
    policy = _policy("grudger", probability=0.0)
    assert not policy.keeps_grievance
    assert _rungs(policy, (1.0, 2.5, 1.0)) == [2, 2, 2]
    assert policy.keeps_grievance
    policy.reset()
    assert not policy.keeps_grievance


def test_other_policies_let_grievance_fade() -> None:
    for name in RETALIATION_POLICIES:
        if name == "grudger":
            continue
        policy = _policy(name, probability=1.0, forgiveness=0.0)
        _answers(policy, _draws(0))
        assert not policy.keeps_grievance, name


def test_a_grudgers_grievance_does_not_fade_in_the_model(make_case: MakeCase) -> None:
    case = make_case({"sides.east.force.retaliation.policy": "grudger",
                      "sides.west.force.retaliation.policy": "tit_for_tat",
                      "sides.*.force.grievance_half_life_min": 10.0,
                      "kinds.small_arms.detection_probability": 1.0})
    model = run_model(case, 0)
    later = model.horizon_min + 1000.0
    east = [f for f in model.forces if f.side == 0]
    west = [f for f in model.forces if f.side == 1]
    assert all(f.grievance(later) == f.grievance(model.now) > 0 for f in east)
    assert all(f.grievance(later) < f.grievance(model.now) for f in west)
