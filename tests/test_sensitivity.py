"""Sensitivity analysis: SALib wiring against known answers, the per-point statistics, the command."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

pytest.importorskip("SALib")
pytest.importorskip("pyarrow")

from sim.faces import cli
from sim.studies.experiment import BatchResults, SpecError, load_spec
from sim.studies.sensitivity import NoisyIndices, analyse, index_warnings, point_statistic, sobol_with_noise

SPEC = """\
[experiment]
name = "sens"
scenario = "classroom-two-villages"
seed = 5
replicates = {replicates}
horizon_h = 36
outcomes = ["violations_per_h", "collapse_min"]

[sample]
"mediator.effectiveness" = {{ low = 0.0, high = 1.0 }}
"mediator.credibility" = {{ low = 0.0, high = 1.0 }}
"spillover.neighbour_probability" = {{ low = 0.0, high = 1.0 }}

[sensitivity]
method = "{method}"
base_samples = {n}
outcomes = {outcomes}
"""


def write(folder: Path, *, method: str = "sobol", n: int = 512, replicates: int = 1,
          outcomes: str = '["violations_per_h"]') -> Path:
    path = folder / "sens.toml"
    path.write_text(SPEC.format(method=method, n=n, replicates=replicates, outcomes=outcomes),
                    encoding="utf-8")
    return path


def fake_batch(path: Path, folder: Path, replicates: int = 1) -> tuple[BatchResults, np.ndarray]:
    """The spec's design with a known model instead of runs: y = 4 x0 + x1 (x2 has no effect),
    the same value in each of ``replicates`` runs per point."""
    exp = load_spec(path)
    x = np.array([[p[k] for k in exp.spec.sample] for p in exp.points])
    y = 4.0 * x[:, 0] + x[:, 1]
    results = BatchResults(exp, folder, {})
    results.__dict__["outcomes"] = pd.DataFrame({
        "point": np.repeat(np.arange(len(y)), replicates),
        "replicate": np.tile(np.arange(replicates), len(y)),
        "violations_per_h": np.repeat(y, replicates), "collapse_min": np.nan})
    return results, x


def test_sobol_indices_match_the_known_answer(tmp_path: Path) -> None:
    # y = 4 x0 + x1 with x uniform on [0, 1]: Var = 16/12 + 1/12, so S1 = ST = 16/17, 1/17, 0.
    results, _ = fake_batch(write(tmp_path), tmp_path, replicates=2)
    table = analyse(results).set_index("parameter")
    expected = {"mediator.effectiveness": 16 / 17, "mediator.credibility": 1 / 17,
                "spillover.neighbour_probability": 0.0}
    assert (table["noise_share"] == 0).all()  # identical replicates: no noise, nothing corrected
    for name, value in expected.items():
        row = table.loc[name]
        for col in ("S1", "ST"):
            assert row[col] == pytest.approx(row[f"{col}_raw"])
            # The 95% interval of the estimator, widened by a small floor for the noise-free case.
            assert row[f"{col}_low"] - 0.02 <= value <= row[f"{col}_high"] + 0.02, (name, col, row[col])


def test_raw_indices_are_salibs(tmp_path: Path) -> None:
    from SALib.analyze import sobol

    results, x = fake_batch(write(tmp_path, n=64), tmp_path, replicates=2)
    table = analyse(results)
    y = 4.0 * x[:, 0] + x[:, 1]
    res = sobol.analyze({"num_vars": 3, "names": ["a", "b", "c"], "bounds": [[0, 1]] * 3}, y,
                        calc_second_order=False, seed=1)
    np.testing.assert_allclose(table["S1_raw"], res["S1"], atol=1e-12)
    np.testing.assert_allclose(table["ST_raw"], res["ST"], atol=1e-12)


def test_one_replicate_leaves_the_noise_undefined(tmp_path: Path) -> None:
    results, _ = fake_batch(write(tmp_path, n=64), tmp_path, replicates=1)
    table = analyse(results)
    assert table["noise_share"].isna().all()
    assert table["warning"].str.contains("one replicate per point: the replicate noise cannot be estimated",
                                         regex=False).all()


def test_morris_effects_of_a_linear_model_are_its_slopes(tmp_path: Path) -> None:
    # On the unit cube, each elementary effect of a linear model is exactly its coefficient.
    results, _ = fake_batch(write(tmp_path, method="morris", n=20), tmp_path)
    table = analyse(results).set_index("parameter")
    assert table.loc["mediator.effectiveness", "mu_star"] == pytest.approx(4.0)
    assert table.loc["mediator.credibility", "mu_star"] == pytest.approx(1.0)
    assert table.loc["spillover.neighbour_probability", "mu_star"] == pytest.approx(0.0, abs=1e-9)
    assert table["sigma"].max() == pytest.approx(0.0, abs=1e-9)


def test_the_design_covers_the_ranges(tmp_path: Path) -> None:
    exp = load_spec(write(tmp_path, n=64))
    assert len(exp.points) == 64 * (3 + 2)  # Saltelli without second order: N (D + 2)
    eff = np.array([p["mediator.effectiveness"] for p in exp.points])
    assert 0.0 <= eff.min() < 0.05 and 0.95 < eff.max() <= 1.0


def test_point_statistics() -> None:
    out = pd.DataFrame({"point": [0, 0, 1, 1], "collapse_min": [60.0, np.nan, 30.0, 200.0],
                        "violations_per_h": [1.0, np.nan, 2.0, 4.0]})
    # collapse_h: a run that held counts as collapsing at the horizon (2 h here).
    assert point_statistic(out, "collapse_h", 2, 2.0).tolist() == [1.5, (0.5 + 2.0) / 2]
    assert point_statistic(out, "p_hold_1.5h", 2, 2.0).tolist() == [0.5, 0.5]
    assert point_statistic(out, "violations_per_h", 2, 2.0).tolist() == [1.0, 3.0]


BAD = [
    ({"outcomes": '["peace"]'}, r"sensitivity\.outcomes: 'peace': unknown statistic"),
    ({"outcomes": '["p_hold_48h"]'}, r"'p_hold_48h': beyond the horizon \(36\.0 h\)"),
    ({"n": 100}, r"Sobol' needs base_samples a power of two, got 100"),
]


@pytest.mark.parametrize(("change", "message"), BAD, ids=["statistic", "beyond-horizon", "power-of-two"])
def test_bad_designs_get_one_clear_line(tmp_path: Path, change: dict, message: str) -> None:
    with pytest.raises(SpecError) as err:
        load_spec(write(tmp_path, **change))
    assert "\n" not in str(err.value) and re.search(message, str(err.value)), str(err.value)


def test_a_grid_cannot_join_a_sensitivity_design(tmp_path: Path) -> None:
    path = write(tmp_path)
    path.write_text(path.read_text() + '\n[grid]\n"mediator.monitors" = [true, false]\n')
    with pytest.raises(SpecError, match=r"\[grid\]: a \[sensitivity\] design cannot be combined"):
        load_spec(path)


def test_cli_writes_table_and_chart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path, n=4, replicates=2, outcomes='["collapse_h", "violations_per_h"]')
    out = tmp_path / "out"
    code = cli.main(["sensitivity", str(spec), "--workers", "1", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    table = pd.read_csv(out / "sensitivity.csv")
    assert len(table) == 2 * 3
    assert {"S1", "S1_low", "S1_high", "ST", "ST_low", "ST_high", "noise_share", "warning"} <= set(table)
    assert (out / "sensitivity.png").stat().st_size > 10_000
    # 4 base rows cannot separate anything: every flagged row is printed as a warning line.
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("warning: ")]
    assert len(printed) == (table["warning"].fillna("") != "").sum() > 0
    code = cli.main(["sensitivity", str(spec), "--workers", "1", "--out", str(tmp_path / "m"),
                     "--method", "morris"])
    assert code == 0
    assert "mu_star" in pd.read_csv(tmp_path / "m" / "sensitivity.csv").columns


def test_cli_needs_a_design(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "plain.toml"
    path.write_text("[experiment]\nname = 'plain'\nscenario = 'classroom-two-villages'\n")
    assert cli.main(["sensitivity", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "no [sensitivity] table" in capsys.readouterr().err


def test_the_shipped_design_runs_small_and_draws(tmp_path: Path) -> None:
    from sim.faces.figures import save
    from sim.faces.figures.batch import sensitivity_bars
    from sim.studies.sensitivity import run

    spec = Path(__file__).resolve().parent.parent / "experiments" / "sensitivity.toml"
    result = run(spec, base_samples=2, replicates=1, workers=1, out=tmp_path / "s", progress=False)
    names = len(result.batch.experiment.spec.sample)
    assert len(result.batch.outcomes) == 2 * (names + 2)
    assert set(result.table["statistic"]) == {"collapse_h", "p_hold_6h", "violations_per_h"}
    chart = save(sensitivity_bars(result.table), tmp_path / "bars")
    assert chart.stat().st_size > 10_000


# -- indices against replicate noise: an additive model with Bernoulli outcomes --------------------
# y ~ Bernoulli(p(x)), p = 0.1 + 0.6 x0 + 0.2 x1 (x2 has no effect), x uniform on the unit cube.
# The indices of the expected output p(x) are known: Var p = (0.36 + 0.04) / 12, so
# S1 = ST = 0.9, 0.1, 0. A point's mean of R runs adds noise of variance p (1 - p) / R.
TRUE = np.array([0.9, 0.1, 0.0])


def bernoulli_runs(n: int, replicates: int, rng: np.random.Generator,
                   p: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """0/1 runs (points × replicates) of the additive model on SALib's design of ``n`` base rows."""
    from sim.studies.experiment_spec import SensitivitySpec, unit_sample

    x = unit_sample(SensitivitySpec(method="sobol", base_samples=n), 3, np.random.default_rng(1))
    prob = 0.1 + 0.6 * x[:, 0] + 0.2 * x[:, 1] if p is None else p(x)
    return (rng.random((len(x), replicates)) < prob[:, None]).astype(float)


