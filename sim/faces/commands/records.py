"""``ceasefire records``: list the library of records (truce, span, lines by type, monitor, sources)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sim.records.library import library
from sim.records.record import TYPES


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("records", help="list the bundled records of real ceasefires",
                       description="List every scenario with a record: the truce, the span the record "
                                   "covers, its lines by type, the monitor and how many sources it "
                                   "cites. Exit 1 if a record does not load.")
    p.add_argument("--dir", type=Path, metavar="DIR", help="list the scenarios in DIR instead")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Carry out ``ceasefire records``."""
    entries = library(args.dir)
    if args.json:
        print(json.dumps(entries, indent=1))
    else:
        print(table_text(entries))
    return 1 if any("error" in e for e in entries) else 0


def table_text(entries: list[dict[str, Any]]) -> str:
    """The library as readable lines, one block per record."""
    if not entries:
        return "no records (no scenario names a scenario.events_file)"
    lines = []
    for e in entries:
        if "error" in e:
            first = e["error"].splitlines()
            more = f" (+{len(first) - 1} more problems)" if len(first) > 1 else ""
            lines.append(f"{e['name']}: ERROR {first[0]}{more}")
            continue
        span = f"{e['first_min']:g} to {e['last_min']:g} min"
        if e["first_local"]:
            span += f" ({e['first_local']} to {e['last_local']} local)"
        types = ", ".join(f"{e['by_type'][t]} {t}" for t in TYPES if e["by_type"][t])
        lines.append(f"{e['name']}: {e['truce']}\n"
                     f"  span: {span}\n"
                     f"  lines: {e['lines']} ({types})\n"
                     f"  monitor: {e['monitor']}; sources: {e['sources']}")
    return "\n".join(lines)
