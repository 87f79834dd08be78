"""The record: events reported about a real ceasefire, as data beside its scenario.

One row per report: when it happened as an interval (``t_min_earliest`` to ``t_min_latest``,
minutes relative to t = 0; reported times are coarse), where (a section name, or empty when the
report names no place), what (an incident kind, or a statement: agreement, order, calm,
shelling_stopped, accusation, diplomacy; ``unspecified`` for fighting of unknown kind), the
casualties if given, who reported it and whom it blamed, and a short note in our own words.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from sim.scenario import ScenarioError

COLUMNS = ("t_min_earliest", "t_min_latest", "section", "kind", "casualties", "reported_by",
           "blamed", "note")
STATEMENTS = ("agreement", "order", "calm", "shelling_stopped", "accusation", "diplomacy")
"""Record kinds that are statements, not incidents."""
UNSPECIFIED = "unspecified"
"""Record kind of an incident (fighting) whose kind of fire the report does not give."""
REPORTERS_BESIDES_SIDES = ("mediator", "press")


def read_record(path: str | Path, *, sections: Iterable[str] | None = None,
                sides: Iterable[str] | None = None, kinds: Iterable[str] | None = None) -> pd.DataFrame:
    """Read and check a record CSV; names are checked against the scenario when given.

    Raises ScenarioError naming the file, the row, the column and the value.
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype={"section": str, "blamed": str, "reported_by": str,
                                         "kind": str, "note": str}, keep_default_na=False)
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: not a valid CSV file: {exc}") from None
    missing = [c for c in COLUMNS if c not in frame.columns]
    extra = [c for c in frame.columns if c not in COLUMNS]
    if missing or extra:
        raise ScenarioError(f"{path}: columns must be {', '.join(COLUMNS)}"
                            + (f"; missing {', '.join(missing)}" if missing else "")
                            + (f"; unknown {', '.join(extra)}" if extra else ""))
    problems = []
    for col in ("t_min_earliest", "t_min_latest"):
        numbers = pd.to_numeric(frame[col], errors="coerce")
        for i in frame.index[numbers.isna()]:
            problems.append(f"{path}: row {i + 2}: {col} = {frame.at[i, col]!r}: must be a number of minutes")
        frame[col] = numbers
    casualties = pd.to_numeric(frame["casualties"].replace("", "0"), errors="coerce")
    for i in frame.index[casualties.isna() | (casualties < 0)]:
        problems.append(f"{path}: row {i + 2}: casualties = {frame.at[i, 'casualties']!r}: "
                        "must be a whole number ≥ 0 or empty")
    frame["casualties"] = casualties.fillna(0).astype(int)
    for i in frame.index[frame["t_min_earliest"] > frame["t_min_latest"]]:
        problems.append(f"{path}: row {i + 2}: t_min_earliest = {frame.at[i, 't_min_earliest']} "
                        f"is after t_min_latest = {frame.at[i, 't_min_latest']}")
    known = {"section": sections, "blamed": sides}
    if sides is not None:
        known["reported_by"] = [*sides, *REPORTERS_BESIDES_SIDES]
    if kinds is not None:
        known["kind"] = [*kinds, UNSPECIFIED, *STATEMENTS]
    for col, allowed in known.items():
        if allowed is None:
            continue
        allowed = list(allowed)
        for i, value in frame[col].items():
            if value and value not in allowed:
                problems.append(f"{path}: row {i + 2}: {col} = {value!r}: allowed: {', '.join(allowed)}")
    if problems:
        raise ScenarioError("\n".join(problems))
    return frame
