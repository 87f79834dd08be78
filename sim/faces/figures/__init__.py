"""Figures for slides and papers: one house style, shared by every plot.

Axes carry units, t = 0 is marked, colours come from the Okabe-Ito palette (safe for the
common forms of colour blindness), text is readable at slide size, and figures are saved as
PNG unless SVG or PDF is asked for.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are files; the classroom page draws its own
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sim.studies.tables import write_atomic

OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000")
"""Okabe & Ito (2008) colour-blind-safe palette."""
CAUSE_COLOURS = {"initiated": "#0072B2", "retaliation": "#D55E00", "spillover": "#009E73"}
FORMATS = ("png", "svg", "pdf")

STYLE = {
    "font.size": 13, "axes.titlesize": 15, "axes.labelsize": 14, "legend.fontsize": 12,
    "xtick.labelsize": 12, "ytick.labelsize": 12, "figure.dpi": 100, "savefig.dpi": 200,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3,
    "axes.prop_cycle": matplotlib.cycler(color=OKABE_ITO),
}


def new_figure(width_in: float = 10.0, height_in: float = 5.6, **subplots: object) -> tuple[Figure, Axes]:
    """A figure (16:9 slide proportions by default) in the house style."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(width_in, height_in), layout="constrained", **subplots)
    return fig, ax


def mark_ceasefire(ax: Axes, *, x: float = 0.0, label: str = "ceasefire (t = 0)") -> None:
    """A vertical line at the ceasefire's effective time."""
    ax.axvline(x, color="#000000", linestyle="--", linewidth=1.5, label=label, zorder=3)


def save(fig: Figure, path: str | Path, fmt: str = "png") -> Path:
    """Save ``fig`` as ``path`` with the format's suffix, atomically, and close it."""
    if fmt not in FORMATS:
        raise ValueError(f"figure format {fmt!r} is not one of {', '.join(FORMATS)}")
    def write(tmp: Path) -> None:
        with plt.rc_context(STYLE):
            fig.savefig(tmp, format=fmt)
    try:
        return write_atomic(Path(path).with_suffix(f".{fmt}"), write)
    finally:
        plt.close(fig)
