"""Statistical baselines that a ceasefire forecast must beat, fitted on training truces.

Each baseline is fitted on a list of :class:`Truce` (a monitor's counts of violations per section
and window, and optionally exact event times) and returns a fitted forecaster with one common
method, ``sample_counts(windows, n, rng, history=None) -> (n, len(windows))`` integer array: a
predictive sample of the counts in new windows, so the scorer treats the model's runs and the
baselines alike (:func:`sim.studies.scores.crps_sample` and friends). ``history`` is what is known of the
truce being forecast (its own record up to the windows). The Poisson-type baselines also give
their predictive in closed form (``predict``), for exact CRPS and PIT.

- (a) :func:`fit_constant_rate`: one Poisson rate per minute per section (MLE), pooled.
- (b) :func:`fit_drop`: each truce's (and section's) pre-ceasefire rate times a drop factor at
  t = 0, the factor fitted by maximum likelihood across training truces.
- (c) :func:`fit_hawkes`: a self-exciting Hawkes process with an exponential kernel, fitted by
  maximum likelihood (exact on event times; on counts by multiple imputation of the times, see
  there); its forecast is simulated by Ogata thinning from the truce's history.

Windows are DataFrames with columns ``section``, ``start_min``, ``end_min`` (minutes relative to
t = 0, start < end). Sections have no cross-effects; all parameters are shared across sections
and truces. scipy is used by (b), (c) and the negative binomial options, imported lazily.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import pandas as pd

from sim.records.record import known_before_ceasefire
from sim.studies import scores

WINDOW_COLUMNS = ("section", "start_min", "end_min")
COUNT_COLUMNS = (*WINDOW_COLUMNS, "count")
Period = Literal["after", "all"]
Background = Literal["per_group", "shared"]


# ---------------------------------------------------------------------------- data


def _check_windows(windows: pd.DataFrame, *, counts: bool, what: str) -> pd.DataFrame:
    columns = COUNT_COLUMNS if counts else WINDOW_COLUMNS
    missing = [c for c in columns if c not in windows.columns]
    if missing:
        raise ValueError(f"{what}: missing columns {', '.join(missing)} (need {', '.join(columns)})")
    frame = windows.loc[:, list(columns)].copy()
    frame["section"] = frame["section"].fillna("").astype(str)
    frame["start_min"] = frame["start_min"].astype(float)
    frame["end_min"] = frame["end_min"].astype(float)
    bad = frame.index[~(frame["end_min"] > frame["start_min"])]
    if len(bad):
        i = bad[0]
        raise ValueError(f"{what}: row {i}: window {frame.at[i, 'start_min']} → {frame.at[i, 'end_min']} "
                         "must have start_min < end_min")
    if counts:
        values = frame["count"].to_numpy(dtype=float)
        bad = np.flatnonzero(~(values >= 0) | (values != np.round(values)))
        if bad.size:
            raise ValueError(f"{what}: row {frame.index[bad[0]]}: count = {values[bad[0]]} "
                             "must be a whole number >= 0")
        frame["count"] = values.astype(np.int64)
    return frame.reset_index(drop=True)


@dataclass(frozen=True)
class Truce:
    """What is known of one truce: a monitor's counts per window, and optionally event times.

    ``counts``: columns section, start_min, end_min, count. ``events``: columns section, t_min,
    the complete list of events in ``events_window`` (e.g. a simulated run, or a record with
    exact times); ``None`` when only counts exist.
    """

    name: str
    counts: pd.DataFrame
    events: pd.DataFrame | None = None
    events_window: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "counts", _check_windows(self.counts, counts=True,
                                                          what=f"truce {self.name!r} counts"))
        if self.events is not None:
            if self.events_window is None:
                raise ValueError(f"truce {self.name!r}: events need events_window (start, end)")
            lo, hi = self.events_window
            t = self.events["t_min"].to_numpy(dtype=float)
            if not lo < hi or ((t < lo) | (t > hi)).any():
                raise ValueError(f"truce {self.name!r}: events must lie in events_window {lo} → {hi}")

    @classmethod
    def from_record(cls, name: str, record: pd.DataFrame, *, kind: str = "violations") -> Truce:
        """The ``count`` lines of a record (format v2) of the given kind, as the truce's counts.

        Record incidents have coarse time intervals, not times, so they give no event times.
        """
        rows = record[(record["type"] == "count") & (record["kind"] == kind)]
        number = lambda col: pd.to_numeric(rows[col], errors="coerce")  # noqa: E731  ("" -> NaN)
        counts = pd.DataFrame({"section": rows["section"].fillna("").astype(str),
                               "start_min": number("t_min_earliest"), "end_min": number("t_min_latest"),
                               "count": number("count")})
        return cls(name=name, counts=counts)


def _post_fraction(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minutes of each window before and after t = 0."""
    before = np.clip(np.minimum(end, 0.0) - start, 0.0, None)
    after = np.clip(end - np.maximum(start, 0.0), 0.0, None)
    return before, after


