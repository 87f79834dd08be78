"""Simulation-based calibration (sim.studies.sbc): the rank statistic, the synthetic monitor record, a
small check of the calibration's coverage, and the README's numbers against the committed CSV."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim.studies.calibration import Prior
from sim.studies.sbc import (
    DEFAULT_SETUP,
    FINE_SETUP,
    LARGE_SETUP,
    REFERENCE_MIN_ACCEPTED,
    calibrate_truth,
    check_truth,
    check_truth_with_reference,
    coverage_interval,
    draw_truth,
    fingerprint,
    fingerprint_difference,
    markdown,
    meets_target,
    merge_windows,
    paired,
    paired_markdown,
    paired_setups,
    paired_setups_markdown,
    prior_bank,
    reference_population,
    run_sbc,
    same_records,
    same_rows,
    summarize,
    synthetic_monitor_record,
    weighted_rank,
)

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "docs" / "calibration" / "sbc.csv"


def test_weighted_rank_on_a_hand_made_posterior():
    x = np.array([4.0, 1.0, 3.0, 2.0])
    w = np.array([0.4, 0.1, 0.3, 0.2])
    assert weighted_rank(x, w, 2.5) == pytest.approx(0.3)  # 0.1 + 0.2 below
    assert weighted_rank(x, w, 2.0) == pytest.approx(0.2)  # 0.1 below, half of the tie's 0.2
    assert weighted_rank(x, w, 0.5) == 0.0
    assert weighted_rank(x, w, 9.0) == 1.0
    assert weighted_rank(x, 10 * w, 3.5) == pytest.approx(0.6), "weights need not sum to 1"
    with pytest.raises(ValueError, match="positive"):
        weighted_rank(x, np.zeros(4), 1.0)


def test_ranks_of_truths_drawn_from_the_posterior_itself_are_uniform():
    """A truth drawn from the very posterior it is ranked in has a uniform rank: over 2,000
    such truths each decile holds Binomial(2000, 0.1) of them (sd 13.4); we allow 4.5 sd."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=400)
    w = rng.random(400)
    truths = rng.choice(x, size=2000, p=w / w.sum()) + rng.normal(scale=1e-9, size=2000)
    counts = np.histogram([weighted_rank(x, w, t) for t in truths], bins=10, range=(0, 1))[0]
    assert np.all(np.abs(counts - 200) < 4.5 * np.sqrt(2000 * 0.1 * 0.9)), counts


def test_the_synthetic_record_is_the_monitor_counts_summed_into_the_windows():
    values = draw_truth(DEFAULT_SETUP, 0, 0)
    record = synthetic_monitor_record(DEFAULT_SETUP, values, 0, 0)
    fine = synthetic_monitor_record(replace(DEFAULT_SETUP, windows=tuple(
        (float(a), float(a + 240)) for a in range(-240, 1440, 240))), values, 0, 0)
    assert list(record["type"]) == ["count"] * 3 and set(record["kind"]) == {"violations"}
    assert record["t_min_earliest"].tolist() == [-240.0, 0.0, 480.0]
    assert record["count"].tolist() == [fine["count"].iloc[0], fine["count"].iloc[1:3].sum(),
                                        fine["count"].iloc[3:].sum()]
    assert record.equals(synthetic_monitor_record(DEFAULT_SETUP, values, 0, 0)), "same seed, same record"
    with pytest.raises(ValueError, match="window 0 to 300 min"):
        merge_windows(fine, [(0.0, 300.0)])


SMALL = replace(DEFAULT_SETUP, particles=40, budget=800)
"""The test's budget: 4 populations of 40 particles (about 560 simulations a truth)."""
SMALL_TRUTHS = 12
INFORMED = ("sides.*.force.ceasefire_rate_per_h", "peacekeepers.recorded_per_incident_mean")
WIDTH_BOUND = 0.75
"""Measured at SMALL's budget over 30 truths (seed 1): mean width ratio 0.57 (rate) and 0.55
(recorded mean), sd over truths 0.13-0.14, so the mean of 12 truths has sd ≈ 0.04; the bound is
the larger mean plus 4.5 of those sd (and well below the prior's 1)."""


def test_a_small_check_covers_the_truth_as_often_as_a_90_percent_interval_should():
    """Coverage over SMALL_TRUTHS truths: if the intervals are calibrated, the number of truths
    inside each parameter's 90% interval is Binomial(12, 0.9); we require it inside that
    distribution's central 99.9% (6 to 12: this small check can catch intervals that are too
    narrow, not ones that are too wide). The informed parameters narrow (WIDTH_BOUND)."""
    table = run_sbc(SMALL, SMALL_TRUTHS, seed=0)
    summary = summarize(table, SMALL.priors).set_index(["method", "parameter"]).sort_index()
    low, high = stats.binom.ppf([0.0005, 0.9995], SMALL_TRUTHS, 0.9)
    for method in ("regression", "none"):
        for prior in SMALL.priors:
            assert low <= summary.at[(method, prior.path), "inside"] <= high, summary
        for path in INFORMED:
            assert summary.at[(method, path), "mean_width_ratio"] < WIDTH_BOUND, summary
    assert set(table["truth"]) == set(range(SMALL_TRUTHS)) and len(table) == 2 * 3 * SMALL_TRUTHS
    assert table["rank"].between(0, 1).all() and table["width_ratio"].gt(0).all()
    counts = summary[[f"rank_{b}" for b in range(10)]].sum(axis=1)
    assert (counts == SMALL_TRUTHS).all(), "every truth's rank is in one bin of the histogram"
    # Both methods come from one calibration per truth: same truths, same populations.
    adjusted, accepted = (table[table["method"] == m].reset_index(drop=True) for m in ("regression", "none"))
    for column in ("truth", "parameter", "value", "populations", "simulations"):
        assert adjusted[column].equals(accepted[column]), column


