"""Leave one record out: calibrate on every other record, forecast the one left out, score it.

For each record R of a set spec (default ``calibrations/library.toml``, every bundled record):

1. **Fit.** :func:`sim.studies.calibration.calibrate_set` on the spec without R (the *fold*), at a small
   budget (``budget``, ``particles``): the shared parameters' posterior learnt from the others.
2. **Learn R's own parameters from its history** (``own_from="pre-ceasefire"``, the default):
   R's *own* parameters (those the spec gives R alone: its war-time level, its claimants'
   inflation, ...) are calibrated by the same engine on R's record cut to the lines a forecaster
   had at t = 0, those that end at or before t = 0
   (:func:`sim.records.record.known_before_ceasefire`, the rule of the ``drop`` baseline), a set
   of one record whose priors are R's own (:func:`pre_ceasefire_posterior`; ``pre_budget``,
   ``pre_particles``). The shared parameters are held at the fold posterior's weighted medians
   (the most probable value of a categorical one): an approximation, since their uncertainty is
   not carried into this step (drawing them per particle is not done). These runs start at the
   scenario's ``start_min`` and end soon after t = 0, so they are cheap. Where no line ending
   by t = 0 gives a statistic, or with ``own_from="priors"`` (the ablation: the method before
   this step), R's own parameters are drawn from their priors, and :attr:`Fold.own` says so.
3. **Forecast.** ``runs`` runs of R's scenario, run i with a particle drawn by weight from the fold
   posterior (:func:`sim.studies.calibration.record_overrides`: the shared parameters), and R's
   own parameters from a particle of the pre-ceasefire posterior drawn by weight
   (:func:`own_posterior_draws`) or from their priors (:func:`own_prior_draws`), each from its
   own stream of the fold's seed.
4. **Score.** :func:`sim.studies.scoring.score` on R's record against the baselines fitted on the other
   records (``training_records``) and the ablation, over the first ``until_min`` after t = 0,
   runs starting ``warmup_min`` before t = 0.

With ``variants=True`` the same draws also drive model variants (:data:`VARIANTS`: the other
retaliation policies, commitment off, interposition off) at ``variant_runs`` runs, compared with
the model's first ``variant_runs`` runs (the same seeds and parameters: common random numbers).
:func:`variant_differences` pools their per-window CRPS differences over the records, with a
paired bootstrap interval (windows resampled within each record).

Outputs: :func:`loro_table` (one row per record and predictor: scores, the model's CRPS skill
against that predictor with its 90% paired-bootstrap interval), :func:`widths_table` (per fold,
the posterior's 90% width over the prior's for each shared parameter), :func:`own_widths_table`
(per fold, the same for R's own parameters in the pre-ceasefire posterior: what R's history
taught); the chart is :func:`sim.faces.figures.scoring.loro_figure`.
Everything derives from ``seed`` (fold k calibrates and forecasts on seed ``seed + k``'s
streams), so results do not depend on ``workers``.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.model.scenario import ScenarioError
from sim.studies import scores

if TYPE_CHECKING:  # pragma: no cover

    from sim.studies.calibration import SetPosterior, SetSpec
    from sim.studies.scoring import ScoreResult

DEFAULT_SPEC = Path("calibrations/library.toml")
OWN_STREAM = 0x6F776E70
"""Tag of the stream drawing a left-out record's own parameters from their priors."""
PRE_STREAM = 0x70726563
"""Tag of the pre-ceasefire calibration's seed (key 0) and of the stream drawing a left-out
record's own parameters from that calibration's posterior (key 1)."""
OWN_FROM = ("pre-ceasefire", "priors")
"""Where a left-out record's own parameters come from (``own_from``; "priors" is the ablation)."""
VARIANT_STREAM = 0x76617269
"""Tag of the variant bootstrap's stream."""
POLICIES = ("tit_for_tat", "proportional", "escalating", "restrained", "grudger")
VARIANTS: dict[str, dict[str, Any]] = {
    **{f"policy={p}": {"sides.*.force.retaliation.policy": p} for p in POLICIES},
    "commitment=off": {"rules.commitment": False},
    "interposition=off": {"peacekeepers.deterrence": 0.0, "peacekeepers.answer_blocking": 0.0,
                          "peacekeepers.guarantee": 0.0},
}
"""Model variants: name -> scenario overrides. A variant the scenario already is (its own
policy; interposition off where no post deters) is skipped for that record: its difference is 0."""
LORO_COLUMNS = ("record", "target", "windows", "predictor", "crps", "log_score_first", "brier",
                "coverage_50", "coverage_90", "skill", "skill_low", "skill_high", "note", "own_from")
