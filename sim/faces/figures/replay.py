"""The replay's frame: the front, the incidents so far, accusations (and commitment), a clock.

Built once from a finished run's tables, then updated in place for each frame's minute (a new
figure per frame would cost ten times as much). The front uses the classroom page's layout and
colours (sim.faces.figures.live), so a replay looks like the page a class has seen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import animation
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from PIL import Image

from sim.faces.figures import CAUSE_COLOURS, STYLE, mark_ceasefire
from sim.faces.figures.live import (
    ACTIVITY_COLOURS,
    ACTIVITY_WINDOW_MIN,
    HEAVY_SEVERITY,
    SIDE_COLOURS,
    _short,
    clock_text,
    front_layout,
)
from sim.model.ceasefire import CeasefireModel
from sim.model.events import CAUSES

ACTIVITY_NAMES = tuple(ACTIVITY_COLOURS)
"""calm, skirmish, heavy fighting: as on the page."""


class ReplayFigure:
    """One figure for every frame of a replay of ``model`` (run to its horizon)."""

    def __init__(self, model: CeasefireModel, size: tuple[int, int], *, title: str = "") -> None:
        from sim.faces.replay import commitment_columns

        with plt.rc_context(STYLE):
            self._build(model, size, title, commitment_columns)

    def _build(self, model: CeasefireModel, size: tuple[int, int], title: str,
               commitment_columns: Any) -> None:
        events = model.events_table().sort_values("t_min", kind="stable")
        steps = model.steps_table()
        orders = model.orders_table()
        sides = model.side_names
        labels = {s: model.case.sides[s].label or s for s in sides}
        self.title = title
        self.dpi = 100
        self.fig = Figure(figsize=(size[0] / self.dpi, size[1] / self.dpi), dpi=self.dpi)
        scale = size[1] / 540.0  # fonts follow the height: readable at slide size
        fs = {"small": 9 * scale, "normal": 11 * scale, "big": 14 * scale}
        commitment = commitment_columns(steps, sides)  # the commitment rule's columns, if any
        grid = self.fig.add_gridspec(2, 2, width_ratios=[0.8, 1.25], left=0.03,
                                     right=0.93 if commitment else 0.985, bottom=0.11, top=0.79,
                                     wspace=0.22, hspace=0.8 if commitment else 0.6)
        self.clock = self.fig.text(0.5, 0.985, "", ha="center", va="top", fontsize=fs["big"],
                                   fontweight="bold")
        if title:
            short = title if len(title) <= 90 else title[:89] + "…"
            self.fig.text(0.5, 0.93, short, ha="center", va="top", fontsize=fs["small"], color="#555555")

        # -- the front ------------------------------------------------------------------------
        front = self.fig.add_subplot(grid[:, 0])
        pos = front_layout(model)
        self.names = [s.name for s in model.sections]
        for section in model.sections:
            for n in section.neighbours:
                if section.index < n.index:
                    (x0, y0), (x1, y1) = pos[section.name], pos[n.name]
                    front.plot([x0, x1], [y0, y1], color="#999999", linewidth=1.5, zorder=1)
        xy = np.array([pos[n] for n in self.names])
        big = (900 if len(self.names) <= 4 else 420) * scale ** 2
        sizes = [0.6 * big if s.is_rear else big for s in model.sections]
        self.nodes = front.scatter(xy[:, 0], xy[:, 1], s=sizes,
                                   c=[ACTIVITY_COLOURS["calm"]] * len(xy), edgecolors="#000000",
                                   linewidths=0.8, zorder=2)
        radius = np.sqrt(big) / 2 + 3
        self.notes = []
        # The activity in words under each section, as on the page, while it fits (the colour says it too).
        words = len(self.names) <= 4
        for section, (x, y) in zip(model.sections, xy, strict=True):
            front.annotate(_short(section.label, section.name), (x, y), xytext=(0, radius),
                           textcoords="offset points", ha="center", va="bottom",
                           fontsize=fs["normal" if words else "small"], fontweight="bold")
            if words:
                self.notes.append(front.annotate("", (x, y), xytext=(0, -radius), textcoords="offset points",
                                                 ha="center", va="top", fontsize=fs["small"]))
        top = xy[:, 1].max() + 0.5
        for x, text in ((-1.0, f"◀ {labels[sides[0]]}"), (1.0, f"{labels[sides[1]]} ▶")):
            front.text(x, top, text, ha="center", va="bottom", fontsize=fs["small"], color="#555555")
        handles = [Line2D([], [], marker="o", linestyle="", markersize=8 * scale, markerfacecolor=c,
                          markeredgecolor="#000000", label=name) for name, c in ACTIVITY_COLOURS.items()]
        handles.append(Line2D([], [], marker="o", linestyle="", markersize=8 * scale,
                              markerfacecolor="#FFFFFF",
                              markeredgecolor="#000000", markeredgewidth=3, label="order reached all"))
        front.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, frameon=False,
                     fontsize=fs["small"], handletextpad=0.2, columnspacing=0.8)
        front.set_xlim(*((-1.7, 1.7) if words else (-1.9, 1.9)))
        front.set_ylim(xy[:, 1].min() - 0.7, xy[:, 1].max() + 0.9)
        front.set_axis_off()
        front.set_title("The front (last hour's fire)", fontsize=fs["normal"])

        # Per-frame lookups: incidents sorted by time, each section's order arrival.
        self.t = events["t_min"].to_numpy(dtype=float)
        index = {n: i for i, n in enumerate(self.names)}
        self.section_code = events["section"].map(index).to_numpy(dtype=np.int64)
        self.severity = events["severity"].to_numpy(dtype=float)
        arrival = orders.groupby("section")["order_arrival_min"].max()
        self.all_ordered_at = np.array([float(arrival.get(n, np.inf)) for n in self.names])

        # -- incidents as they happen -----------------------------------------------------------
        inc = self.fig.add_subplot(grid[0, 1])
        hours = (model.start_min / 60.0, model.horizon_min / 60.0)
        rows = {n: len(self.names) - 1 - i for i, n in enumerate(self.names)}
        jitter = np.random.default_rng(0).uniform(-0.25, 0.25, len(events))  # display only
        self.inc_xy = np.column_stack([self.t / 60.0, events["section"].map(rows).to_numpy(float) + jitter])
        self.inc_colour = np.array([_rgba(CAUSE_COLOURS[c]) for c in events["cause"]]).reshape(-1, 4)
        self.incidents = inc.scatter([], [], s=10 * scale ** 2, linewidths=0, zorder=2)
        mark_ceasefire(inc, label="t = 0")
        self.inc_now = inc.axvline(hours[0], color="#555555", linewidth=1.2, linestyle=":")
        inc.set_yticks(list(rows.values()), [_short(s.label, s.name, 12) for s in model.sections],
                       fontsize=fs["small"])
        inc.set_ylim(-0.6, len(self.names) - 0.4)
        inc.set_xlim(*hours)
        inc.tick_params(labelsize=fs["small"])
        inc.set_xlabel("hours since the ceasefire took effect (h)", fontsize=fs["small"])
        inc.set_title("Incidents as they happen", fontsize=fs["normal"], pad=16 * scale)
        cause_handles = [Line2D([], [], marker="o", linestyle="", markersize=6 * scale,
                                color=CAUSE_COLOURS[c], label=c) for c in CAUSES]
        cause_handles.append(Line2D([], [], color="#000000", linestyle="--", label="t = 0"))
        inc.legend(handles=cause_handles, loc="lower center", bbox_to_anchor=(0.5, 0.98), ncol=4,
                   frameon=False,
                   fontsize=fs["small"], handlelength=1.2, columnspacing=0.8, borderaxespad=0)
        inc.grid(False)

        # -- accusations (and commitment) --------------------------------------------------------
        acc = self.fig.add_subplot(grid[1, 1])
        self.step_t = steps["t_min"].to_numpy(dtype=float)
        self.acc_lines = {}
        self.acc_values = {}
        peak = 1.0
        for side, colour in zip(sides, SIDE_COLOURS, strict=True):
            values = steps[f"accusations_by_{side}"].to_numpy(dtype=float)
            self.acc_values[side] = values
            peak = max(peak, float(values.max()) if values.size else 0.0)
            self.acc_lines[side] = acc.step([], [], where="post", color=colour, linewidth=2.0,
                                            label=f"accusations by {labels[side]}")[0]
        acc.set_ylim(0, peak * 1.15 + 0.5)
        acc.set_xlim(*hours)
        acc.set_ylabel("accusations so far", fontsize=fs["small"])
        acc.set_xlabel("hours since the ceasefire took effect (h)", fontsize=fs["small"])
        acc.tick_params(labelsize=fs["small"])
        mark_ceasefire(acc, label="t = 0")
        self.acc_now = acc.axvline(hours[0], color="#555555", linewidth=1.2, linestyle=":")
        handles = list(self.acc_lines.values())
        self.com_lines = {}
        self.com_values = {}
        if commitment:
            twin = acc.twinx()
            allv = np.concatenate([steps[c].to_numpy(dtype=float) for c in commitment.values()])
            lo, hi = float(np.nanmin(allv)), float(np.nanmax(allv))
            pad = 0.05 * (hi - lo) if hi > lo else 0.5
            twin.set_ylim(min(0.0, lo - pad), hi + pad)
            twin.set_ylabel("commitment (dashed)", fontsize=fs["small"])
            twin.tick_params(labelsize=fs["small"])
            twin.grid(False)
            for side, colour in zip(sides, SIDE_COLOURS, strict=True):
                if side in commitment:
                    self.com_values[side] = steps[commitment[side]].to_numpy(dtype=float)
                    self.com_lines[side] = twin.plot([], [], color=colour, linewidth=1.8, linestyle="--",
                                                     label=f"commitment of {labels[side]}")[0]
            handles += list(self.com_lines.values())
        acc.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.98), ncol=2, frameon=False,
                   fontsize=fs["small"], handlelength=1.5, columnspacing=0.8, borderaxespad=0)
        acc.set_title("Who blames whom" + (", and commitment" if commitment else ""), fontsize=fs["normal"],
                      pad=(16 if len(handles) <= 2 else 30) * scale)

    def update(self, now: float) -> Figure:
        """Show the run as it stood at minute ``now``."""
        k = int(np.searchsorted(self.t, now, side="right"))
        j = int(np.searchsorted(self.t, now - ACTIVITY_WINDOW_MIN, side="right"))
        fire = np.bincount(self.section_code[j:k], weights=self.severity[j:k], minlength=len(self.names))
        activity = np.where(fire == 0, 0, np.where(fire >= HEAVY_SEVERITY, 2, 1))
        self.nodes.set_facecolor([ACTIVITY_COLOURS[ACTIVITY_NAMES[a]] for a in activity])
        self.nodes.set_linewidths(np.where(self.all_ordered_at <= now, 4.0, 0.8))
        for note, a in zip(self.notes, activity, strict=False):
            note.set_text(ACTIVITY_NAMES[a])
        self.incidents.set_offsets(self.inc_xy[:k] if k else np.empty((0, 2)))
        self.incidents.set_facecolor(self.inc_colour[:k])
        h = now / 60.0
        for line in (self.inc_now, self.acc_now):
            line.set_xdata([h, h])
        s = int(np.searchsorted(self.step_t, now, side="right"))
        hours = self.step_t[:s] / 60.0
        for side, line in self.acc_lines.items():
            line.set_data(hours, self.acc_values[side][:s])
        for side, line in self.com_lines.items():
            line.set_data(hours, self.com_values[side][:s])
        when = "before the ceasefire" if now < 0 else "after the ceasefire took effect"
        self.clock.set_text(f"t = {clock_text(now)} {when}")
        return self.fig

    def animated(self) -> list[Any]:
        """The artists a frame changes (everything else is drawn once, as the background)."""
        return [self.nodes, *self.notes, self.incidents, self.inc_now, self.acc_now,
                *self.acc_lines.values(), *self.com_lines.values(), self.clock]

    def write(self, times: np.ndarray, writer: Any, path: Path) -> None:
        """Draw one frame per minute in ``times`` into ``path`` with a matplotlib writer.

        The Blit* writers get blitted frames (the background drawn once: several times faster);
        any other matplotlib writer redraws the whole figure per frame.
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        canvas = FigureCanvasAgg(self.fig)
        blit = isinstance(writer, BlitGifWriter | BlitFFMpegWriter)
        with plt.rc_context(STYLE), writer.saving(self.fig, str(path), dpi=self.dpi):
            if blit:
                moving = self.animated()
                for artist in moving:
                    artist.set_animated(True)
                canvas.draw()
                background = canvas.copy_from_bbox(self.fig.bbox)
                renderer = canvas.get_renderer()
            for now in times:
                self.update(float(now))
                if blit:
                    canvas.restore_region(background)
                    for artist in moving:
                        artist.draw(renderer)
                    writer.add(np.asarray(canvas.buffer_rgba()))
                else:
                    writer.grab_frame()


