"""The classroom page's live panels: the front, incidents per hour, accusations.

Each panel is a matplotlib figure built once per model and updated in place as the model
steps (a fresh figure and layout per step would cost tens of milliseconds), then sent to the
page as SVG. They read only the model's public surface (``now``, ``log``, its tables,
``sections``, ``side_names``, ``case``).
"""

from __future__ import annotations

import io
import itertools
import math
import threading
import weakref
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from sim.faces.figures import CAUSE_COLOURS, OKABE_ITO, STYLE, mark_ceasefire
from sim.model.ceasefire import CeasefireModel
from sim.model.events import CAUSES

ACTIVITY_WINDOW_MIN = 60.0
"""The front panel colours a section by its incidents in this trailing window."""
HEAVY_SEVERITY = 5.0
"""Summed severity in the window at which a section counts as heavy fighting (five rounds of
small-arms fire, two of artillery): a display threshold, not a model parameter."""
ACTIVITY_COLOURS = {"calm": "#56B4E9", "skirmish": "#E69F00", "heavy fighting": "#D55E00"}
SIDE_COLOURS = (OKABE_ITO[4], OKABE_ITO[6])


# -- what the panels show ---------------------------------------------------------------------

_TABLES: weakref.WeakKeyDictionary[CeasefireModel, tuple[tuple[float, int], dict[str, pd.DataFrame]]] = (
    weakref.WeakKeyDictionary())
"""The model's tables as of its current minute: the panels read each several times per step."""


def table_now(model: CeasefireModel, name: str) -> pd.DataFrame:
    """``model.<name>table_now()`` (events, steps, orders, interventions), computed once per step."""
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
    events = table_now(model, "events")
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
    orders = table_now(model, "orders")
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
        events = table_now(model, "events")
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
        steps = table_now(model, "steps")
        hours = steps["t_min"].to_numpy() / 60.0
        top = 1.0
        for side, line in self.lines.items():
            counts = steps[f"accusations_by_{side}"].to_numpy()
            line.set_data(hours, counts)
            top = max(top, float(counts.max()) if counts.size else 0.0)
        starts = table_now(model, "interventions")["t_min"].to_numpy() / 60.0
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
