"""The classroom page's pieces, without a browser: controls, the model factory, the panels.

The page itself is rendered headless with solara's test renderer (no server, no browser);
the end-to-end test in a real Chromium is tests/test_app_browser.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("solara", reason="the app extra is not installed (pip install -e '.[app]')")

import ipyvuetify as v
import solara

from sim.faces import app
from sim.faces.cli import main
from sim.faces.figures import live
from sim.model.ceasefire import CeasefireModel
from sim.model.outcomes import collapse_min
from sim.model.policies import RETALIATION_POLICIES
from sim.model.scenario import BUNDLED, bundled_path, load_scenario, parameter_info

CLASSROOM = "classroom-two-villages"
KARABAKH = "karabakh-2020-10-10"


def _defaults(case: str) -> dict:
    """What SolaraViz's Reset passes when no control was touched."""
    return {k: (v["value"] if isinstance(v, dict) else v) for k, v in app.model_params(case).items()}


def _text(widget: object) -> str:
    """All text in a widget tree (children, and the items of Mesa's draggable grid)."""
    out: list[str] = []

    def walk(x: object) -> None:
        if isinstance(x, str):
            out.append(x)
            return
        for attr in ("children", "items"):
            kids = getattr(x, attr, None)
            if isinstance(kids, list | tuple):
                for k in kids:
                    walk(k)

    walk(widget)
    return " ".join(out)


# -- controls come from the one parameter definition ------------------------------------------

@pytest.mark.parametrize("case", BUNDLED)
def test_each_control_starts_at_the_scenarios_value_within_the_defined_range(case: str) -> None:
    scenario = load_scenario(case)
    params = app.model_params(case)
    assert params["case"] == case
    for control in app.CONTROLS:
        values = app.values_at(scenario, control.path)
        if control.name not in params:  # e.g. no [peacekeepers] table: no deterrence slider
            assert not values
            continue
        spec = params[control.name]
        info = parameter_info(control.path)
        if spec["type"] == "Select":
            assert spec["values"] == list(RETALIATION_POLICIES)
            assert spec["value"] == values[0]
        elif spec["type"] == "Checkbox":
            assert spec["value"] is values[0]
        else:
            assert spec["value"] == pytest.approx(float(np.mean(values)))
            assert spec["min"] == info.get("ge", 0)
            assert spec["max"] == info["le"] if "le" in info else spec["max"] >= 2 * spec["value"]
            assert spec["min"] <= spec["value"] <= spec["max"]
            ticks = (spec["value"] - spec["min"]) / spec["step"]  # on the grid: no rounding
            assert ticks == pytest.approx(round(ticks), abs=1e-6)


@pytest.fixture
def uneven(tmp_path: Path) -> str:
    """The classroom scenario with West more disciplined (0.9) than East (0.7)."""
    text = bundled_path(CLASSROOM).read_text()
    west = text.index("[sides.west]")
    path = tmp_path / "uneven.toml"
    path.write_text(text[:west] + text[west:].replace("discipline = 0.7", "discipline = 0.9", 1))
    assert [s.force.discipline for s in load_scenario(path).sides.values()] == [0.7, 0.9]
    return str(path)


def test_controls_show_where_sides_differ(uneven: str) -> None:
    discipline = app.model_params(uneven)["sides__*__force__discipline"]
    assert discipline["value"] == pytest.approx(0.8)  # the mean of East's 0.7 and West's 0.9
    assert "0.7 / 0.9" in discipline["label"]
    assert "/" not in app.model_params(CLASSROOM)["sides__*__force__discipline"]["label"]


def test_a_scenario_without_a_mediator_gets_no_mediator_controls(tmp_path: Path) -> None:
    text = bundled_path(CLASSROOM).read_text()
    path = tmp_path / "no-mediator.toml"
    path.write_text(text[:text.index("[mediator]")])
    params = app.model_params(str(path))
    assert not [k for k in params if k.startswith("mediator")]
    assert "sides__*__force__discipline" in params
    model = app.ClassroomModel(**_defaults(str(path)))
    model.step()
    assert "Mediator interventions: 0" in app.status_text(model)


# -- the model factory SolaraViz calls on Reset ------------------------------------------------

@pytest.mark.parametrize("case", BUNDLED)
def test_untouched_controls_leave_the_scenario_as_it_is(case: str) -> None:
    page = app.ClassroomModel(**_defaults(case))
    plain = CeasefireModel(case, seed=0)
    assert page.case == plain.case
    for _ in range(40):
        page.step()
        plain.step()
    pd.testing.assert_frame_equal(page.events_table(), plain.events_table())


