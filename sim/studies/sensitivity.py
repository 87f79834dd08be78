"""Global sensitivity analysis with SALib: which parameters decide a ceasefire's fate?

A spec's ``[sensitivity]`` table picks the method; its ``[sample]`` ranges are the inputs.
The design is drawn on the unit cube by SALib (Saltelli/Sobol' sequence for Sobol' indices,
trajectories for Morris screening) and mapped onto each range exactly as a Latin-hypercube
sample would be (see SampleRange.scale). Each design point is run ``replicates`` times like any
experiment batch, and each statistic is averaged over the replicates of a point before the
indices are computed, so the indices describe the model's expected behaviour.

Averaging leaves noise: with a few 0/1 replicates per point it can be as large as the
differences between points. Sobol' indices therefore come with what that noise does to them
(:func:`sobol_with_noise`):

- the *noise share*: the mean within-point variance of a point's mean (s² / R) over the
  variance of the point means. It is the share of the "output variance" that is replicate
  noise, and exactly the total index a parameter with no effect would get from the raw
  estimator;
- indices corrected for that noise, with intervals from a two-level bootstrap that resamples
  both the replicates within each point and the base rows of the design;
- warnings when an index is not distinguishable from that noise.

Statistics (per point, over its replicates):

- ``collapse_h``: mean hours to collapse, counting a ceasefire that held as collapsing at the
  horizon (the restricted mean survival time);
- ``p_hold_<H>h``: share of runs still holding ``H`` hours after t = 0;
- any numeric outcome of sim.model.outcomes (``violations_per_h``, ...): its mean over the runs
  that had one.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.studies import experiment
from sim.studies.experiment import BatchResults
from sim.studies.experiment_spec import (
    P_HOLD,
    SpecError,
    require_salib,
    salib_problem,
    sample_generator,
    unit_sample,
)

METHODS = ("sobol", "morris")
SENSITIVITY_STREAM = 0x53454E53
"""Tag of the bootstrap's streams: ``SeedSequence([seed, SENSITIVITY_STREAM, crc32(statistic)])``."""


# -- per-run and per-point statistics ---------------------------------------------------------------
def replicate_values(outcomes: pd.DataFrame, name: str, points: int, horizon_h: float) -> np.ndarray:
    """Statistic ``name`` of every run: rows are points (0 .. points - 1), columns replicates.

    NaN where a run has no value (a missing outcome, or a replicate the point lacks). For
    ``collapse_h`` and ``p_hold_<H>h`` a point with any run whose ``held`` is undefined (rule 8
    off) has no value at all: a run that cannot collapse has not "held".
    """
    m = P_HOLD.match(name)
    point = outcomes["point"].to_numpy(dtype=int)
    rep = (outcomes["replicate"].to_numpy(dtype=int) if "replicate" in outcomes
           else outcomes.groupby("point").cumcount().to_numpy())
    if name == "collapse_h" or m:
        minutes = outcomes["collapse_min"].to_numpy(dtype=float)
        if m:
            hours = float(m.group(1))
            if hours > horizon_h:
                raise SpecError(f"sensitivity.outcomes: {name!r}: beyond the horizon ({horizon_h} h)")
            value = (np.isnan(minutes) | (minutes > hours * 60.0)).astype(float)
        else:
            capped = np.minimum(minutes, horizon_h * 60.0)
            value = np.where(np.isnan(minutes), horizon_h * 60.0, capped) / 60.0
    else:
        value = outcomes[name].to_numpy(dtype=float)
    out = np.full((points, int(rep.max()) + 1 if rep.size else 1), math.nan)
    out[point, rep] = value
    if (name == "collapse_h" or m) and "held" in outcomes:
        held = outcomes["held"].to_numpy(dtype=float)
        out[np.unique(point[np.isnan(held)])] = math.nan
    return out


def point_statistic(outcomes: pd.DataFrame, name: str, points: int, horizon_h: float) -> np.ndarray:
    """Statistic ``name`` per point (index = point id), averaged over the point's replicates."""
    return _means(replicate_values(outcomes, name, points, horizon_h))


def _means(values: np.ndarray) -> np.ndarray:
    n = np.sum(~np.isnan(values), axis=1)
    total = np.nansum(values, axis=1)
    return np.divide(total, n, out=np.full(n.shape, math.nan), where=n > 0)


