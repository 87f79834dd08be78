"""Observations: the record of a ceasefire turned into summary statistics a run can be held to.

Each line of a scenario's record (``<scenario>.events.csv``, read by :func:`sim.record.read_record`)
becomes at most one statistic; the same statistic is computed from a simulated run's event log,
so a run can be compared with what was reported. Only *detected* incidents count in a run: the
record holds what someone saw and reported, not every shot fired.

Reported times are coarse, so every observation is an **interval** ``[low, high]`` and a run
matches it when its value falls inside; :func:`interval_excess` measures how far outside it is.

How record lines become statistics (CSV line numbers count the header as line 1):

* The earliest-ending incident line at or after t = 0 with a section (Karabakh: line 7, "attack
  at 12:05") gives two statistics: ``first_violation_min``, the minute of the first incident
  after t = 0 that the reporting side detected and blamed on the side it names, observed as
  the line's interval widened by the reporting precision; and ``first_violation_in_<section>``,
  1 if that first incident was in the named section.
* Every other incident line with a section (a kind of fire, or ``unspecified``): ``<kind>_<section>
  _<from>_<to>`` is 1 if the run has a detected incident of that kind (any kind when unspecified)
  in that section within the line's interval (widened by the precision; clipped to the run's
  start); when the line names who reported it and whom they blamed, the reporter must have
  blamed that side for it. Observed: 1.
* Accusation lines and incident lines without a section that name a reporting side and a side
  blamed: ``<reporter>_accuses_<blamed>_<from>_<to>`` is 1 if the reporter blamed that side for
  any detected incident within the interval. Observed: 1.
* ``calm`` lines: ``calm_<section>_<from>_<to>`` counts detected incidents in the section within
  the interval (widened by the precision); observed ``[0, calm_max]`` ("fairly quiet" allows a
  stray exchange; ``calm_max`` is a setting).
* ``shelling_stopped`` lines: ``quiet_<section>_<from>_<to>`` counts detected incidents in the
  section from the line's latest time for ``quiet_window_min``; observed ``[0, 0]``.
* ``agreement``, ``order`` and ``diplomacy`` lines are not compared: they set the scenario's
  timeline (when orders go out) or have no counterpart in the model. Casualty figures are not
  compared either (one death is too few to inform a rate).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from sim.events import NO_ONE
from sim.record import STATEMENTS, UNSPECIFIED, read_record
from sim.scenario import Scenario

Measure = Literal["first_time", "first_in_section", "any", "count"]

NOT_COMPARED = ("agreement", "order", "diplomacy")
"""Record kinds that give no statistic (see the module docstring)."""


@dataclass(frozen=True)
class Statistic:
    """One summary statistic: what to measure in a run's event log and what the record says.

    Only detected incidents with ``t_from <= t_min <= t_to`` count; ``sections``/``kinds`` (codes)
    restrict them when set; ``blamer``/``blamed`` (side codes) keep the incidents the side
    ``blamer`` blamed on side ``blamed``.
    """

    name: str
    measure: Measure
    low: float
    high: float
    """The observed interval: a run matches when its value lies in ``[low, high]``."""
    unit: float
    """Natural unit of the value (1 for indicators and counts, minutes for times): the floor of
    the distance scale is a tenth of it."""
    t_from: float
    t_to: float
    sections: tuple[int, ...] | None = None
    kinds: tuple[int, ...] | None = None
    blamer: int | None = None
    blamed: int | None = None
    lines: tuple[int, ...] = ()
    """The record's CSV line numbers (header = line 1) this statistic comes from."""
    doc: str = ""


@dataclass(frozen=True)
class Settings:
    """How the record is read: reporting precision and what "fairly quiet" allows."""

    precision_min: float = 5.0
    """Every reported interval is widened by this much on both sides (clocks and wording)."""
    calm_max: int = 1
    """Detected incidents a section reported calm may still have in the reported interval."""
    quiet_window_min: float = 180.0
    """How long after a 'shelling stopped' report the section must stay quiet."""


