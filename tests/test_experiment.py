"""Experiment batches: seeding, identical results for any worker count, resume, spec errors, CLI."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyarrow")
pytest.importorskip("scipy")

from sim.faces import cli
from sim.model.scenario import bundled_path
from sim.studies import experiment
from sim.studies.experiment import SpecError, load_spec
from sim.studies.runner import run_one

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"

SMALL = """\
[experiment]
name = "small"
scenario = "classroom-two-villages"
seed = 11
replicates = {replicates}
horizon_h = 12
samples = 2
outcomes = ["first_violation_min", "violations_per_h", "sections_active", "collapse_min", "held"]
series_min = 60

[grid]
"sides.*.force.retaliation.policy" = ["tit_for_tat", "restrained"]

[sample]
"mediator.effectiveness" = {{ low = 0.1, high = 0.9 }}
"mediator.capacity_per_day" = {{ low = 1, high = 4, distribution = "integer" }}

[figure]
kind = "erosion_curves"
by = "sides.*.force.retaliation.policy"
"""
"""4 points (2 policies × 2 sampled points) on the classroom scenario, 12 h: about 3 ms a run."""


def write_spec(folder: Path, replicates: int = 6, text: str = SMALL) -> Path:
    path = folder / "small.toml"
    path.write_text(text.format(replicates=replicates), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> experiment.BatchResults:
    """The small batch, uninterrupted, in this process."""
    folder = tmp_path_factory.mktemp("reference")
    return experiment.run(write_spec(folder), workers=1, out=folder / "out", progress=False)


def test_each_run_is_seeded_by_its_index_alone(reference: experiment.BatchResults) -> None:
    out = reference.outcomes
    exp = reference.experiment
    points = len(exp.points)
    assert points == 4 and exp.runs == 24
    assert out["run"].tolist() == list(range(exp.runs))
    assert (out["point"] == out["run"] % points).all()
    assert (out["replicate"] == out["run"] // points).all()
    # Run 13 is replicate 3 of point 1: the same as running it alone with the point's overrides.
    row = out.iloc[13]
    alone = run_one(exp.scenario, 11, 13, overrides=exp.points[1], keep_events=False, keep_steps=False)
    assert row["violations_per_h"] == alone.outcomes["violations_per_h"]
    assert row["mediator.effectiveness"] == exp.points[1]["mediator.effectiveness"]
    assert row["sides.*.force.retaliation.policy"] == "tit_for_tat"


def test_series_adds_up_to_the_outcomes(reference: experiment.BatchResults) -> None:
    series = reference.series
    out = reference.outcomes.set_index("run")
    bins = series.groupby("run")["t_min"].count()
    assert (bins == (12 + 4)).all()  # classroom starts at -240 min; 60-min bins to 12 h
    post = series[series["t_min"] >= 0].groupby("run")["incidents"].sum()
    assert np.allclose(post / 12.0, out["violations_per_h"])
    parts = series[["initiated", "retaliation", "spillover"]].sum(axis=1)
    assert (parts == series["incidents"]).all()


def test_one_and_two_workers_give_byte_identical_files(reference: experiment.BatchResults,
                                                      tmp_path: Path) -> None:
    two = experiment.run(reference.experiment, workers=2, out=tmp_path / "two", progress=False)
    for name in ("outcomes.parquet", "series.parquet"):
        assert (two.folder / name).read_bytes() == (reference.folder / name).read_bytes(), name
    assert two.manifest["spec_hash"] == reference.manifest["spec_hash"]


def test_csv_holds_the_same_numbers(reference: experiment.BatchResults, tmp_path: Path) -> None:
    csv = experiment.run(reference.experiment, workers=1, out=tmp_path / "csv", fmt="csv", progress=False)
    assert (tmp_path / "csv" / "outcomes.csv").is_file()
    pd.testing.assert_frame_equal(csv.outcomes, reference.outcomes, check_dtype=False)
    pd.testing.assert_frame_equal(csv.series, reference.series, check_dtype=False)


def test_manifest_records_what_ran(reference: experiment.BatchResults) -> None:
    m = json.loads((reference.folder / "manifest.json").read_text())
    assert m["status"] == "complete" and m["runs"] == 24 and m["runs_done"] == 24
    assert m["seed"] == 11 and m["points"] == 4 and m["replicates"] == 6
    assert len(m["spec_hash"]) == 64 and m["package_version"]
    assert not (reference.folder / "parts").exists()


KILLED = """\
import sys
from sim.studies import experiment
if __name__ == "__main__":
    experiment.run(sys.argv[1], workers=1, out=sys.argv[2], progress=False)
