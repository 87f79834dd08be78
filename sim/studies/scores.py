"""Proper scores of probabilistic forecasts, as pure functions on numpy arrays.

Every score here is a *loss*, negatively oriented: lower is better, and each is *proper*: its
expectation under the true distribution G is minimised by forecasting G itself (strictly proper:
only by G), so a forecaster cannot gain by reporting anything but its belief (Gneiting & Raftery
2007, JASA 102(477):359-378). Scores are returned per observation; average them (or pass them to
:func:`skill_score`) to compare forecasters on the same observations.

- :func:`brier_score` (and :func:`brier_decomposition`): binary events, e.g. "collapsed by 24 h".
- :func:`crps_sample`, :func:`crps_poisson`, :func:`crps_negbinom`: counts of violations per
  section and reporting period, from a predictive sample or a parametric predictive.
- :func:`log_score_sample`, :func:`log_score_exponential`: the minute of the first recorded
  violation, with right censoring ("no violation before T").
- :func:`pit_sample`, :func:`pit_poisson`, :func:`pit_negbinom`, :func:`pit_histogram`,
  :func:`interval_coverage`: calibration diagnostics (not scores).

scipy is imported lazily, inside the functions that need it (the Poisson and negative binomial
CRPS and PIT, the log score's normal kernel), so importing this module needs numpy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# ---------------------------------------------------------------------------- checks


def _as_float(name: str, values: object) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if np.isnan(array).any():
        raise ValueError(f"{name} contains NaN at index {int(np.flatnonzero(np.isnan(array).ravel())[0])}")
    return array


def _sample_and_obs(sample: object, obs: object) -> tuple[np.ndarray, np.ndarray]:
    """A sample of shape (n,) or (n, m) and m observations -> arrays (n, m) and (m,)."""
    x = _as_float("sample", sample)
    y = _as_float("obs", obs)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"sample must have shape (n,) or (n, m), got {x.shape}")
    y = np.broadcast_to(y, (x.shape[1],)) if y.ndim == 0 else y
    if y.shape != (x.shape[1],):
        raise ValueError(f"sample has {x.shape[1]} columns but obs has shape {y.shape}")
    if x.shape[0] < 1:
        raise ValueError("sample is empty")
    return x, y


def _generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


# ---------------------------------------------------------------------------- Brier


def brier_score(prob: object, outcome: object) -> np.ndarray:
    """Brier score (p - o)^2 of each forecast probability p of a binary event o in {0, 1}.

    Brier (1950), Monthly Weather Review 78:1-3. Strictly proper for binary events.
    ``prob`` and ``outcome`` broadcast against each other, e.g. one row per truce and one column
    per horizon (6 h, 24 h, 72 h, 7 days). Raises ValueError for p outside [0, 1] or o not 0/1.
    """
    p = _as_float("prob", prob)
    o = _as_float("outcome", outcome)
    if ((p < 0) | (p > 1)).any():
        raise ValueError(f"prob must lie in [0, 1], got {p[(p < 0) | (p > 1)].ravel()[0]}")
    if not np.isin(o, (0.0, 1.0)).all():
        raise ValueError(f"outcome must be 0 or 1, got {o[~np.isin(o, (0.0, 1.0))].ravel()[0]}")
    return (p - o) ** 2


@dataclass(frozen=True)
class BrierDecomposition:
    """Murphy's (1973) decomposition: mean Brier = reliability - resolution + uncertainty
    (+ ``within_bin``, the part due to binning, zero when each bin holds one distinct p)."""

    brier: float
    reliability: float
    resolution: float
    uncertainty: float
    within_bin: float


def brier_decomposition(prob: object, outcome: object, bins: int = 10) -> BrierDecomposition:
    """Decompose the mean Brier score over ``bins`` equal-width probability bins.

    Murphy (1973), J. Appl. Meteor. 12:595-600; with the within-bin terms of Stephenson, Coelho &
    Jolliffe (2008), Weather and Forecasting 23:752-757, so the parts add up exactly:
    brier = reliability - resolution + uncertainty + within_bin.
    """
    p = _as_float("prob", prob).ravel()
    o = _as_float("outcome", outcome).ravel()
    scores = brier_score(p, o)
    if p.size != o.size:
        raise ValueError(f"prob has {p.size} values but outcome has {o.size}")
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    k = np.minimum((p * bins).astype(int), bins - 1)
    n = p.size
    obar = o.mean()
    rel = res = within = 0.0
    for b in np.unique(k):
        sel = k == b
        nk, pk, ok = sel.sum(), p[sel].mean(), o[sel].mean()
        rel += nk * (pk - ok) ** 2
        res += nk * (ok - obar) ** 2
        # Exact remainder of the bin: var(p) within the bin and its covariance with o.
        within += np.sum((p[sel] - pk) ** 2) - 2 * np.sum((p[sel] - pk) * (o[sel] - ok))
    return BrierDecomposition(brier=float(scores.mean()), reliability=float(rel / n),
                              resolution=float(res / n), uncertainty=float(obar * (1 - obar)),
                              within_bin=float(within / n))


# ---------------------------------------------------------------------------- CRPS


def crps_sample(sample: object, obs: object, *, fair: bool = False) -> np.ndarray:
    """CRPS of each observation y_j under the predictive sample in column j.

    Energy form (Gneiting & Raftery 2007, eq. 21): CRPS(F, y) = E|X - y| - 1/2 E|X - X'|, with
    X, X' independent draws from F. With the empirical distribution of x_1..x_n as F, sorting gives
    E|X - X'| = 2 / n^2 * sum_i (2i - n - 1) x_(i) in O(n log n) (the O(n^2) pairs are never
    formed). ``fair=True`` divides by n(n-1) instead of n^2: the unbiased estimate of the CRPS of
    the distribution the sample came from (Ferro 2014, QJRMS 140:1917-1923); the default scores
    the empirical distribution itself, which is the proper score of what was forecast.

    ``sample``: shape (n,) or (n, m); ``obs``: shape (m,) (or a scalar). Returns shape (m,).
    Strictly proper for predictives with a finite mean.
    """
    x, y = _sample_and_obs(sample, obs)
    n = x.shape[0]
    xs = np.sort(x, axis=0)
    term1 = np.abs(xs - y).mean(axis=0)
    weights = 2.0 * np.arange(1, n + 1) - n - 1
    pair_sum = 2.0 * (weights @ xs)  # sum over ordered pairs i != j of |x_i - x_j|
    if fair:
        if n < 2:
            raise ValueError("fair CRPS needs a sample of at least 2")
        term2 = pair_sum / (n * (n - 1))
    else:
        term2 = pair_sum / (n * n)
    return term1 - 0.5 * term2


def crps_poisson(mean: object, obs: object) -> np.ndarray:
    """CRPS of integer counts y under Poisson(mean), in closed form.

    Wei & Held (2014), TEST 23:787-805, eq. (5):
    CRPS = (y - m)(2F(y) - 1) + 2m f(y) - m e^{-2m} (I_0(2m) + I_1(2m)),
    with F, f the Poisson cdf and pmf and I_k modified Bessel functions (evaluated scaled,
    ``scipy.special.ive``, so large means do not overflow). Uses scipy (lazy import).
    """
    from scipy import special, stats

    m = _as_float("mean", mean)
    y = _as_float("obs", obs)
    if (m < 0).any():
        raise ValueError(f"mean must be >= 0, got {m[m < 0].ravel()[0]}")
    m, y = np.broadcast_arrays(m, y)
    out = ((y - m) * (2 * stats.poisson.cdf(y, m) - 1) + 2 * m * stats.poisson.pmf(y, m)
           - m * (special.ive(0, 2 * m) + special.ive(1, 2 * m)))
    return np.asarray(out, dtype=float)


def _crps_discrete_sum(cdf, y: np.ndarray, upper: np.ndarray, chunk: int = 2_000_000) -> np.ndarray:
    """sum_{k>=0} (F(k) - 1{y <= k})^2 for each y, k up to ``upper`` (where 1 - F is negligible).

    For integer-valued X and integer y, the CRPS integral of (F(x) - 1{y <= x})^2 over x is exactly
    this sum, since the integrand is constant on [k, k + 1).
    """
    out = np.empty(y.size)
    for j in range(y.size):
        top = int(max(upper[j], y[j])) + 1
        total = 0.0
        for start in range(0, top, chunk):
            k = np.arange(start, min(top, start + chunk))
            total += float(np.sum((cdf(k, j) - (k >= y[j])) ** 2))
        out[j] = total
    return out


def crps_negbinom(mean: object, dispersion: object, obs: object) -> np.ndarray:
    """CRPS of integer counts y under a negative binomial with the given mean and dispersion k.

    Parametrised as variance = mean + mean^2 / k (k -> infinity is Poisson). Exact sum over the
    support, sum_k (F(k) - 1{y <= k})^2, truncated where the upper tail 1 - F(k) < 1e-12 (the
    omitted terms add less than that tail times its expected excess). Uses scipy (lazy import).
    """
    from scipy import stats

    m = _as_float("mean", mean)
    k = _as_float("dispersion", dispersion)
    y = _as_float("obs", obs)
    if (m < 0).any() or (k <= 0).any():
        raise ValueError("mean must be >= 0 and dispersion > 0")
    m, k, y = (a.ravel() for a in np.broadcast_arrays(m, k, y))
    p = k / (k + m)
    upper = stats.nbinom.isf(1e-12, k, p)
    upper = np.where(np.isfinite(upper), upper, 0)
    return _crps_discrete_sum(lambda s, j: stats.nbinom.cdf(s, k[j], p[j]), y, upper)


# ---------------------------------------------------------------------------- log score of a time


def silverman_bandwidth(sample: object) -> float:
    """Silverman's (1986, eq. 3.31) rule of thumb: h = 0.9 min(sd, IQR / 1.34) n^(-1/5).

    Falls back to the sd (or to 1.0 if the sample is constant) when the IQR is 0.
    """
    x = _as_float("sample", sample).ravel()
    if x.size < 2:
        raise ValueError(f"bandwidth needs at least 2 finite values, got {x.size}")
    sd = float(x.std(ddof=1))
    iqr = float(np.subtract(*np.percentile(x, [75, 25])))
    spread = min(sd, iqr / 1.34) if iqr > 0 else sd
    if spread <= 0:
        spread = 1.0
    return 0.9 * spread * x.size ** (-0.2)


def log_score_sample(sample: object, obs: float, *, censored: bool = False,
                     bandwidth: float | str = "silverman", lower: float | None = 0.0) -> float:
    """Negative log predictive density of an observed time y under a predictive sample.

    The predictive is a Gaussian kernel density of the sample's finite values (bandwidth h by
    :func:`silverman_bandwidth` unless a number is given), reflected at ``lower`` (times cannot be
    negative; ``None`` for no boundary). Sample values ``inf`` are runs with no event in their
    horizon: they carry probability mass beyond every finite time, so
    f(y) = (share finite) * kde(y). With ``censored=True`` the observation is "no event before y"
    and the score is -log P(X > y) = -log(share inf + share finite * kde survival at y); y must lie
    within the runs' horizon. The logarithmic score (Good 1952) is strictly proper; censored this
    way it is the proper censored likelihood score of the smoothed predictive. Returns ``inf`` when
    the predictive puts no mass where y fell. Uses scipy (lazy import).
    """
    from scipy import stats

    x = np.asarray(sample, dtype=float).ravel()
    if np.isnan(x).any() or (x == -np.inf).any():
        raise ValueError("sample must hold times or +inf (no event), not NaN or -inf")
    if not math.isfinite(obs):
        raise ValueError(f"obs must be a finite time, got {obs}")
    finite = x[np.isfinite(x)]
    share = finite.size / x.size
    if finite.size == 0:
        return 0.0 if censored else math.inf
    h = silverman_bandwidth(finite) if bandwidth == "silverman" else float(bandwidth)
    if not h > 0:
        raise ValueError(f"bandwidth must be > 0, got {bandwidth!r}")
    if censored:
        surv = stats.norm.sf((obs - finite) / h)
        if lower is not None:
            surv = surv + stats.norm.sf((obs + finite - 2 * lower) / h)
        prob = (1 - share) + share * float(surv.mean())
        return -math.log(prob) if prob > 0 else math.inf
    if lower is not None and obs < lower:
        return math.inf
    dens = stats.norm.pdf((obs - finite) / h)
    if lower is not None:
        dens = dens + stats.norm.pdf((obs + finite - 2 * lower) / h)
    value = share * float(dens.mean()) / h
    return -math.log(value) if value > 0 else math.inf


def log_score_exponential(rate: object, obs: object, censored: object = False) -> np.ndarray:
    """Negative log likelihood of times y under Exponential(rate): -log(rate) + rate * y;
    for censored observations ("no event before y") -log P(X > y) = rate * y. Strictly proper."""
    r = _as_float("rate", rate)
    y = _as_float("obs", obs)
    c = np.asarray(censored, dtype=bool)
    if (r <= 0).any() or (y < 0).any():
        raise ValueError("rate must be > 0 and obs >= 0")
    r, y, c = np.broadcast_arrays(r, y, c)
    return np.where(c, r * y, -np.log(r) + r * y)


# ---------------------------------------------------------------------------- PIT and coverage


def pit_randomised(cdf_below: object, cdf_at: object, rng: np.random.Generator | int | None) -> np.ndarray:
    """Randomised PIT u = F(y - 1) + v (F(y) - F(y - 1)), v ~ U(0, 1), for integer y.

    Czado, Gneiting & Held (2009), Biometrics 65:1254-1261: u is exactly uniform on (0, 1) when the
    counts come from the predictive F; a U-shape says under-dispersed, a hump over-dispersed.
    """
    lo = _as_float("cdf_below", cdf_below)
    hi = _as_float("cdf_at", cdf_at)
    if (lo > hi + 1e-12).any():
        raise ValueError("cdf_below must not exceed cdf_at")
    return lo + _generator(rng).uniform(size=np.broadcast(lo, hi).shape) * (hi - lo)


def pit_sample(sample: object, obs: object, rng: np.random.Generator | int | None) -> np.ndarray:
    """Randomised PIT of counts y_j under the empirical distribution of sample column j."""
    x, y = _sample_and_obs(sample, obs)
    return pit_randomised((x < y).mean(axis=0), (x <= y).mean(axis=0), rng)


def pit_poisson(mean: object, obs: object, rng: np.random.Generator | int | None) -> np.ndarray:
    """Randomised PIT of counts under Poisson(mean). Uses scipy (lazy import)."""
    from scipy import stats

    m, y = np.broadcast_arrays(_as_float("mean", mean), _as_float("obs", obs))
    return pit_randomised(stats.poisson.cdf(y - 1, m), stats.poisson.cdf(y, m), rng)


def pit_negbinom(mean: object, dispersion: object, obs: object,
                 rng: np.random.Generator | int | None) -> np.ndarray:
    """Randomised PIT of counts under the negative binomial of :func:`crps_negbinom`."""
    from scipy import stats

    m, k, y = np.broadcast_arrays(_as_float("mean", mean), _as_float("dispersion", dispersion),
                                  _as_float("obs", obs))
    p = k / (k + m)
    return pit_randomised(stats.nbinom.cdf(y - 1, k, p), stats.nbinom.cdf(y, k, p), rng)


def pit_histogram(pit: object, bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Relative frequencies (density, mean 1 for a uniform PIT) and edges of ``bins`` equal bins."""
    u = _as_float("pit", pit).ravel()
    if ((u < 0) | (u > 1)).any():
        raise ValueError("PIT values must lie in [0, 1]")
    counts, edges = np.histogram(u, bins=bins, range=(0.0, 1.0))
    return counts * bins / max(u.size, 1), edges


