"""An override of a side's force default reaches every force of that side (issue 8).

``sides.<side or *>.force.<key>`` replaces the value the force entries set themselves; one force
is set with ``sides.<side>.forces.<section>.<key>``. The rule lives in the one override mechanism,
so each entry point is tested: ``--set`` (CLI and load_scenario), an experiment spec's grid, a
calibration prior's application and the classroom page's controls.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import base_data, write_case

from sim.model.scenario import ScenarioError, apply_overrides, load_scenario
from sim.studies.calibration import Prior, as_overrides
from sim.studies.runner import map_runs

SILENT = {"sides.*.force.war_rate_per_h": 0.0, "sides.*.force.ceasefire_rate_per_h": 0.0}
"""With these reaching every force, nobody ever fires."""


def _own_values() -> dict[str, Any]:
    """The base case where one force of each side sets its own rates and discipline."""
    data = base_data()
    for side in ("east", "west"):
        data["sides"][side]["forces"]["south"] = {"war_rate_per_h": 9.0, "ceasefire_rate_per_h": 4.0,
                                                  "discipline": 0.1}
    return data


def _rates(case: Any) -> set[tuple[float, float]]:
    return {(f.war_rate_per_h, f.ceasefire_rate_per_h) for s in case.sides.values()
            for f in s.forces.values()}


@pytest.fixture
def own_file(tmp_path: Path) -> Path:
    return write_case(tmp_path, _own_values(), "own.toml")


# -- load_scenario / with_overrides ------------------------------------------------------------

def test_karabakh_offensive_intent_wildcard_reaches_jabrayil_and_hadrut() -> None:
    case = load_scenario("karabakh-2020-10-10", {"sides.*.force.offensive_intent": 0})
    assert {f.offensive_intent for s in case.sides.values() for f in s.forces.values()} == {0.0}
    # Without the override the two southern Azerbaijani forces keep their own 0.9.
    own = load_scenario("karabakh-2020-10-10").sides["azerbaijani"].forces
    assert own["jabrayil"].offensive_intent == own["hadrut"].offensive_intent == 0.9


def test_named_side_reaches_only_its_own_forces(own_file: Path) -> None:
    case = load_scenario(own_file, {"sides.east.force.discipline": 0.9})
    assert {f.discipline for f in case.sides["east"].forces.values()} == {0.9}
    west = case.sides["west"].forces
    assert (west["north"].discipline, west["south"].discipline) == (0.5, 0.1)


def test_one_force_is_set_by_its_own_path_and_wins_whatever_the_order(own_file: Path) -> None:
    one = {"sides.east.forces.south.discipline": 0.3}
    every = {"sides.*.force.discipline": 0.9}
    for overrides in ({**one, **every}, {**every, **one}):
        east = load_scenario(own_file, overrides).sides["east"].forces
        assert (east["north"].discipline, east["south"].discipline) == (0.9, 0.3)


def test_nested_keys_and_capabilities_reach_every_force(tmp_path: Path) -> None:
    data = base_data()
    data["sides"]["east"]["forces"]["south"] = {
        "retaliation": {"probability": 0.1, "delay_mean_min": 5.0},
        "capabilities": {"small_arms": 1.0, "drone": 2.0}}
    path = write_case(tmp_path, data)
    case = load_scenario(path, {"sides.*.force.retaliation.probability": 0.8,
                                "sides.*.force.capabilities.drone": 0.0})
    south = case.sides["east"].forces["south"]
    assert south.retaliation.probability == 0.8
    assert south.retaliation.delay_mean_min == 5.0  # a key the override does not name stays
    assert south.capabilities == {"small_arms": 1.0, "drone": 0.0}  # its own table, drone set in it
    assert {f.capabilities.get("drone") for s in case.sides.values() for f in s.forces.values()} == {0.0}


def test_a_loaded_scenario_behaves_like_a_file(own_file: Path) -> None:
    case = load_scenario(own_file)
    assert _rates(case.with_overrides(SILENT)) == {(0.0, 0.0)}
    assert _rates(load_scenario(own_file, SILENT)) == {(0.0, 0.0)}


def test_apply_overrides_changes_the_entries_only_where_they_set_the_key() -> None:
    raw = _own_values()
    out = apply_overrides(raw, {"sides.*.force.discipline": 0.9})
    south = out["sides"]["east"]["forces"]["south"]
    assert "discipline" not in south  # inherits the new default now
    assert south["war_rate_per_h"] == 9.0  # what the override does not name stays
    assert out["sides"]["east"]["forces"]["north"] == {}
    assert raw == _own_values()  # the input is not mutated


def test_a_bad_side_default_is_reported_once_where_the_override_put_it(own_file: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(own_file, {"sides.east.force.discipline": 1.5})
    assert str(info.value) == (f"{own_file}: sides.east.force.discipline = 1.5: "
                               "Input should be less than or equal to 1")


# -- the four entry points ---------------------------------------------------------------------

def test_cli_set_reaches_forces_with_their_own_values(own_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "sim.faces.cli", "run", str(own_file), "--runs", "2", "--horizon", "2",
         "--out", str(out), *[a for k, v in SILENT.items() for a in ("--set", f"{k}={v}")]],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert len(pd.read_csv(out / "events.csv")) == 0  # nobody fires, the south forces neither


def test_experiment_grid_reaches_forces_with_their_own_values(own_file: Path, tmp_path: Path) -> None:
    from sim.studies import experiment

    spec = tmp_path / "spec.toml"
    spec.write_text(f"""