def _in_period(frame: pd.DataFrame, period: Period) -> pd.DataFrame:
    if period == "all":
        return frame
    if period == "after":
        return frame[frame["start_min"] >= 0]
    raise ValueError(f"period must be 'after' or 'all', got {period!r}")


# ---------------------------------------------------------------------------- predictive


@dataclass(frozen=True)
class CountPredictive:
    """Independent Poisson (``dispersion`` None) or negative binomial counts, one per window.

    Negative binomial: variance = mean + mean^2 / dispersion.
    """

    mean: np.ndarray
    dispersion: float | None = None

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if self.dispersion is None:
            return rng.poisson(self.mean, size=(n, self.mean.size))
        k = self.dispersion
        return rng.negative_binomial(k, k / (k + self.mean), size=(n, self.mean.size))

    def crps(self, obs: object) -> np.ndarray:
        if self.dispersion is None:
            return scores.crps_poisson(self.mean, obs)
        return scores.crps_negbinom(self.mean, self.dispersion, obs)

    def pit(self, obs: object, rng: np.random.Generator) -> np.ndarray:
        if self.dispersion is None:
            return scores.pit_poisson(self.mean, obs, rng)
        return scores.pit_negbinom(self.mean, self.dispersion, obs, rng)


def _fit_dispersion(counts: np.ndarray, means: np.ndarray) -> float:
    """MLE of the negative binomial dispersion k given the means (log-parametrised, bounded)."""
    from scipy import optimize, stats

    def nll(log_k: float) -> float:
        k = math.exp(log_k)
        return -float(stats.nbinom.logpmf(counts, k, k / (k + means)).sum())

    res = optimize.minimize_scalar(nll, bounds=(math.log(1e-3), math.log(1e6)), method="bounded")
    return float(math.exp(res.x))


class Fitted(Protocol):
    """What every fitted baseline (and the model's adapter) offers the scorer."""

    name: str

    def sample_counts(self, windows: pd.DataFrame, n: int, rng: np.random.Generator,
                      history: Truce | None = None) -> np.ndarray: ...


# ---------------------------------------------------------------------------- (a) constant rate


@dataclass(frozen=True)
class ConstantRate:
    """(a) Counts ~ Poisson(rate x window length) (or negative binomial), same rate everywhere."""

    rate_per_min: float
    rate_se: float
    dispersion: float | None
    n_windows: int
    name: str = "poisson"

    def predict(self, windows: pd.DataFrame, history: Truce | None = None) -> CountPredictive:
        w = _check_windows(windows, counts=False, what="windows")
        return CountPredictive(self.rate_per_min * (w["end_min"] - w["start_min"]).to_numpy(),
                               self.dispersion)

    def sample_counts(self, windows: pd.DataFrame, n: int, rng: np.random.Generator,
                      history: Truce | None = None) -> np.ndarray:
        return self.predict(windows, history).sample(n, rng)