OWN_WIDTH_COLUMNS = ("left_out", "parameter", "prior", "q05", "q50", "q95", "width_ratio", "own_from")
VARIANT_COLUMNS = ("variant", "records", "windows", "crps_model", "crps_variant", "difference",
                   "low", "high", "relative", "relative_low", "relative_high", "level", "distinguishable")


@dataclass
class Fold:
    """One left-out record: its scores, the fold posterior's widths and the per-window CRPS of
    the model and each variant on the variant runs."""

    record: str
    result: ScoreResult
    widths: pd.DataFrame
    variant_crps: dict[str, np.ndarray] = field(default_factory=dict)
    """Predictor ("model" and variants) -> per-window CRPS over the first ``variant_runs`` runs."""
    simulations: int = 0
    """Simulations the fold's calibration used."""
    own: str = ""
    """How the record's own parameters were drawn ("pre-ceasefire posterior: N lines, S
    simulations", "priors: no pre-ceasefire line gives a statistic", "priors (own_from=priors)")."""
    own_widths: pd.DataFrame = field(default_factory=pd.DataFrame)
    """The own parameters' pre-ceasefire posterior (columns :data:`OWN_WIDTH_COLUMNS`; NaN when
    drawn from the priors, with why in ``own_from``)."""


@dataclass
class OwnPosterior:
    """A left-out record's own parameters as learnt from its pre-ceasefire lines
    (:func:`pre_ceasefire_posterior`)."""

    record: str
    table: pd.DataFrame | None
    """The posterior sample (weight, then one column per own key path); None: use the priors."""
    description: str
    """Where the draws come from, in words (:attr:`Fold.own`)."""
    widths: pd.DataFrame
    """Columns :data:`OWN_WIDTH_COLUMNS`, one row per numeric own parameter."""
    lines: int = 0
    """Record lines ending by t = 0 that gave a statistic."""
    simulations: int = 0


def own_prior_draws(spec: SetSpec, record: str, runs: int, seed: int) -> dict[int, dict[str, Any]]:
    """``record``'s own parameters (its priors in ``spec``) drawn independently from the priors for
    runs 0 .. runs-1, from their own stream of ``seed``; {} per run if it has none."""
    from sim.studies.calibration import Choice

    rec = next((r for r in spec.records if r.name == record), None)
    out: dict[int, dict[str, Any]] = {i: {} for i in range(runs)}
    if rec is None or not rec.priors:
        return out
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(OWN_STREAM, 0))))
    for p in rec.priors:
        if isinstance(p, Choice):
            picks = rng.integers(0, len(p.values), size=runs)
            values = [p.values[int(k)] for k in picks]
        else:
            x = p.from_unit(rng.uniform(size=runs))
            values = [int(v) if p.integer else float(v) for v in x]
        for i, v in enumerate(values):
            out[i][p.path] = v
    return out


def own_posterior_draws(table: pd.DataFrame, runs: int, seed: int) -> dict[int, dict[str, Any]]:
    """Runs 0 .. runs-1 each take the own parameters of a particle of ``table`` (a pre-ceasefire
    posterior, :attr:`OwnPosterior.table`) drawn by weight, from their own stream of ``seed``
    (apart from the fold posterior's draws and the runs' streams). Observation parameters
    (``observations.*``) are kept: the scorer feeds them to each run's claim model."""
    from sim.studies.calibration import draw_overrides

    return draw_overrides(table, runs, seed, observations=True, stream=(PRE_STREAM, 1))


def write_pre_ceasefire_record(events: Path, out: Path) -> int:
    """Write the lines of the record ``events`` that end at or before t = 0
    (:func:`sim.records.record.known_before_ceasefire`) to ``out``, unchanged; return how many."""
    from sim.records.record import COLUMNS, known_before_ceasefire, read_csv_text

    frame = read_csv_text(events, f"a record starts with the header {','.join(COLUMNS)}")
    keep = frame[known_before_ceasefire(pd.to_numeric(frame["t_min_latest"], errors="coerce"))]
    keep.to_csv(out, index=False)
    return len(keep)


