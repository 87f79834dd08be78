"""The classroom page: move the sliders, press play, watch a ceasefire hold or erode.

Start it with ``ceasefire app [SCENARIO]``. It is a Mesa ``SolaraViz`` page with four live
panels: the front (sections coloured by their current activity, marked where the order to
cease fire has arrived), incidents per hour by cause, each side's accusations with the
mediator's interventions, and a short status text.

Every control is generated from the one definition of its parameter in :mod:`sim.scenario`
(range from ``parameter_info``, starting value from the scenario loaded), never typed here.
The pieces are plain functions of a model, so they are tested without a browser:
:func:`model_params`, :class:`ClassroomModel`, :func:`front_figure`, :func:`incidents_figure`,
:func:`accusations_figure`, :func:`status_text`.
"""

from __future__ import annotations

import fnmatch
import io
import itertools
import math
import os
import threading
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import solara
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from pydantic import BaseModel

from sim.events import CAUSES
from sim.figures import CAUSE_COLOURS, OKABE_ITO, STYLE, mark_ceasefire
from sim.model import CeasefireModel
from sim.outcomes import collapse_min
from sim.policies import RETALIATION_POLICIES
from sim.scenario import BUNDLED, Scenario, load_scenario, parameter_info

with warnings.catch_warnings():
    # Mesa 3.3's ComponentsView calls a hook after an early return that only happens with no
    # components; solara flags it when the module is imported. We always pass components.
    warnings.filterwarnings("ignore", message=r".*found despite early return", category=UserWarning)
    from mesa.visualization import SolaraViz
    from mesa.visualization.utils import update_counter

SCENARIO_ENV = "CEASEFIRE_APP_SCENARIO"
"""Environment variable through which ``ceasefire app`` tells the page which scenario to open."""
CLASSROOM_SCENARIO = "classroom-two-villages"
ACTIVITY_WINDOW_MIN = 60.0
"""The front panel colours a section by its incidents in this trailing window."""
HEAVY_SEVERITY = 5.0
"""Summed severity in the window at which a section counts as heavy fighting (five rounds of
small-arms fire, two of artillery): a display threshold, not a model parameter."""
ACTIVITY_COLOURS = {"calm": "#56B4E9", "skirmish": "#E69F00", "heavy fighting": "#D55E00"}
SIDE_COLOURS = (OKABE_ITO[4], OKABE_ITO[6])
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
    distinct = list(dict.fromkeys(values_at(scenario, control.path)))
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


def _step(low: float, high: float, value: float) -> float:
    """A hundredth of the range, finer if needed so the starting value lies on a step (a
    slider would otherwise round it, and the run would no longer be the scenario's)."""
    step = (high - low) / 100
    while step > 1e-6 and not math.isclose((value - low) / step, round((value - low) / step),
                                           abs_tol=1e-6):
        step /= 10
    return step


def model_params(case: str | Path) -> dict[str, Any]:
    """SolaraViz ``model_params`` for a scenario: the scenario itself (fixed), the seed and the
    controls the scenario has, each starting at the scenario's value."""
    scenario = load_scenario(case)
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
    scenario = load_scenario(case)
    return [(c.label, parameter_info(c.path)["doc"]) for c in CONTROLS
            if values_at(scenario, c.path)]


class ClassroomModel(CeasefireModel):
    """A :class:`~sim.model.CeasefireModel` built from the page's controls.

    SolaraViz's Reset calls it with the scenario (``case``), the ``seed`` and one keyword per
    control, named by key path with ``__`` for dots (``sides__*__force__discipline``). A
    control still at the scenario's own value is not applied, so in a scenario whose sides
    differ each side keeps its value until the slider is moved; a moved control sets every
    side. ``scenario`` (Mesa 3.5 passes its own experimental Scenario on Reset) is ignored.
    """

    def __init__(self, case: str | Path | Scenario = CLASSROOM_SCENARIO, *, seed: int | None = 0,
                 rng: Any = None, scenario: object = None, **kwargs: Any) -> None:
        loaded = load_scenario(case)
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


