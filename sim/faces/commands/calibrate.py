"""``ceasefire calibrate``: estimate a scenario's parameters from its record (ABC-SMC)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pandas as pd

from sim.faces.cli import UsageError, check_workers
from sim.faces.figures import FORMATS, save
from sim.faces.figures.calibration import choice_probabilities, marginals, predictive
from sim.model.scenario import DEFAULT_SCENARIO, load_scenario
from sim.records.observations import statistics_table
from sim.records.record import read_record
from sim.studies.calibration import (
    SEPARATOR,
    Choice,
    Posterior,
    Prior,
    SetPosterior,
    calibrate,
    calibrate_set,
    check_budget,
    check_set_budget,
    draw_overrides,
    is_set_spec,
    load_set_spec,
    load_spec,
    original_values,
    predictive_check,
    predictive_summary,
    record_overrides,
    spec_path_for,
    write_calibrated,
    write_posterior,
)
from sim.studies.runner import Results, map_runs, write_csv_atomic
from sim.studies.tables import write_atomic

PREDICTIVE_HOURS = 24


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="estimate a scenario's parameters from its reported events",
                       description="Calibrate a scenario against its record by ABC-SMC. Priors and "
                                   "settings come from <scenario>.calibration.toml beside it. Writes "
                                   "the posterior sample, the calibrated scenario (posterior "
                                   "medians) and figures. Given a set spec (calibrations/*.toml: "
                                   "records sharing parameters), calibrates every record at once.")
    p.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO,
                   help=f"scenario file or bundled name (default: {DEFAULT_SCENARIO}), or a set spec")
    p.add_argument("--spec", type=Path, help="calibration spec (default: <scenario>.calibration.toml)")
    p.add_argument("--budget", type=int, metavar="N",
                   help="most simulations to spend (default: the spec's)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--seed", type=int, help="seed of the calibration (default: the spec's)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="output folder (default: results/<scenario name>-calibration)")
    p.add_argument("--predictive-runs", type=int, default=20, metavar="N",
                   help="runs drawn from the posterior for the predictive check (default 20)")
    p.add_argument("--no-figures", action="store_true", help="skip the figures")
    p.add_argument("--format", choices=FORMATS, default="png", help="figure format (default png)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Carry out ``ceasefire calibrate``."""
    check_workers(args.workers)
    if args.seed is not None and args.seed < 0:
        raise UsageError(f"--seed {args.seed}: must be a whole number ≥ 0")
    if args.predictive_runs < 1:
        raise UsageError(f"--predictive-runs {args.predictive_runs}: must be a whole number ≥ 1")
    if args.spec is None and is_set_spec(args.scenario):
        return run_set(args)
    if args.spec is not None and is_set_spec(args.spec):
        args.scenario = args.spec
        return run_set(args)
    spec = load_spec(args.spec or spec_path_for(args.scenario))
    if args.budget is not None:
        check_budget(args.budget, spec.particles, "--budget")
    posterior = calibrate(spec, budget=args.budget, seed=args.seed, workers=args.workers)
    name = spec.scenario_path.name.removesuffix(".toml")
    out = args.out or Path("results") / f"{name}-calibration"
    out.mkdir(parents=True, exist_ok=True)
    sample = write_posterior(posterior, out / f"{name}.posterior.csv")
    written = [sample, write_calibrated(posterior, out / f"{name}.calibrated.toml", sample_name=sample.name),
               write_csv_atomic(statistics_table(posterior.statistics), out / "statistics.csv"),
               write_csv_atomic(posterior.populations_table(), out / f"{name}.populations.csv")]
    if posterior.adjustment:
        written.append(write_csv_atomic(posterior.adjustment_table(), out / f"{name}.adjustment.csv"))
    if not args.no_figures:
        written += figures(posterior, out, args.predictive_runs, args.workers, args.format)
    print(summary_text(posterior))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def figures(posterior: Posterior, out: Path, runs: int, workers: int, fmt: str = "png") -> list[Path]:
    """Prior vs posterior marginals, and the posterior predictive check for the first 24 h."""
    spec = posterior.spec
    table = posterior.table()
    paths = [save(marginals(spec.priors, table, posterior.original), out / "marginals", fmt)]
    case = load_scenario(spec.scenario_path)
    until = min(PREDICTIVE_HOURS, case.scenario.horizon_h)
    short = case.with_overrides({"scenario.horizon_h": until})
    draws = draw_overrides(table, runs, posterior.seed)
    results = Results(short, posterior.seed, map_runs(short, posterior.seed, range(runs), workers=workers,
                                                      keep_steps=False, overrides_by_run=draws))
    record = read_record(spec.events_path)
    fig = predictive(results.events, runs, record, list(case.sections),
                     start_min=case.scenario.start_min, until_min=until * 60.0,
                     title=f"{case.scenario.title or case.scenario.name}: posterior predictive check")
    paths.append(save(fig, out / "predictive", fmt))
    return paths


