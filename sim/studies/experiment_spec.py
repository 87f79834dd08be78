"""Experiment specs: what a batch runs, validated before any run.

A spec (``experiments/*.toml``) names a base scenario, a ``[grid]`` of parameter values and/or
``[sample]`` ranges (a Latin hypercube, or a SALib design when it has a ``[sensitivity]``
table), replicates per point, the horizon, the outcomes to keep, an optional time-series
resolution and a figure. :func:`load_spec` checks every key path and value against the base
scenario and returns an :class:`Experiment` with its parameter points and a hash of everything
that decides the runs' results (what ``--resume`` compares).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sim.model.outcomes import OUTCOMES
from sim.model.scenario import (
    BUNDLED,
    DEFAULT_SCENARIO,
    Scenario,
    ScenarioError,
    load_scenario,
    parameter_info,
    read_toml,
    resolve_path,
)

DISTRIBUTIONS = ("uniform", "loguniform", "integer")
SAMPLE_STREAM = 0x5A4D504C
"""Mixed into the spec seed for the parameter sample, so it never shares a stream with a run."""
P_HOLD = re.compile(r"^p_hold_(\d+(?:\.\d+)?)h$")
"""A sensitivity statistic ``p_hold_<H>h``: the share of runs still holding H hours after t = 0."""


class SpecError(ScenarioError):
    """An experiment spec, or the batch folder it is asked to use, is not allowed (one line)."""


# -- the spec ------------------------------------------------------------------------------------
class _Strict(BaseModel):
    # allow_inf_nan=False: a backstop; read_toml already rejects nan and inf anywhere in a spec.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)


class SpecMeta(_Strict):
    """The ``[experiment]`` table: what to run and what to keep."""

    name: str = Field(min_length=1, description="short identifier; names the output folder")
    title: str = Field("", description="one-line human title (figure titles)")
    description: str = Field("", description="what the experiment asks")
    scenario: str = Field(DEFAULT_SCENARIO, description="base scenario: a path relative to the spec "
                                                        "file or a bundled scenario's name")
    seed: int = Field(0, ge=0, description="batch seed; run i uses SeedSequence(seed, spawn_key=(i,))")
    replicates: int = Field(10, ge=1, description="runs per parameter point")
    horizon_h: float | None = Field(None, gt=0, description="overrides the scenario's horizon (h)")
    samples: int = Field(0, ge=0, description="Latin-hypercube points drawn from [sample]")
    outcomes: tuple[str, ...] = Field(OUTCOMES, description="outcomes kept per run (sim.model.outcomes)")
    series_min: float | None = Field(None, gt=0, description="time-series bin width (min); none: no series")

    @field_validator("outcomes")
    @classmethod
    def _known_outcomes(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            if name not in OUTCOMES:
                raise ValueError(f"unknown outcome {name!r}; allowed: {', '.join(OUTCOMES)}")
        if len(set(names)) != len(names):
            raise ValueError("an outcome is listed twice")
        return names


class SampleRange(_Strict):
    """One sampled parameter: its range and distribution."""

    low: float
    high: float
    distribution: Literal["uniform", "loguniform", "integer"] = "uniform"

    @model_validator(mode="after")
    def _ordered(self) -> SampleRange:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.distribution == "loguniform" and self.low <= 0:
            raise ValueError(f"loguniform needs low > 0, got {self.low}")
        if self.distribution == "integer" and not (self.low.is_integer() and self.high.is_integer()):
            raise ValueError(f"integer ranges need whole bounds, got {self.low} and {self.high}")
        return self

    def scale(self, u: np.ndarray) -> list[Any]:
        """Values for points ``u`` of the unit interval."""
        if self.distribution == "uniform":
            return [float(v) for v in self.low + u * (self.high - self.low)]
        if self.distribution == "loguniform":
            lo, hi = math.log(self.low), math.log(self.high)
            return [float(v) for v in np.exp(lo + u * (hi - lo))]
        width = self.high - self.low + 1
        return [int(min(self.high, self.low + math.floor(v * width))) for v in u]


class SensitivitySpec(_Strict):
    """The ``[sensitivity]`` table: a SALib design over the ``[sample]`` ranges."""

    method: Literal["sobol", "morris"] = Field("sobol", description="Sobol' indices or Morris screening")
    base_samples: int = Field(64, ge=2, description="Sobol': N, a power of two (N (D + 2) points); "
                                                    "Morris: trajectories (r (D + 1) points)")
    levels: int = Field(4, ge=2, description="Morris: grid levels (even)")
    outcomes: tuple[str, ...] = Field(("collapse_h",), description="statistics to analyse per point")
    conf_level: float = Field(0.95, gt=0, lt=1, description="confidence level of the intervals")
    resamples: int = Field(200, ge=10, description="bootstrap resamples for the intervals")
    max_noise_share: float = Field(0.4, ge=0, le=1,
                                   description="Sobol': warn when replicate noise is more than this share "
                                               "of the variance of the point means")

    @model_validator(mode="after")
    def _design(self) -> SensitivitySpec:
        if self.method == "sobol" and self.base_samples & (self.base_samples - 1):
            raise ValueError(f"Sobol' needs base_samples a power of two, got {self.base_samples}")
        if self.method == "morris" and self.levels % 2:
            raise ValueError(f"Morris needs an even number of levels, got {self.levels}")
        return self


class FigureSpec(_Strict):
    """The ``[figure]`` table: which figure ``ceasefire experiment`` draws."""

    kind: Literal["erosion_curves", "phase_diagram", "order_delay"]
    by: str = Field("", description="erosion_curves, order_delay: the grid key giving one curve per value")
    x: str = Field("", description="phase_diagram: grid key on the x axis")
    y: str = Field("", description="phase_diagram: grid key on the y axis")
    hours: float = Field(72.0, gt=0, description="phase_diagram: P(holding) this many hours after t = 0")
    window_h: float = Field(12.0, gt=0, description="order_delay: hours after t = 0 shown")


class SpecFile(_Strict):
    """A whole experiment spec file."""

    experiment: SpecMeta
    fixed: dict[str, Any] = Field(default_factory=dict, alias="set",
                                  description="overrides applied to the base scenario for every run")
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="key path -> values (all combined)")
    sample: dict[str, SampleRange] = Field(default_factory=dict, description="key path -> range")
    sensitivity: SensitivitySpec | None = None
    figure: FigureSpec | None = None


@dataclass(frozen=True)
class Experiment:
    """A validated spec with its base scenario and parameter points, ready to run."""

    path: Path
    spec: SpecFile
    scenario: Scenario
    """The base scenario with ``[set]`` and the horizon applied."""
    points: list[dict[str, Any]] = field(repr=False)
    """Per point, the overrides (key path -> value) its runs use."""
    spec_hash: str
    scenario_path: Path
    """The base scenario's file (a calibrated version may sit beside it)."""
    changes: dict[str, Any] = field(default_factory=dict)
    """Spec keys changed from outside the file (``experiment.replicates`` ...)."""

    @property
    def name(self) -> str:
        return self.spec.experiment.name

    @property
    def replicates(self) -> int:
        return self.spec.experiment.replicates

    @property
    def runs(self) -> int:
        return len(self.points) * self.replicates

    @property
    def parameters(self) -> list[str]:
        """The varied key paths: grid keys, then sampled keys."""
        return [*self.spec.grid, *self.spec.sample]

    def point_of(self, run: int) -> tuple[int, int]:
        """(point, replicate) of run index ``run``."""
        replicate, point = divmod(run, len(self.points))
        return point, replicate

    def points_frame(self) -> pd.DataFrame:
        """One row per point: its id and parameter values."""
        frame = pd.DataFrame({k: [p[k] for p in self.points] for k in self.parameters})
        frame.insert(0, "point", np.arange(len(self.points), dtype=np.int64))
        return frame


