"""Experiment batches: a spec file in, thousands of seeded runs out, streamed to disk.

A spec (``experiments/*.toml``) names a base scenario, a ``[grid]`` of parameter values and/or
``[sample]`` ranges (Latin hypercube), replicates per point, the horizon, the outcomes to keep
and an optional time-series resolution. Every (point, replicate) is one run with index
``run = replicate * points + point`` and seed ``sim.runner.run_seed(seed, run)``: results do not
depend on the worker count, the order, or (for a given run) on how many replicates there are.

Runs go to a local process pool (spawned workers load the scenario once) or, given a scheduler
address, to a Dask distributed cluster, in chunks of consecutive runs. Each finished chunk is
written at once (see sim.batch_store), so memory stays flat and ``resume=True`` continues an
interrupted batch without losing or repeating a run.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sim.batch_store import FORMATS, BatchStore, read_table
from sim.events import INITIATED, RETALIATION, SPILLOVER
from sim.outcomes import OUTCOMES
from sim.runner import run_one
from sim.scenario import (
    BUNDLED,
    DEFAULT_SCENARIO,
    Scenario,
    ScenarioError,
    load_scenario,
    parameter_info,
    read_toml,
    resolve_path,
)

OUTCOME_TYPES = {"first_violation_min": "float", "violations_per_h": "float", "sections_active": "int",
                 "retaliation_share": "float", "branching_ratio": "float", "pre_rate_per_h": "float",
                 "collapse_min": "float", "held": "bool"}
"""Column type of each outcome in the batch tables."""
SERIES_TYPES = {"run": "int", "point": "int", "t_min": "float", "incidents": "int", "initiated": "int",
                "retaliation": "int", "spillover": "int", "holding": "bool"}
"""The long time-series table: per run and bin, incidents by cause and whether it still holds."""
DISTRIBUTIONS = ("uniform", "loguniform", "integer")
CONNECT_TIMEOUT = "20s"
"""How long to wait for a Dask scheduler before giving up."""
SAMPLE_STREAM = 0x5A4D504C
"""Mixed into the spec seed for the parameter sample, so it never shares a stream with a run."""


class SpecError(ScenarioError):
    """An experiment spec, or the batch folder it is asked to use, is not allowed (one line)."""


# -- the spec ------------------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


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
    outcomes: tuple[str, ...] = Field(OUTCOMES, description="outcomes kept per run (sim.outcomes)")
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
        kinds = {_value_kind(v) for v in values}
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
        from sim.sensitivity import check_statistic

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


def _value_kind(v: Any) -> str | None:
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
        from sim.sensitivity import unit_sample

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


# -- one chunk of runs (in a worker) -------------------------------------------------------------
@dataclass(frozen=True)
class Chunk:
    """Consecutive runs to do, with what a worker needs to do them (small and picklable)."""

    token: str
    seed: int
    runs: tuple[int, ...]
    points: tuple[int, ...]
    overrides: tuple[dict[str, Any], ...]
    outcomes: tuple[str, ...]
    series_min: float | None


_POINT_CACHE: dict[tuple[str, int], Scenario] = {}
_POINT_CACHE_SIZE = 512


def run_chunk(case: Scenario, chunk: Chunk) -> tuple[dict[str, list[Any]], dict[str, np.ndarray] | None]:
    """Run a chunk and reduce each run to its outcomes (and binned series); drop the event logs."""
    out: dict[str, list[Any]] = {name: [] for name in chunk.outcomes}
    series: list[dict[str, np.ndarray]] = []
    for run, point, overrides in zip(chunk.runs, chunk.points, chunk.overrides, strict=True):
        scenario = _point_scenario(case, chunk.token, point, overrides)
        rec = run_one(scenario, chunk.seed, run, keep_events=chunk.series_min is not None,
                      keep_steps=False)
        for name in chunk.outcomes:
            out[name].append(rec.outcomes[name])
        if chunk.series_min is not None and rec.events is not None:
            meta = scenario.scenario
            series.append(_binned(rec.events, run, point, meta.start_min, meta.horizon_h * 60.0,
                                  chunk.series_min, rec.outcomes["collapse_min"]))
    joined = ({k: np.concatenate([s[k] for s in series]) for k in SERIES_TYPES} if series else None)
    return out, joined


def _point_scenario(case: Scenario, token: str, point: int, overrides: Mapping[str, Any]) -> Scenario:
    """The scenario of one point, validated once per worker and point (a small cache)."""
    if not overrides:
        return case
    key = (token, point)
    hit = _POINT_CACHE.get(key)
    if hit is None:
        if len(_POINT_CACHE) >= _POINT_CACHE_SIZE:
            _POINT_CACHE.clear()
        hit = _POINT_CACHE[key] = case.with_overrides(overrides)
    return hit


def _binned(log: Mapping[str, np.ndarray], run: int, point: int, start_min: float, horizon_min: float,
            width: float, collapse: float) -> dict[str, np.ndarray]:
    """Incidents per bin of ``width`` minutes (edges at multiples of it, so one falls on t = 0)."""
    k0, k1 = math.floor(start_min / width), math.ceil(horizon_min / width)
    n = k1 - k0
    t = log["t_min"]
    idx = np.clip(np.floor(t / width).astype(np.int64) - k0, 0, n - 1)
    cause = log["cause"]
    starts = np.arange(k0, k1, dtype=float) * width
    return {
        "run": np.full(n, run, dtype=np.int64),
        "point": np.full(n, point, dtype=np.int64),
        "t_min": starts,
        "incidents": np.bincount(idx, minlength=n),
        "initiated": np.bincount(idx[cause == INITIATED], minlength=n),
        "retaliation": np.bincount(idx[cause == RETALIATION], minlength=n),
        "spillover": np.bincount(idx[cause == SPILLOVER], minlength=n),
        "holding": np.isnan(collapse) | (collapse >= starts + width),
    }


_WORKER_CASE: Scenario | None = None


def _init_worker(case: Scenario) -> None:
    global _WORKER_CASE
    _WORKER_CASE = case
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle


def _pool_chunk(chunk: Chunk) -> tuple[Chunk, Any]:
    if _WORKER_CASE is None:  # pragma: no cover - a pool worker is always initialised
        raise RuntimeError("worker started without a scenario")
    return chunk, run_chunk(_WORKER_CASE, chunk)


def _dask_chunk(case: Scenario, chunk: Chunk) -> tuple[Chunk, Any]:
    return chunk, run_chunk(case, chunk)


# -- executors -----------------------------------------------------------------------------------
Done = Callable[[Chunk, Any], None]


def _in_process(case: Scenario, chunks: Iterable[Chunk], on_done: Done) -> None:
    for chunk in chunks:
        on_done(chunk, run_chunk(case, chunk))


def _on_pool(case: Scenario, chunks: Iterator[Chunk], on_done: Done, workers: int) -> None:
    """A spawned process pool; at most two chunks per worker in flight (flat memory)."""
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                               initializer=_init_worker, initargs=(case,))
    try:
        pending = {pool.submit(_pool_chunk, c) for c in itertools.islice(chunks, 2 * workers)}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                on_done(*fut.result())
                pending |= {pool.submit(_pool_chunk, c) for c in itertools.islice(chunks, 1)}
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _on_dask(case: Scenario, chunks: Iterator[Chunk], on_done: Done, scheduler: Any) -> None:
    """A Dask distributed cluster (``tcp://host:port`` or a Client); chunks, never one task per run."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise SpecError("--scheduler needs Dask: pip install 'ceasefire-sim[cluster]'") from None
    own = not isinstance(scheduler, Client)
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT) if own else scheduler
    except OSError as exc:
        raise SpecError(f"--scheduler {scheduler}: cannot connect: {exc}") from None
    try:
        threads = max(1, sum(client.nthreads().values()))
        shared = client.scatter(case, broadcast=True)  # the scenario travels once per worker
        queue = as_completed([client.submit(_dask_chunk, shared, c, pure=False)
                              for c in itertools.islice(chunks, 2 * threads)])
        for fut in queue:
            result = fut.result()
            fut.release()
            on_done(*result)
            for c in itertools.islice(chunks, 1):
                queue.add(client.submit(_dask_chunk, shared, c, pure=False))
    finally:
        if own:
            client.close()