[experiment]
name = "reach"
scenario = "{own_file.name}"
replicates = 2
horizon_h = 2
outcomes = ["pre_rate_per_h", "violations_per_h"]

[set]
"sides.*.force.ceasefire_rate_per_h" = 0.0

[grid]
"sides.*.force.war_rate_per_h" = [0.0, 6.0]
""", encoding="utf-8")
    exp = experiment.load_spec(spec)
    assert _rates(exp.scenario) == {(6.0, 0.0), (9.0, 0.0)}  # [set] reached the south forces
    res = experiment.run(exp, workers=1, out=tmp_path / "batch", fmt="csv")
    by_point = res.outcomes.groupby("point")[["pre_rate_per_h", "violations_per_h"]].sum()
    assert by_point.loc[0].tolist() == [0.0, 0.0]  # war rate 0 reached every force
    assert by_point.loc[1, "pre_rate_per_h"] > 0


def test_calibration_prior_application_reaches_forces_with_their_own_values(own_file: Path) -> None:
    priors = [Prior("sides.*.force.war_rate_per_h", "uniform", 0.0, 10.0),
              Prior("sides.*.force.ceasefire_rate_per_h", "uniform", 0.0, 5.0)]
    overrides = as_overrides(priors, np.array([0.0, 0.0]))
    case = load_scenario(own_file)
    assert _rates(case.with_overrides(overrides)) == {(0.0, 0.0)}
    records = map_runs(case, 0, [0, 1], overrides_by_run={0: overrides, 1: overrides},
                       keep_steps=False)
    assert all(len(r.events["t_min"]) == 0 for r in records)


def test_classroom_slider_reaches_forces_with_their_own_values(own_file: Path) -> None:
    pytest.importorskip("solara", reason="the app extra is not installed (pip install -e '.[app]')")
    from sim.faces import app

    control = next(c for c in app.CONTROLS if c.path == "sides.*.force.discipline")
    spec = app.control_spec(load_scenario(own_file), control)
    assert spec is not None and "0.1" in spec["label"]  # the label shows the force's own value
    moved = app.ClassroomModel(str(own_file), seed=0, **{control.name: 0.95})
    assert {f.discipline for s in moved.case.sides.values() for f in s.forces.values()} == {0.95}
    still = app.ClassroomModel(str(own_file), seed=0, **{control.name: spec["value"]})
    assert still.case.sides["east"].forces["south"].discipline == 0.1  # untouched control