# -- what the panels show ---------------------------------------------------------------------

_TABLES: weakref.WeakKeyDictionary[CeasefireModel, tuple[tuple[float, int], dict[str, pd.DataFrame]]] = (
    weakref.WeakKeyDictionary())
"""The model's tables as of its current minute: the panels read each several times per step."""


def _table(model: CeasefireModel, name: str) -> pd.DataFrame:
    """``model.<name>_table()`` (events, steps, orders, interventions), computed once per step."""
    key = (model.now, len(model.log))
    cached = _TABLES.get(model)
    if cached is None or cached[0] != key:
        cached = (key, {})
        _TABLES[model] = cached
    tables = cached[1]
    if name not in tables:
        tables[name] = getattr(model, f"{name}_table")()
    return tables[name]


def clock_text(t_min: float) -> str:
    """Minutes relative to t = 0 as ``+HH:MM`` (``-HH:MM`` before the ceasefire)."""
    sign = "-" if t_min < 0 else "+"
    whole = math.floor(abs(t_min) + 1e-9)
    return f"{sign}{whole // 60:02d}:{whole % 60:02d}"


def section_activity(model: CeasefireModel) -> dict[str, str]:
    """Each section's current activity: calm, skirmish or heavy fighting (last hour's fire)."""
    events = _table(model, "events")
    recent = events[events["t_min"] > model.now - ACTIVITY_WINDOW_MIN]
    severity = recent.groupby("section")["severity"].sum()
    out = {}
    for section in model.sections:
        s = float(severity.get(section.name, 0.0))
        out[section.name] = "calm" if s == 0 else ("heavy fighting" if s >= HEAVY_SEVERITY
                                                   else "skirmish")
    return out


def orders_arrived(model: CeasefireModel) -> dict[str, dict[str, bool]]:
    """For each section held by forces: side -> whether the order to cease fire has reached it."""
    orders = _table(model, "orders")
    out: dict[str, dict[str, bool]] = {}
    for row in orders.itertuples(index=False):
        out.setdefault(row.section, {})[row.side] = bool(row.order_arrival_min <= model.now)
    return out


def front_layout(model: CeasefireModel) -> dict[str, tuple[float, float]]:
    """Positions of the sections: the line of contact in a column down the middle, each side's
    rear areas on its side (first side left), level with the front they border."""
    front = [s for s in model.sections if not s.is_rear]
    pos = {s.name: (0.0, -float(i)) for i, s in enumerate(front)}
    for side in (0, 1):
        rear = [s for s in model.sections if s.is_rear and s.owner == side]
        for j, s in enumerate(rear):
            ys = [pos[n.name][1] for n in s.neighbours if n.name in pos]
            y = float(np.mean(ys)) if ys else -float(j)
            pos[s.name] = (-1.0 if side == 0 else 1.0, y)
    # Two rear areas at the same height move apart.
    for side in (-1.0, 1.0):
        names = sorted((n for n, (x, _) in pos.items() if x == side), key=lambda n: pos[n][1])
        for a, b in itertools.pairwise(names):
            if pos[b][1] - pos[a][1] < 0.6:
                pos[b] = (side, pos[a][1] + 0.6)
    return pos


_DRAWING = threading.Lock()
"""Matplotlib's rc settings are global, and a figure is not thread-safe: one panel at a time."""


def _figure(width_in: float, height_in: float, *, margins: dict[str, float]) -> tuple[Figure, Axes]:
    """A figure in the house style with fixed margins (a layout engine would cost ~60 ms a draw)."""
    fig = Figure(figsize=(width_in, height_in), dpi=80)
    fig.subplots_adjust(**margins)
    return fig, fig.add_subplot()