def test_intervals_cover_the_true_indices_despite_the_noise() -> None:
    # 30 independent batches of 64 base rows × 16 runs (noise share about 0.3). Each 95%
    # interval must cover its true index in at least the 0.1% binomial quantile of 30 trials.
    trials = 30
    floor = binom.ppf(0.001, trials, 0.95)
    covered = {col: np.zeros(3) for col in ("S1", "ST")}
    estimates: dict[str, list[np.ndarray]] = {col: [] for col in covered}
    widths: dict[str, list[np.ndarray]] = {col: [] for col in covered}
    shares = []
    for k in range(trials):
        runs = bernoulli_runs(64, 16, np.random.default_rng(100 + k))
        ind = sobol_with_noise(runs, 3, resamples=150, conf_level=0.95, rng=np.random.default_rng(k))
        shares.append(ind.noise_share)
        for col in covered:
            low, high = getattr(ind, f"{col}_low"), getattr(ind, f"{col}_high")
            covered[col] += (low <= TRUE) & (high >= TRUE)
            estimates[col].append(getattr(ind, col))
            widths[col].append(high - low)
    # Expected share: E[p (1 - p)] / 16 over (Var p + that), = 0.01354 / 0.04688 = 0.289.
    assert np.mean(shares) == pytest.approx(0.289, abs=3 * np.std(shares) / np.sqrt(trials) + 0.005)
    for col, hits in covered.items():
        assert (hits >= floor).all(), (col, hits, floor)
        # Not covering by being huge: the mean width is that of a normal 95% interval with the
        # estimates' spread over the trials (within 0.6-2x: the spread of 30 trials is itself
        # uncertain by about 13%, and the two-level bootstrap counts the noise twice).
        ratio = np.mean(widths[col], axis=0) / (2 * 1.96 * np.std(estimates[col], axis=0))
        assert ((ratio > 0.6) & (ratio < 2.0)).all(), (col, ratio)


