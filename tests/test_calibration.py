"""Calibration by ABC-SMC: the algorithm recovers known parameters, is deterministic, checks its
spec, and its committed Karabakh results load and run."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import base_data, write_case

from sim.faces.cli import main
from sim.model.scenario import ScenarioError, bundled_dir, bundled_path, load_scenario
from sim.records.observations import (
    Settings,
    monitor_seed,
    observer,
    record_frame,
    synthetic_counts,
    synthetic_record,
)
from sim.studies.calibration import (
    Prior,
    Spec,
    calibrate,
    load_spec,
    posterior_overrides,
    spec_path_for,
    weighted_quantile,
    write_calibrated,
)
from sim.studies.runner import map_runs, run_one

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


def test_marginals_figure_draws_observation_parameters():
    """A prior on the claim inflation (a spec-only parameter) gets its panel (it used to raise
    KeyError: the figure looked it up among the scenario's parameters)."""
    from sim.faces.figures.calibration import marginals
    from sim.studies.calibration import Prior

    priors = [Prior("observations.claim_inflation", "loguniform", 0.5, 50.0),
              Prior("sides.*.force.discipline", "uniform", 0.3, 1.0)]
    table = pd.DataFrame({"weight": [0.5, 0.5], "observations.claim_inflation": [1.0, 4.0],
                          "sides.*.force.discipline": [0.5, 0.7]})
    fig = marginals(priors, table, {"observations.claim_inflation": 1.0})
    labels = [ax.get_xlabel() for ax in fig.axes if ax.get_visible()]
    assert any("claimed per perceived" in label for label in labels)


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


# -- monitor counts and claims -------------------------------------------------------------------

COUNT_TRUTH = {"sides.*.force.ceasefire_rate_per_h": 1.0, "peacekeepers.recorded_per_incident_mean": 4.0}
COUNT_PRIORS = (Prior("sides.*.force.ceasefire_rate_per_h", "loguniform", 0.1, 10.0),
                Prior("peacekeepers.recorded_per_incident_mean", "uniform", 1.0, 10.0))


def monitored_case(directory: Path) -> Path:
    """The tests' small base case (two front sections, two towns; 2 h before t = 0, 24 h after)
    with monitoring posts on both front sections."""
    data = base_data()
    data["scenario"]["horizon_h"] = 24.0
    data["peacekeepers"] = {"label": "observers", "sections": ["north", "south"],
                            "recorded_per_incident_mean": 3.0}
    return write_case(directory, data, "monitored.toml")


def test_counts_made_by_the_model_recover_the_recorded_mean_and_the_rate(tmp_path: Path):
    """A monitor's counts (violations and explosions per post section per 6 h) written from one
    run at COUNT_TRUTH with the observation model itself: the posterior covers the truth and is
    narrower than the prior.

    Why both are learned: the war-time rate is known (not calibrated), so the counts of the two
    hours before t = 0 pin the recorded mean; the counts after t = 0 then pin the ceasefire rate.
    Expected precision of the mean: about 40 incidents before t = 0 are seen, each recorded as
    1 + Poisson(3) violations, so the count's relative sd is sqrt(40 × (3 + 16)) / 160 ≈ 0.17,
    and the exact posterior's 90% interval spans about 2 × 1.645 × 0.17 × 4 ≈ 2.3, a quarter of
    the prior range. ABC at a non-zero tolerance with 100 particles is wider; we require at most
    0.7 of the prior range on average (the prior's 90% interval spans 0.9). Coverage: 3 records
    × 2 parameters; each 90% interval misses with probability ≈ 0.1, P(≥ 2 misses) ≈ 0.11 for
    exact intervals and less for the wider ABC ones, so we allow 1 miss.
    """
    path = monitored_case(tmp_path)
    misses, widths = 0, []
    for seed in range(3):
        case = load_scenario(path, COUNT_TRUTH)
        log = run_one(case, 1000 + seed, 0, keep_steps=False).events
        counts = synthetic_counts(log, case, observer(case, monitor_seed(1000 + seed, 0)),
                                  bin_min=360, until_min=24 * 60)
        record = tmp_path / f"counts-{seed}.events.csv"
        counts.to_csv(record, index=False)
        spec = Spec(source=path, scenario_path=path, events_path=record, priors=COUNT_PRIORS,
                    particles=100, budget=3000, seed=seed, horizon_h=24.0)
        post = calibrate(spec, workers=1, progress=False)
        table = post.table()
        w = table["weight"].to_numpy()
        row = []
        for prior in COUNT_PRIORS:
            q05, q95 = weighted_quantile(table[prior.path].to_numpy(), w, [0.05, 0.95])
            misses += not (q05 <= COUNT_TRUTH[prior.path] <= q95)
            row.append(float(prior.to_unit(q95) - prior.to_unit(q05)))
        widths.append(row)
    assert misses <= 1, widths
    assert np.all(np.mean(widths, axis=0) < 0.7), widths


def test_claim_inflation_is_an_observation_parameter_with_its_own_prior(tmp_path: Path):
    path = monitored_case(tmp_path)
    case = load_scenario(path)
    record = tmp_path / "claims.events.csv"
    lines = [dict(t_min_earliest=a, t_min_latest=a + 359.999, type="claim", kind="violations", count=c,
                  reported_by="west", blamed="east", source="https://example.org/claims",
                  source_date="2020-01-01", note="west claims a number of violations by east")
             for a, c in ((-120, 80), (240, 30), (600, 25))]
    record_frame(lines).to_csv(record, index=False)
    priors = (Prior("observations.claim_inflation", "loguniform", 0.5, 20.0),)
    spec = Spec(source=path, scenario_path=path, events_path=record, priors=priors, particles=20,
                budget=80, seed=0, horizon_h=12.0)
    post = calibrate(spec, workers=1, progress=False)
    assert "observations.claim_inflation" in post.table().columns
    assert post.original == {"observations.claim_inflation": 1.0}
    target = write_calibrated(post, tmp_path / "calibrated.toml")
    assert "observations" not in load_scenario(target).model_dump(), "never applied to the scenario"
    assert case.scenario.name in target.read_text(encoding="utf-8")


def test_a_spec_with_an_unknown_observation_parameter_is_refused(tmp_path: Path):
    scenario = write_spec(tmp_path, path="observations.claim_inflaton", dist="uniform", low=1, high=2)
    with pytest.raises(ScenarioError, match=r'priors."observations.claim_inflaton": not a numeric '
                                            r"scenario parameter .* nor an observation parameter"):
        load_spec(spec_path_for(scenario))
