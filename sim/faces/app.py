"""The classroom page: move the sliders, press play, watch a ceasefire hold or erode.

Start it with ``ceasefire app [SCENARIO]``. It is a Mesa ``SolaraViz`` page with four live
panels: the front (sections coloured by their current activity, marked where the order to
cease fire has arrived), incidents per hour by cause, each side's accusations with the
mediator's interventions, and a short status text.

Every control is generated from the one definition of its parameter in :mod:`sim.model.scenario`
(range from ``parameter_info``, starting value from the scenario loaded), never typed here.
The pieces are plain functions of a model, so they are tested without a browser:
:func:`model_params`, :class:`ClassroomModel`, :func:`front_figure`, :func:`incidents_figure`,
:func:`accusations_figure`, :func:`status_text`.
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import solara
from matplotlib.figure import Figure
from pydantic import BaseModel

from sim.faces.figures.live import (
    accusations_figure,
    clock_text,
    figure_svg,
    front_figure,
    incidents_figure,
    table_now,
)
from sim.model.ceasefire import CeasefireModel
from sim.model.events import CAUSES
from sim.model.policies import RETALIATION_POLICIES
from sim.model.scenario import BUNDLED, Scenario, load_scenario, parameter_info

with warnings.catch_warnings():
    # Mesa 3.3's ComponentsView calls a hook after an early return that only happens with no
    # components; solara flags it when the module is imported. We always pass components.
    warnings.filterwarnings("ignore", message=r".*found despite early return", category=UserWarning)
    from mesa.visualization import SolaraViz
    from mesa.visualization.utils import update_counter

SCENARIO_ENV = "CEASEFIRE_APP_SCENARIO"
SET_ENV = "CEASEFIRE_APP_SET"
"""Environment variable through which ``ceasefire app --set`` passes overrides (JSON) of the
scenario the page opens with: they hold for that scenario whatever the sliders do."""
"""Environment variable through which ``ceasefire app`` tells the page which scenario to open."""
CLASSROOM_SCENARIO = "classroom-two-villages"
OPEN_RANGE_SPAN = 5.0
"""A parameter with no upper bound gets a slider up to this many times its default or its
scenario value, whichever is larger (rounded up to 1, 2 or 5 x 10^k)."""


# -- controls: generated from the parameter definitions --------------------------------------

@dataclass(frozen=True)
class Control:
    """One control on the page: a label and the scenario key path it sets (``*`` = every side)."""

    label: str
    path: str
    choices: tuple[str, ...] = ()
    """For a drop-down: the allowed values."""

    @property
    def name(self) -> str:
        """The keyword SolaraViz passes to the model: the key path with ``__`` for dots."""
        return self.path.replace(".", "__")


CONTROLS = (
    Control("Discipline", "sides.*.force.discipline"),
    Control("Retaliation policy", "sides.*.force.retaliation.policy", tuple(RETALIATION_POLICIES)),
    Control("Retaliation probability", "sides.*.force.retaliation.probability"),
    Control("Order delay, mean", "sides.*.command.order_delay_mean_min"),
    Control("Mediator effectiveness", "mediator.effectiveness"),
    Control("Mediator capacity", "mediator.capacity_per_day"),
    Control("Monitors on the ground", "mediator.monitors"),
    Control("Incentive for last-minute gains", "sides.*.force.last_minute_gain"),
    Control("War aims (pull away from the truce)", "sides.*.command.war_aims_per_day"),
    Control("Peacekeepers' deterrence", "peacekeepers.deterrence"),
)
"""The parameters a class argues about, in the order the page lists them."""
SEED_MAX = 99
"""The seed slider runs from 0 to this: enough distinct runs for a class to compare."""


def values_at(scenario: Scenario, path: str) -> list[Any]:
    """The scenario's values at a key path; ``*`` matches every name at its level."""
    nodes: list[Any] = [scenario]
    for part in path.split("."):
        found: list[Any] = []
        for node in nodes:
            if isinstance(node, BaseModel):
                if part in type(node).model_fields:
                    found.append(getattr(node, part))
            elif isinstance(node, dict):
                found += [v for k, v in node.items() if fnmatch.fnmatchcase(k, part)]
        nodes = [n for n in found if n is not None]
    return nodes


