"""Scenario discovery: the condition language, PRIM against EMA Workbench and a planted box,
feature scoring, and ``ceasefire discover`` on real batch folders (errors in one line, exit 2)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyarrow")
pytest.importorskip("scipy")

from sim.faces import cli
from sim.faces.figures.discover import write_discovery_figure
from sim.model.scenario import ScenarioError
from sim.studies import experiment
from sim.studies.discover import NOISE, discover, feature_scores, knee, parse_condition, prim

TYPES = {"held": "bool", "collapse_min": "float", "violations_per_h": "float", "retaliation_share": "float"}
KEPT = list(TYPES)


# -- the condition language -------------------------------------------------------------------------
def test_condition_reads_comparisons_joined_by_and_or_with_parentheses() -> None:
    table = pd.DataFrame({"held": [True, False, False, True],
                          "collapse_min": [np.nan, 100.0, 500.0, np.nan],
                          "violations_per_h": [0.5, 3.0, 1.0, 2.0],
                          "retaliation_share": [np.nan, 0.5, 0.2, 0.1]})

    def rows(text: str) -> list[bool]:
        return parse_condition(text, KEPT, TYPES).evaluate(table).tolist()

    assert rows("held == false") == [False, True, True, False]
    assert rows("held != true") == [False, True, True, False]
    # A ceasefire that never collapsed (empty collapse_min) collapsed "never": not before 360.
    assert rows("collapse_min < 360") == [False, True, False, False]
    assert rows("collapse_min >= 360") == [True, False, True, True]
    assert rows("collapse_min < 360 or violations_per_h >= 2") == [False, True, False, True]
    both = "held == true and (violations_per_h > 1 or violations_per_h < 0.6)"
    assert rows(both) == [True, False, False, True]
    # An undefined share (no violation at all) never qualifies.
    assert rows("retaliation_share <= 1") == [False, True, True, True]
    assert parse_condition("collapse_min < 1e3", KEPT, TYPES).outcomes == ["collapse_min"]


@pytest.mark.parametrize(("text", "says"), [
    ("", "empty"),
    ("held", "ends too early"),
    ("collapse < 360", "unknown outcome 'collapse'; this batch kept: held, collapse_min"),
    ("collapse_min = 360", "cannot read"),
    ("collapse_min < true", "is a number"),
    ("held == 1", "is true/false"),
    ("held < false", "take == or != only"),
    ("__import__('os').system('true')", "cannot read"),
    ("collapse_min < 360 violations_per_h > 1", "join comparisons with and/or"),
    ("(held == false", "not closed"),
    ("collapse_min < held", "expected a number"),
])
def test_bad_conditions_are_one_line_naming_the_problem(text: str, says: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_condition(text, KEPT, TYPES)
    assert says in str(err.value)
    assert "\n" not in str(err.value)


# -- PRIM ---------------------------------------------------------------------------------------------
def reference_data() -> tuple[pd.DataFrame, np.ndarray]:
    """1,000 uniform points in 4 dimensions; y = 1 with probability 0.9 in a > 0.6, b < 0.3, else 0.05."""
    rng = np.random.default_rng(1)
    x = pd.DataFrame(rng.random((1000, 4)), columns=list("abcd"))
    inside = (x.a > 0.6) & (x.b < 0.3)
    y = np.where(inside, rng.random(1000) < 0.9, rng.random(1000) < 0.05).astype(float)
    return x, y


# EMA Workbench 2.5.3 on reference_data(): `Prim(x, y, threshold=0.5, peel_alpha=0.05,
# paste_alpha=0.05, mass_min=0.05).find_box()` (computed once in a scratch environment, since
# ema-workbench pulls scikit-learn, statsmodels, seaborn and platypus-opt; see README).
# Its peeling trajectory has 46 boxes (then two pasting steps, which we do not do).
EMA_K = [146, 145, 142, 141, 139, 138, 135, 135, 135, 134, 131, 129, 129, 128, 126, 124, 124, 124, 124,
         122, 120, 120, 120, 119, 118, 116, 116, 116, 116, 114, 114, 114, 114, 113, 113, 113, 112, 112,
         112, 112, 109, 104, 99, 94, 89, 85]
EMA_RESTRICTED = [0] + [1] * 22 + [2] * 21 + [3] * 2
EMA_BOX_39 = {"a": (0.590971, None, 2.0561374660357627e-31), "b": (None, 0.301142, 6.688967464927868e-41)}
EMA_BOX_45 = {"a": (0.6070234224530247, 0.9991993182784583, 6.305496684155766e-28),
              "b": (9.60405599956804e-05, 0.2590847748556998, 5.714186047599132e-36),
              "d": (0.0744819336878112, 0.9993144961112466, 0.4226494797992584)}


def test_prim_reproduces_ema_workbench_on_the_same_data() -> None:
    x, y = reference_data()
    peeling = prim(x, y)
    traj = peeling.trajectory
    assert traj["k"].tolist() == EMA_K
    assert traj["restricted"].tolist() == EMA_RESTRICTED
    n = np.round(traj["mass"].to_numpy() * 1000).astype(int)
    np.testing.assert_array_equal(traj["n"], n)
    np.testing.assert_allclose(traj["density"], np.array(EMA_K) / n)
    np.testing.assert_allclose(traj["coverage"], np.array(EMA_K) / EMA_K[0])

    box = peeling.quasi_p(39).set_index("parameter")
    assert list(box.index) == ["a", "b"]
    assert box.loc["a", "low"] == pytest.approx(0.590971, abs=1e-6)
    assert box.loc["b", "high"] == pytest.approx(0.301142, abs=1e-6)
    assert box.loc["a", "qp_low"] == pytest.approx(EMA_BOX_39["a"][2], rel=1e-9)
    assert box.loc["b", "qp_high"] == pytest.approx(EMA_BOX_39["b"][2], rel=1e-9)
    assert math.isnan(box.loc["a", "qp_high"]) and math.isnan(box.loc["b", "qp_low"])

    last = peeling.quasi_p(45).set_index("parameter")
    assert list(last.index) == ["a", "b", "d"]
    for name, (low, high, qp) in EMA_BOX_45.items():
        assert last.loc[name, "low"] == pytest.approx(low, rel=1e-12)
        assert last.loc[name, "high"] == pytest.approx(high, rel=1e-12)
        restricted_side = "qp_low" if name in ("a", "d") else "qp_high"
        assert last.loc[name, restricted_side] == pytest.approx(qp, rel=1e-9)


def test_prim_finds_a_planted_box_within_tolerances_from_the_sample_size() -> None:
    # 2,000 uniform points in 5 dimensions; the planted box a >= 0.5, b <= 0.4 (20% of the
    # cases) collapses with probability 0.9, the rest with 0.05.
    n, alpha = 2000, 0.05
    rng = np.random.default_rng(3)
    x = pd.DataFrame(rng.random((n, 5)), columns=list("abcde"))
    planted = (x.a >= 0.5) & (x.b <= 0.4)
    y = np.where(planted, rng.random(n) < 0.9, rng.random(n) < 0.05).astype(float)
    peeling = prim(x, y, peel_alpha=alpha)
    chosen = knee(peeling.trajectory)
    box = peeling.limits[chosen]
    assert [peeling.parameters[j] for j in peeling.restricted(chosen)] == ["a", "b"]
    # Tolerance for a recovered limit, per parameter of true width w inside the box:
    # - PRIM moves a limit in steps of one peel, alpha of the box's cases: for uniform points
    #   alpha * w; the knee may stop one step before or after the true edge.
    # - the cut itself sits at a sample quantile of the n_box cases in the box; its standard
    #   error is w * sqrt(alpha (1 - alpha) / n_box); we allow three.
    # The edge contrast (0.9 against 0.05) is many standard errors of a slice's density
    # (alpha * n_box = 20 cases: sqrt(0.09 / 20) = 0.07), so no edge is crossed by chance.
    n_box = n * 0.5 * 0.4

    def tolerance(w: float) -> float:
        return alpha * w + 3 * w * math.sqrt(alpha * (1 - alpha) / n_box)

    assert box[0, 0] == pytest.approx(0.5, abs=tolerance(0.5))    # a's lower limit (0.041)
    assert box[1, 1] == pytest.approx(0.4, abs=tolerance(0.4))    # b's upper limit (0.033)
    qp = peeling.quasi_p(chosen)
    assert (qp[["qp_low", "qp_high"]].min(axis=1) < 1e-6).all()


def test_prim_rejects_mismatched_input() -> None:
    x = pd.DataFrame({"a": [0.1, 0.2]})
    with pytest.raises(ValueError, match="one row per value"):
        prim(x, np.array([1.0]))
    with pytest.raises(ValueError, match="peel_alpha"):
        prim(x, np.array([1.0, 0.0]), peel_alpha=0.7)


def test_knee_is_the_corner_of_the_trajectory() -> None:
    traj = pd.DataFrame({"coverage": [1.0, 0.98, 0.95, 0.9, 0.5, 0.2],
                         "density": [0.3, 0.5, 0.7, 0.9, 0.92, 0.95]})
    assert knee(traj) == 3
    assert knee(traj.iloc[:2]) == 1


def test_feature_scoring_ranks_the_planted_parameter_first() -> None:
    rng = np.random.default_rng(5)
    n = 1000
    x = pd.DataFrame(rng.random((n, 4)), columns=["w", "planted", "y", "z"])
    y = (rng.random(n) < np.where(x.planted < 0.3, 0.85, 0.1)).astype(float)
    scores = feature_scores(x, y, classify=True, seed=1, trees=100)
    assert scores.loc[0, "parameter"] == "planted"
    assert scores["score"].sum() == pytest.approx(1.0)
    noise = float(scores.set_index("parameter").loc[NOISE, "score"])
    assert scores.loc[0, "score"] > 3 * noise
    shares = feature_scores(x, y, classify=False, seed=1, trees=100)
    assert shares.loc[0, "parameter"] == "planted"


# -- on batch folders ----------------------------------------------------------------------------------
SPEC = """\
[experiment]
name = "tiny-discover"
scenario = "classroom-two-villages"
seed = 5
replicates = {replicates}
horizon_h = 48
samples = {samples}
outcomes = ["violations_per_h", "collapse_min", "held"]
{sample}
"""
SAMPLE = """
[sample]
"sides.*.force.discipline" = { low = 0.2, high = 0.98 }
"mediator.effectiveness" = { low = 0.0, high = 0.9 }
"mediator.capacity_per_day" = { low = 1, high = 4, distribution = "integer" }
"""


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 sampled points × 2 replicates of the classroom scenario at 48 h (about a second)."""
    root = tmp_path_factory.mktemp("discover")
    spec = root / "tiny.toml"
    spec.write_text(SPEC.format(replicates=2, samples=60, sample=SAMPLE), encoding="utf-8")
    experiment.run(spec, workers=1, out=root / "batch", progress=False)
    return root / "batch"


