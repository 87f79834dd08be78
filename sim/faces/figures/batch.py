"""Figures of experiment batches: erosion curves, phase diagrams, order delays, sensitivity bars.

Each function takes the batch's tables (pandas) and returns a matplotlib Figure in the house
style; :func:`experiment_figure` draws the one a spec's ``[figure]`` table asks for and saves it
beside the batch's tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from sim.faces.figures import OKABE_ITO, mark_ceasefire, new_figure, save
from sim.model.outcomes import held_at
from sim.model.scenario import ScenarioError, load_scenario, parameter_info

if TYPE_CHECKING:
    from sim.studies.experiment import BatchResults, Experiment

HOURS_AXIS = "hours since the ceasefire took effect (t = 0)"
LINES = tuple(c for c in OKABE_ITO if c != "#F0E442")
"""Okabe-Ito without its yellow, which is too faint for thin lines on white."""


def label(key: str) -> str:
    """A readable axis label for a scenario key path, with its unit from the one definition."""
    parts = [p for p in key.split(".") if p != "*"]
    keep_parent = len(parts) > 1 and parts[-2] in ("mediator", "retaliation", "spillover")
    words = " ".join(parts[-2:] if keep_parent else parts[-1:]).replace("_", " ")
    try:
        unit = parameter_info(key).get("unit", "")
    except (KeyError, AttributeError):
        unit = ""
    if unit in ("min", "h") and words.endswith(f" {unit}"):
        words = words.removesuffix(f" {unit}")
    return f"{words} ({unit})" if unit and unit not in words else words


def _value_text(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v).replace("_", " ")


def erosion_curves(outcomes: pd.DataFrame, *, by: str | None, horizon_h: float,
                   title: str = "") -> Figure:
    """P(ceasefire still holding) against hours since t = 0, one curve per value of ``by``.

    Each curve is the share of runs whose collapse (sim.model.outcomes.collapse_min) had not come
    by that hour; the band is a 95% binomial interval (normal approximation).
    """
    fig, ax = new_figure()
    hours = np.linspace(0.0, horizon_h, 289)
    groups = [(None, outcomes)] if not by else list(outcomes.groupby(by, sort=False))
    for i, (value, rows) in enumerate(groups):
        collapse = rows["collapse_min"].to_numpy(dtype=float)
        held = rows["held"].to_numpy(dtype=float) if "held" in rows else None
        p = np.array([held_at(collapse, h, horizon_h, held) for h in hours])
        half = 1.96 * np.sqrt(p * (1 - p) / max(1, collapse.size))
        colour = LINES[i % len(LINES)]
        name = "all runs" if value is None else _value_text(value)
        ax.plot(hours, p, color=colour, linewidth=2.2, label=f"{name} (n = {collapse.size})")
        ax.fill_between(hours, np.clip(p - half, 0, 1), np.clip(p + half, 0, 1), color=colour,
                        alpha=0.15, linewidth=0)
    mark_ceasefire(ax)
    ax.set(xlim=(-0.02 * horizon_h, horizon_h), ylim=(0, 1.02), xlabel=HOURS_AXIS,
           ylabel="P(ceasefire still holding)", title=title)
    ax.legend(title=label(by) if by else None, loc="lower left", frameon=False)
    return fig


def phase_diagram(outcomes: pd.DataFrame, *, x: str, y: str, hours: float, horizon_h: float,
                  calibrated: tuple[float, float] | None = None, title: str = "") -> Figure:
    """Heat map of P(holding at ``hours``) over two grid parameters; a star marks ``calibrated``."""
    def p_hold(rows: pd.DataFrame) -> float:
        held = rows["held"].to_numpy(dtype=float) if "held" in rows else None
        return held_at(rows["collapse_min"].to_numpy(dtype=float), hours, horizon_h, held)

    table = (outcomes.groupby([y, x])[[c for c in ("collapse_min", "held") if c in outcomes]]
             .apply(p_hold).unstack(x).sort_index().sort_index(axis=1))
    xs, ys = list(table.columns), list(table.index)
    fig, ax = new_figure(8.4, 6.6)
    ax.grid(False)
    image = ax.imshow(table.to_numpy(dtype=float), origin="lower", cmap="viridis", vmin=0, vmax=1,
                      aspect="auto")
    for (j, i), p in np.ndenumerate(table.to_numpy(dtype=float)):
        ax.text(i, j, f"{p:.2f}", ha="center", va="center", fontsize=10,
                color="#000000" if p > 0.55 else "#FFFFFF")
    ax.set_xticks(range(len(xs)), [_value_text(v) for v in xs])
    ax.set_yticks(range(len(ys)), [_value_text(v) for v in ys])
    ax.set(xlabel=label(x), ylabel=label(y), title=title)
    fig.colorbar(image, ax=ax, label=f"P(holding at {hours:g} h)")
    if calibrated is not None:
        cx = np.interp(calibrated[0], np.asarray(xs, dtype=float), np.arange(len(xs)))
        cy = np.interp(calibrated[1], np.asarray(ys, dtype=float), np.arange(len(ys)))
        ax.plot([cx], [cy], marker="*", markersize=22, color=OKABE_ITO[0], markeredgecolor="#000000",
                linestyle="none", label="calibrated")
        ax.legend(loc="upper right", frameon=True)
    return fig


def order_delay(series: pd.DataFrame, points: pd.DataFrame, *, by: str, window_h: float,
                title: str = "") -> Figure:
    """Early violations by order delay: the violation rate over time (left) and the violations
    in the first ``window_h`` hours per run (right, mean ± 95% interval), per value of ``by``.
    """
    data = series.merge(points[["point", by]], on="point")
    width_min = float(np.diff(np.unique(data["t_min"]))[:1].max(initial=60.0))
    fig, (left, right) = new_figure(12.0, 5.6, ncols=2, width_ratios=(3, 2))
    start_h = -min(window_h / 2, 6.0)
    shown = data[(data["t_min"] >= start_h * 60) & (data["t_min"] < window_h * 60)]
    means, errors, values = [], [], []
    for i, (value, rows) in enumerate(shown.groupby(by, sort=True)):
        colour = LINES[i % len(LINES)]
        curve = rows.groupby("t_min")["incidents"].mean() * (60.0 / width_min)
        left.step(curve.index / 60.0, curve.to_numpy(), where="post", color=colour, linewidth=2,
                  label=_value_text(value))
        early = rows[rows["t_min"] >= 0].groupby("run")["incidents"].sum()
        values.append(value)
        means.append(early.mean())
        errors.append(1.96 * early.std(ddof=1) / np.sqrt(max(1, early.size)) if early.size > 1 else 0.0)
    mark_ceasefire(left)
    left.set(xlabel=HOURS_AXIS, ylabel="incidents per hour (mean over runs)", xlim=(start_h, window_h))
    left.legend(title=label(by), frameon=False)
    positions = np.arange(len(values))
    right.bar(positions, means, yerr=errors, color=OKABE_ITO[4], capsize=4)
    right.set_xticks(positions, [_value_text(v) for v in values])
    right.set(xlabel=label(by), ylabel=f"violations in the first {window_h:g} h per run")
    if title:
        fig.suptitle(title)
    return fig


def sensitivity_bars(table: pd.DataFrame, *, title: str = "") -> Figure:
    """Bar chart of a sensitivity table, one panel per statistic: Sobol' S1 and ST (corrected for
    replicate noise) with their bootstrap intervals and the noise share in the panel's title, or
    Morris mu* (with its interval) and sigma. A hatched bar marks an index with a warning.
    """
    stats = list(dict.fromkeys(table["statistic"]))
    fig, axes = new_figure(max(6.0, 5.0 * len(stats)), 5.6, ncols=len(stats), squeeze=False)
    sobol = table["method"].iloc[0] == "sobol"
    bars = (("S1", "first order S1"), ("ST", "total ST")) if sobol else \
        (("mu_star", "μ* (mean |effect|)"), ("sigma", "σ (interactions)"))
    for ax, stat in zip(axes[0], stats, strict=True):
        rows = table[table["statistic"] == stat]
        positions = np.arange(len(rows))
        for k, (col, name) in enumerate(bars):
            value = rows[col].to_numpy(dtype=float)
            if sobol:
                low = rows[f"{col}_low"].to_numpy(dtype=float)
                high = rows[f"{col}_high"].to_numpy(dtype=float)
                yerr = np.vstack([np.maximum(value - low, 0.0), np.maximum(high - value, 0.0)])
                flagged = rows["warning"].fillna("").astype(str).str.contains(f"{col} interval wider",
                                                                              regex=False).to_numpy()
            else:
                yerr = rows["mu_star_conf"].to_numpy(dtype=float) if col == "mu_star" else None
                flagged = np.zeros(len(rows), dtype=bool)
            drawn = ax.bar(positions + (k - 0.5) * 0.38, value, width=0.38, color=OKABE_ITO[4 if k else 0],
                           yerr=yerr, capsize=3, label=name)
            for patch, flag in zip(drawn.patches, flagged, strict=True):
                if flag:
                    patch.set_hatch("//")
                    patch.set_alpha(0.55)
        ax.set_xticks(positions, [label(p) for p in rows["parameter"]], rotation=30, ha="right")
        heading = _statistic_title(stat)
        if sobol:
            share = float(rows["noise_share"].iloc[0])
            heading += "\nreplicate noise: " + ("not estimable" if np.isnan(share) else
                                                 f"{share:.0%} of the variance")
            ends = rows[["S1_low", "S1_high", "ST_low", "ST_high"]].to_numpy(dtype=float)
            ax.set_ylim(min(0.0, float(np.nanmin(ends))) - 0.02, max(1.0, float(np.nanmax(ends))) + 0.02)
        ax.set(title=heading, ylabel="Sobol' index (share of variance)" if sobol else "effect per unit range")
        ax.axhline(0, color="#000000", linewidth=0.8)
        handles = [Patch(facecolor=OKABE_ITO[4 if k else 0], label=name) for k, (_, name) in enumerate(bars)]
        if sobol:
            handles.append(Patch(facecolor="#BBBBBB", hatch="//", label="interval wider than the index"))
        ax.legend(handles=handles, frameon=False)
    if title:
        fig.suptitle(title)
    return fig


def _statistic_title(stat: str) -> str:
    if stat == "collapse_h":
        return "time to collapse (h, capped at horizon)"
    if stat.startswith("p_hold_"):
        return f"P(holding at {stat.removeprefix('p_hold_').removesuffix('h')} h)"
    return stat.replace("_", " ")


def calibrated_point(exp: Experiment, x: str, y: str) -> tuple[float, float] | None:
    """(x, y) of the calibrated scenario beside the base one (``<name>.calibrated.toml``), if any.

    A key path with ``*`` takes the mean over the names it matches. None without such a file.
    """
    path = exp.scenario_path.with_name(f"{exp.scenario_path.stem}.calibrated.toml")
    if not path.is_file():
        return None
    try:
        dump = load_scenario(path).model_dump(mode="python")
    except ScenarioError:
        return None
    values = [_values_at(dump, key.split(".")) for key in (x, y)]
    if not all(values) or not all(isinstance(v, int | float) for vs in values for v in vs):
        return None
    return float(np.mean(values[0])), float(np.mean(values[1]))


def _values_at(node: Any, parts: Sequence[str]) -> list[Any]:
    if not parts:
        return [node]
    if not isinstance(node, dict):
        return []
    head, rest = parts[0], parts[1:]
    names = list(node) if head == "*" else [head] if head in node else []
    return [v for n in names for v in _values_at(node[n], rest)]


def experiment_figure(results: BatchResults, fmt: str = "png") -> Path | None:
    """Draw the figure a spec's ``[figure]`` table asks for into the batch folder (None if none)."""
    exp = results.experiment
    spec = exp.spec.figure
    if spec is None:
        return None
    horizon_h = exp.scenario.scenario.horizon_h
    title = exp.spec.experiment.title
    if spec.kind == "erosion_curves":
        fig = erosion_curves(results.outcomes, by=spec.by or None, horizon_h=horizon_h, title=title)
    elif spec.kind == "phase_diagram":
        fig = phase_diagram(results.outcomes, x=spec.x, y=spec.y, hours=spec.hours, horizon_h=horizon_h,
                            calibrated=calibrated_point(exp, spec.x, spec.y), title=title)
    else:
        fig = order_delay(results.series, results.points, by=spec.by, window_h=spec.window_h, title=title)
    return save(fig, results.folder / exp.name, fmt)
