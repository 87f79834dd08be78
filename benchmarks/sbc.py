"""Simulation-based calibration of the ABC-SMC calibration (sim.studies.sbc; Talts et al. 2018).

    python benchmarks/sbc.py [--truths N] [--workers W] [--seed S] [--out DIR]

Draws ``--truths`` parameter sets from the priors of ``sim.studies.sbc.DEFAULT_SETUP``, writes the
monitor's counts of one run at each as a synthetic record, calibrates against it, and records
where the truth falls in its posterior, adjusted by regression (what calibrations use) and as
accepted. Prints one row per method and parameter (coverage of the 90% intervals with its 95%
Clopper-Pearson interval, mean posterior 90% width over the prior's, informable or not) and, per
method, whether the issue's target holds: coverage in [0.85, 0.95] for every informable parameter
(mean width at most half the prior's). Writes, atomically, into ``--out``
(default ``docs/calibration``): ``sbc.csv`` (the summary, with the rank histograms),
``sbc-truths.csv`` (one row per truth and parameter) and ``sbc.png``; with ``--setup fine``
(fourteen counts per record instead of three) ``sbc-fine.csv``, ``sbc-fine-truths.csv`` and
``sbc-fine.png``; with ``--setup large`` (the default's records, calibrated with 200 particles
and twice the budget) ``sbc-large*``, and ``sbc-large-paired.csv``: truth by truth against the
folder's ``sbc-truths.csv`` (same truths, records and calibration seeds). The results do not depend
on ``--workers``. With ``--resume`` the truths already in the folder's truths table are kept and
only the missing ones run; every finished truth is saved at once in ``.<stem>-truths.partial.csv``
(which ``--resume`` reads first, and which goes once the tables are written), so an interrupted
check, or one extended to more truths, ends with the same tables as one uninterrupted run.
Beside each truths table goes the setup and seed that made it (``<stem>-setup.json``; the partial
table's ``.<stem>-setup.partial.json``), because the truths' values show the seed and priors but
not the particles, budget or windows: ``--resume`` refuses a table whose saved setup differs (one
saved before setups were is checked on its values only, and the run says so), and a run without
``--resume`` refuses to overwrite the finished tables of another seed.

``--reference DRAWS`` asks where too narrow intervals come from: the ABC target (statistics,
tolerance, adjustment) or the SMC's approximation of it with few particles. It simulates a bank
of DRAWS prior draws once, then, for every truth, calibrates as above and takes the bank's draws
within the SMC's final tolerance of the record at its final scales: an exact (rejection) sample
of the same target (``sim.studies.sbc.reference_population``). Prints the coverage of both, the
truths where only one of them misses and McNemar's p, says whether the SMC's rows equal those
of the folder's truths table, and writes ``<stem>-reference.csv`` (the paired counts),
``<stem>-reference-summary.csv`` and ``<stem>-reference-truths.csv``, never the SBC's own tables.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.faces.figures import save
from sim.faces.figures.calibration import sbc_ranks
from sim.studies.runner import progress_bar
from sim.studies.sbc import (
    COLUMNS,
    DEFAULT_SETUP,
    METHODS,
    REFERENCE_METHODS,
    REFERENCE_MIN_ACCEPTED,
    SETUPS,
    Setup,
    draw_truth,
    fingerprint,
    fingerprint_difference,
    markdown,
    meets_target,
    paired,
    paired_markdown,
    paired_setups,
    paired_setups_markdown,
    prior_bank,
    run_sbc,
    same_records,
    same_rows,
    summarize,
)
from sim.studies.tables import write_atomic, write_csv_atomic

DOCS = Path(__file__).resolve().parent.parent / "docs" / "calibration"


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line and exits 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"benchmarks/sbc.py: {message}\n")


def whole(minimum: int):
    """An argparse type: a whole number ≥ ``minimum``, else one line naming the value."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: must be a whole number ≥ {minimum}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value}: must be a whole number ≥ {minimum}")
        return value
    return parse


class OtherTruthsError(ValueError):
    """A truths table whose values are not the ones this seed and these priors draw."""


