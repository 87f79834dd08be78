"""sim.studies.loro: leave one record out, own parameters learnt from the record's lines ending by
t = 0 (or drawn from their priors), variants compared pairwise.

Tiny synthetic records (4 h, the base case of conftest) keep the end-to-end fold fast.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_scoring import COLUMNS, claim_line, count_line, hourly, statement_line, truce

from sim.faces.cli import main
from sim.model.scenario import ScenarioError
from sim.records.record import read_record
from sim.studies import loro
from sim.studies.calibration import RecordSpec, record_case, set_spec
from sim.studies.scoring import PREDICTORS


@pytest.fixture
def library(tmp_path: Path):
    """Three monitored synthetic records; discipline shared, each its own ceasefire-time rate."""
    paths = [truce(tmp_path, "alpha", hourly({"north": [30, 25, 6, 4, 3, 5], "south": [20, 30, 2, 0, 4, 1]})),
             truce(tmp_path, "beta", hourly({"north": [40, 35, 8, 6, 2, 9], "south": [25, 20, 3, 5, 1, 0]})),
             truce(tmp_path, "gamma", [claim_line(0, 60, 12), claim_line(60, 120, 4)])]
    own = {n: {"sides.*.force.ceasefire_rate_per_h": {"distribution": "loguniform", "low": 0.01,
                                                       "high": 1.0}} for n in ("alpha", "beta")}
    own["gamma"] = {"observations.claim_inflation": {"distribution": "loguniform", "low": 0.5, "high": 50}}
    return set_spec(paths, {"sides.*.force.discipline": {"distribution": "uniform", "low": 0.3,
                                                         "high": 1.0}}, own, particles=4, budget=24)


def test_own_parameters_come_from_their_priors_and_the_seed(library):
    a = loro.own_prior_draws(library, "gamma", 400, seed=3)
    b = loro.own_prior_draws(library, "gamma", 400, seed=3)
    assert a == b
    x = np.array([a[i]["observations.claim_inflation"] for i in range(400)])
    assert ((x >= 0.5) & (x <= 50)).all()
    # Log-uniform on [0.5, 50]: the share below sqrt(0.5 * 50) = 5 is 1/2, binomial spread.
    share = float(np.mean(x < 5.0))
    assert abs(share - 0.5) < 3.3 * math.sqrt(0.25 / 400)
    assert loro.own_prior_draws(library, "not-there", 2, 0) == {0: {}, 1: {}}


def test_a_fold_leaves_its_record_out(library):
    fold = loro.fold_spec(library, "beta")
    assert fold.names == ["alpha", "gamma"]
    with pytest.raises(Exception, match="not a record of this set"):
        loro.fold_spec(library, "delta")


def test_every_record_is_left_out_once_and_scored(library):
    folds = loro.leave_one_out(library, runs=6, budget=16, particles=4, until_min=240.0,
                               warmup_min=120.0, variants=True, variant_runs=4, progress=False,
                               pre_budget=40, pre_particles=10)
    assert [f.record for f in folds] == ["alpha", "beta", "gamma"]
    table = loro.loro_table(folds)
    assert tuple(table.columns) == loro.LORO_COLUMNS
    assert len(table) == 3 * len(PREDICTORS)
    model = table[table["predictor"] == "model"].set_index("record")
    assert model["crps"].notna().all() and model["skill"].isna().all()
    assert model.loc["gamma", "target"] == "numeric claims"
    # Variants: the model's own policy is skipped; each variant paired on the same runs.
    assert "policy=proportional" not in folds[0].variant_crps
    assert folds[0].variant_crps["model"].shape == (len(folds[0].result.windows),)
    widths = loro.widths_table(folds)
    assert set(widths["parameter"]) == {"sides.*.force.discipline"} and len(widths) == 3


def test_variant_differences_are_paired_and_pooled():
    rng = np.random.default_rng(0)
    folds = []
    for k in range(3):
        m = rng.uniform(1, 5, size=30)
        f = loro.Fold(f"r{k}", result=None, widths=pd.DataFrame())  # type: ignore[arg-type]
        f.variant_crps = {"model": m, "same": m.copy(), "worse": m + 1.0 + rng.normal(0, 0.1, 30)}
        folds.append(f)
    table = loro.variant_differences(folds, seed=1).set_index("variant")
    assert table.loc["same", "difference"] == 0 and not table.loc["same", "distinguishable"]
    assert table.loc["same", "low"] == 0 == table.loc["same", "high"]
    assert table.loc["worse", "difference"] == pytest.approx(1.0, abs=0.05)
    assert table.loc["worse", "distinguishable"] and table.loc["worse", "low"] > 0.9
    assert table.loc["worse", "windows"] == 90 and table.loc["worse", "records"] == 3


def test_the_command_needs_no_scenario_with_leave_one_out(capsys, tmp_path):
    assert main(["score", "donbas-2020-07-27", "--leave-one-out", "--out", str(tmp_path)]) == 2
    assert "name no scenario" in capsys.readouterr().err


def test_one_window_gives_no_interval_and_no_verdict():
    f = loro.Fold("r", result=None, widths=pd.DataFrame())  # type: ignore[arg-type]
    f.variant_crps = {"model": np.array([2.0]), "worse": np.array([5.0])}
    row = loro.variant_differences([f]).iloc[0]
    assert row["relative"] == pytest.approx(1.5) and math.isnan(row["relative_low"])
    assert not row["distinguishable"]
    again = loro.variant_differences(loro.folds_from_windows(loro.variant_windows([f]))).iloc[0]
    assert again["difference"] == row["difference"] == 3.0


def test_the_base_rate_reference_is_the_other_records_share_of_collapses():
    from sim.studies.loro import base_rate_brier

    records = ["karabakh-2020-10-10", "donbas-2020-07-27", "donbas-2018-08-29", "yemen-2022-04-02"]
    ref = base_rate_brier(records).set_index("record")
    # Karabakh collapsed by 72 h and 7 days (unknown earlier); the two records that settle those
    # horizons held, so the base rate says 0 and misses by 1 at both.
    assert ref.loc["karabakh-2020-10-10", "truth"] == "? ? 1 1"
    assert ref.loc["karabakh-2020-10-10", "horizons"] == 2
    assert ref.loc["karabakh-2020-10-10", "brier_base_rate"] == pytest.approx(1.0)
    # Donbas 2020 held at every horizon; of the others only Yemen settles 6 h and 24 h (held),
    # and 72 h / 7 days are 1 of 2 collapsed: (0 + 0 + 0.25 + 0.25) / 4.
    assert ref.loc["donbas-2020-07-27", "brier_base_rate"] == pytest.approx(0.125)
    # A record whose lines settle no horizon has no score.
    assert ref.loc["donbas-2018-08-29", "horizons"] == 0
    assert math.isnan(ref.loc["donbas-2018-08-29", "brier_base_rate"])


# -- the left-out record's own parameters, learnt from its pre-ceasefire lines ---------------------

TINY = dict(runs=6, budget=16, particles=4, until_min=240.0, warmup_min=120.0, variant_runs=4,
            progress=False)
"""A fold small enough for a test: 4 particles, one SMC step on two training records."""
WAR_RATE = "sides.*.force.war_rate_per_h"


def test_the_pre_ceasefire_record_keeps_the_lines_ending_at_or_before_0(tmp_path):
    lines = [count_line(-120, -60, "north", 7), count_line(-60, 0, "south", 3),
             count_line(-30, 30, "north", 9), count_line(60, 120, "north", 1),
             statement_line(-10, -10, "agreement"), claim_line(0, 60, 12)]
    events = tmp_path / "r.events.csv"
    events.write_text("\n".join([",".join(COLUMNS), *lines]) + "\n", encoding="utf-8")
    out = tmp_path / "pre.events.csv"
    assert loro.write_pre_ceasefire_record(events, out) == 3
    kept = read_record(out)
    # Ending exactly at t = 0 counts as known then; a window reaching past t = 0 does not.
    assert kept["t_min_latest"].tolist() == [-60.0, 0.0, -10.0]
    assert kept["note"].tolist() == read_record(events)["note"].iloc[[0, 1, 4]].tolist()


def test_a_record_without_pre_ceasefire_lines_draws_its_own_parameters_from_the_priors(library):
    folds = loro.leave_one_out(library, records=["gamma"], pre_budget=20, pre_particles=10, **TINY)
    (fold,) = folds
    assert fold.own == "priors: no pre-ceasefire line (none ends by t = 0)"
    assert fold.own_widths["parameter"].tolist() == ["observations.claim_inflation"]
    assert fold.own_widths["width_ratio"].isna().all()
    assert (loro.loro_table(folds)["own_from"] == fold.own).all()


def test_lines_ending_by_0_that_give_no_statistic_also_fall_back_to_the_priors(tmp_path):
    said = truce(tmp_path, "said", [statement_line(-30, -30, "agreement"),
                                    *hourly({"north": [1, 2, 3]}, 0.0)])
    other = truce(tmp_path, "other", hourly({"north": [4, 5, 6]}, 0.0))
    spec = set_spec([said, other], {"sides.*.force.discipline": {"distribution": "uniform", "low": 0.3,
                                                                 "high": 1.0}},
                    {"said": {WAR_RATE: {"distribution": "loguniform", "low": 0.1, "high": 100}}},
                    particles=4, budget=16)
    learnt = loro.pre_ceasefire_posterior(spec, "said", {"sides.*.force.discipline": 0.6},
                                          budget=20, particles=10, progress=False)
    assert learnt.table is None and learnt.simulations == 0
    assert learnt.description == "priors: no pre-ceasefire line gives a statistic (of 1 ending by t = 0)"


@pytest.fixture
def quiet(tmp_path: Path):
    """A record whose six hours before t = 0 show no violation on either monitored section (its
    war-time rate is its own, log-uniform on 0.1 - 100 per hour), and a busy training record."""
    zeros = hourly({"north": [0] * 6 + [6, 4], "south": [0] * 6 + [2, 0]}, start=-360.0)
    paths = [truce(tmp_path, "quiet", zeros, start_min=-360.0),
             truce(tmp_path, "busy", hourly({"north": [40, 35, 8, 6, 2, 9], "south": [25, 20, 3, 5, 1, 0]}))]
    return set_spec(paths, {"sides.*.force.discipline": {"distribution": "uniform", "low": 0.3, "high": 1.0}},
                    {"quiet": {WAR_RATE: {"distribution": "loguniform", "low": 0.1, "high": 100}}},
                    particles=4, budget=16)


def test_the_forecasts_own_values_come_from_the_pre_ceasefire_posterior(quiet):
    learnt = loro.pre_ceasefire_posterior(quiet, "quiet", {"sides.*.force.discipline": 0.6},
                                          budget=200, particles=20, seed=1, progress=False)
    assert learnt.description.startswith("pre-ceasefire posterior: 12 lines, ")
    n = 400
    draws = loro.own_posterior_draws(learnt.table, n, seed=5)
    assert draws == loro.own_posterior_draws(learnt.table, n, seed=5)
    x = np.array([draws[i][WAR_RATE] for i in range(n)])
    assert set(x) <= set(learnt.table[WAR_RATE])  # every draw is a particle of the posterior
    centre = math.sqrt(0.1 * 100)  # the log-uniform prior's median, 3.16 per hour
    # The draws' share below the centre is the posterior's weight there, up to binomial spread.
    w = learnt.table["weight"].to_numpy()
    p = float(w[learnt.table[WAR_RATE].to_numpy() < centre].sum() / w.sum())
    share = float(np.mean(x < centre))
    assert abs(share - p) <= 3.3 * math.sqrt(max(p * (1 - p), 1 / n) / n)
    # Six quiet hours pin the war-time rate low: from the prior, the share below the centre
    # would be 1/2 give or take 3.3 binomial standard deviations; here it is well above that.
    assert share > 0.5 + 3.3 * math.sqrt(0.25 / n)
    # The ablation (own values from the priors) shows no such shift.
    prior = loro.own_prior_draws(quiet, "quiet", n, seed=5)
    prior_share = float(np.mean([prior[i][WAR_RATE] < centre for i in range(n)]))
    assert abs(prior_share - 0.5) <= 3.3 * math.sqrt(0.25 / n)
    assert learnt.widths.loc[0, "width_ratio"] < 1.0


def test_a_fold_is_the_same_for_one_worker_or_two(library):
    kw = dict(records=["alpha"], pre_budget=60, pre_particles=10, **TINY)
    one = loro.leave_one_out(library, workers=1, **kw)
    two = loro.leave_one_out(library, workers=2, **kw)
    assert one[0].own.startswith("pre-ceasefire posterior: 4 lines, ")
    pd.testing.assert_frame_equal(loro.loro_table(one), loro.loro_table(two))
    pd.testing.assert_frame_equal(loro.own_widths_table(one), loro.own_widths_table(two))


def test_own_from_priors_reproduces_the_old_draws(library):
    folds = loro.leave_one_out(library, records=["alpha"], own_from="priors", **TINY)
    assert folds[0].own == "priors (own_from=priors)"
    assert folds[0].own_widths["width_ratio"].isna().all()
    text = loro.readme_own_widths(loro.own_widths_table(folds))
    assert ("| alpha | `sides.*.force.ceasefire_rate_per_h` | loguniform(0.01, 1) | undefined | "
            "undefined | priors (own_from=priors) |") in text


@pytest.mark.parametrize(("flags", "message"), [
    (["--own-from", "posterior"], "--own-from 'posterior': allowed: pre-ceasefire, priors"),
    (["--pre-particles", "1"], "--pre-particles 1: must be a whole number ≥ 2"),
    (["--pre-budget", "50"], "--pre-budget = 50: too small for 40 particles"),
    (["--records", "atlantis"], "--records atlantis: not a record of"),
])
def test_the_pre_ceasefire_options_are_checked(flags, message, capsys, tmp_path):
    assert main(["score", "--leave-one-out", *flags, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not any(tmp_path.iterdir())


def test_a_records_fixed_values_apply_to_its_runs_and_are_checked(library):
    rec = library.records[0]
    case, _, _ = record_case(replace(rec, fixed={"sides.*.force.discipline": 0.42}))
    assert {s.force.discipline for s in case.sides.values()} == {0.42}
    with pytest.raises(ScenarioError, match=r"fixed values of record alpha: .*discipline"):
        record_case(replace(rec, fixed={"sides.*.force.discipline": 2.0}))
    with pytest.raises(ScenarioError, match="also a prior of the record"):
        record_case(replace(rec, fixed={"sides.*.force.ceasefire_rate_per_h": 0.5}))
    with pytest.raises(ScenarioError, match="an observation parameter"):
        record_case(replace(rec, fixed={"observations.claim_inflation": 2.0}))
    assert isinstance(rec, RecordSpec)
