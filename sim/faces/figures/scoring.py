"""Figures and files of forecast scores: predictive bands over a record, the first violation,
and the leave-one-record-out skill chart; the numbers come from :mod:`sim.studies.scoring` and
:mod:`sim.studies.loro`."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.faces.figures import OKABE_ITO, mark_ceasefire, new_figure, save
from sim.studies.loro import (
    Fold,
    loro_table,
    own_widths_table,
    variant_differences,
    variant_windows,
    widths_table,
)
from sim.studies.scoring import PREDICTORS, ScoreResult
from sim.studies.tables import write_csv_atomic


def bands_figure(result: ScoreResult) -> Figure:
    """Predictive 50% and 90% bands of each predictor over the recorded counts, one panel per
    section; windows on the x axis (days from t = 0), counts on a symmetric log axis."""
    w = result.windows
    if w.empty:
        return first_figure(result)
    sections = list(dict.fromkeys(w["section"]))
    fig, axes = new_figure(width_in=12.0, height_in=1.2 + 3.0 * len(sections), nrows=len(sections),
                           ncols=1, squeeze=False, sharex=True)
    names = [n for n in PREDICTORS if result.predictives[n].counts is not None]
    colours = dict(zip(PREDICTORS, (OKABE_ITO[4], OKABE_ITO[1], OKABE_ITO[2], OKABE_ITO[0],
                                    OKABE_ITO[6]), strict=True))
    for ax, section in zip(axes[:, 0], sections, strict=True):
        sel = np.flatnonzero(w["section"].to_numpy() == section)
        start = w["start_min"].to_numpy()[sel] / 1440.0
        end = w["end_min"].to_numpy()[sel] / 1440.0
        width = end - start
        for k, n in enumerate(names):
            x = start + width * (k + 1) / (len(names) + 1)
            c = result.predictives[n].counts[:, sel]
            q05, q25, q75, q95 = np.quantile(c, [0.05, 0.25, 0.75, 0.95], axis=0)
            ax.vlines(x, q05, q95, color=colours[n], linewidth=1.5, alpha=0.55)
            ax.vlines(x, q25, q75, color=colours[n], linewidth=5, label=n)
        ax.scatter((start + end) / 2, w["count"].to_numpy()[sel], marker="D", s=36, color="#000000",
                   zorder=5, label="recorded")
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_ylim(bottom=0)
        mark_ceasefire(ax)
        ax.set_ylabel(f"{'claimed' if result.kind == 'claims' else result.kind} per window\n"
                      f"({section or 'front'}, count)")
    axes[-1, 0].set_xlabel("days from the ceasefire (t = 0); each window's bars side by side")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=min(7, len(labels)), frameon=False)
    fig.suptitle(f"{result.scenario}: predictive bands (thick 50%, thin 90%) and the record", y=1.04)
    return fig


def first_figure(result: ScoreResult) -> Figure:
    """For a record with nothing counted: each predictor's distribution of the first violation's
    minute (cumulative, hours from t = 0) against the record's interval, or why there is none."""
    fig, ax = new_figure()
    colours = dict(zip(PREDICTORS, (OKABE_ITO[4], OKABE_ITO[1], OKABE_ITO[2], OKABE_ITO[0],
                                    OKABE_ITO[6]), strict=True))
    drawn = False
    for n, p in result.predictives.items():
        if p.first is None:
            continue
        x = np.sort(p.first[np.isfinite(p.first)]) / 60.0
        if x.size:
            ax.step(np.r_[0.0, x], np.arange(x.size + 1) / p.first.size, where="post",
                    color=colours.get(n, OKABE_ITO[5]), label=n)
            drawn = True
    if result.first_violation:
        lo, hi = result.first_violation
        ax.axvspan(lo / 60.0, hi / 60.0, color="#999999", alpha=0.4, label="recorded first violation")
    mark_ceasefire(ax)
    ax.set_xlabel("hours from the ceasefire (t = 0)")
    ax.set_ylabel("P(first violation by then)")
    ax.set_ylim(0, 1)
    if not drawn:
        ax.text(0.5, 0.5, "no first-violation forecast: " + (result.notes[-1] if result.notes else ""),
                transform=ax.transAxes, ha="center", va="center", wrap=True)
    ax.legend(loc="lower right", frameon=False)
    ax.set_title(f"{result.scenario}: nothing counted to score; the first violation")
    return fig