def fit_constant_rate(train: Sequence[Truce], *, period: Period = "after",
                      negative_binomial: bool = False) -> ConstantRate:
    """MLE rate = total count / total window minutes over the training windows of ``period``
    ("after": windows starting at or after t = 0; "all": every window). SE from the Poisson
    information, sqrt(count) / minutes. ``negative_binomial`` adds a dispersion fitted by MLE."""
    frame = pd.concat([_in_period(t.counts, period) for t in train], ignore_index=True)
    if frame.empty:
        raise ValueError(f"no training windows in period {period!r} among {len(train)} truces")
    minutes = float((frame["end_min"] - frame["start_min"]).sum())
    total = float(frame["count"].sum())
    rate = total / minutes
    dispersion = None
    if negative_binomial:
        dispersion = _fit_dispersion(frame["count"].to_numpy(),
                                     rate * (frame["end_min"] - frame["start_min"]).to_numpy())
    return ConstantRate(rate_per_min=rate, rate_se=math.sqrt(total) / minutes, dispersion=dispersion,
                        n_windows=len(frame))


# ---------------------------------------------------------------------------- (b) pre-rate x drop


def pre_ceasefire_rates(truce: Truce) -> tuple[dict[str, float], float | None]:
    """Per-section rates per minute from the windows that end by t = 0, and the truce's pooled
    per-section rate (None if it has no such window)."""
    pre = truce.counts[known_before_ceasefire(truce.counts["end_min"])]
    if pre.empty:
        return {}, None
    minutes = (pre["end_min"] - pre["start_min"]).groupby(pre["section"]).sum()
    totals = pre["count"].groupby(pre["section"]).sum()
    rates = {str(s): float(totals[s] / minutes[s]) for s in minutes.index}
    return rates, float(totals.sum() / minutes.sum())


@dataclass(frozen=True)
class PreRateDrop:
    """(b) Counts ~ Poisson(r_s x (minutes before 0 + drop x minutes after 0)) per window, r_s the
    truce's own pre-ceasefire rate in section s (or its pooled rate for a section without
    pre-ceasefire counts; the training truces' mean pooled rate if it has none)."""

    drop: float
    drop_se: float
    dispersion: float | None
    fallback_rate_per_min: float
    used: tuple[str, ...]
    skipped: tuple[str, ...]
    name: str = "drop"

    def predict(self, windows: pd.DataFrame, history: Truce | None = None) -> CountPredictive:
        w = _check_windows(windows, counts=False, what="windows")
        rates, pooled = pre_ceasefire_rates(history) if history is not None else ({}, None)
        pooled = self.fallback_rate_per_min if pooled is None else pooled
        r = np.array([rates.get(s, pooled) for s in w["section"]])
        before, after = _post_fraction(w["start_min"].to_numpy(), w["end_min"].to_numpy())
        return CountPredictive(r * (before + self.drop * after), self.dispersion)

    def sample_counts(self, windows: pd.DataFrame, n: int, rng: np.random.Generator,
                      history: Truce | None = None) -> np.ndarray:
        return self.predict(windows, history).sample(n, rng)


