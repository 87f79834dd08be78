"""Observations: the record of a ceasefire turned into summary statistics a run can be held to.

Each line of a scenario's record (``<scenario>.events.csv``, format v2, read by
:func:`sim.records.record.read_record`) becomes at most one statistic (the first incident after t = 0
gives two); the same statistic is computed from a simulated run's event log, so a run can be
compared with what was reported. CSV line numbers count the header as line 1.

Three observation models connect the record to a run:

* **Descriptions and incidents** (what a party, the press or a mediator said happened): only
  incidents the other side *detected* count. Reported times are coarse, so each is an interval
  ``[low, high]`` (widened by the reporting precision) and a run matches when its value falls
  inside; :func:`interval_excess` measures how far outside it is.
* **Monitor counts** (``count`` lines, :class:`Observer`): the scenario's ``[peacekeepers]`` posts
  detect each incident fired from their sections with ``peacekeepers.detection[kind]``, whether
  or not the parties saw it (rule 9, drawn in the model and logged as ``post_seen``); each
  detected incident is recorded as ``1 + Poisson(m - 1)`` violations, ``m
  = peacekeepers.recorded_per_incident_mean`` (the SMM counts every burst and every explosion);
  ``explosions`` counts only incidents of kinds with ``explosive = true``. The draws come from the
  run's own monitor stream (:func:`monitor_seed`), never from the model's.
* **Claims** (``claim`` lines): a party's word, not a measurement. Without a number: 1 if the
  claimant blamed the other side for at least one incident it detected in the window (observed 1).
  With a number: the claimant's perceived incidents blamed on the other side in the window, times
  the claim inflation ``observations.claim_inflation`` (a setting of the record in its calibration
  spec, with its own prior when calibrated).

Counts and numeric claims are compared as values, not intervals: the observed interval is the
single point ``g(count)``, ``g = log1p`` (``count_scale = "log"``, the default) or the identity, so
the distance is ``|g(simulated) - g(observed)|``, scaled in the calibration by its spread over the
prior predictive.

How record lines become statistics (lines whose window begins before the run starts,
``scenario.start_min``, are not compared: a calibration that needs them starts its runs earlier):

* The earliest-ending ``incident`` line at or after t = 0 with a section gives
  ``first_violation_min`` (the minute of the first incident after t = 0 the reporting side
  detected and blamed on the side it names) and ``first_violation_in_<section>``, unless another
  line after t = 0 shows a violation (a claim, an incident without a section, reported fighting, a
  count above 0) that ended before it began: then it is not the first violation, and it is read
  as every other incident line.
* Every other ``incident`` line: ``<kind>_<section>_<from>_<to>`` is 1 if the run has a detected
  incident of that kind (any kind when ``unspecified``) in that section (anywhere when the line
  names none) in the interval; when the line names a reporting side and a side blamed, the
  reporter must have blamed that side for it; when the reporting side names itself (a party
  reporting its own fire), the incident must have been fired by that side. Observed: 1.
* ``count`` lines: ``count_<kind>_<section>_<from>_<to>``, the monitor's simulated count over the
  window (all post sections when the line names none). Needs a ``[peacekeepers]`` table with a
  post on the section: otherwise loading fails, naming the line.
* ``claim`` lines: ``<reporter>_accuses_<blamed>_<from>_<to>`` (no number) or
  ``<reporter>_claims_<blamed>_<from>_<to>`` (a number), restricted to the section and kind of
  fire when the line gives them.
* ``description`` lines (multi-day windows allowed; no section: every section):
  ``calm_...`` counts detected incidents, observed ``[0, calm_max × days]`` (``days`` = the window
  in whole days, at least 1); ``fighting_...`` is 1 with at least one detected incident (observed
  1); ``heavy_...`` counts detected incidents, observed at least ``heavy_per_day × window in days``
  (at least 1); ``quiet_...`` (``shelling_stopped``) counts detected incidents from the line's latest
  time for ``quiet_window_min``, observed ``[0, 0]``.
* ``statement`` lines are not compared: they set the timeline or have no counterpart in the model.
  Casualty figures are not compared either (too few to inform a rate).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from sim.model.events import NO_ONE
from sim.model.scenario import Scenario, ScenarioError
from sim.records.record import COLUMNS, MONITOR, UNSPECIFIED, read_record

Measure = Literal["first_time", "first_in_section", "any", "count", "monitor_count", "claim_count"]

MONITOR_STREAM = 0x6D6F6E69
"""Tag of a run's monitor stream: ``SeedSequence(seed, spawn_key=(run, MONITOR_STREAM))``."""
UNLISTED_DETECTION = 0.5
"""A post's detection probability for kinds its ``detection`` table does not list."""
SYNTHETIC_SOURCE = "https://example.org/synthetic-record"
"""Source URL written into synthetic records (tests and recovery checks)."""
OBSERVATION_PARAMETERS: dict[str, dict[str, Any]] = {
    "observations.claim_inflation": {"default": 1.0, "gt": 0.0, "unit": "claimed per perceived",
                                     "doc": "how many violations a party claims per incident it "
                                            "perceived and blamed on the other side"},
}
"""Parameters of the observation model that live in the calibration spec, not the scenario."""


