"""The records library: every bundled scenario that has a record, summarised.

A record is checked against its scenario (sections, sides, kinds, a source on every line) and
its counts against the scenario's monitors; :func:`library` lists each record's truce, span,
lines by type, monitor and number of sources, for ``ceasefire records``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd

from sim.model.scenario import Scenario, ScenarioError, bundled_dir, load_scenario
from sim.records.observations import observations
from sim.records.record import TYPES, read_record

GENERATED_SUFFIXES = (".calibrated.toml", ".calibration.toml")
"""Files beside the scenarios that are not records of their own."""


def check_record(case: Scenario, path: Path) -> pd.DataFrame:
    """Read ``path`` against ``case`` and make sure every line can be compared or kept.

    Raises ScenarioError, one line per problem (file, line, column, value, what is allowed).
    """
    record = read_record(path, sections=case.sections, sides=case.side_names, kinds=case.kinds)
    try:
        observations(record, case)
    except ScenarioError as exc:
        raise ScenarioError("\n".join(f"{path}: {m}" for m in str(exc).splitlines())) from None
    return record


def record_summary(case: Scenario, record: pd.DataFrame) -> dict[str, Any]:
    """Truce, span, lines by type, monitor and sources of one record."""
    meta = case.scenario
    first = float(record["t_min_earliest"].min()) if len(record) else None
    last = float(record["t_min_latest"].max()) if len(record) else None
    effective = _effective(meta.effective_local)
    dates = None
    if effective is not None and first is not None and last is not None:
        dates = [(effective + dt.timedelta(minutes=m)).isoformat(timespec="minutes") for m in (first, last)]
    counts = record["type"].value_counts()
    pk = case.peacekeepers
    return {
        "name": meta.name,
        "truce": meta.title or meta.name,
        "effective_local": meta.effective_local,
        "first_min": first,
        "last_min": last,
        "first_local": dates[0] if dates else None,
        "last_local": dates[1] if dates else None,
        "lines": len(record),
        "by_type": {t: int(counts.get(t, 0)) for t in TYPES},
        "monitor": (pk.label or "peacekeepers") if pk is not None else "none",
        "sources": int(record["source"].nunique()),
        "events_file": meta.events_file,
    }


def library(directory: str | Path | None = None) -> list[dict[str, Any]]:
    """Every scenario in ``directory`` (default: the bundled ones) that names a record.

    A scenario or record that does not load is listed with its ``error`` (one line per problem)
    instead of its summary, so one broken file never hides the others.
    """
    folder = Path(directory) if directory is not None else bundled_dir()
    out = []
    for path in sorted(folder.glob("*.toml")):
        if path.name.endswith(GENERATED_SUFFIXES):
            continue
        try:
            case = load_scenario(path)
        except ScenarioError as exc:
            out.append({"name": path.stem, "file": str(path), "error": str(exc)})
            continue
        if not case.scenario.events_file:
            continue
        try:
            record = check_record(case, path.parent / case.scenario.events_file)
        except ScenarioError as exc:
            out.append({"name": case.scenario.name, "file": str(path), "error": str(exc)})
            continue
        out.append({**record_summary(case, record), "file": str(path)})
    return out


def _effective(text: str) -> dt.datetime | None:
    """``effective_local`` as a local wall-clock time (offset dropped), or None if not ISO 8601."""
    try:
        return dt.datetime.fromisoformat(text).replace(tzinfo=None) if text else None
    except ValueError:
        return None
