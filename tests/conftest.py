"""Small synthetic scenarios for the core model's tests.

The tests build their own scenarios here (written to ``tmp_path`` as TOML), so they do not
depend on the bundled Karabakh numbers, which are tuned separately.

The base case: two front sections (``north`` - ``south``), one town behind each side's line,
two sides (``east``, ``west``) each holding both front sections, no mediator. Every rule is on;
tests switch rules and parameters with ``key.path -> value`` overrides, as ``--set`` does.
"""

from __future__ import annotations

import copy
import json
import math
import signal
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sim.model.ceasefire import CeasefireModel
from sim.model.scenario import Scenario, load_scenario
from sim.studies.runner import run_replicates

BASE: dict[str, Any] = {
    "scenario": {"name": "test-case", "start_min": -120.0, "horizon_h": 4.0,
                 "report_interval_min": 15.0},
    "sections": {
        "north": {"kind": "front", "value": 0.5, "neighbours": ["south", "east_town"]},
        "south": {"kind": "front", "value": 0.5, "neighbours": ["north", "west_town"]},
        "east_town": {"kind": "rear", "side": "east", "neighbours": ["north"]},
        "west_town": {"kind": "rear", "side": "west", "neighbours": ["south"]},
    },
    "sides": {
        side: {
            "command": {"order_issue_min": 0.0, "order_delay_mean_min": 20.0},
            "force": {"discipline": 0.5, "war_rate_per_h": 6.0, "ceasefire_rate_per_h": 2.0,
                      "capabilities": {"small_arms": 1.0, "artillery": 0.5}},
            "forces": {"north": {}, "south": {}},
        }
        for side in ("east", "west")
    },
}
"""The base scenario as data (never mutated: tests take copies)."""

MEDIATOR: dict[str, Any] = {"report_delay_mean_min": 5.0, "capacity_per_day": 100,
                            "effectiveness": 1.0, "pressure_duration_min": 600.0,
                            "credibility": 1.0, "credibility_loss": 0.0, "even_handedness": 1.0}
"""A strong, quick mediator, added with ``with_mediator``."""

QUIET: dict[str, Any] = {
    "rules.retaliation": False,
    "rules.spillover": False,
    "rules.mediation": False,
    "rules.order_propagation": False,
    "rules.commitment": False,
    "sides.*.force.rear_strike_share": 0.0,
}
"""Overrides that switch off every interaction, so one rule can be measured alone."""


def to_toml(data: Mapping[str, Any]) -> str:
    """Write nested dicts of scalars and lists as TOML (enough for scenario files)."""
    lines: list[str] = []

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"TOML cannot hold {v!r} here")
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, Mapping):
            return "{" + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + "}"
        raise TypeError(f"cannot write {v!r} as TOML")

    def table(prefix: list[str], node: Mapping[str, Any]) -> None:
        scalars = {k: v for k, v in node.items() if not isinstance(v, Mapping)}
        tables = {k: v for k, v in node.items() if isinstance(v, Mapping)}
        if prefix:
            lines.append("[" + ".".join(json.dumps(p) for p in prefix) + "]")
        lines.extend(f"{json.dumps(k)} = {value(v)}" for k, v in scalars.items())
        for k, v in tables.items():
            table([*prefix, k], v)

    table([], data)
    return "\n".join(lines) + "\n"


def base_data() -> dict[str, Any]:
    """A fresh copy of the base scenario's data."""
    return copy.deepcopy(BASE)


def with_mediator(data: dict[str, Any], **params: Any) -> dict[str, Any]:
    """``data`` with a ``[mediator]`` table (MEDIATOR with ``params`` changed)."""
    out = copy.deepcopy(data)
    out["mediator"] = {**MEDIATOR, **params}
    return out


def write_case(directory: Path, data: Mapping[str, Any], name: str = "case.toml") -> Path:
    """Write scenario data as a TOML file in ``directory``."""
    path = directory / name
    path.write_text(to_toml(data), encoding="utf-8")
    return path


@pytest.fixture
def case_file(tmp_path: Path) -> Path:
    """The base scenario, written as a TOML file."""
    return write_case(tmp_path, BASE)