@dataclass(frozen=True)
class Statistic:
    """One summary statistic: what to measure in a run's event log and what the record says.

    Only incidents with ``t_from <= t_min <= t_to`` count (only detected ones, except for
    ``monitor_count``); ``sections``/``kinds`` (codes) restrict them when set; ``blamer``/``blamed``
    (side codes) keep the incidents the side ``blamer`` blamed on side ``blamed``.
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
    explosive: bool = False
    """For ``monitor_count``: count only incidents of explosive kinds."""
    log_scale: bool = False
    """For ``monitor_count`` and ``claim_count``: the value is ``log1p`` of the count."""
    fired_by: int | None = None
    """Keep only incidents this side fired (an incident line whose reporter names itself as the
    side that fired: a party reporting its own fire, which it never blames on itself)."""


@dataclass(frozen=True)
class Settings:
    """How the record is read: precision, what "calm" and "heavy" mean, the claims' inflation."""

    precision_min: float = 5.0
    """Every reported interval is widened by this much on both sides (clocks and wording)."""
    calm_max: int = 1
    """Detected incidents per day a section reported calm may still have."""
    quiet_window_min: float = 180.0
    """How long after a 'shelling stopped' report the section must stay quiet."""
    heavy_per_day: float = 12.0
    """Detected incidents per day that 'heavy fighting' means at least (assumption: one every two
    hours on the sections it names)."""
    count_scale: Literal["log", "linear"] = "log"
    """How counts and numeric claims are compared: ``log1p`` of the counts, or the counts."""
    claim_inflation: float = 1.0
    """Violations a party claims per incident it perceived and blamed on the other side."""


@dataclass(frozen=True)
class Observer:
    """The monitor and claim models of one run: parameters and the run's monitor generator."""

    detection: np.ndarray
    """Per kind code: chance a post detects an incident of that kind on its section."""
    explosive: np.ndarray
    """Per kind code: whether monitors count it as explosions."""
    posts: np.ndarray
    """Per section code: whether a post stands there."""
    recorded_mean: float
    """Mean violations recorded per detected incident (≥ 1)."""
    claim_inflation: float
    rng: np.random.Generator


def monitor_seed(seed: int, run: int) -> np.random.SeedSequence:
    """The monitor stream of run ``run`` of a batch seeded ``seed`` (apart from the model's)."""
    return np.random.SeedSequence(seed, spawn_key=(run, MONITOR_STREAM))


def observer(case: Scenario, rng: np.random.Generator | np.random.SeedSequence | int,
             settings: Settings | None = None, *, claim_inflation: float | None = None) -> Observer:
    """The observation model of ``case`` (its ``[peacekeepers]`` table; none: no posts)."""
    if not isinstance(rng, np.random.Generator):
        rng = np.random.Generator(np.random.PCG64(rng))
    pk = case.peacekeepers
    table = pk.detection if pk is not None else {}
    posts = set(pk.sections) if pk is not None else set()
    s = settings or Settings()
    return Observer(
        detection=np.array([table.get(k, UNLISTED_DETECTION) for k in case.kinds], dtype=float),
        explosive=np.array([k.explosive for k in case.kinds.values()], dtype=bool),
        posts=np.array([n in posts for n in case.sections], dtype=bool),
        recorded_mean=pk.recorded_per_incident_mean if pk is not None else 1.0,
        claim_inflation=s.claim_inflation if claim_inflation is None else claim_inflation,
        rng=rng)


