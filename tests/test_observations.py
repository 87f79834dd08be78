"""The record -> summary statistics, and the same statistics from a run's event log."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import scripted_log

from sim.model.scenario import ScenarioError, bundled_dir, load_scenario
from sim.records.observations import (
    Settings,
    interval_excess,
    load_observations,
    observations,
    observed_bounds,
    simulated,
    synthetic_record,
)
from sim.records.record import COLUMNS
from sim.studies.runner import run_one

KARABAKH = "karabakh-2020-10-10"
SOURCE = "https://example.org/report"


SEED_RECORD = Path(__file__).parent / "fixtures" / "karabakh-seed-report.events.csv"
"""The 14 lines of the one press report of 10 October 2020 the Karabakh record started from
(the bundled record has grown since; these tests pin the reading of known lines)."""


@pytest.fixture(scope="module")
def karabakh():
    case = load_scenario(KARABAKH)
    return case, load_observations(case, SEED_RECORD)


def test_the_bundled_karabakh_record_reads() -> None:
    case = load_scenario(KARABAKH)
    stats = load_observations(case, bundled_dir() / f"{KARABAKH}.events.csv")
    assert stats and all(st.lines for st in stats)


def _record(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _log(case, rows: list[dict]) -> dict[str, np.ndarray]:
    return scripted_log(case, rows, section="hadrut", side="azerbaijani")


def test_karabakh_record_lines_become_documented_statistics(karabakh):
    _, stats = karabakh
    by_name = {s.name: s for s in stats}
    assert len(by_name) == len(stats), "statistic names are unique"
    first = by_name["first_violation_min"]
    # Line 7: "an attack ... begins at 12:05", widened by the 5-minute reporting precision.
    assert first.lines == (7,) and (first.low, first.high) == (0.0, 10.0)
    assert by_name["first_violation_in_hadrut"].lines == (7,)
    assert by_name["raid_hadrut_165_195"].lines == (9,)
    assert by_name["calm_martuni_165_195"].high == Settings().calm_max
    assert by_name["quiet_stepanakert_m1_0"].high == 0
    assert {s.name for s in stats} >= {"azerbaijani_accuses_armenian_0_420",
                                       "armenian_accuses_azerbaijani_0_420"}
    # Agreement, order and diplomacy statements (lines 2, 6, 15) are not compared.
    used = {line for s in stats for line in s.lines}
    assert used.isdisjoint({2, 6, 15})
    assert all(s.doc.startswith(("minute", "the first", "any", "detected", "azerbaijani", "armenian"))
               for s in stats)
    assert all(f"line {s.lines[0]}:" in s.doc for s in stats)


def test_scripted_log_matches_the_record_when_it_tells_the_same_story(karabakh):
    case, stats = karabakh
    story = [
        dict(t=-300, section="stepanakert", kind="rockets", blame={"armenian": "azerbaijani"}),
        dict(t=-200, section="jabrayil", kind="drone", blame={"armenian": "azerbaijani"}),
        dict(t=-100, section="syunik", kind="drone", blame={"armenian": "azerbaijani"}),
        dict(t=5, section="hadrut", blame={"armenian": "azerbaijani"}),
        dict(t=60, section="martuni", side="armenian", blame={"azerbaijani": "armenian"}),
        dict(t=120, section="azerbaijani_towns", side="armenian", kind="artillery",
             blame={"azerbaijani": "armenian"}),
        dict(t=170, section="hadrut", kind="raid", blame={"armenian": "azerbaijani"}),
    ]
    values = simulated(stats, _log(case, story), 480.0)
    low, high = observed_bounds(stats)
    assert not interval_excess(values, low, high).any(), dict(zip([s.name for s in stats], values,
                                                                  strict=True))


def test_each_statistic_reacts_to_what_it_measures(karabakh):
    case, stats = karabakh
    names = [s.name for s in stats]

    def value(name, story):
        return simulated(stats, _log(case, story), 480.0)[names.index(name)]

    raid = dict(t=170, section="hadrut", kind="raid", blame={"armenian": "azerbaijani"})
    assert value("raid_hadrut_165_195", [raid]) == 1
    assert value("raid_hadrut_165_195", [{**raid, "t": 240}]) == 0, "outside the reported interval"
    assert value("raid_hadrut_165_195", [{**raid, "detected": False}]) == 0, "unseen is unreported"
    assert value("raid_hadrut_165_195", [{**raid, "kind": "drone"}]) == 0, "the kind was reported"
    # The first violation is the first the reporter blamed on the side it names.
    early = dict(t=2, section="martuni", side="armenian", blame={"azerbaijani": "armenian"})
    later = dict(t=30, section="hadrut", blame={"armenian": "azerbaijani"})
    assert value("first_violation_min", [early, later]) == 30
    assert value("first_violation_in_hadrut", [early, later]) == 1
    assert value("first_violation_min", []) == 480, "censored at the horizon"
    calm = [dict(t=t, section="martuni") for t in (170, 180, 250)]
    assert value("calm_martuni_165_195", calm) == 2


def test_interval_excess_is_zero_inside_and_the_gap_outside():
    low, high = np.array([0.0, 1.0]), np.array([10.0, 1.0])
    got = interval_excess(np.array([[5.0, 1.0], [12.0, 0.0], [-3.0, 2.0]]), low, high)
    np.testing.assert_allclose(got, [[0, 0], [2, 1], [3, 1]])


def test_a_run_matches_the_synthetic_record_written_from_it():
    case = load_scenario("classroom-two-villages", {"scenario.horizon_h": 12})
    log = run_one(case, 5, 0, keep_steps=False).events
    record = synthetic_record(log, case, bin_min=30, until_min=720)
    stats = observations(record, case, Settings(precision_min=0, calm_max=0))
    assert len(stats) == len(record) + 1, "one per line; the first fighting after t = 0 gives two"
    low, high = observed_bounds(stats)
    assert not interval_excess(simulated(stats, log, 720.0), low, high).any()
    other = run_one(case, 6, 0, keep_steps=False).events
    assert interval_excess(simulated(stats, other, 720.0), low, high).any(), "another run differs"


def test_an_incident_line_after_claimed_violations_is_not_the_first_violation(tmp_path: Path):
    """The earliest incident line is the first violation only if no earlier line after t = 0
    (a claim, reported fighting, a count above 0) shows one: Karabakh's Ganja strike at 02:00 on
    11 October came after the 12:05 attack the Armenian side claimed."""
    case = load_scenario(KARABAKH)
    claim = (5, 5, "claim", "hadrut", "unspecified", "", "armenian", "azerbaijani", "", SOURCE,
             "2020-10-10", "an attack at 12:05")
    ganja = (810, 870, "incident", "ganja", "rockets", "", "press", "armenian", "", SOURCE,
             "2020-10-11", "a missile on Ganja")

    def names(rows: list[tuple]) -> list[str]:
        path = tmp_path / "r.events.csv"
        _record(rows).to_csv(path, index=False)
        return [s.name for s in load_observations(case, path)]

    assert names([ganja])[:2] == ["first_violation_min", "first_violation_in_ganja"]
    both = names([claim, ganja])
    assert "first_violation_min" not in both and "rockets_ganja_810_870" in both
    assert "armenian_accuses_azerbaijani_5_5" in both
    # A claim overlapping the incident line does not say the violation came before it.
    overlapping = (800, 900, *claim[2:])
    assert "first_violation_min" in names([overlapping, ganja])


def test_a_side_reporting_its_own_fire_is_matched_by_what_it_fired(tmp_path: Path):
    """An incident line whose reporter names itself as the side that fired ("the IDF says it
    struck ...") keeps the incidents that side fired; it used to require the side to blame
    itself, which no run ever does, so the line could never be matched."""
    case = load_scenario(KARABAKH)
    own = (0, 60, "incident", "hadrut", "small_arms", "", "azerbaijani", "azerbaijani", "", SOURCE,
           "2020-10-10", "the ministry says its units fired")
    later = (300, 360, *own[2:])
    path = tmp_path / "r.events.csv"
    _record([own, later]).to_csv(path, index=False)
    stats = load_observations(case, path)
    names = [s.name for s in stats]
    assert names[:2] == ["first_violation_min", "first_violation_in_hadrut"]
    assert "small_arms_hadrut_300_360" in names
    theirs = dict(t=310, section="hadrut", side="azerbaijani")
    other = dict(t=20, section="hadrut", side="armenian", blame={"azerbaijani": "armenian"})
    values = dict(zip(names, simulated(stats, _log(case, [dict(theirs, t=30), theirs]), 480.0),
                      strict=True))
    assert values["first_violation_min"] == 30 and values["small_arms_hadrut_300_360"] == 1
    values = dict(zip(names, simulated(stats, _log(case, [other]), 480.0), strict=True))
    assert values["first_violation_min"] == 480, "the other side's fire is not what it reported"


def test_a_record_naming_an_unknown_section_is_rejected(tmp_path: Path):
    case = load_scenario(KARABAKH)
    bad = _record([(0, 10, "incident", "atlantis", "raid", "", "armenian", "azerbaijani", "", SOURCE,
                    "2020-10-10", "x")])
    path = tmp_path / "bad.events.csv"
    bad.to_csv(path, index=False)
    with pytest.raises(ScenarioError, match=r"bad\.events\.csv: line 2: section = 'atlantis'"):
        load_observations(case, path)