def test_a_truth_checked_alone_or_by_two_workers_gives_the_same_rows():
    tiny = replace(DEFAULT_SETUP, particles=10, budget=40)
    two = run_sbc(tiny, 2, seed=5, workers=2)
    alone = pd.DataFrame(check_truth(tiny, 5, 1))
    pd.testing.assert_frame_equal(two[two["truth"] == 1].reset_index(drop=True), alone)
    assert not two[two["truth"] == 0]["value"].equals(alone["value"]), "truths differ"
    # Resuming from truth 0 alone runs only truth 1 and ends with the same table.
    finished: list[int] = []
    resumed = run_sbc(tiny, 2, seed=5, done=two[two["truth"] == 0].iloc[::-1],
                      on_done=lambda rows: finished.append(rows[0]["truth"]))
    assert finished == [1], "the kept truth is not run again"
    pd.testing.assert_frame_equal(resumed, two)


def test_summary_counts_coverage_and_flags_informable_parameters():
    priors = (Prior("sides.*.force.ceasefire_rate_per_h", "loguniform", 0.1, 10.0),
              Prior("sides.*.command.violation_cost", "uniform", 0.0, 0.02))
    rows = [{"truth": k, "method": "regression", "parameter": p.path, "rank": (k + 0.5) / 20,
             "inside": k < 18, "width_ratio": 0.3 if j == 0 else 0.9}
            for k in range(20) for j, p in enumerate(priors)]
    summary = summarize(pd.DataFrame(rows), priors).set_index("parameter")
    rate = summary.loc[priors[0].path]
    assert rate["coverage"] == 0.9 and rate["informable"] and not summary.loc[priors[1].path, "informable"]
    # Clopper-Pearson 95% for 18/20, as in tables of the exact interval.
    assert rate["coverage_low"] == pytest.approx(0.683, abs=1e-3)
    assert rate["coverage_high"] == pytest.approx(0.988, abs=1e-3)
    assert [rate[f"rank_{b}"] for b in range(10)] == [2] * 10


def test_the_readme_states_the_committed_numbers():
    """The README's SBC table is the committed summary's, so the claim cannot drift from it."""
    summary = pd.read_csv(COMMITTED)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert markdown(summary) in readme
    truths = int(summary["truths"].max())
    assert truths >= 50
    section = readme[readme.index("### Does calibration recover the truth?"):]
    section = section[:section.index("\n## ")]
    assert re.search(rf"over {truths} synthetic records", section, re.IGNORECASE)
    for r in summary.itertuples(index=False):  # the prose quotes the same numbers
        assert f"{r.coverage:.3f}" in section and f"{r.mean_width_ratio:.2f}" in section, r.parameter
    # "The target is not met by either reading": each has an informable parameter outside it.
    target = meets_target(summary)
    for method in ("regression", "none"):
        assert not target[summary["method"] == method].dropna().astype(bool).all(), method
    assert "not met by\neither reading" in section
    # The binomial tail probabilities the prose quotes, from the committed counts.
    rows = summary.set_index(["method", "parameter"])
    rate = rows.loc[("regression", "sides.*.force.ceasefire_rate_per_h")]
    assert f"{rate['inside']} of {truths}" in section
    tail = stats.binom.cdf(rate["inside"], truths, 0.9)
    assert f"P(≤ {rate['inside']} of {truths}) = {tail:.3f}" in section
    mean = rows.loc[("none", "peacekeepers.recorded_per_incident_mean")]
    assert stats.binom.sf(mean["inside"] - 1, truths, 0.9) < 0.001
    assert f"P(≥ {mean['inside']} of {truths}) <\n  0.001" in section
    outside = {}
    low, high = stats.binom.ppf([0.005, 0.995], truths, 0.1)
    for (method, _), r in rows.iterrows():
        counts = np.array([r[f"rank_{b}"] for b in range(10)])
        outside[method] = outside.get(method, 0) + int(((counts < low) | (counts > high)).sum())
    assert outside["regression"] == 0 and outside["none"] == 2, outside
    assert f"({outside['none']} of 10;" in section
    # "each by one or two truths": the adjusted rate's shortfall below 0.85 and the accepted
    # recorded mean's excess over 0.95, in truths; "about 5 points too narrow".
    short = int(np.ceil(0.85 * truths)) - int(rate["inside"])
    excess = int(mean["inside"]) - int(np.floor(0.95 * truths))
    assert (short, excess) == (1, 2) and "each by one or two truths in 300" in section
    assert round(100 * (0.9 - rate["coverage"])) == 5 and "about 5 points too narrow" in section
    # The run's shape the section states: populations and the median final tolerance.
    per_truth = pd.read_csv(COMMITTED.with_name("sbc-truths.csv")).groupby("truth").first()
    shape = (f"{per_truth['populations'].min()}–{per_truth['populations'].max()} populations, "
             f"final tolerance median {per_truth['tolerance'].median():.2f}")
    assert shape in section, shape
    fine = pd.read_csv(COMMITTED.with_name("sbc-fine.csv"))
    assert markdown(fine) in section, "the many-statistics check's table is the committed one"
    adjusted = fine[fine["method"] == "regression"]
    assert (adjusted.loc[adjusted["informable"], "coverage"] < 0.85).all(), \
        "the README says the adjustment under-covers with many statistics"
    assert f"{int(fine['truths'].max())} truths" in section
    # The prose's history: the first 100 truths, then truths 100-299 alone (a replicate).
    table = pd.read_csv(COMMITTED.with_name("sbc-truths.csv"))
    for method, parameter in (("regression", "sides.*.force.ceasefire_rate_per_h"),
                              ("none", "peacekeepers.recorded_per_incident_mean")):
        part = table[(table["method"] == method) & (table["parameter"] == parameter)]
        first, rest = part[part["truth"] < 100], part[part["truth"] >= 100]
        assert len(first) == 100 and len(rest) == truths - 100
        if method == "regression":
            hits = int(first["inside"].sum())
            assert f"{hits / 100:.3f} ({hits} of\n  100)" in section
        hits = int(rest["inside"].sum())
        assert f"{hits / len(rest):.3f} ({hits} of {len(rest)})" in section, method