class FrontView:
    """The front as a graph: sections coloured by activity; beside each front section a ✓ or ✗
    for each side's unit (left side left, right side right) once the order to cease fire has or
    has not reached it, and a thick ring when it has reached all. Built once, updated per step."""

    def __init__(self, model: CeasefireModel) -> None:
        pos = front_layout(model)
        rows = len({round(y, 3) for _, y in pos.values()})
        height = 1.9 + 0.9 * rows
        self.fig, ax = _figure(5.6, height,
                               margins=dict(left=0.01, right=0.99, bottom=0.35 / height, top=0.98))
        for section in model.sections:
            for n in section.neighbours:
                if section.index < n.index:
                    (x0, y0), (x1, y1) = pos[section.name], pos[n.name]
                    ax.plot([x0, x1], [y0, y1], color="#999999", linewidth=1.5, zorder=1)
        self.names = [s.name for s in model.sections]
        self.sides = model.side_names
        xy = np.array([pos[n] for n in self.names])
        big = 1100 if rows <= 2 else 700
        sizes = [0.6 * big if s.is_rear else big for s in model.sections]
        self.nodes = ax.scatter(xy[:, 0], xy[:, 1], s=sizes, c=[ACTIVITY_COLOURS["calm"]] * len(xy),
                                edgecolors="#000000", linewidths=0.8, zorder=2)
        self.notes = []
        self.marks: dict[str, tuple[Any, Any]] = {}
        radius = math.sqrt(big) / 2 + 3  # points
        for section, (x, y) in zip(model.sections, xy, strict=True):
            ax.annotate(_short(section.label, section.name), (x, y), xytext=(0, radius),
                        textcoords="offset points", ha="center", va="bottom", fontsize=11,
                        fontweight="bold")
            self.notes.append(ax.annotate("", (x, y), xytext=(0, -radius), textcoords="offset points",
                                          ha="center", va="top", fontsize=10))
            if not section.is_rear:
                self.marks[section.name] = tuple(
                    ax.annotate("", (x, y), xytext=(dx * (radius + 2), 0), textcoords="offset points",
                                ha="right" if dx < 0 else "left", va="center", fontsize=14,
                                fontweight="bold") for dx in (-1, 1))
        labels = [model.case.sides[s].label or s for s in self.sides]
        top = xy[:, 1].max() + 0.55
        for x, text in ((-1.0, f"◀ {labels[0]}'s rear"), (0.0, "line of contact"),
                        (1.0, f"{labels[1]}'s rear ▶")):
            ax.text(x, top, text, ha="center", va="bottom", fontsize=10, color="#555555")
        handles = [Line2D([], [], marker="o", linestyle="", markersize=10, markerfacecolor=c,
                          markeredgecolor="#000000", label=s) for s, c in ACTIVITY_COLOURS.items()]
        handles.append(Line2D([], [], marker="o", linestyle="", markersize=10, markerfacecolor="#FFFFFF",
                              markeredgecolor="#000000", markeredgewidth=3,
                              label="order reached all"))
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=4,
                  frameon=False, fontsize=9, handletextpad=0.2, columnspacing=0.8)
        ys = xy[:, 1]
        ax.set_xlim(-1.7, 1.7)
        ax.set_ylim(ys.min() - 0.5, ys.max() + 0.8)
        ax.set_axis_off()

    def update(self, model: CeasefireModel) -> Figure:
        activity = section_activity(model)
        arrived = orders_arrived(model)
        widths = []
        for name, note in zip(self.names, self.notes, strict=True):
            sides = arrived.get(name, {})
            widths.append(4.0 if sides and all(sides.values()) else 0.8)
            note.set_text(activity[name])
            for side, mark in zip(self.sides, self.marks.get(name, ()), strict=False):
                got = sides.get(side)
                mark.set_text("" if got is None else ("✓" if got else "✗"))
                mark.set_color("#000000" if got else "#D55E00")
        self.nodes.set_facecolor([ACTIVITY_COLOURS[activity[n]] for n in self.names])
        self.nodes.set_linewidths(widths)
        return self.fig