def monitor_record(log: Mapping[str, np.ndarray], obs: Observer) -> np.ndarray:
    """Violations the monitor records for each incident of the log (0: no post saw it).

    Which incidents a post saw is the model's own draw (rule 9, the log's ``post_seen``): the
    same posts report to the broker. How many violations each seen incident is recorded as is
    drawn here, one number per incident in log order, from the run's monitor stream.
    """
    seen = np.asarray(log["post_seen"], dtype=bool)
    extra = obs.rng.poisson(obs.recorded_mean - 1.0, seen.size)
    return np.where(seen, 1 + extra, 0)


def observations(record: pd.DataFrame, case: Scenario, settings: Settings | None = None) -> list[Statistic]:
    """The statistics a record gives for ``case`` (rules in the module docstring).

    Raises ScenarioError when a count cannot be computed (no posts on its section).
    """
    s = settings or Settings()
    sections = {n: i for i, n in enumerate(case.sections)}
    sides = {n: i for i, n in enumerate(case.side_names)}
    kinds = {n: i for i, n in enumerate(case.kinds)}
    posts = tuple(sections[n] for n in case.peacekeepers.sections) if case.peacekeepers else ()
    start = case.scenario.start_min
    stats: list[Statistic] = []
    seen: set[str] = set()
    problems: list[str] = []

    def add(stat: Statistic) -> None:
        name, k = stat.name, 2
        while name in seen:  # two lines saying the same thing: keep both, named apart
            name, k = f"{stat.name}_{k}", k + 1
        seen.add(name)
        stats.append(stat if name == stat.name else replace(stat, name=name))

    def g(x: float) -> float:
        return math.log1p(x) if s.count_scale == "log" else float(x)

    rows = list(record.itertuples(index=False))
    first = [r for r in rows if r.type == "incident" and r.section and r.t_min_earliest >= 0]
    first_row = min(first, key=lambda r: (r.t_min_latest, r.t_min_earliest)) if first else None
    if first_row is not None and any(
            r is not first_row and r.t_min_earliest >= 0 and r.t_min_latest < first_row.t_min_earliest
            and _shows_violation(r) for r in rows):
        first_row = None  # earlier lines (claims, fighting) show violations: it is not the first
    for i, r in enumerate(rows):
        line = i + 2
        lo = max(start, r.t_min_earliest - s.precision_min)
        hi = r.t_min_latest + s.precision_min
        blamer = sides.get(r.reported_by)
        blamed = sides.get(r.blamed) if blamer is not None else None
        fired_by = None
        if r.type == "incident" and blamer is not None and blamed == blamer:
            fired_by, blamer, blamed = blamer, None, None  # a side reporting its own fire
        where = (sections[r.section],) if r.section else None
        place = r.section or "front"
        note = f"line {line}: {r.note}"
        span = f"{_tag(r.t_min_earliest)}_{_tag(r.t_min_latest)}"
        days = max(1, math.ceil((r.t_min_latest - r.t_min_earliest) / 1440.0 - 1e-9))
        fire = (kinds[r.kind],) if r.kind in kinds else None
        if r.type == "count" and _uncountable(r, line, place, where, posts, case, problems):
            continue
        if r.type == "statement" or r.t_min_earliest < start:
            continue  # statements, and evidence from before the simulated window, are not compared
        if r is first_row:
            add(Statistic("first_violation_min", "first_time", max(0.0, lo), hi, 10.0, 0.0, np.inf,
                          blamer=blamer, blamed=blamed, fired_by=fired_by, lines=(line,),
                          doc=f"minute of the first incident after t = 0 the reporter blamed; {note}"))
            add(Statistic(f"first_violation_in_{r.section}", "first_in_section", 1.0, 1.0, 1.0,
                          0.0, np.inf, sections=where, blamer=blamer, blamed=blamed, fired_by=fired_by,
                          lines=(line,), doc=f"the first such incident was in {r.section}; {note}"))
        elif r.type == "incident":
            if r.section or blamer is None or blamed is None:
                add(Statistic(f"{r.kind}_{place}_{span}", "any", 1.0, 1.0, 1.0, lo, hi, sections=where,
                              kinds=fire, blamer=blamer, blamed=blamed, fired_by=fired_by, lines=(line,),
                              doc=f"any detected {r.kind} incident in {place}; {note}"))
            else:
                add(Statistic(f"{r.reported_by}_accuses_{r.blamed}_{span}", "any", 1.0, 1.0, 1.0, lo,
                              hi, kinds=fire, blamer=blamer, blamed=blamed, fired_by=fired_by, lines=(line,),
                              doc=f"{r.reported_by} blamed {r.blamed} for a detected incident; {note}"))
        elif r.type == "count":
            value = g(float(r.count))
            add(Statistic(f"count_{r.kind}_{place}_{span}", "monitor_count", value, value, 1.0,
                          r.t_min_earliest, r.t_min_latest, sections=where or posts,
                          lines=(line,), explosive=r.kind == "explosions",
                          log_scale=s.count_scale == "log",
                          doc=f"{r.kind} the monitor recorded in {place} (count {r.count}); {note}"))
        elif r.type == "claim":
            if pd.isna(r.count):
                add(Statistic(f"{r.reported_by}_accuses_{r.blamed}_{span}", "any", 1.0, 1.0, 1.0, lo,
                              hi, sections=where, kinds=fire, blamer=blamer, blamed=blamed,
                              lines=(line,),
                              doc=f"{r.reported_by} blamed {r.blamed} for a detected incident; {note}"))
            else:
                value = g(float(r.count))
                add(Statistic(f"{r.reported_by}_claims_{r.blamed}_{span}", "claim_count", value, value,
                              1.0, r.t_min_earliest, r.t_min_latest, sections=where, kinds=fire,
                              blamer=blamer, blamed=blamed, lines=(line,),
                              log_scale=s.count_scale == "log",
                              doc=f"{r.reported_by} claims {r.count} violations by {r.blamed} "
                                  f"(perceived incidents × claim inflation); {note}"))
        elif r.kind == "calm":
            add(Statistic(f"calm_{place}_{span}", "count", 0.0, float(s.calm_max * days), 1.0, lo, hi,
                          sections=where, lines=(line,),
                          doc=f"detected incidents in {place} (reported calm); {note}"))
        elif r.kind == "fighting":
            add(Statistic(f"fighting_{place}_{span}", "any", 1.0, 1.0, 1.0, lo, hi, sections=where,
                          lines=(line,), doc=f"any detected incident in {place} (reported fighting); "
                                             f"{note}"))
        elif r.kind == "heavy_fighting":
            least = max(1.0, math.ceil(s.heavy_per_day * (r.t_min_latest - r.t_min_earliest) / 1440.0))
            add(Statistic(f"heavy_{place}_{span}", "count", least, np.inf, 1.0, lo, hi, sections=where,
                          lines=(line,), doc=f"detected incidents in {place} (reported heavy "
                                             f"fighting: at least {least:g}); {note}"))
        elif r.kind == "shelling_stopped":
            t0 = r.t_min_latest
            add(Statistic(f"quiet_{place}_{span}", "count", 0.0, 0.0, 1.0, t0,
                          t0 + s.quiet_window_min, sections=where, lines=(line,),
                          doc=f"detected incidents in {place} in the {s.quiet_window_min:g} min "
                              f"after the shelling stopped; {note}"))
    if problems:
        raise ScenarioError("\n".join(problems))
    return stats