def load_spec(path: str | Path, changes: Mapping[str, Any] | None = None) -> Experiment:
    """Read and validate an experiment spec; ``changes`` override spec keys (``experiment.replicates``).

    Every key path in ``[set]``, ``[grid]`` and ``[sample]`` is checked against the base scenario
    (with each value), so a typo fails before any run. Raises SpecError (one line).
    """
    path = Path(path)
    origin = str(path)
    raw = read_toml(path)
    if changes:
        raw = _apply_spec_changes(raw, changes, origin)
    try:
        spec = SpecFile.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(_format_errors(exc, raw, origin)) from None
    base, base_path = _base_scenario(spec, path)
    _check_parameters(spec, base, origin)
    _check_consistency(spec, base, origin)
    points = _points(spec)
    digest = _spec_hash(spec, base, points)
    return Experiment(path, spec, base, points, digest, base_path, dict(changes or {}))


def _apply_spec_changes(raw: dict[str, Any], changes: Mapping[str, Any], origin: str) -> dict[str, Any]:
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    for key, value in changes.items():
        table, _, name = key.partition(".")
        if table not in ("experiment", "sensitivity") or not name:
            raise SpecError(f"{origin}: {key} = {value!r}: only experiment.* and sensitivity.* keys "
                            f"can be changed from outside the file")
        if table == "sensitivity" and table not in out:
            raise SpecError(f"{origin}: {key} = {value!r}: the spec has no [sensitivity] table")
        out.setdefault(table, {})[name] = value
    return out