"""


def test_resume_after_a_killed_batch_does_every_run_once(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, replicates=100)  # 400 runs, in 13 chunks (parts) of up to 32
    out = tmp_path / "killed"
    script = tmp_path / "batch.py"
    script.write_text(KILLED, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script), str(spec), str(out)])
    try:
        deadline = time.monotonic() + 60
        while not list((out / "parts").glob("outcomes-*.parquet")):
            assert proc.poll() is None, "the batch ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "incomplete"
    assert not (out / "outcomes.parquet").exists()

    resumed = experiment.run(spec, workers=2, out=out, resume=True, progress=False)
    assert resumed.outcomes["run"].tolist() == list(range(400))
    whole = experiment.run(spec, workers=1, out=tmp_path / "whole", progress=False)
    for name in ("outcomes.parquet", "series.parquet"):
        assert (out / name).read_bytes() == (whole.folder / name).read_bytes(), name


def test_resume_refuses_a_changed_spec(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, replicates=2)
    out = tmp_path / "out"
    experiment.run(spec, workers=1, out=out, progress=False)
    changed = write_spec(tmp_path, replicates=3)
    with pytest.raises(SpecError, match="cannot resume: the spec or its scenario changed"):
        experiment.run(changed, workers=1, out=out, resume=True, progress=False)


def test_an_unfinished_batch_is_not_overwritten_without_resume(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, replicates=2)
    out = tmp_path / "out"
    experiment.run(spec, workers=1, out=out, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**manifest, "status": "incomplete"}))
    with pytest.raises(SpecError, match=r"unfinished batch .* pass --resume"):
        experiment.run(spec, workers=1, out=out, progress=False)


def test_results_without_a_folder_are_in_a_temporary_one(tmp_path: Path) -> None:
    results = experiment.run(write_spec(tmp_path, replicates=1), workers=1, progress=False)
    folder = results.folder
    assert len(results.outcomes) == 4 and folder.is_dir()
    del results
    import gc

    gc.collect()
    assert not folder.exists()


# -- bad specs ------------------------------------------------------------------------------------
BAD = [
    ("[experiment]\nname = 'x'\nreplicate = 3\n", r"experiment\.replicate: unknown key; allowed keys: name"),
    ("[experiment]\nname = 'x'\nscenario = 'nowhere'\n", r"experiment\.scenario = 'nowhere': no such file"),
    ("[experiment]\nname = 'x'\nreplicates = 0\n",
     r"experiment\.replicates = 0: .*greater than or equal to 1"),
    ("[experiment]\nname = 'x'\noutcomes = ['held', 'peace']\n", r"unknown outcome 'peace'; allowed: "),
    ("[experiment]\nname = 'x'\n[grid]\n'sides.*.force.disciplin' = [0.5]\n",
     r"unknown key 'disciplin'; allowed: discipline"),
    ("[experiment]\nname = 'x'\n[grid]\n'sides.*.force.discipline' = [0.5, 1.5]\n",
     r"\[grid\]: sides\.\w+\.force\.discipline = 1\.5: .*less than or equal to 1"),
    ("[experiment]\nname = 'x'\n[grid]\n'mediator.effectiveness' = [0.5, 'high']\n",
     r"grid\.\"mediator\.effectiveness\" = \[0\.5, 'high'\]: values must all be numbers"),
    ("[experiment]\nname = 'x'\nsamples = 4\n[sample]\n"
     "'mediator.effectiveness' = { low = 0.8, high = 0.2 }\n",
     r"sample\.\"mediator\.effectiveness\" = .*: low \(0\.8\) must be below high \(0\.2\)"),
    ("[experiment]\nname = 'x'\nsamples = 4\n[sample]\n'mediator.capacity_per_day' = { low = 1, high = 5 }\n",
     r"the parameter is a whole number; use distribution = \"integer\""),
    ("[experiment]\nname = 'x'\n[sample]\n'mediator.effectiveness' = { low = 0.1, high = 0.2 }\n",
     r"experiment\.samples = 0: \[sample\] needs samples ≥ 1"),
    ("[experiment]\nname = 'x'\n[grid]\n'mediator.effectiveness' = [0.1]\n[figure]\nkind = 'phase_diagram'\n"
     "x = 'mediator.effectiveness'\ny = 'mediator.credibility'\n",
     r"figure\.y = 'mediator\.credibility': not a \[grid\] key"),
    ("[experiment]\nname = 'x'\n[figure]\nkind = 'heat'\n",
     r"figure\.kind = 'heat': Input should be 'erosion_curves'"),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_specs_get_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    if "scenario =" not in text:
        text = text.replace("name = 'x'", "name = 'x'\nscenario = 'classroom-two-villages'", 1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as err:
        load_spec(path)
    text_of = str(err.value)
    assert "\n" not in text_of
    assert text_of.startswith(str(path))
    assert re.search(message, text_of), text_of


def test_cli_bad_spec_exits_2_without_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[experiment]\nname = 'x'\nscenario = 'classroom-two-villages'\n"
                    "[grid]\n'mediator.efectiveness' = [0.1]\n", encoding="utf-8")
    code = cli.main(["experiment", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "mediator.efectiveness" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_cli_runs_a_spec_to_its_figure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(tmp_path, replicates=3)
    out = tmp_path / "out"
    code = cli.main(["experiment", str(spec), "--workers", "1", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert "small: 12 runs (4 points × 3 replicates, seed 11)" in text
    assert (out / "small.png").stat().st_size > 10_000
    assert (out / "outcomes.parquet").is_file() and (out / "series.parquet").is_file()


@pytest.mark.parametrize("name", ["erosion-curves", "mediation-phase-diagram", "order-delay"])
def test_shipped_experiments_run_and_draw(name: str, tmp_path: Path) -> None:
    """Each shipped spec, at one replicate per point, runs and draws its figure."""
    from sim.faces.figures.batch import experiment_figure

    exp = load_spec(EXPERIMENTS / f"{name}.toml", {"experiment.replicates": 1})
    assert exp.spec.figure is not None
    results = experiment.run(exp, workers=1, out=tmp_path / name, progress=False)
    assert len(results.outcomes) == len(exp.points)
    figure = experiment_figure(results)
    assert figure is not None and figure.stat().st_size > 10_000


def test_shipped_specs_fit_their_time_budget() -> None:
    """Default sizes stay small enough for two minutes on two cores (the README's table)."""
    budget_runs = {"erosion-curves": 600, "mediation-phase-diagram": 2000, "order-delay": 2000,
                   "sensitivity": 10240, "interposition": 1000}
    for name, most in budget_runs.items():
        exp = load_spec(EXPERIMENTS / f"{name}.toml")
        assert exp.runs <= most, name


def test_a_scenario_path_is_read_beside_the_spec(tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text(bundled_path("classroom-two-villages").read_text(), encoding="utf-8")
    spec = tmp_path / "spec.toml"
    spec.write_text(textwrap.dedent("""\
        [experiment]
        name = "mine"
        scenario = "mine.toml"
        replicates = 1
        """), encoding="utf-8")
    exp = load_spec(spec)
    assert exp.scenario_path == tmp_path / "mine.toml"
    assert exp.scenario.scenario.name == "classroom-two-villages" and exp.runs == 1


def test_workers_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="--workers 0"):
        experiment.run(write_spec(tmp_path, replicates=1), workers=0, out=tmp_path / "o")


def test_phase_diagram_marks_a_calibrated_scenario_beside_the_base(tmp_path: Path) -> None:
    from sim.faces.figures.batch import calibrated_point

    text = bundled_path("classroom-two-villages").read_text()
    (tmp_path / "mine.toml").write_text(text, encoding="utf-8")
    spec = tmp_path / "spec.toml"
    spec.write_text(textwrap.dedent("""\
        [experiment]
        name = "phase"
        scenario = "mine.toml"
        [grid]
        "mediator.effectiveness" = [0.2, 0.8]
        "sides.*.force.retaliation.probability" = [0.3, 0.9]
        [figure]
        kind = "phase_diagram"
        x = "mediator.effectiveness"
        y = "sides.*.force.retaliation.probability"
        hours = 24
        """), encoding="utf-8")
    x, y = "mediator.effectiveness", "sides.*.force.retaliation.probability"
    assert calibrated_point(load_spec(spec), x, y) is None
    calibrated = text.replace("effectiveness = 0.5", "effectiveness = 0.65")
    calibrated = calibrated.replace("probability = 0.6,", "probability = 0.4,", 1)  # east only
    (tmp_path / "mine.calibrated.toml").write_text(calibrated, encoding="utf-8")
    assert calibrated_point(load_spec(spec), x, y) == pytest.approx((0.65, (0.4 + 0.6) / 2))