def load_observations(case: Scenario, events_file: str | Path,
                      settings: Settings | None = None) -> list[Statistic]:
    """Read a record CSV (checked against ``case``) and return its statistics.

    Raises ScenarioError naming the file for a bad record or a count that cannot be computed.
    """
    record = read_record(events_file, sections=case.sections, sides=case.side_names, kinds=case.kinds)
    try:
        return observations(record, case, settings)
    except ScenarioError as exc:
        raise ScenarioError("\n".join(f"{events_file}: {m}" for m in str(exc).splitlines())) from None


def needed_minutes(stats: Sequence[Statistic]) -> float:
    """The latest minute any statistic looks at (windows that run to the horizon excluded)."""
    ends = [st.t_to for st in stats if np.isfinite(st.t_to)]
    return max([*ends, 0.0])


def needs_observer(stats: Sequence[Statistic]) -> bool:
    """Whether any statistic needs the monitor or claim model (an :class:`Observer`)."""
    return any(st.measure in ("monitor_count", "claim_count") for st in stats)


def simulated(stats: Sequence[Statistic], log: Mapping[str, np.ndarray], horizon_min: float,
              obs: Observer | None = None) -> np.ndarray:
    """The statistics of one run, from its event log (``EventLog.arrays()``), in ``stats`` order.

    A run with no matching first incident gets ``horizon_min`` for ``first_time`` (censored) and
    0 for ``first_in_section``. Monitor counts and numeric claims need ``obs`` (ValueError
    otherwise); it draws from its generator once per call.
    """
    t = log["t_min"]
    detected = log["detected"].astype(bool)
    blame = (log["blame_0"], log["blame_1"])
    recorded = None
    if any(st.measure == "monitor_count" for st in stats):
        if obs is None:
            raise ValueError("monitor counts need an Observer (sim.records.observations.observer)")
        recorded = monitor_record(log, obs)
    out = np.empty(len(stats))
    for j, st in enumerate(stats):
        window = (t >= st.t_from) & (t <= st.t_to)
        mask = window if st.measure == "monitor_count" else window & detected
        if st.sections is not None and st.measure != "first_in_section":
            mask &= np.isin(log["section"], st.sections)
        if st.kinds is not None:
            mask &= np.isin(log["kind"], st.kinds)
        if st.blamer is not None:
            mask &= _blamed_by(st, blame)
        if st.fired_by is not None:
            mask &= log["side"] == st.fired_by
        if st.measure == "any":
            out[j] = float(mask.any())
        elif st.measure == "count":
            out[j] = float(np.count_nonzero(mask))
        elif st.measure == "monitor_count":
            if st.explosive:
                mask &= obs.explosive[log["kind"]] if len(t) else mask
            value = float(recorded[mask].sum())
            out[j] = math.log1p(value) if st.log_scale else value
        elif st.measure == "claim_count":
            if obs is None:
                raise ValueError("numeric claims need an Observer (sim.records.observations.observer)")
            value = obs.claim_inflation * np.count_nonzero(mask)
            out[j] = math.log1p(value) if st.log_scale else value
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
    """How far each value lies outside its observed interval (0 inside); works on rows of runs.

    For a point observation (``low == high``: counts, numeric claims) this is ``|value - low|``.
    """
    return np.maximum(low - values, 0.0) + np.maximum(values - high, 0.0)