def test_the_raw_total_index_of_a_dummy_is_the_noise_share() -> None:
    # Noise inflates SALib's ST of a parameter with no effect to the noise share; the
    # corrected ST removes it. Over 64 base rows the estimator's spread is about 0.07.
    runs = bernoulli_runs(256, 8, np.random.default_rng(3))
    ind = sobol_with_noise(runs, 3, resamples=200, conf_level=0.95, rng=np.random.default_rng(0))
    assert ind.ST_raw[2] == pytest.approx(ind.noise_share, abs=0.1)
    assert ind.ST_low[2] <= 0.0 <= ind.ST_high[2]
    assert ind.S1_raw[0] < ind.S1[0]  # noise deflates the raw first-order index


def test_the_noise_warning_fires_when_the_noise_dominates() -> None:
    # p = 0.45 + 0.1 x0 over 2 runs: Var p = 0.01 / 12 against noise of about 0.25 / 2.
    runs = bernoulli_runs(64, 2, np.random.default_rng(5), p=lambda x: 0.45 + 0.1 * x[:, 0])
    ind = sobol_with_noise(runs, 3, resamples=200, conf_level=0.95, rng=np.random.default_rng(0))
    assert ind.noise_share > 0.9
    for j in range(3):
        warning = index_warnings(ind, j, 0.4)
        assert f"noise share {ind.noise_share:.2f} > 0.4" in warning
        assert "ST interval wider than ST" in warning
    # ... and stays silent for the clear case: 16 runs of the additive model.
    clear = sobol_with_noise(bernoulli_runs(128, 16, np.random.default_rng(6)), 3, resamples=200,
                             conf_level=0.95, rng=np.random.default_rng(0))
    assert clear.noise_share < 0.4 and index_warnings(clear, 0, 0.4) == ""
    assert clear.S1_low[0] > 0 and clear.ST_low[0] > 0


