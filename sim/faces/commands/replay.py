"""``ceasefire replay SCENARIO``: animate one run (GIF, or MP4 where ffmpeg is installed)."""

from __future__ import annotations

import argparse
import re
from typing import Any

HELP = "animate one run: the front, incidents as they happen, accusations (GIF, or MP4 with ffmpeg)"


def add_parser(subparsers: Any) -> None:
    """Register ``replay`` and its options."""
    from sim.faces.replay import DEFAULT_SIZE, FORMATS

    p = subparsers.add_parser("replay", help=HELP, description=HELP + ".")
    p.add_argument("scenario", nargs="?", default="classroom-two-villages",
                   help="scenario file or bundled name (default: classroom-two-villages)")
    p.add_argument("--seed", type=int, default=0, help="batch seed, as in `ceasefire run --seed` (default 0)")
    p.add_argument("--run", type=int, default=0, help="which run of that batch (default 0, the first)")
    p.add_argument("--out", default="run.gif", metavar="FILE", help="the animation (default run.gif)")
    p.add_argument("--format", choices=FORMATS, help="gif or mp4 (default: from --out's suffix)")
    p.add_argument("--speed", type=float, default=15.0, metavar="MIN",
                   help="simulated minutes per frame (default 15)")
    p.add_argument("--from", dest="from_min", type=float, metavar="MIN",
                   help="first minute shown, from t = 0 (default: the run's start)")
    p.add_argument("--to", dest="to_min", type=float, metavar="MIN",
                   help="last minute shown (default: the horizon)")
    p.add_argument("--fps", type=float, default=10.0, help="frames per second of the file (default 10)")
    p.add_argument("--size", default=f"{DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]}", metavar="WxH",
                   help=f"pixels (default {DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]}; 1280x720 for a big screen)")
    p.add_argument("--horizon", type=float, metavar="HOURS", help="hours after t = 0 to simulate")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a scenario parameter (repeatable; '*' matches any name)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Render the replay and say where it went."""
    from sim.faces.cli import UsageError
    from sim.faces.replay import replay
    from sim.model.scenario import parse_assignment

    m = re.fullmatch(r"(\d+)x(\d+)", args.size.strip())
    if m is None:
        raise UsageError(f"--size {args.size!r}: write WIDTHxHEIGHT in pixels, e.g. 960x540")
    if args.horizon is not None and not args.horizon > 0:
        raise UsageError(f"--horizon {args.horizon}: must be a number of hours > 0")
    overrides = dict(parse_assignment(a) for a in args.set)
    result = replay(args.scenario, seed=args.seed, run=args.run, out=args.out, speed_min=args.speed,
                    from_min=args.from_min, to_min=args.to_min, fmt=args.format,
                    size=(int(m.group(1)), int(m.group(2))), fps=args.fps, horizon_h=args.horizon,
                    overrides=overrides or None)
    t = result.times_min
    print(f"{result.path}: {result.frames} frames, t = {t[0]:g} to {t[-1]:g} min every {args.speed:g} min, "
          f"{result.size_bytes / 1e6:.1f} MB, rendered in {result.render_s:.1f} s")
    return 0
