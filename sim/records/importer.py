"""Import event datasets (UCDP GED, ACLED) as record lines (format v2), for ``ceasefire import-events``.

Each dataset row becomes one ``incident`` line, ``reported_by = press`` (both datasets code
media reports):

* **Time**: the event's day(s) as an interval covering whole days, ``[date_start 00:00,
  date_end 23:59]`` local, in minutes relative to the scenario's ``effective_local`` (ISO 8601;
  its UTC offset is dropped: dataset dates are local dates).
* **Section**: by the scenario's ``[places]`` table: the place name (``locations``), else the
  coordinates in a GeoJSON polygon (``geojson``), else the admin region (``regions``). Events no
  entry maps are left out of the record and reported (counted by place), never dropped silently.
* **Kind**: UCDP GED gives no weapon: ``unspecified``. ACLED by :data:`ACLED_KINDS` from
  ``sub_event_type``; kinds the scenario lacks become ``unspecified``. ACLED event types that are
  not fighting (protests, riots, strategic developments) are left out and reported.
* **Blamed**: ACLED's ``actor1`` (the actor that acted) through ``[places.actors]``; UCDP's sides
  are not ordered by who attacked, so no one is blamed.
* **Casualties**: UCDP ``best``, ACLED ``fatalities``.
* **Source**: the row's own source if it is a URL, else the dataset's citation URL
  (:data:`DATASET_URLS`); ``source_date``: ACLED's upload ``timestamp`` if present, else the
  ``--source-date`` given, else the event's last day.
* **Note**: a line we generate from the coded fields (dataset, event id, event type, place,
  fatalities, actors); the datasets' free-text notes are never copied.
"""

from __future__ import annotations

import collections
import datetime as dt
import fnmatch
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from sim.model.scenario import Scenario, ScenarioError
from sim.records.observations import record_frame
from sim.records.record import UNSPECIFIED, read_csv_text, read_record

Format = Literal["ucdp", "acled"]
REQUIRED: dict[str, tuple[str, ...]] = {
    "ucdp": ("date_start", "date_end", "latitude", "longitude", "adm_1", "side_a", "side_b", "best"),
    "acled": ("event_date", "event_type", "sub_event_type", "actor1", "actor2", "admin1", "location",
              "latitude", "longitude", "fatalities"),
}
"""Columns each format must have (others are ignored)."""
DATASET_URLS = {"ucdp": "https://ucdp.uu.se/downloads/", "acled": "https://acleddata.com/"}
"""Cited as the source when a row's own source is not a URL."""
ACLED_KINDS = {
    "Armed clash": "small_arms",
    "Shelling/artillery/missile attack": "artillery",
    "Air/drone strike": "drone",  # "airstrike" when the scenario defines that kind
    "Government regains territory": "raid",
    "Non-state actor overtakes territory": "raid",
    "Attack": UNSPECIFIED,
    "Grenade": UNSPECIFIED,
    "Remote explosive/landmine/IED": UNSPECIFIED,
    "Suicide bomb": UNSPECIFIED,
    "Abduction/forced disappearance": UNSPECIFIED,
}
"""ACLED ``sub_event_type`` -> kind; sub-event types not listed: ``unspecified``."""
ACLED_FIGHTING = ("Battles", "Explosions/Remote violence", "Violence against civilians")
"""ACLED event types imported; the others (protests, riots, strategic developments) are not fighting."""
DATE_FORMATS = ("%Y-%m-%d", "%d %B %Y", "%d-%B-%Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f",
                "%d/%m/%Y")


@dataclass
class Imported:
    """The result of an import: the record lines and what was left out, and why."""

    record: pd.DataFrame
    rows: int
    """Rows in the dataset file."""
    unmapped: collections.Counter[str] = field(default_factory=collections.Counter)
    """Events whose place no entry of ``[places]`` maps, by place."""
    not_fighting: collections.Counter[str] = field(default_factory=collections.Counter)
    """ACLED events of types that are not fighting, by event type."""
    unmatched_actors: collections.Counter[str] = field(default_factory=collections.Counter)
    """Actor names ``[places.actors]`` does not map (the events are kept, blaming no one)."""

    def report(self) -> str:
        """What was imported and what was left out, in a few lines."""
        lines = [f"{self.rows} events read; {len(self.record)} written as incident lines"]
        if self.unmapped:
            lines.append(f"{sum(self.unmapped.values())} events left out: no section for their place "
                         f"(add them to [places]): {_top(self.unmapped)}")
        if self.not_fighting:
            lines.append(f"{sum(self.not_fighting.values())} events left out: not fighting: "
                         f"{_top(self.not_fighting)}")
        if self.unmatched_actors:
            lines.append(f"{sum(self.unmatched_actors.values())} actor names matched no side in "
                         f"[places.actors] (kept, blaming no one): {_top(self.unmatched_actors)}")
        return "\n".join(lines)


