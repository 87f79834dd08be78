"""Calibration: estimate a scenario's parameters from its record by ABC-SMC.

Approximate Bayesian computation with sequential Monte Carlo (Toni et al. 2009, J. R. Soc.
Interface 6:187; importance weights and kernel as in Beaumont et al. 2009, Biometrika 96:983):

1. Population 0 draws ``particles`` parameter sets from the priors and simulates each once.
2. Population t keeps a tolerance ``eps_t``: the ``quantile`` of the distances of population
   t - 1. It proposes parameter sets by picking a particle of t - 1 by weight and moving it
   with a Gaussian kernel (covariance: twice the weighted covariance of population t - 1),
   redrawing moves that leave the priors' support, simulates them, and accepts those whose
   distance is at most ``eps_t`` until it has ``particles`` of them. Weights: prior density over
   the kernel mixture, ``w_i ∝ π(θ_i) / Σ_j w_j K(θ_i | θ_j)``.
3. It stops when the budget (total simulations) cannot pay for another population at the last
   acceptance rate, when a population reached tolerance 0 (every statistic inside its reported
   interval: the exact posterior under the record's interval likelihood), or when the acceptance
   rate fell below ``min_acceptance``.

Priors may also sit on observation parameters (``observations.claim_inflation``): those feed the
claim model of each run and are never applied to the scenario. Monitor counts are drawn per run
from ``sim.observations.monitor_seed(S, i)``, apart from the run's model stream.

Parameters live in the *unit space* of their priors: ``z = (g(θ) - g(low)) / (g(high) - g(low))``
with ``g`` the identity (uniform) or the logarithm (log-uniform), so every prior is uniform on
the unit cube and the prior density cancels out of the weights. Integer parameters are rounded
when applied.

Distance: ``d = sqrt(mean_j (e_j / s_j)^2)`` where ``e_j`` is how far statistic ``j`` falls outside
its reported interval (sim.observations; for monitor counts and numeric claims, whose interval is
one point, the value distance ``|g(simulated) - g(observed)|``, ``g = log1p`` by default) and
``s_j`` is the standard deviation of statistic ``j`` over population 0 (the prior predictive),
floored at a tenth of its natural unit, so every statistic weighs by how much it varies under the
priors rather than by its units.

Determinism: simulation ``i`` of a calibration seeded ``S`` (counted over all populations) uses
``sim.runner.run_seed(S, i)``; proposals come from ``SeedSequence(S, spawn_key=(PROPOSALS, t))``;
batch sizes depend only on past results, never on the number of workers.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from sim.observations import (
    OBSERVATION_PARAMETERS,
    Settings,
    Statistic,
    interval_excess,
    load_observations,
    monitor_seed,
    needed_minutes,
    needs_observer,
    observed_bounds,
    observer,
    simulated,
)
from sim.runner import RunPool, map_runs, progress_bar, write_csv_atomic
from sim.scenario import (
    Scenario,
    ScenarioError,
    apply_overrides,
    load_scenario,
    parameter_info,
    read_toml,
    resolve_path,
)

DISTRIBUTIONS = ("uniform", "loguniform")
PROPOSALS = 0x61626373
"""Tag of the proposal streams' spawn keys (two-part keys never equal a run's ``(i,)``)."""
POSTERIOR_DRAWS = 0x706F7374
"""Tag of the stream that draws replicates' parameters from a posterior sample."""
RESERVED_COLUMNS = ("particle", "weight", "distance")
"""Posterior-sample columns that are not scenario parameters."""
MIN_BATCH = 20
ACCEPTANCE_DECAY = 0.7
MAX_BATCH_FACTOR = 20
"""A batch never exceeds this many populations' worth of simulations."""