def _base_scenario(spec: SpecFile, path: Path) -> tuple[Scenario, Path]:
    name = spec.experiment.scenario
    beside = path.parent / name
    origin = f"{path}: experiment.scenario = {name!r}"
    if beside.is_file():
        target: Path = beside
    else:
        try:
            target = resolve_path(name)
        except ScenarioError:
            raise SpecError(f"{origin}: no such file beside the spec and no bundled scenario of that "
                            f"name (bundled: {', '.join(BUNDLED)})") from None
    changes = dict(spec.fixed)
    if spec.experiment.horizon_h is not None:
        changes["scenario.horizon_h"] = spec.experiment.horizon_h
    base = load_scenario(target)
    try:
        return (base.with_overrides(changes, origin=f"{path}: [set]") if changes else base), target
    except ScenarioError as exc:
        raise SpecError(_one_line(exc)) from None


def _check_parameters(spec: SpecFile, base: Scenario, origin: str) -> None:
    """Each grid value and sampled bound must be a valid setting of the base scenario."""
    for key, values in spec.grid.items():
        where = f"{origin}: grid.{_quoted(key)}"
        if not values:
            raise SpecError(f"{where} = []: needs at least one value")
        kinds = {value_kind(v) for v in values}
        if len(kinds) > 1 or None in kinds:
            raise SpecError(f"{where} = {values!r}: values must all be numbers, all strings or all "
                            f"true/false")
        if len(set(map(repr, values))) != len(values):
            raise SpecError(f"{where} = {values!r}: a value is listed twice")
        for v in values:
            _try_setting(base, key, v, f"{origin}: [grid]")
    for key, rng in spec.sample.items():
        for v in (rng.low, rng.high):
            value = int(v) if rng.distribution == "integer" else v
            _try_setting(base, key, value, f"{origin}: [sample]")
        try:
            default = parameter_info(key).get("default")
        except (KeyError, AttributeError):
            default = None
        is_int = isinstance(default, int) and not isinstance(default, bool)
        if is_int and rng.distribution != "integer":
            raise SpecError(f"{origin}: sample.{_quoted(key)}.distribution = {rng.distribution!r}: "
                            f"the parameter is a whole number; use distribution = \"integer\"")
    for key in spec.grid.keys() & spec.sample.keys():
        raise SpecError(f"{origin}: {_quoted(key)}: in both [grid] and [sample]; choose one")
    for key in (spec.grid.keys() | spec.sample.keys()) & spec.fixed.keys():
        raise SpecError(f"{origin}: {_quoted(key)}: in [set] and varied too; remove it from [set]")