def test_discover_writes_the_trajectory_box_scores_and_figure(batch: Path, tmp_path: Path) -> None:
    found = discover(batch, "held == false", out=tmp_path)
    assert found.cases == 120 and 0 < found.of_interest < 120
    assert found.chosen == knee(found.trajectory)
    assert sorted(p.name for p in found.files) == ["discover-box.csv", "discover-scores.csv",
                                                  "discover-trajectory.csv"]
    write_discovery_figure(found, tmp_path)
    names = sorted(p.name for p in found.files)
    assert names == ["discover-box.csv", "discover-scores.csv", "discover-trajectory.csv", "discover.png"]
    trajectory = pd.read_csv(tmp_path / "discover-trajectory.csv")
    assert list(trajectory.columns) == ["box", "coverage", "density", "mass", "restricted", "n", "k"]
    assert trajectory["coverage"].iloc[0] == 1.0
    box = pd.read_csv(tmp_path / "discover-box.csv")
    assert {"parameter", "low", "high", "qp_low", "qp_high", "coverage", "density"} <= set(box.columns)
    scores = pd.read_csv(tmp_path / "discover-scores.csv")
    assert set(scores["parameter"]) == {"sides.*.force.discipline", "mediator.effectiveness",
                                        "mediator.capacity_per_day", NOISE}
    assert scores["method"].str.contains("extra-trees").all()
    assert "feature scores" in found.summary()
    # Integer parameters are reported by the whole values the box keeps.
    capacity = box[box["parameter"] == "mediator.capacity_per_day"]
    assert all(float(v).is_integer() for v in capacity[["low", "high"]].to_numpy().ravel())


