"""Running replicates of a scenario: one seed in, one stream per run out, tables back.

Run ``i`` of a batch seeded ``S`` draws from ``SeedSequence(S, spawn_key=(i,))`` and from nothing
else, so its event log is the same whichever process runs it and in whatever order. Worker
processes are started with "spawn" (Mesa 3.3 forces it): each worker loads the scenario once
and then runs chunks of run indices.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.model.ceasefire import DECISION_FIELDS, CeasefireModel, forget
from sim.model.events import FIELDS, events_frame
from sim.model.outcomes import OUTCOMES, daily_violations, held_at, run_outcomes, undefined
from sim.model.scenario import Scenario, load_scenario
from sim.studies.tables import write_csv_atomic

HOLD_HOURS = (6, 24, 72)


def run_seed(seed: int, run: int) -> np.random.SeedSequence:
    """The seed of run ``run`` in a batch seeded ``seed``: independent of workers and order."""
    return np.random.SeedSequence(seed, spawn_key=(run,))


@dataclass
class RunRecord:
    """What one run leaves behind: its outcomes, its event log (codes) and its step table."""

    run: int
    outcomes: dict[str, float]
    events: dict[str, np.ndarray] | None
    steps: pd.DataFrame | None
    decisions: list[tuple] = field(default_factory=list)
    """The commands' decisions (rule 8): (t_min, side name, decision, term, commitment)."""


def war_rate_per_h(scenario: Scenario) -> float:
    """War-time intensity: incidents per hour all forces start under their war-time posture.

    From the scenario's parameters (not a run's pre-ceasefire window), so outcomes measured
    against it do not depend on ``scenario.start_min``.
    """
    return float(sum(f.war_rate_per_h for side in scenario.sides.values()
                     for f in side.forces.values()))


def run_one(scenario: Scenario, seed: int, run: int, *, keep_events: bool = True,
            keep_steps: bool = True, overrides: Mapping[str, Any] | None = None) -> RunRecord:
    """Run replicate ``run`` of ``scenario`` under batch seed ``seed`` to its horizon.

    ``overrides`` (key path -> value) change this run's parameters only, e.g. a posterior draw.
    """
    if overrides:
        scenario = scenario.with_overrides(overrides)
    model = CeasefireModel(scenario, rng=run_seed(seed, run), collect_steps=keep_steps)
    model.run_to_horizon()
    log = model.log.arrays()
    meta = scenario.scenario
    outcomes = run_outcomes(log, model.decisions, start_min=meta.start_min,
                            horizon_min=model.horizon_min, war_rate_per_h=war_rate_per_h(scenario),
                            window_min=scenario.outcomes.relapse_window_min,
                            fraction=scenario.outcomes.relapse_fraction,
                            commitment=scenario.rules.commitment)
    record = RunRecord(run, outcomes, log if keep_events else None,
                       model.steps_table() if keep_steps else None,
                       [(*d[:1], scenario.side_names[d[1]], *d[2:]) for d in model.decisions])
    forget(model)
    return record


# -- worker processes -------------------------------------------------------------------------
_WORKER_SCENARIO: Scenario | None = None


def _init_worker(scenario: Scenario) -> None:
    global _WORKER_SCENARIO
    _WORKER_SCENARIO = scenario
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle


def worker_scenario() -> Scenario:
    """In a :class:`RunPool` worker: the scenario the worker was started with."""
    if _WORKER_SCENARIO is None:  # pragma: no cover - a pool worker is always initialised
        raise RuntimeError("not in a RunPool worker")
    return _WORKER_SCENARIO


def _run_chunk(seed: int, runs: Sequence[int], keep_events: bool, keep_steps: bool,
               overrides: Sequence[Mapping[str, Any] | None]) -> list[RunRecord]:
    return [run_one(worker_scenario(), seed, r, keep_events=keep_events, keep_steps=keep_steps,
                    overrides=o) for r, o in zip(runs, overrides, strict=True)]


