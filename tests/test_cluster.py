"""The Dask path: a LocalCluster of two worker processes gives the process pool's results."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("distributed")
pytest.importorskip("pyarrow")

from distributed import LocalCluster

from sim.studies import experiment

SPEC = """\
[experiment]
name = "cluster"
scenario = "classroom-two-villages"
seed = 3
replicates = 12
horizon_h = 12
series_min = 30

[grid]
"sides.*.force.retaliation.policy" = ["proportional", "grudger", "restrained"]
"""


def test_local_cluster_equals_the_process_pool(tmp_path: Path) -> None:
    spec = tmp_path / "cluster.toml"
    spec.write_text(SPEC, encoding="utf-8")
    pool = experiment.run(spec, workers=2, out=tmp_path / "pool", progress=False)
    # ":0": the scheduler's HTTP server on a free port. With None it still binds 8787 and fails
    # when another cluster holds it (CI runs the 3.11 and 3.12 suites side by side).
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0") as cluster:
        dask = experiment.run(spec, scheduler=cluster.scheduler_address, out=tmp_path / "dask",
                              progress=False)
    assert dask.manifest["sessions"][0]["scheduler"] == cluster.scheduler_address
    for name in ("outcomes.parquet", "series.parquet"):
        assert (dask.folder / name).read_bytes() == (pool.folder / name).read_bytes(), name
    assert dask.outcomes["run"].tolist() == list(range(36))


def test_an_unreachable_scheduler_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(experiment, "CONNECT_TIMEOUT", "1s")
    spec = tmp_path / "cluster.toml"
    spec.write_text(SPEC, encoding="utf-8")
    with pytest.raises(experiment.SpecError, match=r"--scheduler tcp://127\.0\.0\.1:9: cannot connect"):
        experiment.run(spec, scheduler="tcp://127.0.0.1:9", out=tmp_path / "o", progress=False)