def test_discover_per_point_uses_shares_and_counts_points(batch: Path, tmp_path: Path) -> None:
    runs = discover(batch, "held == false", out=tmp_path / "runs")
    points = discover(batch, "held == false", per="point", out=tmp_path / "points")
    assert points.cases == 60
    assert points.of_interest == pytest.approx(runs.of_interest / 2)
    # Same replicates at every point: the same trajectory of coverage and density.
    np.testing.assert_allclose(points.trajectory["density"].iloc[:3], runs.trajectory["density"].iloc[:3])


def test_discover_command_prints_the_box_and_exits_0(batch: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["discover", str(batch), "--where", "collapse_min < 360 or held == false",
                     "--box", "1", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "box 1:" in out and "coverage" in out and "quasi" not in out.split("\n")[0]
    assert str(tmp_path / "discover-box.csv") in out


def test_discover_rejects_a_batch_without_sampled_parameters(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "plain.toml"
    spec.write_text(SPEC.format(replicates=6, samples=0, sample=""), encoding="utf-8")
    experiment.run(spec, workers=1, out=tmp_path / "plain", progress=False)
    code = cli.main(["discover", str(tmp_path / "plain")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "manifest.json: parameters = []" in err and "[sample] or [grid]" in err


@pytest.mark.parametrize(("args", "says"), [
    (["--where", "held == maybe"], "expected a number or true/false"),
    (["--where", "collapse_h < 3"], "unknown outcome 'collapse_h'; this batch kept: violations_per_h, "
                                    "collapse_min, held"),
    (["--box", "999"], "--box 999: the trajectory has boxes 0 to"),
    (["--where", "violations_per_h < 0"], "no run of the 120"),
])
def test_discover_bad_input_is_one_line_and_exit_2(batch: Path, tmp_path: Path, args: list[str], says: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["discover", str(batch), "--out", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert says in err and err.count("\n") == 1


def test_discover_names_a_missing_or_foreign_folder(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["discover", str(tmp_path / "nowhere")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert cli.main(["discover", str(tmp_path)]) == 2
    assert "manifest.json: missing" in capsys.readouterr().err


def test_shipped_what_breaks_it_spec_samples_the_main_parameters_within_budget() -> None:
    """At least 1,000 Latin-hypercube points over the main parameters; at ~20 ms a Karabakh run,
    its runs fit well inside five minutes on two cores."""
    path = Path(__file__).resolve().parent.parent / "experiments" / "what-breaks-it.toml"
    spec = experiment.load_spec(path)
    assert len(spec.points) >= 1000 and spec.runs <= 6000
    assert set(spec.spec.sample) >= {"sides.*.force.discipline", "sides.*.force.retaliation.probability",
                                     "sides.*.command.order_delay_mean_min", "mediator.effectiveness",
                                     "mediator.capacity_per_day", "sides.*.force.spoiler_probability"}
    assert {"held", "collapse_min"} <= set(spec.spec.experiment.outcomes)