def chunk_runs(runs: Sequence[int] | np.ndarray, workers: int) -> Iterator[list[int]]:
    """Split sorted run indices into chunks of consecutive runs, about 8 per worker, 4 to 32 each.

    A chunk is one task (a Dask task costs ~2 ms, a run ~5-20 ms) and one part file on disk;
    small enough that the last chunks leave no worker idle for long, or lose much when killed.
    """
    size = max(4, min(32, math.ceil(len(runs) / (workers * 8))))
    chunk: list[int] = []
    for r in map(int, runs):
        if chunk and (len(chunk) == size or chunk[-1] != r - 1):
            yield chunk
            chunk = []
        chunk.append(r)
    if chunk:
        yield chunk


# -- running a batch -----------------------------------------------------------------------------
@dataclass
class BatchResults:
    """A finished batch: tables loaded from its folder on first use."""

    experiment: Experiment
    folder: Path
    manifest: dict[str, Any]
    fmt: str = "parquet"

    @cached_property
    def outcomes(self) -> pd.DataFrame:
        """One row per run: run, point, replicate, the point's parameters, the kept outcomes."""
        return read_table(self.folder / f"outcomes.{self.fmt}")

    @cached_property
    def series(self) -> pd.DataFrame:
        """Long time series (run, point, bin start t_min, incidents by cause, holding); may be empty."""
        path = self.folder / f"series.{self.fmt}"
        return read_table(path) if path.is_file() else pd.DataFrame(columns=list(SERIES_TYPES))

    @cached_property
    def points(self) -> pd.DataFrame:
        """One row per point: its id and parameter values."""
        return read_table(self.folder / f"points.{self.fmt}")