def import_events(path: str | Path, case: Scenario, scenario_dir: str | Path, fmt: Format, *,
                  source_date: str = "") -> Imported:
    """Turn a UCDP GED or ACLED CSV export into record lines for ``case`` (rules in the module
    docstring). ``scenario_dir`` is where the scenario (and its GeoJSON) lives.

    Raises ScenarioError naming the file, the row and the value for bad input.
    """
    path = Path(path)
    if fmt not in REQUIRED:
        raise ScenarioError(f"--format {fmt!r}: allowed: {', '.join(REQUIRED)}")
    if case.places is None:
        raise ScenarioError(f"{case.scenario.name}: the scenario has no [places] table mapping admin "
                            "regions, place names or polygons to sections (see README, import-events)")
    if source_date and not _iso_date(source_date):
        raise ScenarioError(f"--source-date {source_date!r}: must be YYYY-MM-DD")
    effective = _effective(case)
    frame = read_csv_text(path, "a CSV export with a header line")
    missing = [c for c in REQUIRED[fmt] if c not in frame.columns]
    if missing:
        raise ScenarioError(f"{path}: not a {fmt.upper()} export: missing columns {', '.join(missing)}")
    polygons = _polygons(case, Path(scenario_dir))
    result = Imported(record_frame([]), len(frame))
    lines, problems = [], []
    for i, row in frame.iterrows():
        where = f"{path}: row {i + 2}"
        if fmt == "acled" and row["event_type"] not in ACLED_FIGHTING:
            result.not_fighting[row["event_type"] or "(empty)"] += 1
            continue
        first, last = ((row["event_date"], row["event_date"]) if fmt == "acled"
                       else (row["date_start"], row["date_end"]))
        start, end = _date(first), _date(last)
        if start is None or end is None or end < start:
            problems.append(f"{where}: dates {first!r} to {last!r}: need dates (YYYY-MM-DD or "
                            "'27 July 2020'), the first not after the last")
            continue
        section = _section(case, row, fmt, polygons)
        if section is None:
            place = (row["location"] if fmt == "acled" else row.get("where_coordinates", "")) or row[
                "admin1" if fmt == "acled" else "adm_1"] or "(no place)"
            result.unmapped[place] += 1
            continue
        t0 = (dt.datetime.combine(start, dt.time()) - effective).total_seconds() / 60.0
        t1 = (dt.datetime.combine(end, dt.time()) - effective).total_seconds() / 60.0 + 1439.0
        deaths = _whole(row["best" if fmt == "ucdp" else "fatalities"])
        lines.append(_line(case, row, fmt, result, t0, t1, section, deaths, source_date or end.isoformat()))
    if problems:
        raise ScenarioError("\n".join(problems))
    result.record = record_frame(lines)
    return result


def write_record(record: pd.DataFrame, target: str | Path, case: Scenario) -> Path:
    """Write record lines as CSV atomically, after checking them against ``case``."""
    target = Path(target)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        record.to_csv(tmp, index=False)
        read_record(tmp, sections=case.sections, sides=case.side_names, kinds=case.kinds)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _line(case: Scenario, row: Mapping[str, str], fmt: Format, result: Imported, t0: float, t1: float,
          section: str, deaths: int | None, default_date: str) -> dict[str, Any]:
    if fmt == "acled":
        kind = ACLED_KINDS.get(row["sub_event_type"], UNSPECIFIED)
        if kind == "drone" and "airstrike" in case.kinds:
            kind = "airstrike"
        if kind != UNSPECIFIED and kind not in case.kinds:
            kind = UNSPECIFIED
        actors = (row["actor1"], row["actor2"])
        what = row["sub_event_type"] or row["event_type"]
        ident = row.get("event_id_cnty", "")
        own_source = row.get("source", "")
        stamp = row.get("timestamp", "")
        date = (dt.datetime.fromtimestamp(int(stamp), dt.UTC).date().isoformat() if stamp.isdigit()
                else default_date)
    else:
        kind = UNSPECIFIED
        actors = (row["side_a"], row["side_b"])
        what = "state-based violence" if row.get("type_of_violence", "1") == "1" else "organised violence"
        ident = row.get("id", "")
        own_source = row.get("source_article", "")
        date = default_date
    sides = [_side(case, a, result) for a in actors]
    blamed = sides[0] if fmt == "acled" and sides[0] and sides[0] != sides[1] else ""
    source = own_source if own_source.startswith(("http://", "https://")) else DATASET_URLS[fmt]
    label = {"ucdp": "UCDP GED", "acled": "ACLED"}[fmt]
    place = row.get("location", "") if fmt == "acled" else row.get("where_coordinates", "")
    place = ", ".join(p for p in (place, row["admin1" if fmt == "acled" else "adm_1"]) if p)
    note = (f"Imported from {label}{f' event {ident}' if ident else ''}: {what.lower()} at "
            f"{place or 'an unnamed place'}; {deaths if deaths is not None else 'unknown'} deaths "
            f"coded; actors {actors[0] or '?'} and {actors[1] or '?'}")
    return dict(t_min_earliest=t0, t_min_latest=t1, type="incident", section=section, kind=kind,
                reported_by="press", blamed=blamed, casualties="" if deaths is None else deaths,
                source=source, source_date=date, note=note)