def fit_drop(train: Sequence[Truce], *, negative_binomial: bool = False) -> PreRateDrop:
    """MLE of the drop factor d across training truces, the pre-ceasefire rates plugged in.

    Each window that reaches past t = 0 has mean r (a + d b), a and b its minutes before and after
    t = 0. The log-likelihood sum y log(a + d b) - d r b is concave in d; its maximum solves
    sum y b / (a + d b) = sum r b (closed form d = sum y / sum r b when no window spans t = 0).
    SE from the observed information sum y b^2 / (a + d b)^2. Truces without pre-ceasefire counts
    are skipped (listed in ``skipped``); pre-rates are treated as known (plug-in).
    """
    from scipy import optimize

    ys, rb, aa, bb, used, skipped, pooled_rates = [], [], [], [], [], [], []
    for truce in train:
        rates, pooled = pre_ceasefire_rates(truce)
        post = truce.counts[~known_before_ceasefire(truce.counts["end_min"])]
        if pooled is None or post.empty:
            skipped.append(truce.name)
            continue
        used.append(truce.name)
        pooled_rates.append(pooled)
        r = np.array([rates.get(s, pooled) for s in post["section"]])
        before, after = _post_fraction(post["start_min"].to_numpy(), post["end_min"].to_numpy())
        ys.append(post["count"].to_numpy(dtype=float))
        rb.append(r * after)
        aa.append(r * before)
        bb.append(r * after)
    if not used:
        raise ValueError(f"no training truce has counts both before and after t = 0 (skipped: {skipped})")
    y, a, b = np.concatenate(ys), np.concatenate(aa), np.concatenate(bb)
    total_rb = float(np.concatenate(rb).sum())
    if total_rb <= 0:
        raise ValueError("the pre-ceasefire rates of the training truces are all zero: no drop to fit")
    if not (a > 0).any():
        drop = float(y.sum() / total_rb)
    else:
        def score(log_d: float) -> float:
            d = math.exp(log_d)
            return float(np.sum(y * b / (a + d * b))) - total_rb

        lo, hi = -30.0, 30.0
        drop = math.exp(optimize.brentq(score, lo, hi)) if score(lo) > 0 > score(hi) else (
            0.0 if score(lo) <= 0 else math.exp(hi))
    denom = a + drop * b
    info = float(np.sum(np.divide(y * b**2, denom**2, out=np.zeros_like(y), where=denom > 0)))
    drop_se = 1 / math.sqrt(info) if info > 0 else math.nan
    dispersion = _fit_dispersion(y.astype(np.int64), a + drop * b) if negative_binomial else None
    return PreRateDrop(drop=drop, drop_se=drop_se, dispersion=dispersion,
                       fallback_rate_per_min=float(np.mean(pooled_rates)), used=tuple(used),
                       skipped=tuple(skipped))


# ---------------------------------------------------------------------------- (c) Hawkes


@dataclass(frozen=True)
class Segment:
    """Event times observed completely over [start, end] (no history before start is used);
    segments of one ``group`` (a truce's section) share a background rate."""

    times: np.ndarray
    start: float
    end: float
    group: str = ""


def _excitation(t: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """A_i = sum_{j<i} e^{-beta (t_i - t_j)} and B_i = dA_i / d beta for sorted times t.

    The recursion A_i = e^{-beta (t_i - t_{i-1})} (1 + A_{i-1}) (Ozaki 1979) done in numpy over
    blocks of times spanning at most 500 / beta (so e^{beta u} cannot overflow), carrying A and B
    from one block to the next: O(n) work, one Python iteration per block.
    """
    n = t.size
    a = np.zeros(n)
    b = np.zeros(n)
    if n == 0:
        return a, b
    block = np.floor(beta * (t - t[0]) / 500.0).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, block[1:] != block[:-1]])
    ends = np.r_[starts[1:], n]
    for s, e in zip(starts, ends, strict=True):
        u = t[s:e] - t[s]
        grow = np.exp(beta * u)
        decay = np.exp(-beta * u)
        prev = np.r_[0.0, np.cumsum(grow)[:-1]]  # sum_{s<=j<i} e^{beta u_j}
        prev_u = np.r_[0.0, np.cumsum(u * grow)[:-1]]
        a[s:e] = decay * prev
        b[s:e] = -(u * decay * prev - decay * prev_u)  # -sum (u_i - u_j) e^{-beta (u_i - u_j)}
        if s > 0:  # everything before the block, through the last event before it
            d = t[s:e] - t[s - 1]
            carry = np.exp(-beta * d)
            a[s:e] += carry * (1 + a[s - 1])
            b[s:e] += carry * (b[s - 1] - d * (1 + a[s - 1]))
    return a, b