def write_outputs(result: ScoreResult, out: str | Path, fmt: str = "png") -> list[Path]:
    """Write ``scores.csv``, ``skill.csv`` and ``score-bands.<fmt>`` into ``out``: all are
    written to a temporary folder first and moved in at the end, so an error leaves nothing."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".score-{os.getpid()}.tmp"
    tmp.mkdir(exist_ok=True)
    try:
        staged = [write_csv_atomic(result.table, tmp / "scores.csv"),
                  write_csv_atomic(result.skill, tmp / "skill.csv"),
                  save(bands_figure(result), tmp / "score-bands", fmt)]
        final = []
        for p in staged:
            os.replace(p, out / p.name)
            final.append(out / p.name)
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def loro_figure(table: pd.DataFrame) -> Figure:
    """Per left-out record, the model's CRPS skill against each other predictor with its 90%
    interval (> 0: the model forecasts better); records with nothing counted are listed as such."""
    refs = [p for p in PREDICTORS if p != "model"]
    records = list(dict.fromkeys(table["record"]))
    fig, ax = new_figure(width_in=11.0, height_in=1.6 + 0.8 * len(records))
    colours = dict(zip(refs, (OKABE_ITO[1], OKABE_ITO[2], OKABE_ITO[0], OKABE_ITO[6]), strict=True))
    for k, p in enumerate(refs):
        sub = table[table["predictor"] == p].set_index("record").reindex(records)
        y = np.arange(len(records)) + (k - (len(refs) - 1) / 2) * 0.18
        ok = sub["skill"].notna().to_numpy()
        s = sub["skill"].to_numpy(dtype=float)
        lo, hi = sub["skill_low"].to_numpy(dtype=float), sub["skill_high"].to_numpy(dtype=float)
        # Skill is unbounded below; the drawing is clipped at -3: a clipped point is drawn as a
        # left-pointing triangle at -3 with its value written beside it.
        clip = lambda a: np.maximum(a, -3.0)  # noqa: E731
        ax.errorbar(clip(s[ok]), y[ok], xerr=[clip(s[ok]) - clip(lo[ok]), clip(hi[ok]) - clip(s[ok])],
                    fmt="none", ecolor=colours[p], capsize=3)
        inside = ok & (s >= -3.0)
        ax.plot(s[inside], y[inside], "o", color=colours[p], label=f"vs {p}")
        ax.plot(np.full((ok & ~inside).sum(), -3.0), y[ok & ~inside], "<", color=colours[p])
        for yy, v in zip(y[ok & ~inside], s[ok & ~inside], strict=True):
            ax.annotate(f"{v:.3g}", (-3.0, yy), xytext=(6, 0), textcoords="offset points",
                        va="center", fontsize=10, color=colours[p])
    ax.axvline(0.0, color="#000000", linewidth=1)
    labels = []
    for r in records:
        sub = table[(table["record"] == r) & (table["predictor"] == "model")]
        target = sub["target"].iloc[0] if len(sub) else ""
        labels.append(f"{r}\n({target}, {int(sub['windows'].iloc[0]) if len(sub) else 0} windows)")
    ax.set_yticks(np.arange(len(records)), labels)
    ax.invert_yaxis()
    ax.set_xlim(-3.1, 1.0)
    ax.set_xlabel("CRPS skill of the model, 1 − CRPS_model / CRPS_ref (> 0: the model is better)\n"
                  "bars: 90% paired-bootstrap interval; ◀: below −3, value written")
    ax.legend(loc="best", frameon=False, ncols=2)
    ax.set_title("Leave one record out: the calibrated model against each reference")
    return fig


def write_loro(folds: Sequence[Fold], out: str | Path, *, fmt: str = "png",
               variants: bool = False, seed: int = 0) -> list[Path]:
    """Write ``leave-one-out.csv``, ``leave-one-out-widths.csv`` (shared parameters, fold
    posteriors), ``leave-one-out-own-widths.csv`` (each left-out record's own parameters,
    pre-ceasefire posterior), ``leave-one-out.<fmt>`` and (with ``variants``) ``variants.csv``
    into ``out``, each atomically."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = loro_table(folds)
    written = [write_csv_atomic(table, out / "leave-one-out.csv"),
               write_csv_atomic(widths_table(folds), out / "leave-one-out-widths.csv"),
               write_csv_atomic(own_widths_table(folds), out / "leave-one-out-own-widths.csv"),
               save(loro_figure(table), out / "leave-one-out", fmt)]
    if variants:
        written.append(write_csv_atomic(variant_differences(folds, seed=seed), out / "variants.csv"))
        written.append(write_csv_atomic(variant_windows(folds), out / "variant-windows.csv"))
    return written