# -- Sobol' indices with their noise -----------------------------------------------------------------
@dataclass(frozen=True)
class NoisyIndices:
    """Sobol' indices of one statistic, with what replicate noise does to them (arrays over parameters).

    ``S1``/``ST`` are corrected for the replicate noise, ``*_low``/``*_high`` their bootstrap
    interval, ``S1_raw``/``ST_raw`` SALib's estimate from the point means as they are, and
    ``noise_share`` the share of the point means' variance that is replicate noise (NaN, with
    ``noise_note`` saying why, when it cannot be estimated).
    """

    S1: np.ndarray
    S1_low: np.ndarray
    S1_high: np.ndarray
    ST: np.ndarray
    ST_low: np.ndarray
    ST_high: np.ndarray
    S1_raw: np.ndarray
    ST_raw: np.ndarray
    noise_share: float
    noise_note: str


def _raw_indices(y: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    """SALib's estimators (Saltelli 2010 S1, Jansen ST) on point means ``y`` (points × k columns).

    Returns S1 and ST (d × k), and the variance of the point means of the A and B rows and
    the overall variance used to normalise (both per column), so noise can be put on that scale.
    Same formulas and normalisation as SALib.analyze.sobol, vectorised over columns.
    """
    y = np.asarray(y, dtype=float)
    y = y.reshape(y.shape[0], -1)
    mean, std = y.mean(axis=0), y.std(axis=0)
    z = np.divide(y - mean, std, out=np.zeros_like(y), where=std > 0)
    step = d + 2
    a, b = z[0::step], z[step - 1::step]
    ab = np.stack([z[j + 1::step] for j in range(d)])           # d × N × k
    var = np.var(np.concatenate([a, b]), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        s1 = np.mean(b * (ab - a), axis=1) / var
        st = 0.5 * np.mean((a - ab) ** 2, axis=1) / var
    bad = ~(var > np.finfo(float).eps)
    s1[:, bad] = math.nan
    st[:, bad] = math.nan
    return s1, st, var, std ** 2


def _noise(values: np.ndarray, valid: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Variance of each point's mean from its runs, s² / n (0 with one run); ``values`` is 0
    where ``valid`` is False."""
    mean = values.sum(axis=1) / n
    squares = np.sum(np.where(valid, (values - mean[:, None]) ** 2, 0.0), axis=1)
    return np.where(n >= 2, squares / np.maximum(n - 1, 1) / n, 0.0)


def _corrected(s1: np.ndarray, st: np.ndarray, share: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the expected output from those of noisy point means.

    Noise of variance n (independent between points) adds n to the variance V of the point
    means, nothing to the S1 numerator, and n to the ST numerator; with share = n / (V + n):
    S1 = S1_raw / (1 - share) and ST = (ST_raw - share) / (1 - share). Undefined at share >= 1.
    """
    keep = np.where(share < 1.0, 1.0 - share, math.nan)
    return s1 / keep, (st - share) / keep


def sobol_with_noise(values: np.ndarray, d: int, *, resamples: int, conf_level: float,
                     rng: np.random.Generator) -> NoisyIndices:
    """Sobol' indices of the point means of ``values`` (points × replicates, NaN = no run) and
    their two-level bootstrap intervals.

    ``values`` follows SALib's Saltelli layout without second order (blocks of d + 2 rows:
    A, AB_1 .. AB_d, B per base row). Each of ``resamples`` bootstrap draws (1) resamples the
    replicates of every point with replacement, rescaling the deviations by sqrt(R / (R - 1))
    so the resampled means carry the estimated noise s² / R, not (R - 1) / R of it, and (2)
    resamples the base rows, keeping each block together. The interval is the basic bootstrap
    interval of the noise-corrected index: the spread of the resampled corrected indices around
    the raw index of the observed means (the truth of the bootstrap world), put around the
    corrected index. Points with one replicate carry no noise estimate (their noise counts as 0).

    The base rows' bootstrap alone already sees the replicate noise that is in the point means,
    so counting it again at the replicate level makes the intervals err on the wide side; the
    tests measure by how much on a model with known indices. With a noise share near 1 the
    correction divides by a small, uncertain 1 - share and the intervals are not reliable.

    Raises SpecError when the layout does not fit d, a point has no value, or the point
    means are constant (no variance to share out).
    """
    values = np.asarray(values, dtype=float)
    step = d + 2
    if values.ndim != 2 or values.shape[0] % step or values.shape[0] == 0:
        raise SpecError(f"sobol_with_noise: {values.shape[0]} points do not make blocks of d + 2 = {step}")
    n = np.sum(~np.isnan(values), axis=1)
    if np.any(n == 0):
        raise SpecError(f"sobol_with_noise: {int(np.sum(n == 0))} of {n.size} points have no value")
    base = values.shape[0] // step
    y = _means(values)
    s1_raw, st_raw, var_ab, var_all = _raw_indices(y, d)
    if not var_ab[0] > np.finfo(float).eps:
        raise SpecError(f"sobol_with_noise: the statistic is the same ({y[0]:.6g}) at every point; "
                        f"no variance to attribute")
    s1_raw, st_raw = s1_raw[:, 0], st_raw[:, 0]
    noisy = n >= 2
    cols = np.arange(values.shape[1])
    valid = cols[None, :] < n[:, None]
    ordered = np.sort(values, axis=1)                   # a point's runs first, NaN (no run) last
    if noisy.any():
        share = float(np.mean(_noise(np.where(valid, ordered, 0.0), valid, n)) / var_all[0] / var_ab[0])
        note = ""
    else:
        share, note = math.nan, "one replicate per point: the replicate noise cannot be estimated"
    s1, st = _corrected(s1_raw, st_raw, np.array(0.0 if math.isnan(share) else share))

    # Two-level bootstrap, vectorised over points.
    scale = np.sqrt(np.where(noisy, n / np.maximum(n - 1, 1), 1.0))[:, None]
    blocks = np.arange(step)[None, :]
    boot_s1 = np.empty((resamples, d))
    boot_st = np.empty((resamples, d))
    for k in range(resamples):
        take = (rng.integers(0, base, base)[:, None] * step + blocks).ravel()
        tn, ty, tvalid = n[take], y[take, None], valid[take]
        pick = np.minimum((rng.random(values.shape) * tn[:, None]).astype(int), tn[:, None] - 1)
        draws = np.take_along_axis(ordered[take], pick, axis=1)
        sample = np.where(tvalid, ty + scale[take] * (draws - ty), 0.0)
        b1, bt, bvar_ab, bvar_all = _raw_indices(sample.sum(axis=1) / tn, d)
        if math.isnan(share):
            boot_s1[k], boot_st[k] = b1[:, 0], bt[:, 0]
            continue
        noise = np.mean(_noise(sample, tvalid, tn))
        bshare = noise / bvar_all[0] / bvar_ab[0] if bvar_ab[0] > 0 else math.nan
        boot_s1[k], boot_st[k] = _corrected(b1[:, 0], bt[:, 0], np.array(bshare))
    alpha = (1.0 - conf_level) / 2.0

    def interval(estimate: np.ndarray, raw: np.ndarray, boot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = np.full(d, math.nan), np.full(d, math.nan)
        for j in range(d):
            shift = boot[:, j] - raw[j]
            shift = shift[~np.isnan(shift)]         # a resample without variance has no index
            if shift.size:
                lo[j], hi[j] = np.quantile(shift, [alpha, 1.0 - alpha])
        return estimate - hi, estimate - lo

    s1_low, s1_high = interval(s1, s1_raw, boot_s1)
    st_low, st_high = interval(st, st_raw, boot_st)
    return NoisyIndices(s1, s1_low, s1_high, st, st_low, st_high, s1_raw, st_raw, share, note)


def index_warnings(indices: NoisyIndices, j: int, max_noise_share: float) -> str:
    """Why parameter ``j``'s indices should not be read at face value ("" when they can).

    An index whose interval is wider than the index itself; a first-order index below zero
    (beyond noise when its whole interval is); replicate noise above ``max_noise_share`` of the
    variance of the point means, or noise that cannot be estimated.
    """
    out = []
    for col in ("S1", "ST"):
        est, lo, hi = (float(getattr(indices, f"{col}{s}")[j]) for s in ("", "_low", "_high"))
        if not hi - lo <= abs(est):
            out.append(f"{col} interval wider than {col}")
    s1, s1_high = float(indices.S1[j]), float(indices.S1_high[j])
    if s1_high < 0:
        out.append("S1 < 0 beyond noise (more base samples)")
    elif s1 < 0:
        out.append("S1 < 0 within noise (read as 0)")
    if math.isnan(indices.noise_share):
        out.append(indices.noise_note)
    elif indices.noise_share > max_noise_share:
        out.append(f"noise share {indices.noise_share:.2f} > {max_noise_share:g}")
    return "; ".join(out)


def analyse(results: BatchResults, *, replicates: int | None = None,
            base_samples: int | None = None) -> pd.DataFrame:
    """SALib indices of every statistic for every sampled parameter, as one long table.

    Sobol': S1 and ST corrected for replicate noise with their two-level bootstrap interval
    (``*_low``, ``*_high`` at ``conf_level``), SALib's uncorrected ``S1_raw``/``ST_raw``, the
    ``noise_share`` and a ``warning`` (see :func:`index_warnings`). Morris: mu, mu_star (with
    its confidence half-width) and sigma, per unit of the normalised range.

    ``replicates`` and ``base_samples`` (Sobol' only, a power of two) analyse only the first
    runs of each point and the first base rows of the design (a Sobol' sequence's first 2^k
    rows are a design of their own), to measure how the intervals narrow with either.
    Raises SpecError for a subset the batch does not hold.
    """
    exp = results.experiment
    sens = exp.spec.sensitivity
    if sens is None:
        raise SpecError(f"{exp.path}: no [sensitivity] table")
    names = list(exp.spec.sample)
    problem = salib_problem(len(names))
    horizon_h = exp.scenario.scenario.horizon_h
    seed = exp.spec.experiment.seed
    points = len(exp.points)
    outcomes = results.outcomes
    if base_samples is not None:
        if sens.method != "sobol" or base_samples < 2 or base_samples & (base_samples - 1) \
                or base_samples > sens.base_samples:
            raise SpecError(f"{exp.path}: base_samples = {base_samples}: a Sobol' design's first N base rows "
                            f"need N a power of two from 2 to {sens.base_samples}")
        points = base_samples * (len(names) + 2)
        outcomes = outcomes[outcomes["point"] < points]
    if replicates is not None:
        held = int(outcomes["replicate"].max()) + 1
        if not 1 <= replicates <= held:
            raise SpecError(f"{exp.path}: replicates = {replicates}: the batch holds 1 to {held} per point")
        outcomes = outcomes[outcomes["replicate"] < replicates]
    rows = []
    for stat in sens.outcomes:
        values = replicate_values(outcomes, stat, points, horizon_h)
        y = _means(values)
        if np.any(np.isnan(y)):
            raise SpecError(f"{exp.path}: sensitivity.outcomes: {stat!r} is undefined at "
                            f"{int(np.isnan(y).sum())} of {y.size} points (no run there had one); "
                            f"choose another statistic or more replicates")
        if sens.method == "sobol":
            rng = np.random.default_rng(np.random.SeedSequence([seed, SENSITIVITY_STREAM,
                                                                zlib.crc32(stat.encode())]))
            try:
                ind = sobol_with_noise(values, len(names), resamples=sens.resamples,
                                       conf_level=sens.conf_level, rng=rng)
            except SpecError as exc:
                raise SpecError(f"{exp.path}: sensitivity.outcomes: {stat!r}: {exc}") from None
            for j, name in enumerate(names):
                rows.append({"statistic": stat, "parameter": name, "method": "sobol",
                             "S1": ind.S1[j], "S1_low": ind.S1_low[j], "S1_high": ind.S1_high[j],
                             "ST": ind.ST[j], "ST_low": ind.ST_low[j], "ST_high": ind.ST_high[j],
                             "S1_raw": ind.S1_raw[j], "ST_raw": ind.ST_raw[j],
                             "noise_share": ind.noise_share, "replicates": values.shape[1],
                             "warning": index_warnings(ind, j, sens.max_noise_share)})
        else:
            from SALib.analyze import morris

            x = unit_sample(sens, len(names), sample_generator(seed))
            res = morris.analyze(problem, x, y, num_resamples=sens.resamples, conf_level=sens.conf_level,
                                 num_levels=sens.levels, seed=seed)
            for j, name in enumerate(names):
                rows.append({"statistic": stat, "parameter": name, "method": "morris",
                             "mu": res["mu"][j], "mu_star": res["mu_star"][j],
                             "mu_star_conf": res["mu_star_conf"][j], "sigma": res["sigma"][j]})
    return pd.DataFrame(rows)


def warnings_of(table: pd.DataFrame) -> list[str]:
    """One line per row of ``table`` with a warning: ``statistic / parameter: warning``."""
    if "warning" not in table:
        return []
    flagged = table[table["warning"].fillna("").astype(str) != ""]
    return [f"{r.statistic} / {r.parameter}: {r.warning}" for r in flagged.itertuples()]


@dataclass
class SensitivityResults:
    """Indices (one row per statistic and parameter) and the batch they come from."""

    table: pd.DataFrame
    batch: BatchResults


def run(spec: str | Path, *, method: str | None = None, base_samples: int | None = None,
        replicates: int | None = None, **batch: Any) -> SensitivityResults:
    """Run a spec's sensitivity design and analyse it; the Python face of ``ceasefire sensitivity``.

    ``method`` ("sobol" or "morris") and ``base_samples`` override the spec's; other keywords
    go to :func:`sim.studies.experiment.run` (workers, scheduler, out, resume, fmt, progress).
    """
    changes: dict[str, Any] = {}
    if method is not None:
        changes["sensitivity.method"] = method
    if base_samples is not None:
        changes["sensitivity.base_samples"] = base_samples
    if replicates is not None:
        changes["experiment.replicates"] = replicates
    exp = experiment.load_spec(spec, changes or None)
    if exp.spec.sensitivity is None:
        raise SpecError(f"{spec}: no [sensitivity] table (method, base_samples, outcomes); "
                        f"see experiments/sensitivity.toml")
    require_salib()
    results = experiment.run(exp, **batch)
    return SensitivityResults(analyse(results), results)