class BlitGifWriter(animation.PillowWriter):
    """matplotlib's Pillow GIF writer, fed blitted frames and one fixed palette.

    The palette holds the Okabe-Ito colours, each blended with white and with black in 10 steps
    (the anti-aliased edges of markers and lines), and 64 greys: every frame maps to the same
    256 colours without dithering, so consecutive frames differ only where the run changed and
    Pillow stores just that rectangle. Frames are kept as 8-bit images (a quarter of RGBA).
    """

    def setup(self, fig: Figure, outfile: Any, dpi: float | None = None) -> None:
        super().setup(fig, outfile, dpi=dpi)
        self._palette = _palette_image()
        pal = np.asarray(self._palette.getpalette()[:768], dtype=np.int64).reshape(-1, 3)
        self._colours = pal
        # Exact nearest palette colour per RGB value, filled in as colours appear (Pillow's own
        # matching is approximate: it turns white into light grey).
        self._lut = np.full(1 << 24, 0xFFFF, dtype=np.uint16)

    def _indices(self, rgb: np.ndarray) -> np.ndarray:
        key = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
        idx = self._lut[key]
        missing = idx == 0xFFFF
        if missing.any():
            new = np.unique(key[missing])
            colours = np.stack([(new >> 16) & 255, (new >> 8) & 255, new & 255], axis=1).astype(np.int64)
            distance = ((colours[:, None, :] - self._colours[None, :, :]) ** 2).sum(axis=2)
            self._lut[new] = np.argmin(distance, axis=1)
            idx = self._lut[key]
        return idx.astype(np.uint8)

    def add(self, rgba: np.ndarray) -> None:
        """Append one frame given as an (height, width, 4) RGBA array."""
        frame = Image.fromarray(self._indices(rgba[..., :3]), "P")
        frame.putpalette(self._palette.getpalette())
        self._frames.append(frame)

    def finish(self) -> None:
        """Write the GIF, handing each frame to Pillow once (it keeps its own copies)."""
        frames = self._frames

        def rest() -> Any:
            for i in range(1, len(frames)):
                frame, frames[i] = frames[i], None
                yield frame

        frames[0].save(self.outfile, save_all=True, append_images=rest(), duration=int(1000 / self.fps),
                       loop=0)
        self._frames = []

    def grab_frame(self, **savefig_kwargs: Any) -> None:
        """A whole frame drawn by savefig (when used as a plain PillowWriter)."""
        super().grab_frame(**savefig_kwargs)
        self.add(np.asarray(self._frames.pop().convert("RGBA")))