def current_value(scenario: Scenario, path: str) -> Any:
    """The value a control starts at: the scenario's own (the mean where sides differ)."""
    values = values_at(scenario, path)
    if not values:
        raise KeyError(path)
    first = values[0]
    if all(v == first for v in values) or isinstance(first, bool | str):
        return first
    mean = sum(values) / len(values)
    return round(mean) if isinstance(first, int) else round(mean, 6)


def _nice_ceiling(x: float) -> float:
    """The smallest of 1, 2, 5 x 10^k that is >= x (at least 1)."""
    if x <= 1:
        return 1.0
    k = 10 ** math.floor(math.log10(x))
    return next(m * k for m in (1, 2, 5, 10) if m * k >= x)


def control_spec(scenario: Scenario, control: Control) -> dict[str, Any] | None:
    """The SolaraViz input for ``control`` on ``scenario`` (None if the scenario lacks it)."""
    if not values_at(scenario, control.path):
        return None
    info = parameter_info(control.path)
    value = current_value(scenario, control.path)
    label = control.label
    if info["unit"] and info["unit"] not in ("0-1", "probability"):
        label += f" ({info['unit']})"
    distinct = list(dict.fromkeys([*values_at(scenario, control.path),
                                   *values_at(scenario, _every_force(control.path))]))
    if len(distinct) > 1:
        label += " — scenario: " + " / ".join(f"{v:g}" if isinstance(v, float) else str(v)
                                              for v in distinct)
    if control.choices:
        return {"type": "Select", "label": label, "value": value, "values": list(control.choices)}
    if isinstance(info["default"], bool):
        return {"type": "Checkbox", "label": label, "value": value}
    low = info.get("ge", info.get("gt", 0))
    high = info.get("le", info.get("lt"))
    if high is None:
        high = _nice_ceiling(OPEN_RANGE_SPAN * max(value, info["default"]))
    if isinstance(info["default"], int):
        return {"type": "SliderInt", "label": label, "value": int(value), "min": int(low),
                "max": int(high), "step": 1}
    return {"type": "SliderFloat", "label": label, "value": float(value), "min": float(low),
            "max": float(high), "step": _step(float(low), float(high), float(value))}


def _every_force(path: str) -> str:
    """For a side's force default (``sides.*.force.x``): the same key in each force
    (``sides.*.forces.*.x``), where a force may set its own value; other paths unchanged."""
    parts = path.split(".")
    if len(parts) >= 4 and parts[0] == "sides" and parts[2] == "force":
        return ".".join([*parts[:2], "forces", "*", *parts[3:]])
    return path


def _step(low: float, high: float, value: float) -> float:
    """A hundredth of the range, finer if needed so the starting value lies on a step (a
    slider would otherwise round it, and the run would no longer be the scenario's)."""
    step = (high - low) / 100
    while step > 1e-6 and not math.isclose((value - low) / step, round((value - low) / step),
                                           abs_tol=1e-6):
        step /= 10
    return step


def page_scenario(case: str | Path | Scenario) -> Scenario:
    """A scenario as the page shows it: the one the page opened with carries ``--set``'s overrides."""
    if isinstance(case, Scenario):
        return case
    changes = json.loads(os.environ.get(SET_ENV) or "{}") if str(case) == start_case() else {}
    return load_scenario(case, changes or None)


def model_params(case: str | Path) -> dict[str, Any]:
    """SolaraViz ``model_params`` for a scenario: the scenario itself (fixed), the seed and the
    controls the scenario has, each starting at the scenario's value."""
    scenario = page_scenario(case)
    params: dict[str, Any] = {
        "case": str(case),
        "seed": {"type": "SliderInt", "label": "Seed (same seed, same run)", "value": 0,
                 "min": 0, "max": SEED_MAX, "step": 1},
    }
    for control in CONTROLS:
        spec = control_spec(scenario, control)
        if spec is not None:
            params[control.name] = spec
    return params