# -- the spec ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Prior:
    """The prior of one parameter: a key path (``*`` allowed), a distribution and its range."""

    path: str
    distribution: Literal["uniform", "loguniform"]
    low: float
    high: float
    integer: bool = False

    def to_unit(self, x: np.ndarray) -> np.ndarray:
        """Values -> unit space (0 at ``low``, 1 at ``high``)."""
        if self.distribution == "loguniform":
            return (np.log(x) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (np.asarray(x, dtype=float) - self.low) / (self.high - self.low)

    def from_unit(self, z: np.ndarray) -> np.ndarray:
        """Unit space -> values (rounded for integer parameters)."""
        z = np.asarray(z, dtype=float)
        if self.distribution == "loguniform":
            x = np.exp(math.log(self.low) + z * (math.log(self.high) - math.log(self.low)))
        else:
            x = self.low + z * (self.high - self.low)
        return np.round(x) if self.integer else x


@dataclass(frozen=True)
class Spec:
    """A calibration: the scenario, its record, the priors and the algorithm's settings."""

    source: Path
    """The spec file (or the scenario, for a spec built in code)."""
    scenario_path: Path
    events_path: Path
    priors: tuple[Prior, ...]
    particles: int = 200
    budget: int = 20_000
    seed: int = 0
    quantile: float = 0.5
    min_acceptance: float = 0.01
    horizon_h: float | None = None
    """Horizon of the calibration runs; None: as long as the statistics need."""
    settings: Settings = field(default_factory=Settings)

    @property
    def paths(self) -> list[str]:
        return [p.path for p in self.priors]


SPEC_KEYS = {"calibration": ("scenario", "events_file", "particles", "budget", "seed", "quantile",
                             "min_acceptance", "horizon_h"),
             "observations": ("precision_min", "calm_max", "quiet_window_min", "heavy_per_day",
                              "count_scale", "claim_inflation"),
             "priors": ()}
PRIOR_KEYS = ("distribution", "low", "high")


def spec_path_for(scenario: str | Path) -> Path:
    """The calibration spec beside a scenario: ``<name>.calibration.toml``."""
    path = resolve_path(scenario)
    return path.with_name(f"{path.name.removesuffix('.toml')}.calibration.toml")


def load_spec(path: str | Path) -> Spec:
    """Read and check a calibration spec; every problem is a one-line ScenarioError naming the
    file, the key path and the value."""
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"{path}: no such calibration spec (expected <scenario>.calibration.toml "
                            "beside the scenario, with [calibration] and [priors] tables)")
    raw = read_toml(path)
    for key, table in raw.items():
        if key not in SPEC_KEYS:
            raise ScenarioError(f"{path}: {key}: unknown table; allowed: {', '.join(SPEC_KEYS)}")
        if not isinstance(table, dict):
            raise ScenarioError(f"{path}: {key} = {table!r}: must be a table")
        for k in table if key != "priors" else ():
            if k not in SPEC_KEYS[key]:
                raise ScenarioError(f"{path}: {key}.{k}: unknown key; allowed: {', '.join(SPEC_KEYS[key])}")
    cal = raw.get("calibration", {})
    scenario_name = cal.get("scenario")
    if not isinstance(scenario_name, str) or not scenario_name:
        raise ScenarioError(f"{path}: calibration.scenario = {scenario_name!r}: "
                            "must name the scenario file (relative to the spec)")
    scenario_path = (path.parent / scenario_name)
    case = load_scenario(scenario_path)
    events = cal.get("events_file") or case.scenario.events_file
    if not events:
        raise ScenarioError(f"{path}: calibration.events_file: missing, and the scenario names no "
                            "scenario.events_file (the record to calibrate against)")
    events_path = scenario_path.parent / events
    obs = raw.get("observations", {})
    settings = Settings(
        precision_min=_number(path, "observations.precision_min", obs, Settings.precision_min, lo=0),
        calm_max=int(_number(path, "observations.calm_max", obs, Settings.calm_max, lo=0, integer=True)),
        quiet_window_min=_number(path, "observations.quiet_window_min", obs, Settings.quiet_window_min,
                                 lo=0, strict=True),
        heavy_per_day=_number(path, "observations.heavy_per_day", obs, Settings.heavy_per_day, lo=0,
                              strict=True),
        count_scale=_choice(path, "observations.count_scale", obs, Settings.count_scale, ("log", "linear")),
        claim_inflation=_number(path, "observations.claim_inflation", obs, Settings.claim_inflation,
                                lo=0, strict=True))
    priors = _priors(path, raw.get("priors", {}), case)
    horizon = cal.get("horizon_h")
    spec = Spec(
        source=path, scenario_path=scenario_path, events_path=events_path, priors=priors,
        particles=int(_number(path, "calibration.particles", cal, 200, lo=2, integer=True)),
        budget=int(_number(path, "calibration.budget", cal, 20_000, lo=1, integer=True)),
        seed=int(_number(path, "calibration.seed", cal, 0, lo=0, integer=True)),
        quantile=_number(path, "calibration.quantile", cal, 0.5, lo=0, hi=1, strict=True),
        min_acceptance=_number(path, "calibration.min_acceptance", cal, 0.01, lo=0, hi=1),
        horizon_h=None if horizon is None else _number(path, "calibration.horizon_h", cal, 0, lo=0,
                                                       strict=True),
        settings=settings)
    check_budget(spec.budget, spec.particles, f"{path}: calibration.budget")
    return spec