def hawkes_loglik(params: Sequence[float], segments: Sequence[Segment], grad: bool = False,
                  groups: Sequence[int] | None = None) -> float | tuple[float, np.ndarray]:
    """Log-likelihood of a Hawkes process lambda(t) = mu + sum_{t_i < t} alpha beta e^{-beta (t - t_i)}.

    Per segment [T0, T1] with events t_i: sum_i log lambda(t_i) - mu (T1 - T0)
    - alpha sum_i (1 - e^{-beta (T1 - t_i)}) (Ogata 1978; Ozaki 1979). alpha is the branching
    ratio (expected direct offspring per event), 1 / beta the kernel's mean delay.
    ``params`` = (mu, alpha, beta), or (mu_0, ..., mu_{G-1}, alpha, beta) with ``groups[k]`` the
    background rate index of segment k. With ``grad=True`` also returns the gradient.
    """
    values = np.asarray(params, dtype=float)
    mus, alpha, beta = values[:-2], float(values[-2]), float(values[-1])
    ll = 0.0
    g = np.zeros(values.size)
    for k, seg in enumerate(segments):
        gi = 0 if groups is None else groups[k]
        mu = float(mus[gi])
        t = seg.times
        a, b = _excitation(t, beta)
        lam = mu + alpha * beta * a
        tail = np.exp(-beta * (seg.end - t))
        ll += float(np.sum(np.log(lam))) - mu * (seg.end - seg.start) - alpha * float(np.sum(1 - tail))
        if grad:
            inv = 1 / lam
            g[gi] += float(inv.sum()) - (seg.end - seg.start)
            g[-2] += float(np.sum(beta * a * inv)) - float(np.sum(1 - tail))
            g[-1] += float(np.sum(alpha * (a + beta * b) * inv)) - alpha * float(np.sum((seg.end - t) * tail))
    return (ll, g) if grad else ll


@dataclass(frozen=True)
class HawkesEstimate:
    """MLE of the background rate mu (per minute), alpha and beta (per minute), standard errors
    from the observed information (NaN where it is singular, e.g. beta when alpha is at 0) and the
    log-likelihood. With one background rate per group (``mu_groups``), ``mu`` is their mean
    weighted by observed minutes, the rate a forecast for a new truce uses."""

    mu: float
    alpha: float
    beta: float
    se: tuple[float, float, float]
    loglik: float
    n_events: int
    mu_groups: dict[str, float] | None = None


def _observed_information(theta: np.ndarray, segments: Sequence[Segment],
                          groups: Sequence[int] | None) -> np.ndarray:
    """Minus the Hessian of the log-likelihood, by central differences of the analytic gradient."""
    size = theta.size
    hess = np.zeros((size, size))
    for k in range(size):
        h = 1e-5 * theta[k]
        up, down = theta.copy(), theta.copy()
        up[k] += h
        down[k] -= h
        g_up = hawkes_loglik(up, segments, grad=True, groups=groups)[1]
        g_down = hawkes_loglik(down, segments, grad=True, groups=groups)[1]
        hess[:, k] = (g_up - g_down) / (2 * h)
    return -(hess + hess.T) / 2


def _covariance(info: np.ndarray) -> np.ndarray:
    """Inverse of the observed information; if singular (beta is unidentified when alpha is ~0),
    the inverse without beta's row and column, beta's variance NaN; all NaN if still singular."""
    size = info.shape[0]
    for keep in (size, size - 1):
        sub = info[:keep, :keep]
        try:
            np.linalg.cholesky(sub)
        except np.linalg.LinAlgError:
            continue
        cov = np.full((size, size), math.nan)
        cov[:keep, :keep] = np.linalg.inv(sub)
        return cov
    return np.full((size, size), math.nan)