def run(spec: str | Path | Experiment, *, workers: int | None = None, scheduler: Any = None,
        out: str | Path | None = None, resume: bool = False, replicates: int | None = None,
        fmt: str = "parquet", progress: bool | None = None) -> BatchResults:
    """Run an experiment batch; the Python face of ``ceasefire experiment``.

    ``spec``: a spec path or a loaded Experiment. ``workers``: local processes (default: all
    cores; 1 runs in this process). ``scheduler``: a Dask scheduler address or Client (instead
    of local processes). ``out``: the batch folder (default: a temporary one, removed when the
    results are). ``resume``: continue the batch in ``out``. ``replicates`` overrides the spec's.
    ``fmt``: "parquet" or "csv". Raises SpecError for bad input.
    """
    more = {"experiment.replicates": replicates} if replicates is not None else {}
    if isinstance(spec, Experiment):
        exp = load_spec(spec.path, {**spec.changes, **more}) if more else spec
    else:
        exp = load_spec(spec, more or None)
    if fmt not in FORMATS:
        raise SpecError(f"--format {fmt!r}: allowed: {', '.join(FORMATS)}")
    if fmt == "parquet":
        _require("pyarrow", "Parquet output")
    workers = available_cores() if workers is None else workers
    if workers < 1:
        raise SpecError(f"--workers {workers}: must be ≥ 1")
    temporary = out is None
    folder = Path(tempfile.mkdtemp(prefix=f"ceasefire-{exp.name}-")) if temporary else Path(out)
    store = BatchStore(folder, fmt, {"outcomes": _outcome_columns(exp), "series": SERIES_TYPES})
    try:
        manifest = _open_batch(exp, store, resume)
        if manifest["status"] != "complete":
            manifest = _run_batch(exp, store, manifest, workers=workers, scheduler=scheduler,
                                  progress=progress)
    except BaseException:
        if temporary:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    results = BatchResults(exp, folder, manifest, fmt)
    if temporary:
        weakref.finalize(results, shutil.rmtree, folder, True)
    return results