def control_help(case: str | Path) -> list[tuple[str, str]]:
    """(label, meaning) of each control, in the words of its parameter's definition."""
    scenario = page_scenario(case)
    return [(c.label, parameter_info(c.path)["doc"]) for c in CONTROLS
            if values_at(scenario, c.path)]


class ClassroomModel(CeasefireModel):
    """A :class:`~sim.model.ceasefire.CeasefireModel` built from the page's controls.

    SolaraViz's Reset calls it with the scenario (``case``), the ``seed`` and one keyword per
    control, named by key path with ``__`` for dots (``sides__*__force__discipline``). A
    control still at the scenario's own value is not applied, so in a scenario whose sides
    (or forces) differ each keeps its value until the slider is moved; a moved control sets
    every side and, like ``--set``, every force of it, also a force that sets its own value
    (:func:`sim.model.scenario.apply_overrides`). ``scenario`` (Mesa 3.5 passes its own experimental
    Scenario on Reset) is ignored.
    """

    def __init__(self, case: str | Path | Scenario = CLASSROOM_SCENARIO, *, seed: int | None = 0,
                 rng: Any = None, scenario: object = None, **kwargs: Any) -> None:
        loaded = page_scenario(case)
        moved = {}
        for name, value in kwargs.items():
            path = name.replace("__", ".")
            if not values_at(loaded, path) or not _same(value, current_value(loaded, path)):
                moved[path] = value
        if rng is not None:
            seed = None
        super().__init__(loaded, overrides=moved or None, rng=rng, seed=seed)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def status(model: CeasefireModel) -> dict[str, Any]:
    """The numbers the status panel shows (minutes relative to t = 0)."""
    events = table_now(model, "events")
    post = events[events["t_min"] >= 0]
    orders = table_now(model, "orders")
    return {
        "now_min": model.now,
        "incidents": len(events),
        "violations": len(post),
        "by_cause": {c: int((post["cause"] == c).sum()) for c in CAUSES},
        "forces_ordered": int((orders["order_arrival_min"] <= model.now).sum()),
        "forces": len(orders),
        "interventions": len(table_now(model, "interventions")),
        "collapse_min": model.collapsed_at_min,
        "status": model.status,
        "commitment": {c.name: c.commitment(model.now) for c in model.commands},
        "abandoned": [c.name for c in model.commands if c.abandoned],
    }


def verdict(model: CeasefireModel) -> str:
    """The run's status in words: not yet in force, holding, eroding, or collapsed (rule 8)."""
    s = status(model)
    state = s["status"]
    if state == "collapsed":
        sides = " and ".join(model.case.sides[n].label or n for n in s["abandoned"])
        return f"Collapsed: {sides} abandoned the ceasefire (first at {clock_text(s['collapse_min'])})"
    if state == "not yet in force":
        return "Not yet in force (starts at t = 0)"
    if state == "eroding":
        return "Ceasefire eroding: a side's commitment is falling towards abandonment"
    if state == "holding":
        return "Ceasefire holding"
    return f"Status {state}"


def status_lines(model: CeasefireModel) -> list[tuple[str, str]]:
    """The status panel below the verdict: (label, text) pairs."""
    s = status(model)
    causes = ", ".join(f"{n} {c}" for c, n in s["by_cause"].items())
    return [
        ("Time since the ceasefire", f"{clock_text(s['now_min'])} (HH:MM)"),
        ("Events so far", f"{s['incidents']} incidents, of which {s['violations']} violations "
                          f"after t = 0 ({causes})"),
        ("Order to cease fire", f"reached {s['forces_ordered']} of {s['forces']} forces"),
        ("Mediator interventions", str(s["interventions"])),
        ("Commitment to the truce", ", ".join(f"{n} {100 * c:.0f}%" for n, c in s["commitment"].items())),
    ]


def run_settings(model: CeasefireModel) -> list[tuple[str, str]]:
    """The values this run uses for each control (sliders show no numbers), as (label, text)."""
    out = []
    for control in CONTROLS:
        values = list(dict.fromkeys(values_at(model.case, control.path)))
        if values:
            out.append((control.label, " / ".join(_shown(v) for v in values)))
    return out


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def status_text(model: CeasefireModel) -> str:
    """The status panel as plain text: the verdict, then one ``label: text`` line each."""
    return "\n".join([verdict(model), *(f"{k}: {v}" for k, v in status_lines(model))])