def shared_point(posterior: SetPosterior) -> dict[str, Any]:
    """The shared parameters at one point of ``posterior``: weighted medians (integers rounded),
    and the most probable value of a categorical parameter."""
    from sim.studies.calibration import Choice, weighted_quantile

    pop = posterior.final
    out: dict[str, Any] = {}
    for k, (column, prior, owner) in enumerate(posterior.spec.parameters()):
        if owner is not None:
            continue
        if isinstance(prior, Choice):
            mass = np.bincount(pop.values[:, k].astype(int), weights=pop.weights,
                               minlength=len(prior.values))
            out[column] = prior.values[int(np.argmax(mass))]
        else:
            m = float(weighted_quantile(pop.values[:, k], pop.weights, [0.5])[0])
            out[column] = round(m) if prior.integer else m
    return out


def _prior_widths(priors: Sequence[Any], record: str, why: str) -> pd.DataFrame:
    """Rows of :data:`OWN_WIDTH_COLUMNS` for own parameters drawn from their priors: undefined
    posterior quantiles, and why."""
    from sim.studies.calibration import Prior

    rows = [{"left_out": record, "parameter": p.path,
             "prior": f"{p.distribution}({p.low:g}, {p.high:g})", "q05": math.nan, "q50": math.nan,
             "q95": math.nan, "width_ratio": math.nan, "own_from": why}
            for p in priors if isinstance(p, Prior)]
    return pd.DataFrame(rows, columns=list(OWN_WIDTH_COLUMNS))


def pre_ceasefire_posterior(spec: SetSpec, record: str, shared: Mapping[str, Any], *, budget: int = 800,
                            particles: int = 40, seed: int = 0, workers: int = 1,
                            progress: bool | None = None) -> OwnPosterior:
    """Calibrate ``record``'s own parameters (its priors in ``spec``) on its lines that end at or
    before t = 0, with the shared parameters fixed at ``shared`` (key path -> value; e.g.
    :func:`shared_point` of the fold posterior: an approximation, their spread is not carried
    over). The engine is :func:`sim.studies.calibration.calibrate_set` on a set of one record
    (the spec's quantile and minimum acceptance; its ESS floor, a quarter of ``particles``), on
    a seed drawn from ``seed``'s own stream. With no own parameter, or no line ending by t = 0
    that gives a statistic, :attr:`OwnPosterior.table` is None and the description says why.
    """
    from sim.model.scenario import load_scenario
    from sim.records.observations import load_observations
    from sim.studies.calibration import (
        SEPARATOR,
        RecordSpec,
        SetSpec,
        calibrate_set,
        is_observation_parameter,
    )

    rec = next((r for r in spec.records if r.name == record), None)
    if rec is None:
        raise ScenarioError(f"{spec.source}: {record}: not a record of this set")
    if not rec.priors:
        why = "none: the record has no own parameters"
        return OwnPosterior(record, None, why, _prior_widths((), record, why))
    settings = rec.settings
    inflation = shared.get("observations.claim_inflation")
    if inflation is not None:
        settings = replace(settings, claim_inflation=float(inflation))
    fixed = {k: v for k, v in shared.items() if not is_observation_parameter(k)}
    with tempfile.TemporaryDirectory(prefix="pre-ceasefire-") as tmp:
        events = Path(tmp) / f"{rec.name}.pre-ceasefire.events.csv"
        ending = write_pre_ceasefire_record(rec.events_path, events)
        stats = load_observations(load_scenario(rec.scenario_path), events, settings) if ending else []
        if not stats:
            why = (f"priors: no pre-ceasefire line gives a statistic (of {ending} ending by t = 0)"
                   if ending else "priors: no pre-ceasefire line (none ends by t = 0)")
            return OwnPosterior(record, None, why, _prior_widths(rec.priors, record, why))
        lines = len({line for st in stats for line in st.lines})
        pre = RecordSpec(rec.name, rec.scenario_path, events, rec.priors, settings, None, fixed)
        one = SetSpec(spec.source, (pre,), (), particles=particles, budget=budget,
                      seed=int(np.random.SeedSequence(seed, spawn_key=(PRE_STREAM, 0)).generate_state(1)[0]),
                      quantile=spec.quantile, min_acceptance=spec.min_acceptance, min_ess=None,
                      choice_keep=spec.choice_keep)
        post = calibrate_set(one, workers=workers, progress=progress)
    prefix = f"{rec.name}{SEPARATOR}"
    table = post.table().rename(columns=lambda c: c.removeprefix(prefix))
    why = f"pre-ceasefire posterior: {lines} lines, {post.simulations} simulations"
    q = post.quantiles()
    widths = pd.DataFrame({"left_out": record, "parameter": q["parameter"].str.removeprefix(prefix),
                           "prior": q["prior"], "q05": q["q05"], "q50": q["q50"], "q95": q["q95"],
                           "width_ratio": q["width_ratio"], "own_from": why},
                          columns=list(OWN_WIDTH_COLUMNS))
    return OwnPosterior(record, table, why, widths, lines, post.simulations)