class BlitFFMpegWriter(animation.FFMpegWriter):
    """matplotlib's ffmpeg writer, fed blitted RGBA frames through its pipe."""

    frame_format = "rgba"

    def add(self, rgba: np.ndarray) -> None:
        """Append one frame given as an (height, width, 4) RGBA array."""
        self._proc.stdin.write(np.ascontiguousarray(rgba).tobytes())


def _palette_image() -> Image.Image:
    from matplotlib.colors import to_rgb

    from sim.faces.figures import OKABE_ITO

    colours: list[tuple[int, int, int]] = []
    steps = np.linspace(0.0, 1.0, 10, endpoint=False)
    for c in (*OKABE_ITO[:-1], "#999999", "#DDDDDD"):
        rgb = np.array(to_rgb(c))
        for w in steps:
            for base in (np.ones(3), np.zeros(3)):
                colours.append(tuple(int(v) for v in np.rint(255 * (rgb * (1 - w) + base * w))))
    colours += [(g, g, g) for g in np.linspace(0, 255, 64).round().astype(int)]
    unique = list(dict.fromkeys(colours))  # 9 colours x 20 blends + 64 greys: under 256
    unique += [(255, 255, 255)] * (256 - len(unique))
    pal = Image.new("P", (1, 1))
    pal.putpalette([v for c in unique for v in c])
    return pal


def _rgba(colour: str) -> tuple[float, float, float, float]:
    from matplotlib.colors import to_rgba

    return to_rgba(colour)
