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
4. With ``adjustment = "regression"`` the last population is corrected by local linear
   regression (Beaumont, Zhang & Balding 2002, Genetics 162:2025): each parameter, on the logit
   of its unit space, is regressed on the accepted particles' signed, scaled misfits with
   Epanechnikov weights ``w_i (1 - (d_i / eps)^2)``, and every particle is moved to where the
   regression puts it at zero misfit. The tolerance blurs a posterior by as much as a statistic
   moves within it, so intervals as accepted hold the truth too often; the adjustment removes
   the part of that blur that is linear in the misfit (:func:`regression_adjust`). The default,
   ``"none"``, keeps the last population as accepted: the simulation-based check (sim.studies.sbc)
   finds the adjustment close to calibrated with a few statistics and over-confident with many.

Priors may also sit on observation parameters (``observations.claim_inflation``): those feed the
claim model of each run and are never applied to the scenario. Monitor counts are drawn per run
from ``sim.records.observations.monitor_seed(S, i)``, apart from the run's model stream.

Parameters live in the *unit space* of their priors: ``z = (g(θ) - g(low)) / (g(high) - g(low))``
with ``g`` the identity (uniform) or the logarithm (log-uniform), so every prior is uniform on
the unit cube and the prior density cancels out of the weights. Integer parameters are rounded
when applied.

Distance: ``d = sqrt(mean_j (e_j / s_j)^2)`` where ``e_j`` is how far statistic ``j`` falls outside
its reported interval (sim.records.observations; for monitor counts and numeric claims, whose interval is
one point, the value distance ``|g(simulated) - g(observed)|``, ``g = log1p`` by default) and
``s_j`` is the standard deviation of statistic ``j`` over population 0 (the prior predictive),
floored at a tenth of its natural unit, so every statistic weighs by how much it varies under the
priors rather than by its units.

Record sets (``calibrate_set``, specs ``calibrations/<name>.toml``): several records that share
some parameters, calibrated at once with an adaptive distance, an ESS stop and categorical priors
for ABC model choice; see the comment that opens that section below.