def fold_spec(spec: SetSpec, record: str) -> SetSpec:
    """``spec`` without ``record`` (the training records of its fold)."""
    rest = tuple(r for r in spec.records if r.name != record)
    if len(rest) == len(spec.records):
        raise ScenarioError(f"{spec.source}: {record}: not a record of this set")
    return replace(spec, records=rest)


def widths(posterior: Any, record: str) -> pd.DataFrame:
    """The fold posterior's shared parameters: median and 90% width over the prior's 90%."""
    q = posterior.quantiles()
    q = q[~q["parameter"].str.contains("::", regex=False)]
    return q.assign(left_out=record)[["left_out", "parameter", "prior", "q05", "q50", "q95",
                                      "width_ratio"]]


def leave_one_out(spec: str | Path | SetSpec = DEFAULT_SPEC, *, runs: int = 1000, seed: int = 0,
                  workers: int = 1, budget: int = 720, particles: int = 40,
                  until_min: float = 7 * 1440.0, warmup_min: float = 2 * 1440.0,
                  variants: bool = False, variant_runs: int = 200,
                  records: Sequence[str] | None = None, progress: bool | None = None,
                  own_from: str = "pre-ceasefire", pre_budget: int = 800,
                  pre_particles: int = 40) -> list[Fold]:
    """Run the folds (module docstring); ``records`` limits which records are left out in turn.

    ``own_from``: "pre-ceasefire" (default) or "priors" (:data:`OWN_FROM`); ``pre_budget`` and
    ``pre_particles``: simulations and particles of each pre-ceasefire calibration. Raises
    ScenarioError (one line, naming the option) for a bad value."""
    from sim.studies.calibration import calibrate_set, check_budget, load_set_spec, record_overrides
    from sim.studies.scoring import score

    if own_from not in OWN_FROM:
        raise ScenarioError(f"--own-from {own_from!r}: allowed: {', '.join(OWN_FROM)}")
    if pre_particles < 2:
        raise ScenarioError(f"--pre-particles {pre_particles}: must be a whole number ≥ 2")
    check_budget(pre_budget, pre_particles, "--pre-budget")
    full = spec if not isinstance(spec, str | Path) else load_set_spec(spec)
    if len(full.records) < 2:
        raise ScenarioError(f"{full.source}: leave-one-out needs at least 2 records")
    if runs < 2 or variant_runs < 2 or variant_runs > runs:
        raise ScenarioError(f"--runs {runs} / variant runs {variant_runs}: need 2 ≤ variant runs ≤ runs")
    names = full.names if records is None else list(records)
    unknown = [r for r in names if r not in full.names]
    if unknown or not names:
        raise ScenarioError(f"--records {' '.join(unknown)}: not a record of {full.source}; "
                            f"its records: {', '.join(full.names)}")
    folds = []
    for k, rec in enumerate(full.records):
        if rec.name not in names:
            continue
        s = seed + k
        post = calibrate_set(fold_spec(full, rec.name), budget=budget, particles=particles, seed=s,
                             workers=workers, progress=progress)
        table = post.table()
        shared = record_overrides(table, rec.name, runs, s)
        if own_from == "priors":
            why = "priors (own_from=priors)" if rec.priors else "none: the record has no own parameters"
            learnt = OwnPosterior(rec.name, None, why, _prior_widths(rec.priors, rec.name, why))
        else:
            learnt = pre_ceasefire_posterior(full, rec.name, shared_point(post), budget=pre_budget,
                                             particles=pre_particles, seed=s, workers=workers,
                                             progress=progress)
        own = (own_prior_draws(full, rec.name, runs, s) if learnt.table is None
               else own_posterior_draws(learnt.table, runs, s))
        per_run = {i: {**shared[i], **own[i]} for i in range(runs)}
        train = [r.scenario_path for r in full.records if r.name != rec.name]
        result = score(rec.scenario_path, runs=runs, seed=s, workers=workers, train=None,
                       overrides_by_run=per_run, until_min=until_min, warmup_min=warmup_min,
                       progress=progress, train_pool=train)
        fold = Fold(rec.name, result, widths(post, rec.name),
                    simulations=int(post.populations_table()["simulations"].sum()),
                    own=learnt.description, own_widths=learnt.widths)
        if progress is not False:
            print(f"fold {rec.name}: calibrated on {len(full.records) - 1} records "
                  f"({fold.simulations} simulations), own parameters from {fold.own}, "
                  f"scored {len(result.windows)} windows", flush=True)
        if variants and len(result.windows):
            fold.variant_crps = _variants(rec.scenario_path, result, per_run, variant_runs, s, workers,
                                          until_min, warmup_min, progress)
        folds.append(fold)
    return folds


