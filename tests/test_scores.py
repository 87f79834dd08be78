"""Proper scores against closed forms, known cases and calibration tests with derived thresholds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sim.studies import scores


def ks_critical(n: int, alpha: float = 1e-3) -> float:
    """Asymptotic one-sample Kolmogorov-Smirnov critical value c(alpha) / sqrt(n)."""
    return math.sqrt(-math.log(alpha / 2) / 2) / math.sqrt(n)


# ---------------------------------------------------------------------------- CRPS


def test_crps_sample_is_the_energy_form_computed_exactly() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(37, 4))
    y = rng.normal(size=4)
    brute = (np.abs(x - y).mean(axis=0)
             - 0.5 * np.abs(x[:, None, :] - x[None, :, :]).mean(axis=(0, 1)))
    np.testing.assert_allclose(scores.crps_sample(x, y), brute, rtol=1e-12)
    fair = (np.abs(x - y).mean(axis=0)
            - 0.5 * np.abs(x[:, None, :] - x[None, :, :]).sum(axis=(0, 1)) / (37 * 36))
    np.testing.assert_allclose(scores.crps_sample(x, y, fair=True), fair, rtol=1e-12)
    assert scores.crps_sample([3.0], 5.0)[0] == pytest.approx(2.0)  # a point forecast: |x - y|


def test_crps_sample_of_a_normal_matches_the_gaussian_closed_form() -> None:
    rng = np.random.default_rng(1)
    n = 4000
    y = np.linspace(-3, 3, 13)
    x = rng.normal(size=(n, y.size))
    closed = y * (2 * stats.norm.cdf(y) - 1) + 2 * stats.norm.pdf(y) - 1 / math.sqrt(math.pi)
    # Monte Carlo error: E|X - y| has sd sd(|X - y|) / sqrt(n); the U-statistic E|X - X'|/2
    # has sd at most sd(|X - X'|) / sqrt(n). 5 sd of each, plus the V-statistic's bias
    # E|X - X'| / (2n).
    sd1 = np.abs(x - y).std(axis=0)
    sd2 = np.abs(x - np.roll(x, 1, axis=0)).std(axis=0)
    tol = 5 * (sd1 + sd2) / math.sqrt(n) + (2 / math.sqrt(math.pi)) / (2 * n)
    err = np.abs(scores.crps_sample(x, y) - closed)
    assert (err < tol).all(), (err, tol)


def test_crps_poisson_closed_form_matches_exact_sum_and_large_sample() -> None:
    mean = np.array([0.2, 1.0, 4.5, 30.0, 700.0])
    obs = np.array([0, 3, 4, 20, 760])
    closed = scores.crps_poisson(mean, obs)
    exact = scores._crps_discrete_sum(lambda k, j: stats.poisson.cdf(k, mean[j]), obs.astype(float),
                                      stats.poisson.isf(1e-14, mean))
    np.testing.assert_allclose(closed, exact, rtol=1e-9, atol=1e-12)
    rng = np.random.default_rng(2)
    n = 50_000
    x = rng.poisson(mean, size=(n, mean.size))
    tol = 5 * (np.abs(x - obs).std(axis=0) + np.abs(x - np.roll(x, 1, axis=0)).std(axis=0)) / math.sqrt(n)
    assert (np.abs(scores.crps_sample(x, obs) - closed) < tol).all()


def test_crps_negbinom_matches_large_sample_and_tends_to_poisson() -> None:
    mean, k = np.array([2.0, 50.0, 300.0]), np.array([0.5, 3.0, 10.0])
    obs = np.array([0, 80, 250])
    rng = np.random.default_rng(3)
    n = 50_000
    x = rng.negative_binomial(k, k / (k + mean), size=(n, 3))
    tol = 5 * (np.abs(x - obs).std(axis=0) + np.abs(x - np.roll(x, 1, axis=0)).std(axis=0)) / math.sqrt(n)
    assert (np.abs(scores.crps_sample(x, obs) - scores.crps_negbinom(mean, k, obs)) < tol).all()
    np.testing.assert_allclose(scores.crps_negbinom(mean, 1e9, obs), scores.crps_poisson(mean, obs),
                               rtol=1e-5)


def test_crps_is_proper_in_expectation() -> None:
    """The true Poisson(10) beats Poisson(7) and Poisson(13) on average, on Poisson(10) counts."""
    y = np.random.default_rng(4).poisson(10.0, size=20_000)
    s = {m: scores.crps_poisson(m, y).mean() for m in (7.0, 10.0, 13.0)}
    assert s[10.0] < s[7.0] and s[10.0] < s[13.0]


# ---------------------------------------------------------------------------- Brier


def test_brier_known_values_and_decomposition() -> None:
    np.testing.assert_allclose(scores.brier_score([0.0, 1.0, 0.7, 0.5], [0, 0, 1, 1]),
                               [0.0, 1.0, 0.09, 0.25])
    # rows = truces, columns = horizons: broadcasting keeps the shape
    assert scores.brier_score(np.full((3, 4), 0.5), np.zeros((3, 4))).shape == (3, 4)
    rng = np.random.default_rng(5)
    p = rng.uniform(size=2000)
    o = (rng.uniform(size=2000) < p).astype(int)
    d = scores.brier_decomposition(p, o, bins=10)
    assert d.brier == pytest.approx(d.reliability - d.resolution + d.uncertainty + d.within_bin)
    assert d.reliability < 0.005  # calibrated by construction
    with pytest.raises(ValueError, match="outcome must be 0 or 1"):
        scores.brier_score([0.5], [2])
    with pytest.raises(ValueError, match=r"prob must lie in \[0, 1\]"):
        scores.brier_score([1.5], [1])


# ---------------------------------------------------------------------------- log score


def test_log_score_exponential_known_values() -> None:
    np.testing.assert_allclose(scores.log_score_exponential(0.01, [50.0, 300.0], [False, True]),
                               [-math.log(0.01) + 0.5, 3.0])


def test_log_score_sample_kde_of_a_normal() -> None:
    """A Gaussian KDE of a N(0, 1) sample has expected density N(0, 1 + h^2)."""
    x = np.random.default_rng(6).normal(size=20_000)
    h = scores.silverman_bandwidth(x)
    for y in (-1.5, 0.0, 0.7):
        expected = -stats.norm.logpdf(y, scale=math.sqrt(1 + h * h))
        assert scores.log_score_sample(x, y, lower=None) == pytest.approx(expected, abs=0.03)


def test_log_score_sample_censoring_and_runs_without_events() -> None:
    x = np.r_[np.full(500, 10.0), np.full(500, np.inf)]  # half the runs never see a violation
    # "no violation before 1000 min": only the never-runs (and no kernel mass) are beyond it
    assert scores.log_score_sample(x, 1000.0, censored=True, bandwidth=1.0) == pytest.approx(math.log(2))
    # an observed time: half the density of the finite part
    dens = 0.5 * (stats.norm.pdf(0.0) + stats.norm.pdf(20.0))
    assert scores.log_score_sample(x, 10.0, bandwidth=1.0) == pytest.approx(-math.log(dens))
    assert scores.log_score_sample(np.full(10, np.inf), 5.0, censored=True) == 0.0
    assert scores.log_score_sample(np.full(10, np.inf), 5.0) == math.inf


def test_log_score_sample_reflected_density_integrates_to_one() -> None:
    x = np.random.default_rng(7).exponential(60.0, size=500)
    grid = np.linspace(0, 2000, 20_001)
    dens = np.exp([-scores.log_score_sample(x, g) for g in grid])
    integral = float(np.sum((dens[1:] + dens[:-1]) / 2 * np.diff(grid)))  # trapezoid rule
    assert integral == pytest.approx(1.0, abs=2e-3)


# ---------------------------------------------------------------------------- PIT and coverage


def test_randomised_pit_is_uniform_for_a_correct_poisson_forecast() -> None:
    rng = np.random.default_rng(8)
    n = 4000
    mean = rng.uniform(0.2, 8.0, size=n)  # small means: the plain PIT would be far from uniform
    y = rng.poisson(mean)
    u = scores.pit_poisson(mean, y, rng)
    assert stats.kstest(u, "uniform").statistic < ks_critical(n)
    # over-dispersed counts (negative binomial, k = 1) under the same Poisson forecast: not uniform
    y_over = rng.negative_binomial(1.0, 1.0 / (1.0 + mean))
    assert stats.kstest(scores.pit_poisson(mean, y_over, rng), "uniform").statistic > ks_critical(n)


def test_randomised_pit_of_a_sample_and_its_histogram() -> None:
    rng = np.random.default_rng(9)
    m, n = 3000, 400
    k, mean = 2.0, 5.0
    sample = rng.negative_binomial(k, k / (k + mean), size=(n, m))
    y = rng.negative_binomial(k, k / (k + mean), size=m)
    u = scores.pit_sample(sample, y, rng)
    dens, edges = scores.pit_histogram(u, bins=10)
    assert edges[0] == 0 and edges[-1] == 1 and dens.mean() == pytest.approx(1.0)
    # chi-square on the bin counts, 9 degrees of freedom, at level 0.001
    counts = dens * m / 10
    chi2 = float(np.sum((counts - m / 10) ** 2 / (m / 10)))
    assert chi2 < stats.chi2.ppf(0.999, 9)
    u_nb = scores.pit_negbinom(mean, k, y, rng)
    assert stats.kstest(u_nb, "uniform").statistic < ks_critical(m)


def test_interval_coverage_of_a_correct_forecast() -> None:
    rng = np.random.default_rng(10)
    m = 2000
    sample = rng.normal(size=(1000, m))
    y = rng.normal(size=m)
    cov = scores.interval_coverage(sample, y)
    for level in (0.5, 0.9):
        se = math.sqrt(level * (1 - level) / m)
        assert abs(cov[level] - level) < 4 * se + 2 / 1000  # binomial spread + quantile error


# ---------------------------------------------------------------------------- skill


def test_skill_score_sign_and_bootstrap_interval() -> None:
    rng = np.random.default_rng(11)
    y = rng.poisson(10.0, size=500)
    good = scores.crps_poisson(10.0, y)
    bad = scores.crps_poisson(4.0, y)
    better = scores.skill_score(good, bad, rng=1)
    assert 0 < better.low <= better.value <= better.high
    worse = scores.skill_score(bad, good, rng=1)
    assert worse.high < 0
    same = scores.skill_score(good, good, rng=1)
    assert same.value == 0 and same.low == 0 == same.high
    assert scores.skill_score(good, bad, rng=1) == better  # seeded
    with pytest.raises(ValueError, match="same, non-zero number"):
        scores.skill_score(good[:3], bad[:4])
