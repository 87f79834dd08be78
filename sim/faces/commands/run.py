"""``ceasefire run``: replicates of a scenario, a summary, tables and a figure."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.faces.cli import UsageError, check_runs_and_seed, check_workers
from sim.faces.figures import FORMATS, save
from sim.model.scenario import DEFAULT_SCENARIO, load_scenario, parse_assignment, resolve_path

if TYPE_CHECKING:  # pragma: no cover
    from sim.studies.runner import Results


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run replicates of a scenario and summarise them",
                       description="Run replicates of a scenario, print a summary, write the "
                                   "event logs, the step table and a figure.")
    p.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO,
                   help=f"scenario file or bundled name (default: {DEFAULT_SCENARIO})")
    p.add_argument("--runs", type=int, default=100, help="number of replicates (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the batch (default 0)")
    p.add_argument("--horizon", type=float, metavar="HOURS",
                   help="hours after t = 0 to simulate (default: the scenario's)")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a scenario parameter (repeatable; '*' matches any name)")
    p.add_argument("--posterior", type=Path, metavar="FILE",
                   help="draw each run's parameters from a posterior sample (from ceasefire calibrate)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="where to write events.csv, steps.csv, outcomes.csv and the figure "
                        "(default: results/<scenario name>)")
    p.add_argument("--format", choices=FORMATS, default="png", help="figure format (default png)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Carry out ``ceasefire run``."""
    check_runs_and_seed(args.runs, args.seed)
    check_workers(args.workers)
    if args.horizon is not None and not args.horizon > 0:
        raise UsageError(f"--horizon {args.horizon}: must be a number of hours > 0")
    overrides = dict(parse_assignment(a) for a in args.set)
    path = resolve_path(args.scenario)
    scenario = load_scenario(path, overrides or None)  # validate everything before running
    reported = _reported(path, scenario.scenario.events_file)
    per_run = None
    if args.posterior is not None:
        from sim.studies.calibration import posterior_overrides

        per_run = posterior_overrides(args.posterior, args.runs, args.seed,
                                      record=path.name.removesuffix(".toml"))
        scenario.with_overrides(per_run[0])  # a posterior that does not fit fails before running
    from sim.faces.figures.timeline import violations_per_hour
    from sim.studies.runner import run_replicates

    results = run_replicates(scenario, runs=args.runs, seed=args.seed, horizon_h=args.horizon,
                             workers=args.workers, overrides_by_run=per_run)
    out = args.out or Path("results") / results.scenario.scenario.name
    events = results.events  # decoded once, for the table and the figure
    written = results.write(out, events=events)
    meta = results.scenario.scenario
    fig = violations_per_hour(events, runs=results.runs, start_min=meta.start_min,
                              horizon_min=meta.horizon_h * 60.0, reported=reported,
                              title=meta.title or meta.name)
    written.append(save(fig, out / "violations-per-hour", args.format))
    summary = results.summary()
    if args.json:
        print(json.dumps(summary))
    else:
        print(summary_text(results, summary))
        print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _reported(path: Path, events_file: str) -> Any:
    if not events_file:
        return None
    from sim.records.record import read_record

    return read_record(path.parent / events_file)


def summary_text(results: Results, summary: dict[str, Any]) -> str:
    """The summary as a few readable lines."""
    meta = results.scenario.scenario
    lines = [f"{meta.title or meta.name} ({meta.name}): {summary['runs']} runs, seed "
             f"{summary['seed']}, horizon {summary['horizon_h']:g} h"]
    first = summary["first_violation_min"]
    lines.append("  first violation after t = 0:   " + (
        f"median {first['median']:.1f} min (90% range {first['p05']:.1f}–{first['p95']:.1f} min)"
        if first else "none in any run"))
    why = summary["undefined"]
    meta_outcomes = results.scenario.outcomes
    if "p_hold" in why:
        lines.append(f"  ceasefire still holding:       undefined: {why['p_hold']}")
    else:
        holds = "   ".join(f"{k.removesuffix('h')} h: {_pct(v, 'beyond the horizon')}"
                           for k, v in summary["p_hold"].items())
        lines.append(f"  ceasefire still holding:       {holds}")
        col = summary["collapse_h"]
        by = summary["collapse_by"]
        lines.append("  collapse (a side abandoned it): " + (
            f"median {col['median']:.1f} h (90% range {col['p05']:.1f}–{col['p95']:.1f} h, "
            f"{col['runs']} of {summary['runs']} runs)" if col else "no side abandoned it in any run"))
        if col:
            lines.append("    first to abandon:            " + _shares(by["side"], col["runs"]))
            lines.append("    what pushed it over:         " + _shares(by["term"], col["runs"]))
    if "relapse_min" in why:
        lines.append(f"  relapse into fighting:         undefined: {why['relapse_min']}")
    else:
        rel = summary["relapse_h"]
        lines.append("  relapse into fighting:         " + (
            f"median {rel['median']:.1f} h ({rel['runs']} of {summary['runs']} runs; violations back "
            f"at {meta_outcomes.relapse_fraction:g} x the war-time intensity)" if rel else "in no run"))
    lines.append(f"  violations per day:            median {_num(summary['violations_per_day']['median'])}"
                 + (f" (day by day: {', '.join(_num(v) for v in summary['violations_by_day'])}; "
                    f"trend {_num(summary['erosion_trend_per_day']['median'])} per day)"
                    if summary["violations_by_day"] else ""))
    lines.append(f"  share retaliatory:             median {_pct(summary['retaliation_share']['median'])}")
    lines.append(f"  events logged:                 {summary['events_total']}")
    return "\n".join(lines)


def _pct(x: float | None, none: str = "n/a") -> str:
    return none if x is None else f"{100 * x:.0f}%"


def _shares(counts: dict[str, int], total: int) -> str:
    return ", ".join(f"{name} {100 * n / total:.0f}%" for name, n in
                     sorted(counts.items(), key=lambda item: -item[1]))


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1f}"