def test_a_moved_control_sets_every_side(uneven: str) -> None:
    kwargs = _defaults(uneven) | {"sides__*__force__discipline": 0.95,
                                  "sides__*__force__retaliation__policy": "grudger"}
    model = app.ClassroomModel(**kwargs)
    for side in model.case.sides.values():
        assert side.force.discipline == 0.95
        assert all(f.discipline == 0.95 for f in side.forces.values())
        assert side.force.retaliation.policy == "grudger"
    untouched = app.ClassroomModel(**_defaults(uneven))  # the slider left at the mean, 0.8
    assert [s.force.discipline for s in untouched.case.sides.values()] == [0.7, 0.9]


def test_seed_and_mesa_35_scenario_keyword() -> None:
    a = app.ClassroomModel(**_defaults(CLASSROOM) | {"seed": 7}, scenario=object())
    b = app.ClassroomModel(**_defaults(CLASSROOM) | {"seed": 7})
    c = app.ClassroomModel(**_defaults(CLASSROOM) | {"seed": 8})
    for m in (a, b, c):
        for _ in range(30):
            m.step()
    pd.testing.assert_frame_equal(a.events_table(), b.events_table())
    assert not a.events_table().equals(c.events_table())


# -- what the panels say -----------------------------------------------------------------------

@pytest.mark.parametrize(("t_min", "text"), [(-240, "-04:00"), (0, "+00:00"), (75.9, "+01:15"),
                                             (1439.99, "+23:59"), (3000, "+50:00")])
def test_clock_text(t_min: float, text: str) -> None:
    assert live.clock_text(t_min) == text


def test_status_before_the_ceasefire() -> None:
    model = app.ClassroomModel()
    assert app.verdict(model) == "Not yet in force (starts at t = 0)"
    assert "Time since the ceasefire: -04:00" in app.status_text(model)
    assert "0 incidents" in app.status_text(model)


def test_status_counts_add_up_and_collapse_is_the_outcome_definition() -> None:
    # Discipline 0.2: the ceasefire collapses in nearly every run (seed fixed, so in this one).
    model = app.ClassroomModel(**_defaults(CLASSROOM) | {"sides__*__force__discipline": 0.2})
    model.run_to_horizon()
    s = app.status(model)
    events = model.events_table()
    assert s["incidents"] == len(events)
    assert s["violations"] == int((events["t_min"] >= 0).sum()) == sum(s["by_cause"].values())
    expected = collapse_min(model.decisions)
    assert not math.isnan(expected)
    assert s["collapse_min"] == expected
    assert app.verdict(model).startswith("Collapsed: ")
    assert f"(first at {live.clock_text(expected)})" in app.verdict(model)
    assert not model.holding and s["status"] == "collapsed"


def test_a_quiet_run_is_holding() -> None:
    quiet = {"sides__*__force__discipline": 1.0, "sides__*__force__retaliation__probability": 0.0,
             "sides__*__force__retaliation__policy": "proportional"}
    model = app.ClassroomModel(**_defaults(CLASSROOM) | quiet)
    for _ in range(40):
        model.step()
    assert model.now > 0
    assert app.verdict(model) == "Ceasefire holding"


def test_section_activity_follows_the_last_hours_fire(monkeypatch: pytest.MonkeyPatch) -> None:
    model = app.ClassroomModel()
    now = model.now
    fire = pd.DataFrame({"t_min": [now - 61, now - 30, now - 30, now - 10, now - 5, now - 1],
                         "section": ["east_village", "west_village", "ridge", "ridge", "ridge",
                                     "ridge"],
                         "severity": [9.0, 1.0, 2.5, 1.0, 1.0, 0.5]})
    monkeypatch.setattr(model, "events_table", lambda: fire)
    assert live.section_activity(model) == {"ridge": "heavy fighting",  # 5.0 severity points
                                           "east_village": "calm",  # over an hour ago
                                           "west_village": "skirmish"}


def test_front_panel_colours_sections_and_rings_where_the_order_arrived() -> None:
    model = app.ClassroomModel(**_defaults(CLASSROOM) | {"sides__*__command__order_delay_mean_min": 0.0})
    fig = live.front_figure(model)
    view = live._view(model, live.FrontView)
    assert all(w < 1 for w in view.nodes.get_linewidths())  # no order yet
    assert [m.get_text() for m in view.marks["ridge"]] == ["✗", "✗"]
    while model.now < 0:
        model.step()
    assert live.front_figure(model) is fig  # redrawn in place, not rebuilt
    activity = live.section_activity(model)
    colours = view.nodes.get_facecolor()
    for i, name in enumerate(view.names):
        assert np.allclose(colours[i][:3], _rgb(live.ACTIVITY_COLOURS[activity[name]]))
    widths = dict(zip(view.names, view.nodes.get_linewidths(), strict=True))
    assert widths["ridge"] == 4.0  # both forces hold the order at t >= 0 with no delay
    assert [m.get_text() for m in view.marks["ridge"]] == ["✓", "✓"]  # east left, west right
    assert [n.get_text() for n in view.notes] == [activity[n] for n in view.names]