Determinism: simulation ``i`` of a calibration seeded ``S`` (counted over all populations) uses
``sim.studies.runner.run_seed(S, i)``; proposals come from ``SeedSequence(S, spawn_key=(PROPOSALS, t))``;
batch sizes depend only on past results, never on the number of workers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from sim.model.scenario import (
    Scenario,
    ScenarioError,
    apply_overrides,
    load_scenario,
    parameter_info,
    read_toml,
    resolve_path,
)
from sim.records.observations import (
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
from sim.studies.runner import RunPool, map_runs, progress_bar, write_csv_atomic
from sim.studies.tables import write_atomic

DISTRIBUTIONS = ("uniform", "loguniform")
ADJUSTMENTS = ("none", "regression")
ADJUSTMENT_COLUMNS = ("parameter", "statistics_used", "ridge_penalty", "r2", "median_shift_unit",
                      "ess_before", "ess_after")
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
class Choice:
    """A categorical prior for ABC model choice: one of ``values`` (text or true/false), each with
    prior probability ``1 / len(values)``. Particles hold the value's index."""

    path: str
    values: tuple[Any, ...]
    distribution: Literal["choice"] = "choice"

    def describe(self) -> str:
        return "choice(" + ", ".join(map(str, self.values)) + ")"


@dataclass(frozen=True, kw_only=True)
class Algorithm:
    """The ABC-SMC settings a spec's ``[calibration]`` table gives, for one record or a set."""

    particles: int = 200
    budget: int = 20_000
    """Most simulations (in a set, a particle costs one simulation per record)."""
    seed: int = 0
    quantile: float = 0.5
    """Each population's tolerance: this quantile of the previous population's distances."""
    min_acceptance: float = 0.01
    min_ess: float | None = None
    """Stop once a population's effective sample size falls below this (None: a quarter of the
    particles). Stop rather than resample: every population is already drawn from the last by
    weight (Beaumont et al. 2009), so a resampling step would add noise and nothing else; a low
    ESS means the tolerance fell faster than the kernel can follow, and further populations would
    be built on a handful of distinct particles."""
    choice_keep: float = 0.7
    """Chance the kernel keeps a categorical value (else: uniform among the other values)."""
    adjustment: Literal["none", "regression"] = "none"
    """``"none"``: the last population as accepted (conservative: its intervals over-cover);
    ``"regression"``: corrected by local linear regression on the misfits (:func:`regression_adjust`,
    step 4 of the module docstring; checked on a few statistics only)."""

    @property
    def ess_floor(self) -> float:
        return self.particles / 4 if self.min_ess is None else self.min_ess

    def algorithm(self) -> dict[str, Any]:
        """These settings as keyword arguments (to carry them from one spec to another)."""
        return {f.name: getattr(self, f.name) for f in fields(Algorithm)}


ALGORITHM_KEYS = ("particles", "budget", "seed", "quantile", "min_acceptance", "min_ess", "choice_keep",
                  "adjustment")


def _algorithm(path: Path, cal: Mapping[str, Any]) -> dict[str, Any]:
    """The ``[calibration]`` table's algorithm settings, checked (one line naming the key)."""
    min_ess = cal.get("min_ess")
    out = {
        "particles": int(_number(path, "calibration.particles", cal, 200, lo=2, integer=True)),
        "budget": int(_number(path, "calibration.budget", cal, 20_000, lo=1, integer=True)),
        "seed": int(_number(path, "calibration.seed", cal, 0, lo=0, integer=True)),
        "quantile": _number(path, "calibration.quantile", cal, 0.5, lo=0, hi=1, strict=True),
        "min_acceptance": _number(path, "calibration.min_acceptance", cal, 0.01, lo=0, hi=1),
        "min_ess": None if min_ess is None else _number(path, "calibration.min_ess", cal, 0, lo=0),
        "choice_keep": _number(path, "calibration.choice_keep", cal, 0.7, lo=0, hi=1),
        "adjustment": _choice(path, "calibration.adjustment", cal, "none", ADJUSTMENTS)}
    if out["min_ess"] is not None and out["min_ess"] > out["particles"]:
        raise ScenarioError(f"{path}: calibration.min_ess = {out['min_ess']:g}: must be ≤ particles "
                            f"= {out['particles']} (the ESS never exceeds the number of particles)")
    return out


@dataclass(frozen=True)
class Spec(Algorithm):
    """A calibration of one record: the scenario, its record, the priors, and the algorithm's
    settings (:class:`Algorithm`). It runs as a set of one (:func:`as_set_spec`)."""

    source: Path
    """The spec file (or the scenario, for a spec built in code)."""
    scenario_path: Path
    events_path: Path
    priors: tuple[Prior, ...]
    horizon_h: float | None = None
    """Horizon of the calibration runs; None: as long as the statistics need."""
    settings: Settings = field(default_factory=Settings)

    @property
    def paths(self) -> list[str]:
        return [p.path for p in self.priors]

    def parameters(self) -> list[tuple[str, Prior, int | None]]:
        """(column, prior, None) per prior: the layout of :meth:`SetSpec.parameters`."""
        return [(p.path, p, None) for p in self.priors]


SPEC_KEYS = {"calibration": ("scenario", "events_file",  # no choice_keep: one record has no choice priors
                             *(k for k in ALGORITHM_KEYS if k != "choice_keep"), "horizon_h"),
             "observations": ("precision_min", "calm_max", "quiet_window_min", "heavy_per_day",
                              "count_scale", "claim_inflation"),
             "priors": ()}
PRIOR_KEYS = ("distribution", "low", "high")
CHOICE_KEYS = ("distribution", "values")


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
    settings = _observation_settings(path, "observations", raw.get("observations", {}), Settings())
    priors = _priors(path, raw.get("priors", {}), (case,))
    horizon = cal.get("horizon_h")
    spec = Spec(
        source=path, scenario_path=scenario_path, events_path=events_path, priors=priors,
        horizon_h=None if horizon is None else _number(path, "calibration.horizon_h", cal, 0, lo=0,
                                                       strict=True),
        settings=settings, **_algorithm(path, cal))
    check_budget(spec.budget, spec.particles, f"{path}: calibration.budget")
    return spec


def _observation_settings(path: Path, prefix: str, table: Mapping[str, Any], base: Settings) -> Settings:
    """An ``[observations]`` table read over ``base`` (keys it leaves out keep ``base``'s values)."""
    if not isinstance(table, dict):
        raise ScenarioError(f"{path}: {prefix} = {table!r}: must be a table")
    for k in table:
        if k not in SPEC_KEYS["observations"]:
            raise ScenarioError(f"{path}: {prefix}.{k}: unknown key; "
                                f"allowed: {', '.join(SPEC_KEYS['observations'])}")
    return Settings(
        precision_min=_number(path, f"{prefix}.precision_min", table, base.precision_min, lo=0),
        calm_max=int(_number(path, f"{prefix}.calm_max", table, base.calm_max, lo=0, integer=True)),
        quiet_window_min=_number(path, f"{prefix}.quiet_window_min", table, base.quiet_window_min,
                                 lo=0, strict=True),
        heavy_per_day=_number(path, f"{prefix}.heavy_per_day", table, base.heavy_per_day, lo=0,
                              strict=True),
        count_scale=_choice(path, f"{prefix}.count_scale", table, base.count_scale, ("log", "linear")),
        claim_inflation=_number(path, f"{prefix}.claim_inflation", table, base.claim_inflation,
                                lo=0, strict=True))


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


def _priors(path: Path, table: Mapping[str, Any], cases: Sequence[Scenario], *, prefix: str = "priors",
            choices: bool = False) -> tuple[Prior | Choice, ...]:
    """Check a ``[priors]`` table against every scenario in ``cases`` (a prior must apply to each).

    ``choices``: whether categorical priors (``distribution = "choice"``) are allowed (set specs).
    """
    if not table:
        raise ScenarioError(f"{path}: {prefix}: no parameters to calibrate; add e.g. "
                            '"sides.*.force.discipline" = '
                            '{ distribution = "uniform", low = 0.3, high = 1.0 }')
    out: list[Prior | Choice] = []
    for key, entry in table.items():
        where = f'{prefix}."{key}"'
        if not isinstance(entry, dict):
            raise ScenarioError(f"{path}: {where} = {entry!r}: must be a table "
                                "{ distribution = ..., low = ..., high = ... }")
        if entry.get("distribution") == "choice":
            if not choices:
                raise ScenarioError(f"{path}: {where}.distribution = 'choice': categorical priors "
                                    "need a set spec (calibrations/*.toml, calibrate_set)")
            out.append(_choice_prior(path, where, key, entry, cases))
            continue
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
            allowed = (*DISTRIBUTIONS, "choice") if choices else DISTRIBUTIONS
            raise ScenarioError(f"{path}: {where}.distribution = {dist!r}: "
                                f"allowed: {', '.join(allowed)}")
        for k in ("low", "high"):
            v = entry.get(k)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ScenarioError(f"{path}: {where}.{k} = {v!r}: must be a finite number")
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
            for case in cases:
                try:
                    case.with_overrides({key: value}, origin=f"{path}: {where}.{bound}")
                except ScenarioError as exc:
                    raise ScenarioError(_first_line(exc, case)) from None
        integer = isinstance(info["default"], int) and not isinstance(info["default"], bool)
        out.append(Prior(key, dist, low, high, integer))
    return tuple(out)


def _first_line(exc: ScenarioError, case: Scenario) -> str:
    """The first line of a scenario error, naming the scenario when a set holds several."""
    return f"{str(exc).splitlines()[0]} (scenario {case.scenario.name})"


def _choice_prior(path: Path, where: str, key: str, entry: Mapping[str, Any],
                  cases: Sequence[Scenario]) -> Choice:
    """A categorical prior on a string or true/false scenario key, checked against every case."""
    for k in entry:
        if k not in CHOICE_KEYS:
            raise ScenarioError(f"{path}: {where}.{k}: unknown key; allowed: {', '.join(CHOICE_KEYS)}")
    if is_observation_parameter(key):
        raise ScenarioError(f"{path}: {where}: a choice prior needs a scenario key, not an "
                            "observation parameter")
    info = parameter_or_observation_info(key)
    if info is None or not isinstance(info["default"], str | bool):
        raise ScenarioError(f"{path}: {where}: not a text or true/false scenario parameter "
                            "(a choice prior is for keys such as sides.*.force.retaliation.policy "
                            "or rules.commitment)")
    values = entry.get("values")
    if (not isinstance(values, list) or len(values) < 2 or len(set(map(repr, values))) != len(values)
            or not all(isinstance(v, type(info["default"])) for v in values)):
        kind = "true/false values" if isinstance(info["default"], bool) else "strings"
        raise ScenarioError(f"{path}: {where}.values = {values!r}: must list at least two different "
                            f"{kind}")
    for value in values:
        for case in cases:
            try:
                case.with_overrides({key: value}, origin=f"{path}: {where}.values")
            except ScenarioError as exc:
                raise ScenarioError(_first_line(exc, case)) from None
    return Choice(key, tuple(values))


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
    misfits: np.ndarray | None = None
    """Signed misfit of each accepted particle's statistics, per statistic over its scale (0 inside
    the reported interval), every record's side by side (:func:`set_misfits`). Shape (particles,
    statistics)."""

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
    history: list[dict[str, Any]] = field(default_factory=list)
    """Per population: tolerance, acceptance, ESS, simulations."""
    adjusted: Population | None = None
    """The last population after the regression adjustment (None: ``adjustment = "none"``, or
    nothing to regress on)."""
    adjustment: list[dict[str, Any]] = field(default_factory=list)
    """Per adjusted parameter: ridge penalty, weighted R² of the fit, median shift (unit space)."""

    @property
    def last(self) -> Population:
        """The last population as accepted (before any adjustment)."""
        return self.populations[-1]

    @property
    def final(self) -> Population:
        """The posterior sample: the adjusted last population if there is one, else the last."""
        return self.adjusted if self.adjusted is not None else self.populations[-1]

    def adjustment_table(self) -> pd.DataFrame:
        """One row per adjusted parameter (empty without an adjustment)."""
        return pd.DataFrame(self.adjustment, columns=list(ADJUSTMENT_COLUMNS))

    def populations_table(self) -> pd.DataFrame:
        """One row per population: tolerance, acceptance, ESS, simulations."""
        return pd.DataFrame(self.history)

    def table(self) -> pd.DataFrame:
        """The posterior sample, one row per particle: particle, weight, distance, then the
        (shared) key paths and, for a set, ``<record>::<key path>``."""
        pop = self.final
        frame = pd.DataFrame({"particle": np.arange(len(pop.weights)), "weight": pop.weights,
                              "distance": pop.distances})
        for k, (column, prior, _) in enumerate(self.spec.parameters()):
            col = pop.values[:, k]
            if isinstance(prior, Choice):
                frame[column] = [prior.values[int(i)] for i in col]
            else:
                frame[column] = col.astype(np.int64) if prior.integer else col
        return frame

    def quantiles(self, q: Sequence[float] = (0.05, 0.5, 0.95)) -> pd.DataFrame:
        """Weighted quantiles of each numeric parameter, with its prior and the width ratio
        (posterior 90% over prior 90%, in the prior's unit space)."""
        pop = self.final
        rows = []
        for k, (column, prior, _) in enumerate(self.spec.parameters()):
            if isinstance(prior, Choice):
                continue
            qs = weighted_quantile(pop.values[:, k], pop.weights, q)
            z05, z95 = weighted_quantile(pop.z[:, k], pop.weights, [0.05, 0.95])
            rows.append({"parameter": column,
                         "prior": f"{prior.distribution}({prior.low:g}, {prior.high:g})",
                         "scenario": self.original.get(column, math.nan),
                         **{f"q{round(100 * p):02d}": v for p, v in zip(q, qs, strict=True)},
                         "width_ratio": (z95 - z05) / 0.9})
        return pd.DataFrame(rows)

    def medians(self) -> dict[str, float | int]:
        """Posterior medians of the numeric parameters, rounded to 4 significant digits
        (integers for integer parameters)."""
        pop = self.final
        out: dict[str, float | int] = {}
        for k, (column, prior, _) in enumerate(self.spec.parameters()):
            if isinstance(prior, Prior):
                m = float(weighted_quantile(pop.values[:, k], pop.weights, [0.5])[0])
                out[column] = round(m) if prior.integer else float(f"{m:.4g}")
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
    """The scenario shortened to the horizon the statistics need, the statistics, the horizon
    (min): :func:`record_case` of the spec's one record."""
    return record_case(as_set_spec(spec).records[0])


def calibrate(spec: Spec, *, budget: int | None = None, seed: int | None = None, workers: int = 1,
              particles: int | None = None, progress: bool | None = None) -> Posterior:
    """Run ABC-SMC for ``spec`` (budget, seed and particles default to the spec's).

    One record is a set of one: the same engine as :func:`calibrate_set` (adaptive distance,
    ESS stop, per-population history), with every prior shared, so the posterior's columns are
    the plain key paths. Raises ScenarioError for a bad budget; results are identical for any
    ``workers``.
    """
    spec = replace(spec, budget=spec.budget if budget is None else budget,
                   seed=spec.seed if seed is None else seed,
                   particles=spec.particles if particles is None else particles)
    check_budget(spec.budget, spec.particles, "--budget")
    post = calibrate_set(as_set_spec(spec), workers=workers, progress=progress)
    original = original_values(load_scenario(spec.scenario_path), spec.priors, spec.settings)
    return Posterior(spec, post.statistics, post.scales, post.populations, post.simulations, post.seconds,
                     post.stop_reason, post.seed, original, history=post.history, adjusted=post.adjusted,
                     adjustment=post.adjustment)


def as_set_spec(spec: Spec) -> SetSpec:
    """A single-record spec as a set of one record whose priors are all shared."""
    rec = RecordSpec(spec.scenario_path.name.removesuffix(".toml"), spec.scenario_path, spec.events_path,
                     (), spec.settings, spec.horizon_h)
    return SetSpec(spec.source, (rec,), spec.priors, **spec.algorithm())


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
    draws from :func:`sim.records.observations.monitor_seed` of the run, apart from the model's stream.
    """
    values = {p.path: float(v) for p, v in zip(spec.priors, row, strict=True)}
    monitors = {k: v for k, v in values.items() if k.startswith("peacekeepers.")}
    here = case.with_overrides(monitors, origin="calibration") if monitors else case
    return observer(here, monitor_seed(spec.seed, run), spec.settings,
                    claim_inflation=values.get("observations.claim_inflation"))


def original_values(case: Scenario, priors: Sequence[Prior], settings: Settings | None = None,
                    ) -> dict[str, float]:
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
    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")
        load_scenario(tmp)  # never leave behind a calibrated file that does not load
    return write_atomic(Path(path), write)


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
        info = parameter_or_observation_info(c.split(SEPARATOR, 1)[-1])
        if info is None:
            raise ScenarioError(f"{path}: column {c!r}: not a scenario key path "
                                "(e.g. sides.*.force.discipline, or <record>::<key path> in a set's "
                                "posterior)")
        if isinstance(info["default"], str | bool):  # a choice prior's column: checked when applied
            continue
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


def posterior_overrides(path: str | Path, runs: int, seed: int, *,
                        record: str = "") -> dict[int, dict[str, Any]]:
    """Parameters for replicates 0 .. runs-1, each a particle drawn by weight from a posterior sample.

    The draws come from their own stream of ``seed`` (not the runs' streams), so the same seed
    gives the same parameters to the same replicates. A set's posterior (``<record>::<path>``
    columns) gives the shared columns and ``record``'s own (:func:`record_overrides`). Pass the
    result to ``sim.studies.runner.map_runs(..., overrides_by_run=...)``. Raises ScenarioError for a bad file.
    """
    if runs < 1:
        raise ValueError(f"runs must be ≥ 1, got {runs}")
    table = read_posterior(path)
    if any(SEPARATOR in c for c in table.columns):
        return record_overrides(table, record, runs, seed)
    return draw_overrides(table, runs, seed)


def draw_overrides(table: pd.DataFrame, runs: int, seed: int, *, observations: bool = False,
                   stream: tuple[int, int] = (POSTERIOR_DRAWS, 0)) -> dict[int, dict[str, Any]]:
    """Like :func:`posterior_overrides`, from a posterior table already in memory.

    ``observations=True`` keeps the observation parameters (``observations.*``) in each run's
    draw, for a scorer that feeds them to the run's claim model (the same picks either way).
    ``stream``: the spawn key of ``seed`` the picks come from (another one for draws that must be
    independent of these)."""
    params = [c for c in table.columns if c not in RESERVED_COLUMNS
              and (observations or not is_observation_parameter(c))]
    w = table["weight"].to_numpy(dtype=float)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=stream)))
    picks = rng.choice(len(table), size=runs, p=w / w.sum())
    columns = {c: table[c].tolist() for c in params}
    return {i: {c: columns[c][int(k)] for c in params} for i, k in enumerate(picks)}


def apply_medians(case: Scenario, posterior: Posterior) -> Scenario:
    """``case`` with the posterior medians applied (for the Python API)."""
    medians = {k: v for k, v in posterior.medians().items() if not is_observation_parameter(k)}
    return case.with_overrides(medians, origin="posterior medians")


# -- record sets: several records that share parameters ------------------------------------------
#
# A set spec (``calibrations/<name>.toml``) lists records; ``[shared.priors]`` holds parameters
# that take one value per particle in every record's scenario, ``[records."<name>".priors]`` the
# record's own. A particle is the shared values plus every record's own values; it is simulated
# once per record (each record's own scenario, horizon and statistics), and accepted on the
# combined distance (:func:`set_distances`). The algorithm is the one above with three changes:
#
# - adaptive distance (Prangle 2017, Bayesian Analysis 12:289; pyabc's AdaptivePNormDistance):
#   before population t the statistic scales are re-estimated from every simulation of
#   population t - 1 (accepted or not), and eps_t is the ``quantile`` of population t - 1's
#   distances recomputed on the new scales;
# - a stop rule on the effective sample size (Kish: (Σw)² / Σw²), see ``SetSpec.min_ess``;
# - categorical priors (``Choice``) for ABC model choice, moved by a kernel that keeps the value
#   with probability ``choice_keep`` and otherwise draws uniformly among the others (pyabc's
#   model perturbation kernel; its default 0.7 kept).

SET_SPEC_KEYS = {"calibration": ("records", *ALGORITHM_KEYS),
                 "observations": SPEC_KEYS["observations"],
                 "shared": ("priors",),
                 "records": ()}
RECORD_KEYS = ("priors", "observations", "events_file", "horizon_h")
SEPARATOR = "::"
"""Posterior columns of a record's own parameters are ``<record>::<key path>``."""
RECORD_STREAM = 0x7265636F
"""Tag of the per-record run seeds (records of a set never share a run's random stream)."""
PREDICTIVE_STREAM = 0x70726564
"""Tag of the predictive check's run seeds, apart from the calibration's."""
BOOTSTRAP_STREAM = 0x626F6F74
MAD_TO_SD = 1.4826
"""Median absolute deviation to standard deviation for a normal distribution."""


@dataclass(frozen=True)
class RecordSpec:
    """One record of a set: its scenario, its record file, its own priors and observation settings."""

    name: str
    """The scenario file's name without ``.toml`` (bundled names are the records' names)."""
    scenario_path: Path
    events_path: Path
    priors: tuple[Prior | Choice, ...] = ()
    settings: Settings = field(default_factory=Settings)
    horizon_h: float | None = None
    fixed: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """Scenario key path -> value held fixed in every run of this record (overrides applied in
    :func:`record_case`; not calibrated, so not also a prior of the record). Observation
    parameters are not scenario keys: fix them in ``settings``."""


@dataclass(frozen=True)
class SetSpec(Algorithm):
    """A calibration of several records that share parameters (module comment above), with the
    algorithm's settings (:class:`Algorithm`)."""

    source: Path
    records: tuple[RecordSpec, ...]
    shared: tuple[Prior | Choice, ...]

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.records]

    def parameters(self) -> list[tuple[str, Prior | Choice, int | None]]:
        """(column, prior, record index or None for shared), shared first, then by record."""
        out: list[tuple[str, Prior | Choice, int | None]] = [(p.path, p, None) for p in self.shared]
        for r, rec in enumerate(self.records):
            out += [(f"{rec.name}{SEPARATOR}{p.path}", p, r) for p in rec.priors]
        return out

    @property
    def columns(self) -> list[str]:
        return [c for c, _, _ in self.parameters()]


