"""Mesa integration: CeasefireModel is a plain mesa.Model for batch_run and step-by-step use."""

from __future__ import annotations

import inspect
import math
import warnings
from pathlib import Path

import mesa
import pandas as pd

from sim.model.ceasefire import CeasefireModel
from sim.model.scenario import load_scenario

COLUMNS = {"t_min", "events", "interval_events", "initiated", "retaliation", "spillover",
           "sections_active", "forces_ordered", "holding", "accusations_by_east", "accusations_by_west"}
"""DataCollector columns every run reports (the mediator adds its own)."""



def test_batch_run_passes_overrides_and_returns_the_collector_columns(case_file: Path) -> None:
    # Mesa 3.5 replaced `iterations` by `rng` (one run per seed) and warns about the old name.
    replicates = ({"rng": [1, 2]} if "rng" in inspect.signature(mesa.batch_run).parameters
                  else {"iterations": 2})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows = mesa.batch_run(
            CeasefireModel,
            parameters={"case": str(case_file), "scenario__horizon_h": 1.0,
                        "sides__east__force__discipline": [0.2, 0.9]},
            max_steps=100, number_processes=1, display_progress=False,
            data_collection_period=1, **replicates)
    table = pd.DataFrame(rows)
    assert set(table.columns) >= COLUMNS
    assert table["RunId"].nunique() == 4  # 2 values x 2 iterations
    assert set(table["sides__east__force__discipline"]) == {0.2, 0.9}
    for _, run in table.groupby("RunId"):
        # Each run stops at its horizon (1 h after t = 0, 12 steps), well before max_steps. Mesa
        # 3.3's batch_run reports collector rows 0 .. steps - 1 (row 0 is the start), so its last
        # row is t = 45 min; later versions report every collected row, up to t = 60.
        t = list(run["t_min"])
        assert t == [-120.0 + 15.0 * i for i in range(len(t))] and t[-1] in (45.0, 60.0)
        assert run["events"].is_monotonic_increasing
        assert run["events"].iloc[-1] == run["interval_events"].sum()


def test_keyword_overrides_reach_the_scenario(case_file: Path) -> None:
    model = CeasefireModel(case_file, rng=1, sides__east__force__discipline=0.25,
                           rules__spillover=False)
    assert model.case.sides["east"].forces["north"].discipline == 0.25
    assert model.case.rules.spillover is False
    same = CeasefireModel(case_file, rng=1, overrides={"sides.east.force.discipline": 0.25,
                                                      "rules.spillover": False})
    assert same.case == model.case


def test_keyword_overrides_reach_a_loaded_scenario(case_file: Path) -> None:
    model = CeasefireModel(load_scenario(case_file), rng=1, sides__east__force__discipline=0.25)
    assert model.case.sides["east"].forces["south"].discipline == 0.25


def test_steps_count_and_the_run_stops_at_the_horizon(case_file: Path) -> None:
    model = CeasefireModel(case_file, rng=3)  # -120 min to 4 h, every 15 min: 24 steps
    assert model.steps == 0 and model.running and model.now == -120.0
    model.step()
    assert model.steps == 1 and model.now == -105.0
    model.run_to_horizon()
    assert model.steps == 24 and not model.running and model.now == 240.0
    steps = model.steps_table()
    assert len(steps) == 25 and list(steps["t_min"]) == [-120.0 + 15 * i for i in range(25)]


def test_an_uneven_last_step_ends_exactly_at_the_horizon(case_file: Path) -> None:
    model = CeasefireModel(case_file, rng=3, scenario__report_interval_min=50.0)
    model.run_to_horizon()
    assert model.steps == math.ceil(360 / 50) and model.now == 240.0
    assert model.steps_table()["t_min"].iloc[-1] == 240.0


def test_agents_are_registered_with_mesa(case_file: Path) -> None:
    model = CeasefireModel(case_file, rng=0)
    kinds = {type(a).__name__ for a in model.agents}
    assert kinds == {"FrontSection", "Command", "Force"}
    assert len(model.agents) == 4 + 2 + 4
    assert len({a.unique_id for a in model.agents}) == len(model.agents)


def test_a_run_raises_no_warnings(case_file: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = CeasefireModel(case_file, rng=0)
        model.run_to_horizon()
        model.events_table()
        model.steps_table()
