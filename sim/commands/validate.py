"""``ceasefire validate``: check a scenario file and say what is wrong or that it is fine."""

from __future__ import annotations

import argparse

from sim.scenario import load_scenario, parse_assignment, resolve_path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check a scenario file",
                       description="Check a scenario file (and its events file) without running it.")
    p.add_argument("scenario", help="scenario file or bundled name")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="check with these overrides applied")
    p.set_defaults(func=validate)


def validate(args: argparse.Namespace) -> int:
    """Carry out ``ceasefire validate``; errors propagate as ScenarioError (exit 2)."""
    path = resolve_path(args.scenario)
    overrides = dict(parse_assignment(a) for a in args.set)
    scenario = load_scenario(path, overrides or None)
    meta = scenario.scenario
    extra = ""
    if meta.events_file:
        from sim.record import read_record  # pandas: only for a scenario with a record

        record = read_record(path.parent / meta.events_file, sections=scenario.sections,
                             sides=scenario.side_names, kinds=scenario.kinds)
        extra = f", {len(record)} reported events"
    forces = sum(len(s.forces) for s in scenario.sides.values())
    print(f"{path}: ok ({len(scenario.sections)} sections, {forces} forces, "
          f"sides {' and '.join(scenario.side_names)}{extra})")
    return 0
