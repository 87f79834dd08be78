"""Replays: frame count from span and speed, the commitment panel when the model has it, formats,
the CLI and its one-line errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from sim.faces import cli
from sim.faces.figures.replay import ReplayFigure
from sim.faces.replay import ReplayError, frame_times, replay
from sim.model.ceasefire import CeasefireModel
from sim.studies.runner import run_replicates, run_seed

SMALL = (320, 180)


def test_frame_times_cover_the_span_at_the_speed() -> None:
    np.testing.assert_array_equal(frame_times(-60, 120, 30), [-60, -30, 0, 30, 60, 90, 120])
    np.testing.assert_array_equal(frame_times(0, 100, 30), [0, 30, 60, 90])
    assert len(frame_times(-240, 4320, 15)) == 305


def test_replay_writes_a_gif_whose_frame_count_matches_span_and_speed(tmp_path: Path) -> None:
    result = replay("classroom-two-villages", seed=3, out=tmp_path / "run.gif", speed_min=20,
                    from_min=-60, to_min=180, size=SMALL)
    assert result.frames == 13  # (180 - -60) / 20 + 1
    with Image.open(result.path) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == 13
        assert gif.size == SMALL
        # The frames differ: the clock moves on each one.
        gif.seek(0)
        first = np.asarray(gif.convert("RGB"))
        gif.seek(12)
        last = np.asarray(gif.convert("RGB"))
    assert not np.array_equal(first, last)
    assert result.size_bytes < 10_000_000


def test_replay_is_the_run_that_ceasefire_run_numbers(tmp_path: Path) -> None:
    """--seed S --run R animates run R of `ceasefire run --seed S`: the same incidents."""
    shown = replay("classroom-two-villages", seed=4, run=2, out=tmp_path / "run.gif", speed_min=240,
                   size=SMALL)
    batch = run_replicates("classroom-two-villages", runs=3, seed=4).events
    expected = batch[batch["run"] == 2].drop(columns="run").reset_index(drop=True)
    pd.testing.assert_frame_equal(shown.events.drop(columns="run").reset_index(drop=True), expected)


def _model_with_steps(extra: dict[str, float], *, commitment: bool = True) -> CeasefireModel:
    model = CeasefireModel("classroom-two-villages", rng=run_seed(1, 0), overrides={"scenario.horizon_h": 6})
    model.run_to_horizon()
    steps = model.steps_table()
    if not commitment:  # a steps table from before rule 8 (or a model without it)
        steps = steps.drop(columns=[c for c in steps.columns if c.startswith("commitment_")])
    for column, value in extra.items():
        steps[column] = np.linspace(value, 0.2, len(steps))
    model.steps_table = lambda: steps  # type: ignore[method-assign]
    return model


def test_commitment_is_drawn_when_the_steps_table_has_it_and_skipped_when_not() -> None:
    with_rule = ReplayFigure(_model_with_steps({"commitment_east": 0.9, "commitment_west": 0.6}), SMALL)
    assert set(with_rule.com_lines) == {"east", "west"}
    with_rule.update(120.0)
    x, y = with_rule.com_lines["east"].get_data()
    assert len(x) > 0 and y[0] == pytest.approx(0.9)
    without = ReplayFigure(_model_with_steps({}, commitment=False), SMALL)
    assert without.com_lines == {}
    without.update(120.0)


def test_incidents_appear_as_they_happen() -> None:
    model = _model_with_steps({})
    figure = ReplayFigure(model, SMALL)
    t = model.events_table()["t_min"].to_numpy()
    figure.update(0.0)
    assert len(figure.incidents.get_offsets()) == np.count_nonzero(t <= 0.0)
    figure.update(model.horizon_min)
    assert len(figure.incidents.get_offsets()) == len(t)


@pytest.mark.skipif(shutil.which("ffmpeg") is not None, reason="ffmpeg is installed here")
def test_mp4_without_ffmpeg_says_so_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match=r"--format mp4: needs ffmpeg, which is not installed"):
        replay(out=tmp_path / "run.mp4", size=SMALL)


def test_replay_command_prints_what_it_wrote(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.gif"
    code = cli.main(["replay", "classroom-two-villages", "--seed", "2", "--speed", "60", "--from", "0",
                     "--to", "240", "--size", "320x180", "--out", str(out)])
    assert code == 0
    assert f"{out}: 5 frames, t = 0 to 240 min every 60 min" in capsys.readouterr().out
    with Image.open(out) as gif:
        assert gif.n_frames == 5


@pytest.mark.parametrize(("args", "says"), [
    (["--from", "100", "--to", "50"], "--from 100 --to 50: the span must satisfy -240 ≤ from < to ≤ 2880"),
    (["--speed", "0"], "--speed 0.0: must be simulated minutes per frame > 0"),
    (["--speed", "0.01"], "frames for 3120 min; at most 3000"),
    (["--size", "big"], "--size 'big': write WIDTHxHEIGHT"),
    (["--format", "gif", "--set", "sides.east.force.discipline=2"], "discipline"),
    (["--seed", "-1"], "--seed -1 --run 0: both must be whole numbers ≥ 0"),
])
def test_replay_bad_options_are_one_line_and_exit_2(tmp_path: Path, args: list[str], says: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["replay", "--out", str(tmp_path / "x.gif"), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert says in err and err.count("\n") == 1
    assert not (tmp_path / "x.gif").exists()


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed here")
def test_mp4_where_ffmpeg_is_installed(tmp_path: Path) -> None:
    result = replay(out=tmp_path / "run.mp4", speed_min=60, from_min=0, to_min=240, size=(321, 181))
    assert result.frames == 5 and result.path.suffix == ".mp4" and result.size_bytes > 1000