def earlier_truths(path: Path, setup: Setup, seed: int) -> pd.DataFrame:
    """The truths table of an earlier run, checked to be this setup's and this seed's.

    Raises ValueError (one line) when its columns, methods or parameters differ, and
    :class:`OtherTruthsError` when a truth's value is not the one ``seed`` draws for it (another seed
    or other priors).
    """
    table = pd.read_csv(path)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"no column {', '.join(missing)}")
    if not pd.api.types.is_integer_dtype(table["truth"]) or table["truth"].lt(0).any():
        raise ValueError("column truth must hold whole numbers ≥ 0")
    if not set(table["method"]) <= set(METHODS):
        raise ValueError(f"method must be one of {', '.join(METHODS)}")
    paths = [p.path for p in setup.priors]
    for truth, rows in table.groupby("truth"):
        if sorted(rows["method"]) != sorted(METHODS * len(paths)) or \
                any(sorted(part["parameter"]) != sorted(paths) for _, part in rows.groupby("method")):
            raise ValueError(f"truth {truth}: rows are not one per method and parameter of this setup")
        values = draw_truth(setup, seed, int(truth))
        recorded = rows.drop_duplicates("parameter").set_index("parameter")["value"]
        if not np.allclose(recorded.loc[paths].to_numpy(dtype=float), values, rtol=1e-5):
            raise OtherTruthsError(f"truth {truth}: values differ from what seed {seed} draws "
                              "(another seed or setup)")
    return table


def setup_file(table: Path) -> Path:
    """Where a truths table's setup (:func:`sim.studies.sbc.fingerprint`) is saved:
    ``sbc-large-truths.csv`` -> ``sbc-large-setup.json``, the partial table's likewise."""
    return table.with_name(table.name.replace("-truths", "-setup").replace(".csv", ".json"))