def test_the_readme_counts_the_statistics_of_the_committed_calibrations():
    """"The committed calibrations compare 40–124 statistics": computed from their specs."""
    from sim.studies.calibration import calibration_case, load_spec, spec_path_for

    names = sorted(p.name.removesuffix(".calibration.toml")
                   for p in (ROOT / "scenarios").glob("*.calibration.toml"))
    counts = [len(calibration_case(load_spec(spec_path_for(n)))[1]) for n in names]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"compare {min(counts)}–{max(counts)} statistics" in readme


def test_the_benchmark_refuses_bad_options_in_one_line(tmp_path: Path):
    import subprocess
    import sys

    for args, message in ((["--truths", "0"], "--truths: 0: must be a whole number ≥ 1"),
                          (["--workers", "two"], "--workers: 'two': must be a whole number ≥ 1"),
                          (["--out", str(tmp_path / "nope")], "no such folder"),
                          (["--reference", "10"], "--reference: 10: must be a whole number ≥ 1000"),
                          (["--reference", "2000", "--resume"], "--resume: not with --reference")):
        done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "sbc.py"), *args],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 2, done.stderr
        assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_the_benchmark_resumes_only_from_a_table_of_its_own_setup_and_seed(tmp_path: Path):
    """--resume keeps an earlier table's truths only if it is this check's: another seed, a
    table that lacks a column or one whose truths are not whole numbers is refused in one line
    (exit 2) before anything runs."""
    committed = pd.read_csv(COMMITTED.with_name("sbc-truths.csv"))
    committed[committed["truth"] < 2].to_csv(tmp_path / "sbc-truths.csv", index=False)
    broken = {"no column rank": committed.drop(columns="rank"),
              "column truth must hold whole numbers": committed.assign(truth=committed["truth"] + 0.5)}
    for args, message in ((["--seed", "1"], "truth 0: values differ from what seed 1 draws"),
                          (["--seed", "0"], "no column rank"),
                          (["--seed", "0"], "column truth must hold whole numbers")):
        if message in broken:
            broken[message].to_csv(tmp_path / "sbc-truths.csv", index=False)
        done = _bench(tmp_path, "--resume", "--truths", "2", *args)
        assert done.returncode == 2, done.stderr
        assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sbc-truths.csv"], "nothing written"


def _bench(tmp_path: Path, *args: str):
    import subprocess
    import sys

    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "sbc.py"), "--out", str(tmp_path),
                           "--workers", "1", *args], capture_output=True, text=True, check=False)


def test_a_setups_fingerprint_names_what_differs():
    """The saved setup tells apart what the truths' values cannot: particles, budget, windows."""
    assert fingerprint_difference(fingerprint(LARGE_SETUP, 2), LARGE_SETUP, 2) is None
    assert fingerprint_difference(fingerprint(DEFAULT_SETUP, 0), LARGE_SETUP, 0) == \
        "particles: 100 there, 200 here"
    assert fingerprint_difference(fingerprint(LARGE_SETUP, 0), LARGE_SETUP, 2) == "seed: 0 there, 2 here"
    assert fingerprint_difference(fingerprint(FINE_SETUP, 0), DEFAULT_SETUP, 0).startswith("windows: ")
    saved = {**fingerprint(DEFAULT_SETUP, 0), "extra": 1}
    assert fingerprint_difference(saved, DEFAULT_SETUP, 0) == "extra: 1 there, missing here"
    saved = {k: v for k, v in fingerprint(DEFAULT_SETUP, 0).items() if k != "budget"}
    assert fingerprint_difference(saved, DEFAULT_SETUP, 0) == "budget: missing there, 8000 here"
    assert fingerprint_difference([1], DEFAULT_SETUP, 0).startswith("not a fingerprint")
    assert fingerprint(DEFAULT_SETUP, 0)["scenario"] == "classroom-peacekeepers.toml", "no machine's path"