def interval_coverage(sample: object, obs: object,
                      levels: tuple[float, ...] = (0.5, 0.9)) -> dict[float, float]:
    """Share of observations inside the central predictive interval of each level.

    The interval of level l is [q_{(1-l)/2}, q_{(1+l)/2}] of the sample (``inverted_cdf``
    quantiles, so endpoints are sampled values), ends included. For counts, ties make the
    interval hold at least l of the predictive mass, so coverage of a correct forecast is >= l.
    """
    x, y = _sample_and_obs(sample, obs)
    out = {}
    for level in levels:
        if not 0 < level < 1:
            raise ValueError(f"interval level must lie in (0, 1), got {level}")
        lo, hi = np.quantile(x, [(1 - level) / 2, (1 + level) / 2], axis=0, method="inverted_cdf")
        out[level] = float(np.mean((y >= lo) & (y <= hi)))
    return out


# ---------------------------------------------------------------------------- skill


@dataclass(frozen=True)
class Skill:
    """Skill score 1 - mean S_model / mean S_ref and its bootstrap interval (``level``)."""

    value: float
    low: float
    high: float
    level: float
    n_obs: int


def skill_score(score_model: object, score_ref: object, *, n_boot: int = 2000, level: float = 0.9,
                rng: np.random.Generator | int | None = 0) -> Skill:
    """Skill of a forecaster relative to a reference on the same observations.

    value = 1 - mean(S_model) / mean(S_ref) for positive losses (Brier, CRPS): 1 is perfect, 0 no
    better than the reference, < 0 worse. The interval is the percentile bootstrap over
    observations, resampling the pairs (S_model_i, S_ref_i) together (seeded Generator). For the
    log score, which can be negative, compare mean differences instead. Raises ValueError if the
    reference's mean score is not positive.
    """
    sm = _as_float("score_model", score_model).ravel()
    sr = _as_float("score_ref", score_ref).ravel()
    if sm.size != sr.size or sm.size == 0:
        raise ValueError(f"need the same, non-zero number of scores: {sm.size} vs {sr.size}")
    if not sr.mean() > 0:
        raise ValueError(f"reference mean score must be > 0, got {sr.mean()}")
    value = 1 - sm.mean() / sr.mean()
    idx = _generator(rng).integers(0, sm.size, size=(n_boot, sm.size))
    ref = sr[idx].mean(axis=1)
    boot = 1 - sm[idx].mean(axis=1) / np.where(ref > 0, ref, np.nan)
    lo, hi = np.nanquantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return Skill(value=float(value), low=float(lo), high=float(hi), level=level, n_obs=sm.size)