def _try_setting(base: Scenario, key: str, value: Any, origin: str) -> None:
    try:
        base.with_overrides({key: value}, origin=origin)
    except ScenarioError as exc:
        raise SpecError(_one_line(exc)) from None


def _one_line(exc: Exception) -> str:
    """The first problem (a ``*`` path can fail once per name it matches)."""
    lines = str(exc).splitlines() or [""]
    more = f" (and {len(lines) - 1} more like it)" if len(lines) > 1 else ""
    return lines[0] + more


def _check_consistency(spec: SpecFile, base: Scenario, origin: str) -> None:
    meta = spec.experiment
    horizon_h = base.scenario.horizon_h
    if spec.sensitivity is not None:
        if spec.grid:
            raise SpecError(f"{origin}: [grid]: a [sensitivity] design cannot be combined with a grid; "
                            f"give every varied parameter a [sample] range")
        if len(spec.sample) < 2:
            raise SpecError(f"{origin}: [sample]: a sensitivity analysis needs at least two sampled "
                            f"parameters, got {len(spec.sample)}")
        if meta.samples:
            raise SpecError(f"{origin}: experiment.samples = {meta.samples}: the [sensitivity] design "
                            f"sets the points; remove samples")
        for name in spec.sensitivity.outcomes:
            problem = check_statistic(name, meta.outcomes, horizon_h)
            if problem:
                raise SpecError(f"{origin}: sensitivity.outcomes: {name!r}: {problem}")
    elif spec.sample and not meta.samples:
        raise SpecError(f"{origin}: experiment.samples = 0: [sample] needs samples ≥ 1 "
                        f"(the number of Latin-hypercube points)")
    elif meta.samples and not spec.sample:
        raise SpecError(f"{origin}: experiment.samples = {meta.samples}: there is no [sample] table "
                        f"to draw from")
    fig = spec.figure
    if fig is None:
        return
    needs = {"erosion_curves": ("by",), "phase_diagram": ("x", "y"), "order_delay": ("by",)}[fig.kind]
    for attr in needs:
        key = getattr(fig, attr)
        if key and key not in spec.grid:
            raise SpecError(f"{origin}: figure.{attr} = {key!r}: not a [grid] key; grid keys: "
                            f"{', '.join(spec.grid) or '(none)'}")
        if not key and fig.kind != "erosion_curves":
            raise SpecError(f"{origin}: figure.{attr}: required for the {fig.kind} figure (a [grid] key)")
    if fig.kind in ("erosion_curves", "phase_diagram") and "collapse_min" not in meta.outcomes:
        raise SpecError(f"{origin}: experiment.outcomes: the {fig.kind} figure needs 'collapse_min'")
    if fig.kind == "phase_diagram" and fig.hours > horizon_h:
        raise SpecError(f"{origin}: figure.hours = {fig.hours}: beyond the horizon ({horizon_h} h)")
    if fig.kind == "order_delay" and meta.series_min is None:
        raise SpecError(f"{origin}: experiment.series_min: the order_delay figure needs a time series")


def value_kind(v: Any) -> str | None:
    """'bool', 'number' or 'str': the column type a parameter value needs (None: unsupported)."""
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "str"
    return None


def _quoted(key: str) -> str:
    return f'"{key}"' if "." in key or "*" in key else key