def is_set_spec(path: str | Path) -> bool:
    """Whether ``path`` is a set spec: a TOML file whose ``[calibration]`` lists ``records``."""
    p = Path(path)
    if not (p.is_file() and p.suffix == ".toml"):
        return False
    try:
        raw = read_toml(p)
    except ScenarioError:
        return False
    return isinstance(raw.get("calibration"), dict) and "records" in raw["calibration"]


def load_set_spec(path: str | Path) -> SetSpec:
    """Read and check a set spec; one-line ScenarioError naming file, key path and value.

    A single-record spec (``<scenario>.calibration.toml``) is accepted too: it becomes a set of
    one record whose priors are all shared (so its posterior columns are plain key paths).
    """
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"{path}: no such calibration spec (a set spec lists records in "
                            "[calibration] records = [...], with [shared.priors])")
    raw = read_toml(path)
    if not (isinstance(raw.get("calibration"), dict) and "records" in raw["calibration"]):
        return as_set_spec(load_spec(path))
    return _set_spec_from(raw, path, path.parent)


def set_spec(records: Sequence[str | Path], shared: Mapping[str, Mapping],
             own: Mapping[str, Mapping[str, Mapping]] | None = None, **settings: Any) -> SetSpec:
    """A set spec built in code; prior dicts as in TOML (``{"distribution": ..., "low": ...}``).

    ``records``: bundled names or scenario paths; ``own``: record name -> key path -> prior;
    ``settings``: the ``[calibration]`` keys (particles, budget, seed, quantile, min_acceptance,
    min_ess, choice_keep) and ``observations`` (a table for every record). Checked like a file.
    """
    calibration = {k: v for k, v in settings.items() if k != "observations"}
    raw: dict[str, Any] = {"calibration": {"records": [str(r) for r in records], **calibration},
                           "shared": {"priors": dict(shared)},
                           "records": {name: {"priors": dict(p)} for name, p in (own or {}).items()}}
    if "observations" in settings:
        raw["observations"] = settings["observations"]
    return _set_spec_from(raw, Path("set_spec()"), Path.cwd())


