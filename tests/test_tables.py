"""CSV tables: written fast through Arrow, atomically, and byte for byte as pandas writes them."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.studies import tables
from sim.studies.runner import run_replicates
from sim.studies.tables import csv_bytes, write_csv_atomic


def _pandas(frame: pd.DataFrame, float_format: str | None = "%.6g") -> bytes:
    return frame.to_csv(index=False, float_format=float_format, lineterminator="\n").encode()


def _fast_path_taken(frame: pd.DataFrame, float_format: str | None = "%.6g") -> bool:
    return tables._arrow_fields(frame, float_format) is not None


@pytest.fixture(scope="module")
def results():
    return run_replicates("classroom-two-villages", runs=3, seed=5, horizon_h=6, progress=False)


@pytest.mark.parametrize("table", ["events", "steps", "outcomes", "decisions", "daily"])
def test_run_tables_are_written_as_pandas_writes_them(results, table: str) -> None:
    frame = getattr(results, table)
    assert _fast_path_taken(frame) or len(frame.columns) < 2
    assert csv_bytes(frame) == _pandas(frame)


def _awkward() -> pd.DataFrame:
    return pd.DataFrame({
        "i": np.array([0, -3, 2**62, 7], dtype=np.int64),
        "u": np.array([0, 1, 2**63, 9], dtype=np.uint64),
        "f": [np.nan, -0.0, 1e-7, 123456789.0],
        "g": [np.inf, -np.inf, 0.1 + 0.2, 5e-324],
        "z": [0.0, -0.0, 0.0, -0.0],  # equal, yet written "0" and "-0"
        "b": [True, False, True, False],
        "s": pd.array(["", None, "Xankəndi", "a b"], dtype="str"),
        "o": np.array(["x", np.nan, None, "y"], dtype=object),
        "one": 1.5,
    })


@pytest.mark.parametrize("float_format", ["%.6g", "%.3f", None])
def test_awkward_values_are_written_as_pandas_writes_them(float_format: str | None) -> None:
    frame = _awkward()
    assert _fast_path_taken(frame, float_format)
    assert csv_bytes(frame, float_format=float_format) == _pandas(frame, float_format)


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"a": [1, 2], "s": ["needs, quoting", "x"]}),
    pd.DataFrame({"a": [1, 2], "s": ['a "quote"', "x"]}),
    pd.DataFrame({"a": [1, 2], "s": ["two\nlines", "x"]}),
    pd.DataFrame({"a": [1, 2], "c": pd.Categorical(["p", "q"])}),
    pd.DataFrame({"a": [1, 2], "n": pd.array([1, None], dtype="Int64")}),
    pd.DataFrame({"a": [1, 2], "m": np.array([1, "x"], dtype=object)}),
    pd.DataFrame({"only": ["", "x"]}),
    pd.DataFrame({"a,b": [1], "c": [2]}),
    pd.DataFrame(),
], ids=["comma", "quote", "newline", "category", "nullable-int", "mixed-object", "one-column",
        "header-needs-quoting", "no-columns"])
def test_what_the_fast_path_does_not_cover_is_left_to_pandas(frame: pd.DataFrame) -> None:
    assert not _fast_path_taken(frame)
    assert csv_bytes(frame) == _pandas(frame)


def test_no_rows_is_the_header_alone() -> None:
    frame = _awkward().iloc[:0]
    assert csv_bytes(frame) == _pandas(frame) == b"i,u,f,g,z,b,s,o,one\n"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2**63, 2**63 - 1),
                          st.booleans(), st.text(alphabet=st.characters(blacklist_characters=',"\r\n',
                                                                        blacklist_categories=("Cs",)))),
                min_size=1, max_size=40))
def test_any_values_are_written_as_pandas_writes_them(rows: list[tuple]) -> None:
    frame = pd.DataFrame(rows, columns=["f", "i", "b", "s"]).astype({"s": "str"})
    assert csv_bytes(frame) == _pandas(frame)


def test_without_pyarrow_pandas_writes_the_same_bytes(results, tmp_path: Path, monkeypatch) -> None:
    fast = write_csv_atomic(results.events, tmp_path / "fast.csv").read_bytes()
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # `import pyarrow` now raises ImportError
    assert tables._arrow_fields(results.events, "%.6g") is None
    assert write_csv_atomic(results.events, tmp_path / "slow.csv").read_bytes() == fast


def test_write_is_atomic(results, tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "events.csv"
    target.write_text("the old file\n")

    def fail(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tables.os, "replace", fail)
    with pytest.raises(OSError):
        write_csv_atomic(results.events, target)
    assert target.read_text() == "the old file\n"  # never half a file
    assert [p.name for p in tmp_path.iterdir()] == ["events.csv"]  # no temporary left behind
