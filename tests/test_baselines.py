"""Baselines recover planted parameters; the Hawkes likelihood and simulator are checked
against independent computations (a naive double sum, the cluster representation)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sim.studies import baselines as bl
from sim.studies import scores

DAY = 1440.0


def cluster_hawkes(mu: float, alpha: float, beta: float, end: float, rng: np.random.Generator) -> np.ndarray:
    """Hawkes event times on [0, end) by the branching (cluster) representation (Hawkes & Oakes
    1974): Poisson immigrants, each event with Poisson(alpha) children after Exp(beta) delays.
    Independent of the thinning code under test."""
    gen = rng.uniform(0, end, size=rng.poisson(mu * end))
    out = [gen]
    while gen.size:
        k = rng.poisson(alpha, size=gen.size)
        gen = np.repeat(gen, k) + rng.exponential(1 / beta, size=int(k.sum()))
        gen = gen[gen < end]
        out.append(gen)
    return np.sort(np.concatenate(out))


def daily_counts(times: np.ndarray, start: float, days: int, section: str = "front") -> pd.DataFrame:
    edges = start + DAY * np.arange(days + 1)
    return pd.DataFrame({"section": section, "start_min": edges[:-1], "end_min": edges[1:],
                         "count": np.histogram(times, edges)[0]})


# ---------------------------------------------------------------------------- Hawkes likelihood


def test_excitation_recursion_and_gradient_match_direct_sums() -> None:
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 5000, size=300))
    beta = 0.3  # span 1500 / beta-units: several blocks of the overflow-safe recursion
    a, b = bl._excitation(t, beta)
    lag = t[:, None] - t[None, :]
    mask = lag > 0
    np.testing.assert_allclose(a, np.exp(-beta * np.where(mask, lag, np.inf)).sum(axis=1), rtol=1e-10)
    decay = np.exp(-beta * np.where(mask, lag, np.inf))
    np.testing.assert_allclose(b, -np.where(mask, lag * decay, 0).sum(axis=1), rtol=1e-8, atol=1e-10)
    seg = [bl.Segment(t, 0.0, 5000.0)]
    theta = np.array([0.05, 0.4, 0.3])
    _, grad = bl.hawkes_loglik(theta, seg, grad=True)
    numeric = [(bl.hawkes_loglik(theta + e * 1e-7, seg) - bl.hawkes_loglik(theta - e * 1e-7, seg)) / 2e-7
               for e in np.eye(3)]
    np.testing.assert_allclose(grad, numeric, rtol=1e-5)


def test_hawkes_mle_recovers_planted_parameters_within_4_se() -> None:
    mu, alpha, beta = 0.02, 0.5, 0.05  # per minute; kernel mean 20 min; ~2,400 events
    end = 60_000.0
    t = cluster_hawkes(mu, alpha, beta, end, np.random.default_rng(11))
    est = bl.fit_hawkes_events([bl.Segment(t, 0.0, end)])
    for value, truth, se in zip((est.mu, est.alpha, est.beta), (mu, alpha, beta), est.se, strict=True):
        assert math.isfinite(se) and se > 0
        assert abs(value - truth) < 4 * se, (value, truth, se)
    # the asymptotic SE of alpha from the observed information is of the size 1/sqrt(n) suggests
    assert 0.3 / math.sqrt(est.n_events) < est.se[1] < 3 / math.sqrt(est.n_events)


def test_hawkes_on_a_poisson_process_finds_no_self_excitation() -> None:
    end = 60_000.0
    rng = np.random.default_rng(12)
    t = np.sort(rng.uniform(0, end, size=rng.poisson(0.03 * end)))
    est = bl.fit_hawkes_events([bl.Segment(t, 0.0, end)])
    # alpha = 0 is on the boundary; the MLE lands within a few SE of it (SE ~ 1/sqrt(n) ~ 0.02),
    # far below the 0.37-0.5 of conflict data (Lewis et al. 2012)
    assert est.alpha < 4 * 1 / math.sqrt(est.n_events) + 0.05
    assert est.mu == pytest.approx(est.n_events / end, rel=0.15)


def test_hawkes_per_group_background_does_not_mistake_heterogeneity_for_excitation() -> None:
    """Poisson series with rates 20-200 a day: one background per series finds alpha ~ 0; one
    shared background reads the differences between series as self-excitation."""
    rng = np.random.default_rng(15)
    end = 30 * DAY
    segments = []
    for g, rate in enumerate((20 / DAY, 60 / DAY, 200 / DAY)):
        t = np.sort(rng.uniform(0, end, size=rng.poisson(rate * end)))
        segments.append(bl.Segment(t, 0.0, end, group=f"s{g}"))
    per = bl.fit_hawkes_events(segments)
    assert per.alpha < 4 / math.sqrt(per.n_events) + 0.05, per
    assert set(per.mu_groups) == {"s0", "s1", "s2"}
    assert per.mu_groups["s2"] == pytest.approx(200 / DAY, rel=0.2)
    shared = bl.fit_hawkes_events(segments, background="shared")
    assert shared.alpha > per.alpha + 0.1, shared


def test_hawkes_from_daily_counts_by_imputation() -> None:
    """Day-scale kernel (mean 2 days), daily counts: the between-window dependence is found."""
    mu, alpha, beta = 20 / DAY, 0.5, 1 / (2 * DAY)
    rng = np.random.default_rng(5)
    train = [bl.Truce(f"t{j}", daily_counts(cluster_hawkes(mu, alpha, beta, 40 * DAY, rng), 0.0, 40))
             for j in range(2)]
    fit = bl.fit_hawkes(train, imputations=2, rng=1)
    assert fit.imputations == 2
    est = fit.estimate
    assert abs(est.alpha - alpha) < 4 * est.se[1], est
    assert abs(est.mu - mu) < 4 * est.se[0], est


# ---------------------------------------------------------------------------- Hawkes forecasts


def test_thinning_matches_the_cluster_representation() -> None:
    mu, alpha, beta = 0.02, 0.5, 0.05
    start, end = np.array([0.0, 3000.0]), np.array([2000.0, 6000.0])  # a gap 2000-3000
    rng = np.random.default_rng(13)
    n = 2000
    thin = bl.simulate_hawkes_counts(mu, alpha, beta, start, end, n, rng)
    ref = np.array([[np.count_nonzero((t >= s) & (t < e)) for s, e in zip(start, end, strict=True)]
                    for t in (cluster_hawkes(mu, alpha, beta, 6000.0, rng) for _ in range(n))])
    se = np.sqrt(thin.var(axis=0) / n + ref.var(axis=0) / n)
    assert (np.abs(thin.mean(axis=0) - ref.mean(axis=0)) < 4 * se).all()
    assert thin.var(axis=0)[1] > 2 * thin.mean(axis=0)[1]  # clustered: over-dispersed counts


def test_hawkes_forecast_uses_the_history() -> None:
    est = bl.HawkesEstimate(mu=1 / DAY, alpha=0.6, beta=1 / DAY, se=(0, 0, 0), loglik=0, n_events=0)
    fit = bl.HawkesBaseline(estimate=est, imputations=1, period="after")
    hot = bl.Truce("hot", pd.DataFrame({"section": ["front"], "start_min": [-DAY], "end_min": [0.0],
                                        "count": [50]}))
    # expected excitation at 0 of 50 events spread over the last day: 50 alpha (1 - e^-1)
    assert fit.initial_excitation(hot, "front", 0.0) == pytest.approx(50 * 0.6 * (1 - math.exp(-1)) / DAY)
    windows = pd.DataFrame({"section": ["front"], "start_min": [0.0], "end_min": [DAY]})
    rng = np.random.default_rng(14)
    quiet = fit.sample_counts(windows, 2000, rng).mean()
    loud = fit.sample_counts(windows, 2000, rng, history=hot).mean()
    assert loud > quiet + 10
    with pytest.raises(ValueError, match="explodes"):
        bl.simulate_hawkes_counts(1.0, 1.2, 1.0, np.array([0.0]), np.array([1.0]), 1, rng)


# ---------------------------------------------------------------------------- (a), (b)


def planted_drop_truces(drop: float, rng: np.random.Generator, n: int = 6) -> list[bl.Truce]:
    truces = []
    for j in range(n):
        rates = {"north": rng.uniform(20, 200) / DAY, "south": rng.uniform(20, 200) / DAY}
        start = np.arange(-10 * DAY, 20 * DAY, DAY) - (300.0 if j % 2 else 0.0)  # some span t = 0
        end = start + DAY
        before, after = bl._post_fraction(start, end)
        frames = [pd.DataFrame({"section": s, "start_min": start, "end_min": end,
                                "count": rng.poisson(r * (before + drop * after))})
                  for s, r in rates.items()]
        truces.append(bl.Truce(f"truce{j}", pd.concat(frames, ignore_index=True)))
    return truces


def test_drop_baseline_recovers_a_planted_drop() -> None:
    truces = planted_drop_truces(0.2, np.random.default_rng(6))
    fit = bl.fit_drop(truces)
    assert abs(fit.drop - 0.2) < 4 * fit.drop_se, fit
    assert fit.skipped == ()
    # the forecast for a truce scales with its own pre-ceasefire rate, section by section
    rates, _ = bl.pre_ceasefire_rates(truces[0])
    windows = pd.DataFrame({"section": ["north", "south"], "start_min": [0.0, 0.0], "end_min": [DAY, DAY]})
    mean = fit.predict(windows, truces[0]).mean
    np.testing.assert_allclose(mean, [rates["north"] * fit.drop * DAY, rates["south"] * fit.drop * DAY])
    # a truce without pre-ceasefire counts is skipped in the fit
    post_only = bl.Truce("late", pd.DataFrame({"section": ["north"], "start_min": [0.0], "end_min": [DAY],
                                               "count": [3]}))
    assert bl.fit_drop([*truces, post_only]).skipped == ("late",)


def test_constant_rate_is_the_pooled_mle() -> None:
    truces = planted_drop_truces(0.2, np.random.default_rng(7))
    fit = bl.fit_constant_rate(truces)
    post = pd.concat([t.counts[t.counts["start_min"] >= 0] for t in truces])
    minutes = (post["end_min"] - post["start_min"]).sum()
    assert fit.rate_per_min == pytest.approx(post["count"].sum() / minutes)
    nb = bl.fit_constant_rate(truces, negative_binomial=True)
    assert nb.dispersion is not None and nb.dispersion > 0
    windows = pd.DataFrame({"section": ["north"], "start_min": [0.0], "end_min": [2 * DAY]})
    pred = nb.predict(windows)
    assert pred.mean[0] == pytest.approx(2 * DAY * fit.rate_per_min)
    assert pred.crps([40]).shape == (1,)


# ---------------------------------------------------------------------------- the common interface


@pytest.mark.parametrize("name", sorted(bl.BASELINES))
def test_every_baseline_fits_and_samples_counts_reproducibly(name: str) -> None:
    truces = planted_drop_truces(0.3, np.random.default_rng(8), n=3)
    fitted = bl.BASELINES[name](truces[:-1])
    windows = pd.DataFrame({"section": ["south", "north", "north"], "start_min": [0.0, DAY, 0.0],
                            "end_min": [DAY, 2 * DAY, DAY]})
    a = fitted.sample_counts(windows, 200, np.random.default_rng(1), history=truces[-1])
    b = fitted.sample_counts(windows, 200, np.random.default_rng(1), history=truces[-1])
    assert a.shape == (200, 3) and a.dtype.kind == "i" and (a >= 0).all()
    np.testing.assert_array_equal(a, b)
    obs = truces[-1].counts.query("start_min >= 0 and start_min < 2 * @DAY")["count"].to_numpy()[:3]
    assert np.isfinite(scores.crps_sample(a, obs)).all()


def test_truce_from_record_and_window_checks() -> None:
    record = pd.DataFrame({
        "t_min_earliest": [-1440, -1440, 0, 100], "t_min_latest": [0, 0, 1440, 200],
        "type": ["count", "count", "count", "incident"], "section": ["donetsk", "luhansk", "donetsk", ""],
        "kind": ["violations", "explosions", "violations", "artillery"], "count": [120, 40, 30, None],
    })
    truce = bl.Truce.from_record("example", record)
    assert truce.counts["count"].tolist() == [120, 30]
    as_read = record.astype(str).replace("None", "")  # read_csv(dtype=str, keep_default_na=False)
    assert bl.Truce.from_record("example", as_read).counts.equals(truce.counts)
    with pytest.raises(ValueError, match="must have start_min < end_min"):
        bl.Truce("bad", pd.DataFrame({"section": ["a"], "start_min": [5.0], "end_min": [5.0], "count": [1]}))
    with pytest.raises(ValueError, match="overlap"):
        bl.count_segments(pd.DataFrame({"section": ["a", "a"], "start_min": [0.0, 100.0],
                                        "end_min": [DAY, 2 * DAY], "count": [1, 2]}))