def observations(record: pd.DataFrame, case: Scenario, settings: Settings | None = None) -> list[Statistic]:
    """The statistics a record gives for ``case`` (rules in the module docstring)."""
    s = settings or Settings()
    sections = {n: i for i, n in enumerate(case.sections)}
    sides = {n: i for i, n in enumerate(case.side_names)}
    kinds = {n: i for i, n in enumerate(case.kinds)}
    start = case.scenario.start_min
    stats: list[Statistic] = []
    seen: set[str] = set()

    def add(stat: Statistic) -> None:
        name, k = stat.name, 2
        while name in seen:  # two lines saying the same thing: keep both, named apart
            name, k = f"{stat.name}_{k}", k + 1
        seen.add(name)
        stats.append(stat if name == stat.name else _renamed(stat, name))

    rows = list(record.itertuples(index=False))
    line_of = {id(r): i + 2 for i, r in enumerate(rows)}
    incident = [r for r in rows if r.kind not in STATEMENTS]
    first = [r for r in incident if r.section and r.t_min_earliest >= 0]
    first_row = min(first, key=lambda r: (r.t_min_latest, r.t_min_earliest)) if first else None
    for r in rows:
        line = line_of[id(r)]
        lo = max(start, r.t_min_earliest - s.precision_min)
        hi = r.t_min_latest + s.precision_min
        blamer = sides.get(r.reported_by)
        blamed = sides.get(r.blamed) if blamer is not None else None
        note = f"line {line}: {r.note}"
        span = f"{_tag(r.t_min_earliest)}_{_tag(r.t_min_latest)}"
        if r is first_row:
            add(Statistic("first_violation_min", "first_time", max(0.0, lo), hi, 10.0, 0.0, np.inf,
                          blamer=blamer, blamed=blamed, lines=(line,),
                          doc=f"minute of the first incident after t = 0 the reporter blamed; {note}"))
            add(Statistic(f"first_violation_in_{r.section}", "first_in_section", 1.0, 1.0, 1.0,
                          0.0, np.inf, sections=(sections[r.section],), blamer=blamer, blamed=blamed,
                          lines=(line,), doc=f"the first such incident was in {r.section}; {note}"))
        elif r.kind in NOT_COMPARED:
            continue
        elif r.kind == "calm":
            add(Statistic(f"calm_{r.section}_{span}", "count", 0.0, float(s.calm_max), 1.0, lo, hi,
                          sections=(sections[r.section],), lines=(line,),
                          doc=f"detected incidents in {r.section} (reported calm); {note}"))
        elif r.kind == "shelling_stopped":
            t0 = r.t_min_latest
            add(Statistic(f"quiet_{r.section}_{span}", "count", 0.0, 0.0, 1.0, t0,
                          t0 + s.quiet_window_min, sections=(sections[r.section],), lines=(line,),
                          doc=f"detected incidents in {r.section} in the {s.quiet_window_min:g} min "
                              f"after the shelling stopped; {note}"))
        elif r.section:
            kind = None if r.kind == UNSPECIFIED else (kinds[r.kind],)
            add(Statistic(f"{r.kind}_{r.section}_{span}", "any", 1.0, 1.0, 1.0, lo, hi,
                          sections=(sections[r.section],), kinds=kind, blamer=blamer, blamed=blamed,
                          lines=(line,), doc=f"any detected {r.kind} incident in {r.section}; {note}"))
        elif blamer is not None and blamed is not None:
            add(Statistic(f"{r.reported_by}_accuses_{r.blamed}_{span}", "any", 1.0, 1.0, 1.0, lo, hi,
                          blamer=blamer, blamed=blamed, lines=(line,),
                          doc=f"{r.reported_by} blamed {r.blamed} for a detected incident; {note}"))
    return stats


def load_observations(case: Scenario, events_file: str | Path,
                      settings: Settings | None = None) -> list[Statistic]:
    """Read a record CSV (checked against ``case``) and return its statistics."""
    record = read_record(events_file, sections=case.sections, sides=case.side_names, kinds=case.kinds)
    return observations(record, case, settings)


def needed_minutes(stats: Sequence[Statistic]) -> float:
    """The latest minute any statistic looks at (windows that run to the horizon excluded)."""
    ends = [st.t_to for st in stats if np.isfinite(st.t_to)]
    return max([*ends, 0.0])