def test_resume_refuses_a_table_made_with_other_particles(tmp_path: Path):
    """Two truths of the default check (100 particles) with their saved setup: the large check
    draws the same truths, so their values pass, but its 200 particles do not; refused in one
    line before anything runs, nothing written. A broken setup file is refused likewise."""
    import json

    committed = pd.read_csv(COMMITTED.with_name("sbc-truths.csv"))
    committed[committed["truth"] < 2].to_csv(tmp_path / ".sbc-large-truths.partial.csv", index=False)
    saved = tmp_path / ".sbc-large-setup.partial.json"
    for text, message in ((json.dumps(fingerprint(DEFAULT_SETUP, 0)), "particles: 100 there, 200 here"),
                          ("\x00\x01 not json", "not readable as JSON")):
        saved.write_text(text, encoding="utf-8")
        done = _bench(tmp_path, "--setup", "large", "--resume", "--truths", "2")
        assert done.returncode == 2, done.stderr
        assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == [saved.name, ".sbc-large-truths.partial.csv"]


def test_a_check_saves_its_setup_and_will_not_overwrite_another_seeds_tables(tmp_path: Path):
    """A resumed check (here every truth kept, so nothing runs) that finds no saved setup says
    it checked the truths' values only; it writes its setup beside its tables and drops the
    partial files. A later run of another seed into the folder is refused, by the saved setup or,
    without one, by the truths' values; the tables stay as they were."""
    import json

    committed = pd.read_csv(COMMITTED.with_name("sbc-truths.csv"))
    kept = committed[committed["truth"] < 2]
    kept.to_csv(tmp_path / ".sbc-truths.partial.csv", index=False)
    done = _bench(tmp_path, "--resume", "--truths", "2")
    assert done.returncode == 0, done.stderr
    assert "only its truths' values are checked" in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == \
        ["sbc-setup.json", "sbc-truths.csv", "sbc.csv", "sbc.png"]
    saved = json.loads((tmp_path / "sbc-setup.json").read_text(encoding="utf-8"))
    assert saved == fingerprint(DEFAULT_SETUP, 0)
    assert same_rows(pd.read_csv(tmp_path / "sbc-truths.csv"), kept.reset_index(drop=True))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for message in ("sbc-truths.csv holds the check of seed 0 (sbc-setup.json)",
                    "sbc-truths.csv is not this check's: truth 0: values differ from what seed 1 draws"):
        done = _bench(tmp_path, "--seed", "1", "--truths", "1")
        assert done.returncode == 2, done.stderr
        assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
        (tmp_path / "sbc-setup.json").unlink(missing_ok=True)  # next: a table saved without one
        before.pop("sbc-setup.json", None)


def test_the_exact_abc_reference_is_the_banks_draws_within_the_smcs_tolerance():
    """The reference of a truth: the bank's prior draws whose statistics lie within the SMC's
    final tolerance of the record (at its final scales), equally weighted; undefined (None) when
    fewer than REFERENCE_MIN_ACCEPTED do; refused for a bank of other statistics."""
    tiny = replace(DEFAULT_SETUP, particles=20, budget=200)
    bank = prior_bank(tiny, 0, 400)
    assert bank.statistics.shape == (400, 3) and np.isfinite(bank.statistics).all()
    again = prior_bank(tiny, 0, 400, chunk=150)
    assert np.array_equal(again.statistics, bank.statistics), "chunking changes nothing"
    assert np.array_equal(again.z, bank.z)
    values, record, post = calibrate_truth(tiny, 0, 3)
    ref = reference_population(bank, post)
    assert ref is not None
    # The same distance, recomputed by hand from the record's counts: log1p, over the scales.
    observed = np.log1p(record["count"].to_numpy(dtype=float))
    d = np.sqrt(np.mean(((bank.statistics - observed) / post.scales) ** 2, axis=1))
    within = d <= post.last.tolerance
    assert within.sum() >= REFERENCE_MIN_ACCEPTED
    assert np.array_equal(ref.z, bank.z[within]) and np.allclose(ref.weights, 1 / within.sum())
    assert ref.tolerance == post.last.tolerance and ref.tried == 400
    # A bank too small to hold enough draws within the tolerance gives no reference.
    few = replace(bank, z=bank.z[:20], values=bank.values[:20], statistics=bank.statistics[:20])
    assert reference_population(few, post) is None
    other = replace(bank, layout=bank.layout[:2])
    with pytest.raises(ValueError, match="not the ones the bank was simulated for"):
        reference_population(other, post)
    rows = pd.DataFrame(check_truth_with_reference(tiny, 0, 3, bank))
    assert list(rows["method"].unique()) == ["regression", "none", "reference-regression", "reference-none"]
    smc = rows[rows["method"].isin(["regression", "none"])].drop(columns="accepted")
    pd.testing.assert_frame_equal(smc.reset_index(drop=True), pd.DataFrame(check_truth(tiny, 0, 3)))
    assert (rows.loc[rows["method"] == "reference-none", "accepted"] == within.sum()).all()
    assert values[0] == rows.loc[0, "value"]


def test_paired_counts_the_truths_only_one_interval_misses():
    """Nine truths: the SMC misses eight that the reference holds and holds one it misses;
    McNemar's exact p is the binomial tail 2 * P(X <= 1 | 9, 1/2) = 20/512."""
    rows = []
    for k in range(12):
        smc_in, ref_in = (False, True) if k < 8 else (True, False) if k == 8 else (True, True)
        for method, inside in (("none", smc_in), ("reference-none", ref_in),
                               ("regression", True), ("reference-regression", True)):
            rows.append({"truth": k, "method": method, "parameter": "p", "inside": inside})
    table = pd.DataFrame(rows)
    pairs = paired(table).set_index("reading")
    accepted = pairs.loc["as accepted"]
    assert (accepted["truths"], accepted["smc_inside"], accepted["reference_inside"]) == (12, 4, 11)
    assert (accepted["smc_only_missed"], accepted["reference_only_missed"]) == (8, 1)
    assert accepted["mcnemar_p"] == pytest.approx(20 / 512)
    assert np.isnan(pairs.loc["adjusted", "mcnemar_p"]), "no discordant pair: no test"
    assert "| as accepted | `p` | 12 | 4 | 11 | 8 | 1 | 0.039 |" in paired_markdown(paired(table))
    # A truth without a reference is left out of the pairing.
    assert paired(table[~((table["truth"] == 0) & table["method"].str.startswith("reference"))]
                  ).set_index("reading").loc["as accepted", "truths"] == 11