def available_cores() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def _require(module: str, what: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise SpecError(f"{what} needs {module}: pip install 'ceasefire-sim[experiments]' "
                        f"(or use --format csv)") from None


def _outcome_columns(exp: Experiment) -> dict[str, str]:
    cols = {"run": "int", "point": "int", "replicate": "int"}
    for key in exp.parameters:
        kinds = {_value_kind(p[key]) for p in exp.points}
        if kinds == {"number"}:
            ints = all(isinstance(p[key], int) for p in exp.points)
            cols[key] = "int" if ints else "float"
        else:
            cols[key] = "bool" if kinds == {"bool"} else "str"
    cols.update({name: OUTCOME_TYPES[name] for name in exp.spec.experiment.outcomes})
    return cols


def _open_batch(exp: Experiment, store: BatchStore, resume: bool) -> dict[str, Any]:
    """The manifest to go on with: an earlier batch's (resume) or a fresh one."""
    old = store.read_manifest()
    where = store.folder
    if old is not None:
        if resume:
            if old.get("spec_hash") != exp.spec_hash:
                raise SpecError(f"{where}: cannot resume: the spec or its scenario changed since this "
                                f"batch started (spec hash {old.get('spec_hash', '?')[:12]} there, "
                                f"{exp.spec_hash[:12]} now); run it into another --out folder")
            if old.get("format") != store.fmt:
                raise SpecError(f"{where}: cannot resume: the batch is written as {old.get('format')}, "
                                f"not {store.fmt}")
            if old.get("status") == "complete":
                return old
            store.start(exp.points_frame(), fresh=False)
            return old
        if old.get("status") != "complete":
            raise SpecError(f"{where}: holds an unfinished batch ({old.get('runs_done', 0)} of "
                            f"{old.get('runs', '?')} runs); pass --resume to continue it, or choose "
                            f"another --out folder")
    meta = exp.spec.experiment
    manifest = {
        "experiment": exp.name,
        "spec": str(exp.path),
        "spec_hash": exp.spec_hash,
        "scenario": exp.scenario.scenario.name,
        "package_version": _version("ceasefire-sim"),
        "versions": {"python": platform.python_version(), "mesa": _version("mesa"),
                     "numpy": np.__version__},
        "seed": meta.seed,
        "seeding": "run = replicate * points + point; run i draws from "
                   "numpy.random.SeedSequence(seed, spawn_key=(i,))",
        "points": len(exp.points),
        "replicates": exp.replicates,
        "runs": exp.runs,
        "parameters": exp.parameters,
        "outcomes": list(meta.outcomes),
        "series_min": meta.series_min,
        "horizon_h": exp.scenario.scenario.horizon_h,
        "format": store.fmt,
        "status": "incomplete",
        "runs_done": 0,
        "sessions": [],
    }
    store.start(exp.points_frame(), fresh=True)
    store.write_manifest(manifest)
    return manifest


def _run_batch(exp: Experiment, store: BatchStore, manifest: dict[str, Any], *, workers: int,
               scheduler: Any, progress: bool | None) -> dict[str, Any]:
    done = store.done_runs()
    todo = np.setdiff1d(np.arange(exp.runs, dtype=np.int64), done, assume_unique=True)
    n_points = len(exp.points)
    meta = exp.spec.experiment
    param_cols = {k: [p[k] for p in exp.points] for k in exp.parameters}
    types = store.columns["outcomes"]

    def chunks() -> Iterator[Chunk]:
        for runs in chunk_runs(todo, workers if scheduler is None else 4 * workers):
            pts = tuple(r % n_points for r in runs)
            yield Chunk(exp.spec_hash, meta.seed, tuple(runs), pts,
                        tuple(exp.points[p] for p in pts), tuple(meta.outcomes), meta.series_min)

    bar = _progress_bar(exp.runs, len(done), progress)
    session = {"started": _now(), "workers": workers if scheduler is None else None,
               "scheduler": str(scheduler) if scheduler is not None else None, "runs": 0}
    t0 = time.perf_counter()

    def on_done(chunk: Chunk, result: Any) -> None:
        outcomes, series = result
        runs = np.asarray(chunk.runs, dtype=np.int64)
        pts = np.asarray(chunk.points, dtype=np.int64)
        cols: dict[str, Any] = {"run": runs, "point": pts, "replicate": runs // n_points}
        for k in exp.parameters:
            cols[k] = [param_cols[k][p] for p in chunk.points]
        for name in meta.outcomes:
            cols[name] = np.asarray(outcomes[name], dtype=_NUMPY[types[name]])
        store.write_chunk(cols, series)
        session["runs"] += len(runs)
        if bar is not None:
            bar.update(len(runs))

    stream = chunks()
    try:
        if scheduler is not None:
            _on_dask(exp.scenario, stream, on_done, scheduler)
        elif workers == 1 or len(todo) <= 4:
            _in_process(exp.scenario, stream, on_done)
        else:
            _on_pool(exp.scenario, stream, on_done, workers)
    finally:
        if bar is not None:
            bar.close()
        elapsed = time.perf_counter() - t0
        session.update(finished=_now(), elapsed_s=round(elapsed, 3),
                       runs_per_s=round(session["runs"] / elapsed, 2) if elapsed > 0 else None)
        manifest = {**manifest, "sessions": [*manifest.get("sessions", []), session],
                    "runs_done": int(len(done) + session["runs"])}
        store.write_manifest(manifest)
    store.finish(exp.runs)
    total = sum(s.get("elapsed_s") or 0.0 for s in manifest["sessions"])
    manifest = {**manifest, "status": "complete", "finished": _now(), "elapsed_s": round(total, 3),
                "runs_per_s": round(exp.runs / total, 2) if total > 0 else None}
    store.write_manifest(manifest)
    return manifest


_NUMPY = {"int": np.int64, "float": np.float64, "bool": np.bool_, "str": object}


def _progress_bar(total: int, initial: int, progress: bool | None) -> Any:
    show = sys.stderr.isatty() if progress is None else progress
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="run", file=sys.stderr, dynamic_ncols=True,
                smoothing=0.1)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"