def test_negative_first_order_indices_are_flagged() -> None:
    one = np.array([0.0])

    def indices(s1: float, low: float, high: float) -> NoisyIndices:
        return NoisyIndices(np.array([s1]), np.array([low]), np.array([high]), one + 0.5, one + 0.4,
                            one + 0.6, np.array([s1]), one + 0.5, 0.1, "")

    assert index_warnings(indices(-0.2, -0.3, -0.1), 0, 0.4) == "S1 < 0 beyond noise (more base samples)"
    assert index_warnings(indices(-0.01, -0.3, 0.3), 0, 0.4) == \
        "S1 interval wider than S1; S1 < 0 within noise (read as 0)"
    assert index_warnings(indices(0.3, 0.2, 0.4), 0, 0.4) == ""


def test_the_bootstrap_is_seeded_and_ignores_the_order_of_the_runs(tmp_path: Path) -> None:
    # The batch's rows arrive in whatever order the workers finish; the table must not care.
    results, _ = fake_batch(write(tmp_path, n=32), tmp_path, replicates=3)
    noisy = results.outcomes.assign(violations_per_h=results.outcomes["violations_per_h"]
                                    + np.random.default_rng(2).normal(0, 0.5, len(results.outcomes)))
    results.__dict__["outcomes"] = noisy
    first = analyse(results)
    results.__dict__["outcomes"] = noisy.sample(frac=1.0, random_state=1)
    pd.testing.assert_frame_equal(first, analyse(results))


# -- the README's claims against the committed table ---------------------------------------------
ROOT = Path(__file__).resolve().parent.parent
TABLE_START = "<!-- sensitivity-table:"
TABLE_END = "<!-- end sensitivity-table -->"