def summary_text(posterior: Posterior) -> str:
    """What the calibration did and found, in a few lines and a table."""
    pops = posterior.populations
    last = posterior.last
    lines = [
        f"calibrated {posterior.spec.scenario_path.name} against {posterior.spec.events_path.name}: "
        f"{len(posterior.statistics)} statistics, {len(posterior.spec.priors)} parameters",
        f"{posterior.simulations} simulations in {posterior.seconds:.1f} s "
        f"({posterior.simulations / max(posterior.seconds, 1e-9):.0f}/s), {len(pops)} populations of "
        f"{len(last.weights)} particles; final tolerance {last.tolerance:.3g}, acceptance "
        f"{last.acceptance:.2f}; stopped: {posterior.stop_reason}",
    ]
    q = posterior.quantiles()
    with pd.option_context("display.width", 160, "display.max_colwidth", 60,
                           "display.float_format", "{:.4g}".format):
        lines.append("populations (tolerance on that population's adaptive scales; ESS = Kish's):")
        lines.append(posterior.populations_table().to_string(index=False))
        lines += adjustment_lines(posterior)
        lines.append(q.to_string(index=False))
    return "\n".join(lines)


def adjustment_lines(posterior: Posterior) -> list[str]:
    """What the regression adjustment did (nothing when the spec leaves it off)."""
    if posterior.spec.adjustment == "none":
        return ["posterior: the last population as accepted (adjustment = \"none\")"]
    if not posterior.adjustment:
        return ["regression adjustment: nothing to regress on (no statistic varies, or tolerance 0); "
                "the posterior is the last population as accepted"]
    return ["regression adjustment (Beaumont et al. 2002; ridge penalty by cross-validation):",
            posterior.adjustment_table().to_string(index=False)]


# -- record sets ---------------------------------------------------------------------------------