def _section(case: Scenario, row: Mapping[str, str], fmt: Format,
             polygons: Sequence[tuple[str, list[list[tuple[float, float]]]]]) -> str | None:
    places = case.places
    assert places is not None  # checked by the caller
    name = row.get("location", "") if fmt == "acled" else row.get("where_coordinates", "")
    found = _lookup(places.locations, name)
    if found is None and polygons:
        try:
            lon, lat = float(row["longitude"]), float(row["latitude"])
        except ValueError:
            lon = lat = math.nan
        if math.isfinite(lon) and math.isfinite(lat):
            found = next((sec for sec, rings in polygons if point_in_rings(lon, lat, rings)), None)
    if found is None:
        found = _lookup(places.regions, row["admin1" if fmt == "acled" else "adm_1"])
    return found


def _lookup(table: Mapping[str, str], name: str) -> str | None:
    key = name.strip().casefold()
    if not key:
        return None
    return next((v for k, v in table.items() if k.strip().casefold() == key), None)


def _side(case: Scenario, actor: str, result: Imported) -> str:
    if not actor:
        return ""
    places = case.places
    assert places is not None
    for pattern, side in places.actors.items():
        if fnmatch.fnmatchcase(actor.casefold(), pattern.casefold()):
            return side
    result.unmatched_actors[actor] += 1
    return ""


def point_in_rings(x: float, y: float, rings: Sequence[Sequence[tuple[float, float]]]) -> bool:
    """Whether ``(x, y)`` lies inside a polygon given as rings (outer ring and holes): ray casting
    with the even-odd rule over all rings, so a point in a hole is outside."""
    inside = False
    for ring in rings:
        n = len(ring)
        for k in range(n):
            (x1, y1), (x2, y2) = ring[k], ring[(k + 1) % n]
            if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
                inside = not inside
    return inside


def _polygons(case: Scenario, directory: Path) -> list[tuple[str, list[list[tuple[float, float]]]]]:
    """The ``[places] geojson`` polygons as (section, rings), one entry per polygon."""
    places = case.places
    if places is None or not places.geojson:
        return []
    path = directory / places.geojson
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read places.geojson: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScenarioError(f"{path}: places.geojson is not GeoJSON: {exc}") from None
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list):
        raise ScenarioError(f"{path}: places.geojson must be a FeatureCollection")
    out = []
    for k, feat in enumerate(features):
        props = feat.get("properties") or {}
        section = props.get(places.section_property)
        geom = feat.get("geometry") or {}
        where = f"{path}: feature {k}"
        if section not in case.sections:
            raise ScenarioError(f"{where}: properties.{places.section_property} = {section!r}: "
                                f"no such section; known: {', '.join(case.sections)}")
        if geom.get("type") == "Polygon":
            polys = [geom.get("coordinates")]
        elif geom.get("type") == "MultiPolygon":
            polys = geom.get("coordinates")
        else:
            raise ScenarioError(f"{where}: geometry type {geom.get('type')!r}: "
                                "allowed: Polygon, MultiPolygon")
        try:
            for poly in polys:
                out.append((section, [[(float(p[0]), float(p[1])) for p in ring] for ring in poly]))
        except (TypeError, ValueError, IndexError):
            raise ScenarioError(f"{where}: coordinates must be rings of [longitude, latitude]") from None
    return out


def _effective(case: Scenario) -> dt.datetime:
    text = case.scenario.effective_local
    try:
        return dt.datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError:
        raise ScenarioError(f"scenario.effective_local = {text!r}: import-events needs the ceasefire's "
                            "local start as ISO 8601, e.g. 2020-07-27T00:01:00+03:00") from None


def _date(text: str) -> dt.date | None:
    text = text.strip()
    for f in DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, f).date()
        except ValueError:
            continue
    return None


def _iso_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def _whole(text: str) -> int | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value >= 0 and value.is_integer() else None


def _top(counter: collections.Counter[str], n: int = 8) -> str:
    items = counter.most_common(n)
    more = len(counter) - len(items)
    return ", ".join(f"{k} ({v})" for k, v in items) + (f" and {more} more" if more > 0 else "")