def _set_spec_from(raw: Mapping[str, Any], path: Path, base: Path) -> SetSpec:
    for key, table in raw.items():
        if key not in SET_SPEC_KEYS:
            raise ScenarioError(f"{path}: {key}: unknown table; allowed: {', '.join(SET_SPEC_KEYS)}")
        if not isinstance(table, dict):
            raise ScenarioError(f"{path}: {key} = {table!r}: must be a table")
        for k in table if key in ("calibration", "shared") else ():
            if k not in SET_SPEC_KEYS[key]:
                raise ScenarioError(f"{path}: {key}.{k}: unknown key; "
                                    f"allowed: {', '.join(SET_SPEC_KEYS[key])}")
    cal = raw["calibration"]
    listed = cal.get("records")
    if (not isinstance(listed, list) or not listed
            or not all(isinstance(x, str) and x for x in listed)):
        raise ScenarioError(f"{path}: calibration.records = {listed!r}: must list record names "
                            "(bundled, e.g. \"donbas-2020-07-27\") or scenario paths")
    common = _observation_settings(path, "observations", raw.get("observations", {}), Settings())
    tables = raw.get("records", {})
    entries: list[tuple[str, Path, Scenario]] = []
    for i, entry in enumerate(listed):
        local = base / entry
        try:
            scenario_path = local if local.is_file() else resolve_path(entry)
        except ScenarioError:
            raise ScenarioError(f"{path}: calibration.records[{i}] = {entry!r}: no such record "
                                "(a bundled name or a scenario file relative to the spec)") from None
        name = scenario_path.name.removesuffix(".toml")
        if any(name == n for n, _, _ in entries):
            raise ScenarioError(f"{path}: calibration.records[{i}] = {entry!r}: listed twice")
        try:
            case = load_scenario(scenario_path)
        except ScenarioError as exc:
            raise ScenarioError(f"{path}: calibration.records[{i}]: {str(exc).splitlines()[0]}") from None
        entries.append((name, scenario_path, case))
    names = [n for n, _, _ in entries]
    for name, table in tables.items():
        if name not in names:
            raise ScenarioError(f'{path}: records."{name}": not a record of this set; '
                                f"the set's records: {', '.join(names)}")
        if not isinstance(table, dict):
            raise ScenarioError(f'{path}: records."{name}" = {table!r}: must be a table')
        for k in table:
            if k not in RECORD_KEYS:
                raise ScenarioError(f'{path}: records."{name}".{k}: unknown key; '
                                    f"allowed: {', '.join(RECORD_KEYS)}")
    shared_table = raw.get("shared", {}).get("priors", {})
    shared = _priors(path, shared_table, [c for _, _, c in entries], prefix="shared.priors",
                     choices=True) if shared_table else ()
    records = []
    for name, scenario_path, case in entries:
        table = tables.get(name, {})
        where = f'records."{name}"'
        own_table = table.get("priors", {})
        own = _priors(path, own_table, (case,), prefix=f"{where}.priors", choices=True) if own_table else ()
        both = {p.path for p in own} & {p.path for p in shared}
        if both:
            raise ScenarioError(f'{path}: {where}.priors."{sorted(both)[0]}": also in shared.priors; '
                                "a parameter is either shared or the record's own")
        events = table.get("events_file") or case.scenario.events_file
        if not isinstance(events, str) or not events:
            raise ScenarioError(f"{path}: {where}.events_file = {events!r}: missing, and the scenario "
                                "names no scenario.events_file (the record to calibrate against)")
        events_path = scenario_path.parent / events
        if not events_path.is_file():
            raise ScenarioError(f"{path}: {where}.events_file = {events!r}: no such file "
                                f"({events_path})")
        horizon = table.get("horizon_h")
        records.append(RecordSpec(
            name, scenario_path, events_path, own,
            _observation_settings(path, f"{where}.observations", table.get("observations", {}), common),
            None if horizon is None else _number(path, f"{where}.horizon_h", table, 0, lo=0, strict=True)))
    if not shared and not any(r.priors for r in records):
        raise ScenarioError(f"{path}: shared.priors: no parameters to calibrate; add e.g. "
                            '"sides.*.force.discipline" = '
                            '{ distribution = "uniform", low = 0.3, high = 1.0 }')
    spec = SetSpec(source=path, records=tuple(records), shared=shared, **_algorithm(path, cal))
    check_set_budget(spec.budget, spec.particles, len(records), f"{path}: calibration.budget")
    for rec in records:  # the record must give statistics for its scenario (checked up front)
        record_case(rec)
    return spec