def write_setup(setup: Setup, seed: int, table: Path) -> Path:
    """Save the setup and seed that make ``table`` (atomically, beside it)."""
    text = json.dumps(fingerprint(setup, seed), indent=1) + "\n"
    return write_atomic(setup_file(table), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def saved_setup(table: Path) -> Any:
    """The setup saved beside ``table`` (its JSON value), None when none is; raises ValueError
    (one line) when the file cannot be read as JSON."""
    path = setup_file(table)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{path}: not readable as JSON ({type(exc).__name__})") from None


def main(argv: list[str] | None = None) -> int:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--truths", type=whole(1), default=60, help="synthetic truths (default 60)")
    parser.add_argument("--workers", type=whole(1), default=2, help="processes (default 2)")
    parser.add_argument("--seed", type=whole(0), default=0, help="seed of the check (default 0)")
    parser.add_argument("--out", type=Path, default=DOCS, help="output folder (default docs/calibration)")
    parser.add_argument("--setup", choices=sorted(SETUPS), default="default",
                        help="default: three monitor counts (files sbc.*); fine: fourteen (files "
                             "sbc-fine.*); large: the default's records, 200 particles (files sbc-large.*)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the truths already checked (the folder's partial or truths table); "
                             "run only the missing ones")
    parser.add_argument("--reference", type=whole(1000), metavar="DRAWS",
                        help="also compare each truth's SMC with an exact-ABC reference drawn from "
                             "a bank of DRAWS prior simulations (files <stem>-reference*)")
    parser.add_argument("--replot", action="store_true",
                        help="only redraw the figure from the folder's summary and truths tables")
    args = parser.parse_args(argv)
    if not args.out.is_dir():
        print(f"benchmarks/sbc.py: --out = {args.out}: no such folder", file=sys.stderr)
        return 2
    stem = "sbc" if args.setup == "default" else f"sbc-{args.setup}"
    if args.replot:
        tables = [args.out / f"{stem}.csv", args.out / f"{stem}-truths.csv"]
        missing = [str(p) for p in tables if not p.is_file()]
        if missing:
            print(f"benchmarks/sbc.py: --replot: no {', '.join(missing)}", file=sys.stderr)
            return 2
        summary, table = (pd.read_csv(p) for p in tables)
        print(markdown(summary))
        print(f"wrote {save(sbc_ranks(table, summary), args.out / f'{stem}.png')}")
        return 0
    setup = SETUPS[args.setup]
    if args.reference is not None:
        if args.resume:
            print("benchmarks/sbc.py: --resume: not with --reference (a reference check runs whole)",
                  file=sys.stderr)
            return 2
        return reference_check(setup, args, stem)
    truths_csv = args.out / f"{stem}-truths.csv"
    partial = args.out / f".{stem}-truths.partial.csv"
    earlier = partial if partial.is_file() else truths_csv
    done = None
    if args.resume and earlier.is_file():
        try:
            done = earlier_truths(earlier, setup, args.seed)
            saved = saved_setup(earlier)
        except ValueError as exc:
            print(f"benchmarks/sbc.py: --resume: {earlier}: {exc}", file=sys.stderr)
            return 2
        if saved is None:
            print(f"--resume: no {setup_file(earlier).name} beside {earlier.name}: only its truths' "
                  "values are checked (seed and priors), not its particles, budget or windows")
        elif difference := fingerprint_difference(saved, setup, args.seed):
            print(f"benchmarks/sbc.py: --resume: {setup_file(earlier)}: {difference} (another setup "
                  "or seed)", file=sys.stderr)
            return 2
    elif not args.resume and truths_csv.is_file():
        clash = other_checks_tables(truths_csv, setup, args.seed)
        if clash:
            print(f"benchmarks/sbc.py: --out = {args.out}: {clash}; write this check into another "
                  "folder, or remove those tables to replace them", file=sys.stderr)
            return 2
    kept = 0 if done is None else int(done.loc[done["truth"] < args.truths, "truth"].nunique())
    bar = progress_bar(args.truths, None, unit="truth", desc="SBC", initial=kept)
    saved = [] if done is None else done.to_dict("records")

    write_setup(setup, args.seed, partial)

    def save_progress(rows: list[dict]) -> None:
        """Keep every finished truth in the partial table, which ``--resume`` reads first."""
        saved.extend(rows)
        write_csv_atomic(pd.DataFrame(saved), partial)
        if bar:
            bar.update(1)

    started = time.perf_counter()
    try:
        table = run_sbc(setup, args.truths, args.seed, workers=args.workers, done=done,
                        on_done=save_progress)
    finally:
        if bar:
            bar.close()
    seconds = time.perf_counter() - started
    summary = summarize(table, setup.priors)
    print(markdown(summary))
    per_truth = table.groupby("truth").first()
    print(f"\n{args.truths} truths ({args.truths - kept} run now, {kept} kept), seed {args.seed}, "
          f"{args.workers} workers, {seconds:.0f} s; "
          f"each calibration: {setup.particles} particles, budget {setup.budget}; "
          f"populations {per_truth['populations'].min()}–{per_truth['populations'].max()}, "
          f"final tolerance median {per_truth['tolerance'].median():.3g}")
    for method, part in summary.groupby("method", sort=False):
        target = meets_target(part)
        informable = part.loc[part["informable"], "parameter"].tolist()
        label = "adjusted posterior" if method == "regression" else "posterior as accepted"
        if not informable:
            print(f"target, {label}: no parameter is informable (mean width ≤ 0.5 of the prior's): "
                  "NOT MET")
        else:
            ok = bool(target[part["informable"]].astype(bool).all())
            print(f"target, {label} (coverage in [0.85, 0.95] for informable {', '.join(informable)}): "
                  f"{'met' if ok else 'NOT MET'}")
    written = [write_csv_atomic(summary, args.out / f"{stem}.csv"),
               write_csv_atomic(table, args.out / f"{stem}-truths.csv"),
               save(sbc_ranks(table, summary), args.out / f"{stem}.png")]
    written.append(write_setup(setup, args.seed, truths_csv))
    written += pair_with_default(setup, table, args, stem)
    partial.unlink(missing_ok=True)
    setup_file(partial).unlink(missing_ok=True)
    print("wrote " + ", ".join(map(str, written)))
    return 0


def other_checks_tables(table: Path, setup: Setup, seed: int) -> str | None:
    """Why a run of ``seed`` must not overwrite the finished ``table`` (one line), or None: the
    table is another seed's, by its saved setup or, without a readable one, by its truths'
    values. A table of this seed made with other particles or budget may be replaced: that is
    how a setup is rerun."""
    try:
        saved = saved_setup(table)
    except ValueError:
        saved = None
    if isinstance(saved, dict) and "seed" in saved:
        if saved["seed"] == seed:
            return None
        return f"{table.name} holds the check of seed {saved['seed']!r} ({setup_file(table).name})"
    try:
        earlier_truths(table, setup, seed)
    except OtherTruthsError as exc:
        return f"{table.name} is not this check's: {exc}"
    except ValueError:  # not a truths table of this layout: nothing of a check to protect
        pass
    return None


def pair_with_default(setup: Setup, table: pd.DataFrame, args: argparse.Namespace, stem: str) -> list[Path]:
    """For a setup that writes the default check's records (``large``): this check against the
    folder's default truths table, truth by truth on the truths both ran (``<stem>-paired.csv``)."""
    default = args.out / "sbc-truths.csv"
    if setup == DEFAULT_SETUP or not same_records(setup, DEFAULT_SETUP) or not default.is_file():
        return []
    try:
        first = earlier_truths(default, DEFAULT_SETUP, args.seed)
    except ValueError as exc:
        print(f"not paired with {default}: {exc}")
        return []
    pairs = paired_setups(first, table)
    print(f"\nTruth by truth against {default} (same records, same calibration seeds):")
    print(paired_setups_markdown(pairs, "default", args.setup))
    return [write_csv_atomic(pairs, args.out / f"{stem}-paired.csv")]


def reference_check(setup: Setup, args: argparse.Namespace, stem: str) -> int:
    """``--reference``: every truth's SMC beside its exact-ABC reference (module docstring)."""
    started = time.perf_counter()
    bank = prior_bank(setup, args.seed, args.reference, workers=args.workers)
    bank_s = time.perf_counter() - started
    bar = progress_bar(args.truths, None, unit="truth", desc="SBC and reference")
    try:
        table = run_sbc(setup, args.truths, args.seed, workers=args.workers, bank=bank,
                        on_done=(lambda _rows: bar.update(1)) if bar else None)
    finally:
        if bar:
            bar.close()
    seconds = time.perf_counter() - started
    summary = summarize(table, setup.priors)
    pairs = paired(table)
    print(markdown(summary))
    print()
    print(paired_markdown(pairs))
    reference = table[table["method"] == REFERENCE_METHODS[1]].groupby("truth")["accepted"].first()
    undefined = sorted(set(range(args.truths)) - set(reference.index))
    print(f"\n{args.truths} truths, seed {args.seed}, {args.workers} workers, {seconds:.0f} s "
          f"(bank of {args.reference} prior draws: {bank_s:.0f} s); reference draws per truth: "
          f"median {reference.median():.0f}, fewest {reference.min():.0f}; reference undefined "
          f"(fewer than {REFERENCE_MIN_ACCEPTED} draws within the tolerance) for "
          f"{len(undefined)} truths{': ' + ', '.join(map(str, undefined)) if undefined else ''}")
    committed = args.out / f"{stem}-truths.csv"
    if committed.is_file():
        try:
            before = earlier_truths(committed, setup, args.seed)
        except ValueError as exc:
            print(f"SMC rows not compared with {committed}: {exc}")
        else:
            own = table[table["method"].isin(METHODS)][list(COLUMNS)].reset_index(drop=True)
            before = before[before["truth"] < args.truths][list(COLUMNS)].reset_index(drop=True)
            same = same_rows(own, before)
            print(f"SMC rows equal {committed}'s for truths 0-{args.truths - 1}: "
                  f"{'yes' if same else 'NO'}")
    written = [write_csv_atomic(pairs, args.out / f"{stem}-reference.csv"),
               write_csv_atomic(summary, args.out / f"{stem}-reference-summary.csv"),
               write_csv_atomic(table, args.out / f"{stem}-reference-truths.csv")]
    print("wrote " + ", ".join(map(str, written)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
