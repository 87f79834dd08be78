"""The scripts in examples/ run, at a small size, and say what they promise."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _run(script: str, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", [script, *argv])
    runpy.run_path(str(EXAMPLES / script), run_name="__main__")


def test_a_new_policy_is_usable_by_name(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from sim.model.policies import RETALIATION_POLICIES

    try:
        _run("new_policy.py", ["--runs", "6"], monkeypatch)
        out = capsys.readouterr().out
        assert "two_strikes: P(holding at 24 h)" in out and "proportional:" in out
    finally:
        RETALIATION_POLICIES.pop("two_strikes", None)  # keep the registry as other tests see it


def test_an_experiment_from_spec_to_figure(monkeypatch: pytest.MonkeyPatch, capsys,
                                           tmp_path: Path) -> None:
    _run("experiment_to_figure.py", ["--replicates", "3", "--out", str(tmp_path)], monkeypatch)
    out = capsys.readouterr().out
    assert out.count("P(holding at 24 h)") == 3
    assert (tmp_path / "example-broker.png").stat().st_size > 10_000


def test_calibrate_forecast_and_score(monkeypatch: pytest.MonkeyPatch, capsys, tmp_path: Path) -> None:
    _run("calibrate_forecast_score.py", ["--budget", "16", "--particles", "8", "--runs", "6",
                                          "--out", str(tmp_path)], monkeypatch)
    out = capsys.readouterr().out
    assert "calibrated donbas-2020-07-27" in out and "width / prior's" in out
    assert "donbas-2018-08-29: " in out and "CRPS skill of the model" in out
    assert (tmp_path / "donbas-2020-07-27.posterior.csv").exists()
    assert {"scores.csv", "skill.csv", "score-bands.png"} <= {p.name for p in tmp_path.iterdir()}