# -- the page -----------------------------------------------------------------------------------

@solara.component
def FigurePanel(  # noqa: N802 - solara components are CamelCase
    model: CeasefireModel, draw: Callable[[CeasefireModel], Figure], name: str) -> None:
    """A panel redrawn after every step (``name`` becomes a CSS class the browser test finds)."""
    update_counter.get()
    solara.Image(figure_svg(draw(model)), format="svg+xml", width="100%",
                 classes=[f"ceasefire-{name}"])


@solara.component
def StatusPanel(model: CeasefireModel) -> None:  # noqa: N802
    """The verdict and the numbers so far, updated after every step; then this run's settings."""
    update_counter.get()
    with solara.Card("Status", classes=["ceasefire-status"]):
        solara.v.Html(tag="h2", children=[verdict(model)], class_="ceasefire-verdict")
        _labelled(status_lines(model))
        solara.v.Html(tag="div", style_="margin-top: 10px; font-size: 0.85em", children=[
            solara.v.Html(tag="b", children=["This run: "]),
            "; ".join(f"{label.lower()} {value}" for label, value in run_settings(model))])


def _labelled(lines: list[tuple[str, str]]) -> None:
    # Plain elements rather than solara.Markdown, which would fetch KaTeX from a CDN.
    for label, text in lines:
        solara.v.Html(tag="div", children=[solara.v.Html(tag="b", children=[f"{label}: "]), text])


COMPONENTS: list[tuple[Callable[[CeasefireModel], Any], int]] = [
    (lambda m: FigurePanel(m, front_figure, "front"), 0),
    (StatusPanel, 0),
    (lambda m: FigurePanel(m, incidents_figure, "incidents"), 0),
    (lambda m: FigurePanel(m, accusations_figure, "accusations"), 0),
]
"""The page's panels, as SolaraViz (component, page) pairs."""


def start_case() -> str:
    """The scenario the page opens with: the one ``ceasefire app`` was given, or the classroom's."""
    return os.environ.get(SCENARIO_ENV) or CLASSROOM_SCENARIO


def scenario_choices(start: str) -> list[str]:
    """The scenario picker's entries: the bundled scenarios, and the one started with."""
    return list(dict.fromkeys([*BUNDLED, start]))


@solara.component
def Page() -> None:  # noqa: N802
    """The classroom page; picking another scenario rebuilds the controls from its values."""
    start = start_case()
    case = solara.use_reactive(start)
    scenario = solara.use_memo(lambda: page_scenario(case.value), [case.value])
    model = solara.use_memo(lambda: ClassroomModel(case.value), [case.value])
    params = solara.use_memo(lambda: model_params(case.value), [case.value])
    meta = scenario.scenario
    solara.Title(meta.title or meta.name)
    with solara.Sidebar(), solara.Card("Scenario"):
        solara.Select("Scenario", values=scenario_choices(start), value=case)
        solara.v.Html(tag="p", children=[solara.v.Html(tag="b", children=[f"{meta.title or meta.name}."]),
                                         f" {meta.description}"])
        solara.v.Html(tag="p", children=[
            "Move a slider, then press RESET to start a new run with it; STEP advances "
            f"{meta.report_interval_min:g} simulated minutes, ▶ plays and pauses."])
        with solara.Details("What the controls mean"), solara.v.Html(tag="ul"):
            for label, doc in control_help(case.value):
                solara.v.Html(tag="li", children=[solara.v.Html(tag="b", children=[label]),
                                                  f": {doc}"])
    SolaraViz(model, components=COMPONENTS, model_params=params,
              name=meta.title or meta.name).key(f"viz-{case.value}")


__all__ = ["COMPONENTS", "CONTROLS", "ClassroomModel", "Control", "Page", "control_spec",
           "current_value", "model_params", "run_settings", "status", "status_lines",
           "status_text", "values_at", "verdict"]
