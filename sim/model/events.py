"""The event log: every incident of a run, appended in the hot path, tabled at the end.

Rows are plain tuples of small integers and floats (no dicts, no strings) while the run is
going; :meth:`EventLog.table` decodes them into a pandas DataFrame with readable names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

CAUSES = ("initiated", "retaliation", "spillover")
"""Why an incident happened: a force's own violation, an answer in the same section (or in
kind, rear for rear), or an answer that spread to another section."""
INITIATED, RETALIATION, SPILLOVER = range(3)
ABANDON, RECOMMIT = "abandon", "recommit"
"""A command's decisions (rule 8): abandon the ceasefire, or come back to it."""
NO_ONE = -1
"""Code for 'no parent event' and 'blamed no one'."""

FIELDS = ("t_min", "section", "side", "kind", "severity", "cause", "parent", "target",
          "detected", "blame_0", "blame_1", "blame_mediator", "casualties", "post_seen",
          "blame_post")
"""Order of the fields in a row; ``event`` (the row's index) is the event's id."""


class EventLog:
    """All incidents of one run, in the order they happened."""

    __slots__ = ("kinds", "rows", "sections", "sides")

    def __init__(self, sections: Sequence[str], sides: Sequence[str], kinds: Sequence[str]) -> None:
        self.sections = tuple(sections)
        self.sides = tuple(sides)
        self.kinds = tuple(kinds)
        self.rows: list[tuple] = []
        """One tuple per incident, fields as in FIELDS."""

    def __len__(self) -> int:
        return len(self.rows)

    def record(self, t_min: float, section: int, side: int, kind: int, severity: float,
               cause: int, parent: int, target: int, detected: bool, blame_0: int,
               blame_1: int, blame_mediator: int, casualties: int, post_seen: bool,
               blame_post: int) -> int:
        """Append one incident and return its id."""
        rows = self.rows
        rows.append((t_min, section, side, kind, severity, cause, parent, target, detected,
                     blame_0, blame_1, blame_mediator, casualties, post_seen, blame_post))
        return len(rows) - 1

    def arrays(self) -> dict[str, np.ndarray]:
        """The log as numpy columns (codes, not names), for outcome calculations."""
        if not self.rows:
            return {f: np.empty(0, dtype=float if f in ("t_min", "severity") else np.int64)
                    for f in FIELDS}
        cols = list(zip(*self.rows, strict=True))
        out = {}
        for f, c in zip(FIELDS, cols, strict=True):
            out[f] = np.asarray(c, dtype=float if f in ("t_min", "severity") else np.int64)
        return out

    def table(self) -> pd.DataFrame:
        """The log as a DataFrame with names: one row per incident, in time order."""
        return events_frame(self.arrays(), self.sections, self.sides, self.kinds)


def events_frame(cols: Mapping[str, np.ndarray], sections: Sequence[str], sides: Sequence[str],
                 kinds: Sequence[str], run: np.ndarray | None = None) -> pd.DataFrame:
    """Decode event-log columns (codes) into a readable table; ``run`` adds a run column.

    ``event`` numbers the incidents within each run (runs must be contiguous); ``parent`` is the
    ``event`` number of the incident answered, -1 for none.
    """
    n = len(cols["t_min"])
    run = np.zeros(n, dtype=np.int64) if run is None else np.asarray(run, dtype=np.int64)
    side_names = np.array([*sides, ""], dtype=object)  # code -1 -> ""
    ints = {f: np.asarray(cols[f], dtype=np.int64) for f in FIELDS if f not in ("t_min", "severity")}
    frame = pd.DataFrame({
        "run": run,
        "event": _within_run(run),
        "t_min": np.asarray(cols["t_min"], dtype=float),
        "section": np.array(sections, dtype=object)[ints["section"]],
        "side": side_names[ints["side"]],
        "kind": np.array(kinds, dtype=object)[ints["kind"]],
        "severity": np.asarray(cols["severity"], dtype=float),
        "cause": np.array(CAUSES, dtype=object)[ints["cause"]],
        "parent": ints["parent"],
        "target": side_names[ints["target"]],
        "detected": ints["detected"].astype(bool),
        f"blamed_by_{sides[0]}": side_names[ints["blame_0"]],
        f"blamed_by_{sides[1]}": side_names[ints["blame_1"]],
        "blamed_by_mediator": side_names[ints["blame_mediator"]],
        "casualties": ints["casualties"],
        "seen_by_post": ints["post_seen"].astype(bool),
        "blamed_by_post": side_names[ints["blame_post"]],
    })
    return frame


def _within_run(run: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run (runs are contiguous)."""
    if run.size == 0:
        return np.empty(0, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(run)) + 1]
    lengths = np.diff(np.r_[starts, run.size])
    return np.arange(run.size) - np.repeat(starts, lengths)