def check_set_budget(budget: int, particles: int, records: int, where: str) -> None:
    """A set's budget (simulations) must pay for two populations of every record."""
    if records == 1:
        check_budget(budget, particles, where)
    elif budget < 2 * particles * records:
        raise ScenarioError(f"{where} = {budget}: too small for {particles} particles × {records} "
                            f"records; needs at least {2 * particles * records} (two populations)")


def record_case(rec: RecordSpec) -> tuple[Scenario, list[Statistic], float]:
    """A record's scenario shortened to the horizon its statistics need (with the record's
    ``fixed`` values applied), the statistics, the horizon (min).

    Raises ScenarioError for a record without statistics or a bad ``fixed`` value."""
    case = load_scenario(rec.scenario_path)
    if rec.fixed:
        where = f"{rec.scenario_path}: fixed values of record {rec.name}"
        for key, value in rec.fixed.items():
            if is_observation_parameter(key):
                raise ScenarioError(f"{where}: {key} = {value!r}: an observation parameter, not a "
                                    "scenario key; fix it in the record's observation settings")
            if key in {p.path for p in rec.priors}:
                raise ScenarioError(f"{where}: {key} = {value!r}: also a prior of the record; a "
                                    "parameter is either fixed or calibrated")
        case = case.with_overrides(dict(rec.fixed), origin=where)
    stats = load_observations(case, rec.events_path, rec.settings)
    if not stats:
        raise ScenarioError(f"{rec.events_path}: no line gives a statistic the calibration can use")
    horizon_h = rec.horizon_h or max(1.0, math.ceil(needed_minutes(stats) / 60.0))
    short = case.with_overrides({"scenario.horizon_h": horizon_h}, origin=str(rec.scenario_path))
    return short, stats, horizon_h * 60.0


def ess(weights: np.ndarray) -> float:
    """Kish's effective sample size, (Σw)² / Σw²."""
    w = np.asarray(weights, dtype=float)
    return float(w.sum() ** 2 / np.sum(w * w)) if w.size and np.any(w > 0) else math.nan


def robust_scales(s: np.ndarray, units: np.ndarray) -> np.ndarray:
    """Scale of each statistic (columns of ``s``): the MAD (times 1.4826, a standard deviation for
    normal data); the standard deviation where the MAD is 0 (an indicator mostly 0 or mostly 1);
    floored at a tenth of the statistic's natural unit, so a statistic that never varies does not
    divide by zero."""
    med = np.median(s, axis=0)
    mad = MAD_TO_SD * np.median(np.abs(s - med), axis=0)
    spread = np.where(mad > 0, mad, s.std(axis=0))
    return np.maximum(spread, 0.1 * units)


def set_distances(stats: Sequence[np.ndarray], bounds: Sequence[tuple[np.ndarray, np.ndarray]],
                  scales: Sequence[np.ndarray]) -> np.ndarray:
    """Combined distance of each particle from every record.

    Per record r, as for one record: ``d_r = sqrt(mean_j (e_j / s_j)²)`` (a root mean square over
    its statistics, so a record's distance does not grow with its number of lines). Combined:
    ``d = sqrt(mean_r d_r²)``: every record weighs the same, whether it has 5 statistics or 90,
    so a record of many count lines does not drown one of a few descriptions.
    """
    per = np.column_stack([np.sqrt(np.mean((interval_excess(s, lo, hi) / sc) ** 2, axis=1))
                           for s, (lo, hi), sc in zip(stats, bounds, scales, strict=True)])
    return np.sqrt(np.mean(per * per, axis=1))


def set_misfits(stats: Sequence[np.ndarray], bounds: Sequence[tuple[np.ndarray, np.ndarray]],
                scales: Sequence[np.ndarray]) -> np.ndarray:
    """Signed misfit of every statistic of every record over its scale: ``(s - high) / scale``
    above the reported interval, ``(s - low) / scale`` below it, 0 inside (the distance's
    :func:`interval_excess` with its sign). Columns: the records' statistics side by side."""
    return np.column_stack([(np.where(s > hi, s - hi, 0.0) + np.where(s < lo, s - lo, 0.0)) / sc
                            for s, (lo, hi), sc in zip(stats, bounds, scales, strict=True)])


RIDGE_GRID = np.concatenate([[0.0], np.logspace(-4, 3, 29)])
"""Ridge penalties tried, as multiples of the mean squared singular value of the weighted misfits
(0: plain weighted least squares, tried only when there are fewer statistics than particles)."""
LOGIT_CLIP = 1e-6
"""Unit-space values are clipped to [c, 1 - c] before the logit, so a particle on the prior's
edge stays finite."""