def run_set(args: argparse.Namespace) -> int:
    """``ceasefire calibrate <set spec>``: every record of the set at once."""
    spec = load_set_spec(args.scenario)
    if args.budget is not None:
        check_set_budget(args.budget, spec.particles, len(spec.records), "--budget")
    posterior = calibrate_set(spec, budget=args.budget, seed=args.seed, workers=args.workers)
    name = spec.source.name.removesuffix(".toml")
    out = args.out or Path("results") / f"{name}-calibration"
    out.mkdir(parents=True, exist_ok=True)
    written = [write_posterior(posterior, out / f"{name}.posterior.csv"),
               write_csv_atomic(posterior.populations_table(), out / f"{name}.populations.csv"),
               write_set_metadata(posterior, out / f"{name}.posterior.json")]
    if posterior.adjustment:
        written.append(write_csv_atomic(posterior.adjustment_table(), out / f"{name}.adjustment.csv"))
    choices = posterior.choices()
    if len(choices):
        written.append(write_csv_atomic(choices, out / f"{name}.choices.csv"))
    check = predictive_check(posterior, args.predictive_runs, workers=args.workers)
    summary = predictive_summary(check)
    written += [write_csv_atomic(check, out / "predictive-statistics.csv"),
                write_csv_atomic(summary, out / "predictive-coverage.csv")]
    if not args.no_figures:
        written += set_figures(posterior, out, args.predictive_runs, args.workers, args.format)
    print(set_summary_text(posterior, summary))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def write_set_metadata(posterior: SetPosterior, path: Path) -> Path:
    """What the set calibration was and why it stopped, as JSON, atomically."""
    spec = posterior.spec
    meta = {"spec": str(spec.source), "records": spec.names, "seed": posterior.seed,
            "particles": spec.particles, "budget": spec.budget, "quantile": spec.quantile,
            "min_acceptance": spec.min_acceptance, "min_ess": spec.ess_floor,
            "choice_keep": spec.choice_keep, "adjustment": spec.adjustment,
            "simulations": posterior.simulations,
            "seconds": round(posterior.seconds, 1), "stop_reason": posterior.stop_reason,
            "populations": [{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                             for k, v in row.items()} for row in posterior.history]}
    text = json.dumps(meta, indent=2, allow_nan=False) + "\n"
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def set_figures(posterior: SetPosterior, out: Path, runs: int, workers: int, fmt: str = "png") -> list[Path]:
    """Per record: prior vs posterior of its parameters (shared and own) and the posterior
    predictive check of its first 24 h; the choice probabilities if any prior is categorical."""
    spec = posterior.spec
    table = posterior.table()
    paths = []
    for rec in spec.records:
        prefix = f"{rec.name}{SEPARATOR}"
        priors = [p for p in (*spec.shared, *rec.priors) if isinstance(p, Prior)]
        own = table.rename(columns={c: c.removeprefix(prefix) for c in table.columns if c.startswith(prefix)})
        original = original_values(load_scenario(rec.scenario_path), priors, rec.settings)  # this record's
        if priors:
            paths.append(save(marginals(priors, own, original), out / f"{rec.name}-marginals", fmt))
        case = load_scenario(rec.scenario_path)
        until = min(PREDICTIVE_HOURS, case.scenario.horizon_h)
        short = case.with_overrides({"scenario.horizon_h": until})
        draws = record_overrides(table, rec.name, runs, posterior.seed)
        results = Results(short, posterior.seed, map_runs(short, posterior.seed, range(runs), workers=workers,
                                                          keep_steps=False, overrides_by_run=draws))
        fig = predictive(results.events, runs, read_record(rec.events_path), list(case.sections),
                         start_min=case.scenario.start_min, until_min=until * 60.0,
                         title=f"{case.scenario.title or case.scenario.name}: posterior predictive "
                               f"check ({spec.source.name})")
        paths.append(save(fig, out / f"{rec.name}-predictive", fmt))
    if any(isinstance(p, Choice) for _, p, _ in spec.parameters()):
        paths.append(save(choice_probabilities(posterior.choices()), out / "choices", fmt))
    return paths


def set_summary_text(posterior: SetPosterior, coverage: pd.DataFrame | None = None) -> str:
    """Per population, the parameters, the choices and the predictive coverage, in text."""
    spec = posterior.spec
    lines = [f"calibrated {len(spec.records)} records together ({', '.join(spec.names)}): "
             f"{len(posterior.statistics)} statistics, {len(spec.columns)} parameters "
             f"({len(spec.shared)} shared)",
             f"{posterior.simulations} simulations in {posterior.seconds:.1f} s, "
             f"{len(posterior.populations)} populations of {spec.particles} particles; "
             f"stopped: {posterior.stop_reason}"]
    with pd.option_context("display.width", 200, "display.max_colwidth", 70,
                           "display.float_format", "{:.4g}".format):
        lines.append(posterior.populations_table().to_string(index=False))
        lines += adjustment_lines(posterior)
        lines.append(posterior.quantiles().to_string(index=False))
        choices = posterior.choices()
        if len(choices):
            lines.append(choices.to_string(index=False))
        if coverage is not None:
            lines.append(coverage.to_string(index=False))
    return "\n".join(lines)
