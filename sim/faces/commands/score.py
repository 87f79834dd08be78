"""``ceasefire score``: the model's forecasts and the baselines' scored against a record."""

from __future__ import annotations

import argparse
from pathlib import Path

from sim.faces.cli import check_runs_and_seed, check_workers
from sim.faces.figures import FORMATS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="score forecasts against a record, beside simple baselines",
                       description="Score the model's runs, the model without rule 8 and three "
                                   "baselines (constant-rate Poisson, pre-ceasefire rate x drop, "
                                   "Hawkes) on what a scenario's record supports (monitor counts, "
                                   "else numeric claims; the first violation; collapse by 6 h to "
                                   "7 days), which none of them is fitted to; the rest is undefined, "
                                   "with why. Writes scores.csv, skill.csv and score-bands.png.")
    p.add_argument("scenario", nargs="?",
                   help="scenario file or bundled name; its record is the truth (not with "
                        "--leave-one-out)")
    p.add_argument("--posterior", type=Path, metavar="FILE",
                   help="draw each run's parameters from a posterior sample (from ceasefire calibrate)")
    p.add_argument("--runs", type=int, default=1000, help="runs per model predictor (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--train", nargs="+", metavar="REC",
                   help="scenarios whose records fit the baselines (default: every other bundled "
                        "record with count lines of the kind)")
    p.add_argument("--kind", choices=("violations", "explosions", "claims"), default=None,
                   help="which series to score by the CRPS (default: the monitor count kind with "
                        "more windows after t = 0, else the parties' numeric claims)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="output folder (default: results/<scenario name>-score)")
    p.add_argument("--format", choices=FORMATS, default="png", help="figure format (default png)")
    loo = p.add_argument_group("leave one record out (sim.studies.loro)")
    loo.add_argument("--leave-one-out", action="store_true",
                     help="for each record of --spec: calibrate on the others, learn its own "
                          "parameters from its lines ending by t = 0, forecast it, score it; writes "
                          "leave-one-out.csv, leave-one-out-widths.csv, "
                          "leave-one-out-own-widths.csv and leave-one-out.png")
    loo.add_argument("--spec", type=Path, default=Path("calibrations/library.toml"), metavar="FILE",
                     help="set spec whose records are left out in turn (default calibrations/library.toml)")
    loo.add_argument("--budget", type=int, default=720, help="simulations per fold calibration (default 720)")
    loo.add_argument("--particles", type=int, default=40, help="particles per fold (default 40)")
    loo.add_argument("--records", nargs="+", metavar="REC",
                     help="leave out only these records of --spec, in turn (default: every one)")
    loo.add_argument("--own-from", default="pre-ceasefire", metavar="pre-ceasefire|priors",
                     help="the left-out record's own parameters: calibrated on its lines ending by "
                          "t = 0 (default), or drawn from their priors (the ablation)")
    loo.add_argument("--pre-budget", type=int, default=800,
                     help="simulations per pre-ceasefire calibration (default 800)")
    loo.add_argument("--pre-particles", type=int, default=40,
                     help="particles per pre-ceasefire calibration (default 40)")
    loo.add_argument("--until-days", type=float, default=7.0,
                     help="score windows ending by this many days after t = 0 (default 7)")
    loo.add_argument("--warmup-days", type=float, default=2.0,
                     help="runs start at most this many days before t = 0 (default 2)")
    loo.add_argument("--variants", action="store_true",
                     help="also score model variants (retaliation policies, commitment off, "
                          "interposition off); writes variants.csv")
    loo.add_argument("--variant-runs", type=int, default=200,
                     help="runs per variant, paired with the model's first runs (default 200)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Carry out ``ceasefire score``."""
    check_runs_and_seed(args.runs, args.seed, least_runs=2)
    check_workers(args.workers)
    if args.leave_one_out:
        return _leave_one_out(args)
    if args.scenario is None:
        from sim.model.scenario import ScenarioError

        raise ScenarioError("score: name a scenario (or use --leave-one-out)")
    from sim.faces.figures.scoring import write_outputs
    from sim.studies.scoring import score, summary_text

    result = score(args.scenario, posterior=args.posterior, runs=args.runs, seed=args.seed,
                   workers=args.workers, train=args.train, kind=args.kind)
    out = args.out or Path("results") / f"{result.scenario}-score"
    written = write_outputs(result, out, args.format)
    print(summary_text(result))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _leave_one_out(args: argparse.Namespace) -> int:
    from sim.faces.figures.scoring import write_loro
    from sim.model.scenario import ScenarioError
    from sim.studies.loro import leave_one_out, summary_text, variant_differences

    if args.scenario is not None:
        raise ScenarioError(f"score {args.scenario} --leave-one-out: the records come from --spec; "
                            "name no scenario")
    if args.until_days <= 0 or args.warmup_days < 0:
        raise ScenarioError(f"--until-days {args.until_days:g} / --warmup-days {args.warmup_days:g}: "
                            "must be > 0 and ≥ 0")
    folds = leave_one_out(args.spec, runs=args.runs, seed=args.seed, workers=args.workers,
                          budget=args.budget, particles=args.particles,
                          until_min=args.until_days * 1440.0, warmup_min=args.warmup_days * 1440.0,
                          variants=args.variants, variant_runs=min(args.variant_runs, args.runs),
                          records=args.records, own_from=args.own_from, pre_budget=args.pre_budget,
                          pre_particles=args.pre_particles)
    out = args.out or Path("results") / "leave-one-out"
    written = write_loro(folds, out, fmt=args.format, variants=args.variants, seed=args.seed)
    print(summary_text(folds, variant_differences(folds, seed=args.seed) if args.variants else None))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0