def regression_adjust(pop: Population, params: Sequence[tuple[str, Prior | Choice, int | None]],
                      ) -> tuple[Population | None, list[dict[str, Any]]]:
    """Local linear regression adjustment of an ABC population (Beaumont et al. 2002).

    For each numeric parameter, ``y = logit(z)`` (z its unit-space value, so an adjusted particle
    stays inside the prior's range) is fitted as ``a + X b`` by weighted least squares over the
    accepted particles, ``X`` their signed misfits (:attr:`Population.misfits`, 0 at the record),
    weights ``w_i K(d_i / eps)`` with the Epanechnikov kernel ``K(u) = 1 - u^2``. The adjusted
    particle is ``y_i - X_i b``, where the fit puts it had its statistics matched the record; the
    posterior sample is the particles so moved, with those weights. With many statistics the fit
    is ridge-penalised (Blum, Nunes, Prangle & Sisson 2013, Statistical Science 28:189), the
    penalty chosen per parameter by generalised cross-validation; statistics that do not vary are
    left out. Categorical parameters are not moved (and the numeric ones are fitted across their
    values together).

    What it was checked on: the SBC benchmark's three monitor counts (sim.studies.sbc,
    ``DEFAULT_SETUP``; README: over 300 truths its 90% intervals hold the truth 0.847 and 0.897
    of the time, the first a little too narrow; with 200 particles, ``LARGE_SETUP``, the rate's
    hold it in 90 of the first 100 truths instead of 84). With fourteen noisy counts (``FINE_SETUP``) the
    fit extrapolates to zero misfit in fourteen dimensions and its 90% intervals hold the truth
    only about 80% of the time, so specs leave it off unless they ask for it.

    Returns (None, []) when there is nothing to adjust: no misfits kept, every particle exactly
    matching the record (tolerance 0), or no numeric parameter.
    """
    misfits = pop.misfits
    numeric = [k for k, (_, p, _) in enumerate(params) if isinstance(p, Prior)]
    if misfits is None or not numeric or not np.isfinite(misfits).all():
        return None, []
    d = pop.distances
    h = pop.tolerance if math.isfinite(pop.tolerance) else float(d.max())
    if not h > 0:
        return None, []
    w = pop.weights * np.clip(1.0 - (d / h) ** 2, 0.0, None)
    if not w.sum() > 0:
        return None, []
    w = w / w.sum()
    keep = w > 0
    m = int(keep.sum())
    varies = (w @ (misfits - w @ misfits) ** 2) > 1e-12
    if not varies.any():
        return None, []
    x = misfits[:, varies]
    xc = ((x - w @ x) * np.sqrt(w)[:, None])[keep]  # weighted, centred design
    u, sv, vt = np.linalg.svd(xc, full_matrices=False)
    rank_ok = sv > 1e-10 * sv.max()
    z = pop.z.copy()
    rows = []
    for k in numeric:
        y = _logit(pop.z[:, k])
        yc = ((y - w @ y) * np.sqrt(w))[keep]
        uy = u.T @ yc
        best: tuple[float, float, np.ndarray] | None = None
        for mult in RIDGE_GRID:
            lam = float(mult * np.mean(sv ** 2))
            shrink = sv ** 2 / (sv ** 2 + lam) if lam > 0 else rank_ok.astype(float)
            dof = float(shrink.sum())
            if dof >= m - 1:  # no residual left to judge the fit by
                continue
            gcv = float(np.sum((yc - u @ (shrink * uy)) ** 2)) / (1.0 - dof / m) ** 2
            if best is None or gcv < best[0]:
                best = (gcv, lam, shrink)
        if best is None:
            continue
        _, lam, shrink = best
        beta = vt.T @ (np.divide(shrink, sv, out=np.zeros_like(sv), where=rank_ok) * uy)
        z[:, k] = 1.0 / (1.0 + np.exp(-(y - x @ beta)))
        total = float(np.sum(yc ** 2))
        rows.append({"parameter": params[k][0], "statistics_used": int(varies.sum()),
                     "ridge_penalty": lam,
                     "r2": 1.0 - float(np.sum((yc - xc @ beta) ** 2)) / total if total > 0 else math.nan,
                     "median_shift_unit": float(weighted_quantile(z[:, k], w, [0.5])[0]
                                                - weighted_quantile(pop.z[:, k], w, [0.5])[0]),
                     "ess_before": ess(pop.weights), "ess_after": ess(w)})
    if not rows:
        return None, []
    adjusted = Population(pop.index, pop.tolerance, z, _unit_to_values(params, z), w, d, pop.tried, misfits)
    return adjusted, rows


def _logit(z: np.ndarray) -> np.ndarray:
    zc = np.clip(z, LOGIT_CLIP, 1.0 - LOGIT_CLIP)
    return np.log(zc) - np.log1p(-zc)


def _stream_seed(seed: int, tag: int, index: int) -> int:
    """An integer seed for a batch of runs, from its own stream of ``seed``."""
    return int(np.random.SeedSequence(seed, spawn_key=(tag, index)).generate_state(1, np.uint64)[0])


def record_seed(seed: int, record: int) -> int:
    """Run seed of record ``record`` (its position in the set) in a set calibration seeded ``seed``:
    run ``i`` of that record uses ``run_seed(record_seed(seed, record), i)``."""
    return _stream_seed(seed, RECORD_STREAM, record)


def _unit_to_values(params: Sequence[tuple[str, Prior | Choice, int | None]], z: np.ndarray) -> np.ndarray:
    """Unit-space particles -> values (a choice column keeps the value's index)."""
    return np.column_stack([p.from_unit(z[:, k]) if isinstance(p, Prior) else z[:, k]
                            for k, (_, p, _) in enumerate(params)])


def _value(prior: Prior | Choice, x: float) -> Any:
    if isinstance(prior, Choice):
        return prior.values[int(x)]
    return int(x) if prior.integer else float(x)


def _record_values(params: Sequence[tuple[str, Prior | Choice, int | None]], row: np.ndarray,
                   record: int) -> dict[str, Any]:
    """The key path -> value a particle gives record ``record`` (shared and its own)."""
    return {p.path: _value(p, x) for (_, p, owner), x in zip(params, row, strict=True)
            if owner is None or owner == record}


def _scenario_part(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if not is_observation_parameter(k)}


def _record_observer(case: Scenario, settings: Settings, values: Mapping[str, Any],
                     seed: np.random.SeedSequence) -> Any:
    """As :func:`run_observer`, from a record's key path -> value mapping."""
    monitors = {k: v for k, v in values.items() if k.startswith("peacekeepers.")}
    here = case.with_overrides(monitors, origin="calibration") if monitors else case
    inflation = values.get("observations.claim_inflation")
    return observer(here, seed, settings, claim_inflation=None if inflation is None else float(inflation))


def record_statistics(case: Scenario, stats: Sequence[Statistic], horizon_min: float, settings: Settings,
                      given: Sequence[Mapping[str, Any]], seed: int, runs: range, *, workers: int = 1,
                      pool: RunPool | None = None, on_done: Callable[[int], None] | None = None,
                      ) -> np.ndarray:
    """The statistics of runs ``runs`` of batch ``seed`` of a record's case, run ``runs[k]`` at the
    key path -> value mapping ``given[k]`` (scenario parameters applied to the run, observation
    and monitor ones to its observer, whose draws come from ``monitor_seed(seed, run)``).

    The one way a calibration, its predictive check and the SBC's prior bank simulate a
    record. Shape (runs, statistics)."""
    records = map_runs(case, seed, runs, workers=workers, keep_events=True, keep_steps=False,
                       overrides_by_run={i: _scenario_part(v) for i, v in zip(runs, given, strict=True)},
                       on_done=on_done, pool=pool)
    observed = needs_observer(stats)
    rows = [simulated(stats, rec.events, horizon_min,
                      _record_observer(case, settings, v, monitor_seed(seed, i)) if observed else None)
            for i, v, rec in zip(runs, given, records, strict=True)]
    return np.array(rows).reshape(len(runs), len(stats))


@dataclass
class SetPosterior(Posterior):
    """The result of :func:`calibrate_set`: a :class:`Posterior` whose columns are the set's."""

    spec: SetSpec  # type: ignore[assignment]
    record_statistics: list[list[Statistic]] = field(default_factory=list)
    scales_by_population: list[list[np.ndarray]] = field(default_factory=list)
    """The statistic scales each population's tolerance was computed on, per record."""
    def choices(self, draws: int = 1000) -> pd.DataFrame:
        """Posterior probability of each value of each categorical parameter.

        ``q05``/``q95``: a bootstrap over particles (resampled with replacement, weights
        renormalised; ``draws`` times, from the calibration seed's own stream). ``bayes_factor``:
        posterior odds over prior odds of the value against all the others (inf when no particle
        kept another value: the sample cannot bound it). ABC model choice compares how often each
        variant reaches the tolerance on these summary statistics; when they are not sufficient
        for the choice the Bayes factor can be wrong, even as the budget grows (Robert, Cornuet,
        Marin & Pillai 2011, PNAS 108:15112). Read it beside leave-one-record-out skill.
        """
        pop = self.final
        w = pop.weights / pop.weights.sum()
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(
            self.seed, spawn_key=(BOOTSTRAP_STREAM, 0))))
        boot = rng.integers(0, len(w), size=(draws, len(w)))
        rows = []
        for k, (column, prior, _) in enumerate(self.spec.parameters()):
            if not isinstance(prior, Choice):
                continue
            idx = pop.values[:, k].astype(int)
            prior_p = 1.0 / len(prior.values)
            for v, value in enumerate(prior.values):
                hit = idx == v
                post = float(w[hit].sum())
                shares = (w[boot] * hit[boot]).sum(axis=1) / w[boot].sum(axis=1)
                q05, q95 = np.quantile(shares, [0.05, 0.95])
                odds = post / (1 - post) if post < 1 else math.inf
                rows.append({"parameter": column, "value": value, "prior": prior_p, "posterior": post,
                             "q05": float(q05), "q95": float(q95),
                             "bayes_factor": odds / (prior_p / (1 - prior_p))})
        return pd.DataFrame(rows, columns=["parameter", "value", "prior", "posterior", "q05", "q95",
                                           "bayes_factor"])



