"""Tables to files: CSV written atomically, byte for byte as pandas writes it, but fast.

``ceasefire run`` writes hundreds of thousands of event rows; pandas' ``to_csv`` formats every
cell in Python (about 1.5 s for 300 Karabakh runs). Here each column becomes an Arrow string
array (integers and booleans by Arrow's C++ kernels, floats through ``float_format`` once per
distinct value) and Arrow's CSV writer writes the rows (about 0.3 s). The bytes
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

NEEDS_QUOTING = (b",", b'"', b"\r", b"\n")
"""Characters that make the csv module quote a field (separator, quote, line breaks)."""


def write_atomic(path: Path, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place: never
    half a file. Returns ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_csv_atomic(frame: pd.DataFrame, path: Path, *, float_format: str | None = "%.6g") -> Path:
    """Write ``frame`` as CSV (no index, ``\\n`` line ends, floats as ``float_format``) next to
    its destination, then rename it into place: never half a file. Returns ``path``."""
    def write(tmp: Path) -> None:
        fields = _arrow_fields(frame, float_format)
        if fields is None:
            frame.to_csv(tmp, index=False, float_format=float_format, lineterminator="\n")
        else:
            import pyarrow as pa

            with pa.OSFile(str(tmp), "wb") as sink:
                _write_fields(fields, sink)
    return write_atomic(path, write)


def csv_bytes(frame: pd.DataFrame, *, float_format: str | None = "%.6g") -> bytes:
    """The bytes :func:`write_csv_atomic` writes for ``frame``."""
    fields = _arrow_fields(frame, float_format)
    if fields is None:
        return frame.to_csv(index=False, float_format=float_format, lineterminator="\n").encode()
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    _write_fields(fields, sink)
    return sink.getvalue().to_pybytes()


def _write_fields(fields: tuple[bytes, Any, Any], sink: Any) -> None:
    """The header, then the rows: fields that need no quoting, by Arrow's CSV writer."""
    header, table, options = fields
    sink.write(header)
    if table is not None:
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, sink, options)


def _arrow_fields(frame: pd.DataFrame, float_format: str | None) -> tuple[bytes, Any, Any] | None:
    """(header, an Arrow table of the CSV fields as text, writer options), or None where pandas
    must write the file (no pyarrow, or a column the fast path does not cover)."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pacsv

        # quoting_style="none": the fields are checked to need no quotes, as pandas writes them.
        options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    except (ImportError, TypeError):  # pragma: no cover - pyarrow (>= 14) is a core dependency
        return None
    names = list(frame.columns)
    # A one-column CSV quotes empty fields; duplicate or non-text names: leave them to pandas.
    if len(names) < 2 or len(set(names)) != len(names) or not all(isinstance(n, str) for n in names):
        return None
    if any(ch in name.encode() for name in names for ch in NEEDS_QUOTING):
        return None
    header = (",".join(names) + "\n").encode()
    if len(frame) == 0:
        return header, None, options
    fmt: Callable[[float], str] = (lambda x: float_format % x) if float_format else repr
    columns = []
    for name in names:
        col = _text_column(frame[name], fmt, pa, pc)
        if col is None:
            return None
        columns.append(col)
    return header, pa.table(columns, names=names), options


def _text_column(col: pd.Series, fmt: Callable[[float], str], pa: Any, pc: Any) -> Any:
    """One column as an Arrow large_string array of CSV fields, or None if pandas must do it."""
    dtype = col.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return pc.cast(pa.array(col.to_numpy()), pa.large_string())
    if isinstance(dtype, np.dtype) and dtype.kind == "b":
        words = pa.array(["False", "True"], pa.large_string())
        return pc.take(words, pa.array(col.to_numpy().view(np.uint8)))
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        # Each distinct value is formatted once (severities, step times repeat a lot); distinct
        # by bit pattern, since 0.0 == -0.0 but "%g" writes "-0".
        bits, index = np.unique(col.to_numpy(dtype=np.float64).view(np.int64), return_inverse=True)
        distinct = bits.view(np.float64)
        words = pa.array(["" if x != x else fmt(x) for x in distinct.tolist()], pa.large_string())
        return pc.take(words, pa.array(index.reshape(-1)))
    if isinstance(dtype, pd.StringDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "O"):
        try:
            arr = pa.array(col, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return None
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            return None  # e.g. an object column of numbers
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        # A plain byte search of the text (a regex per value costs more than the rest together).
        text = arr.buffers()[2]
        if text is not None and any(ch in text.to_pybytes() for ch in NEEDS_QUOTING):
            return None
        return pc.fill_null(pc.cast(arr, pa.large_string()), "")
    return None