def test_incidents_panel_stacks_every_incident_by_cause() -> None:
    model = app.ClassroomModel()
    for _ in range(40):
        model.step()
    live.incidents_figure(model)
    view = live._view(model, live.IncidentsView)
    events = model.events_table()
    top = view.bars["spillover"].get_data()
    assert top.values.sum() == len(events)
    initiated = view.bars["initiated"].get_data().values
    assert initiated.sum() == (events["cause"] == "initiated").sum()
    assert view.now.get_xdata()[0] == model.now / 60.0


def test_accusations_panel_follows_each_command() -> None:
    model = app.ClassroomModel()
    for _ in range(60):
        model.step()
    live.accusations_figure(model)
    view = live._view(model, live.AccusationsView)
    steps = model.steps_table()
    for side, line in view.lines.items():
        assert line.get_ydata()[-1] == steps[f"accusations_by_{side}"].iloc[-1]
    assert len(view.spans) == len(model.interventions_table())


def test_panels_render_as_svg_with_text() -> None:
    model = app.ClassroomModel()
    model.step()
    svg = live.figure_svg(live.incidents_figure(model)).decode()
    assert svg.lstrip().startswith("<?xml") and "incidents per hour" in svg


# -- the page, rendered headless ---------------------------------------------------------------

def test_page_renders_steps_and_rebuilds_controls_for_another_scenario() -> None:
    box, rc = solara.render(solara.AppLayout(children=[app.Page()]), handle_error=False)
    text = _text(box)
    for control in app.CONTROLS:
        if control.choices:
            assert all(c in text for c in control.choices)
    assert "Time since the ceasefire: -04:00" in " ".join(text.split()).replace(":  ", ": ")
    rc.find(v.Btn, children=["Step"]).widget.click()
    assert "-03:45" in _text(box)
    rc.find(v.Select, label="Scenario").widget.v_model = KARABAKH
    after = _text(box)
    meta = load_scenario(KARABAKH).scenario
    assert meta.title in after and live.clock_text(meta.start_min) in after


def test_status_panel_updates_after_each_step() -> None:
    model = app.ClassroomModel()
    box, _ = solara.render(app.StatusPanel(model), handle_error=False)
    assert "-04:00" in _text(box)
    model.step()
    app.update_counter.value += 1  # what Mesa's controller does after a step
    assert "-03:45" in _text(box)


# -- the command ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("argv", "message"), [
    (["--port", "0"], "--port 0: must be a whole number from 1 to 65535"),
    (["--port", "70000"], "--port 70000: must be"),
    (["no-such-scenario"], "no-such-scenario: no such scenario file"),
    (["--host", "no-such-host.invalid"], "--host 'no-such-host.invalid': not an address"),
])
def test_bad_input_is_one_line_and_exit_2(argv: list[str], message: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["app", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_port_in_use_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["app", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"--port {port}: already in use" in err and err.count("\n") == 1


def test_a_bad_scenario_file_is_reported_before_serving(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[scenario]\nname = "x"\n[sections.a]\nkind = "front"\nvalue = 2\n')
    assert main(["app", str(bad)]) == 2
    assert str(bad) in capsys.readouterr().err


def test_the_server_is_told_to_stay_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    from solara.server import settings

    from sim.faces.commands import app as command

    for key, value in command.OFFLINE_ENV.items():
        monkeypatch.setenv(key, value)
    assert settings.Telemetry().mixpanel_enable is False


def _rgb(hex_colour: str) -> tuple[float, float, float]:
    return tuple(int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5))


def test_the_page_opens_its_scenario_with_the_commands_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    posts = ["jabrayil", "hadrut", "martuni", "aghdara"]
    monkeypatch.setenv(app.SCENARIO_ENV, "karabakh-2020-10-10")
    monkeypatch.setenv(app.SET_ENV, json.dumps({"peacekeepers.sections": posts,
                                                "peacekeepers.deterrence": 0.9}))
    model = app.ClassroomModel("karabakh-2020-10-10")
    assert model.case.peacekeepers.sections == tuple(posts)
    assert app.model_params("karabakh-2020-10-10")["peacekeepers__deterrence"]["value"] == 0.9
    # Another scenario picked on the page does not inherit them.
    assert app.ClassroomModel("classroom-two-villages").case.peacekeepers is None


def test_app_set_is_checked_before_serving(capsys: pytest.CaptureFixture[str]) -> None:
    from sim.faces.cli import main

    assert main(["app", "karabakh-2020-10-10", "--set", "peacekeepers.deterrence=2"]) == 2
    err = capsys.readouterr().err
    assert "peacekeepers" in err and "Traceback" not in err