def _short(label: str, name: str, limit: int = 18) -> str:
    """A section's label, or its name when the label is too long for the graph."""
    return label if len(label) <= limit else name.replace("_", " ").capitalize()


class IncidentsView:
    """Incidents per hour by cause (stacked), with t = 0 and the current time marked."""

    def __init__(self, model: CeasefireModel) -> None:
        self.fig, ax = _figure(5.6, 3.6, margins=dict(left=0.12, right=0.98, bottom=0.15, top=0.80))
        self.ax = ax
        self.edges = np.arange(math.floor(model.start_min / 60.0),
                               math.ceil(model.horizon_min / 60.0) + 1, dtype=float)
        zeros = np.zeros(len(self.edges) - 1)
        self.bars = {c: ax.stairs(zeros, self.edges, baseline=zeros, fill=True,
                                  color=CAUSE_COLOURS[c], label=c) for c in CAUSES}
        mark_ceasefire(ax)
        self.now = ax.axvline(model.now / 60.0, color="#555555", linewidth=1.2, linestyle=":",
                              label="now")
        ax.set_xlim(self.edges[0], self.edges[-1])
        ax.set_xlabel("hours since the ceasefire took effect (h)")
        ax.set_ylabel("incidents per hour")
        ax.set_title("Incidents per hour (after t = 0 each is a violation)", fontsize=12, pad=28)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=5, frameon=False, fontsize=9,
                  handlelength=1.5, columnspacing=1.0)

    def update(self, model: CeasefireModel) -> Figure:
        events = _table(model, "events")
        hours = events["t_min"].to_numpy() / 60.0
        causes = events["cause"].to_numpy()
        bottom = np.zeros(len(self.edges) - 1)
        for cause, bars in self.bars.items():
            counts, _ = np.histogram(hours[causes == cause], bins=self.edges)
            bars.set_data(bottom + counts, self.edges, bottom.copy())
            bottom += counts
        self.now.set_xdata([model.now / 60.0, model.now / 60.0])
        self.ax.set_ylim(0, max(4.0, bottom.max() * 1.1))
        return self.fig


class AccusationsView:
    """Each side's public accusations so far, and the mediator's interventions (shaded while
    their pressure lasts)."""

    def __init__(self, model: CeasefireModel) -> None:
        self.fig, ax = _figure(5.6, 3.6, margins=dict(left=0.12, right=0.98, bottom=0.15, top=0.80))
        self.ax = ax
        self.lines = {side: ax.step([], [], where="post", color=colour, linewidth=2.2,
                                    label=f"accusations by {model.case.sides[side].label or side}")[0]
                      for side, colour in zip(model.side_names, SIDE_COLOURS, strict=True)}
        mediator = model.case.mediator
        self.pressure_h = mediator.pressure_duration_min / 60.0 if mediator is not None else 0.0
        self.spans: list[Rectangle] = []
        self.marks = ax.plot([], [], "v", color="#009E73", markersize=10,
                             label="mediator intervenes (shaded: its pressure)")[0]
        mark_ceasefire(ax)
        ax.set_xlim(model.start_min / 60.0, model.horizon_min / 60.0)
        ax.set_xlabel("hours since the ceasefire took effect (h)")
        ax.set_ylabel("accusations so far")
        ax.set_title("Who blames whom, and the mediator", fontsize=12, pad=42)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False, fontsize=9,
                  handlelength=1.5, columnspacing=1.0)

    def update(self, model: CeasefireModel) -> Figure:
        steps = _table(model, "steps")
        hours = steps["t_min"].to_numpy() / 60.0
        top = 1.0
        for side, line in self.lines.items():
            counts = steps[f"accusations_by_{side}"].to_numpy()
            line.set_data(hours, counts)
            top = max(top, float(counts.max()) if counts.size else 0.0)
        starts = _table(model, "interventions")["t_min"].to_numpy() / 60.0
        now_h = model.now / 60.0
        while len(self.spans) < len(starts):
            self.spans.append(self.ax.axvspan(starts[len(self.spans)], now_h, color="#009E73",
                                              alpha=0.12, zorder=0))
        for start, span in zip(starts, self.spans, strict=True):
            span.set_width(min(start + self.pressure_h, now_h) - start)
        self.marks.set_data(starts, np.full(len(starts), top * 1.08))
        self.ax.set_ylim(0, top * 1.2 + 0.5)
        return self.fig