def check_budget(budget: int, particles: int, where: str) -> None:
    """A budget must pay for at least two populations (the prior and one step)."""
    if budget <= 0:
        raise ScenarioError(f"{where} = {budget}: must be a positive number of simulations")
    if budget < 2 * particles:
        raise ScenarioError(f"{where} = {budget}: too small for {particles} particles; "
                            f"needs at least {2 * particles} (two populations)")


def _number(path: Path, key: str, table: Mapping[str, Any], default: float, *, lo: float | None = None,
            hi: float | None = None, strict: bool = False, integer: bool = False) -> float:
    name = key.rsplit(".", 1)[-1]
    value = table.get(name, default)
    kind = "a whole number" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not
                                                                         float(value).is_integer()):
        raise ScenarioError(f"{path}: {key} = {value!r}: must be {kind}")
    if lo is not None and (value <= lo if strict else value < lo):
        raise ScenarioError(f"{path}: {key} = {value!r}: must be {'>' if strict else '≥'} {lo:g}")
    if hi is not None and value > hi:
        raise ScenarioError(f"{path}: {key} = {value!r}: must be ≤ {hi:g}")
    return float(value)


def _choice(path: Path, key: str, table: Mapping[str, Any], default: str, allowed: Sequence[str]) -> Any:
    value = table.get(key.rsplit(".", 1)[-1], default)
    if value not in allowed:
        raise ScenarioError(f"{path}: {key} = {value!r}: allowed: {', '.join(allowed)}")
    return value


def is_observation_parameter(path: str) -> bool:
    """Whether a prior's key path is a parameter of the observation model (``observations.*``):
    it lives in the calibration spec and is never applied to the scenario."""
    return path.startswith("observations.")


def parameter_or_observation_info(key: str) -> dict[str, Any] | None:
    """The definition of a scenario parameter or an observation parameter; None if unknown."""
    if is_observation_parameter(key):
        return OBSERVATION_PARAMETERS.get(key)
    try:
        return parameter_info(key)
    except (KeyError, AttributeError, TypeError):
        return None


def _priors(path: Path, table: Mapping[str, Any], case: Scenario) -> tuple[Prior, ...]:
    if not table:
        raise ScenarioError(f"{path}: priors: no parameters to calibrate; add e.g. "
                            '"sides.*.force.discipline" = '
                            '{ distribution = "uniform", low = 0.3, high = 1.0 }')
    out = []
    for key, entry in table.items():
        where = f'priors."{key}"'
        if not isinstance(entry, dict):
            raise ScenarioError(f"{path}: {where} = {entry!r}: must be a table "
                                "{ distribution = ..., low = ..., high = ... }")
        for k in entry:
            if k not in PRIOR_KEYS:
                raise ScenarioError(f"{path}: {where}.{k}: unknown key; allowed: {', '.join(PRIOR_KEYS)}")
        info = parameter_or_observation_info(key)
        if info is None or isinstance(info["default"], bool) or not (
                isinstance(info["default"], int | float) or any(b in info for b in ("ge", "gt", "le"))):
            raise ScenarioError(f"{path}: {where}: not a numeric scenario parameter "
                                "(key paths as in the scenario file; * matches every name) "
                                f"nor an observation parameter ({', '.join(OBSERVATION_PARAMETERS)})")
        dist = entry.get("distribution", "uniform")
        if dist not in DISTRIBUTIONS:
            raise ScenarioError(f"{path}: {where}.distribution = {dist!r}: "
                                f"allowed: {', '.join(DISTRIBUTIONS)}")
        for k in ("low", "high"):
            v = entry.get(k)
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise ScenarioError(f"{path}: {where}.{k} = {v!r}: must be a number")
        low, high = float(entry["low"]), float(entry["high"])
        if not low < high:
            raise ScenarioError(f"{path}: {where}.low = {low:g}: must be below high = {high:g}")
        if dist == "loguniform" and low <= 0:
            raise ScenarioError(f"{path}: {where}.low = {low:g}: a log-uniform prior needs low > 0")
        for bound, value in (("low", low), ("high", high)):
            allowed = _allowed(info, value)
            if allowed:
                raise ScenarioError(f"{path}: {where}.{bound} = {value:g}: outside the parameter's "
                                    f"range ({allowed})")
            if is_observation_parameter(key):
                continue
            try:
                case.with_overrides({key: value}, origin=f"{path}: {where}.{bound}")
            except ScenarioError as exc:
                raise ScenarioError(str(exc).splitlines()[0]) from None
        integer = isinstance(info["default"], int) and not isinstance(info["default"], bool)
        out.append(Prior(key, dist, low, high, integer))
    return tuple(out)