def statistics_table(stats: Sequence[Statistic]) -> pd.DataFrame:
    """The statistics as a readable table: name, measure, observed interval, window, lines, doc."""
    return pd.DataFrame({
        "name": [st.name for st in stats],
        "measure": [st.measure for st in stats],
        "observed_low": [st.low for st in stats],
        "observed_high": [st.high for st in stats],
        "scale": ["log1p" if st.log_scale else "" for st in stats],
        "t_from": [st.t_from for st in stats],
        "t_to": [st.t_to for st in stats],
        "lines": [" ".join(map(str, st.lines)) for st in stats],
        "doc": [st.doc for st in stats],
    })


def record_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """A record DataFrame (columns of format v2) from dicts; missing columns are empty."""
    out = pd.DataFrame([{c: row.get(c, "") for c in COLUMNS} for row in rows], columns=list(COLUMNS))
    for c in ("count", "casualties"):
        out[c] = pd.array([pd.NA if v in ("", None) else int(v) for v in out[c]], dtype="Int64")
    for c in ("t_min_earliest", "t_min_latest"):
        out[c] = out[c].astype(float)
    return out


def synthetic_record(log: Mapping[str, np.ndarray], case: Scenario, *, bin_min: float = 60.0,
                     until_min: float = 1440.0) -> pd.DataFrame:
    """A record as a careful observer of one run would write it, for testing the calibration.

    Time is cut into bins of ``bin_min`` from the run's start to ``until_min``; for every section
    and bin there is one line: an ``unspecified`` incident when a detected incident happened there
    in the bin, a ``calm`` description otherwise. Read it with ``Settings(precision_min=0,
    calm_max=0)``.
    """
    t, section = log["t_min"], log["section"]
    detected = log["detected"].astype(bool)
    rows = []
    for code, name in enumerate(case.sections):
        for a, b in _bins(case, bin_min, until_min):
            # Bins are closed on the left, and on the right only for the last bin; the statistic
            # windows are closed on both sides, so 1e-6 keeps a boundary incident in one bin.
            fought = bool((detected & (section == code) & (t >= a) & (t < b)).any())
            rows.append(dict(t_min_earliest=a, t_min_latest=b - 1e-6,
                             type="incident" if fought else "description", section=name,
                             kind=UNSPECIFIED if fought else "calm", reported_by="press",
                             source=SYNTHETIC_SOURCE, source_date="2000-01-01",
                             note=f"synthetic: {'fighting' if fought else 'calm'} in {name}"))
    return record_frame(rows)


