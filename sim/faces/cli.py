"""The ``ceasefire`` command: thin wrappers that parse, call the Python API and print.

Every subcommand lives in ``sim.faces.commands.<name>`` and exposes ``add_parser(subparsers)``,
which registers its parser with ``func=<callable(args) -> int>``. Bad input of any kind
(scenario, spec, flag) ends in one line on stderr and exit code 2, never a traceback.

Only the module of the command given is imported (``ceasefire validate`` never loads Mesa or
matplotlib), and command modules import what they need when they need it: start-up time is
part of every command's run time.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from sim.model.scenario import ScenarioError

COMMANDS = ("run", "validate", "records", "import_events", "experiment", "sensitivity", "discover",
            "calibrate", "score", "replay", "app")
"""Subcommand modules under sim.faces.commands, in the order ``--help`` lists them."""


class UsageError(ValueError):
    """A command-line value is not allowed; the message names the flag, the value and the rule."""


def check_workers(workers: int) -> int:
    """``--workers``: at least 1, and no more than four per core (more only thrashes)."""
    most = (os.cpu_count() or 1) * 4
    if not 1 <= workers <= most:
        raise UsageError(f"--workers {workers}: must be between 1 and {most}")
    return workers


def check_runs_and_seed(runs: int, seed: int, *, least_runs: int = 1) -> None:
    """``--runs``: at least ``least_runs``; ``--seed``: a whole number ≥ 0."""
    if runs < least_runs:
        raise UsageError(f"--runs {runs}: must be a whole number ≥ {least_runs}")
    if seed < 0:
        raise UsageError(f"--seed {seed}: must be a whole number ≥ 0")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered, or only ``command``'s (a module
    name from COMMANDS; then only that module is imported)."""
    parser = argparse.ArgumentParser(
        prog="ceasefire",
        description="Agent-based simulation of how ceasefires erode after their start time.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        if command is None or name == command:
            importlib.import_module(f"sim.faces.commands.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ceasefire`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # The command is the first word (the top-level parser has no options but --help); anything
    # else, including a misspelt command, gets the full parser and its usage message.
    module = argv[0].replace("-", "_") if argv else ""  # `import-events` lives in import_events
    args = build_parser(module if module in COMMANDS else None).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ScenarioError, UsageError) as exc:
        print(f"ceasefire {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ceasefire {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head -1`): stop quietly, and keep Python from
        # complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":  # pragma: no cover
    # `python -m sim.faces.cli`: run the imported module's main, so its UsageError is the one the
    # subcommands raise (this file is also loaded as __main__, with classes of its own).
    from sim.faces.cli import main as _main

    sys.exit(_main())
