"""Calibration by ABC-SMC: the algorithm recovers known parameters, is deterministic, checks its
spec, and its committed Karabakh results load and run."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.calibration import (
    Prior,
    Spec,
    calibrate,
    load_spec,
    posterior_overrides,
    spec_path_for,
    weighted_quantile,
    write_calibrated,
)
from sim.cli import main
from sim.observations import Settings, synthetic_record
from sim.runner import map_runs, run_one
from sim.scenario import ScenarioError, bundled_dir, bundled_path, load_scenario

CLASSROOM = bundled_path("classroom-two-villages")
KARABAKH = "karabakh-2020-10-10"
HOURS = 12.0
TRUTH = {"sides.*.force.war_rate_per_h": 3.0, "sides.*.force.ceasefire_rate_per_h": 1.5}
PRIORS = (Prior("sides.*.force.war_rate_per_h", "loguniform", 0.3, 30.0),
          Prior("sides.*.force.ceasefire_rate_per_h", "loguniform", 0.1, 10.0))


@pytest.fixture
def cli():
    """The ``ceasefire`` entry point."""
    return main


def synthetic_spec(tmp_path: Path, seed: int, *, particles: int = 150, budget: int = 1500) -> Spec:
    """A calibration of the classroom case against a record written from one run at TRUTH."""
    case = load_scenario(CLASSROOM, {**TRUTH, "scenario.horizon_h": HOURS})
    log = run_one(case, 1000 + seed, 0, keep_steps=False).events
    record = tmp_path / f"synthetic-{seed}.events.csv"
    synthetic_record(log, case, bin_min=30, until_min=HOURS * 60).to_csv(record, index=False)
    return Spec(source=CLASSROOM, scenario_path=CLASSROOM, events_path=record, priors=PRIORS,
                particles=particles, budget=budget, seed=seed, horizon_h=HOURS,
                settings=Settings(precision_min=0, calm_max=0))


def test_prior_unit_space_round_trips_and_log_uniform_is_flat_in_log():
    p = Prior("sides.*.force.war_rate_per_h", "loguniform", 0.5, 50.0)
    np.testing.assert_allclose(p.from_unit(np.array([0.0, 0.5, 1.0])), [0.5, 5.0, 50.0])
    x = np.array([0.7, 3.0, 42.0])
    np.testing.assert_allclose(p.from_unit(p.to_unit(x)), x)
    assert Prior("mediator.capacity_per_day", "uniform", 0, 10, integer=True).from_unit(
        np.array([0.26]))[0] == 3


def test_weighted_quantile_known_answers():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert weighted_quantile(x, np.ones(4), [0.5])[0] == pytest.approx(2.5)
    assert weighted_quantile(x, np.array([0.0, 0.0, 1.0, 0.0]), [0.1, 0.9]).tolist() == [3.0, 3.0]


def test_parameter_recovery_from_synthetic_reported_events(tmp_path: Path):
    """Records written from runs at known parameters: the posterior covers the truth and is
    narrower than the prior.

    Tolerance: a calibrated 90% interval misses the truth with probability 0.1 per parameter;
    over 3 records x 2 parameters the misses are ~Binomial(6, 0.1), P(≥ 2) = 0.11; ABC at a
    non-zero tolerance is wider than the exact posterior (conservative), so we allow 1 miss.
    Prior 90% intervals span 0.9 of each parameter's log range; we require the posterior's to
    span at most 0.85 on average over the records (the record is one run's binary pattern of
    half-hour bins, so it cannot pin the rates tightly).
    """
    misses, widths = 0, []
    for seed in range(3):
        post = calibrate(synthetic_spec(tmp_path, seed), workers=1)
        table = post.table()
        w = table["weight"].to_numpy()
        row = []
        for prior in PRIORS:
            q05, q95 = weighted_quantile(table[prior.path].to_numpy(), w, [0.05, 0.95])
            misses += not (q05 <= TRUTH[prior.path] <= q95)
            row.append(float(prior.to_unit(q95) - prior.to_unit(q05)))
        widths.append(row)
        assert len(post.populations) >= 3 and post.last.tolerance < post.populations[1].tolerance
    assert misses <= 1
    assert np.all(np.mean(widths, axis=0) < 0.85), widths


def test_same_seed_same_posterior_with_one_or_two_workers(tmp_path: Path):
    spec = synthetic_spec(tmp_path, 0, particles=20, budget=100)
    one = calibrate(spec, workers=1).table()
    two = calibrate(spec, workers=2).table()
    pd.testing.assert_frame_equal(one, two)
    other = calibrate(spec, workers=1, seed=1).table()
    assert not one.equals(other)


def test_posterior_overrides_draw_by_weight_and_repeat_under_a_seed(tmp_path: Path):
    path = tmp_path / "post.csv"
    pd.DataFrame({"particle": [0, 1, 2], "weight": [0.0, 1.0, 3.0],
                  "sides.*.force.discipline": [0.1, 0.5, 0.9],
                  "mediator.capacity_per_day": [1, 2, 3]}).to_csv(path, index=False)
    draws = posterior_overrides(path, 400, seed=7)
    assert draws == posterior_overrides(path, 400, seed=7)
    assert sorted(draws) == list(range(400))
    picked = np.array([d["sides.*.force.discipline"] for d in draws.values()])
    assert 0.1 not in picked, "a particle of weight 0 is never drawn"
    # Share of the weight-3 particle: 0.75, binomial sd sqrt(0.75*0.25/400) = 0.022; allow 4 sd.
    assert abs(np.mean(picked == 0.9) - 0.75) < 4 * 0.022
    assert isinstance(draws[0]["mediator.capacity_per_day"], int)
    case = load_scenario("classroom-two-villages", {"scenario.horizon_h": 2})
    records = map_runs(case, 0, range(3), keep_steps=False, overrides_by_run=draws)
    assert len(records) == 3


@pytest.mark.parametrize(("frame", "message"), [
    ({"weight": [1.0], "sides.*.force.disiplin": [0.5]}, r"column 'sides.\*.force.disiplin': not a scenario"),
    ({"weight": [-1.0], "sides.*.force.discipline": [0.5]}, r"row 2: weight = -1.0: must be a number ≥ 0"),
    ({"w": [1.0], "sides.*.force.discipline": [0.5]}, r"no 'weight' column"),
])
def test_bad_posterior_files_are_rejected(tmp_path: Path, frame, message):
    path = tmp_path / "post.csv"
    pd.DataFrame(frame).to_csv(path, index=False)
    with pytest.raises(ScenarioError, match=message):
        posterior_overrides(path, 3, seed=0)


SPEC = """[calibration]
scenario = "{scenario}"
particles = 20
budget = {budget}
[observations]
precision_min = 0
calm_max = 0
[priors]
"{path}" = {{ distribution = "{dist}", low = {low}, high = {high} }}
"""


def write_spec(directory: Path, *, path: str = "sides.*.force.ceasefire_rate_per_h", dist: str = "loguniform",
               low: float = 0.1, high: float = 10.0, budget: int = 100) -> Path:
    """A classroom case with a synthetic record and a spec beside it, in ``directory``."""
    scenario = directory / "villages.toml"
    text = CLASSROOM.read_text(encoding="utf-8").replace(
        "horizon_h = 48", 'horizon_h = 12\nevents_file = "villages.events.csv"')
    scenario.write_text(text, encoding="utf-8")
    case = load_scenario(scenario)
    log = run_one(case, 3, 0, keep_steps=False).events
    synthetic_record(log, case, bin_min=60, until_min=720).to_csv(directory / "villages.events.csv",
                                                                  index=False)
    spec = directory / "villages.calibration.toml"
    spec.write_text(SPEC.format(scenario="villages.toml", budget=budget, path=path, dist=dist, low=low,
                                high=high), encoding="utf-8")
    return scenario


@pytest.mark.parametrize(("change", "message"), [
    (dict(low=0.9, high=0.3, dist="uniform", path="sides.*.force.discipline"),
     r'villages.calibration.toml: priors."sides.\*.force.discipline".low = 0.9: must be below high = 0.3'),
    (dict(path="sides.*.force.disipline", dist="uniform", low=0.1, high=0.9),
     r'villages.calibration.toml: priors."sides.\*.force.disipline": not a numeric scenario parameter'),
    (dict(path="sides.*.force.discipline", dist="uniform", low=0.5, high=1.5),
     r'priors."sides.\*.force.discipline".high = 1.5: outside the parameter\'s range \(must be ≤ 1'),
    (dict(low=0.0),
     r'priors."sides.\*.force.ceasefire_rate_per_h".low = 0: a log-uniform prior needs low > 0'),
    (dict(dist="normal"), r'distribution = \'normal\': allowed: uniform, loguniform'),
    (dict(budget=0), r"villages.calibration.toml: calibration.budget = 0: must be ≥ 1"),
])
def test_bad_calibration_specs_get_one_clear_line(tmp_path: Path, capsys, cli, change, message):
    scenario = write_spec(tmp_path, **change)
    with pytest.raises(ScenarioError, match=message):
        load_spec(spec_path_for(scenario))
    assert cli(["calibrate", str(scenario), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists(), "no partial output"


def test_budget_flag_must_be_positive(tmp_path: Path, capsys, cli):
    scenario = write_spec(tmp_path)
    assert cli(["calibrate", str(scenario), "--budget", "0", "--out", str(tmp_path / "out")]) == 2
    assert "--budget = 0: must be a positive number of simulations" in capsys.readouterr().err


def test_calibrate_command_writes_sample_scenario_and_figures(tmp_path: Path, capsys, cli):
    scenario = write_spec(tmp_path)
    out = tmp_path / "out"
    assert cli(["calibrate", str(scenario), "--budget", "100", "--out", str(out),
                 "--predictive-runs", "4"]) == 0
    assert "sides.*.force.ceasefire_rate_per_h" in capsys.readouterr().out
    sample = pd.read_csv(out / "villages.posterior.csv")
    assert list(sample.columns) == ["particle", "weight", "distance", "sides.*.force.ceasefire_rate_per_h"]
    assert sample["weight"].sum() == pytest.approx(1.0, rel=1e-4)
    # The calibrated scenario carries the posterior median on both sides (the wildcard).
    shutil.copy(tmp_path / "villages.events.csv", out)
    calibrated = load_scenario(out / "villages.calibrated.toml")
    median = weighted_quantile(sample.iloc[:, 3].to_numpy(), sample["weight"].to_numpy(), [0.5])[0]
    for side in calibrated.sides.values():
        assert side.force.ceasefire_rate_per_h == pytest.approx(median, rel=1e-3)
    assert (out / "marginals.png").stat().st_size > 0 and (out / "predictive.png").stat().st_size > 0


def test_committed_karabakh_calibration_loads_and_runs():
    directory = bundled_dir()
    spec = load_spec(spec_path_for(KARABAKH))
    calibrated = load_scenario(directory / f"{KARABAKH}.calibrated.toml")
    sample = pd.read_csv(directory / f"{KARABAKH}.posterior.csv")
    assert [c for c in sample.columns if c not in ("particle", "weight", "distance")] == spec.paths
    draws = posterior_overrides(directory / f"{KARABAKH}.posterior.csv", 3, seed=0)
    short = calibrated.with_overrides({"scenario.horizon_h": 6})
    records = map_runs(short, 0, range(3), keep_steps=False, overrides_by_run=draws)
    assert all(len(r.events["t_min"]) > 0 for r in records)


def test_write_calibrated_refuses_nothing_and_keeps_the_original_untouched(tmp_path: Path):
    spec = synthetic_spec(tmp_path, 0, particles=20, budget=60)
    before = CLASSROOM.read_text(encoding="utf-8")
    post = calibrate(spec, workers=1)
    target = write_calibrated(post, tmp_path / "calibrated.toml")
    assert CLASSROOM.read_text(encoding="utf-8") == before
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# Calibrated from classroom-two-villages.toml")
    assert load_scenario(target).sides["east"].force.war_rate_per_h == post.medians()[PRIORS[0].path]