def fit_hawkes_events(segments: Sequence[Segment], *, background: Background = "per_group",
                      starts: Sequence[float] = (0.1, 0.4, 0.7)) -> HawkesEstimate:
    """Maximum likelihood on exact event times: bounded TNC on the logs of the parameters with the
    analytic gradient, one start per initial alpha in ``starts`` (each with two kernel scales: 1
    and 20 mean inter-event gaps); the best optimum is kept. alpha's log is bounded below at
    log(1e-6), so a Poisson process ends at the bound (alpha ~ 0) rather than drifting off.

    ``background="per_group"``: one background rate per ``Segment.group`` (a truce's section),
    alpha and beta shared. ``"shared"``: one rate for all. Pooling series with different rates
    under one rate makes the heterogeneity look like self-excitation (alpha biased up), so the
    branching ratio to report is the per-group one.
    """
    from scipy import optimize

    n = sum(s.times.size for s in segments)
    span = sum(s.end - s.start for s in segments)
    if n < 3:
        raise ValueError(f"a Hawkes fit needs at least 3 events, got {n}")
    if background == "per_group":
        names = sorted({s.group for s in segments})
        groups = [names.index(s.group) for s in segments]
    elif background == "shared":
        names, groups = [""], [0] * len(segments)
    else:
        raise ValueError(f"background must be 'per_group' or 'shared', got {background!r}")
    n_g = np.bincount(groups, weights=[s.times.size for s in segments], minlength=len(names))
    t_g = np.bincount(groups, weights=[s.end - s.start for s in segments], minlength=len(names))
    gap = span / n
    # A kernel longer than the segments cannot be told from the background rate (the likelihood
    # goes flat in alpha as beta -> 0), so its mean 1 / beta is kept below half the median segment.
    beta_min = 2.0 / float(np.median([s.end - s.start for s in segments]))
    beta_max = max(1e4 / gap, 2 * beta_min)
    bounds = ([(math.log(1e-6 / gap), math.log(10 / gap))] * len(names)
              + [(math.log(1e-6), math.log(5.0)), (math.log(beta_min), math.log(beta_max))])

    def objective(z: np.ndarray) -> tuple[float, np.ndarray]:
        theta = np.exp(z)
        ll, g = hawkes_loglik(theta, segments, grad=True, groups=groups)
        if not math.isfinite(ll):
            return 1e300, np.zeros(z.size)
        return -ll / n, -g * theta / n

    best = None
    for alpha0 in starts:
        for scale in (1.0, 20.0):
            mu0 = np.maximum((1 - alpha0) * n_g / t_g, 1e-5 / gap)
            z0 = np.log(np.r_[mu0, alpha0, max(1 / (scale * gap), 1.01 * beta_min)])
            # TNC, not L-BFGS-B: with a few parameters L-BFGS-B's per-iteration BLAS calls dominate
            # and slow it several-fold on a loaded multi-threaded BLAS; the optima agree.
            res = optimize.minimize(objective, z0, jac=True, method="TNC", bounds=bounds)
            if best is None or res.fun < best.fun:
                best = res
    theta = np.exp(best.x)
    cov = _covariance(_observed_information(theta, segments, groups))
    weights = t_g / t_g.sum()
    mu = float(weights @ theta[:-2])
    mu_se = math.sqrt(float(weights @ cov[:-2, :-2] @ weights))
    se = (mu_se, math.sqrt(cov[-2, -2]), math.sqrt(cov[-1, -1]))
    return HawkesEstimate(mu=mu, alpha=float(theta[-2]), beta=float(theta[-1]), se=se,
                          loglik=float(-best.fun * n), n_events=n,
                          mu_groups=dict(zip(names, theta[:-2].tolist(), strict=True))
                          if background == "per_group" else None)


