"""The record: what was reported about a real ceasefire, as data beside its scenario (format v2).

One CSV line per piece of evidence, in the columns of :data:`COLUMNS`:

* ``t_min_earliest``, ``t_min_latest``: minutes relative to t = 0, finite. For incidents,
  descriptions and statements the widest interval the source allows; for counts and claims the
  window the number covers.
* ``type`` and ``kind`` (:data:`KINDS`): an ``incident`` (a kind of fire, or ``unspecified``),
  a monitor's ``count`` (``violations`` or ``explosions``), a party's ``claim``, a qualitative
  ``description`` (``calm``, ``fighting``, ``heavy_fighting``, ``shelling_stopped``) or a
  ``statement`` (kept for the timeline, never compared with runs). Two statement kinds state the
  truce's outcome, so that forecasts of "collapsed by H" can be scored: ``abandoned`` (a party,
  or the mediator or monitor on its behalf, declared the truce over, or a party resumed offensive
  operations, an offensive rather than isolated violations; ``blamed`` is the side that
  abandoned) and ``in_force`` (a mediator, monitor, party or the press says the truce as a whole
  still stands at that time, e.g. a mediator extending it or a monitor saying it largely holds).
* ``section`` (empty: no place named, or the whole front), ``count`` (required for counts,
  optional for claims), ``reported_by`` (a side, ``monitor``, ``mediator`` or ``press``),
  ``blamed`` (a side or empty), ``casualties`` (or empty), ``source`` (a URL, required),
  ``source_date`` (``YYYY-MM-DD``, required) and ``note`` (a paraphrase in our own words).

:func:`read_record` checks every line and reports every problem, one line each, naming the
file, the CSV line (header = line 1), the column, the value and what is allowed.
:func:`outcome_at` reads the outcome lines: collapsed, held or not settled by a horizon.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.model.scenario import ScenarioError

COLUMNS = ("t_min_earliest", "t_min_latest", "type", "section", "kind", "count", "reported_by",
           "blamed", "casualties", "source", "source_date", "note")
"""The record's columns, in this order (format v2)."""
UNSPECIFIED = "unspecified"
"""Kind of an incident (fighting) whose kind of fire the source does not give."""
FIRE = ("small_arms", "artillery", "drone", "rockets", "raid", "airstrike", UNSPECIFIED)
"""Incident kinds the format knows; all but ``unspecified`` must also be kinds of the scenario."""
KINDS: dict[str, tuple[str, ...]] = {
    "incident": FIRE,
    "count": ("violations", "explosions"),
    "claim": ("violations", *FIRE),
    "description": ("calm", "fighting", "heavy_fighting", "shelling_stopped"),
    "statement": ("agreement", "order", "accusation", "diplomacy", "talks_suspended", "recommitment",
                  "monitoring", "abandoned", "in_force"),
}
"""Allowed kinds of each line type."""
TYPES = tuple(KINDS)
STATEMENTS = KINDS["statement"]
"""Kinds of ``statement`` lines (not compared with runs)."""
MONITOR = "monitor"
REPORTERS_BESIDES_SIDES = (MONITOR, "mediator", "press")


