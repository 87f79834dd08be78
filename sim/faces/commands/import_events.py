"""``ceasefire import-events``: turn a UCDP GED or ACLED CSV export into record lines."""

from __future__ import annotations

import argparse
from pathlib import Path

from sim.model.scenario import load_scenario, resolve_path
from sim.records.importer import REQUIRED, import_events, write_record


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import-events", help="turn a UCDP GED or ACLED export into record lines",
                       description="Turn a CSV export of UCDP GED or ACLED into record lines (format "
                                   "v2, type incident), mapping places to sections and actors to "
                                   "sides through the scenario's [places] table. Events no entry maps "
                                   "are reported, not written.")
    p.add_argument("file", type=Path, help="the dataset's CSV export")
    p.add_argument("--scenario", required=True, help="scenario file or bundled name")
    p.add_argument("--format", required=True, choices=tuple(REQUIRED), dest="fmt",
                   help="the dataset the file comes from")
    p.add_argument("--out", required=True, type=Path, metavar="RECORD.csv", help="record file to write")
    p.add_argument("--source-date", default="", metavar="YYYY-MM-DD",
                   help="publication date to cite (e.g. the export's date; default: ACLED's upload "
                        "timestamp, else the event's last day)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Carry out ``ceasefire import-events``."""
    path = resolve_path(args.scenario)
    case = load_scenario(path)
    result = import_events(args.file, case, path.parent, args.fmt, source_date=args.source_date)
    written = write_record(result.record, args.out, case)
    print(result.report())
    print(f"wrote {written}")
    return 0