def count_segments(counts: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Split one truce's count windows into runs of back-to-back windows per section.

    Raises ValueError if two windows of a section overlap (e.g. daily and weekly totals mixed).
    """
    out = []
    for section, rows in counts.sort_values(["section", "start_min"]).groupby("section", sort=True):
        start, end = rows["start_min"].to_numpy(), rows["end_min"].to_numpy()
        if (start[1:] < end[:-1]).any():
            i = int(np.flatnonzero(start[1:] < end[:-1])[0])
            raise ValueError(f"section {section!r}: windows {start[i]} → {end[i]} and "
                             f"{start[i + 1]} → {end[i + 1]} overlap")
        breaks = np.flatnonzero(start[1:] > end[:-1]) + 1
        for piece in np.split(np.arange(len(rows)), breaks):
            out.append((str(section), rows.iloc[piece]))
    return out


def _impute_segments(train: Sequence[Truce], period: Period,
                     rng: np.random.Generator) -> tuple[list[Segment], bool]:
    """Segments of every training truce: exact events where given, else counts spread uniformly
    at random within their windows (one imputation). Returns whether anything was imputed."""
    segments, imputed = [], False
    for truce in train:
        if truce.events is not None:
            lo, hi = truce.events_window
            lo = max(lo, 0.0) if period == "after" else lo
            if hi <= lo:
                continue
            for section, ev in truce.events.groupby("section"):
                t = np.sort(ev["t_min"].to_numpy(dtype=float))
                segments.append(Segment(t[t >= lo], lo, hi, group=f"{truce.name}/{section}"))
            continue
        for section, rows in count_segments(_in_period(truce.counts, period)):
            s, e = rows["start_min"].to_numpy(), rows["end_min"].to_numpy()
            c = rows["count"].to_numpy()
            t = np.sort(np.repeat(s, c) + rng.uniform(size=int(c.sum())) * np.repeat(e - s, c))
            segments.append(Segment(t, float(s[0]), float(e[-1]), group=f"{truce.name}/{section}"))
            imputed = True
    return segments, imputed


@dataclass(frozen=True)
class HawkesBaseline:
    """(c) A fitted Hawkes process; forecasts by simulation from a truce's history."""

    estimate: HawkesEstimate
    imputations: int
    period: Period
    name: str = "hawkes"

    @property
    def branching_ratio(self) -> float:
        return self.estimate.alpha

    def initial_excitation(self, history: Truce | None, section: str, at: float) -> float:
        """Excitation sum alpha beta e^{-beta (at - t_i)} at time ``at`` from the history's events
        before ``at`` in the section; from count windows (ending by ``at``) its expectation with
        each window's events spread uniformly over the window."""
        if history is None:
            return 0.0
        alpha, beta = self.estimate.alpha, self.estimate.beta
        if history.events is not None:
            ev = history.events
            t = ev.loc[(ev["section"] == section) & (ev["t_min"] < at), "t_min"].to_numpy(dtype=float)
            return float(alpha * beta * np.exp(-beta * (at - t)).sum())
        c = history.counts
        rows = c[(c["section"] == section) & (c["end_min"] <= at)]
        s, e, k = rows["start_min"].to_numpy(), rows["end_min"].to_numpy(), rows["count"].to_numpy()
        return float(np.sum(k * alpha * (np.exp(-beta * (at - e)) - np.exp(-beta * (at - s))) / (e - s)))

    def sample_counts(self, windows: pd.DataFrame, n: int, rng: np.random.Generator,
                      history: Truce | None = None) -> np.ndarray:
        w = _check_windows(windows, counts=False, what="windows")
        out = np.zeros((n, len(w)), dtype=np.int64)
        for section, rows in w.groupby("section", sort=False):
            order = rows.sort_values("start_min")
            start, end = order["start_min"].to_numpy(), order["end_min"].to_numpy()
            if (start[1:] < end[:-1]).any():
                raise ValueError(f"section {section!r}: forecast windows overlap")
            t0 = float(start[0])
            counts = simulate_hawkes_counts(self.estimate.mu, self.estimate.alpha, self.estimate.beta,
                                            start, end, n, rng,
                                            excitation0=self.initial_excitation(history, section, t0))
            out[:, order.index.to_numpy()] = counts
        return out


def simulate_hawkes_counts(mu: float, alpha: float, beta: float, start: np.ndarray, end: np.ndarray,
                           n: int, rng: np.random.Generator, *, excitation0: float = 0.0) -> np.ndarray:
    """Counts of a Hawkes process in sorted, non-overlapping windows, n paths, by Ogata's (1981)
    thinning, vectorised over paths.

    Each path starts at start[0] with excitation ``excitation0`` (from its history). Between events
    the intensity mu + S only decays, so its value now bounds it until the next event: propose
    w ~ Exp(mu + S), decay S by e^{-beta w}, accept with probability (mu + S) / bound, and on
    acceptance add alpha beta to S. Events in gaps between windows excite later windows but are
    not counted. Returns an (n, windows) integer array.
    """
    if alpha >= 1:
        raise ValueError(f"branching ratio alpha = {alpha} >= 1: the process explodes; no forecast")
    edges_hi = float(end[-1])
    counts = np.zeros((n, start.size), dtype=np.int64)
    t = np.full(n, float(start[0]))
    s = np.full(n, float(excitation0))
    alive = np.arange(n)
    while alive.size:
        bound = mu + s[alive]
        t_new = t[alive] + rng.exponential(size=alive.size) / bound
        s_new = s[alive] * np.exp(-beta * (t_new - t[alive]))
        accept = rng.uniform(size=alive.size) * bound <= mu + s_new
        inside = t_new < edges_hi
        hit = accept & inside
        s_new[hit] += alpha * beta
        t[alive], s[alive] = t_new, s_new
        if hit.any():
            idx = np.searchsorted(start, t_new[hit], side="right") - 1
            ok = (idx >= 0) & (t_new[hit] < end[np.maximum(idx, 0)])
            np.add.at(counts, (alive[hit][ok], idx[ok]), 1)
        alive = alive[inside]
    return counts


def fit_hawkes(train: Sequence[Truce], *, period: Period = "after", imputations: int = 5,
               background: Background = "per_group",
               rng: np.random.Generator | int | None = 0) -> HawkesBaseline:
    """(c) Hawkes MLE on the training truces, each section its own process, alpha and beta shared,
    a background rate per truce and section (``background``, see :func:`fit_hawkes_events`); a
    forecast for a new truce uses their mean weighted by observed minutes.

    Event times are used exactly where a truce has them. For count windows (the records' usual
    form) the times within each window are unknown: they are imputed uniformly at random within
    the window, the exact likelihood is maximised for each of ``imputations`` imputations, and the
    estimates are combined by Rubin's rules (mean; variance = mean within + (1 + 1/M) between).
    Uniform placement erases clustering inside a window, so alpha and beta describe the
    dependence *between* windows (a day-scale kernel for daily counts) and alpha is biased low
    when the true kernel is shorter than a window. Each run of back-to-back windows is a segment
    whose process starts afresh (no excitation from before it). ``period="after"`` uses windows
    starting at or after t = 0 (and events from t = 0).
    """
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    fits = []
    for _ in range(max(1, imputations)):
        segments, imputed = _impute_segments(train, period, gen)
        fits.append(fit_hawkes_events(segments, background=background))
        if not imputed:
            break
    est = np.array([[f.mu, f.alpha, f.beta] for f in fits])
    within = np.array([np.square(f.se) for f in fits])
    mean = est.mean(axis=0)
    m = len(fits)
    var = within.mean(axis=0) + ((1 + 1 / m) * est.var(axis=0, ddof=1) if m > 1 else 0.0)
    mu_groups = None
    if fits[0].mu_groups is not None:
        mu_groups = {g: float(np.mean([f.mu_groups[g] for f in fits])) for g in fits[0].mu_groups}
    combined = HawkesEstimate(mu=float(mean[0]), alpha=float(mean[1]), beta=float(mean[2]),
                              se=tuple(float(v) for v in np.sqrt(var)),  # type: ignore[arg-type]
                              loglik=float(np.mean([f.loglik for f in fits])),
                              n_events=fits[0].n_events, mu_groups=mu_groups)
    return HawkesBaseline(estimate=combined, imputations=m, period=period)


# ---------------------------------------------------------------------------- registry

BASELINES: dict[str, Callable[[Sequence[Truce]], Fitted]] = {
    "poisson": fit_constant_rate,
    "drop": fit_drop,
    "hawkes": fit_hawkes,
}
"""Name -> ``fit(train) -> Fitted``, with each fit's defaults."""

