"""The scenario-discovery figure: PRIM's peeling trajectory and the chosen box."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from sim.faces.figures import new_figure, save
from sim.faces.figures.batch import LINES, label

if TYPE_CHECKING:
    from sim.studies.discover import Discovery


def discovery_figure(found: Discovery, title: str = "") -> Figure:
    """Left: coverage against density of every box of the trajectory, coloured by how many
    parameters it restricts, the chosen box circled. Right: the chosen box, each restricted
    parameter's kept range drawn over its whole range, with its limits and quasi-p-value."""
    fig, (left, right) = new_figure(12.8, 5.6, ncols=2, width_ratios=[1.0, 1.15])
    traj = found.trajectory
    counts = traj["restricted"].to_numpy(dtype=int)
    colours = [LINES[c % len(LINES)] for c in counts]
    left.plot(traj["coverage"], traj["density"], color="#999999", linewidth=1.0, zorder=1)
    left.scatter(traj["coverage"], traj["density"], c=colours, s=36, edgecolors="#000000",
                 linewidths=0.4, zorder=2)
    row = found.chosen_row
    left.scatter([row["coverage"]], [row["density"]], s=260, facecolors="none", edgecolors="#000000",
                 linewidths=2.0, zorder=3)
    left.annotate(f"box {found.chosen}", (row["coverage"], row["density"]), xytext=(-70, -40),
                  textcoords="offset points", fontsize=12, arrowprops={"arrowstyle": "-", "color": "#555555"})
    base = float(traj["density"].iloc[0])
    left.axhline(base, color="#555555", linestyle=":", linewidth=1.2)
    left.annotate(f"all cases: {base:.2f}", (0.02, base), xytext=(0, 4), textcoords="offset points",
                  fontsize=10, color="#555555")
    handles = [Line2D([], [], marker="o", linestyle="", markersize=8, markerfacecolor=LINES[c % len(LINES)],
                      markeredgecolor="#000000", label=str(c)) for c in sorted(set(counts))]
    left.legend(handles=handles, title="restricted parameters", loc="lower left", frameon=False, ncol=3,
                fontsize=10, title_fontsize=10)
    left.set(xlim=(0, 1.02), ylim=(0, 1.02), xlabel="coverage (share of all cases of interest in the box)",
             ylabel="density (share of the box's cases of interest)",
             title=f"Peeling trajectory: {found.condition}")

    box = found.box
    right.set_title(f"Box {found.chosen}: coverage {row['coverage']:.2f}, density {row['density']:.2f}, "
                    f"mass {row['mass']:.2f}")
    if len(box) == 0:
        right.text(0.5, 0.5, "no parameter restricted", ha="center", va="center", transform=right.transAxes)
        right.set_axis_off()
    else:
        right.grid(False)
        names = list(box["parameter"])
        for i, r in enumerate(box.itertuples(index=False)):
            lo, hi = found.ranges[r.parameter]
            span = hi - lo if hi > lo else 1.0
            a, b = (r.low - lo) / span, (r.high - lo) / span
            y = len(names) - 1 - i
            right.barh(y, 1.0, left=0.0, height=0.5, color="#DDDDDD", edgecolor="#999999")
            right.barh(y, b - a, left=a, height=0.5, color=LINES[4 % len(LINES)], edgecolor="#000000")
            right.text(a, y + 0.3, f"{r.low:.3g}", ha="left", va="bottom", fontsize=11)
            right.text(b, y + 0.3, f"{r.high:.3g}", ha="right", va="bottom", fontsize=11)
            qps = [q for q in (r.qp_low, r.qp_high) if not math.isnan(q)]
            right.text(1.02, y, f"qp {max(qps):.1g}" if qps else "", va="center", fontsize=11)
        right.set_yticks(np.arange(len(names))[::-1], [label(n) for n in names])
        right.set_xlim(0, 1.18)
        right.set_xticks([0, 0.5, 1], ["low end", "mid", "high end"])
        right.set_xlabel("position in the parameter's sampled range")
        extra = max(0.0, (3 - len(names)) / 2)  # one or two bars sit mid-height, not on the axis
        right.set_ylim(-0.7 - extra, len(names) - 0.3 + extra)
    if title:
        fig.suptitle(title)
    return fig


def write_discovery_figure(found: Discovery, out: str | Path, figure_format: str = "png") -> Path:
    """Draw :func:`discovery_figure` into ``out/discover.<figure_format>`` (atomic) and add the
    file to ``found.files``; the tables come from :func:`sim.studies.discover.discover`."""
    path = save(discovery_figure(found), Path(out) / "discover", figure_format)
    found.files.append(path)
    return path
