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


def test_the_figure_is_committed():
    assert (DOCS / "leave-one-out.png").stat().st_size > 10_000
