"""``ceasefire records``, ``ceasefire validate`` on records, and ``ceasefire import-events``
(small UCDP GED and ACLED files made here, in those column layouts; no dataset is shipped)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import base_data, write_case

from sim.faces.cli import main
from sim.model.scenario import ScenarioError, load_scenario
from sim.records.importer import import_events, point_in_rings
from sim.records.record import COLUMNS, read_record

SOURCE = "https://example.org/report"
EFFECTIVE = "2020-07-27T00:01:00+03:00"


def scenario_with_record(directory: Path, lines: list[str], *, monitors: bool = True,
                         name: str = "truce") -> Path:
    data = base_data()
    data["scenario"].update(name=name, title=f"The {name}", effective_local=EFFECTIVE,
                            events_file=f"{name}.events.csv")
    if monitors:
        data["peacekeepers"] = {"label": "Observer mission", "sections": ["north", "south"]}
    (directory / f"{name}.events.csv").write_text("\n".join([",".join(COLUMNS), *lines]) + "\n",
                                                  encoding="utf-8")
    return write_case(directory, data, f"{name}.toml")


GOOD = [
    f"-1440,-1,count,north,violations,40,monitor,,,{SOURCE},2020-07-27,monitor counted violations",
    f"0,1439,count,north,explosions,3,monitor,,,{SOURCE},2020-07-28,monitor counted explosions",
    "0,1439,claim,,violations,12,east,west,,https://example.org/other,2020-07-28,east claims twelve",
    f"-60,0,statement,,agreement,,mediator,,,{SOURCE},2020-07-26,the parties agree",
]


def test_records_lists_truce_span_lines_monitor_and_sources(tmp_path: Path, capsys):
    scenario_with_record(tmp_path, GOOD)
    assert main(["records", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "truce: The truce" in out
    assert "span: -1440 to 1439 min (2020-07-26T00:01 to 2020-07-28T00:00 local)" in out
    assert "lines: 4 (2 count, 1 claim, 1 statement)" in out
    assert "monitor: Observer mission; sources: 2" in out
    assert main(["records", "--dir", str(tmp_path), "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["by_type"] == {"incident": 0, "count": 2, "claim": 1, "description": 0, "statement": 1}
    assert entry["sources"] == 2 and entry["monitor"] == "Observer mission"


def test_records_lists_the_bundled_library(capsys):
    assert main(["records", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert entries and all("error" not in e and e["sources"] >= 1 for e in entries)
    assert all(not e["file"].endswith(".calibrated.toml") for e in entries)


def test_a_broken_record_is_listed_with_its_error_and_exit_1(tmp_path: Path, capsys):
    scenario_with_record(tmp_path, GOOD, name="fine")
    scenario_with_record(tmp_path, [GOOD[0].replace(SOURCE, "")], name="broken")
    assert main(["records", "--dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "broken: ERROR" in out and "source = ''" in out and "fine: The fine" in out


@pytest.mark.parametrize(("lines", "monitors", "message"), [
    ([GOOD[0].replace(SOURCE, "")], True, "line 2: source = '': every line needs the URL"),
    ([GOOD[0]], False, "line 2: a violations count in north cannot be computed"),
    ([GOOD[0].replace("north", "atlantis")], True, "section = 'atlantis'"),
    ([GOOD[2].replace("west", "nobody")], True, "blamed = 'nobody'"),
])
def test_validate_checks_the_record_against_its_scenario(tmp_path: Path, capsys, lines, monitors, message):
    path = scenario_with_record(tmp_path, lines, monitors=monitors)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    good = scenario_with_record(tmp_path, GOOD, name="good")
    assert main(["validate", str(good)]) == 0
    assert "record good.events.csv: 4 lines (2 count, 1 claim, 1 statement), 2 sources" in \
        capsys.readouterr().out


# -- import-events -------------------------------------------------------------------------------

SQUARE = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"section": "east_town"},
     "geometry": {"type": "Polygon", "coordinates": [[[37.0, 48.0], [38.0, 48.0], [38.0, 49.0],
                                                      [37.0, 49.0], [37.0, 48.0]]]}}]}


def places_scenario(directory: Path) -> Path:
    data = base_data()
    data["scenario"].update(name="importing", effective_local=EFFECTIVE)
    data["places"] = {"geojson": "importing.geojson",
                      "regions": {"North Oblast": "north"},
                      "locations": {"Southville": "south"},
                      "actors": {"Military Forces of East*": "east", "West Militia": "west"}}
    (directory / "importing.geojson").write_text(json.dumps(SQUARE), encoding="utf-8")
    return write_case(directory, data, "importing.toml")


ACLED_ROWS = [
    # event_date, event_type, sub_event_type, actor1, actor2, admin1, location, lat, lon, fatalities
    ("27 July 2020", "Battles", "Armed clash", "Military Forces of East (2019-)", "West Militia",
     "South Oblast", "Southville", "47.0", "36.0", "2"),
    ("2020-07-26", "Explosions/Remote violence", "Shelling/artillery/missile attack", "West Militia",
     "Military Forces of East (2019-)", "North Oblast", "Hilltop", "47.5", "36.5", "0"),
    ("28 July 2020", "Explosions/Remote violence", "Air/drone strike", "West Militia", "Unknown Group",
     "Town Oblast", "Eastburg", "48.5", "37.5", "1"),
    ("28 July 2020", "Protests", "Peaceful protest", "Protesters", "", "North Oblast", "Hilltop",
     "47.5", "36.5", "0"),
    ("28 July 2020", "Battles", "Armed clash", "Unknown Group", "West Militia", "Far Oblast",
     "Faraway", "40.0", "30.0", "0"),
]


def write_acled(path: Path) -> Path:
    cols = ["event_id_cnty", "event_date", "event_type", "sub_event_type", "actor1", "actor2", "admin1",
            "location", "latitude", "longitude", "fatalities", "notes", "source"]
    rows = [(f"XYZ{k}", *r, "SECRET NOTES TEXT that must never be copied", "Some Outlet")
            for k, r in enumerate(ACLED_ROWS)]
    pd.DataFrame(rows, columns=cols).to_csv(path, index=False)
    return path


def test_acled_export_becomes_record_lines(tmp_path: Path, capsys):
    scenario = places_scenario(tmp_path)
    export = write_acled(tmp_path / "acled.csv")
    out = tmp_path / "imported.events.csv"
    assert main(["import-events", str(export), "--scenario", str(scenario), "--format", "acled",
                 "--out", str(out)]) == 0
    report = capsys.readouterr().out
    assert "5 events read; 3 written" in report
    assert "1 events left out: no section for their place (add them to [places]): Faraway (1)" in report
    assert "1 events left out: not fighting: Protests (1)" in report
    assert "Unknown Group (1)" in report
    case = load_scenario(scenario)
    rec = read_record(out, sections=case.sections, sides=case.side_names, kinds=case.kinds)
    assert rec["section"].tolist() == ["south", "north", "east_town"], "location, region, polygon"
    assert rec["kind"].tolist() == ["small_arms", "artillery", "drone"]
    assert rec["blamed"].tolist() == ["east", "west", "west"], "actor1 acted"
    # 27 July 00:00 local is one minute before the ceasefire's 00:01.
    assert rec[["t_min_earliest", "t_min_latest"]].iloc[0].tolist() == [-1.0, 1438.0]
    assert rec[["t_min_earliest", "t_min_latest"]].iloc[1].tolist() == [-1441.0, -2.0]
    assert rec["casualties"].tolist() == [2, 0, 1]
    assert set(rec["source"]) == {"https://acleddata.com/"} and set(rec["reported_by"]) == {"press"}
    assert not rec["note"].str.contains("SECRET").any(), "the dataset's notes are never copied"
    assert rec["note"].str.contains("XYZ0").iloc[0], "the note names the event for tracing"


def test_an_airstrike_kind_takes_acled_air_strikes(tmp_path: Path):
    data = base_data()
    data["scenario"].update(name="air", effective_local=EFFECTIVE)
    data["kinds"] = {"airstrike": {"severity": 4.0, "detection_probability": 0.9, "ambiguity": 0.1,
                                   "casualties_mean": 1.0, "reaches_rear": True, "explosive": True}}
    data["places"] = {"regions": {"Town Oblast": "east_town"}}
    case = load_scenario(write_case(tmp_path, data, "air.toml"))
    result = import_events(write_acled(tmp_path / "a.csv"), case, tmp_path, "acled")
    assert result.record["kind"].tolist() == ["airstrike"]


def test_ucdp_export_becomes_record_lines(tmp_path: Path):
    case = load_scenario(places_scenario(tmp_path))
    rows = [dict(id="1", date_start="2020-07-26 00:00:00.000", date_end="2020-07-27 00:00:00.000",
                 latitude="47.5", longitude="36.5", adm_1="North Oblast", side_a="Government of East",
                 side_b="West Militia", best="3", source_article='"Paper", 27 July 2020',
                 where_coordinates="Hilltop village")]
    export = tmp_path / "ged.csv"
    pd.DataFrame(rows).to_csv(export, index=False)
    result = import_events(export, case, tmp_path, "ucdp")
    line = result.record.iloc[0]
    assert (line["section"], line["kind"], line["blamed"]) == ("north", "unspecified", "")
    assert (line["t_min_earliest"], line["t_min_latest"]) == (-1441.0, 1438.0), "two whole days"
    assert line["casualties"] == 3 and line["source"] == "https://ucdp.uu.se/downloads/"
    assert line["source_date"] == "2020-07-27"


@pytest.mark.parametrize(("change", "message"), [
    ("no places", "the scenario has no [places] table"),
    ("missing column", "not a UCDP export: missing columns best"),
    ("bad date", "row 2: dates 'yesterday' to"),
    ("binary", "not a text file"),
])
def test_bad_imports_are_one_line_errors(tmp_path: Path, capsys, change, message):
    scenario = places_scenario(tmp_path)
    if change == "no places":
        scenario = write_case(tmp_path, {**base_data(), "scenario": {
            **base_data()["scenario"], "effective_local": EFFECTIVE}}, "plain.toml")
    row = dict(date_start="2020-07-26", date_end="2020-07-26", latitude="1", longitude="1",
               adm_1="North Oblast", side_a="a", side_b="b", best="1")
    if change == "missing column":
        del row["best"]
    if change == "bad date":
        row["date_start"] = "yesterday"
    export = tmp_path / "ged.csv"
    pd.DataFrame([row]).to_csv(export, index=False)
    if change == "binary":
        export.write_bytes(b"\x00\x01\x02")
    out = tmp_path / "out.csv"
    assert main(["import-events", str(export), "--scenario", str(scenario), "--format", "ucdp",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists(), "nothing written"


def test_point_in_polygon_with_a_hole():
    outer = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)]
    hole = [(4.0, 4.0), (6.0, 4.0), (6.0, 6.0), (4.0, 6.0)]
    assert point_in_rings(1.0, 1.0, [outer, hole])
    assert not point_in_rings(5.0, 5.0, [outer, hole])
    assert not point_in_rings(11.0, 5.0, [outer])


def test_places_must_name_sections_and_sides(tmp_path: Path):
    data = base_data()
    data["places"] = {"regions": {"X": "atlantis"}, "actors": {"Y": "nobody"}}
    with pytest.raises(ScenarioError) as info:
        load_scenario(write_case(tmp_path, data, "bad.toml"))
    text = str(info.value)
    assert "places.regions.X = 'atlantis': no section named 'atlantis'" in text
    assert "places.actors.Y = 'nobody': no side named 'nobody'" in text