class RunPool:
    """Worker processes that have each loaded ``scenario`` once, for many :func:`map_runs` calls.

    Starting a "spawn" worker costs about a second (imports); a calibration asks for runs a
    population at a time, so it keeps one pool for all of them. Use it as a context manager.
    """

    def __init__(self, scenario: Scenario, workers: int) -> None:
        if workers < 2:
            raise ValueError(f"a RunPool needs ≥ 2 workers, got {workers}")
        self.scenario = scenario
        self.workers = workers
        self.executor = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                                            initializer=_init_worker, initargs=(scenario,))

    def __enter__(self) -> RunPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (runs not yet started are cancelled)."""
        self.executor.shutdown(cancel_futures=True)


def map_runs(scenario: Scenario, seed: int, runs: Iterable[int], *, workers: int = 1,
             keep_events: bool = True, keep_steps: bool = True, chunk_size: int | None = None,
             overrides_by_run: Mapping[int, Mapping[str, Any]] | None = None,
             on_done: Callable[[int], None] | None = None, pool: RunPool | None = None,
             ) -> list[RunRecord]:
    """Run the given run indices, on ``workers`` processes, and return records in run order.

    ``overrides_by_run`` maps a run index to parameter overrides for that run only. ``pool``
    reuses running workers (it must have been made for the same scenario).
    """
    indices = list(runs)
    if workers < 1:
        raise ValueError(f"workers must be ≥ 1, got {workers}")
    if pool is not None and pool.scenario is not scenario:
        raise ValueError("the RunPool was made for another scenario")
    per_run = overrides_by_run or {}
    records: list[RunRecord] = []
    if pool is None and (workers == 1 or len(indices) < 2):
        for r in indices:
            records.append(run_one(scenario, seed, r, keep_events=keep_events,
                                   keep_steps=keep_steps, overrides=per_run.get(r)))
            if on_done:
                on_done(1)
        return records
    n_workers = pool.workers if pool is not None else workers
    size = chunk_size or max(1, min(50, math.ceil(len(indices) / (n_workers * 4))))
    chunks = [indices[i:i + size] for i in range(0, len(indices), size)]
    with contextlib.ExitStack() as stack:
        if pool is None:
            pool = stack.enter_context(RunPool(scenario, workers))
        futures = [pool.executor.submit(_run_chunk, seed, c, keep_events, keep_steps,
                                        [per_run.get(r) for r in c]) for c in chunks]
        for fut in as_completed(futures):
            done = fut.result()
            records.extend(done)
            if on_done:
                on_done(len(done))
    records.sort(key=lambda rec: rec.run)
    return records


# -- results ---------------------------------------------------------------------------------
@dataclass
class Results:
    """Replicates of one scenario: outcomes per run, and (if kept) event logs and step tables."""

    scenario: Scenario
    seed: int
    records: list[RunRecord] = field(repr=False)

    @property
    def runs(self) -> int:
        return len(self.records)

    @property
    def outcomes(self) -> pd.DataFrame:
        """One row per run: the outcomes of sim.model.outcomes (times in minutes)."""
        frame = pd.DataFrame([rec.outcomes for rec in self.records], columns=list(OUTCOMES))
        frame.insert(0, "run", [rec.run for rec in self.records])
        return frame

    @property
    def events(self) -> pd.DataFrame:
        """All runs' incidents: one row each, with a ``run`` column."""
        kept = [rec for rec in self.records if rec.events is not None]
        if not kept:
            cols = {f: np.empty(0) for f in FIELDS}
            run = np.empty(0, dtype=np.int64)
        else:
            cols = {f: np.concatenate([rec.events[f] for rec in kept]) for f in FIELDS}
            run = np.concatenate([np.full(len(rec.events["t_min"]), rec.run) for rec in kept])
        case = self.scenario
        return events_frame(cols, list(case.sections), case.side_names, list(case.kinds), run)

    @property
    def steps(self) -> pd.DataFrame:
        """All runs' step tables (one row per reporting interval), with a ``run`` column."""
        kept = [rec for rec in self.records if rec.steps is not None]
        if not kept:
            return pd.DataFrame()
        # One concat, then the run column for all rows (a copy per run costs more than the runs' I/O).
        frame = pd.concat([rec.steps for rec in kept], ignore_index=True)
        run = np.repeat(np.array([rec.run for rec in kept], dtype=np.int64), [len(rec.steps) for rec in kept])
        frame = frame.drop(columns="run", errors="ignore")
        frame.insert(0, "run", run)
        return frame

    @property
    def decisions(self) -> pd.DataFrame:
        """All runs' decisions to abandon the ceasefire or recommit (rule 8), with a ``run`` column."""
        rows = [(rec.run, *d) for rec in self.records for d in rec.decisions]
        return pd.DataFrame(rows, columns=["run", *DECISION_FIELDS])

    @property
    def daily(self) -> pd.DataFrame:
        """Violations per full day after t = 0, per run (day 1 = the first 24 h); needs events."""
        horizon = self.scenario.scenario.horizon_h * 60.0
        rows = []
        for rec in self.records:
            if rec.events is not None:
                counts = daily_violations(rec.events["t_min"], horizon)
                rows += [(rec.run, d + 1, int(n)) for d, n in enumerate(counts)]
        return pd.DataFrame(rows, columns=["run", "day", "violations"])

    def summary(self) -> dict[str, Any]:
        """The batch in numbers; the same keys as ``ceasefire run --json``.

        An outcome that cannot be computed is None, with the reason under ``undefined``.
        """
        out = self.outcomes
        case = self.scenario
        horizon_h = case.scenario.horizon_h
        collapse = out["collapse_min"].to_numpy(dtype=float)
        held = out["held"].to_numpy(dtype=float)
        first = out["first_violation_min"].to_numpy(dtype=float)
        relapse = out["relapse_min"].to_numpy(dtype=float)
        why = {name: reason for name in ("p_hold", "relapse_min")
               if (reason := undefined(name, commitment=case.rules.commitment,
                                       war_rate_per_h=war_rate_per_h(case))) is not None}
        decisions = self.decisions
        first_abandon = decisions[decisions["decision"] == "abandon"].groupby("run").head(1)
        daily = self.daily
        return {
            "scenario": case.scenario.name,
            "runs": self.runs,
            "seed": self.seed,
            "horizon_h": horizon_h,
            "first_violation_min": _spread(first),
            "collapse_h": None if "p_hold" in why else _spread(collapse / 60.0),
            "p_hold": {f"{h}h": _number(held_at(collapse, h, horizon_h, held))
                       for h in (*HOLD_HOURS, 168) if h in HOLD_HOURS or h <= horizon_h},
            "collapse_by": {"side": first_abandon["side"].value_counts().to_dict(),
                            "term": first_abandon["term"].value_counts().to_dict()},
            "recommitments": {"mean": _number(float(np.nanmean(out["recommitments"]))
                                              if "p_hold" not in why and self.runs else math.nan)},
            "relapse_h": None if "relapse_min" in why else _spread(relapse / 60.0),
            "p_relapsed": {f"{h}h": _number(1.0 - held_at(relapse, h, horizon_h))
                           for h in HOLD_HOURS if "relapse_min" not in why},
            "violations_per_day": {"median": _number(np.nanmedian(
                out["violations_per_h"].to_numpy(dtype=float) * 24.0) if self.runs else math.nan)},
            "violations_by_day": ([_number(v) for v in
                                   daily.groupby("day")["violations"].median().to_numpy()]
                                  if len(daily) else []),
            "erosion_trend_per_day": {"median": _median(out["erosion_trend_per_day"].to_numpy(dtype=float))},
            "retaliation_share": {"median": _median(out["retaliation_share"].to_numpy(dtype=float))},
            "branching_ratio": {"median": _median(out["branching_ratio"].to_numpy(dtype=float))},
            "events_total": int(sum(len(r.events["t_min"]) for r in self.records
                                    if r.events is not None)),
            "undefined": why,
        }

    def write(self, out_dir: str | Path, *, events: pd.DataFrame | None = None) -> list[Path]:
        """Write ``events.csv``, ``steps.csv``, ``outcomes.csv``, ``decisions.csv`` and
        ``daily.csv`` into ``out_dir``, atomically.

        ``events``: :attr:`events`, if the caller has it already (decoding it is not free).
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name, frame in (("events.csv", self.events if events is None else events),
                            ("steps.csv", self.steps), ("outcomes.csv", self.outcomes),
                            ("decisions.csv", self.decisions), ("daily.csv", self.daily)):
            written.append(write_csv_atomic(frame, out / name))
        return written


def _number(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _median(values: np.ndarray) -> float | None:
    values = values[~np.isnan(values)]
    return float(np.median(values)) if values.size else None


def _spread(values: np.ndarray) -> dict[str, float] | None:
    """Median and 90% range over the runs that had a value; None if none had one."""
    values = values[~np.isnan(values)]
    if values.size == 0:
        return None
    p05, med, p95 = np.quantile(values, [0.05, 0.5, 0.95])
    return {"median": float(med), "p05": float(p05), "p95": float(p95), "runs": int(values.size)}


def run_replicates(scenario: Scenario | str | Path | None = None, *, runs: int = 100,
                   seed: int = 0, overrides: Mapping[str, Any] | None = None,
                   horizon_h: float | None = None, workers: int = 1, keep_events: bool = True,
                   keep_steps: bool = True, progress: bool | None = None,
                   overrides_by_run: Mapping[int, Mapping[str, Any]] | None = None) -> Results:
    """Run ``runs`` replicates of a scenario and return their tables and summary.

    ``scenario`` is a loaded Scenario, a path, a bundled name or None (Karabakh, 10 October 2020);
    ``overrides`` map key paths to values (as ``--set``); ``horizon_h`` overrides the horizon.
    ``progress``: None shows a bar on a terminal only. ``overrides_by_run`` gives some runs
    parameters of their own (e.g. draws from a posterior, see
    ``sim.studies.calibration.posterior_overrides``). Raises ScenarioError or ValueError.
    """
    if runs < 1:
        raise ValueError(f"runs must be ≥ 1, got {runs}")
    if seed < 0:
        raise ValueError(f"seed must be ≥ 0, got {seed}")
    changes = dict(overrides or {})
    if horizon_h is not None:
        changes["scenario.horizon_h"] = horizon_h
    case = load_scenario(scenario, changes or None)
    bar = progress_bar(runs, progress)
    try:
        records = map_runs(case, seed, range(runs), workers=workers, keep_events=keep_events,
                           keep_steps=keep_steps, overrides_by_run=overrides_by_run,
                           on_done=bar.update if bar else None)
    finally:
        if bar:
            bar.close()
    return Results(case, seed, records)


def progress_bar(total: int, progress: bool | None, *, unit: str = "run", initial: int = 0,
                 desc: str | None = None) -> Any:
    """A tqdm bar on stderr, or None: ``progress`` None means only when stderr is a terminal.

    Shown only once the work has taken more than a second (tqdm's ``delay``).
    """
    show = sys.stderr.isatty() if progress is None else progress
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit=unit, desc=desc, file=sys.stderr, delay=1.0,
                dynamic_ncols=True, smoothing=0.1)