def calibrate_set(spec: SetSpec, *, budget: int | None = None, seed: int | None = None, workers: int = 1,
                  particles: int | None = None, progress: bool | None = None) -> SetPosterior:
    """Run ABC-SMC over every record of ``spec`` at once (the module comment on record sets).

    Budget, seed and particles default to the spec's; the budget counts simulations (a particle
    costs one per record). Results are identical for any ``workers``: run ``i`` of record ``r``
    uses ``run_seed(record_seed(seed, r), i)``, proposals the streams of :func:`_generator`, and
    batch sizes depend only on past results. Raises ScenarioError for a bad budget or seed.
    """
    spec = replace(spec, budget=spec.budget if budget is None else budget,
                   seed=spec.seed if seed is None else seed,
                   particles=spec.particles if particles is None else particles)
    n_rec = len(spec.records)
    check_set_budget(spec.budget, spec.particles, n_rec, "--budget")
    if spec.seed < 0:
        raise ScenarioError(f"--seed = {spec.seed}: must be ≥ 0")
    params = spec.parameters()
    numeric = np.array([isinstance(p, Prior) for _, p, _ in params], dtype=bool)
    sizes = np.array([len(p.values) if isinstance(p, Choice) else 0 for _, p, _ in params])
    cases = [record_case(rec) for rec in spec.records]
    bounds = [observed_bounds(stats) for _, stats, _ in cases]
    units = [np.array([st.unit for st in stats]) for _, stats, _ in cases]
    seeds = [record_seed(spec.seed, r) for r in range(n_rec)]
    n = spec.particles
    bar = progress_bar(spec.budget, progress, unit="sim", desc="calibrating")
    used = 0  # particles proposed so far (each one simulation per record)
    started = time.perf_counter()
    pools: list[RunPool | None] = []

    def simulate(z: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        nonlocal used
        values = _unit_to_values(params, z)
        runs = range(used, used + len(z))
        out = []
        for r, (case, stats, horizon_min) in enumerate(cases):
            given = [_record_values(params, row, r) for row in values]
            out.append(record_statistics(case, stats, horizon_min, spec.records[r].settings, given,
                                         seeds[r], runs, workers=workers, pool=pools[r],
                                         on_done=bar.update if bar else None))
        used += len(z)
        return values, out

    def remaining() -> int:
        return (spec.budget - used * n_rec) // n_rec

    history: list[dict[str, Any]] = []
    scales_seen: list[list[np.ndarray]] = []

    def note(pop: Population, scales: list[np.ndarray]) -> None:
        scales_seen.append(scales)
        history.append({"population": pop.index,
                        "tolerance": pop.tolerance, "acceptance": pop.acceptance,
                        "ess": ess(pop.weights), "simulations": pop.tried * n_rec})
        if bar:
            bar.set_postfix_str(f"population {pop.index}, tolerance {pop.tolerance:.3g}, "
                                f"acceptance {pop.acceptance:.2f}, ESS {ess(pop.weights):.0f}")

    try:
        pools.extend(RunPool(case, workers) if workers > 1 else None for case, _, _ in cases)
        rng0 = _generator(spec.seed, 0)
        z0 = rng0.random((n, len(params)))
        for k in np.flatnonzero(~numeric):
            z0[:, k] = rng0.integers(0, sizes[k], n)
        values0, s0 = simulate(z0)
        scales = [robust_scales(s, u) for s, u in zip(s0, units, strict=True)]
        pops = [Population(0, math.inf, z0, values0, np.full(n, 1.0 / n),
                           set_distances(s0, bounds, scales), n, set_misfits(s0, bounds, scales))]
        note(pops[-1], scales)
        accepted, simulated_all = s0, s0
        reason = "budget: another population would not fit"
        while True:
            prev = pops[-1]
            if prev.tolerance == 0.0:
                reason = "tolerance 0: every statistic of every record inside its reported interval"
                break
            # Adaptive distance: scales from every simulation of the last population.
            scales = [robust_scales(s, u) for s, u in zip(simulated_all, units, strict=True)]
            eps = float(np.quantile(set_distances(accepted, bounds, scales), spec.quantile))
            guess = 0.5 * (prev.acceptance if prev.index else spec.quantile)
            if remaining() < n / max(guess, 1e-3):
                break
            step = _set_population(spec, prev, eps, simulate, remaining, bounds, scales, numeric, sizes)
            if step is None:
                break
            pop, accepted, simulated_all = step
            pop.misfits = set_misfits(accepted, bounds, scales)
            pops.append(pop)
            note(pop, scales)
            if pop.acceptance < spec.min_acceptance:
                reason = f"acceptance {pop.acceptance:.3f} below min_acceptance {spec.min_acceptance:g}"
                break
            if ess(pop.weights) < spec.ess_floor:
                reason = f"ESS {ess(pop.weights):.1f} below min_ess {spec.ess_floor:g}"
                break
    finally:
        if bar:
            bar.close()
        for pool in pools:
            if pool is not None:
                pool.close()
    original: dict[str, float] = {}
    for r, rec in enumerate(spec.records):
        case = load_scenario(rec.scenario_path)
        own = original_values(case, [p for p in rec.priors if isinstance(p, Prior)], rec.settings)
        original.update({f"{rec.name}{SEPARATOR}{k}": v for k, v in own.items()})
        if r == 0:  # a shared parameter's hand-chosen value: the first record's
            original.update(original_values(case, [p for p in spec.shared if isinstance(p, Prior)],
                                            rec.settings))
    stats_by_record = [stats for _, stats, _ in cases]
    adjusted, adjustment = None, []
    if spec.adjustment == "regression":
        adjusted, adjustment = regression_adjust(pops[-1], params)
    return SetPosterior(spec, [st for stats in stats_by_record for st in stats],  # type: ignore[arg-type]
                        np.concatenate(scales_seen[-1]), pops, used * n_rec,
                        time.perf_counter() - started, reason, spec.seed, original,
                        history=history, adjusted=adjusted, adjustment=adjustment,
                        record_statistics=stats_by_record, scales_by_population=scales_seen)


def _set_population(spec: SetSpec, prev: Population, eps: float,
                    simulate: Callable[[np.ndarray], tuple[np.ndarray, list[np.ndarray]]],
                    remaining: Callable[[], int], bounds: Sequence[tuple[np.ndarray, np.ndarray]],
                    scales: Sequence[np.ndarray], numeric: np.ndarray, sizes: np.ndarray,
                    ) -> tuple[Population, list[np.ndarray], list[np.ndarray]] | None:
    """One population at tolerance ``eps``: the population, its accepted particles' statistics
    and every simulation's statistics (per record); None if the budget ran out first."""
    n = spec.particles
    rng = _generator(spec.seed, prev.index + 1)
    chol = inv = None
    if numeric.any():
        cov = 2.0 * np.atleast_2d(np.cov(prev.z[:, numeric], rowvar=False, aweights=prev.weights))
        cov += np.eye(len(cov)) * 1e-10
        chol, inv = np.linalg.cholesky(cov), np.linalg.inv(cov)
    zs, vals, ds, acc, every = [], [], [], [], []
    tried = 0
    rate = ACCEPTANCE_DECAY * (prev.acceptance if prev.index else spec.quantile)
    while sum(len(z) for z in zs) < n:
        need = n - sum(len(z) for z in zs)
        batch = min(remaining(), MAX_BATCH_FACTOR * n, max(MIN_BATCH, math.ceil(need / max(rate, 0.01))))
        if batch <= 0:
            return None
        z = _propose_set(rng, prev, numeric, chol, sizes, spec.choice_keep, batch)
        values, s = simulate(z)
        d = set_distances(s, bounds, scales)
        tried += batch
        ok = np.flatnonzero(d <= eps)[:need]  # in run order, so workers never change the pick
        zs.append(z[ok])
        vals.append(values[ok])
        ds.append(d[ok])
        acc.append([x[ok] for x in s])
        every.append(s)
        rate = max(sum(len(x) for x in zs), 1) / tried
    z = np.concatenate(zs)
    weights = _importance(z, prev, numeric, inv, sizes, spec.choice_keep)
    n_rec = len(bounds)
    accepted = [np.concatenate([a[r] for a in acc]) for r in range(n_rec)]
    everything = [np.concatenate([e[r] for e in every]) for r in range(n_rec)]
    return (Population(prev.index + 1, eps, z, np.concatenate(vals), weights, np.concatenate(ds), tried),
            accepted, everything)


def _importance(z: np.ndarray, prev: Population, numeric: np.ndarray, inv: np.ndarray | None,
                sizes: np.ndarray, keep: float) -> np.ndarray:
    """Importance weights of particles ``z`` moved from ``prev``: prior over the kernel mixture,
    ``w_i ∝ π(θ_i) / Σ_j w_j K(θ_i | θ_j)``, normalised (priors are uniform in unit space and over
    choices, so the prior cancels)."""
    kernel = np.ones((len(z), len(prev.z)))
    if inv is not None:
        diff = z[:, None, numeric] - prev.z[None, :, numeric]
        kernel *= np.exp(-0.5 * np.einsum("ijk,kl,ijl->ij", diff, inv, diff))
    for k in np.flatnonzero(~numeric):
        same = z[:, None, k] == prev.z[None, :, k]
        kernel *= np.where(same, keep, (1.0 - keep) / (sizes[k] - 1))
    weights = 1.0 / (kernel @ prev.weights)
    return weights / weights.sum()


def _propose_set(rng: np.random.Generator, prev: Population, numeric: np.ndarray, chol: np.ndarray | None,
                 sizes: np.ndarray, keep: float, size: int) -> np.ndarray:
    """``size`` moves of weighted picks from ``prev``: numeric columns by the Gaussian kernel
    (redrawn until inside the unit cube), categorical ones kept with probability ``keep``, else
    moved to one of the other values uniformly."""
    out = np.empty((0, prev.z.shape[1]))
    while len(out) < size:
        k = 2 * (size - len(out))
        moved = prev.z[rng.choice(len(prev.weights), size=k, p=prev.weights)].copy()
        if chol is not None:
            moved[:, numeric] += rng.standard_normal((k, int(numeric.sum()))) @ chol.T
        for c in np.flatnonzero(~numeric):
            switch = rng.random(k) >= keep
            shift = rng.integers(1, sizes[c], k)  # uniform among the other values
            moved[:, c] = np.where(switch, (moved[:, c] + shift) % sizes[c], moved[:, c])
        inside = np.all((moved[:, numeric] >= 0.0) & (moved[:, numeric] <= 1.0), axis=1)
        out = np.concatenate([out, moved[inside][:size - len(out)]])
    return out


def _record_draws(table: pd.DataFrame, record: str, runs: int, seed: int) -> list[dict[str, Any]]:
    """Key path -> value for ``runs`` particles drawn by weight (the stream of
    :func:`draw_overrides`): shared columns and ``record``'s own, observation parameters kept."""
    if "weight" not in table.columns:
        raise ScenarioError("posterior table: no 'weight' column")
    prefix = f"{record}{SEPARATOR}"
    shared = [c for c in table.columns if c not in RESERVED_COLUMNS and SEPARATOR not in c]
    own = [c for c in table.columns if c.startswith(prefix)]
    w = table["weight"].to_numpy(dtype=float)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(POSTERIOR_DRAWS, 0))))
    picks = rng.choice(len(table), size=runs, p=w / w.sum())
    columns = {c: table[c].tolist() for c in shared + own}
    return [{c.removeprefix(prefix): columns[c][int(k)] for c in shared + own} for k in picks]


