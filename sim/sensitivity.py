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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim import experiment
from sim.experiment import BatchResults
from sim.experiment_spec import P_HOLD, SpecError, require_salib, salib_problem, sample_generator, unit_sample
from sim.outcomes import held_at

METHODS = ("sobol", "morris")


def point_statistic(outcomes: pd.DataFrame, name: str, points: int, horizon_h: float) -> np.ndarray:
    """Statistic ``name`` per point (index = point id), averaged over the point's replicates."""
    groups = outcomes.groupby("point", sort=True)
    m = P_HOLD.match(name)
    if name == "collapse_h" or m:
        def per_point(rows: pd.DataFrame) -> float:
            minutes = rows["collapse_min"].to_numpy(dtype=float)
            held = rows["held"].to_numpy(dtype=float) if "held" in rows else None
            if m:
                return held_at(minutes, float(m.group(1)), horizon_h, held)
            if held is not None and np.isnan(held).any():
                return math.nan  # undefined (rule 8 off), not "held to the horizon"
            return float(np.mean(np.where(np.isnan(minutes), horizon_h * 60.0,
                                          np.minimum(minutes, horizon_h * 60.0)))) / 60.0
        values = groups[[c for c in ("collapse_min", "held") if c in outcomes]].apply(per_point)
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
    problem = salib_problem(len(names))
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

            x = unit_sample(sens, len(names), sample_generator(seed))
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
    require_salib()
    results = experiment.run(exp, **batch)
    return SensitivityResults(analyse(results), results)


