"""Property-based tests: generated valid scenarios run and keep the log's invariants; generated
corruptions of them are each rejected with one line naming the file and the key path.

Parameter ranges come from the one definition in sim.model.scenario (parameter_info); unbounded ones are
capped to keep the runs short.
"""

from __future__ import annotations

import copy
import itertools
import os
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import numpy as np
import pytest
from conftest import no_hang, write_case
from hypothesis import HealthCheck, given, settings

from sim.model.ceasefire import CeasefireModel
from sim.model.events import CAUSES, NO_ONE
from sim.model.policies import RETALIATION_POLICIES, VIOLATION_RULES
from sim.model.scenario import KIND_NAMES, ScenarioError, load_scenario, parameter_info

# CI explores the same examples every time (a run that lands stays green); elsewhere each run
# explores new ones. CEASEFIRE_HYPOTHESIS_EXAMPLES=400 searches harder.
SETTINGS = settings(max_examples=int(os.environ.get("CEASEFIRE_HYPOTHESIS_EXAMPLES", "80")),
                    deadline=None, derandomize=os.environ.get("CI") == "true",
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
CAP = {"rate": 20.0, "time": 600.0, "multiplier": 4.0}
"""Upper ends for parameters without one: rates per hour, times in minutes, multipliers."""

FORCE_KEYS = ("discipline", "war_rate_per_h", "ceasefire_rate_per_h", "grievance_weight",
              "grievance_gain", "grievance_half_life_min", "offensive_intent", "last_minute_gain",
              "gain_ramp_min", "spoiler_probability", "spoiler_persistence_min", "rear_strike_share")
MEDIATOR_KEYS = ("report_delay_mean_min", "effectiveness", "pressure_duration_min", "credibility",
                 "credibility_loss", "even_handedness", "monitor_accuracy",
                 "monitor_report_delay_mean_min")
SPILLOVER_KEYS = ("min_severity", "neighbour_probability", "rear_probability", "rear_grievance")


def _numbers(path: str) -> st.SearchStrategy[float]:
    """Floats within the range the scenario schema allows for ``path``."""
    info = parameter_info(path)
    unit = info.get("unit", "")
    lo = info.get("ge", info.get("gt", 0.0))
    cap = CAP["rate"] if "/h" in unit else CAP["time"] if unit == "min" else CAP["multiplier"]
    hi = info.get("le", lo + cap)
    low = st.floats(lo, hi, exclude_min="gt" in info, allow_nan=False, allow_infinity=False)
    return st.one_of(st.sampled_from([lo, hi]).filter(lambda x: x > lo or "gt" not in info), low)


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A valid scenario: a small random graph of front and rear sections, two sides."""
    sides = ("east", "west")
    n_front = draw(st.integers(1, 3))
    front = [f"front{i}" for i in range(n_front)]
    rear = {f"town{i}": draw(st.sampled_from(sides)) for i in range(draw(st.integers(0, 2)))}
    names = front + list(rear)
    sections: dict[str, Any] = {}
    for name in names:
        others = [n for n in names if n != name]
        sec: dict[str, Any] = {"kind": "rear" if name in rear else "front",
                               "neighbours": draw(st.lists(st.sampled_from(others), unique=True,
                                                           max_size=3)) if others else []}
        if name in rear:
            sec["side"] = rear[name]
        else:
            sec["value"] = draw(_numbers("sections.*.value"))
        sections[name] = sec

    def force() -> dict[str, Any]:
        keys = draw(st.lists(st.sampled_from(FORCE_KEYS), unique=True, max_size=len(FORCE_KEYS)))
        out = {k: draw(_numbers(f"sides.*.force.{k}")) for k in keys}
        kinds = draw(st.lists(st.sampled_from(KIND_NAMES), unique=True, min_size=1, max_size=3))
        out["capabilities"] = {k: draw(st.floats(0.1, 2.0)) for k in kinds}
        out["retaliation"] = {"policy": draw(st.sampled_from(list(RETALIATION_POLICIES))),
                              "probability": draw(_numbers("sides.*.force.retaliation.probability")),
                              "delay_mean_min": draw(_numbers("sides.*.force.retaliation.delay_mean_min")),
                              "forgiveness": draw(_numbers("sides.*.force.retaliation.forgiveness"))}
        return out

    data: dict[str, Any] = {
        "scenario": {"name": "generated", "start_min": draw(st.floats(-240.0, 0.0)),
                     "horizon_h": draw(st.floats(0.25, 4.0)),
                     "report_interval_min": draw(st.floats(5.0, 60.0))},
        "rules": {"violation": draw(st.lists(st.sampled_from(list(VIOLATION_RULES)), unique=True)),
                  **{r: draw(st.booleans()) for r in ("order_propagation", "attribution_errors",
                                                      "retaliation", "spillover", "mediation")}},
        "spillover": {k: draw(_numbers(f"spillover.{k}")) for k in SPILLOVER_KEYS},
        "sections": sections,
        "sides": {},
    }
    for side in sides:
        held = draw(st.lists(st.sampled_from(front), unique=True, min_size=1))
        forces = {sec: ({k: v for k, v in force().items() if k != "retaliation"}
                        if draw(st.booleans()) else {}) for sec in held}
        data["sides"][side] = {
            # Orders before, at and after t = 0 (one issued after t = 0 once hung the clock).
            "command": {"order_issue_min": draw(st.floats(-60.0, 60.0)),
                        "order_delay_mean_min": draw(_numbers("sides.*.command.order_delay_mean_min"))},
            "force": force(), "forces": forces}
    if draw(st.booleans()):
        data["mediator"] = {k: draw(_numbers(f"mediator.{k}")) for k in MEDIATOR_KEYS}
        data["mediator"]["capacity_per_day"] = draw(st.integers(0, 5))
        data["mediator"]["monitors"] = draw(st.booleans())
    return data


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("generated")


_names = itertools.count()


def _write(folder: Path, data: dict[str, Any]) -> Path:
    return write_case(folder, data, f"case{next(_names)}.toml")


@SETTINGS
@given(data=scenarios(), seed=st.integers(0, 2**32 - 1))
def test_generated_scenarios_run_and_keep_the_invariants(folder: Path, data: dict[str, Any],
                                                         seed: int) -> None:
    case = load_scenario(_write(folder, data))
    model = CeasefireModel(case, rng=seed)
    with no_hang(30):
        model.run_to_horizon()
    log = model.log.arrays()
    t, parent, side, cause = log["t_min"], log["parent"], log["side"], log["cause"]
    n = t.size

    # Time: nothing before the start or at/after the horizon; the log is in time order.
    assert np.all(t >= model.start_min) and np.all(t < model.horizon_min)
    assert np.all(np.diff(t) >= 0)
    assert not model.running and model.now == model.horizon_min
    # Causes and parents: initiated incidents have none; answers have an earlier one of the other side.
    assert set(np.unique(cause)) <= set(range(len(CAUSES)))
    initiated = cause == 0
    assert np.all(parent[initiated] == NO_ONE)
    answers = np.flatnonzero(~initiated)
    assert np.all((parent[answers] >= 0) & (parent[answers] < answers))
    assert np.all(t[parent[answers]] <= t[answers])
    assert np.all(side[parent[answers]] != side[answers])
    if not case.rules.retaliation:
        assert answers.size == 0
    if not case.rules.spillover:
        assert not np.any(cause == 2)
    # Counts add up: per-step tallies sum to the log, and each step's causes to its total.
    steps = model.steps_table()
    assert len(steps) == model.steps + 1  # a row at the start, then one per step
    assert steps["interval_events"].sum() == n == steps["events"].iloc[-1]
    assert (steps["initiated"] + steps["retaliation"] + steps["spillover"]
            == steps["interval_events"]).all()
    assert steps["initiated"].sum() == np.count_nonzero(initiated)
    assert steps["t_min"].iloc[0] == model.start_min and steps["t_min"].iloc[-1] == model.horizon_min
    assert (steps["forces_ordered"].between(0, 1)).all()
    table = model.events_table()
    assert len(table) == n and set(table["cause"]) <= set(CAUSES)


# -- corruptions ---------------------------------------------------------------------------------------

CORRUPTIONS: list[tuple[str, Any, str]] = [
    # (key path to set, bad value, key path the message must name)
    ("sides.east.force.discipline", 1.5, "sides.east.force.discipline"),
    ("sides.west.force.spoiler_probability", -0.1, "sides.west.force.spoiler_probability"),
    ("sides.east.force.war_rate_per_h", -2.0, "sides.east.force.war_rate_per_h"),
    ("sides.east.force.grievance_half_life_min", 0.0, "sides.east.force.grievance_half_life_min"),
    ("sides.west.force.retaliation.policy", "appeasement", "sides.west.force.retaliation.policy"),
    ("sides.west.force.retaliation.probability", 2.0, "sides.west.force.retaliation.probability"),
    ("sides.east.force.capabilities", {"lasers": 1.0}, "capabilities"),
    ("sides.east.force.offensive_intent", "a lot", "sides.east.force.offensive_intent"),
    ("sides.east.command.order_delay_mean_min", -1.0, "sides.east.command.order_delay_mean_min"),
    ("scenario.horizon_h", 0.0, "scenario.horizon_h"),
    ("scenario.start_min", 30.0, "scenario.start_min"),
    ("scenario.report_interval_min", "often", "scenario.report_interval_min"),
    ("sections.front0.value", 1.2, "sections.front0.value"),
    ("sections.front0.neighbours", ["nowhere"], "sections.front0.neighbours"),
    ("sections.front0.kind", "middle", "sections.front0.kind"),
    ("sections.front0.elevation", 3.0, "sections.front0.elevation"),
    ("sides.east.forces.nowhere", {}, "sides.east.forces.nowhere"),
    ("spillover.neighbour_probability", 1.01, "spillover.neighbour_probability"),
    ("kinds.drone.ambiguity", -0.5, "kinds.drone.ambiguity"),
    ("rules.violation", ["sabotage"], "rules.violation"),
    ("rules.retaliation", "sometimes", "rules.retaliation"),
    ("outcomes.collapse_fraction", 0.0, "outcomes.collapse_fraction"),
]


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    node = data
    *head, last = path.split(".")
    for p in head:
        node = node.setdefault(p, {})
    node[last] = value


@SETTINGS
@given(data=scenarios(), corruption=st.sampled_from(CORRUPTIONS))
def test_corrupted_scenarios_are_rejected_naming_the_key(folder: Path, data: dict[str, Any],
                                                         corruption: tuple[str, Any, str]) -> None:
    key, value, named = corruption
    bad = copy.deepcopy(data)
    _set(bad, key, value)
    path = _write(folder, bad)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    lines = str(info.value).splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}: ") and named in lines[0]


@SETTINGS
@given(data=scenarios(), corruption=st.sampled_from([c for c in CORRUPTIONS if "elevation" not in c[0]
                                                    and "forces.nowhere" not in c[0]]))
def test_corrupting_overrides_are_rejected_naming_the_key(folder: Path, data: dict[str, Any],
                                                          corruption: tuple[str, Any, str]) -> None:
    key, value, named = corruption
    path = _write(folder, data)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, {key: value})
    lines = str(info.value).splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{path}: ") and named in lines[0], lines