def record_overrides(table: pd.DataFrame, record: str, runs: int, seed: int) -> dict[int, dict[str, Any]]:
    """Scenario overrides for runs 0 .. runs-1 of ``record``, each from a particle drawn by weight.

    Each run gets the shared columns and ``record``'s own (``<record>::<path>``, as ``<path>``);
    a record not in the set gets only the shared ones. Observation parameters
    (``observations.*``) are left out: they are not scenario keys. Same stream as
    :func:`draw_overrides`, so a one-record posterior gives the same draws either way.
    """
    if runs < 1:
        raise ValueError(f"runs must be ≥ 1, got {runs}")
    return {i: _scenario_part(v) for i, v in enumerate(_record_draws(table, record, runs, seed))}


def predictive_check(posterior: SetPosterior, runs: int = 200, *, workers: int = 1,
                     seed: int | None = None) -> pd.DataFrame:
    """Posterior predictive check of every record: one row per statistic.

    ``runs`` particles are drawn by weight (:func:`_record_draws`) and simulated over the
    calibration window of each record, on seeds of their own (``PREDICTIVE_STREAM``); a statistic
    is *inside* when its reported interval meets the 90% band (5th to 95th percentile of its
    simulated values). See :func:`predictive_summary` for the per-record fraction of lines.
    """
    seed = posterior.seed if seed is None else seed
    table = posterior.table()
    rows = []
    for r, rec in enumerate(posterior.spec.records):
        case, stats, horizon_min = record_case(rec)
        given = _record_draws(table, rec.name, runs, seed)
        run_seed_r = _stream_seed(seed, PREDICTIVE_STREAM, r)
        sims = record_statistics(case, stats, horizon_min, rec.settings, given, run_seed_r, range(runs),
                                 workers=workers)
        for j, st in enumerate(stats):
            lo, hi = np.quantile(sims[:, j], [0.05, 0.95])
            rows.append({"record": rec.name, "statistic": st.name, "measure": st.measure,
                         "lines": " ".join(map(str, st.lines)), "observed_low": st.low,
                         "observed_high": st.high, "band_low": float(lo), "band_high": float(hi),
                         "inside": bool(lo <= st.high and hi >= st.low)})
    return pd.DataFrame(rows)


def predictive_summary(check: pd.DataFrame) -> pd.DataFrame:
    """Per record: statistics and record lines inside the 90% band. A line (of those that give a
    statistic) is inside when every statistic it feeds is inside."""
    rows = []
    for record, part in check.groupby("record", sort=False):
        line_ok: dict[str, bool] = {}
        for lines, inside in zip(part["lines"], part["inside"], strict=True):
            for line in str(lines).split():
                line_ok[line] = line_ok.get(line, True) and bool(inside)
        rows.append({"record": record, "statistics": len(part),
                     "statistics_inside": int(part["inside"].sum()),
                     "lines": len(line_ok), "lines_inside": sum(line_ok.values()),
                     "fraction_lines_inside": (sum(line_ok.values()) / len(line_ok)) if line_ok
                     else math.nan})
    return pd.DataFrame(rows)