def simulated(stats: Sequence[Statistic], log: Mapping[str, np.ndarray], horizon_min: float) -> np.ndarray:
    """The statistics of one run, from its event log (``EventLog.arrays()``), in ``stats`` order.

    A run with no matching first incident gets ``horizon_min`` for ``first_time`` (censored) and
    0 for ``first_in_section``.
    """
    t = log["t_min"]
    detected = log["detected"].astype(bool)
    blame = (log["blame_0"], log["blame_1"])
    out = np.empty(len(stats))
    for j, st in enumerate(stats):
        mask = detected & (t >= st.t_from) & (t <= st.t_to)
        if st.sections is not None and st.measure != "first_in_section":
            mask &= np.isin(log["section"], st.sections)
        if st.kinds is not None:
            mask &= np.isin(log["kind"], st.kinds)
        if st.blamer is not None:
            mask &= _blamed_by(st, blame)
        if st.measure == "any":
            out[j] = float(mask.any())
        elif st.measure == "count":
            out[j] = float(np.count_nonzero(mask))
        elif st.measure == "first_time":
            hits = np.flatnonzero(mask)  # the log is in time order
            out[j] = t[hits[0]] if hits.size else horizon_min
        else:  # first_in_section: ``mask`` ignores sections, the section is the question
            hits = np.flatnonzero(mask)
            out[j] = float(hits.size > 0 and int(log["section"][hits[0]]) in st.sections)
    return out


def _blamed_by(st: Statistic, blame: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Incidents the statistic's reporter blamed on the side it names (on anyone if none)."""
    column = blame[st.blamer]
    return column != NO_ONE if st.blamed is None else column == st.blamed


def observed_bounds(stats: Sequence[Statistic]) -> tuple[np.ndarray, np.ndarray]:
    """The observed intervals as two arrays (low, high)."""
    return (np.array([st.low for st in stats], dtype=float),
            np.array([st.high for st in stats], dtype=float))


def interval_excess(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """How far each value lies outside its observed interval (0 inside); works on rows of runs."""
    return np.maximum(low - values, 0.0) + np.maximum(values - high, 0.0)


def statistics_table(stats: Sequence[Statistic]) -> pd.DataFrame:
    """The statistics as a readable table: name, measure, observed interval, window, lines, doc."""
    return pd.DataFrame({
        "name": [st.name for st in stats],
        "measure": [st.measure for st in stats],
        "observed_low": [st.low for st in stats],
        "observed_high": [st.high for st in stats],
        "t_from": [st.t_from for st in stats],
        "t_to": [st.t_to for st in stats],
        "lines": [" ".join(map(str, st.lines)) for st in stats],
        "doc": [st.doc for st in stats],
    })


def synthetic_record(log: Mapping[str, np.ndarray], case: Scenario, *, bin_min: float = 60.0,
                     until_min: float = 1440.0) -> pd.DataFrame:
    """A record as a careful observer of one run would write it, for testing the calibration.

    Time is cut into bins of ``bin_min`` from the run's start to ``until_min``; for every section
    and bin there is one line: ``unspecified`` fighting when a detected incident happened there
    in the bin, ``calm`` otherwise. Read it with ``Settings(precision_min=0, calm_max=0)``.
    """
    t, section = log["t_min"], log["section"]
    detected = log["detected"].astype(bool)
    start = case.scenario.start_min
    edges = np.arange(start, until_min + bin_min / 2, bin_min)
    rows = []
    for code, name in enumerate(case.sections):
        for a, b in itertools.pairwise(edges):
            # Bins are closed on the left, and on the right only for the last bin; the statistic
            # windows are closed on both sides, so 1e-6 keeps a boundary incident in one bin.
            hit = detected & (section == code) & (t >= a) & (t < b)
            fought = bool(hit.any())
            rows.append((a, b - 1e-6, name, UNSPECIFIED if fought else "calm", 0, "", "",
                         f"synthetic: {'fighting' if fought else 'calm'} in {name}"))
    return pd.DataFrame(rows, columns=["t_min_earliest", "t_min_latest", "section", "kind", "casualties",
                                       "reported_by", "blamed", "note"])


def _tag(t: float) -> str:
    """A minute as a name part: 165 -> '165', -720 -> 'm720'."""
    return f"m{-t:g}" if t < 0 else f"{t:g}"


def _renamed(stat: Statistic, name: str) -> Statistic:
    return replace(stat, name=name)
