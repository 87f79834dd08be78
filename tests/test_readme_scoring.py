"""The README's "Forecast skill" numbers are the committed leave-one-out CSVs' numbers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sim.studies import loro

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "scoring"
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(("csv", "render"), [
    ("leave-one-out.csv", loro.readme_table),
    ("leave-one-out-widths.csv", loro.readme_widths),
    ("variants.csv", loro.readme_variants),
    ("leave-one-out.csv", loro.readme_brier),
])
def test_the_readme_shows_the_committed_tables(csv, render):
    table = pd.read_csv(DOCS / csv, keep_default_na=True)
    assert render(table) in README


def test_the_readme_compares_the_run_with_its_priors_ablation():
    """The own-parameter comparison is the two committed runs', and the ablation's fold
    calibrations and baselines are the main run's (only the model's own draws differ)."""
    pre = pd.read_csv(DOCS / "leave-one-out.csv")
    priors = pd.read_csv(DOCS / "own-from-priors" / "leave-one-out.csv")
    assert loro.readme_own_comparison(pre, priors) in README
    base = ~pre["predictor"].isin(["model", "no-commitment"])
    pd.testing.assert_frame_equal(pre.loc[base, ["record", "predictor", "crps"]].reset_index(drop=True),
                                  priors.loc[base, ["record", "predictor", "crps"]].reset_index(drop=True))
    ablation = {"priors (own_from=priors)", "none: the record has no own parameters"}
    assert set(priors["own_from"].dropna()) <= ablation
    assert pre["own_from"].str.startswith("pre-ceasefire posterior").all()
    pd.testing.assert_frame_equal(pd.read_csv(DOCS / "leave-one-out-widths.csv"),
                                  pd.read_csv(DOCS / "own-from-priors" / "leave-one-out-widths.csv"))


def test_the_figure_is_committed():
    assert (DOCS / "leave-one-out.png").stat().st_size > 10_000
