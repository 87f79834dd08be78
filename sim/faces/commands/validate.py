"""``ceasefire validate``: check a scenario file (and its record) and say what is wrong or that it is fine."""

from __future__ import annotations

import argparse

from sim.model.scenario import load_scenario, parse_assignment, resolve_path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check a scenario file and its record",
                       description="Check a scenario file and its record (sections, sides and kinds "
                                   "against the scenario, a source URL and date on every line, monitor "
                                   "counts against the scenario's posts) without running it.")
    p.add_argument("scenario", help="scenario file or bundled name")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="check with these overrides applied")
    p.set_defaults(func=validate)


def validate(args: argparse.Namespace) -> int:
    """Carry out ``ceasefire validate``; errors propagate as ScenarioError (exit 2, one line each)."""
    path = resolve_path(args.scenario)
    overrides = dict(parse_assignment(a) for a in args.set)
    scenario = load_scenario(path, overrides or None)
    meta = scenario.scenario
    extra = ""
    if meta.events_file:
        from sim.records.library import check_record, record_summary  # pandas: only with a record
        from sim.records.record import TYPES

        record = check_record(scenario, path.parent / meta.events_file)
        info = record_summary(scenario, record)
        types = ", ".join(f"{info['by_type'][t]} {t}" for t in TYPES if info["by_type"][t])
        extra = (f"; record {meta.events_file}: {len(record)} lines ({types}), "
                 f"{info['sources']} sources")
    forces = sum(len(s.forces) for s in scenario.sides.values())
    print(f"{path}: ok ({len(scenario.sections)} sections, {forces} forces, "
          f"sides {' and '.join(scenario.side_names)}{extra})")
    return 0
