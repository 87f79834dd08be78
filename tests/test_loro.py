"""sim.studies.loro: leave one record out, own parameters from their priors, variants compared pairwise.

Tiny synthetic records (4 h, the base case of conftest) keep the end-to-end fold fast.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_scoring import claim_line, hourly, truce

from sim.faces.cli import main
from sim.studies import loro
from sim.studies.calibration import set_spec
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
                               warmup_min=120.0, variants=True, variant_runs=4, progress=False)
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
