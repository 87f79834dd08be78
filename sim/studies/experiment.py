"""Experiment batches: a spec file in, thousands of seeded runs out, streamed to disk.

A spec (``experiments/*.toml``) names a base scenario, a ``[grid]`` of parameter values and/or
``[sample]`` ranges (Latin hypercube), replicates per point, the horizon, the outcomes to keep
and an optional time-series resolution. Every (point, replicate) is one run with index
``run = replicate * points + point`` and seed ``sim.studies.runner.run_seed(seed, run)``: results do not
depend on the worker count, the order, or (for a given run) on how many replicates there are.

Runs go to a local process pool (spawned workers load the scenario once) or, given a scheduler
address, to a Dask distributed cluster, in chunks of consecutive runs. Each finished chunk is
written at once (see sim.studies.batch_store), so memory stays flat and ``resume=True`` continues an
interrupted batch without losing or repeating a run.
"""

from __future__ import annotations

import itertools
import math
import os
import platform
import shutil
import tempfile
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.model.events import INITIATED, RETALIATION, SPILLOVER
from sim.model.scenario import Scenario
from sim.studies.batch_store import FORMATS, BatchStore, read_table
from sim.studies.experiment_spec import Experiment, SpecError, load_spec, value_kind
from sim.studies.runner import RunPool, progress_bar, run_one, worker_scenario

OUTCOME_TYPES = {"first_violation_min": "float", "violations_per_h": "float", "sections_active": "int",
                 "retaliation_share": "float", "branching_ratio": "float", "pre_rate_per_h": "float",
                 "collapse_min": "float", "held": "float", "recommitments": "float",
                 "relapse_min": "float", "erosion_trend_per_day": "float"}
"""``held`` is 1.0 / 0.0, or NaN where it is undefined (rule 8 off): never a silent True."""
"""Column type of each outcome in the batch tables."""
SERIES_TYPES = {"run": "int", "point": "int", "t_min": "float", "incidents": "int", "initiated": "int",
                "retaliation": "int", "spillover": "int", "holding": "float"}
"""The long time-series table: per run and bin, incidents by cause and whether it still holds."""
CONNECT_TIMEOUT = "20s"
"""How long to wait for a Dask scheduler before giving up."""


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
                                  chunk.series_min, rec.outcomes["collapse_min"],
                                  rec.outcomes["held"]))
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
            width: float, collapse: float, held: float) -> dict[str, np.ndarray]:
    """Incidents per bin of ``width`` minutes (edges at multiples of it, so one falls on t = 0).

    ``holding`` is 1.0 while no side has abandoned the ceasefire, NaN where that is undefined.
    """
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
        "holding": (np.full(n, np.nan) if np.isnan(held) else
                    (np.isnan(collapse) | (collapse >= starts + width)).astype(float)),
    }


def _pool_chunk(chunk: Chunk) -> tuple[Chunk, Any]:
    return chunk, run_chunk(worker_scenario(), chunk)


def _dask_chunk(case: Scenario, chunk: Chunk) -> tuple[Chunk, Any]:
    return chunk, run_chunk(case, chunk)


# -- executors -----------------------------------------------------------------------------------
Done = Callable[[Chunk, Any], None]


def _in_process(case: Scenario, chunks: Iterable[Chunk], on_done: Done) -> None:
    for chunk in chunks:
        on_done(chunk, run_chunk(case, chunk))


def _on_pool(case: Scenario, chunks: Iterator[Chunk], on_done: Done, workers: int) -> None:
    """A spawned process pool; at most two chunks per worker in flight (flat memory)."""
    with RunPool(case, workers) as pool:
        submit = pool.executor.submit
        pending = {submit(_pool_chunk, c) for c in itertools.islice(chunks, 2 * workers)}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                on_done(*fut.result())
                pending |= {submit(_pool_chunk, c) for c in itertools.islice(chunks, 1)}


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
        kinds = {value_kind(p[key]) for p in exp.points}
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

    bar = progress_bar(exp.runs, progress, initial=len(done))
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


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"


__all__ = ["BatchResults", "Experiment", "SpecError", "available_cores", "load_spec", "run"]