def _allowed(info: Mapping[str, Any], value: float) -> str:
    """'' if ``value`` is in the parameter's range, else the range in words."""
    if "ge" in info and value < info["ge"]:
        return f"must be ≥ {info['ge']}"
    if "gt" in info and value <= info["gt"]:
        return f"must be > {info['gt']}"
    if "le" in info and value > info["le"]:
        return f"must be ≤ {info['le']}"
    return ""


# -- the algorithm -------------------------------------------------------------------------------

@dataclass
class Population:
    """One population of ABC-SMC: accepted particles, their weights and distances."""

    index: int
    tolerance: float
    z: np.ndarray
    """Particles in unit space, shape (particles, parameters)."""
    values: np.ndarray
    """Particles as parameter values (integers rounded), same shape."""
    weights: np.ndarray
    distances: np.ndarray
    tried: int
    """Simulations this population spent."""

    @property
    def acceptance(self) -> float:
        return len(self.weights) / self.tried if self.tried else math.nan


@dataclass
class Posterior:
    """The result of a calibration: the populations, the statistics and what it cost."""

    spec: Spec
    statistics: list[Statistic]
    scales: np.ndarray
    populations: list[Population]
    simulations: int
    seconds: float
    stop_reason: str
    seed: int
    original: dict[str, float] = field(default_factory=dict)
    """The scenario's own value of each parameter (the first match of a wildcard)."""

    @property
    def last(self) -> Population:
        return self.populations[-1]

    def table(self) -> pd.DataFrame:
        """The posterior sample: one row per particle, with its weight and distance."""
        pop = self.last
        frame = pd.DataFrame({"particle": np.arange(len(pop.weights)), "weight": pop.weights,
                              "distance": pop.distances})
        for k, prior in enumerate(self.spec.priors):
            col = pop.values[:, k]
            frame[prior.path] = col.astype(np.int64) if prior.integer else col
        return frame

    def quantiles(self, q: Sequence[float] = (0.05, 0.5, 0.95)) -> pd.DataFrame:
        """Weighted posterior quantiles of each parameter, beside its prior range."""
        pop = self.last
        rows = []
        for k, prior in enumerate(self.spec.priors):
            qs = weighted_quantile(pop.values[:, k], pop.weights, q)
            rows.append({"parameter": prior.path,
                         "prior": f"{prior.distribution}({prior.low:g}, {prior.high:g})",
                         "scenario": self.original.get(prior.path, math.nan),
                         **{f"q{round(100 * p):02d}": v for p, v in zip(q, qs, strict=True)}})
        return pd.DataFrame(rows)

    def medians(self) -> dict[str, float | int]:
        """Posterior medians, rounded to 4 significant digits (integers for integer parameters)."""
        pop = self.last
        out: dict[str, float | int] = {}
        for k, prior in enumerate(self.spec.priors):
            m = float(weighted_quantile(pop.values[:, k], pop.weights, [0.5])[0])
            out[prior.path] = round(m) if prior.integer else float(f"{m:.4g}")
        return out


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: Sequence[float]) -> np.ndarray:
    """Quantiles of a weighted sample (inverse of the weighted empirical CDF, interpolated)."""
    keep = w > 0  # particles of weight 0 are not in the sample
    x, w = np.asarray(x, dtype=float)[keep], np.asarray(w, dtype=float)[keep]
    order = np.argsort(x, kind="stable")
    xs, ws = x[order], w[order] / w.sum()
    cdf = np.cumsum(ws) - 0.5 * ws
    return np.interp(q, cdf, xs)


