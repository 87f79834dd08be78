"""``ceasefire score`` and sim.studies.scoring: forecasts scored against a record, beside baselines.

Tiny synthetic scenarios (4 h, two monitored sections) and records written to ``tmp_path``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import base_data, write_case

from sim.faces.cli import main
from sim.faces.figures import scoring as score_files
from sim.model.scenario import load_scenario
from sim.records.observations import Settings, monitor_seed, observations, observer, simulated
from sim.records.record import COLUMNS, read_record
from sim.studies import scoring
from sim.studies.runner import map_runs

SOURCE = "https://example.org/report"
RUNS = 12


def count_line(t0: float, t1: float, section: str, n: int, kind: str = "violations") -> str:
    return f"{t0},{t1},count,{section},{kind},{n},monitor,,,{SOURCE},2020-07-28,monitor count"


def incident_line(t0: float, t1: float, section: str) -> str:
    return f"{t0},{t1},incident,{section},unspecified,,monitor,,,{SOURCE},2020-07-28,fighting seen"


def truce(tmp_path: Path, name: str, lines: list[str], **scenario: object) -> Path:
    """A monitored base case named ``name`` with its record ``lines``."""
    data = base_data()
    data["scenario"] = {**data["scenario"], "name": name, "events_file": f"{name}.events.csv",
                        **scenario}
    data["peacekeepers"] = {"label": "monitors", "sections": ["north", "south"],
                            "detection": {"small_arms": 1.0, "artillery": 1.0},
                            "recorded_per_incident_mean": 2.0}
    (tmp_path / f"{name}.events.csv").write_text("\n".join([",".join(COLUMNS), *lines]) + "\n",
                                                 encoding="utf-8")
    return write_case(tmp_path, data, f"{name}.toml")


def hourly(counts: dict[str, list[int]], start: float = -120.0) -> list[str]:
    return [count_line(start + 60 * i, start + 60 * (i + 1), s, n)
            for s, ns in counts.items() for i, n in enumerate(ns)]


@pytest.fixture
def cases(tmp_path: Path) -> tuple[Path, Path]:
    """A scored truce (with a first incident line) and a training truce."""
    scored = truce(tmp_path, "scored", [
        *hourly({"north": [30, 25, 6, 4, 3, 5], "south": [20, 30, 2, 0, 4, 1]}),
        incident_line(10, 40, "north")])
    train = truce(tmp_path, "train", hourly({"north": [40, 35, 8, 6, 2, 9], "south": [25, 20, 3, 5, 1, 0]}))
    return scored, train


# -- the scores ----------------------------------------------------------------------------------

def test_the_truths_own_generator_scores_better_than_a_wrong_one():
    rng = np.random.default_rng(1)
    means = rng.uniform(1, 30, size=40)
    truth = rng.poisson(means)
    right = scoring.Predictive("right", rng.poisson(means, size=(500, 40)))
    wrong = scoring.Predictive("wrong", rng.poisson(5 * means + 20, size=(500, 40)))
    kw = dict(first_obs=None, truth=None, horizon_min=240.0, brier_reason="unknown")
    good = scoring.score_samples(right, truth.astype(float), np.random.default_rng(2), **kw)
    bad = scoring.score_samples(wrong, truth.astype(float), np.random.default_rng(2), **kw)
    assert good["crps"] < bad["crps"]
    assert good["coverage_90"] > bad["coverage_90"]


def test_the_table_has_the_documented_columns_and_brier_is_undefined_not_zero(cases, tmp_path):
    scored, train = cases
    result = scoring.score(scored, runs=RUNS, seed=3, train=[train])
    table = result.table
    assert tuple(table.columns) == scoring.SCORE_COLUMNS
    assert tuple(table["predictor"]) == scoring.PREDICTORS
    assert table["brier"].isna().all()
    assert all("Brier undefined" in n for n in table["note"])
    assert "no 'abandoned' or 'in_force'" in result.brier_reason
    assert "undefined" in scoring.summary_text(result)
    assert tuple(result.skill.columns) == scoring.SKILL_COLUMNS
    assert result.skill["best"].sum() == 1
    assert np.isfinite(table.loc[table["predictor"] == "model", "crps"]).all()
    assert result.first_violation == (10.0, 40.0)
    # 8 windows end after t = 0 in each section; those ending by t = 0 are the history.
    assert len(result.windows) == 8 and (result.windows["end_min"] > 0).all()
    written = score_files.write_outputs(result, tmp_path / "out")
    assert sorted(p.name for p in written) == ["score-bands.png", "scores.csv", "skill.csv"]
    back = pd.read_csv(tmp_path / "out" / "scores.csv")
    assert back["brier"].isna().all()  # an empty cell, never 0
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_a_known_truth_gives_a_brier_score(cases, tmp_path):
    _, train = cases
    longer = truce(tmp_path, "longer", hourly({"north": [30, 25, 6, 4, 3, 5, 2, 1, 0]}), horizon_h=7.0)
    table = scoring.score(longer, runs=RUNS, seed=3, train=[train], collapsed_min=100.0)
    rows = table.table.set_index("predictor")
    p = rows.loc["model", [f"p_collapse_{h}h" for h in scoring.HORIZONS_H]].to_numpy(dtype=float)
    # Collapsed at 100 min: 1 at every horizon, so the runs are extended to forecast all four.
    assert rows.loc["model", "brier"] == pytest.approx(np.mean((p - 1.0) ** 2))
    assert math.isnan(rows.loc["poisson", "brier"]) and table.brier_reason == ""


def test_the_model_counts_are_the_observation_models(cases):
    scored, train = cases
    a = scoring.score(scored, runs=RUNS, seed=5, train=[train])
    b = scoring.score(scored, runs=RUNS, seed=5, train=[train])
    for name in scoring.PREDICTORS:
        left, right = a.predictives[name].counts, b.predictives[name].counts
        assert (left is None and right is None) or np.array_equal(left, right), name
    pd.testing.assert_frame_equal(a.table, b.table)
    # By hand: run i seeded run_seed(5, i), counted by the monitor stream monitor_seed(5, i).
    case = load_scenario(scored)
    record = read_record(scored.with_name("scored.events.csv"))
    lines = record.loc[a.windows["line"].to_numpy() - 2]
    stats = observations(lines, case, Settings(count_scale="linear"))
    expect = np.array([simulated(stats, rec.events, math.inf,
                                 observer(case, monitor_seed(5, rec.run), Settings(count_scale="linear")))
                       for rec in map_runs(case, 5, range(RUNS), keep_steps=False)])
    assert np.array_equal(a.predictives["model"].counts, expect)
    other = scoring.score(scored, runs=RUNS, seed=6, train=[train])
    assert not np.array_equal(a.predictives["model"].counts, other.predictives["model"].counts)


def test_overlapping_windows_drop_the_one_spanning_t0():
    rows = [count_line(-60, 60, "north", 9), count_line(0, 60, "north", 4),
            count_line(60, 120, "north", 2), count_line(-60, 60, "south", 3)]
    record = pd.read_csv(__import__("io").StringIO("\n".join([",".join(COLUMNS), *rows])),
                         dtype={"section": str}, keep_default_na=False)
    record["count"] = record["count"].astype(int)
    windows, notes = scoring.count_windows(record, "violations")
    assert list(windows["line"]) == [5, 3, 4]
    assert len(notes) == 1 and "line 2" in notes[0] and "spans t = 0" in notes[0]


# -- the command ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("argv", "message"), [
    (["sudan-jeddah-2023-05-22", "--kind", "violations"],
     "no count lines of kind violations to score (the record has no monitor counts or numeric"),
    (["donbas-2018-07-01", "--kind", "violations"], "try --kind explosions"),
    (["donbas-2020-07-27", "--runs", "1"], "--runs 1: must be a whole number ≥ 2"),
    (["donbas-2020-07-27", "--seed", "-1"], "--seed -1"),
    (["no-such-truce"], "no such scenario file"),
    (["donbas-2020-07-27", "--train", "donbas-2020-07-27", "--runs", "2"], "is the scored record itself"),
    (["donbas-2020-07-27", "--train", "yemen-2022-04-02", "--runs", "2"], "no count lines of kind"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path):
    assert main(["score", *argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_the_command_prints_the_table_and_writes_the_files(cases, capsys, tmp_path):
    scored, train = cases
    out = tmp_path / "scores"
    assert main(["score", str(scored), "--runs", str(RUNS), "--train", str(train), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "no-commitment" in text and "hawkes" in text and "Brier undefined" in text
    assert {p.name for p in out.iterdir()} == {"scores.csv", "skill.csv", "score-bands.png"}


def test_an_error_while_writing_leaves_nothing(cases, tmp_path, monkeypatch):
    scored, train = cases
    result = scoring.score(scored, runs=RUNS, seed=0, train=[train])

    def broken(_result: object) -> None:
        raise RuntimeError("figure failed")

    monkeypatch.setattr(score_files, "bands_figure", broken)
    with pytest.raises(RuntimeError):
        score_files.write_outputs(result, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_one_or_two_workers_give_the_same_scores(cases):
    scored, train = cases
    one = scoring.score(scored, runs=RUNS, seed=7, train=[train], workers=1)
    two = scoring.score(scored, runs=RUNS, seed=7, train=[train], workers=2)
    assert np.array_equal(one.predictives["model"].counts, two.predictives["model"].counts)
    assert np.array_equal(one.predictives["no-commitment"].first, two.predictives["no-commitment"].first)
    pd.testing.assert_frame_equal(one.table, two.table)


def test_a_posterior_draws_each_runs_parameters_and_monitor(cases, tmp_path):
    scored, train = cases
    sample = tmp_path / "posterior.csv"
    sample.write_text("particle,weight,sides.*.force.discipline,peacekeepers.recorded_per_incident_mean\n"
                      "0,1.0,0.9,1.0\n1,1.0,0.9,1.0\n", encoding="utf-8")
    low = scoring.score(scored, runs=RUNS, seed=2, train=[train], posterior=sample)
    sample.write_text("particle,weight,sides.*.force.discipline,peacekeepers.recorded_per_incident_mean\n"
                      "0,1.0,0.9,30.0\n", encoding="utf-8")
    high = scoring.score(scored, runs=RUNS, seed=2, train=[train], posterior=sample)
    # Same runs (same discipline), each detected incident recorded as 1 vs about 30 violations.
    assert high.predictives["model"].counts.sum() > 5 * low.predictives["model"].counts.sum() > 0
    assert "posterior.csv" in low.table.loc[0, "note"]


# -- what each record supports -------------------------------------------------------------------

def statement_line(t0: float, t1: float, kind: str) -> str:
    return f"{t0},{t1},statement,,{kind},,press,,,{SOURCE},2020-07-28,the truce's state"


def claim_line(t0: float, t1: float, n: int, by: str = "east", on: str = "west") -> str:
    return f"{t0},{t1},claim,,violations,{n},{by},{on},,{SOURCE},2020-07-28,{by} counts {on}'s violations"


def as_record(lines: list[str]) -> pd.DataFrame:
    path = Path(__import__("tempfile").mkdtemp()) / "r.events.csv"
    path.write_text("\n".join([",".join(COLUMNS), *lines]) + "\n", encoding="utf-8")
    return read_record(path)


@pytest.mark.parametrize(("lines", "truth"), [
    # Abandoned between 2 h and 5 h: collapsed by 6 h and every later horizon.
    ([statement_line(120, 300, "abandoned")], [1, 1, 1, 1]),
    # In force at 30 h, abandoned between day 4 and day 5: 0 at 6 h and 24 h; unknown at 72 h
    # (nothing says it still stood then); 1 at 7 days (the abandonment ends by then).
    ([statement_line(1800, 1800, "in_force"), statement_line(5760, 7200, "abandoned")],
     [0, 0, math.nan, 1]),
    # An abandonment straddling 24 h leaves 24 h unknown; 6 h is settled by the line at 8 h.
    ([statement_line(1200, 2000, "abandoned"), statement_line(480, 480, "in_force")],
     [0, math.nan, 1, 1]),
    # In force at 8 days: held through every horizon.
    ([statement_line(11520, 11520, "in_force")], [0, 0, 0, 0]),
])
def test_the_truth_of_collapse_comes_from_abandoned_and_in_force_lines(lines, truth):
    got, why = scoring.record_collapse_truth(as_record(lines))
    np.testing.assert_array_equal(got, np.array(truth, dtype=float))
    assert bool(why) == any(math.isnan(t) for t in truth)


def test_no_statement_of_the_outcome_leaves_brier_undefined_with_why():
    got, why = scoring.record_collapse_truth(as_record([count_line(0, 60, "north", 3)]))
    assert np.isnan(got).all() and "no 'abandoned' or 'in_force'" in why


def test_a_record_saying_the_truce_was_abandoned_gives_brier_scores(tmp_path):
    train = truce(tmp_path, "train", hourly({"north": [4, 3, 2, 1]}))
    case = truce(tmp_path, "over", [*hourly({"north": [30, 25, 6, 4]}), statement_line(60, 200, "abandoned")])
    result = scoring.score(case, runs=RUNS, seed=3, train=[train])
    rows = result.table.set_index("predictor")
    p = rows.loc["model", [f"p_collapse_{h}h" for h in scoring.HORIZONS_H]].to_numpy(dtype=float)
    # The runs were extended to 7 days to forecast every horizon the record settles.
    assert np.isfinite(p).all()
    assert rows.loc["model", "brier"] == pytest.approx(np.mean((p - 1.0) ** 2))
    assert math.isnan(rows.loc["poisson", "brier"]) and "no collapse forecast" in rows.loc["poisson", "note"]
    assert result.brier_reason == ""


def test_a_record_with_only_explosions_is_scored_on_them_and_says_so(tmp_path):
    train = truce(tmp_path, "train", [count_line(-120 + 60 * i, -60 + 60 * i, "north", n, "explosions")
                                      for i, n in enumerate([9, 8, 2, 3, 1, 2])])
    boom = truce(tmp_path, "boom", [count_line(-120 + 60 * i, -60 + 60 * i, "north", n, "explosions")
                                    for i, n in enumerate([7, 9, 3, 1, 2, 0])])
    result = scoring.score(boom, runs=RUNS, seed=1, train=[train])
    assert result.kind == "explosions" and len(result.windows) == 4
    assert any("explosions" in n and "no violations" in n for n in result.notes)
    rows = result.table.set_index("predictor")
    assert np.isfinite(rows.loc[["model", "poisson", "no-commitment"], "crps"]).all()


def test_numeric_claims_are_scored_through_the_claim_model(tmp_path):
    lines = [claim_line(0, 60, 12), claim_line(60, 120, 4), claim_line(0, 120, 15, by="west", on="east"),
             claim_line(-60, 0, 30)]
    scored = truce(tmp_path, "claimed", lines)
    train = truce(tmp_path, "train", [claim_line(-120 + 60 * i, -60 + 60 * i, n) for i, n in
                                      enumerate([20, 18, 6, 2, 3, 1])])
    one = scoring.score(scored, runs=RUNS, seed=4, train=[train])
    assert one.kind == "claims" and list(one.windows["section"]) == ["east on west", "west on east",
                                                                      "east on west"]
    assert np.isfinite(one.table.set_index("predictor").loc["model", "crps"])
    # Each run's claim inflation multiplies what its claimant perceived and blamed (same runs).
    three = scoring.score(scored, runs=RUNS, seed=4, train=[train],
                          overrides_by_run={i: {"observations.claim_inflation": 3.0} for i in range(RUNS)})
    np.testing.assert_array_equal(three.predictives["model"].counts, 3 * one.predictives["model"].counts)
    assert one.predictives["model"].counts.sum() > 0
    # The baselines were fitted on the training record's claims; the history is the claim before t = 0.
    assert one.table.set_index("predictor").loc["poisson", "crps"] > 0


def test_a_record_with_nothing_counted_scores_what_it_can(tmp_path, capsys):
    scored = truce(tmp_path, "words", [incident_line(30, 90, "north"),
                                       f"0,600,description,,calm,,press,,,{SOURCE},2020-07-28,quiet"])
    out = tmp_path / "out"
    assert main(["score", str(scored), "--runs", str(RUNS), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "CRPS, PIT and coverage undefined: the record has no monitor counts and no numeric claims" in text
    table = pd.read_csv(out / "scores.csv").set_index("predictor")
    assert table["crps"].isna().all()
    assert not math.isnan(table.loc["model", "log_score_first"])  # scored (inf if no run fired)
    assert math.isnan(table.loc["poisson", "log_score_first"])  # nothing counted to fit a baseline on
    assert (out / "score-bands.png").stat().st_size > 5_000


@pytest.mark.parametrize("name", ["donbas-2018-07-01", "israel-hezbollah-2024-11-27",
                                  "sudan-jeddah-2023-05-22"])
def test_every_kind_of_bundled_record_is_scored(name, tmp_path, capsys):
    assert main(["score", name, "--runs", "4", "--out", str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    assert "undefined" in text and (tmp_path / "out" / "scores.csv").exists()


def test_one_window_gives_a_skill_but_no_interval():
    rng = np.random.default_rng(0)
    preds = {"model": scoring.Predictive("model", rng.poisson(5, size=(200, 1))),
             "poisson": scoring.Predictive("poisson", rng.poisson(50, size=(200, 1)))}
    row = scoring.skill_table(preds, np.array([4.0]), seed=0).iloc[0]
    assert row["skill"] > 0.5 and math.isnan(row["low"]) and math.isnan(row["high"])
