"""Record format v2: reading and checking records, and the observation models for monitor
counts, claims and multi-day descriptions."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import base_data, scripted_log, write_case

from sim.model.scenario import ScenarioError, load_scenario
from sim.records.observations import (
    Settings,
    monitor_record,
    monitor_seed,
    observations,
    observed_bounds,
    observer,
    record_frame,
    simulated,
)
from sim.records.record import COLUMNS, outcome_at, read_record
from sim.studies.runner import run_seed

SOURCE = "https://example.org/report"
HEADER = ",".join(COLUMNS)


def line(t0: float, t1: float, type_: str, section: str, kind: str, count: str = "",
         reported_by: str = "press", blamed: str = "", casualties: str = "", source: str = SOURCE,
         date: str = "2020-07-28", note: str = "our paraphrase") -> str:
    return ",".join(str(x) for x in (t0, t1, type_, section, kind, count, reported_by, blamed,
                                     casualties, source, date, note))


def write_record(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def monitored(tmp_path: Path):
    """The base case with posts on both front sections (none in the towns)."""
    data = base_data()
    data["peacekeepers"] = {"label": "SMM", "sections": ["north", "south"],
                            "detection": {"small_arms": 1.0, "artillery": 1.0},
                            "recorded_per_incident_mean": 1.0}
    return load_scenario(write_case(tmp_path, data, "monitored.toml"))


def log_of(case, rows: list[dict]) -> dict[str, np.ndarray]:
    return scripted_log(case, rows, section="north", side="east")


# -- reading -------------------------------------------------------------------------------------

def test_a_good_record_reads_with_types(tmp_path: Path, monitored):
    path = write_record(tmp_path / "r.csv", [
        line(-60, 0, "statement", "", "agreement", reported_by="mediator"),
        line(0, 1440, "count", "north", "violations", "111", reported_by="monitor"),
        line(0, 1440, "claim", "", "violations", "", reported_by="east", blamed="west"),
        line(5, 5, "incident", "south", "artillery", reported_by="west", blamed="east", casualties="2"),
        line(0, 2880, "description", "", "calm"),
    ])
    rec = read_record(path, sections=monitored.sections, sides=monitored.side_names, kinds=monitored.kinds)
    assert list(rec.columns) == list(COLUMNS)
    assert rec["count"].iloc[1] == 111 and pd.isna(rec["count"].iloc[2])
    assert rec["casualties"].iloc[3] == 2 and rec["t_min_latest"].dtype == float


@pytest.mark.parametrize(("bad", "message"), [
    (line(0, 10, "rumour", "north", "calm"), r"line 2: type = 'rumour': allowed: incident, count"),
    (line(0, 10, "count", "north", "calm", "3", reported_by="monitor"),
     r"line 2: kind = 'calm': allowed for a count line: violations, explosions"),
    (line(0, 10, "count", "north", "violations", reported_by="monitor"), r"line 2: count = '': a count line"),
    (line(0, 10, "count", "north", "violations", "5"), r"reported_by = 'press': a count line is reported by"),
    (line(0, 10, "incident", "north", "artillery", source=""), r"line 2: source = '': every line needs"),
    (line(0, 10, "incident", "north", "artillery", source="Reuters"), r"source = 'Reuters'"),
    (line(0, 10, "incident", "north", "artillery", date="28 July"), r"source_date = '28 July'"),
    (line(0, 10, "incident", "north", "artillery", date="2020-02-30"), r"source_date = '2020-02-30'"),
    (line(10, 0, "incident", "north", "artillery"), r"t_min_earliest = '10': is after t_min_latest"),
    (line(0, 10, "incident", "atlantis", "artillery"), r"section = 'atlantis': allowed: north"),
    (line(0, 10, "incident", "north", "airstrike"), r"kind = 'airstrike': not a kind of the scenario"),
    (line(0, 10, "claim", "", "violations", reported_by="east", blamed="east"),
     r"blamed = 'east': a claim is made by one side"),
    (line(0, 10, "incident", "north", "artillery", casualties="-1"), r"casualties = '-1': must be a whole"),
    (line("x", 10, "incident", "north", "artillery"), r"t_min_earliest = 'x': must be a finite number"),
    (line(0, "inf", "incident", "north", "artillery"), r"t_min_latest = 'inf': must be a finite number"),
    (line("-inf", 10, "incident", "north", "artillery"), r"t_min_earliest = '-inf': must be a finite"),
    (line(0, "1e999", "incident", "north", "artillery"), r"t_min_latest = '1e999': must be a finite"),
    (line("nan", 10, "incident", "north", "artillery"), r"t_min_earliest = 'nan': must be a finite"),
    (line(0, "NaN", "statement", "", "in_force"), r"t_min_latest = 'NaN': must be a finite number"),
])
def test_each_problem_is_one_line_naming_file_line_column_value(tmp_path: Path, monitored, bad, message):
    path = write_record(tmp_path / "bad.csv", [line(0, 1, "description", "north", "calm"), bad])
    with pytest.raises(ScenarioError, match=message.replace("line 2", "line 3")) as info:
        read_record(path, sections=monitored.sections, sides=monitored.side_names, kinds=monitored.kinds)
    assert len(str(info.value).splitlines()) == 1, "one problem, one line"
    assert str(info.value).startswith(f"{path}: line 3: ")


def test_outcome_statements_read(tmp_path: Path, monitored):
    """A truce declared over and one said to stand are statements the format knows."""
    path = write_record(tmp_path / "r.csv", [
        line(0, 360, "statement", "", "in_force", reported_by="mediator"),
        line(1440, 4320, "statement", "", "abandoned", reported_by="west", blamed="west"),
    ])
    rec = read_record(path, sections=monitored.sections, sides=monitored.side_names, kinds=monitored.kinds)
    assert list(rec["kind"]) == ["in_force", "abandoned"]


@pytest.mark.parametrize(("content", "message"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", r"not a text file \(binary data\)"),
    ("t_min_earliest,caf\xe9\n".encode("latin-1"), r"not UTF-8 text"),
    (b"", r"empty file"),
    (b"a,b\n1,2\n", r"columns must be, in this order"),
])
def test_unreadable_files_are_one_line_errors(tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "odd.csv"
    path.write_bytes(content)
    with pytest.raises(ScenarioError, match=message) as info:
        read_record(path)
    assert len(str(info.value).splitlines()) == 1


# -- monitor counts ------------------------------------------------------------------------------

def test_monitor_counts_posts_sections_and_explosive_kinds(monitored):
    record = record_frame([
        dict(t_min_earliest=0, t_min_latest=100, type="count", section="north", kind="violations",
             count=3, reported_by="monitor", source=SOURCE, source_date="2020-07-28", note="x"),
        dict(t_min_earliest=0, t_min_latest=100, type="count", section="", kind="explosions",
             count=1, reported_by="monitor", source=SOURCE, source_date="2020-07-28", note="x"),
    ])
    stats = observations(record, monitored, Settings(count_scale="linear"))
    story = [dict(t=10, kind="small_arms", detected=False),  # the monitor sees what parties miss
             dict(t=20, kind="artillery"), dict(t=30, section="south", kind="artillery"),
             dict(t=40, section="east_town", kind="artillery"),  # no post in the towns
             dict(t=200)]  # outside the window
    obs = observer(monitored, 0)
    values = simulated(stats, log_of(monitored, story), 480.0, obs)
    # Detection 1 and one violation recorded per incident: north has 2; explosions on posts: 2.
    assert values.tolist() == [2.0, 2.0]
    low, _ = observed_bounds(stats)
    assert low.tolist() == [3.0, 1.0], "a count is a point observation"
    log_stats = observations(record, monitored)  # default: log scale
    assert log_stats[0].low == pytest.approx(math.log1p(3))
    assert simulated(log_stats, log_of(monitored, story), 480.0, observer(monitored, 0))[0] == \
        pytest.approx(math.log1p(2))


def test_monitor_records_its_mean_per_seen_incident(monitored):
    case = monitored.with_overrides({"peacekeepers.recorded_per_incident_mean": 4.0})
    n = 4000
    # Which incidents a post saw is the model's draw (rule 9; tested in test_peacekeepers.py).
    log = log_of(case, [dict(t=float(i), post_seen=i % 3 == 0) for i in range(n)])
    recorded = monitor_record(log, observer(case, monitor_seed(7, 0)))
    seen = recorded > 0
    np.testing.assert_array_equal(seen, log["post_seen"].astype(bool))
    # Each seen incident: 1 + Poisson(3); mean 4, sd sqrt(3); 4 standard errors.
    k = int(seen.sum())
    assert abs(recorded[seen].mean() - 4.0) <= 4 * math.sqrt(3.0 / k)
    again = monitor_record(log, observer(case, monitor_seed(7, 0)))
    np.testing.assert_array_equal(recorded, again)
    other = monitor_record(log, observer(case, monitor_seed(7, 1)))
    assert not np.array_equal(recorded, other), "each run has its own monitor stream"


def test_the_monitor_stream_is_apart_from_the_model_stream():
    model = np.random.Generator(np.random.PCG64(run_seed(3, 0))).random(5)
    monitor = np.random.Generator(np.random.PCG64(monitor_seed(3, 0))).random(5)
    assert not np.allclose(model, monitor)


def test_a_count_without_posts_is_refused_at_load_time(tmp_path: Path, monitored):
    no_posts = load_scenario(write_case(tmp_path, base_data(), "plain.toml"))
    count = [dict(t_min_earliest=0, t_min_latest=100, type="count", section="north", kind="violations",
                  count=3, reported_by="monitor", source=SOURCE, source_date="2020-07-28", note="x")]
    with pytest.raises(ScenarioError, match=r"line 2: a violations count in north cannot be computed: "
                                            r"the scenario has no \[peacekeepers\] table"):
        observations(record_frame(count), no_posts)
    town = [{**count[0], "section": "east_town"}]
    with pytest.raises(ScenarioError, match=r"no peacekeepers post there"):
        observations(record_frame(town), monitored)


# -- claims --------------------------------------------------------------------------------------

def test_claims_are_an_indicator_or_a_count_times_the_inflation(monitored):
    base = dict(t_min_earliest=0, t_min_latest=100, type="claim", section="", kind="violations",
                reported_by="west", blamed="east", source=SOURCE, source_date="2020-07-28", note="x")
    record = record_frame([base, {**base, "count": 30}])
    stats = observations(record, monitored, Settings(count_scale="linear", precision_min=0))
    assert [s.measure for s in stats] == ["any", "claim_count"]
    story = [dict(t=10, blame={"west": "east"}), dict(t=20, blame={"west": "east"}),
             dict(t=30, blame={"east": "west"}),  # the other way round
             dict(t=40, detected=False)]  # unseen: blamed on no one
    log = log_of(monitored, story)
    obs = observer(monitored, 0, claim_inflation=5.0)
    assert simulated(stats, log, 480.0, obs).tolist() == [1.0, 10.0]
    assert simulated(stats, log_of(monitored, story[2:]), 480.0, obs).tolist() == [0.0, 0.0]


# -- descriptions over days ----------------------------------------------------------------------

def test_descriptions_over_several_days(monitored):
    base = dict(t_min_earliest=0, t_min_latest=3 * 1440, type="description", section="north",
                reported_by="press", source=SOURCE, source_date="2020-07-28", note="x")
    record = record_frame([{**base, "kind": "calm"}, {**base, "kind": "fighting", "section": ""},
                           {**base, "kind": "heavy_fighting"}])
    s = Settings(precision_min=0, calm_max=2, heavy_per_day=10)
    stats = observations(record, monitored, s)
    calm, fighting, heavy = stats
    assert (fighting.low, fighting.sections) == (1, None), "no section: the whole front"
    assert (calm.low, calm.high) == (0, 6), "calm allows calm_max per day"
    assert (heavy.low, heavy.high) == (30, np.inf), "heavy: at least heavy_per_day per day"
    story = [dict(t=1440.0 * d + 10) for d in range(3)] + [dict(t=50, section="south")]
    values = simulated(stats, log_of(monitored, story), 5000.0)
    assert values.tolist() == [3.0, 1.0, 3.0]
    short = observations(record_frame([{**base, "t_min_latest": 30, "kind": "calm"}]), monitored, s)
    assert short[0].high == 2, "a window shorter than a day allows calm_max"


# -- outcome lines -------------------------------------------------------------------------------

@pytest.mark.parametrize(("lines", "hours", "state", "line_no"), [
    ([line(100, 200, "statement", "", "abandoned", reported_by="east", blamed="west")], 6, "collapsed", 2),
    ([line(100, 200, "statement", "", "abandoned", reported_by="east", blamed="west")], 1, None, None),
    ([line(100, 200, "statement", "", "abandoned", reported_by="east", blamed="west"),
      line(70, 80, "statement", "", "in_force", reported_by="mediator")], 1, "held", 3),
    ([line(300, 500, "statement", "", "abandoned", reported_by="east", blamed="west"),
      line(600, 700, "statement", "", "in_force", reported_by="mediator")], 6, None, 2),
    ([line(0, 1440, "statement", "", "in_force", reported_by="mediator")], 6, None, None),
    ([line(0, 300, "statement", "", "recommitment", reported_by="east"),
      line(0, 300, "description", "", "calm")], 0, None, None),
    ([line(360, 400, "statement", "", "in_force", reported_by="press")], 6, "held", 2),
    ([line(11655, 13094, "statement", "", "abandoned", reported_by="press", blamed="west"),
      line(13095, 14534, "statement", "", "in_force", reported_by="mediator")], 168, "held", 3),
])
def test_outcome_lines_settle_a_horizon_or_say_why_not(tmp_path: Path, monitored, lines, hours, state,
                                                       line_no):
    """Collapsed when an abandonment ends by the horizon; held only when a later source says
    the truce stood and no abandonment may precede the horizon; otherwise undefined."""
    rec = read_record(write_record(tmp_path / "r.csv", lines), sides=monitored.side_names)
    got, why = outcome_at(rec, hours)
    assert got == state
    assert why.startswith(f"line {line_no}: ") if line_no else why.startswith("no abandoned line")


@pytest.mark.parametrize("hours", [-1, math.inf, math.nan, "6"])
def test_outcome_horizon_must_be_finite_hours(hours):
    with pytest.raises(ValueError, match="must be a finite number of hours"):
        outcome_at(pd.DataFrame(columns=list(COLUMNS)), hours)


def test_bundled_outcomes_match_the_readme_table():
    """The README's outcome column is what the records' outcome lines settle, horizon by horizon."""
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    words = {"collapsed": "collapsed", "held": "held", None: "not settled"}
    for path in sorted((root / "scenarios").glob("*.events.csv")):
        name = path.name.removesuffix(".events.csv")
        row = next(r for r in readme.splitlines() if r.startswith(f"| `{name}` |"))
        cell = row.rstrip(" |").rsplit(" | ", 1)[1]
        got = [words[outcome_at(read_record(path), h)[0]] for h in (6, 24, 72, 168)]
        expected = ("not settled at any horizon" if got == ["not settled"] * 4 else " / ".join(got))
        assert cell.startswith(expected), (name, cell, got)