def test_two_checks_of_the_same_records_are_paired_truth_by_truth():
    """The large check writes the default's records (only the calibration differs); the fine
    one does not. Pairing two checks: ten truths both ran (an eleventh only in the second is
    left out); the first misses three the second holds, the second one the first holds, so
    McNemar's p = 2 * P(X <= 1 | 4, 1/2) = 10/16; mean widths over the shared truths."""
    assert same_records(DEFAULT_SETUP, LARGE_SETUP) and not same_records(DEFAULT_SETUP, FINE_SETUP)
    assert LARGE_SETUP.particles == 2 * DEFAULT_SETUP.particles
    first, second = [], []
    for k in range(11):
        a, b = (False, True) if k < 3 else (True, False) if k == 3 else (True, True)
        for method in ("regression", "none"):
            if k < 10:
                first.append({"truth": k, "method": method, "parameter": "p", "inside": a,
                              "width_ratio": 0.4})
            second.append({"truth": k, "method": method, "parameter": "p",
                           "inside": b if method == "none" else True, "width_ratio": 0.2 + 0.02 * k})
    pairs = paired_setups(pd.DataFrame(first), pd.DataFrame(second)).set_index("reading")
    accepted = pairs.loc["as accepted"]
    assert (accepted["truths"], accepted["first_inside"], accepted["second_inside"]) == (10, 7, 9)
    assert (accepted["first_only_missed"], accepted["second_only_missed"]) == (3, 1)
    assert accepted["mcnemar_p"] == pytest.approx(10 / 16)
    assert accepted["first_width"] == pytest.approx(0.4)
    assert accepted["second_width"] == pytest.approx(0.2 + 0.02 * 4.5), "truth 10 is not shared"
    adjusted = pairs.loc["adjusted"]
    assert (adjusted["first_only_missed"], adjusted["second_only_missed"]) == (3, 0)
    assert "| as accepted | `p` | 10 | 7 | 9 | 3 | 1 | 0.62 | 0.40 | 0.29 |" in \
        paired_setups_markdown(paired_setups(pd.DataFrame(first), pd.DataFrame(second)), "a", "b")


def test_the_benchmark_pairs_a_large_check_with_the_folders_default_table(tmp_path: Path, capsys):
    """After a large check, the benchmark writes ``sbc-large-paired.csv`` against the folder's
    default truths table when that table is of the same seed, and nothing when it is not there or
    of another seed (it says why)."""
    import argparse
    import runpy

    bench = runpy.run_path(str(ROOT / "benchmarks" / "sbc.py"), run_name="sbc_bench")
    committed = pd.read_csv(COMMITTED.with_name("sbc-truths.csv"))
    default = committed[committed["truth"] < 3]
    large = default.assign(inside=True)  # stands for a large check's rows of the same truths
    args = argparse.Namespace(out=tmp_path, seed=0, setup="large")
    assert bench["pair_with_default"](LARGE_SETUP, large, args, "sbc-large") == []
    default.to_csv(tmp_path / "sbc-truths.csv", index=False)
    assert bench["pair_with_default"](FINE_SETUP, large, args, "sbc-fine") == [], "other records"
    written = bench["pair_with_default"](LARGE_SETUP, large, args, "sbc-large")
    assert written == [tmp_path / "sbc-large-paired.csv"]
    pd.testing.assert_frame_equal(pd.read_csv(written[0]), paired_setups(default, large), check_dtype=False)
    assert "| inside, default | inside, large |" in capsys.readouterr().out
    written[0].unlink()
    other = argparse.Namespace(out=tmp_path, seed=1, setup="large")
    assert bench["pair_with_default"](LARGE_SETUP, large, other, "sbc-large") == []
    assert "not paired with" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sbc-truths.csv"]


def test_same_rows_compares_values_not_dtypes():
    """The benchmark says whether its SMC rows equal the committed table's: fresh rows (object
    dtypes, all their digits) agree with the table they would be written as; an interval end
    changed in its sixth digit or a flipped ``inside`` does not."""
    committed = pd.read_csv(COMMITTED.with_name("sbc-truths.csv")).head(12)
    in_memory = committed.astype({"method": object, "parameter": object})
    assert same_rows(in_memory, committed)
    assert same_rows(in_memory.assign(q05=in_memory["q05"] * (1 + 1e-9)), committed), \
        "digits beyond the written six do not count"
    assert not same_rows(in_memory.assign(q05=in_memory["q05"] * (1 + 1e-5)), committed)
    assert not same_rows(in_memory.assign(inside=~in_memory["inside"]), committed)
    assert not same_rows(in_memory.head(6), committed)