@pytest.fixture
def make_case(tmp_path: Path) -> Callable[..., Scenario]:
    """Build a scenario: ``make_case(overrides, data=...)`` writes ``data`` (default: the base
    scenario) to a file and loads it with the ``key.path -> value`` overrides."""
    counter = iter(range(10**6))

    def make(overrides: Mapping[str, Any] | None = None, *, data: Mapping[str, Any] | None = None,
             quiet: bool = False) -> Scenario:
        path = write_case(tmp_path, BASE if data is None else data, f"case{next(counter)}.toml")
        changes = {**(QUIET if quiet else {}), **(overrides or {})}
        return load_scenario(path, changes or None)

    return make


def run_model(case: Scenario, seed: int) -> CeasefireModel:
    """One run of ``case`` to its horizon."""
    model = CeasefireModel(case, rng=seed)
    model.run_to_horizon()
    return model


def events_of(case: Scenario, runs: int, seed: int = 0) -> pd.DataFrame:
    """The event logs of ``runs`` replicates (one process), with a ``run`` column."""
    return run_replicates(case, runs=runs, seed=seed, keep_steps=False, progress=False).events


def within(observed: float, expected: float, se: float, k: float = 4.0) -> bool:
    """Whether ``observed`` is within ``k`` standard errors of ``expected``.

    k = 4 gives a false-alarm rate of about 6e-5 per check under the normal approximation.
    """
    return abs(observed - expected) <= k * se


def poisson_check(count: float, expected: float, k: float = 4.0) -> None:
    """Assert a Poisson count is within k standard errors (sqrt(expected)) of its mean."""
    se = math.sqrt(expected)
    assert within(count, expected, se, k), (
        f"count {count} vs expected {expected:.1f} ± {k}×{se:.1f}")


def binomial_check(successes: int, n: int, p: float, k: float = 4.0) -> None:
    """Assert a binomial share is within k standard errors of p."""
    assert n > 0
    se = math.sqrt(p * (1 - p) / n)
    share = successes / n
    assert within(share, p, se, k), f"share {share:.4f} of {n} vs p = {p} ± {k}×{se:.4f}"


def scripted_log(case: Scenario, rows: list[dict], *, section: str, side: str) -> dict[str, np.ndarray]:
    """An event log (codes, as ``EventLog.arrays()``) from readable rows, for observation tests.

    Each row gives ``t`` and optionally ``section``, ``side``, ``kind``, ``detected``, ``blame``
    ({blamer: blamed}) and ``post_seen``; ``section`` and ``side`` are the defaults. By default a
    post sees every incident on a section where one stands (rule 9's draw, scripted).
    """
    from sim.model.events import FIELDS, NO_ONE

    sec = {n: i for i, n in enumerate(case.sections)}
    sides = {n: i for i, n in enumerate(case.side_names)}
    kind = {n: i for i, n in enumerate(case.kinds)}
    posts = set(case.peacekeepers.sections) if case.peacekeepers is not None else set()
    cols: dict[str, list] = {f: [] for f in FIELDS}
    for r in sorted(rows, key=lambda r: r["t"]):
        blame = [NO_ONE, NO_ONE]
        for by, whom in r.get("blame", {}).items():
            blame[sides[by]] = sides[whom]
        where = r.get("section", section)
        values = dict(t_min=r["t"], section=sec[where], side=sides[r.get("side", side)],
                      kind=kind[r.get("kind", "small_arms")], severity=1.0, cause=0, parent=NO_ONE,
                      target=0, detected=int(r.get("detected", True)), blame_0=blame[0],
                      blame_1=blame[1], blame_mediator=NO_ONE, casualties=0,
                      post_seen=int(r.get("post_seen", where in posts)), blame_post=NO_ONE)
        for f in FIELDS:
            cols[f].append(values[f])
    return {f: np.asarray(v, dtype=float if f in ("t_min", "severity") else np.int64)
            for f, v in cols.items()}


def rng(seed: int = 0) -> np.random.Generator:
    """A seeded numpy Generator."""
    return np.random.default_rng(seed)


class HangError(Exception):
    """A run did not finish within its generous time limit (an endless loop, not slowness)."""


@contextmanager
def no_hang(seconds: int = 30) -> Iterator[None]:
    """Turn an endless loop into a test failure (a guard, not a timing check: the runs it
    wraps take milliseconds). Unix only; pytest runs tests in the main thread."""

    def hung(_signum: int, _frame: object) -> None:
        raise HangError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
