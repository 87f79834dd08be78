"""The command line as a user meets it: summaries, JSON, files, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sim.faces.cli import main

SMALL = ["classroom-two-villages", "--runs", "4", "--seed", "3", "--horizon", "6"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sim.faces.cli", *args], capture_output=True,
                          text=True, timeout=300)


def test_run_prints_a_readable_summary_and_writes_tables_and_figure(tmp_path, capsys):
    assert main(["run", *SMALL, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "first violation after t = 0" in out
    assert "ceasefire still holding" in out and "6 h:" in out
    assert "violations per day" in out and "share retaliatory" in out
    for name in ("events.csv", "steps.csv", "outcomes.csv", "violations-per-hour.png"):
        assert (tmp_path / name).stat().st_size > 0
    events = pd.read_csv(tmp_path / "events.csv")
    for col in ("run", "t_min", "section", "side", "kind", "severity", "cause", "parent"):
        assert col in events.columns
    assert set(events["run"]) == {0, 1, 2, 3}
    assert events["t_min"].min() >= -240 and events["t_min"].max() < 6 * 60
    steps = pd.read_csv(tmp_path / "steps.csv")
    assert steps.groupby("run").size().tolist() == [(240 + 360) // 15 + 1] * 4
    assert not list(tmp_path.glob(".*tmp*")), "temporary files left behind"


def test_json_summary_has_the_documented_keys_and_agrees_with_the_tables(tmp_path, capsys):
    assert main(["run", *SMALL, "--json", "--out", str(tmp_path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["scenario"] == "classroom-two-villages"
    assert summary["runs"] == 4 and summary["seed"] == 3
    for key in ("first_violation_min", "collapse_h"):
        assert summary[key] is None or set(summary[key]) >= {"median", "p05", "p95"}
    assert set(summary["p_hold"]) == {"6h", "24h", "72h"}
    assert summary["p_hold"]["24h"] is None  # beyond the 6 h horizon: unknown, not "held"
    assert set(summary["violations_per_day"]) == {"median"}
    assert set(summary["retaliation_share"]) == {"median"}
    events = pd.read_csv(tmp_path / "events.csv")
    assert summary["events_total"] == len(events)
    outcomes = pd.read_csv(tmp_path / "outcomes.csv")
    held = outcomes["collapse_min"].isna() | (outcomes["collapse_min"] > 360)
    assert summary["p_hold"]["6h"] == pytest.approx(held.mean())
    # Collapse is the first abandonment in decisions.csv (rule 8), never a count threshold.
    decisions = pd.read_csv(tmp_path / "decisions.csv")
    first = decisions[decisions["decision"] == "abandon"].groupby("run")["t_min"].min()
    collapsed = outcomes.set_index("run")["collapse_min"].dropna()
    assert collapsed.to_dict() == first.to_dict()
    assert summary["undefined"] == {}


def test_same_seed_same_files_and_set_changes_the_run(tmp_path, capsys):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert main(["run", *SMALL, "--out", str(a)]) == 0
    assert main(["run", *SMALL, "--out", str(b)]) == 0
    assert (a / "events.csv").read_bytes() == (b / "events.csv").read_bytes()
    assert main(["run", *SMALL, "--out", str(c), "--set", "sides.*.force.war_rate_per_h=0",
                 "--set", "sides.*.force.ceasefire_rate_per_h=0"]) == 0
    assert len(pd.read_csv(c / "events.csv")) == 0  # nobody fires at all


@pytest.mark.parametrize("args, needle", [
    (["--set", "sides.east.force.discipline=1.5"], "sides.east.force.discipline = 1.5"),
    (["--set", "sides.*.force.dicipline=0.5"], "unknown key 'dicipline'"),
    (["--set", "nonsense"], "expected key.path=value"),
    (["--runs", "0"], "--runs 0"),
    (["--seed", "-1"], "--seed -1"),
    (["--horizon", "0"], "--horizon 0.0"),
    (["--workers", "0"], "--workers 0: must be between 1 and"),
])
def test_bad_flags_give_one_line_and_exit_2(tmp_path, args, needle):
    proc = run_cli("run", "classroom-two-villages", "--out", str(tmp_path / "o"), *args)
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()  # nothing written for bad input


def test_validate_says_fine_or_names_the_problem(tmp_path):
    ok = run_cli("validate", "karabakh-2020-10-10")
    assert ok.returncode == 0 and "ok" in ok.stdout and "record karabakh-2020-10-10.events.csv" in ok.stdout
    bad = tmp_path / "bad.toml"
    text = Path(ok.stdout.split(":")[0]).read_text()
    bad.write_text(text.replace('neighbours = ["jabrayil", "martuni", "stepanakert"]',
                                'neighbours = ["jabrayil", "martuni", "stepanakert", "atlantis"]'))
    proc = run_cli("validate", str(bad))
    assert proc.returncode == 2
    assert f"{bad}: sections.hadrut.neighbours = 'atlantis'" in proc.stderr
    assert "Traceback" not in proc.stderr
    missing = run_cli("validate", str(tmp_path / "nowhere.toml"))
    assert missing.returncode == 2 and "no such scenario file" in missing.stderr


def test_default_scenario_is_found_from_any_folder(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "sim.faces.cli", "run", "--runs", "2", "--horizon", "1",
                           "--json"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["scenario"] == "karabakh-2020-10-10"
    assert (tmp_path / "results" / "karabakh-2020-10-10" / "events.csv").exists()


# -- files that are not text, values that are not finite ---------------------------------------

BINARY = b"[scenario]\nname = 'x'\n\x89PNG\r\n\x1a\n\x00\xff\xfe"
SCENARIO_NAN = """
[scenario]
name = "nan-case"
[sections.ridge]
kind = "front"
[sides.east]
force = { capabilities = { small_arms = 1.0, drone = nan } }
forces = { ridge = {} }
[sides.west]
forces = { ridge = {} }
"""
EXPERIMENT_NAN = """
[experiment]
name = "nan-grid"
scenario = "classroom-two-villages"
[grid]
"sides.*.force.discipline" = [0.5, nan]
"""
SAMPLE_INF = """
[experiment]
name = "inf-sample"
scenario = "classroom-two-villages"
samples = 4
[sample]
"mediator.effectiveness" = { low = 0.0, high = inf }
"""
CALIBRATION_NAN = """
[calibration]
scenario = "{scenario}"
[priors]
"sides.*.force.discipline" = {{ distribution = "uniform", low = nan, high = 1.0 }}
"""


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    """Command lines that must each end in one line naming the file, key path and value."""
    case = Path(run_cli("validate", "classroom-two-villages").stdout.split(":")[0])
    files = {
        "binary.toml": BINARY, "nan.toml": SCENARIO_NAN.encode(), "grid.toml": EXPERIMENT_NAN.encode(),
        "sample.toml": SAMPLE_INF.encode(), "binary-spec.toml": BINARY,
        "cal.toml": CALIBRATION_NAN.format(scenario=case).encode(),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    t = str(tmp_path)
    return {
        "run binary": (["run", f"{t}/binary.toml"], f"{t}/binary.toml: not a text file: byte 0x89 on line 3"),
        "validate binary": (["validate", f"{t}/binary.toml"], f"{t}/binary.toml: not a text file"),
        "run nan": (["run", f"{t}/nan.toml"],
                    f"{t}/nan.toml: sides.east.force.capabilities.drone = nan: must be a finite number"),
        "run --set nan": (["run", "classroom-two-villages", "--set", "sides.*.force.discipline=nan"],
                          "sides.*.force.discipline = nan: must be a finite number ≥ 0 and ≤ 1"),
        "run --set inf": (["run", "classroom-two-villages", "--set", "mediator.effectiveness=-inf"],
                          "mediator.effectiveness = -inf: must be a finite number"),
        "experiment grid nan": (["experiment", f"{t}/grid.toml"],
                                f'{t}/grid.toml: grid."sides.*.force.discipline"[1] = nan: '
                                "must be a finite number"),
        "experiment sample inf": (["experiment", f"{t}/sample.toml"],
                                  f'{t}/sample.toml: sample."mediator.effectiveness".high = inf'),
        "experiment binary": (["experiment", f"{t}/binary-spec.toml"],
                              f"{t}/binary-spec.toml: not a text file"),
        "sensitivity binary": (["sensitivity", f"{t}/binary-spec.toml"],
                               f"{t}/binary-spec.toml: not a text file"),
        "calibrate prior nan": (["calibrate", "--spec", f"{t}/cal.toml"],
                                f'{t}/cal.toml: priors."sides.*.force.discipline".low = nan'),
        "calibrate binary": (["calibrate", "--spec", f"{t}/binary-spec.toml"],
                             f"{t}/binary-spec.toml: not a text file"),
    }


def test_binary_files_and_nan_or_inf_give_one_line_exit_2_and_write_nothing(tmp_path):
    for what, (args, needle) in _bad_inputs(tmp_path).items():
        out = tmp_path / "out"
        proc = run_cli(*args, *(["--out", str(out)] if args[0] != "validate" else []))
        assert proc.returncode == 2, (what, proc.stderr)
        assert "Traceback" not in proc.stderr, what
        assert len(proc.stderr.strip().splitlines()) == 1, (what, proc.stderr)
        assert needle in proc.stderr, (what, proc.stderr)
        assert not out.exists(), f"{what}: wrote results for bad input"


def test_tables_are_byte_identical_on_one_or_two_workers(tmp_path, capsys):
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["run", *SMALL, "--out", str(one), "--workers", "1"]) == 0
    assert main(["run", *SMALL, "--out", str(two), "--workers", "2"]) == 0
    for name in ("events.csv", "steps.csv", "outcomes.csv"):
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    assert not list(tmp_path.rglob(".*tmp*")), "temporary files left behind"


def _modules_after(statement: str) -> set[str]:
    """Which heavy modules a fresh interpreter has loaded after ``statement``."""
    probe = (f"import sys; {statement}; print(' '.join(m for m in "
             "('mesa', 'matplotlib', 'scipy', 'sim.model.ceasefire', 'sim.studies.calibration') "
             "if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.splitlines()[-1].split()) if proc.stdout.strip() else set()


def test_a_command_imports_only_what_it_needs():
    # `validate` never needs the model (Mesa), the figures (matplotlib) or the calibration;
    # `run` needs no calibration unless it draws from a posterior.
    validate = "from sim.faces.cli import main; main(['validate', 'classroom-two-villages'])"
    assert _modules_after(validate) == set()
    assert _modules_after("import sim") == set()
    parse_run = "from sim.faces.cli import build_parser; build_parser('run')"
    assert "sim.studies.calibration" not in _modules_after(parse_run)
