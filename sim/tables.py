"""Tables to files: CSV written atomically, byte for byte as pandas writes it, but fast.

``ceasefire run`` writes hundreds of thousands of event rows; pandas' ``to_csv`` formats every
cell in Python (about 1.4 s per 100 Karabakh runs). Here each column becomes an Arrow string
array (integers and booleans by Arrow's C++ kernels, floats through ``float_format`` once per
distinct value), the rows are joined by Arrow, and the file is written in one piece. The bytes
are those of ``frame.to_csv(index=False, float_format=..., lineterminator="\\n")``
(tests/test_tables.py holds it to that); any column this fast path does not cover (categories,
dates, nullable integers, text that would need quoting) and a missing pyarrow fall back to pandas.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

NEEDS_QUOTING = r'[,"\r\n]'
"""Characters that make the csv module quote a field (separator, quote, line breaks)."""


def write_csv_atomic(frame: pd.DataFrame, path: Path, *, float_format: str | None = "%.6g") -> Path:
    """Write ``frame`` as CSV (no index, ``\\n`` line ends, floats as ``float_format``) next to
    its destination, then rename it into place: never half a file. Returns ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pieces = _arrow_csv(frame, float_format)
        if pieces is None:
            frame.to_csv(tmp, index=False, float_format=float_format, lineterminator="\n")
        else:
            with tmp.open("wb") as fh:
                for piece in pieces:
                    fh.write(piece)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def csv_bytes(frame: pd.DataFrame, *, float_format: str | None = "%.6g") -> bytes:
    """The bytes :func:`write_csv_atomic` writes for ``frame``."""
    pieces = _arrow_csv(frame, float_format)
    if pieces is None:
        return frame.to_csv(index=False, float_format=float_format, lineterminator="\n").encode()
    return b"".join(bytes(p) for p in pieces)


def _arrow_csv(frame: pd.DataFrame, float_format: str | None) -> list[Any] | None:
    """The CSV as byte pieces (header, rows), or None where pandas must write it."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
    except ImportError:  # pragma: no cover - pyarrow is a core dependency
        return None
    names = list(frame.columns)
    # A one-column CSV quotes empty fields; duplicate or non-text names: leave them to pandas.
    if len(names) < 2 or len(set(names)) != len(names) or not all(isinstance(n, str) for n in names):
        return None
    if any(ch in name for name in names for ch in ',"\r\n'):
        return None
    header = (",".join(names) + "\n").encode()
    if len(frame) == 0:
        return [header]
    fmt: Callable[[float], str] = (lambda x: float_format % x) if float_format else repr
    columns = []
    for name in names:
        col = _text_column(frame[name], fmt, pa, pc)
        if col is None:
            return None
        columns.append(col)
    text = pa.large_string()
    # The line end rides on the last field, so one join makes the whole body.
    columns[-1] = pc.binary_join_element_wise(columns[-1], pa.scalar("", text), pa.scalar("\n", text))
    lines = pc.binary_join_element_wise(*columns, pa.scalar(",", text))
    _, offsets, data = lines.buffers()
    ends = np.frombuffer(offsets, dtype=np.int64)[lines.offset:lines.offset + len(lines) + 1]
    return [header, data.slice(int(ends[0]), int(ends[-1] - ends[0]))]


def _text_column(col: pd.Series, fmt: Callable[[float], str], pa: Any, pc: Any) -> Any:
    """One column as an Arrow large_string array of CSV fields, or None if pandas must do it."""
    dtype = col.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return pc.cast(pa.array(col.to_numpy()), pa.large_string())
    if isinstance(dtype, np.dtype) and dtype.kind == "b":
        words = pa.array(["False", "True"], pa.large_string())
        return pc.take(words, pa.array(col.to_numpy().view(np.uint8)))
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        # Each distinct value is formatted once (severities, step times repeat a lot).
        distinct, index = np.unique(col.to_numpy(), return_inverse=True)
        words = pa.array(["" if x != x else fmt(x) for x in distinct.tolist()], pa.large_string())
        return pc.take(words, pa.array(index.reshape(-1)))
    if isinstance(dtype, pd.StringDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "O"):
        try:
            arr = pa.array(col, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return None
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            return None  # e.g. an object column of numbers
        arr = pc.fill_null(pc.cast(arr, pa.large_string()), "")
        if pc.any(pc.match_substring_regex(arr, NEEDS_QUOTING)).as_py():
            return None
        return arr
    return None