_VIEWS: weakref.WeakKeyDictionary[CeasefireModel, dict[type, Any]] = weakref.WeakKeyDictionary()
"""Each model's figures, kept between steps: building a figure costs more than redrawing it."""


def _view(model: CeasefireModel, kind: type) -> Any:
    views = _VIEWS.setdefault(model, {})
    if kind not in views:
        with plt.rc_context(STYLE):
            views[kind] = kind(model)
    return views[kind]


def _draw(model: CeasefireModel, kind: type) -> Figure:
    with _DRAWING, plt.rc_context(STYLE):
        return _view(model, kind).update(model)


def front_figure(model: CeasefireModel) -> Figure:
    """The front panel for ``model`` as it is now (see :class:`FrontView`)."""
    return _draw(model, FrontView)


def incidents_figure(model: CeasefireModel) -> Figure:
    """The incidents-per-hour panel for ``model`` as it is now (see :class:`IncidentsView`)."""
    return _draw(model, IncidentsView)


def accusations_figure(model: CeasefireModel) -> Figure:
    """The accusations panel for ``model`` as it is now (see :class:`AccusationsView`)."""
    return _draw(model, AccusationsView)


def figure_svg(fig: Figure) -> bytes:
    """A panel as SVG with real text (the browser draws the letters: half the cost of a PNG)."""
    buf = io.BytesIO()
    with _DRAWING, plt.rc_context({**STYLE, "svg.fonttype": "none", "svg.hashsalt": "ceasefire"}):
        fig.savefig(buf, format="svg")
    return buf.getvalue()


def status(model: CeasefireModel) -> dict[str, Any]:
    """The numbers the status panel shows (minutes relative to t = 0)."""
    events = _table(model, "events")
    post = events[events["t_min"] >= 0]
    window = model.case.outcomes
    collapse = collapse_min(events["t_min"].to_numpy(), model.start_min,
                            window.collapse_window_min, window.collapse_fraction)
    orders = _table(model, "orders")
    return {
        "now_min": model.now,
        "incidents": len(events),
        "violations": len(post),
        "by_cause": {c: int((post["cause"] == c).sum()) for c in CAUSES},
        "forces_ordered": int((orders["order_arrival_min"] <= model.now).sum()),
        "forces": len(orders),
        "interventions": len(_table(model, "interventions")),
        "collapse_min": None if math.isnan(collapse) else collapse,
    }


def verdict(model: CeasefireModel) -> str:
    """"Ceasefire holding", "Collapsed at +HH:MM" or, before t = 0, "Not yet in force"."""
    s = status(model)
    if s["collapse_min"] is not None:
        return f"Collapsed at {clock_text(s['collapse_min'])}"
    return "Not yet in force (starts at t = 0)" if s["now_min"] < 0 else "Ceasefire holding"


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
    scenario = solara.use_memo(lambda: load_scenario(case.value), [case.value])
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


__all__ = ["COMPONENTS", "CONTROLS", "ClassroomModel", "Control", "Page", "accusations_figure",
           "clock_text", "control_spec", "current_value", "front_figure", "incidents_figure",
           "model_params", "run_settings", "section_activity", "status", "status_lines",
           "status_text", "values_at", "verdict"]
