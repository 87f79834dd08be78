"""Determinism: one scenario and one seed give byte-identical logs, in one process or many."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest
from conftest import run_model

from sim.model.ceasefire import CeasefireModel
from sim.model.scenario import Scenario, bundled_dir, bundled_path, load_scenario
from sim.studies.runner import run_replicates, run_seed

MakeCase = Callable[..., Scenario]
BUSY = {"scenario.horizon_h": 3.0, "sides.*.force.offensive_intent": 0.5,
        "sides.*.force.spoiler_probability": 0.5,
        "sides.*.force.capabilities": {"small_arms": 1.0, "artillery": 0.5, "rockets": 0.3}}
"""Every rule active, so every draw of every rule is on the path."""


def _csv(frame: pd.DataFrame, path: Path) -> bytes:
    frame.to_csv(path, index=False, lineterminator="\n")
    return path.read_bytes()


def test_same_seed_gives_a_byte_identical_event_log(make_case: MakeCase, tmp_path: Path) -> None:
    case = make_case(BUSY)
    first = _csv(run_model(case, 42).events_table(), tmp_path / "a.csv")
    again = _csv(run_model(case, 42).events_table(), tmp_path / "b.csv")
    assert first == again and first.count(b"\n") > 50


def test_same_seed_gives_identical_written_results(make_case: MakeCase, tmp_path: Path) -> None:
    case = make_case(BUSY)
    written = []
    for name in ("a", "b"):
        paths = run_replicates(case, runs=4, seed=9, progress=False).write(tmp_path / name)
        written.append({p.name: p.read_bytes() for p in paths})
    assert written[0] == written[1]
    assert set(written[0]) == {"events.csv", "steps.csv", "outcomes.csv", "decisions.csv", "daily.csv"}


def test_different_seeds_give_different_logs(make_case: MakeCase) -> None:
    case = make_case(BUSY)
    a, b = run_model(case, 1).events_table(), run_model(case, 2).events_table()
    assert not a.equals(b)
    runs = run_replicates(case, runs=3, seed=0, progress=False).events
    logs = [g.drop(columns="run").reset_index(drop=True) for _, g in runs.groupby("run")]
    assert not logs[0].equals(logs[1]) and not logs[1].equals(logs[2])


def test_a_replicate_is_its_own_seeded_run(make_case: MakeCase) -> None:
    # Run i of a batch seeded S is CeasefireModel(rng=run_seed(S, i)), whatever else is in the batch.
    case = make_case(BUSY)
    batch = run_replicates(case, runs=3, seed=5, progress=False).events
    alone = CeasefireModel(case, rng=run_seed(5, 2))
    alone.run_to_horizon()
    third = batch[batch["run"] == 2].drop(columns="run").reset_index(drop=True)
    pdt.assert_frame_equal(third, alone.events_table().drop(columns="run"))


def test_one_worker_or_two_give_identical_tables(make_case: MakeCase) -> None:
    # Spawns two worker processes (about 2 s of start-up on this machine).
    case = make_case(BUSY)
    one = run_replicates(case, runs=6, seed=13, workers=1, progress=False)
    two = run_replicates(case, runs=6, seed=13, workers=2, progress=False)
    pdt.assert_frame_equal(one.events, two.events)
    pdt.assert_frame_equal(one.steps, two.steps)
    pdt.assert_frame_equal(one.outcomes, two.outcomes)
    assert one.summary() == two.summary()


def test_seed_and_rng_are_the_same_seed(make_case: MakeCase) -> None:
    case = make_case(BUSY)
    by_seed = CeasefireModel(case, seed=5)
    by_rng = CeasefireModel(case, rng=5)
    for model in (by_seed, by_rng):
        model.run_to_horizon()
    pdt.assert_frame_equal(by_seed.events_table(), by_rng.events_table())
    pdt.assert_frame_equal(by_seed.steps_table(), by_rng.steps_table())


def test_a_generator_is_used_as_given(make_case: MakeCase) -> None:
    case = make_case(BUSY)
    a = CeasefireModel(case, rng=np.random.default_rng(8))
    b = CeasefireModel(case, rng=np.random.default_rng(8))
    for model in (a, b):
        model.run_to_horizon()
    pdt.assert_frame_equal(a.events_table(), b.events_table())


def test_an_unseeded_run_can_be_replayed_from_its_entropy(make_case: MakeCase) -> None:
    case = make_case(BUSY)
    free = run_model(case, None)  # type: ignore[arg-type]
    replay = run_model(case, free.seed_entropy)
    pdt.assert_frame_equal(free.events_table(), replay.events_table())


@pytest.mark.parametrize("bad", [-1, 1.5, "7", True])
def test_bad_seeds_are_rejected(make_case: MakeCase, bad: object) -> None:
    with pytest.raises(ValueError, match="seed"):
        CeasefireModel(make_case(), rng=bad)  # type: ignore[arg-type]


def test_seed_and_rng_together_are_rejected(make_case: MakeCase) -> None:
    with pytest.raises(ValueError, match="either rng or seed"):
        CeasefireModel(make_case(), rng=1, seed=1)


BUNDLED = sorted(p.stem for p in bundled_dir().glob("*.toml")
                 if not p.stem.endswith((".calibration", ".calibrated")))


@pytest.mark.parametrize("name", BUNDLED)
def test_a_run_that_keeps_no_steps_logs_the_same_incidents(name: str) -> None:
    """Calibrations, scores and batches run the clock straight to the horizon
    (``collect_steps=False``); that must log exactly the incidents and decisions that stepping
    interval by interval logs, for every bundled scenario."""
    case = load_scenario(bundled_path(name), {"scenario.horizon_h": 48.0})
    logged = 0
    for run in range(3):
        stepped = CeasefireModel(case, rng=run_seed(7, run))
        stepped.run_to_horizon()
        straight = CeasefireModel(case, rng=run_seed(7, run), collect_steps=False)
        straight.run_to_horizon()
        pdt.assert_frame_equal(straight.events_table(), stepped.events_table())
        assert straight.decisions == stepped.decisions
        assert straight.now == stepped.now == case.scenario.horizon_h * 60.0
        logged += len(stepped.events_table())
    assert logged > 0, "no incident to compare"
    with pytest.raises(ValueError, match="collected no steps"):
        straight.steps_table()
    # Stepped by hand (as Mesa's tools do), a run that keeps no steps still logs the same.
    by_hand = CeasefireModel(case, rng=run_seed(7, 2), collect_steps=False)
    while by_hand.running:
        by_hand.step()
    pdt.assert_frame_equal(by_hand.events_table(), stepped.events_table())