def _variants(scenario: Path, result: ScoreResult, per_run: Mapping[int, Mapping[str, Any]], runs: int,
              seed: int, workers: int, until_min: float, warmup_min: float,
              progress: bool | None) -> dict[str, np.ndarray]:
    """Per-window CRPS of the model's first ``runs`` runs and of each applicable variant."""
    from sim.model.scenario import load_scenario
    from sim.studies.scoring import score

    case = load_scenario(scenario)
    pols = {s.force.retaliation.policy for s in case.sides.values()}
    chosen = {}
    for name, extra in VARIANTS.items():
        if name.startswith("policy=") and pols == {extra["sides.*.force.retaliation.policy"]}:
            continue  # the scenario's own policy: the model itself
        if name == "commitment=off" and not case.rules.commitment:
            continue
        if name == "interposition=off" and (case.peacekeepers is None or not (
                case.peacekeepers.deterrence or case.peacekeepers.answer_blocking
                or case.peacekeepers.guarantee)):
            continue
        chosen[name] = extra
    obs = result.windows["count"].to_numpy(dtype=float)
    out = {"model": scores.crps_sample(result.predictives["model"].counts[:runs], obs)}
    if not chosen:
        return out
    first = {i: per_run[i] for i in range(runs)}
    again = score(scenario, runs=runs, seed=seed, workers=workers, overrides_by_run=first,
                  until_min=until_min, warmup_min=warmup_min, variants=chosen, baselines=False,
                  progress=progress, kind=result.kind)
    assert np.array_equal(again.predictives["model"].counts, result.predictives["model"].counts[:runs])
    for name in chosen:
        out[name] = scores.crps_sample(again.predictives[name].counts, obs)
    return out


def loro_table(folds: Sequence[Fold]) -> pd.DataFrame:
    """One row per left-out record and predictor; ``skill`` is the model's CRPS skill against the
    row's predictor (NaN for the model itself and where either CRPS is undefined)."""
    from sim.studies.scoring import PREDICTORS, describe_target

    rows = []
    for f in folds:
        t = f.result.table.set_index("predictor")
        sk = f.result.skill.set_index("reference")
        for p in PREDICTORS:
            r = t.loc[p]
            s = sk.loc[p] if p in sk.index else None
            rows.append({"record": f.record, "target": describe_target(f.result.kind),
                         "windows": len(f.result.windows), "predictor": p,
                         "crps": r["crps"], "log_score_first": r["log_score_first"], "brier": r["brier"],
                         "coverage_50": r["coverage_50"], "coverage_90": r["coverage_90"],
                         "skill": math.nan if s is None else s["skill"],
                         "skill_low": math.nan if s is None else s["low"],
                         "skill_high": math.nan if s is None else s["high"],
                         "note": r["note"], "own_from": f.own})
    return pd.DataFrame(rows, columns=list(LORO_COLUMNS))


def widths_table(folds: Sequence[Fold]) -> pd.DataFrame:
    """Every fold's shared-parameter widths, stacked."""
    return pd.concat([f.widths for f in folds], ignore_index=True) if folds else pd.DataFrame()