def synthetic_counts(log: Mapping[str, np.ndarray], case: Scenario, obs: Observer, *,
                     bin_min: float = 1440.0, until_min: float = 1440.0) -> pd.DataFrame:
    """The count lines a monitor of one run would write: violations and explosions per post
    section per bin of ``bin_min`` (from the run's start to ``until_min``), drawn with ``obs``.

    Use the observer the calibration would use for that run (seeded by :func:`monitor_seed`).
    """
    recorded = monitor_record(log, obs)
    t, section = log["t_min"], log["section"]
    explosive = obs.explosive[log["kind"]] if len(t) else np.zeros(0, dtype=bool)
    rows = []
    for code, name in enumerate(case.sections):
        if not obs.posts[code]:
            continue
        for a, b in _bins(case, bin_min, until_min):
            inside = (section == code) & (t >= a) & (t <= b - 1e-6)
            for kind, mask in (("violations", inside), ("explosions", inside & explosive)):
                rows.append(dict(t_min_earliest=a, t_min_latest=b - 1e-6, type="count", section=name,
                                 kind=kind, count=int(recorded[mask].sum()), reported_by=MONITOR,
                                 source=SYNTHETIC_SOURCE, source_date="2000-01-01",
                                 note=f"synthetic: the monitor's {kind} in {name}"))
    return record_frame(rows)


def _bins(case: Scenario, bin_min: float, until_min: float) -> list[tuple[float, float]]:
    edges = np.arange(case.scenario.start_min, until_min + bin_min / 2, bin_min)
    return [(float(a), float(b)) for a, b in itertools.pairwise(edges)]


def _uncountable(r: object, line: int, place: str, where: tuple[int, ...] | None,
                 posts: tuple[int, ...], case: Scenario, problems: list[str]) -> bool:
    """Whether a ``count`` line cannot be computed for ``case`` (no post where it counts); says why."""
    if not posts:
        problems.append(f"line {line}: a {r.kind} count in {place} cannot be computed: the "
                        "scenario has no [peacekeepers] table (posts that count)")
        return True
    if where is not None and where[0] not in posts:
        problems.append(f"line {line}: a {r.kind} count in {r.section} cannot be computed: no "
                        f"peacekeepers post there (peacekeepers.sections: "
                        f"{', '.join(case.peacekeepers.sections)})")
        return True
    return False


def _shows_violation(r: Any) -> bool:
    """Whether a record line says a violation happened in its window (an incident, a claim,
    reported fighting, a count above 0)."""
    if r.type in ("incident", "claim"):
        return True
    if r.type == "description":
        return r.kind in ("fighting", "heavy_fighting")
    return r.type == "count" and bool(r.count) and r.count > 0


def _tag(t: float) -> str:
    """A minute as a name part: 165 -> '165', -720 -> 'm720'."""
    return f"m{-t:g}" if t < 0 else f"{t:g}"