def read_record(path: str | Path, *, sections: Iterable[str] | None = None,
                sides: Iterable[str] | None = None, kinds: Iterable[str] | None = None) -> pd.DataFrame:
    """Read and check a record CSV; names are checked against the scenario when given.

    Returns a DataFrame with the columns of :data:`COLUMNS`: times as floats, ``count`` and
    ``casualties`` as nullable integers (``<NA>`` where empty), the rest as strings.
    Raises ScenarioError, one line per problem.
    """
    path = Path(path)
    frame = _read_csv(path)
    if list(frame.columns) != list(COLUMNS):
        missing = [c for c in COLUMNS if c not in frame.columns]
        extra = [c for c in frame.columns if c not in COLUMNS]
        raise ScenarioError(f"{path}: columns must be, in this order: {','.join(COLUMNS)}"
                            + (f"; missing {', '.join(missing)}" if missing else "")
                            + (f"; unknown {', '.join(map(str, extra))}" if extra else "")
                            + ("; wrong order" if not missing and not extra else ""))
    frame = frame.map(str.strip)
    problems: list[str] = []

    def bad(i: int, col: str, rule: str) -> None:
        problems.append(f"{path}: line {i + 2}: {col} = {frame.at[i, col]!r}: {rule}")

    # pandas reads "inf", "nan" and "1e999" as numbers: a time must also be finite.
    times = {c: pd.to_numeric(frame[c], errors="coerce") for c in ("t_min_earliest", "t_min_latest")}
    finite = {c: pd.Series(np.isfinite(times[c].to_numpy(dtype=float)), index=frame.index)
              for c in times}
    for col in times:
        for i in frame.index[~finite[col]]:
            bad(i, col, "must be a finite number of minutes (not inf or nan)")
    both = finite["t_min_earliest"] & finite["t_min_latest"]
    for i in frame.index[both & (times["t_min_earliest"] > times["t_min_latest"])]:
        bad(i, "t_min_earliest", f"is after t_min_latest = {frame.at[i, 't_min_latest']}")
    side_names = None if sides is None else list(sides)
    section_names = None if sections is None else list(sections)
    scenario_kinds = None if kinds is None else set(kinds)
    for i, row in frame.iterrows():
        kind_ok = _check_type_and_kind(i, row, bad, scenario_kinds)
        for col in ("count", "casualties"):
            if row[col] and not row[col].isdigit():
                bad(i, col, "must be a whole number ≥ 0 or empty")
        if kind_ok and row["type"] == "count":
            if not row["count"]:
                bad(i, "count", "a count line needs a count (0 when the monitor recorded none)")
            if row["reported_by"] != MONITOR:
                bad(i, "reported_by", f"a count line is reported by {MONITOR!r}")
        if section_names is not None and row["section"] and row["section"] not in section_names:
            bad(i, "section", f"allowed: {', '.join(section_names)} or empty")
        if side_names is not None:
            reporters = [*side_names, *REPORTERS_BESIDES_SIDES]
            if row["reported_by"] not in reporters:
                bad(i, "reported_by", f"allowed: {', '.join(reporters)}")
            if row["blamed"] and row["blamed"] not in side_names:
                bad(i, "blamed", f"allowed: {', '.join(side_names)} or empty")
            if kind_ok and row["type"] == "claim" and (
                    row["reported_by"] not in side_names or row["blamed"] not in side_names
                    or row["blamed"] == row["reported_by"]):
                bad(i, "blamed", "a claim is made by one side (reported_by) against the other (blamed)")
        if not row["source"].startswith(("http://", "https://")):
            bad(i, "source", "every line needs the URL of its source (http:// or https://)")
        if not _is_date(row["source_date"]):
            bad(i, "source_date", "every line needs the publication date of its source, YYYY-MM-DD")
        if not row["note"]:
            bad(i, "note", "every line needs a note (a paraphrase in our own words)")
    if problems:
        raise ScenarioError("\n".join(problems))
    out = frame.copy()
    for c in ("t_min_earliest", "t_min_latest"):
        out[c] = times[c].astype(float)
    for c in ("count", "casualties"):
        out[c] = pd.array([int(v) if v else pd.NA for v in frame[c]], dtype="Int64")
    return out


def known_before_ceasefire(end_min: Any) -> np.ndarray:
    """Whether lines (or windows) ending at ``end_min`` (minutes) were known at t = 0: the one rule
    for a truce's *history*, the lines that end at or before t = 0 (a window reaching past t = 0
    is not, even in part). The ``drop`` baseline's pre-ceasefire rates and the leave-one-out's
    pre-ceasefire calibration both read history by it."""
    return np.asarray(end_min, dtype=float) <= 0.0


def _read_csv(path: Path) -> pd.DataFrame:
    return read_csv_text(path, f"a record starts with the header {','.join(COLUMNS)}")