def own_widths_table(folds: Sequence[Fold]) -> pd.DataFrame:
    """Every fold's own-parameter widths in the pre-ceasefire posterior (what the record's lines
    ending by t = 0 taught: ``width_ratio`` < 1), stacked; NaN rows where the priors were used."""
    parts = [f.own_widths for f in folds if len(f.own_widths)]
    return (pd.concat(parts, ignore_index=True) if parts
            else pd.DataFrame(columns=list(OWN_WIDTH_COLUMNS)))


def variant_differences(folds: Sequence[Fold], *, draws: int = 2000, level: float = 0.9,
                        seed: int = 0) -> pd.DataFrame:
    """Per variant, over the records where it applies: the mean CRPS of the model and of the
    variant over every scored window, their difference (variant - model; > 0: the variant
    forecasts worse), and the scale-free ``relative`` difference, the mean over records of
    ``mean CRPS_variant / mean CRPS_model - 1`` (each record weighs the same, whatever its
    counts' size; the absolute difference is dominated by the records with the largest counts).
    Intervals: paired bootstrap, windows resampled with replacement within each record (the
    model and the variant share runs and parameters). ``distinguishable``: the relative
    interval excludes 0; with fewer than 2 windows there is no interval (NaN, not
    distinguishable)."""
    names = sorted({n for f in folds for n in f.variant_crps if n != "model"})
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(VARIANT_STREAM, 0))))
    q = [(1 - level) / 2, (1 + level) / 2]
    rows = []
    for name in names:
        pairs = [(f.variant_crps["model"], f.variant_crps[name]) for f in folds if name in f.variant_crps]
        n = sum(m.size for m, _ in pairs)
        diff = np.zeros(draws)
        rel = np.zeros(draws)
        for m, v in pairs:
            idx = rng.integers(0, m.size, size=(draws, m.size))
            diff += (v[idx] - m[idx]).sum(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                rel += v[idx].mean(axis=1) / m[idx].mean(axis=1) - 1
        diff /= n
        rel /= len(pairs)
        with np.errstate(divide="ignore", invalid="ignore"):
            point_rel = float(np.mean([v.mean() / m.mean() - 1 for m, v in pairs]))
        lo, hi = np.quantile(diff, q) if n >= 2 else (math.nan, math.nan)
        rlo, rhi = np.quantile(rel, q) if n >= 2 and np.isfinite(rel).all() else (math.nan, math.nan)
        rows.append({"variant": name, "records": len(pairs), "windows": n,
                     "crps_model": float(np.concatenate([m for m, _ in pairs]).mean()),
                     "crps_variant": float(np.concatenate([v for _, v in pairs]).mean()),
                     "difference": float(np.concatenate([v - m for m, v in pairs]).mean()),
                     "low": float(lo), "high": float(hi), "relative": point_rel,
                     "relative_low": float(rlo), "relative_high": float(rhi), "level": level,
                     "distinguishable": bool(rlo > 0 or rhi < 0)})
    return pd.DataFrame(rows, columns=list(VARIANT_COLUMNS))


def variant_windows(folds: Sequence[Fold]) -> pd.DataFrame:
    """The per-window CRPS behind :func:`variant_differences` (record, window, predictor, crps),
    so the comparison can be redone from the CSV (:func:`folds_from_windows`)."""
    rows = [{"record": f.record, "window": j, "predictor": name, "crps": float(c)}
            for f in folds for name, arr in f.variant_crps.items() for j, c in enumerate(arr)]
    return pd.DataFrame(rows, columns=["record", "window", "predictor", "crps"])


def folds_from_windows(frame: pd.DataFrame) -> list[Fold]:
    """Folds holding only the per-window CRPS of ``variant-windows.csv`` (for
    :func:`variant_differences`)."""
    out = []
    for record, sub in frame.groupby("record", sort=False):
        f = Fold(str(record), result=None, widths=pd.DataFrame())  # type: ignore[arg-type]
        f.variant_crps = {str(p): g.sort_values("window")["crps"].to_numpy(dtype=float)
                          for p, g in sub.groupby("predictor", sort=False)}
        out.append(f)
    return out


def summary_text(folds: Sequence[Fold], variants: pd.DataFrame | None = None) -> str:
    """The leave-one-out table in readable lines."""
    t = loro_table(folds)
    shown = t[["record", "predictor", "crps", "log_score_first", "skill", "skill_low", "skill_high"]]
    with pd.option_context("display.width", 160, "display.float_format", "{:.3f}".format,
                           "display.max_rows", 200):
        lines = [shown.to_string(index=False)]
        lines += [f"{f.record}: own parameters from {f.own}" for f in folds if f.own]
        if variants is not None and len(variants):
            lines.append(variants.to_string(index=False))
    return "\n".join(lines)


def _num(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "undefined"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.3g}" if abs(x) >= 0.01 else f"{x:.2g}"


def readme_table(table: pd.DataFrame) -> str:
    """The leave-one-out CSV as the README's markdown table: per record, the target, the model's
    CRPS, the best statistical baseline's, the model's skill against it and against the ablation
    (90% intervals), and the model's log score of the first violation beside the best baseline's.
    The README test checks the README holds exactly this text for the committed CSV."""
    from sim.studies.scoring import BASELINES

    lines = ["| left-out record | scored | windows | model CRPS | best baseline (CRPS) | "
             "skill vs best baseline [90%] | skill vs no-commitment [90%] | log score first "
             "violation: model / best baseline |",
             "|---|---|---|---|---|---|---|---|"]
    for record, sub in table.groupby("record", sort=False):
        t = sub.set_index("predictor")
        base = t.loc[list(BASELINES)]
        defined = base["crps"].dropna()
        best = defined.idxmin() if len(defined) else None
        ls = base["log_score_first"].dropna()
        best_text = f"{best} ({_num(t.loc[best, 'crps'])})" if best else "undefined"
        first_base = _num(float(ls.min())) if len(ls) else "undefined"

        lines.append(f"| {record} | {t.loc['model', 'target']} | {int(t.loc['model', 'windows'])} | "
                     f"{_num(t.loc['model', 'crps'])} | "
                     f"{best_text} | "
                     f"{_skill(t, best)} | {_skill(t, 'no-commitment')} | "
                     f"{_num(t.loc['model', 'log_score_first'])} / "
                     f"{first_base} |")
    return "\n".join(lines)


def readme_own_comparison(pre: pd.DataFrame, priors: pd.DataFrame) -> str:
    """Two leave-one-out CSVs side by side, the left-out record's own parameters learnt from its
    lines ending by t = 0 (``pre``) and drawn from their priors (``priors``, the ablation): per
    record with a defined model CRPS, the model's CRPS, its Brier score and its skill against the
    best baseline under each. The baselines do not depend on where the model's own parameters come
    from, so the best baseline is the same in both."""
    from sim.studies.scoring import BASELINES

    lines = ["| left-out record | best baseline (CRPS) | model CRPS: priors / pre-ceasefire | "
             "skill vs best baseline [90%]: priors / pre-ceasefire | Brier: priors / pre-ceasefire |",
             "|---|---|---|---|---|"]
    for record, sub in pre.groupby("record", sort=False):
        t = sub.set_index("predictor")
        a = priors[priors["record"] == record].set_index("predictor")
        if a.empty:
            raise ValueError(f"{record}: not in the priors run")
        defined = t.loc[list(BASELINES), "crps"].dropna()
        if pd.isna(t.loc["model", "crps"]) or not len(defined):
            continue
        best = str(defined.idxmin())
        lines.append(f"| {record} | {best} ({_num(t.loc[best, 'crps'])}) | "
                     f"{_num(a.loc['model', 'crps'])} / {_num(t.loc['model', 'crps'])} | "
                     f"{_skill(a, best)} / {_skill(t, best)} | "
                     f"{_num(a.loc['model', 'brier'])} / {_num(t.loc['model', 'brier'])} |")
    return "\n".join(lines)


def _skill(t: pd.DataFrame, p: str | None) -> str:
    if p is None or pd.isna(t.loc[p, "skill"]):
        return "undefined"
    return f"{_num(t.loc[p, 'skill'])} [{_num(t.loc[p, 'skill_low'])}, {_num(t.loc[p, 'skill_high'])}]"


def readme_variants(table: pd.DataFrame) -> str:
    """The variants CSV as the README's markdown table (checked by the README test)."""
    lines = ["| variant | records | windows | CRPS model | CRPS variant | relative difference, "
             "variant / model − 1 [90%] | absolute difference [90%] | distinguishable |",
             "|---|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        lines.append(f"| {r['variant']} | {int(r['records'])} | {int(r['windows'])} | "
                     f"{_num(r['crps_model'])} | {_num(r['crps_variant'])} | {_num(r['relative'])} "
                     f"[{_num(r['relative_low'])}, {_num(r['relative_high'])}] | "
                     f"{_num(r['difference'])} [{_num(r['low'])}, {_num(r['high'])}] | "
                     f"{'yes' if r['distinguishable'] else 'no'} |")
    return "\n".join(lines)


def readme_widths(widths: pd.DataFrame) -> str:
    """The folds' posterior widths as the README's markdown table: per shared parameter, its
    prior and the smallest, median and largest 90% width over the prior's across the folds."""
    lines = ["| shared parameter | prior | posterior 90% width / prior's: min, median, max over folds |",
             "|---|---|---|"]
    for name, sub in widths.groupby("parameter", sort=False):
        r = sub["width_ratio"]
        lines.append(f"| `{name}` | {sub['prior'].iloc[0]} | "
                     f"{r.min():.2f}, {r.median():.2f}, {r.max():.2f} |")
    return "\n".join(lines)


def readme_own_widths(widths: pd.DataFrame) -> str:
    """The own-parameter widths CSV (:func:`own_widths_table`) as a markdown table: per left-out
    record and own parameter, its prior, the pre-ceasefire posterior's median and 90% interval,
    its 90% width over the prior's, and where the draws came from."""
    lines = ["| left-out record | own parameter | prior | pre-ceasefire posterior median [90%] | "
             "90% width / prior's | drawn from |",
             "|---|---|---|---|---|---|"]
    for _, r in widths.iterrows():
        post = ("undefined" if pd.isna(r["q50"])
                else f"{_num(r['q50'])} [{_num(r['q05'])}, {_num(r['q95'])}]")
        ratio = "undefined" if pd.isna(r["width_ratio"]) else f"{r['width_ratio']:.2f}"
        lines.append(f"| {r['left_out']} | `{r['parameter']}` | {r['prior']} | {post} | {ratio} | "
                     f"{r['own_from']} |")
    return "\n".join(lines)


def base_rate_brier(records: Sequence[str]) -> pd.DataFrame:
    """The reference for the Brier score: per record, the *climatological* forecast of "collapsed
    by 6 h / 24 h / 72 h / 7 days", the share of the other records that had collapsed by then
    (among those whose outcome lines settle it; :func:`sim.records.record.outcome_at`), scored
    against the record's own truth over the horizons both define (NaN when none).

    It needs no runs, so it is computed from the records, not stored with the folds. Columns:
    record, truth (per horizon: 1 collapsed, 0 held, blank unknown), horizons, brier_base_rate.
    """
    from sim.studies.scoring import HORIZONS_H, _load, record_collapse_truth

    truths = {r: record_collapse_truth(_load(r)[1])[0] for r in records}
    rows = []
    for r in records:
        others = np.array([truths[o] for o in records if o != r], dtype=float)
        others = others.reshape(-1, len(HORIZONS_H))
        known = np.isfinite(others).sum(axis=0)
        rate = np.where(known > 0, np.nansum(others, axis=0) / np.maximum(known, 1), math.nan)
        truth = truths[r]
        ok = np.isfinite(rate) & np.isfinite(truth)
        rows.append({"record": r,
                     "truth": " ".join("?" if not np.isfinite(x) else str(int(x)) for x in truth),
                     "horizons": int(ok.sum()),
                     "brier_base_rate": (float(np.mean((rate[ok] - truth[ok]) ** 2)) if ok.any()
                                         else math.nan)})
    return pd.DataFrame(rows)


def readme_brier(table: pd.DataFrame) -> str:
    """The model's Brier score of collapse (from the leave-one-out CSV) beside the base-rate
    reference of :func:`base_rate_brier`, as the README's markdown table."""
    from sim.studies.scoring import HORIZONS_H

    ref = base_rate_brier(list(dict.fromkeys(table["record"]))).set_index("record")
    model = table[table["predictor"] == "model"].set_index("record")
    lines = [f"| left-out record | truth at {' / '.join(f'{h} h' for h in HORIZONS_H)} "
             "(1 collapsed, 0 held, ? unknown) | horizons scored | Brier: model | "
             "Brier: base rate of the others |",
             "|---|---|---|---|---|"]
    for record, row in ref.iterrows():
        lines.append(f"| {record} | {row['truth']} | {row['horizons']} | "
                     f"{_num(model.loc[record, 'brier'])} | {_num(row['brier_base_rate'])} |")
    return "\n".join(lines)
