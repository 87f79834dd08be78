"""Figures of a calibration: prior vs posterior marginals, and the posterior predictive check."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sim.faces.figures import CAUSE_COLOURS, OKABE_ITO, mark_ceasefire, new_figure
from sim.studies.calibration import Prior, parameter_or_observation_info, weighted_quantile

REPORT_COLOURS = {"incident": "#000000", "calm": "#009E73", "statement": "#999999"}


def marginals(priors: Sequence[Prior], table: pd.DataFrame,
              scenario_values: Mapping[str, float] | None = None, *, bins: int = 20) -> Figure:
    """One panel per parameter: the prior's density (flat in its own scale) and the weighted
    posterior histogram, with the scenario's hand-chosen value and the posterior median.

    Log-uniform parameters are drawn on a log axis and their densities are per unit of log value,
    so both kinds of prior look flat.
    """
    n = len(priors)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = new_figure(width_in=4.6 * cols, height_in=3.3 * rows + 0.6, nrows=rows, ncols=cols,
                           squeeze=False)
    w = table["weight"].to_numpy(dtype=float)
    w = w / w.sum()
    for ax, prior in zip(axes.flat, priors, strict=False):
        x = table[prior.path].to_numpy(dtype=float)
        log = prior.distribution == "loguniform"
        g = np.log if log else (lambda v: np.asarray(v, dtype=float))
        lo, hi = g(prior.low), g(prior.high)
        edges_u = np.linspace(lo, hi, bins + 1)
        heights, _ = np.histogram(g(x), bins=edges_u, weights=w)
        heights = heights / np.diff(edges_u)
        edges = np.exp(edges_u) if log else edges_u
        ax.stairs(np.full(bins, 1.0 / (hi - lo)), edges, fill=True, color=OKABE_ITO[1], alpha=0.35,
                  label="prior")
        ax.stairs(heights, edges, baseline=None, color=OKABE_ITO[5], linewidth=2, label="posterior")
        med = float(weighted_quantile(x, w, [0.5])[0])
        ax.axvline(med, color=OKABE_ITO[5], linestyle="-", linewidth=1.2, label="posterior median")
        if scenario_values and prior.path in scenario_values:
            ax.axvline(scenario_values[prior.path], color="#000000", linestyle=":", linewidth=1.5,
                       label="scenario (hand-chosen)")
        if log:
            ax.set_xscale("log")
        ax.set_xlim(prior.low, prior.high)
        unit = (parameter_or_observation_info(prior.path) or {}).get("unit", "")
        ax.set_xlabel(f"{_short(prior.path)}" + (f"\n({unit})" if unit else ""), fontsize=11)
        ax.set_ylabel("density per log unit" if log else "density", fontsize=11)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=4, frameon=False)
    fig.suptitle("Calibration: prior and posterior of each parameter", y=1.02)
    return fig


def predictive(events: pd.DataFrame, runs: int, record: pd.DataFrame, sections: Sequence[str], *,
               start_min: float, until_min: float = 1440.0, title: str = "") -> Figure:
    """Posterior predictive check: each run's detected incidents per section over time, with the
    reported events on top (reported times are intervals, drawn as spans).

    ``events`` is a runs' event table (``Results.events``); ``record`` a record table
    (sim.records.record.read_record).
    """
    rows = [*sections, "(no place named)"]
    fig, ax = new_figure(width_in=13.0, height_in=1.0 + 0.75 * len(rows))
    seen = events[events["detected"] & (events["t_min"] <= until_min)] if len(events) else events
    index = {s: i for i, s in enumerate(rows)}
    if len(seen):
        # Each run gets its own lane within the section's row.
        lane = (seen["run"].to_numpy() % max(runs, 1)) / max(runs, 1) * 0.6 - 0.3
        y = seen["section"].map(index).to_numpy() + lane
        colours = seen["cause"].map(CAUSE_COLOURS).to_numpy()
        ax.scatter(seen["t_min"].to_numpy() / 60.0, y, s=5, c=colours, marker="|", alpha=0.5,
                   linewidths=0.6, zorder=2)
    labelled: dict[int, int] = {}
    for rec in record.itertuples(index=False):
        row = index.get(rec.section or "(no place named)", len(rows) - 1)
        nth = labelled[row] = labelled.get(row, -1) + 1  # stagger labels that share a row
        a, b = max(rec.t_min_earliest, start_min) / 60.0, min(rec.t_min_latest, until_min) / 60.0
        if a > until_min / 60.0:
            continue
        group = ("calm" if rec.kind in ("calm", "shelling_stopped") else
                 "statement" if rec.type in ("statement", "claim") else "incident")
        colour = REPORT_COLOURS[group]
        ax.plot([a, max(b, a + 0.08)], [row + 0.42, row + 0.42], color=colour, linewidth=6,
                solid_capstyle="butt", alpha=0.8, zorder=4)
        label = (f"claim by {rec.reported_by}" if rec.type == "claim" else
                 f"{rec.kind}: {rec.count}" if rec.type == "count" else rec.kind)
        ax.annotate(label, (a, row + 0.42), xytext=(2, 5 + 11 * (nth % 2)), textcoords="offset points",
                    fontsize=9,
                    color=colour, zorder=5)
    mark_ceasefire(ax)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_ylim(-0.6, len(rows) - 0.2)
    ax.invert_yaxis()
    ax.set_xlim(start_min / 60.0, until_min / 60.0)
    ax.set_xlabel("hours since the ceasefire took effect (h)")
    ax.grid(axis="y", visible=False)
    handles = [Line2D([], [], color=c, marker="|", linestyle="", markersize=10, label=f"simulated {k}")
               for k, c in CAUSE_COLOURS.items()]
    handles += [Patch(color=REPORT_COLOURS["incident"], label="reported fighting (time range)"),
                Patch(color=REPORT_COLOURS["calm"], label="reported calm"),
                Patch(color=REPORT_COLOURS["statement"], label="reported statement")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title(title or f"Posterior predictive check: detected incidents in {runs} runs "
                 "drawn from the posterior, and the record")
    return fig


def _short(path: str) -> str:
    """A key path short enough for an axis label."""
    return (path.replace("sides.", "").replace(".force.", " · ").replace(".command.", " · command ")
            .replace("peacekeepers.", "peacekeepers · "))


def choice_probabilities(choices: pd.DataFrame) -> Figure:
    """ABC model choice: each categorical parameter's values, prior probability (outline) and
    posterior probability (bar) with its bootstrap 90% interval (``SetPosterior.choices()``)."""
    params = list(dict.fromkeys(choices["parameter"]))
    fig, axes = new_figure(width_in=4.6 * len(params) + 0.6, height_in=4.2, ncols=len(params),
                           squeeze=False)
    for ax, param in zip(axes.flat, params, strict=True):
        part = choices[choices["parameter"] == param]
        x = np.arange(len(part))
        post = part["posterior"].to_numpy(dtype=float)
        err = np.vstack([post - part["q05"].to_numpy(dtype=float), part["q95"].to_numpy(dtype=float) - post])
        ax.bar(x, post, color=OKABE_ITO[4], label="posterior (bootstrap 90%)")
        ax.errorbar(x, post, yerr=np.clip(err, 0, None), fmt="none", ecolor="#000000", capsize=4)
        ax.bar(x, part["prior"], fill=False, edgecolor=OKABE_ITO[0], linewidth=2, linestyle="--",
               label="prior")
        ax.set_xticks(x, [str(v) for v in part["value"]])
        ax.set_ylim(0, 1)
        ax.set_ylabel("probability")
        ax.set_xlabel(_short(param))
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=2, frameon=False)
    return fig


def sbc_ranks(table: pd.DataFrame, summary: pd.DataFrame, *, bins: int = 10) -> Figure:
    """Simulation-based calibration (sim.studies.sbc): one panel per parameter with the histogram of the
    truths' weighted ranks in their (adjusted) posteriors (flat when calibrated; the shaded band
    holds 99% of a bin's counts under uniform ranks, Binomial(truths, 1/bins)), and a last panel
    with each parameter's coverage of 90% intervals (95% Clopper-Pearson interval) against the
    target 0.85-0.95, adjusted and as accepted, labelled with the mean posterior width over the
    prior's.

    ``table``: one row per truth, method and parameter (``method``, ``parameter``, ``rank``);
    ``summary``: one row per method and parameter (``coverage``, ``coverage_low``,
    ``coverage_high``, ``mean_width_ratio``).
    """
    from scipy import stats

    methods = [m for m in ("regression", "none") if m in set(summary["method"])]
    main = methods[0]
    params = list(summary.loc[summary["method"] == main, "parameter"])
    n = len(params) + 1
    cols = min(2, n)
    rows = math.ceil(n / cols)
    fig, axes = new_figure(width_in=5.6 * cols, height_in=3.6 * rows + 0.8, nrows=rows, ncols=cols,
                           squeeze=False)
    flat = list(axes.flat)
    edges = np.linspace(0.0, 1.0, bins + 1)
    for ax, param in zip(flat, params, strict=False):
        pick = (table["parameter"] == param) & (table["method"] == main)
        ranks = table.loc[pick, "rank"].to_numpy(dtype=float)
        counts, _ = np.histogram(ranks, bins=edges)
        lo, hi = stats.binom.ppf([0.005, 0.995], len(ranks), 1.0 / bins)
        ax.axhspan(lo, hi, color=OKABE_ITO[1], alpha=0.3, label="99% band if uniform")
        ax.axhline(len(ranks) / bins, color=OKABE_ITO[1], linewidth=1.5)
        ax.stairs(counts, edges, fill=True, color=OKABE_ITO[4], alpha=0.85,
                  label="truths (adjusted posterior)" if main == "regression" else "truths")
        ax.set_xlim(0.0, 1.0)
        ax.set_xlabel("rank of the truth in its posterior\n(weight below it, 0-1)", fontsize=11)
        ax.set_ylabel("truths (count)", fontsize=11)
        ax.set_title(_short(param), fontsize=12)
    ax = flat[len(params)]
    ax.axvspan(0.85, 0.95, color=OKABE_ITO[2], alpha=0.25, label="target 0.85-0.95")
    styles = {"regression": (OKABE_ITO[5], "o", "adjusted", 0.12),
              "none": (OKABE_ITO[6], "s", "as accepted", -0.12)}
    for method in methods:
        part = summary[summary["method"] == method].set_index("parameter").loc[params]
        colour, marker, label, offset = styles[method]
        y = np.arange(len(params)) + (offset if len(methods) > 1 else 0.0)
        cov = part["coverage"].to_numpy(dtype=float)
        err = np.vstack([cov - part["coverage_low"].to_numpy(dtype=float),
                         part["coverage_high"].to_numpy(dtype=float) - cov])
        ax.errorbar(cov, y, xerr=err, fmt=marker, color=colour, capsize=4,
                    label=f"coverage, {label} (95% CI)")
        for k, width in enumerate(part["mean_width_ratio"]):
            ax.annotate(f"width {width:.2f}", (cov[k], y[k]), xytext=(0, 6 if offset >= 0 else -12),
                        textcoords="offset points", ha="center", fontsize=9, color=colour)
    ax.set_yticks(np.arange(len(params)),
                  [p.rsplit(".", 1)[0] + "\n" + p.rsplit(".", 1)[1] for p in params], fontsize=9)
    ax.set_ylim(-0.6, len(params) - 0.3)
    ax.set_xlim(0.5, 1.0)
    ax.set_xlabel("share of truths inside the posterior 90% interval", fontsize=11)
    ax.set_title("coverage of 90% intervals\n(width: posterior / prior 90% width)", fontsize=12)
    for extra in flat[n:]:
        extra.set_visible(False)
    handles, labels = flat[0].get_legend_handles_labels()
    h2, l2 = ax.get_legend_handles_labels()
    fig.legend(handles + h2, labels + l2, loc="outside lower center", ncols=3, frameon=False)
    truths = int(summary["truths"].max())
    fig.suptitle(f"Does calibration recover the truth? {truths} synthetic records")
    return fig
