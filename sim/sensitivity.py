"""Global sensitivity analysis with SALib: which parameters decide a ceasefire's fate?

A spec's ``[sensitivity]`` table picks the method; its ``[sample]`` ranges are the inputs.
The design is drawn on the unit cube by SALib (Saltelli/Sobol' sequence for Sobol' indices,
trajectories for Morris screening) and mapped onto each range exactly as a Latin-hypercube
sample would be (see SampleRange.scale). Each design point is run ``replicates`` times like any
experiment batch, and each statistic is averaged over the replicates of a point before SALib
analyses it, so the indices describe the model's expected behaviour, not one run's noise.

Statistics (per point, over its replicates):

- ``collapse_h``: mean hours to collapse, counting a ceasefire that held as collapsing at the
  horizon (the restricted mean survival time);
- ``p_hold_<H>h``: share of runs still holding ``H`` hours after t = 0;
- any numeric outcome of sim.outcomes (``violations_per_h``, ...): its mean over the runs
  that had one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim import experiment
from sim.experiment import BatchResults, SensitivitySpec, SpecError
from sim.outcomes import OUTCOMES, held_at

_P_HOLD = re.compile(r"^p_hold_(\d+(?:\.\d+)?)h$")
METHODS = ("sobol", "morris")


def _problem(d: int) -> dict[str, Any]:
    return {"num_vars": d, "names": [f"x{i}" for i in range(d)], "bounds": [[0.0, 1.0]] * d}


def unit_sample(sens: SensitivitySpec, d: int, rng: np.random.Generator) -> np.ndarray:
    """The design on the unit cube: rows are points, columns the ``d`` sampled parameters."""
    _require_salib()
    if sens.method == "sobol":
        from SALib.sample import sobol

        return sobol.sample(_problem(d), sens.base_samples, calc_second_order=False, seed=rng)
    from SALib.sample import morris

    return morris.sample(_problem(d), sens.base_samples, num_levels=sens.levels, seed=rng)


def check_statistic(name: str, kept: Sequence[str], horizon_h: float) -> str | None:
    """Why statistic ``name`` cannot be computed from outcomes ``kept`` (None if it can)."""
    m = _P_HOLD.match(name)
    if name == "collapse_h" or m:
        if m and float(m.group(1)) > horizon_h:
            return f"beyond the horizon ({horizon_h} h)"
        return None if "collapse_min" in kept else "needs 'collapse_min' in experiment.outcomes"
    if name in OUTCOMES and name != "held":
        return None if name in kept else f"needs {name!r} in experiment.outcomes"
    if name == "held":
        return None if name in kept else "needs 'held' in experiment.outcomes"
    return (f"unknown statistic; allowed: collapse_h, p_hold_<H>h (e.g. p_hold_72h), "
            f"{', '.join(OUTCOMES)}")


def point_statistic(outcomes: pd.DataFrame, name: str, points: int, horizon_h: float) -> np.ndarray:
    """Statistic ``name`` per point (index = point id), averaged over the point's replicates."""
    groups = outcomes.groupby("point", sort=True)
    m = _P_HOLD.match(name)
    if name == "collapse_h" or m:
        def per_point(c: pd.Series) -> float:
            minutes = c.to_numpy(dtype=float)
            if m:
                return held_at(minutes, float(m.group(1)), horizon_h)
            return float(np.mean(np.where(np.isnan(minutes), horizon_h * 60.0,
                                          np.minimum(minutes, horizon_h * 60.0)))) / 60.0
        values = groups["collapse_min"].apply(per_point)
    else:
        values = groups[name].apply(lambda c: float(np.nanmean(c.to_numpy(dtype=float)))
                                    if np.any(~np.isnan(c.to_numpy(dtype=float))) else math.nan)
    return values.reindex(range(points)).to_numpy(dtype=float)


def analyse(results: BatchResults) -> pd.DataFrame:
    """SALib indices of every statistic for every sampled parameter, as one long table.

    Sobol': S1 and ST with their confidence half-widths; Morris: mu, mu_star (with its
    confidence half-width) and sigma, per unit of the normalised range.
    """
    exp = results.experiment
    sens = exp.spec.sensitivity
    if sens is None:
        raise SpecError(f"{exp.path}: no [sensitivity] table")
    names = list(exp.spec.sample)
    problem = _problem(len(names))
    horizon_h = exp.scenario.scenario.horizon_h
    rows = []
    for stat in sens.outcomes:
        y = point_statistic(results.outcomes, stat, len(exp.points), horizon_h)
        if np.any(np.isnan(y)):
            raise SpecError(f"{exp.path}: sensitivity.outcomes: {stat!r} is undefined at "
                            f"{int(np.isnan(y).sum())} of {y.size} points (no run there had one); "
                            f"choose another statistic or more replicates")
        seed = exp.spec.experiment.seed
        if sens.method == "sobol":
            from SALib.analyze import sobol

            res = sobol.analyze(problem, y, calc_second_order=False, num_resamples=sens.resamples,
                                conf_level=sens.conf_level, seed=seed)
            for j, name in enumerate(names):
                rows.append({"statistic": stat, "parameter": name, "method": "sobol",
                             "S1": res["S1"][j], "S1_conf": res["S1_conf"][j],
                             "ST": res["ST"][j], "ST_conf": res["ST_conf"][j]})
        else:
            from SALib.analyze import morris

            x = unit_sample(sens, len(names), experiment.sample_generator(seed))
            res = morris.analyze(problem, x, y, num_resamples=sens.resamples, conf_level=sens.conf_level,
                                 num_levels=sens.levels, seed=seed)
            for j, name in enumerate(names):
                rows.append({"statistic": stat, "parameter": name, "method": "morris",
                             "mu": res["mu"][j], "mu_star": res["mu_star"][j],
                             "mu_star_conf": res["mu_star_conf"][j], "sigma": res["sigma"][j]})
    return pd.DataFrame(rows)


@dataclass
class SensitivityResults:
    """Indices (one row per statistic and parameter) and the batch they come from."""

    table: pd.DataFrame
    batch: BatchResults


def run(spec: str | Path, *, method: str | None = None, base_samples: int | None = None,
        replicates: int | None = None, **batch: Any) -> SensitivityResults:
    """Run a spec's sensitivity design and analyse it; the Python face of ``ceasefire sensitivity``.

    ``method`` ("sobol" or "morris") and ``base_samples`` override the spec's; other keywords
    go to :func:`sim.experiment.run` (workers, scheduler, out, resume, fmt, progress).
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
    _require_salib()
    results = experiment.run(exp, **batch)
    return SensitivityResults(analyse(results), results)


def _require_salib() -> None:
    try:
        import SALib  # noqa: F401
    except ImportError:
        raise SpecError("sensitivity analysis needs SALib: pip install 'ceasefire-sim[experiments]'") \
            from None