def calibration_case(spec: Spec) -> tuple[Scenario, list[Statistic], float]:
    """The scenario shortened to the horizon the statistics need, the statistics, the horizon (min)."""
    case = load_scenario(spec.scenario_path)
    stats = load_observations(case, spec.events_path, spec.settings)
    horizon_h = spec.horizon_h or max(1.0, math.ceil(needed_minutes(stats) / 60.0))
    short = case.with_overrides({"scenario.horizon_h": horizon_h}, origin=str(spec.source))
    return short, stats, horizon_h * 60.0


def calibrate(spec: Spec, *, budget: int | None = None, seed: int | None = None, workers: int = 1,
              particles: int | None = None, progress: bool | None = None,
              stats: list[Statistic] | None = None) -> Posterior:
    """Run ABC-SMC for ``spec`` (budget, seed and particles default to the spec's).

    ``stats`` replaces the statistics read from the record (e.g. synthetic ones for testing).
    Raises ScenarioError for a bad budget; results are identical for any ``workers``.
    """
    spec = replace(spec, budget=spec.budget if budget is None else budget,
                   seed=spec.seed if seed is None else seed,
                   particles=spec.particles if particles is None else particles)
    check_budget(spec.budget, spec.particles, "--budget")
    if spec.seed < 0:
        raise ScenarioError(f"--seed = {spec.seed}: must be ≥ 0")
    case, record_stats, horizon_min = calibration_case(spec)
    stats = record_stats if stats is None else stats
    low, high = observed_bounds(stats)
    observed = needs_observer(stats)
    n, dims = spec.particles, len(spec.priors)
    bar = progress_bar(spec.budget, progress, unit="sim", desc="calibrating")
    used = 0
    started = time.perf_counter()

    def simulate(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nonlocal used
        values = prior_values(spec.priors, z)
        runs = range(used, used + len(z))
        overrides = {i: as_overrides(spec.priors, row) for i, row in zip(runs, values, strict=True)}
        records = map_runs(case, spec.seed, runs, workers=workers, keep_events=True, keep_steps=False,
                           overrides_by_run=overrides, on_done=bar.update if bar else None,
                           pool=pool)
        used += len(z)
        out = []
        for run, row, rec in zip(runs, values, records, strict=True):
            obs = run_observer(case, spec, row, run) if observed else None
            out.append(simulated(stats, rec.events, horizon_min, obs))
        return values, np.array(out)

    # One set of workers for every population: each loads the scenario once.
    pool = RunPool(case, workers) if workers > 1 else None
    try:
        # Population 0: the priors, accepted whole; its spread sets the distance scales.
        rng0 = _generator(spec.seed, 0)
        z0 = rng0.random((n, dims))
        values0, s0 = simulate(z0)
        units = np.array([st.unit for st in stats])
        scales = np.maximum(s0.std(axis=0), 0.1 * units)
        d0 = _distance(s0, low, high, scales)
        pops = [Population(0, math.inf, z0, values0, np.full(n, 1.0 / n), d0, n)]
        _show(bar, pops[-1])
        reason = "budget"
        while True:
            prev = pops[-1]
            eps = float(np.quantile(prev.distances, spec.quantile))
            if prev.tolerance == 0.0:
                reason = "tolerance 0: every statistic inside its reported interval"
                break
            # Start a population only if the budget can pay for it even if acceptance halves
            # (a population cut short by the budget would be thrown away).
            guess = 0.5 * (prev.acceptance if prev.index else spec.quantile)
            if spec.budget - used < n / max(guess, 1e-3):
                break
            pop = _population(spec, prev, eps, simulate, lambda: spec.budget - used, low, high, scales)
            if pop is None:
                break
            pops.append(pop)
            _show(bar, pop)
            if pop.acceptance < spec.min_acceptance:
                reason = f"acceptance {pop.acceptance:.3f} below {spec.min_acceptance:g}"
                break
    finally:
        if bar:
            bar.close()
        if pool is not None:
            pool.close()
    original = _original(load_scenario(spec.scenario_path), spec.priors, spec.settings)
    return Posterior(spec, list(stats), scales, pops, used, time.perf_counter() - started, reason,
                     spec.seed, original)


def _population(spec: Spec, prev: Population, eps: float,
                simulate: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
                remaining: Callable[[], int], low: np.ndarray, high: np.ndarray,
                scales: np.ndarray) -> Population | None:
    """One ABC-SMC population at tolerance ``eps``, or None if the budget ran out first."""
    n = spec.particles
    rng = _generator(spec.seed, prev.index + 1)
    cov = 2.0 * np.atleast_2d(np.cov(prev.z, rowvar=False, aweights=prev.weights))
    cov += np.eye(len(cov)) * 1e-10  # a population collapsed on one value stays invertible
    chol = np.linalg.cholesky(cov)
    zs, vals, ds = [], [], []
    tried = 0
    rate = _expected_acceptance(spec, prev)
    while sum(len(z) for z in zs) < n:
        need = n - sum(len(z) for z in zs)
        batch = min(remaining(), MAX_BATCH_FACTOR * n,
                    max(MIN_BATCH, math.ceil(need / max(rate, 0.01))))
        if batch <= 0:
            return None
        z = _propose(rng, prev, chol, batch)
        values, s = simulate(z)
        d = _distance(s, low, high, scales)
        tried += batch
        ok = np.flatnonzero(d <= eps)[:need]  # in run order, so workers never change the pick
        zs.append(z[ok])
        vals.append(values[ok])
        ds.append(d[ok])
        accepted = sum(len(x) for x in zs)
        rate = max(accepted, 1) / tried
    z = np.concatenate(zs)
    inv = np.linalg.inv(cov)
    diff = z[:, None, :] - prev.z[None, :, :]
    kernel = np.exp(-0.5 * np.einsum("ijk,kl,ijl->ij", diff, inv, diff))
    weights = 1.0 / (kernel @ prev.weights)  # priors are uniform in unit space
    weights /= weights.sum()
    return Population(prev.index + 1, eps, z, np.concatenate(vals), weights, np.concatenate(ds), tried)


def _expected_acceptance(spec: Spec, prev: Population) -> float:
    """Acceptance to expect in the population after ``prev``: it usually falls a little from one
    population to the next (after the prior's, the tolerance keeps ``quantile`` of the distances).
    Sizing batches by it means one batch (one round of worker start-up) per population most often.
    """
    return ACCEPTANCE_DECAY * (prev.acceptance if prev.index else spec.quantile)


def _propose(rng: np.random.Generator, prev: Population, chol: np.ndarray, size: int) -> np.ndarray:
    """``size`` moves of weighted picks from ``prev``, all inside the unit cube."""
    out = np.empty((0, prev.z.shape[1]))
    while len(out) < size:
        k = size - len(out)
        picks = rng.choice(len(prev.weights), size=2 * k, p=prev.weights)
        moved = prev.z[picks] + rng.standard_normal((2 * k, prev.z.shape[1])) @ chol.T
        inside = moved[np.all((moved >= 0.0) & (moved <= 1.0), axis=1)]
        out = np.concatenate([out, inside[:k]])
    return out


def _distance(s: np.ndarray, low: np.ndarray, high: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Scaled distance of each run's statistics from the reported intervals (module docstring)."""
    e = interval_excess(s, low, high) / scales
    return np.sqrt(np.mean(e * e, axis=1))


def _generator(seed: int, population: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(
        np.random.SeedSequence(seed, spawn_key=(PROPOSALS, population))))


def prior_values(priors: Sequence[Prior], z: np.ndarray) -> np.ndarray:
    """Points of the unit cube (rows) as parameter values, one column per prior."""
    return np.column_stack([p.from_unit(z[:, k]) for k, p in enumerate(priors)])


def as_overrides(priors: Sequence[Prior], row: np.ndarray) -> dict[str, float | int]:
    """One row of parameter values as scenario overrides (key path -> value); observation
    parameters (``observations.*``) are left out."""
    return {p.path: (int(v) if p.integer else float(v)) for p, v in zip(priors, row, strict=True)
            if not is_observation_parameter(p.path)}


def run_observer(case: Scenario, spec: Spec, row: np.ndarray, run: int) -> Any:
    """The observation model of calibration run ``run`` with parameter values ``row``.

    Peacekeepers' parameters (``peacekeepers.*``, e.g. ``recorded_per_incident_mean``) come from
    the run's overrides, the claim inflation from its prior or the spec's setting; the monitor's
    draws from :func:`sim.observations.monitor_seed` of the run, apart from the model's stream.
    """
    values = {p.path: float(v) for p, v in zip(spec.priors, row, strict=True)}
    monitors = {k: v for k, v in values.items() if k.startswith("peacekeepers.")}
    here = case.with_overrides(monitors, origin="calibration") if monitors else case
    return observer(here, monitor_seed(spec.seed, run), spec.settings,
                    claim_inflation=values.get("observations.claim_inflation"))


def _original(case: Scenario, priors: Sequence[Prior], settings: Settings | None = None) -> dict[str, float]:
    """The scenario's own value of each calibrated parameter (first match of a wildcard); the
    spec's setting for observation parameters."""
    raw = case.model_dump(mode="python")
    out = {}
    for p in priors:
        if is_observation_parameter(p.path):
            out[p.path] = float(getattr(settings or Settings(), p.path.split(".", 1)[1]))
            continue
        node: Any = raw
        for part in p.path.split("."):
            if part == "*" and isinstance(node, dict) and node:
                node = next(iter(node.values()))
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                node = None
                break
        if isinstance(node, int | float) and not isinstance(node, bool):
            out[p.path] = float(node)
    return out


def _show(bar: Any, pop: Population) -> None:
    if bar:
        bar.set_postfix_str(f"population {pop.index}, tolerance {pop.tolerance:.3g}, "
                            f"acceptance {pop.acceptance:.2f}")


# -- outputs -------------------------------------------------------------------------------------

def write_posterior(posterior: Posterior, path: str | Path) -> Path:
    """Write the posterior sample (one row per particle, with weight) as CSV, atomically."""
    return write_csv_atomic(posterior.table(), Path(path))


def write_calibrated(posterior: Posterior, path: str | Path, *, sample_name: str = "") -> Path:
    """Write the scenario with the posterior medians applied, as TOML, atomically.

    The overrides are applied to the scenario file's own data (so a wildcard reaches every
    match, and keys the file leaves to defaults stay so); the comments of the original are not
    kept, a header says where the numbers come from. Needs ``tomli_w`` (the calibration extra).
    """
    try:
        import tomli_w
    except ModuleNotFoundError:  # pragma: no cover - depends on the environment
        raise ScenarioError("writing a calibrated scenario needs tomli_w: "
                            "pip install 'ceasefire-sim[calibration]'") from None
    spec = posterior.spec
    raw = read_toml(spec.scenario_path)
    name = raw.get("scenario", {}).get("name", spec.scenario_path.stem)
    medians = {k: v for k, v in posterior.medians().items() if not is_observation_parameter(k)}
    changes = {**medians, "scenario.name": f"{name}-calibrated"}  # results apart
    raw = apply_overrides(raw, changes, origin=str(spec.source))
    pop = posterior.last
    header = [
        f"# Calibrated from {spec.scenario_path.name} against {spec.events_path.name} by",
        f"# `ceasefire calibrate` (ABC-SMC; spec {spec.source.name}; seed {posterior.seed};",
        f"# {posterior.simulations} simulations, {len(posterior.populations)} populations, final "
        f"tolerance {pop.tolerance:.4g}).",
        "# Calibrated parameters are set to their posterior medians; the whole posterior sample",
        f"# is {sample_name or 'the posterior CSV beside this file'}: "
        "`ceasefire run SCENARIO --posterior FILE` draws from it.",
        "# Generated file: edit the original scenario or the spec and recalibrate instead.",
    ]
    for prior in spec.priors:
        i = spec.priors.index(prior)
        q05, q95 = weighted_quantile(pop.values[:, i], pop.weights, [0.05, 0.95])
        header.append(f"#   {prior.path} = {posterior.medians()[prior.path]}  "
                      f"(90%: {q05:.3g} to {q95:.3g}; "
                      f"prior {prior.distribution} {prior.low:g} to {prior.high:g})")
    text = "\n".join(header) + "\n\n" + tomli_w.dumps(raw)
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        load_scenario(tmp)  # never leave behind a calibrated file that does not load
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


# -- drawing replicates from a posterior ----------------------------------------------------------

def read_posterior(path: str | Path) -> pd.DataFrame:
    """Read and check a posterior sample: parameter columns are scenario key paths, weights ≥ 0."""
    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: not a posterior sample CSV: {exc}") from None
    if "weight" not in frame.columns:
        raise ScenarioError(f"{path}: no 'weight' column (a posterior sample has one row per particle "
                            "with its weight and one column per parameter key path)")
    params = [c for c in frame.columns if c not in RESERVED_COLUMNS]
    if not params or len(frame) == 0:
        raise ScenarioError(f"{path}: no parameter columns or no rows")
    for c in params:
        if parameter_or_observation_info(c) is None:
            raise ScenarioError(f"{path}: column {c!r}: not a scenario key path "
                                "(e.g. sides.*.force.discipline)")
        if not pd.api.types.is_numeric_dtype(frame[c]) or frame[c].isna().any():
            raise ScenarioError(f"{path}: column {c!r}: every value must be a number")
        infinite = frame.index[~np.isfinite(frame[c].to_numpy(dtype=float))]
        if len(infinite):
            i = infinite[0]
            raise ScenarioError(f"{path}: row {i + 2}: {c} = {frame.at[i, c]}: must be a finite number")
    w = pd.to_numeric(frame["weight"], errors="coerce")
    bad = frame.index[w.isna() | (w < 0)]
    if len(bad):
        i = bad[0]
        raise ScenarioError(f"{path}: row {i + 2}: weight = {frame.at[i, 'weight']}: must be a number ≥ 0")
    if not w.sum() > 0:
        raise ScenarioError(f"{path}: weight: all weights are 0")
    return frame


def posterior_overrides(path: str | Path, runs: int, seed: int) -> dict[int, dict[str, Any]]:
    """Parameters for replicates 0 .. runs-1, each a particle drawn by weight from a posterior sample.

    The draws come from their own stream of ``seed`` (not the runs' streams), so the same seed
    gives the same parameters to the same replicates. Pass the result to
    ``sim.runner.map_runs(..., overrides_by_run=...)``. Raises ScenarioError for a bad file.
    """
    if runs < 1:
        raise ValueError(f"runs must be ≥ 1, got {runs}")
    return draw_overrides(read_posterior(path), runs, seed)


def draw_overrides(table: pd.DataFrame, runs: int, seed: int, *,
                   observations: bool = False) -> dict[int, dict[str, Any]]:
    """Like :func:`posterior_overrides`, from a posterior table already in memory.

    ``observations=True`` keeps the observation parameters (``observations.*``) in each run's
    draw, for a scorer that feeds them to the run's claim model (the same picks either way)."""
    params = [c for c in table.columns if c not in RESERVED_COLUMNS
              and (observations or not is_observation_parameter(c))]
    w = table["weight"].to_numpy(dtype=float)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(POSTERIOR_DRAWS, 0))))
    picks = rng.choice(len(table), size=runs, p=w / w.sum())
    columns = {c: table[c].tolist() for c in params}
    return {i: {c: columns[c][int(k)] for c in params} for i, k in enumerate(picks)}


def apply_medians(case: Scenario, posterior: Posterior) -> Scenario:
    """``case`` with the posterior medians applied (for the Python API)."""
    medians = {k: v for k, v in posterior.medians().items() if not is_observation_parameter(k)}
    return case.with_overrides(medians, origin="posterior medians")