def readme_table() -> list[dict[str, object]]:
    """The README's table of distinguishable indices, as dicts of its cells."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text[text.index(TABLE_START):text.index(TABLE_END)].splitlines()[3:]
    rows = []
    for line in block:
        stat, share, param, s1, st = (c.strip().strip("`") for c in line.strip().strip("|").split("|"))
        nums = [float(v) for v in re.findall(r"-?\d+\.\d+", s1 + " " + st)]
        rows.append({"statistic": stat, "noise_share": float(share), "parameter": param, "numbers": nums})
    return rows


def test_readme_claims_match_the_committed_table() -> None:
    table = pd.read_csv(ROOT / "docs" / "experiments" / "sensitivity.csv")
    distinct = table[(table["ST_low"] > 0) & (table["ST_high"] - table["ST_low"] < table["ST"])]
    rows = readme_table()
    # The README lists exactly the distinguishable total indices, with the CSV's numbers.
    assert {(r["statistic"], r["parameter"]) for r in rows} == set(zip(distinct["statistic"],
                                                                       distinct["parameter"], strict=True))
    indexed = table.set_index(["statistic", "parameter"])
    for r in rows:
        row = indexed.loc[(r["statistic"], r["parameter"])]
        cols = ["S1", "S1_low", "S1_high", "ST", "ST_low", "ST_high"]
        assert r["numbers"] == [round(float(row[c]), 2) for c in cols], r
        assert r["noise_share"] == round(float(row["noise_share"]), 2)
    # Its first row per statistic names the largest total index, and that interval excludes 0.
    for stat, group in table.groupby("statistic"):
        first = next(r for r in rows if r["statistic"] == stat)
        top = group.loc[group["ST"].idxmax()]
        assert first["parameter"] == top["parameter"] and top["ST_low"] > 0, stat
    # "every total interval [of the other parameters] includes 0", the order delay's excepted.
    listed = {(r["statistic"], r["parameter"]) for r in rows}
    others = table[[(s, p) not in listed and p != "sides.*.command.order_delay_mean_min"
                    for s, p in zip(table["statistic"], table["parameter"], strict=True)]]
    assert ((others["ST_low"] <= 0) & (others["ST_high"] >= 0)).all()
    # The order delay: excludes 0 but is wider than its index (named not distinguishable).
    delay = table[table["parameter"] == "sides.*.command.order_delay_mean_min"]
    assert (delay["ST_high"] - delay["ST_low"] >= delay["ST"]).all()
    # "each total index lies inside its first-order interval" for the listed ones.
    assert ((distinct["ST"] >= distinct["S1_low"]) & (distinct["ST"] <= distinct["S1_high"])).all()
    # "Their first-order indices sum to 0.83-0.92" (the two listed per statistic).
    sums = distinct.groupby("statistic")["S1"].sum().round(2)
    assert sums.min() == 0.83 and sums.max() == 0.92
    # The spillover probability's raw total index is the noise share (within 0.01), its corrected
    # one 0 (within 0.02).
    spill = table[table["parameter"] == "spillover.neighbour_probability"]
    np.testing.assert_allclose(spill["ST_raw"], spill["noise_share"], atol=0.01)
    np.testing.assert_allclose(spill["ST"], 0.0, atol=0.02)


def test_the_committed_table_comes_from_the_shipped_spec() -> None:
    exp = load_spec(ROOT / "experiments" / "sensitivity.toml")
    table = pd.read_csv(ROOT / "docs" / "experiments" / "sensitivity.csv")
    assert list(dict.fromkeys(table["statistic"])) == list(exp.spec.sensitivity.outcomes)
    assert list(table["parameter"][:len(exp.spec.sample)]) == list(exp.spec.sample)
    assert (table["replicates"] == exp.spec.experiment.replicates).all()


def test_a_batch_analysed_on_its_first_rows_and_runs_is_the_smaller_batch(tmp_path: Path) -> None:
    # What benchmarks/sensitivity_sizing.py relies on: the first N base rows of a Sobol' design
    # of 2N are the design of N, and run r of a point does not depend on how many runs follow.
    noise = np.random.default_rng(4).normal(0.0, 0.5, (128 * 5, 3))

    def batch(folder: Path, n: int, replicates: int) -> BatchResults:
        folder.mkdir()
        results, _ = fake_batch(write(folder, n=n), folder, replicates=replicates)
        out = results.outcomes
        out["violations_per_h"] += noise[out["point"], out["replicate"]]
        return results

    big, small = batch(tmp_path / "big", 128, 3), batch(tmp_path / "small", 64, 2)
    pd.testing.assert_frame_equal(analyse(big, base_samples=64, replicates=2), analyse(small))
    with pytest.raises(SpecError, match=r"replicates = 4: the batch holds 1 to 3 per point"):
        analyse(big, replicates=4)
    with pytest.raises(SpecError, match=r"base_samples = 48: .* power of two from 2 to 128"):
        analyse(big, base_samples=48)


def test_readme_sizing_claims_match_the_committed_sizing_table() -> None:
    lines = [line for line in (ROOT / "docs" / "experiments" / "sensitivity-sizing.md").read_text(
        encoding="utf-8").splitlines() if line.startswith("|")]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    sizing = pd.DataFrame(cells, columns=head)
    for col in ("base_samples", "replicates", "ST distinguishable", "S1 distinguishable"):
        sizing[col] = sizing[col].astype(int)
    at = sizing.set_index(["base_samples", "replicates", "statistic"])
    stats = ["collapse_h", "p_hold_6h", "violations_per_h"]
    # One run per point: every total index passes (the noise posing as effects).
    assert all(at.loc[(256, 1, s), "ST distinguishable"] == 8 for s in stats)
    # The noise share of collapse_h at 2, 3, 4 runs; the width at 64 and 256 base rows.
    shares = [round(float(at.loc[(256, r, "collapse_h"), "noise_share"]), 2) for r in (2, 3, 4)]
    assert shares == [0.13, 0.09, 0.07]
    assert at.loc[(64, 4, "collapse_h"), "ST [95%]"] == "0.49 [0.18, 0.71]"
    assert at.loc[(256, 4, "collapse_h"), "ST [95%]"] == "0.49 [0.34, 0.60]"
    # Two total indices from (128 base rows, 2 runs) on for collapse_h and p_hold_6h, from
    # (256, 3) for violations_per_h; two first-order ones each only at (256, 4).
    noisy = sizing[sizing["replicates"] >= 2]
    first = {"collapse_h": (128, 2), "p_hold_6h": (128, 2), "violations_per_h": (256, 3)}
    for stat, (base, reps) in first.items():
        rows = noisy[noisy["statistic"] == stat]
        reached = (rows["base_samples"] >= base) & (rows["replicates"] >= reps)
        assert (rows.loc[reached, "ST distinguishable"] == 2).all(), stat
        assert (rows.loc[~reached, "ST distinguishable"] < 2).all(), stat
    s1 = noisy.set_index(["base_samples", "replicates"]).groupby(level=[0, 1])["S1 distinguishable"].min()
    assert list(s1[s1 == 2].index) == [(256, 4)]
