"""Where an experiment batch lives on disk: parts written as chunks finish, whole tables at the end.

A batch folder holds:

- ``manifest.json``: what was run (spec hash, versions, seed, counts, timings, status);
- ``points.<fmt>``: one row per parameter point;
- ``parts/``: while the batch runs, one ``series-<first run>`` and one ``outcomes-<first run>``
  file per finished chunk of runs (each chunk covers consecutive run indices);
- ``outcomes.<fmt>`` and ``series.<fmt>``: once every run is done, the parts joined in run
  order; ``parts/`` is then removed.

Every file is written under a temporary name and renamed into place, so a killed batch leaves
only whole files. A chunk's series part is written before its outcomes part, and the outcomes
parts alone say which runs are done: a resumed batch neither loses nor repeats a run.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.studies.tables import write_atomic

FORMATS = ("parquet", "csv")
ROW_GROUP = 65_536
"""Rows per Parquet row group of the joined tables: fixed, so the files are byte-identical
however the runs were chunked."""
MANIFEST = "manifest.json"
TABLES = ("outcomes", "series")


class BatchStore:
    """The files of one batch folder, in Parquet (pyarrow) or CSV.

    ``columns`` maps each table (``outcomes``, ``series``) to its column types (``int``,
    ``float``, ``bool``, ``str``), so every part has the same schema.
    """

    def __init__(self, folder: str | Path, fmt: str, columns: Mapping[str, Mapping[str, str]]) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
        self.folder = Path(folder)
        self.fmt = fmt
        self.columns = {name: dict(cols) for name, cols in columns.items()}
        self.parts = self.folder / "parts"

    # -- paths -----------------------------------------------------------------------------------
    def table_path(self, name: str) -> Path:
        """The joined table ``name`` (``outcomes``, ``series`` or ``points``)."""
        return self.folder / f"{name}.{self.fmt}"

    def _part_path(self, name: str, first_run: int) -> Path:
        return self.parts / f"{name}-{first_run:09d}.{self.fmt}"

    def _part_files(self, name: str) -> list[Path]:
        if not self.parts.is_dir():
            return []
        return sorted(self.parts.glob(f"{name}-*.{self.fmt}"))

    # -- manifest --------------------------------------------------------------------------------
    def read_manifest(self) -> dict[str, Any] | None:
        """The folder's manifest, or None if it has none."""
        path = self.folder / MANIFEST
        if not path.is_file():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def write_manifest(self, manifest: Mapping[str, Any]) -> Path:
        """Write ``manifest.json`` atomically."""
        self.folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(manifest, indent=2, sort_keys=False, allow_nan=False) + "\n"
        return write_atomic(self.folder / MANIFEST, lambda tmp: tmp.write_text(text, encoding="utf-8"))

    # -- writing ---------------------------------------------------------------------------------
    def start(self, points: pd.DataFrame, *, fresh: bool) -> None:
        """Prepare the folder; ``fresh`` removes an earlier batch's tables and parts first."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if fresh:
            shutil.rmtree(self.parts, ignore_errors=True)
            for name in (*TABLES, "points"):
                for fmt in FORMATS:
                    (self.folder / f"{name}.{fmt}").unlink(missing_ok=True)
        self.parts.mkdir(exist_ok=True)
        self._drop_orphans()
        self._write(points, self.table_path("points"), None)

    def write_chunk(self, outcomes: Mapping[str, np.ndarray],
                    series: Mapping[str, np.ndarray] | None) -> None:
        """Record one finished chunk (consecutive runs): its series part, then its outcomes part."""
        first = int(outcomes["run"][0])
        if series is not None:
            self._write(series, self._part_path("series", first), self.columns["series"])
        self._write(outcomes, self._part_path("outcomes", first), self.columns["outcomes"])

    def done_runs(self) -> np.ndarray:
        """Run indices already recorded, sorted (from the outcomes parts, or the joined table)."""
        if self.table_path("outcomes").is_file() and not self._part_files("outcomes"):
            return np.sort(self._read_runs(self.table_path("outcomes")))
        runs = [self._read_runs(p) for p in self._part_files("outcomes")]
        done = np.sort(np.concatenate(runs)) if runs else np.empty(0, dtype=np.int64)
        if done.size and np.any(np.diff(done) == 0):
            raise ValueError(f"{self.parts}: a run is recorded twice; the folder is corrupt")
        return done

    def finish(self, expected_runs: int) -> None:
        """Join the parts into ``outcomes`` and ``series`` tables in run order; remove the parts."""
        for name in TABLES:
            files = self._part_files(name)
            if name == "series" and not files:
                continue
            self._join(name, files, expected_runs if name == "outcomes" else None)
        shutil.rmtree(self.parts, ignore_errors=True)

    def _drop_orphans(self) -> None:
        """Series parts whose outcomes part never came (a chunk killed in between)."""
        done = {p.name.removeprefix("outcomes-") for p in self._part_files("outcomes")}
        for p in self._part_files("series"):
            if p.name.removeprefix("series-") not in done:
                p.unlink()

    # -- formats ---------------------------------------------------------------------------------
    def _write(self, columns: Mapping[str, Any] | pd.DataFrame, path: Path,
               types: Mapping[str, str] | None) -> Path:
        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            table = _arrow_table(columns, types)
            return write_atomic(path, lambda tmp: pq.write_table(table, tmp))
        frame = columns if isinstance(columns, pd.DataFrame) else pd.DataFrame(dict(columns))
        return write_atomic(path, lambda tmp: frame.to_csv(tmp, index=False, lineterminator="\n"))

    def _read_runs(self, path: Path) -> np.ndarray:
        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path, columns=["run"]).column("run").to_numpy()
        return pd.read_csv(path, usecols=["run"])["run"].to_numpy(dtype=np.int64)

    def _join(self, name: str, files: list[Path], expected_runs: int | None) -> None:
        """Concatenate parts (disjoint runs, sorted by first run) without holding them all."""
        target = self.table_path(name)
        last = -1
        total = 0

        def check(runs: np.ndarray) -> None:
            nonlocal last, total
            if runs.size and (runs[0] <= last or np.any(np.diff(runs) < 0)):
                raise ValueError(f"{self.parts}: parts overlap; the folder is corrupt")
            last = int(runs[-1]) if runs.size else last
            total += int(np.unique(runs).size)

        if self.fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            schema = _arrow_schema(self.columns[name])

            def write(tmp: Path) -> None:
                with pq.ParquetWriter(tmp, schema) as writer:
                    for batch in _rebatch((pq.read_table(f) for f in files), ROW_GROUP, check):
                        writer.write_table(batch, row_group_size=ROW_GROUP)
                    if total == 0:
                        writer.write_table(pa.Table.from_pylist([], schema=schema))
        else:
            def write(tmp: Path) -> None:
                with tmp.open("w", encoding="utf-8", newline="") as out:
                    for i, f in enumerate(files):
                        with f.open(encoding="utf-8", newline="") as part:
                            header = part.readline()
                            if i == 0:
                                out.write(header)
                            check(pd.read_csv(f, usecols=["run"])["run"].to_numpy())
                            shutil.copyfileobj(part, out)
                    if not files:
                        out.write(",".join(self.columns[name]) + "\n")

        write_atomic(target, write)
        if expected_runs is not None and total != expected_runs:
            target.unlink(missing_ok=True)
            raise ValueError(f"{self.parts}: {total} runs recorded, {expected_runs} expected")


def read_table(path: Path) -> pd.DataFrame:
    """A batch table (Parquet or CSV) as a DataFrame."""
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path)


def _rebatch(tables: Iterator[Any], size: int, check: Any) -> Iterator[Any]:
    """Arrow tables re-cut into pieces of exactly ``size`` rows (the last may be shorter)."""
    import pyarrow as pa

    pending: list[Any] = []
    rows = 0
    for table in tables:
        check(table.column("run").to_numpy())
        pending.append(table)
        rows += table.num_rows
        while rows >= size:
            joined = pa.concat_tables(pending)
            yield joined.slice(0, size)
            pending = [joined.slice(size)]
            rows -= size
    if rows:
        yield pa.concat_tables(pending)


_ARROW_TYPES = {"int": "int64", "float": "float64", "bool": "bool_", "str": "string"}


def _arrow_schema(types: Mapping[str, str]) -> Any:
    import pyarrow as pa

    return pa.schema([(name, getattr(pa, _ARROW_TYPES[t])()) for name, t in types.items()])


def _arrow_table(columns: Mapping[str, Any] | pd.DataFrame, types: Mapping[str, str] | None) -> Any:
    import pyarrow as pa

    if isinstance(columns, pd.DataFrame) or types is None:
        return pa.Table.from_pandas(pd.DataFrame(columns), preserve_index=False)
    schema = _arrow_schema(types)
    return pa.table({name: pa.array(columns[name], type=schema.field(name).type) for name in types},
                    schema=schema)