def test_the_readme_states_the_committed_reference_numbers():
    """Every number of the README's "Which part narrows the intervals" paragraph comes from the
    committed reference run (docs/calibration/sbc-reference*.csv), and that run's SMC rows are
    the committed SBC's."""
    folder = COMMITTED.parent
    pairs = pd.read_csv(folder / "sbc-reference.csv")
    table = pd.read_csv(folder / "sbc-reference-truths.csv")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("**Which part narrows the intervals"):]
    section = section[:section.index("**Why the default stays")]
    assert paired_markdown(pairs) in section
    pd.testing.assert_frame_equal(paired(table), pairs, check_dtype=False)
    truths = int(pairs["truths"].max())
    assert truths == 100 and "truths 0–99" in section
    committed = pd.read_csv(folder / "sbc-truths.csv")
    smc = table[table["method"].isin(["regression", "none"])].reset_index(drop=True)
    assert same_rows(smc, committed[committed["truth"] < truths].reset_index(drop=True))
    accepted = table[table["method"] == "reference-none"].groupby("truth")["accepted"].first()
    assert len(accepted) == truths, "every truth has a reference"
    assert (f"({accepted.min():,.0f}–{accepted.max():,.0f} draws per truth, median "
            f"{accepted.median():.0f})") in section
    informed = pairs[pairs["parameter"] != "sides.*.command.violation_cost"]
    smc_only, ref_only = informed["smc_only_missed"].sum(), informed["reference_only_missed"].sum()
    assert (f"the SMC missed {smc_only} truths\n  that exact ABC held, and exact ABC missed "
            f"{ref_only}") in section
    row = pairs.set_index(["reading", "parameter"])
    clear = row.loc[("adjusted", "peacekeepers.recorded_per_incident_mean")]
    assert clear["mcnemar_p"] < 0.05 and (row["mcnemar_p"] >= 0.05).sum() == len(row) - 1
    assert f"{int(clear['smc_only_missed'])} to {int(clear['reference_only_missed'])} is clear,\n  p = " \
           f"{clear['mcnemar_p']:.2g}" in section
    ratio = {}
    for smc_method, ref_method in (("regression", "reference-regression"), ("none", "reference-none")):
        a = table[table["method"] == smc_method].set_index(["truth", "parameter"])["width_ratio"]
        b = table[table["method"] == ref_method].set_index(["truth", "parameter"])["width_ratio"]
        ratio[smc_method] = (a / b).xs("sides.*.force.ceasefire_rate_per_h", level="parameter").median()
    assert f"{ratio['regression']:.2f} for the adjusted rate and {ratio['none']:.2f} as accepted" in section
    rate = row.xs("sides.*.force.ceasefire_rate_per_h", level="parameter")["reference_inside"]
    assert rate.nunique() == 1 and f"in {rate.iloc[0]} of 100 records, in both readings" in section
    low, high = coverage_interval(int(rate.iloc[0]), truths)
    assert f"(95% interval {low:.2f}–{high:.2f})" in section
    mean = row.xs("peacekeepers.recorded_per_incident_mean", level="parameter")["reference_inside"]
    assert mean.nunique() == 1 and mean.iloc[0] > 0.95 * truths
    assert f"{mean.iloc[0]} of 100, adjusted or not" in section


