"""The regression adjustment of the last ABC population (Beaumont et al. 2002): it moves particles
to where their statistics would have matched the record, it recovers a known posterior that the
tolerance blurs, it leaves what it cannot regress untouched, and a spec can switch it off."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.model.scenario import ScenarioError, bundled_path
from sim.studies.calibration import (
    Choice,
    Population,
    Prior,
    Spec,
    calibrate,
    ess,
    load_spec,
    regression_adjust,
    set_misfits,
    weighted_quantile,
)

PARAMS = [("sides.*.force.discipline", Prior("sides.*.force.discipline", "uniform", 0.0, 1.0), None)]


def logit(z: np.ndarray) -> np.ndarray:
    return np.log(z) - np.log1p(-z)


def population(theta: np.ndarray, misfits: np.ndarray, tolerance: float,
               weights: np.ndarray | None = None) -> Population:
    """A last population whose particles sit at ``logit(z) = theta`` (one parameter, unit prior)."""
    z = 1.0 / (1.0 + np.exp(-theta))
    n = len(theta)
    w = np.full(n, 1.0 / n) if weights is None else weights / weights.sum()
    d = np.sqrt(np.mean(misfits ** 2, axis=1))
    return Population(3, tolerance, z[:, None], z[:, None], w, d, 10 * n, misfits)


def test_a_statistic_that_is_the_parameter_moves_every_particle_onto_the_truth():
    """Misfit = logit(z) - logit(z*) exactly: the fit is perfect and every particle lands on z*."""
    rng = np.random.default_rng(0)
    truth = 0.3
    theta = logit(np.array([truth])) + rng.uniform(-1, 1, 200)
    misfit = (theta - logit(np.array([truth])))[:, None]
    adjusted, rows = regression_adjust(population(theta, misfit, 1.0), PARAMS)
    assert adjusted is not None
    np.testing.assert_allclose(adjusted.z[:, 0], truth, rtol=1e-9)
    assert rows[0]["r2"] == pytest.approx(1.0) and rows[0]["statistics_used"] == 1


def test_the_adjustment_recovers_the_posterior_that_the_tolerance_blurs():
    """Flat prior on theta (logit scale), statistic s = theta + N(0, 0.3^2), record s = 0: the exact
    posterior is N(0, 0.3^2). Rejection at |s| ≤ 1.5 gives theta spread over ±1.5 (sd ≈ 0.87);
    the adjusted sample is N(0, 0.3^2) with weights w ∝ 1 - (s/1.5)^2.

    Tolerances: with an effective sample size m of the adjusted weights, the weighted sd of a
    normal sample has standard error ≈ sd / sqrt(2 m) and the mean sd / sqrt(m); we allow 5 of
    each (m ≈ 0.8 × 4000 × 0.25, so 5 SE of the sd is ≈ 0.03)."""
    rng = np.random.default_rng(11)
    theta = rng.uniform(-4, 4, 16_000)
    s = theta + rng.normal(0, 0.3, theta.size)
    keep = np.abs(s) <= 1.5
    pop = population(theta[keep], s[keep][:, None], 1.5)
    adjusted, rows = regression_adjust(pop, PARAMS)
    assert adjusted is not None
    y = logit(adjusted.z[:, 0])
    w = adjusted.weights
    m = ess(w)
    mean = float(w @ y)
    sd = float(np.sqrt(w @ (y - mean) ** 2))
    assert abs(sd - 0.3) < 5 * 0.3 / np.sqrt(2 * m), (sd, m)
    assert abs(mean) < 5 * 0.3 / np.sqrt(m), (mean, m)
    before = float(np.sqrt(pop.weights @ (theta[keep] - pop.weights @ theta[keep]) ** 2))
    assert before > 2.5 * sd, "the unadjusted sample is the blurred one"
    # Epanechnikov weights: a particle at the tolerance's edge weighs next to nothing
    # (K(1.499 / 1.5) = 0.0013 against K's mean 2/3 over a uniform misfit).
    assert np.all(w[np.abs(s[keep]) > 1.499] < 0.003 * w.mean())
    assert rows[0]["ess_after"] < rows[0]["ess_before"]


def test_many_statistics_and_few_particles_are_fitted_with_a_penalty():
    """90 statistics, 60 particles (a Donbas record's count lines): plain least squares would fit
    noise exactly; the ridge penalty chosen by cross-validation is positive and the adjusted
    particles stay inside the prior's range."""
    rng = np.random.default_rng(2)
    theta = rng.normal(0, 1, 60)
    misfits = np.column_stack([theta + rng.normal(0, 0.5, 60)] + [rng.normal(0, 1, 60) for _ in range(89)])
    tolerance = float(np.sqrt(np.mean(misfits ** 2, axis=1)).max())
    adjusted, rows = regression_adjust(population(theta, misfits, tolerance), PARAMS)
    assert adjusted is not None and rows[0]["ridge_penalty"] > 0
    assert np.all((adjusted.z > 0) & (adjusted.z < 1))
    # The one informative statistic still carries the fit: the spread of theta shrinks (its
    # residual sd given that statistic is 0.45 of its sd, so the adjusted sd should be well below 1).
    y = logit(adjusted.z[:, 0])
    assert np.std(y) < 0.75 * np.std(theta), (np.std(y), np.std(theta))


def test_nothing_to_regress_means_no_adjustment_and_choices_never_move():
    theta = np.linspace(-1, 1, 50)
    exact = population(theta, np.zeros((50, 2)), 0.0)
    assert regression_adjust(exact, PARAMS) == (None, []), "tolerance 0: the sample is exact"
    flat = population(theta, np.ones((50, 1)), 2.0)
    assert regression_adjust(flat, PARAMS) == (None, []), "a statistic that never varies says nothing"
    params = [*PARAMS, ("rules.commitment", Choice("rules.commitment", (True, False)), None)]
    rng = np.random.default_rng(4)
    misfit = rng.normal(size=(50, 1))
    pop = population(theta, misfit, 3.0)
    pop.z = np.column_stack([pop.z[:, 0], rng.integers(0, 2, 50)])
    pop.values = pop.z.copy()
    adjusted, rows = regression_adjust(pop, params)
    assert adjusted is not None and [r["parameter"] for r in rows] == ["sides.*.force.discipline"]
    np.testing.assert_array_equal(adjusted.values[:, 1], pop.values[:, 1])


def test_signed_misfits_are_zero_inside_the_reported_interval():
    s = np.array([[1.0, 5.0], [3.0, 0.0], [2.5, 9.0]])
    lo, hi = np.array([2.0, 1.0]), np.array([3.0, 1.0])
    np.testing.assert_allclose(set_misfits([s], [(lo, hi)], [np.array([0.5, 2.0])]),
                               [[-2.0, 2.0], [0.0, -0.5], [0.0, 4.0]])


CLASSROOM = bundled_path("classroom-peacekeepers")


def monitor_spec(tmp_path: Path) -> Spec:
    """The SBC setup's calibration of its first truth, at a small budget."""
    from sim.studies.sbc import DEFAULT_SETUP, calibration_seed, draw_truth, synthetic_monitor_record

    record = tmp_path / "truth.events.csv"
    synthetic_monitor_record(DEFAULT_SETUP, draw_truth(DEFAULT_SETUP, 0, 0), 0, 0).to_csv(record, index=False)
    return Spec(source=CLASSROOM, scenario_path=CLASSROOM, events_path=record, priors=DEFAULT_SETUP.priors,
                particles=40, budget=400, seed=calibration_seed(0, 0), horizon_h=24.0)


def test_a_calibration_reports_its_adjustment_and_can_switch_it_off(tmp_path: Path):
    spec = monitor_spec(tmp_path)
    assert spec.adjustment == "none", "off unless a spec asks for it"
    plain = calibrate(spec, progress=False)
    post = calibrate(replace(spec, adjustment="regression"), progress=False)
    assert plain.adjusted is None and plain.adjustment_table().empty
    assert np.array_equal(plain.last.z, post.last.z), "the adjustment only post-processes the last population"
    assert post.adjusted is not None and post.final is post.adjusted
    table, raw = post.table(), plain.table()
    assert list(table.columns) == list(raw.columns)
    assert not table[spec.priors[0].path].equals(raw[spec.priors[0].path])
    adj = post.adjustment_table()
    assert list(adj["parameter"]) == [p.path for p in spec.priors]
    for prior in spec.priors:
        x = table[prior.path].to_numpy()
        assert np.all((x >= prior.low) & (x <= prior.high))
        q = post.quantiles().set_index("parameter")
        assert q.at[prior.path, "q50"] == pytest.approx(
            weighted_quantile(x, table["weight"].to_numpy(), [0.5])[0])


def test_the_spec_names_its_adjustment_and_refuses_an_unknown_one(tmp_path: Path):
    from test_calibration import write_spec

    scenario = write_spec(tmp_path)
    path = scenario.with_name("villages.calibration.toml")
    assert load_spec(path).adjustment == "none"
    text = path.read_text(encoding="utf-8")
    text = text.replace("[calibration]", '[calibration]\nadjustment = "regression"')
    path.write_text(text, encoding="utf-8")
    assert load_spec(path).adjustment == "regression"
    path.write_text(text.replace('"regression"', '"linear"'), encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"calibration.adjustment = 'linear': allowed: none, regression"):
        load_spec(path)


def test_the_command_says_what_the_adjustment_did_and_writes_it(tmp_path: Path, capsys):
    from test_calibration import write_spec

    from sim.faces.cli import main

    scenario = write_spec(tmp_path)
    path = scenario.with_name("villages.calibration.toml")
    out = tmp_path / "out"
    assert main(["calibrate", str(scenario), "--budget", "100", "--out", str(out), "--no-figures"]) == 0
    assert 'as accepted (adjustment = "none")' in capsys.readouterr().out
    assert not (out / "villages.adjustment.csv").exists()
    path.write_text(path.read_text(encoding="utf-8").replace(
        "[calibration]", '[calibration]\nadjustment = "regression"'), encoding="utf-8")
    assert main(["calibrate", str(scenario), "--budget", "100", "--out", str(out), "--no-figures"]) == 0
    printed = capsys.readouterr().out
    assert "regression adjustment (Beaumont et al. 2002" in printed
    table = pd.read_csv(out / "villages.adjustment.csv")
    assert list(table["parameter"]) == ["sides.*.force.ceasefire_rate_per_h"]
    assert table["ess_after"].iloc[0] <= table["ess_before"].iloc[0]