def _format_errors(exc: ValidationError, raw: Mapping[str, Any], origin: str) -> str:
    lines = []
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        path = ".".join(_quoted(str(p)) for p in loc) or "(top level)"
        node: Any = raw
        found = True
        for p in loc:
            in_list = isinstance(node, list) and isinstance(p, int) and p < len(node)
            if (isinstance(node, Mapping) and p in node) or in_list:
                node = node[p]
            else:
                found = False
                break
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            lines.append(f"{origin}: {path}: unknown key; allowed keys: {_allowed(loc[:-1])}")
        elif err["type"] == "missing":
            lines.append(f"{origin}: {path}: required key is missing")
        else:
            lines.append(f"{origin}: {path}{f' = {node!r}' if found else ''}: {msg}")
    return "\n".join(dict.fromkeys(lines))


def _allowed(loc: Sequence[Any]) -> str:
    model: Any = SpecFile
    for part in loc:
        fields = {f.alias or n: f for n, f in model.model_fields.items()} if isinstance(model, type) else {}
        f = fields.get(str(part))
        if f is None:
            return "(any key path)"
        model = next((a for a in (f.annotation, *getattr(f.annotation, "__args__", ()))
                      if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if model is None:
            return "(any key path)"
    return ", ".join(f.alias or n for n, f in model.model_fields.items())


# -- the points ----------------------------------------------------------------------------------
def sample_generator(seed: int) -> np.random.Generator:
    """The generator of a spec's parameter sample (independent of every run's stream)."""
    return np.random.default_rng(np.random.SeedSequence([seed, SAMPLE_STREAM]))


def _points(spec: SpecFile) -> list[dict[str, Any]]:
    """Grid points (every combination) × sampled points; each a dict of overrides."""
    keys = list(spec.grid)
    grid = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*spec.grid.values())]
    if not spec.sample:
        return grid
    rng = sample_generator(spec.experiment.seed)
    if spec.sensitivity is not None:
        unit = unit_sample(spec.sensitivity, len(spec.sample), rng)
    else:
        from scipy.stats import qmc

        unit = qmc.LatinHypercube(d=len(spec.sample), rng=rng).random(spec.experiment.samples)
    columns = {k: r.scale(unit[:, j]) for j, (k, r) in enumerate(spec.sample.items())}
    sampled = [{k: columns[k][i] for k in columns} for i in range(unit.shape[0])]
    return [{**g, **s} for g in grid for s in sampled]


def _spec_hash(spec: SpecFile, base: Scenario, points: list[dict[str, Any]]) -> str:
    """What decides the runs' results: the spec (less its words and figure), scenario, points."""
    body = {
        "spec": spec.model_dump(mode="json", by_alias=True,
                                exclude={"experiment": {"title", "description"}, "figure": True}),
        "scenario": base.model_dump(mode="json"),
        "points": points,
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# -- sensitivity designs (SALib) ------------------------------------------------------------------
def salib_problem(d: int) -> dict[str, Any]:
    return {"num_vars": d, "names": [f"x{i}" for i in range(d)], "bounds": [[0.0, 1.0]] * d}


def unit_sample(sens: SensitivitySpec, d: int, rng: np.random.Generator) -> np.ndarray:
    """The design on the unit cube: rows are points, columns the ``d`` sampled parameters."""
    require_salib()
    if sens.method == "sobol":
        from SALib.sample import sobol

        return sobol.sample(salib_problem(d), sens.base_samples, calc_second_order=False, seed=rng)
    from SALib.sample import morris

    return morris.sample(salib_problem(d), sens.base_samples, num_levels=sens.levels, seed=rng)


def check_statistic(name: str, kept: Sequence[str], horizon_h: float) -> str | None:
    """Why statistic ``name`` cannot be computed from outcomes ``kept`` (None if it can)."""
    m = P_HOLD.match(name)
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


def require_salib() -> None:
    """SALib is in the ``experiments`` extra; say so in one line if it is missing."""
    try:
        import SALib  # noqa: F401
    except ImportError:
        raise SpecError("sensitivity analysis needs SALib: pip install 'ceasefire-sim[experiments]'"
                        ) from None