def read_csv_text(path: Path, expected: str) -> pd.DataFrame:
    """A CSV file as strings; unreadable, binary, non-UTF-8 or empty files are one-line
    ScenarioErrors (``expected`` says what the file should hold)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    if b"\x00" in data:
        raise ScenarioError(f"{path}: not a text file (binary data); expected UTF-8 CSV text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV") from None
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise ScenarioError(f"{path}: empty file; expected {expected}") from None
    except pd.errors.ParserError as exc:
        message = " ".join(str(exc).split())
        raise ScenarioError(f"{path}: not a valid CSV file: {message}") from None


def _check_type_and_kind(i: int, row: pd.Series, bad: Callable[[int, str, str], None],
                         scenario_kinds: set[str] | None) -> bool:
    """Check ``type`` and ``kind`` of one line; True when both are usable."""
    if row["type"] not in KINDS:
        bad(i, "type", f"allowed: {', '.join(TYPES)}")
        return False
    allowed = KINDS[row["type"]]
    if row["kind"] not in allowed:
        bad(i, "kind", f"allowed for a {row['type']} line: {', '.join(allowed)}")
        return False
    if (scenario_kinds is not None and row["kind"] in FIRE and row["kind"] != UNSPECIFIED
            and row["kind"] not in scenario_kinds):
        bad(i, "kind", f"not a kind of the scenario; known: {', '.join(sorted(scenario_kinds))} "
            f"or {UNSPECIFIED}")
        return False
    return True


def _is_date(text: str) -> bool:
    if len(text) != 10:
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


ABANDONED, IN_FORCE = "abandoned", "in_force"
"""Statement kinds that state the truce's outcome (see :func:`outcome_at`)."""


def outcome_at(record: pd.DataFrame, hours: float) -> tuple[str | None, str]:
    """What the record's outcome lines settle about "collapsed by ``hours`` after t = 0".

    Returns ``("collapsed", why)`` when an ``abandoned`` statement ends by then; otherwise
    ``(None, why)`` when an ``abandoned`` statement starts before then (it may have come first);
    otherwise ``("held", why)`` when an ``in_force`` statement starts at or after then (the
    truce stood later, and nothing says it was abandoned before); otherwise ``(None, why)``:
    the record does not settle it. ``why`` names the deciding CSV line (header = line 1), or
    says what is missing. ``record`` is a frame from :func:`read_record` (index = line - 2).
    Raises ValueError for a horizon that is not a finite number of hours >= 0.
    """
    if not (isinstance(hours, int | float) and math.isfinite(hours) and hours >= 0):
        raise ValueError(f"horizon {hours!r}: must be a finite number of hours >= 0")
    at = hours * 60.0
    statements = record[record["type"] == "statement"]
    abandoned = statements[statements["kind"] == ABANDONED]
    in_force = statements[statements["kind"] == IN_FORCE]
    ended = abandoned[abandoned["t_min_latest"] <= at]
    if len(ended):
        first = ended["t_min_latest"].idxmin()
        return "collapsed", f"line {first + 2}: abandoned by t = {ended.at[first, 't_min_latest']:g} min"
    open_ = abandoned[abandoned["t_min_earliest"] < at]
    if len(open_):
        first = open_["t_min_earliest"].idxmin()
        return None, (f"line {first + 2}: abandoned between t = {open_.at[first, 't_min_earliest']:g} "
                      f"and {open_.at[first, 't_min_latest']:g} min, which straddles t = {at:g}")
    later = in_force[in_force["t_min_earliest"] >= at]
    if len(later):
        first = later["t_min_earliest"].idxmin()
        return "held", f"line {first + 2}: in force from t = {later.at[first, 't_min_earliest']:g} min"
    return None, f"no abandoned line ends by t = {at:g} min and no in_force line starts at or after it"


def empty_record() -> pd.DataFrame:
    """A record with no lines (the columns and types :func:`read_record` returns)."""
    frame = pd.DataFrame({c: pd.Series(dtype=str) for c in COLUMNS})
    for c in ("t_min_earliest", "t_min_latest"):
        frame[c] = frame[c].astype(float)
    for c in ("count", "casualties"):
        frame[c] = frame[c].astype("Int64")
    return frame