def test_the_readme_states_the_committed_large_check_numbers():
    """The README's "Twice the particles" paragraph: its tables are the committed large check's
    (docs/calibration/sbc-large*.csv), its pairing is recomputed from the two truths tables, and
    every number in its prose comes from those tables and the exact-ABC reference's."""
    folder = COMMITTED.parent
    summary = pd.read_csv(folder / "sbc-large.csv")
    table = pd.read_csv(folder / "sbc-large-truths.csv")
    pairs = pd.read_csv(folder / "sbc-large-paired.csv")
    default = pd.read_csv(folder / "sbc-truths.csv")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("**Twice the particles"):]
    section = section[:section.index("**Why the default stays")]
    flat = " ".join(section.split())
    assert markdown(summary) in section and paired_setups_markdown(pairs, "default", "large") in section
    pd.testing.assert_frame_equal(paired_setups(default, table), pairs, check_dtype=False)
    truths = int(summary["truths"].max())
    assert truths == 100 and set(table["truth"]) == set(range(100)) and "100 truths (0–99)" in flat
    for k in (0, 57, 99):  # the same truths as the default check's
        assert np.allclose(table.loc[table["truth"] == k, "value"].to_numpy(),
                           default.loc[default["truth"] == k, "value"].to_numpy())
    assert (LARGE_SETUP.particles, LARGE_SETUP.budget) == (200, 16_000)
    assert "calibrated with 200 particles and a budget of 16,000 simulations" in flat
    import tomllib  # "The committed calibrations use 120–200 particles."
    specs = sorted(ROOT.glob("scenarios/*.calibration.toml")) + sorted(ROOT.glob("calibrations/*.toml"))
    particles = [tomllib.loads(f.read_text(encoding="utf-8"))["calibration"]["particles"] for f in specs]
    assert len(particles) >= 7
    assert f"The committed calibrations use {min(particles)}–{max(particles)} particles" in flat
    per_truth = table.groupby("truth").first()
    before = default[default["truth"] < 100].groupby("truth").first()["tolerance"].median()
    assert (f"({per_truth['populations'].min()}–{per_truth['populations'].max()} populations, final "
            f"tolerance median {per_truth['tolerance'].median():.2f}; {before:.2f} with 100 particles)"
            ) in flat
    # "The target is still not met": each reading has an informable parameter outside it.
    target = meets_target(summary)
    for method in ("regression", "none"):
        assert not target[summary["method"] == method].dropna().astype(bool).all(), method
    row = pairs.set_index(["reading", "parameter"])
    rate = row.xs("sides.*.force.ceasefire_rate_per_h", level="parameter").astype({"first_inside": int})
    assert rate["second_inside"].nunique() == 1
    was = rate["first_inside"]
    assert (f"hold the truth in {int(rate['second_inside'].iloc[0])} of 100 records in both readings, up "
            f"from {was['adjusted']} and {was['as accepted']}") in flat
    adjusted = rate.loc["adjusted"]
    moved = {5: "Five", 6: "Six", 7: "Seven"}[int(adjusted["first_only_missed"])]
    assert (f"{moved} truths moved in, none out (adjusted, McNemar p = {adjusted['mcnemar_p']:.2g})") in flat
    assert adjusted["second_only_missed"] == 0
    assert f"(mean width {adjusted['first_width']:.2f} to {adjusted['second_width']:.2f} adjusted)" in flat
    # Against the exact-ABC reference of the same truths.
    ref = pd.read_csv(folder / "sbc-reference-truths.csv")
    ref = ref[ref["method"].str.startswith("reference-")].assign(
        method=lambda t: t["method"].str.removeprefix("reference-"))
    against = paired_setups(table, ref)
    informed = against[against["parameter"] != "sides.*.command.violation_cost"]
    assert (f"the large check missed {informed['first_only_missed'].sum()} truths that exact ABC held, and "
            f"exact ABC missed {informed['second_only_missed'].sum()} that the large check held") in flat
    mean = row.xs("peacekeepers.recorded_per_incident_mean", level="parameter")["second_inside"].astype(int)
    low, high = coverage_interval(int(mean["adjusted"]), truths)
    assert (f"hold the truth in {mean['adjusted']} of 100 adjusted records and {mean['as accepted']} "
            f"as accepted (95% interval {low:.2f}–{high:.2f} for {mean['adjusted']})") in flat
    assert mean.min() > 0.95 * truths, "too often, in both readings"
    # "about 5 points narrower ... at 100 particles" (the 300-truth check's 0.847) "... (at 200
    # particles, not)".
    rate_300 = pd.read_csv(COMMITTED).set_index(["method", "parameter"]).loc[
        ("regression", "sides.*.force.ceasefire_rate_per_h"), "coverage"]
    now = int(rate.loc["adjusted", "second_inside"]) / truths
    assert (round(100 * (0.9 - rate_300)), round(100 * (0.9 - now))) == (5, 0)
    assert ("at 100 particles, its rate intervals came out about 5 points narrower than their "
            "nominal 90% (at 200 particles, not)") in " ".join(readme.split())
    exact = against.set_index(["reading", "parameter"]).loc[
        ("adjusted", "peacekeepers.recorded_per_incident_mean"), "second_inside"]
    assert f"as the exact target did at this tolerance ({exact} of 100)" in flat


def test_the_registered_check_is_the_large_setup_on_fresh_truths():
    """The check registered before it ran (docs/calibration/sbc-large-seed2/REGISTERED.md) names
    the large setup as it stands: a change to LARGE_SETUP while its run spans sessions would
    mix two setups in one table (its partial table was begun before the benchmark saved a
    setup beside it, so ``--resume`` can check only its truths' values, not the particles)."""
    registered = ROOT / "docs" / "calibration" / "sbc-large-seed2" / "REGISTERED.md"
    text = " ".join(registered.read_text(encoding="utf-8").split())
    assert "--setup large --truths 300 --seed 2 --workers 2 --out docs/calibration/sbc-large-seed2" in text
    assert (LARGE_SETUP.particles, LARGE_SETUP.budget) == (200, 16_000)
    assert "calibrated with 200 particles and a budget of 16,000 simulations" in text
    assert same_records(LARGE_SETUP, DEFAULT_SETUP), "the default check's scenario, priors and record"
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert "(`docs/calibration/sbc-large-seed2/REGISTERED.md`)" in readme


SEED2 = COMMITTED.parent / "sbc-large-seed2"


def test_the_readme_states_the_registered_fresh_truths_check():
    """The registered check (docs/calibration/sbc-large-seed2/, REGISTERED.md): 300 truths of
    seed 2 at the large setup. Its truths are seed 2's draws, its summary is its truths table's,
    the README's table is that summary, the verdicts it quotes are the benchmark's own target
    lines (in its committed printout, and recomputed here), and every number in its prose comes
    from these tables and seed 0's large check."""
    summary = pd.read_csv(SEED2 / "sbc-large.csv")
    table = pd.read_csv(SEED2 / "sbc-large-truths.csv")
    printout = (SEED2 / "output.txt").read_text(encoding="utf-8")
    names = {p.name for p in SEED2.iterdir()} - {"sbc-large-setup.json"}  # a rerun saves its setup
    assert names == {"REGISTERED.md", "output.txt", "sbc-large-truths.csv", "sbc-large.csv", "sbc-large.png"}
    truths = 300
    assert set(table["truth"]) == set(range(truths)) and set(summary["truths"]) == {truths}
    paths = [p.path for p in LARGE_SETUP.priors]
    for k in (0, 1, 150, 298, 299):  # seed 2's truths, drawn as the registration says
        part = table[(table["truth"] == k) & (table["method"] == "none")].set_index("parameter")
        assert np.allclose(part.loc[paths, "value"].to_numpy(), draw_truth(LARGE_SETUP, 2, k), rtol=1e-5)
    pd.testing.assert_frame_equal(summarize(table, LARGE_SETUP.priors), summary, check_dtype=False)
    assert markdown(summary) in printout
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("**Fresh truths, registered (seed 2)"):]
    section = section[:section.index("**Why the default stays")]
    flat = " ".join(section.split())
    assert markdown(summary) in section
    target = meets_target(summary)
    for method, label in (("regression", "adjusted posterior"), ("none", "posterior as accepted")):
        rows = (summary["method"] == method) & summary["informable"]
        informable = summary.loc[rows, "parameter"].tolist()
        assert informable == paths[:2], "the rate and the recorded mean, not the commitment cost"
        met = bool(target[rows].astype(bool).all())
        line = (f"target, {label} (coverage in [0.85, 0.95] for informable {', '.join(informable)}): "
                f"{'met' if met else 'NOT MET'}")
        assert line in printout and f"`{line}`" in flat, line
        assert met, "the README says both lines say met"
    assert "both say met" in flat and "**The issue's SBC figure is met on fresh truths**" in flat
    assert ("on 300 fresh truths both parameters' coverage lies within the target in both readings"
            in " ".join(readme.split()))
    assert (f"The large setup ({LARGE_SETUP.particles} particles, budget {LARGE_SETUP.budget:,}) on "
            f"{truths} truths that no earlier check had drawn, truths 0–{truths - 1} of seed 2") in flat
    # The run's shape, from the printout's summary line and the truths table.
    shape = re.search(r"300 truths \((\d+) run now, (\d+) kept\), seed 2, 2 workers, (\d+) s; each "
                      r"calibration: 200 particles, budget 16000; populations (\d+)–(\d+), final "
                      r"tolerance median ([\d.]+)", printout)
    now, kept, seconds = int(shape[1]), int(shape[2]), int(shape[3])
    assert now + kept == truths
    per_truth = table.groupby("truth").first()
    assert (int(shape[4]), int(shape[5])) == (per_truth["populations"].min(), per_truth["populations"].max())
    assert f"{float(shape[6]):.3g}" == f"{per_truth['tolerance'].median():.3g}"
    assert (f"the last one ran {now} truths in {seconds:,} s on 2 workers ({round(seconds / now)} s a "
            f"truth; {shape[4]}–{shape[5]} populations, final tolerance median "
            f"{per_truth['tolerance'].median():.2f})") in flat
    # The plain reading.
    row = summary.set_index(["method", "parameter"])
    rate, mean, cost = paths
    widths = [f"{row.loc[(m, p), 'mean_width_ratio']:.2f}"
              for m in ("regression", "none") for p in (rate, mean)]
    assert (f"mean widths of {widths[0]} and {widths[1]} of the prior's (adjusted) and {widths[2]} and "
            f"{widths[3]} (as accepted): at most half") in flat
    assert max(map(float, widths)) <= 0.5
    assert (f"(widths {row.loc[('regression', cost), 'mean_width_ratio']:.2f} and "
            f"{row.loc[('none', cost), 'mean_width_ratio']:.2f}; coverage "
            f"{row.loc[('regression', cost), 'coverage']:.3f} and {row.loc[('none', cost), 'coverage']:.3f})"
            ) in flat
    low, high = stats.binom.ppf([0.005, 0.995], truths, 0.1)
    counts = summary[[f"rank_{b}" for b in range(10)]].to_numpy()
    assert ((counts >= low) & (counts <= high)).all() and len(summary) == 6
    assert "Every bin of the six rank histograms lies inside the 99% band of a uniform one" in flat
    adj_mean, acc_mean = row.loc[("regression", mean)], row.loc[("none", mean)]
    assert (f"{adj_mean['inside']} of 300 ({adj_mean['coverage']:.3f}) has a 95% interval of "
            f"{adj_mean['coverage_low']:.2f}–{adj_mean['coverage_high']:.2f}, which reaches below") in flat
    assert adj_mean["coverage_low"] < 0.85
    tail = stats.binom.sf(acc_mean["inside"] - 1, truths, 0.9)
    assert (f"({acc_mean['inside']} of 300, P(≥ {acc_mean['inside']} of 300) = {tail:.3f} for exact "
            "90% intervals)") in flat
    registered = " ".join((SEED2 / "REGISTERED.md").read_text(encoding="utf-8").split())
    assert "the recorded mean near 0.93-0.95; as accepted, the recorded mean above 0.95" in registered
    assert (f"expected the adjusted recorded mean near 0.93–0.95 and got {adj_mean['coverage']:.3f}; we "
            f"expected it above 0.95 as accepted and got {acc_mean['coverage']:.3f}") in flat
    assert "the rate near 0.87-0.90" in registered
    adj_rate = row.loc[("regression", rate), "coverage"]
    assert 0.87 <= adj_rate <= 0.90 and f"The adjusted rate came where expected ({adj_rate:.3f})" in flat
    seed0 = pd.read_csv(COMMITTED.with_name("sbc-large.csv")).set_index(["method", "parameter"])
    seed0_mean = seed0.loc[("regression", mean)]
    p = stats.fisher_exact([[seed0_mean["inside"], seed0_mean["truths"] - seed0_mean["inside"]],
                            [adj_mean["inside"], truths - adj_mean["inside"]]]).pvalue
    assert (f"held the adjusted recorded mean {seed0_mean['inside']} times in {seed0_mean['truths']}, were "
            f"not typical: against {adj_mean['inside']} of 300 here, Fisher's exact p = {p:.1g}") in flat
