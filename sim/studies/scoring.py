"""Forecasts scored against a real truce: the model's runs, its ablation and the baselines.

:func:`score` takes a scenario whose record is the truth (never fitted to) and scores what the
record supports; every score it cannot compute is NaN with the reason in the notes.

**Counted series** (the CRPS, PIT and coverage). The *target* is one kind of series of the record:

- ``violations`` or ``explosions``: the monitor's ``count`` lines of that kind (by default the
  kind with more windows after t = 0, violations on a tie; a record with only explosions counts
  is scored on those, and the notes say so);
- ``claims``, when the record has no monitor counts: the parties' numeric ``claim`` lines, one
  series per claimant, side blamed, section and kind of fire. Claims differ from counts: they are
  a party's word about the other side's fire, not a measurement, so the model's side goes through
  the claim model of :mod:`sim.records.observations` (incidents the claimant perceived and blamed on the
  other side, times ``observations.claim_inflation``: from the posterior's draw of each run, else
  the ``claim_inflation`` argument), and the baselines are fitted on the training records' numeric
  claims (each series treated as a "section" of the same machinery as counts).

For the target's windows that end after t = 0 each predictor gives an ``(N, m)`` predictive sample:

- ``model``: N runs of the scenario (or of draws from a posterior sample), each counted through
  the monitor or claim model of :mod:`sim.records.observations` (the run's own monitor stream,
  :func:`sim.records.observations.monitor_seed`);
- ``poisson``, ``drop``, ``hawkes``: the baselines of :mod:`sim.studies.baselines`, fitted on training
  records (default: every other bundled record with series of the target), with the scored
  record's own windows ending by t = 0 as their history;
- ``no-commitment``: the model with rule 8 switched off (``rules.commitment = false``).

**Other scores** (:mod:`sim.studies.scores`, all losses): the log score of the minute of the first
recorded violation (the record's earliest-ending ``incident`` line at t ≥ 0 with a section, read
at the middle of its interval, unless earlier evidence after t = 0 shows a violation, as in
:func:`sim.records.observations.observations`; runs: the first incident after t = 0 the reporter detected,
inf if none; baselines: their first count after t = 0, from a fine-binned sample of the target);
the Brier score of "collapsed by 6 h / 24 h / 72 h / 7 days" where the record's ``abandoned`` /
``in_force`` statements settle the truth (:func:`record_collapse_truth`) and the predictor forecasts
collapse (rule 8). The skill of the model is ``1 - CRPS_model / CRPS_ref`` against each other
predictor, with a paired bootstrap interval; the best reference is the one with the lowest mean CRPS.

Overlapping windows of one series (e.g. a 19:30 → 19:30 period and its sub-window from t = 0)
are resolved by dropping the window spanning t = 0 first, then any later window that still
overlaps a kept one; each drop is listed in the notes. Everything derives from ``seed``: run
``i`` uses ``sim.studies.runner.run_seed(seed, i)``, so results do not depend on ``workers``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.model.scenario import Scenario, ScenarioError, load_scenario, resolve_path
from sim.records.observations import Settings, Statistic, monitor_seed, observations, observer, simulated
from sim.records.record import outcome_at, read_record
from sim.studies import scores

if TYPE_CHECKING:  # pragma: no cover
    pass

COUNT_KINDS = ("violations", "explosions")
TARGETS = (*COUNT_KINDS, "claims")
"""What can be scored by the CRPS: a kind of monitor count, or the parties' numeric claims."""
PREDICTORS = ("model", "poisson", "drop", "hawkes", "no-commitment")
"""Row order of the scores table."""
BASELINES = ("poisson", "drop", "hawkes")
"""The statistical baselines (a)-(c); (d) is the ablation ``no-commitment``."""
HORIZONS_H = (6, 24, 72, 168)
"""Horizons of the collapse forecasts (hours after t = 0)."""
PIT_BINS = 10
SCORE_COLUMNS = ("predictor", "target", "crps", "log_score_first", "brier", "coverage_50", "coverage_90",
                 *(f"p_collapse_{h}h" for h in HORIZONS_H),
                 *(f"pit_{k + 1}" for k in range(PIT_BINS)), "windows", "note")
"""Columns of ``scores.csv`` (NaN where a score is undefined; ``note`` says why)."""
SKILL_COLUMNS = ("model", "reference", "skill", "low", "high", "level", "windows", "best")
"""Columns of ``skill.csv``: the model's CRPS skill against each reference."""
SCORING_STREAM = 0x73636F72
"""Tag of the scorer's own streams: ``SeedSequence(seed, spawn_key=(SCORING_STREAM, k))``."""
FIRST_BINS = 2000
"""Bins of the baselines' first-event sample (over at most 7 days, or to the observed minute)."""


# ---------------------------------------------------------------------------- the record


def count_windows(record: pd.DataFrame, kind: str) -> tuple[pd.DataFrame, list[str]]:
    """The record's series of ``kind`` (a :data:`TARGETS` entry) as windows (section, start_min,
    end_min, count, line), overlaps within a series resolved; returns the windows and one note per
    dropped line. For ``claims`` the "section" is the series key: claimant, side blamed, section
    and kind of fire (see :func:`claim_series`), shorter windows win overlaps, and a number
    without a window (start = end) is dropped."""
    if kind == "claims":
        rows = record[(record["type"] == "claim") & record["count"].notna()]
        keys = [claim_series(r) for r in rows.itertuples(index=False)]
    else:
        rows = record[(record["type"] == "count") & (record["kind"] == kind)]
        keys = rows["section"].fillna("").astype(str).tolist()
    frame = pd.DataFrame({"section": pd.Series(keys, dtype=str, index=rows.index),
                          "start_min": rows["t_min_earliest"].astype(float),
                          "end_min": rows["t_min_latest"].astype(float),
                          "count": rows["count"].astype("int64"),
                          "line": rows.index.to_numpy() + 2})
    notes, keep = [], []
    instant = frame[~(frame["end_min"] > frame["start_min"])]
    notes += [f"dropped line {r.line} ({r.section or 'front'} at {r.start_min:g} min): a number "
              "without a window of time is not a rate" for r in instant.itertuples()]
    frame = frame.drop(instant.index)
    for _section, group in frame.groupby("section", sort=False):
        spans_zero = (group["start_min"] < 0) & (group["end_min"] > 0)
        # Claims are often running totals (0 → day 3, 0 → day 10, ...): the shortest windows,
        # the finest resolution, are kept first; monitor counts are kept in time order.
        keys = ["_z", "_len", "start_min"] if kind == "claims" else ["_z", "start_min", "end_min"]
        order = group.assign(_z=spans_zero, _len=group["end_min"] - group["start_min"]).sort_values(keys)
        kept: list[tuple[float, float]] = []
        for i, r in order.iterrows():
            clash = next(((a, b) for a, b in kept if r.start_min < b and a < r.end_min), None)
            if clash is None:
                kept.append((r.start_min, r.end_min))
                keep.append(i)
            else:
                why = "spans t = 0 and " if r._z else ""
                notes.append(f"dropped line {r.line} ({r.section or 'front'} {r.start_min:g} → "
                             f"{r.end_min:g} min): it {why}overlaps the window {clash[0]:g} → "
                             f"{clash[1]:g} min of the same series")
    out = frame.loc[sorted(keep)].sort_values(["start_min", "section"], kind="stable")
    return out.reset_index(drop=True), notes


def claim_series(row: Any) -> str:
    """The series a numeric claim line belongs to: ``"<claimant> on <blamed>"``, with
    ``" in <section>"`` and ``" (<kind>)"`` when the line restricts them."""
    key = f"{row.reported_by} on {row.blamed}"
    if row.section:
        key += f" in {row.section}"
    return key + (f" ({row.kind})" if row.kind != "violations" else "")


def _what(kind: str) -> str:
    return "numeric claim lines" if kind == "claims" else f"count lines of kind {kind}"


def _truce(name: str, windows: pd.DataFrame) -> Any:
    from sim.studies.baselines import Truce

    return Truce(name=name, counts=windows[["section", "start_min", "end_min", "count"]])


def _load(scenario: str | Path) -> tuple[Scenario, pd.DataFrame, Path]:
    """A scenario (bundled name or path), its record (checked against it) and the record's path."""
    path = resolve_path(scenario)
    case = load_scenario(path)
    if not case.scenario.events_file:
        raise ScenarioError(f"{path}: names no record (scenario.events_file): nothing to score against")
    events = Path(path).parent / case.scenario.events_file
    record = read_record(events, sections=case.sections, sides=case.side_names, kinds=case.kinds)
    return case, record, events


def training_records(kind: str, exclude: str, names: Sequence[str | Path] | None = None, *,
                     strict: bool = True) -> tuple[list[Any], list[str]]:
    """Training truces (:class:`sim.studies.baselines.Truce`) and notes: the named scenarios' records,
    or every bundled record except ``exclude`` that has series of ``kind`` (:data:`TARGETS`).
    Named records without such series are an error, unless ``strict`` is False (then skipped)."""
    notes: list[str] = []
    if names is None:
        from sim.records.library import library

        names = [e["file"] for e in library() if "error" not in e and e["name"] != exclude]
        explicit = False
    else:
        explicit = strict
    out = []
    for name in names:
        case, record, _ = _load(name)
        if case.scenario.name == exclude:
            raise ScenarioError(f"--train {name}: is the scored record itself (scores must be "
                                "out of sample)")
        windows, dropped = count_windows(record, kind)
        if windows.empty:
            if explicit:
                raise ScenarioError(f"--train {name}: its record has no {_what(kind)}")
            continue
        notes += [f"training {case.scenario.name}: {d}" for d in dropped]
        out.append(_truce(case.scenario.name, windows))
    return out, notes


# ---------------------------------------------------------------------------- predictives


@dataclass
class Predictive:
    """One predictor's forecast: counts (N, m), first-violation minutes (N,), collapse (N,)."""

    name: str
    counts: np.ndarray | None
    first: np.ndarray | None = None
    collapse: np.ndarray | None = None
    """Collapse minutes (inf: held to the horizon); None: no collapse forecast."""
    note: str = ""


def _rng(seed: int, k: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(SCORING_STREAM, k))))


def model_predictive(name: str, case: Scenario, count_stats: Sequence[Statistic],
                     first_stats: Sequence[Statistic], runs: int, seed: int, workers: int,
                     overrides_by_run: Mapping[int, Mapping[str, Any]] | None = None,
                     progress: bool | None = None, claim_inflation: float = 1.0) -> Predictive:
    """The statistics ``count_stats`` (monitor counts or numeric claims, linear scale) through the
    observation model, the first detected incident after t = 0 (``first_stats``) and the collapse
    minute of ``runs`` runs of ``case`` (run i seeded ``run_seed(seed, i)``).

    ``overrides_by_run`` may hold observation parameters (``observations.claim_inflation``): those
    feed that run's claim model and never the scenario; ``claim_inflation`` is used otherwise."""
    from sim.studies.runner import map_runs, progress_bar

    settings = Settings(count_scale="linear")
    per_run = overrides_by_run or {}
    scenario_overrides = {r: {k: v for k, v in o.items() if not k.startswith("observations.")}
                          for r, o in per_run.items()}
    bar = progress_bar(runs, progress, desc=name)
    try:
        records = map_runs(case, seed, range(runs), workers=workers, keep_steps=False,
                           overrides_by_run=scenario_overrides or None,
                           on_done=bar.update if bar else None)
    finally:
        if bar:
            bar.close()
    counts = np.empty((runs, len(count_stats)))
    first = np.full(runs, math.inf)
    collapse = np.full(runs, math.inf)
    for rec in records:
        own = per_run.get(rec.run, {})
        monitors = {k: v for k, v in own.items() if k.startswith("peacekeepers.")}
        here = case.with_overrides(monitors, origin="posterior") if monitors else case
        if count_stats:
            obs = observer(here, monitor_seed(seed, rec.run), settings,
                           claim_inflation=float(own.get("observations.claim_inflation", claim_inflation)))
            counts[rec.run] = simulated(count_stats, rec.events, math.inf, obs)
        if first_stats:
            first[rec.run] = simulated(first_stats, rec.events, math.inf)[0]
        c = rec.outcomes.get("collapse_min", math.nan)
        collapse[rec.run] = c if np.isfinite(c) else math.inf
    return Predictive(name, np.rint(counts).astype(np.int64) if count_stats else None,
                      first if first_stats else None,
                      collapse if case.rules.commitment else None)


def baseline_predictive(fitted: Any, windows: pd.DataFrame, history: Any, runs: int,
                        rng: np.random.Generator, first_until: float) -> Predictive:
    """A fitted baseline's counts for ``windows`` and its first count after t = 0 (from bins of
    ``first_until / FIRST_BINS`` minutes over the scored sections; inf if none by then)."""
    w = windows[["section", "start_min", "end_min"]]
    counts = fitted.sample_counts(w, runs, rng, history=history)
    edges = np.linspace(0.0, first_until, FIRST_BINS + 1)
    sections = sorted(set(windows["section"]))
    bins = pd.DataFrame({"section": np.repeat(sections, FIRST_BINS),
                         "start_min": np.tile(edges[:-1], len(sections)),
                         "end_min": np.tile(edges[1:], len(sections))})
    hits = fitted.sample_counts(bins, runs, rng, history=history).reshape(runs, len(sections), FIRST_BINS)
    any_hit = hits.sum(axis=1) > 0
    idx = np.argmax(any_hit, axis=1)
    mid = (edges[:-1] + edges[1:]) / 2
    first = np.where(any_hit.any(axis=1), mid[idx], math.inf)
    return Predictive(fitted.name, np.asarray(counts, dtype=np.int64), first)


def fit_baselines(train: Sequence[Any], seed: int) -> dict[str, Any]:
    """(a) poisson, (b) drop, (c) hawkes fitted on ``train``; a string (why) where a fit fails."""
    from sim.studies.baselines import fit_constant_rate, fit_drop, fit_hawkes

    out: dict[str, Any] = {}
    if not train:
        why = "no training record with series of this target"
        return {"poisson": why, "drop": why, "hawkes": why}
    for name, fit in (("poisson", fit_constant_rate), ("drop", fit_drop),
                      ("hawkes", lambda t: fit_hawkes(t, rng=_rng(seed, 1)))):
        try:
            out[name] = fit(train)
        except ValueError as exc:
            out[name] = f"not fitted: {exc}"
    return out


def _fit_note(fitted: Any) -> str:
    name = fitted.name
    if name == "poisson":
        return (f"rate {fitted.rate_per_min * 1440:.3g} ± {fitted.rate_se * 1440:.2g} per day "
                f"({fitted.n_windows} windows)")
    if name == "drop":
        return (f"drop factor {fitted.drop:.3g} ± {fitted.drop_se:.2g} (fitted on "
                f"{', '.join(fitted.used)}" + (f"; skipped {', '.join(fitted.skipped)}" if fitted.skipped
                                               else "") + ")")
    e = fitted.estimate
    return (f"branching ratio α = {e.alpha:.3f} ± {e.se[1]:.3f}, kernel mean 1/β = "
            f"{1 / e.beta / 60:.3g} h, μ = {e.mu * 1440:.3g} per day ({fitted.imputations} imputations)")


# ---------------------------------------------------------------------------- scores


def score_samples(pred: Predictive, obs: np.ndarray, rng: np.random.Generator, *,
                  first_obs: float | None, truth: np.ndarray | None, horizon_min: float,
                  brier_reason: str) -> dict[str, Any]:
    """One row of the scores table for ``pred`` against the observed counts ``obs``."""
    row: dict[str, Any] = {c: math.nan for c in SCORE_COLUMNS}
    row.update(predictor=pred.name, windows=len(obs), note=pred.note)
    if pred.counts is not None and len(obs):
        row["crps"] = float(scores.crps_sample(pred.counts, obs).mean())
        cover = scores.interval_coverage(pred.counts, obs)
        row["coverage_50"], row["coverage_90"] = cover[0.5], cover[0.9]
        hist, _ = scores.pit_histogram(scores.pit_sample(pred.counts, obs, rng), bins=PIT_BINS)
        row.update({f"pit_{k + 1}": float(v) for k, v in enumerate(hist)})
    if first_obs is not None and pred.first is not None:
        if np.isfinite(pred.first).sum() >= 2:
            row["log_score_first"] = scores.log_score_sample(pred.first, first_obs)
        elif np.isfinite(pred.first).sum() == 0:
            row["log_score_first"] = math.inf
    if pred.collapse is not None:
        probs = np.array([np.mean(pred.collapse <= h * 60.0) if h * 60.0 <= horizon_min else math.nan
                          for h in HORIZONS_H])
        row.update({f"p_collapse_{h}h": float(p) for h, p in zip(HORIZONS_H, probs, strict=True)})
        if truth is not None:
            ok = np.isfinite(probs) & np.isfinite(truth)
            if ok.any():
                row["brier"] = float(scores.brier_score(probs[ok], truth[ok]).mean())
    if math.isnan(row["brier"]):
        why = ("no collapse forecast (counts only, or rule 8 off)" if pred.collapse is None
               else "no truth of collapse in the record" if truth is None or not np.isfinite(truth).any()
               else "no horizon with a known truth within the runs")
        row["note"] = "; ".join(x for x in (pred.note, f"Brier undefined: {why}") if x)
    return row


def collapse_truth(collapsed_min: float | None, known_until_min: float) -> tuple[np.ndarray | None, str]:
    """0/1 truth of "collapsed by h" per horizon (NaN where unknown), and why it is undefined.

    ``collapsed_min``: the minute the truce collapsed, ``inf`` if it held through the record
    (known up to ``known_until_min``), None if unknown (the Brier score is then undefined)."""
    if collapsed_min is None:
        return None, ("Brier undefined: neither the scenario nor its record states the outcome in a "
                      "machine-readable field (the scenario's '# outcome:' comment is prose); "
                      "no truth is invented")
    truth = np.array([1.0 if collapsed_min <= h * 60.0 else (0.0 if h * 60.0 <= known_until_min
                                                              else math.nan) for h in HORIZONS_H])
    return truth, ""


def _horizon_label(h: int) -> str:
    return "7 days" if h == 168 else f"{h} h"


def record_collapse_truth(record: pd.DataFrame) -> tuple[np.ndarray, str]:
    """0/1 truth of "collapsed by h" per horizon of :data:`HORIZONS_H`, from the record's
    ``abandoned`` and ``in_force`` statements by :func:`sim.records.record.outcome_at` (NaN where they do
    not settle it), and why any horizon is undefined ("" when all are known). No truth is invented.
    """
    st = record[record["type"] == "statement"]
    if not st["kind"].isin(["abandoned", "in_force"]).any():
        return np.full(len(HORIZONS_H), math.nan), (
            "Brier undefined: the record has no 'abandoned' or 'in_force' statement, so whether the "
            "truce had collapsed by 6 h / 24 h / 72 h / 7 days is not known; no truth is invented")
    truth, why = [], []
    for h in HORIZONS_H:
        outcome, because = outcome_at(record, h)
        truth.append({"collapsed": 1.0, "held": 0.0}.get(outcome or "", math.nan))
        if outcome is None:
            why.append(f"{_horizon_label(h)}: {because}")
    return np.array(truth), ("collapse truth unknown at " + "; ".join(why)) if why else ""


def first_violation(record: pd.DataFrame, case: Scenario) -> tuple[list[Statistic],
                                                                   tuple[float, float] | None, str]:
    """The record's first violation after t = 0: the ``first_time`` statistic of
    :func:`sim.records.observations.observations`, the interval (minutes) of its line, and why it is
    undefined ("" if defined). A count above 0 after t = 0 that ends before the line begins also
    shows an earlier violation."""
    settings = Settings(count_scale="linear")
    rest = record[record["type"] != "count"].reset_index(drop=True)
    candidates = rest[(rest["type"] == "incident") & (rest["section"] != "")
                      & (rest["t_min_earliest"] >= 0)]
    if candidates.empty:
        return [], None, "log score undefined: the record has no incident line at t ≥ 0 with a section"
    stats = [st for st in observations(rest, case, settings) if st.measure == "first_time"]
    if stats:
        r = rest.iloc[stats[0].lines[0] - 2]
        counts = record[(record["type"] == "count") & (record["t_min_earliest"] >= 0)
                        & (record["t_min_latest"] < r.t_min_earliest)]
        if not (counts["count"].fillna(0) > 0).any():
            return stats, (float(r.t_min_earliest), float(r.t_min_latest)), ""
    return [], None, ("log score undefined: the earliest incident line at t ≥ 0 is preceded by other "
                      "evidence of a violation after t = 0 (a claim, reported fighting or a count "
                      "above 0), so the minute of the first violation is not recorded")


@dataclass
class ScoreResult:
    """What :func:`score` found: the table, the skill, the samples behind them and notes.

    ``kind``: the target scored by the CRPS (:data:`TARGETS`), "" when the record has none."""

    scenario: str
    kind: str
    runs: int
    seed: int
    windows: pd.DataFrame
    predictives: dict[str, Predictive]
    table: pd.DataFrame
    skill: pd.DataFrame
    first_violation: tuple[float, float] | None
    brier_reason: str
    notes: list[str] = field(default_factory=list)
    truth: np.ndarray | None = None
    """0/1 truth of "collapsed by h" per horizon of :data:`HORIZONS_H` (NaN: unknown)."""


def describe_target(kind: str) -> str:
    """The target in words, for tables and figures."""
    if kind == "claims":
        return "numeric claims"
    return f"monitor {kind} counts" if kind else "nothing counted"


def skill_table(predictives: Mapping[str, Predictive], obs: np.ndarray, seed: int) -> pd.DataFrame:
    """The model's CRPS skill against every other predictor with a sample; ``best`` marks the
    reference with the lowest mean CRPS."""
    model = predictives.get("model")
    rows = []
    if model is None or model.counts is None:
        return pd.DataFrame(columns=list(SKILL_COLUMNS))
    s_model = scores.crps_sample(model.counts, obs)
    refs = {n: scores.crps_sample(p.counts, obs) for n, p in predictives.items()
            if n != "model" and p.counts is not None}
    usual = [n for n in refs if n in PREDICTORS]
    best = min(usual, key=lambda n: refs[n].mean()) if usual else None
    for k, (name, s_ref) in enumerate(refs.items()):
        if not s_ref.mean() > 0:
            rows.append(dict(model="model", reference=name, skill=math.nan, low=math.nan,
                             high=math.nan, level=0.9, windows=len(obs), best=name == best))
            continue
        sk = scores.skill_score(s_model, s_ref, rng=_rng(seed, 10 + k))
        # One window gives no interval: resampling it returns it every time.
        low, high = (sk.low, sk.high) if len(obs) >= 2 else (math.nan, math.nan)
        rows.append(dict(model="model", reference=name, skill=sk.value, low=low, high=high,
                         level=sk.level, windows=sk.n_obs, best=name == best))
    return pd.DataFrame(rows, columns=list(SKILL_COLUMNS))


def _scorable(windows: pd.DataFrame, case: Scenario) -> pd.DataFrame:
    return windows[(windows["end_min"] > 0) & (windows["start_min"] >= case.scenario.start_min)]


def choose_target(record: pd.DataFrame, case: Scenario, kind: str | None) -> tuple[str, list[str]]:
    """The series to score by the CRPS and notes on the choice: ``kind`` if given; otherwise the
    monitor count kind with more windows after t = 0 (violations on a tie), else the numeric
    claims, else "" (nothing counted: the CRPS is undefined, with why in the notes)."""
    if kind is not None:
        return kind, []
    n = {k: len(_scorable(count_windows(record, k)[0], case)) for k in TARGETS}
    if n["violations"] or n["explosions"]:
        pick = "violations" if n["violations"] >= n["explosions"] else "explosions"
        if pick == "explosions":
            return pick, [f"scoring the monitor's explosions counts ({n['explosions']} windows after "
                          f"t = 0): the record has {n['violations'] or 'no'} violations count windows "
                          "after t = 0"]
        return pick, []
    if n["claims"]:
        return "claims", ["scoring the parties' numeric claims per claimant and window: the record "
                          "has no monitor counts after t = 0 (a claim is a party's word, counted "
                          "through the claim model, not a measurement)"]
    types = sorted(set(record["type"]) - {"statement"})
    return "", [f"CRPS, PIT and coverage undefined: the record has no monitor counts and no numeric "
                f"claims after t = 0 (it has {', '.join(types) or 'no'} lines)"]


def score(scenario: str | Path, *, posterior: str | Path | None = None, runs: int = 1000,
          seed: int = 0, workers: int = 1, train: Sequence[str | Path] | None = None,
          kind: str | None = None, collapsed_min: float | None = None,
          progress: bool | None = None, overrides_by_run: Mapping[int, Mapping[str, Any]] | None = None,
          claim_inflation: float = 1.0, variants: Mapping[str, Mapping[str, Any]] | None = None,
          baselines: bool = True, until_min: float | None = None,
          warmup_min: float | None = None,
          train_pool: Sequence[str | Path] | None = None) -> ScoreResult:
    """Score the model, its ablation and the baselines on ``scenario``'s record (see the module
    docstring). ``kind``: the target (:data:`TARGETS`; None: chosen by :func:`choose_target`).
    ``train``: scenarios whose records fit the baselines (default: every other bundled record
    with series of the target). ``collapsed_min``: the known minute of collapse (``inf``: held),
    overriding the record's ``abandoned``/``in_force`` statements. ``overrides_by_run``: each
    run's parameters (instead of ``posterior``). ``variants``: further model predictors, name ->
    scenario overrides applied on top (scored like ``model``). ``baselines=False`` skips the
    statistical baselines. ``until_min``: score only windows ending by then (and forecast
    collapse only to then); the runs stop there. ``warmup_min``: start the runs at most this long
    before t = 0 (a shorter war-time spin-up; windows starting earlier are not scored). Both cut
    the cost of long records (the leave-one-record-out uses them). ``train_pool``: like
    ``train``, skipping records without series of the target. Raises ScenarioError for bad
    input."""
    if kind is not None and kind not in TARGETS:
        raise ScenarioError(f"--kind {kind}: must be one of {', '.join(TARGETS)}")
    if runs < 2:
        raise ScenarioError(f"--runs {runs}: must be a whole number ≥ 2")
    if seed < 0:
        raise ScenarioError(f"--seed {seed}: must be a whole number ≥ 0")
    case, record, events = _load(scenario)
    name = case.scenario.name
    cut: list[str] = []
    if warmup_min is not None and case.scenario.start_min < -warmup_min:
        case = case.with_overrides({"scenario.start_min": -float(warmup_min)}, origin="score warm-up")
        cut.append(f"runs start {warmup_min / 60:g} h before t = 0 (warm-up)")
    if until_min is not None:
        late = record["type"].isin(["count", "claim"]) & (record["t_min_latest"] > until_min)
        if late.any():
            cut.append(f"{int(late.sum())} count/claim line(s) ending after {until_min / 1440:g} days "
                       "not scored")
        record = record[~late]
    kind, notes = choose_target(record, case, kind)
    notes = cut + notes
    windows, dropped = count_windows(record if kind else record.iloc[0:0], kind or "violations")
    notes += dropped
    if kind and windows.empty:
        other = [k for k in TARGETS if k != kind and not count_windows(record, k)[0].empty]
        raise ScenarioError(f"{events}: no {_what(kind)} to score"
                            + (f" (it has {_what(other[0])}: try --kind {other[0]})" if other
                               else " (the record has no monitor counts or numeric claims at all)"))
    history = windows[windows["end_min"] <= 0]
    scored = windows[windows["end_min"] > 0]
    early = scored[scored["start_min"] < case.scenario.start_min]
    if len(early):
        notes.append(f"dropped {len(early)} window(s) starting before the runs start "
                     f"({case.scenario.start_min:g} min): lines {', '.join(map(str, early['line']))}")
        scored = scored[scored["start_min"] >= case.scenario.start_min]
    if kind and scored.empty:
        raise ScenarioError(f"{events}: no {_what(kind)} after t = 0 to score")
    scored = scored.reset_index(drop=True)
    if collapsed_min is not None:
        truth, brier_reason = collapse_truth(collapsed_min, float(record["t_min_latest"].max()))
    else:
        truth, brier_reason = record_collapse_truth(record)
    if until_min is not None and truth is not None:
        truth = np.array([v if h * 60.0 <= until_min else math.nan for h, v in zip(HORIZONS_H, truth,
                                                                                  strict=True)])
    horizon_min = case.scenario.horizon_h * 60.0
    if until_min is not None:
        horizon_min = min(horizon_min, float(until_min))
        case = case.with_overrides({"scenario.horizon_h": horizon_min / 60.0}, origin="score")
    needed = float(scored["end_min"].max()) if len(scored) else 0.0
    if truth is not None and np.isfinite(truth).any():
        needed = max(needed, max(h * 60.0 for h, v in zip(HORIZONS_H, truth, strict=True)
                                 if np.isfinite(v)))
    if needed > horizon_min:
        horizon_min = math.ceil(needed / 60.0) * 60.0
        notes.append(f"runs extended to {horizon_min / 60:g} h to cover the last window or horizon")
        case = case.with_overrides({"scenario.horizon_h": horizon_min / 60.0}, origin="score")
    per_run = dict(overrides_by_run) if overrides_by_run is not None else None
    if posterior is not None:
        from sim.studies.calibration import draw_overrides, read_posterior

        per_run = draw_overrides(read_posterior(posterior), runs, seed, observations=True)
    if per_run:
        plain = {k: v for k, v in per_run[0].items() if not k.startswith("observations.")}
        case.with_overrides(plain)  # a posterior that does not fit fails before running
    first_stats, first_line, first_why = first_violation(record, case)
    first_obs = None if first_line is None else sum(first_line) / 2
    if first_why:
        notes.append(first_why)
    obs = scored["count"].to_numpy(dtype=float)
    settings = Settings(count_scale="linear")
    count_stats = observations(record.loc[scored["line"].to_numpy() - 2], case, settings) if kind else []

    preds: dict[str, Predictive] = {}
    source = f"{runs} runs" + (f", parameters drawn from {Path(posterior).name}" if posterior
                               else ", parameters drawn per run" if per_run else "")
    if kind == "claims" and not any("observations.claim_inflation" in o for o in (per_run or {}).values()):
        source += f", claim inflation {claim_inflation:g}"

    def run_model(label: str, here: Scenario) -> Predictive:
        p = model_predictive(label, here, count_stats, first_stats, runs, seed, workers, per_run,
                             progress, claim_inflation)
        p.note = source
        return p

    preds["model"] = run_model("model", case)
    first_until = min(horizon_min, 7 * 1440.0)
    if first_obs is not None and first_obs >= first_until:
        first_until = first_obs + 60.0
    if baselines and kind:
        train_truces, train_notes = (training_records(kind, name, train) if train_pool is None
                                     else training_records(kind, name, train_pool, strict=False))
        notes += train_notes
        hist = _truce(name, history) if len(history) else None
        for k, (bname, fitted) in enumerate(fit_baselines(train_truces, seed).items()):
            if isinstance(fitted, str):
                preds[bname] = Predictive(bname, None, note=fitted)
                continue
            try:
                preds[bname] = baseline_predictive(fitted, scored, hist, runs, _rng(seed, 2 + k), first_until)
                preds[bname].note = _fit_note(fitted)
            except ValueError as exc:
                preds[bname] = Predictive(bname, None, note=f"{_fit_note(fitted)}; no forecast: {exc}")
    else:
        why = ("not scored (baselines=False)" if not baselines
               else "no forecast: the record has no counted series to fit or forecast")
        for bname in BASELINES:
            preds[bname] = Predictive(bname, None, note=why)
    if case.rules.commitment:
        preds["no-commitment"] = run_model("no-commitment", case.with_overrides(
            {"rules.commitment": False}, origin="ablation"))
        preds["no-commitment"].note += "; rule 8 off"
    else:
        preds["no-commitment"] = Predictive("no-commitment", None,
                                            note="rule 8 is already off in the scenario: no ablation")
    for label, extra in (variants or {}).items():
        preds[label] = run_model(label, case.with_overrides(dict(extra), origin=f"variant {label}"))
        preds[label].note += "; " + ", ".join(f"{k} = {v}" for k, v in extra.items())
    names = [*PREDICTORS, *(variants or {})]
    rows = [score_samples(preds[n], obs, _rng(seed, 20 + i), first_obs=first_obs, truth=truth,
                          horizon_min=horizon_min, brier_reason=brier_reason)
            for i, n in enumerate(names)]
    table = pd.DataFrame(rows, columns=list(SCORE_COLUMNS))
    table["target"] = describe_target(kind)
    return ScoreResult(name, kind, runs, seed, scored, preds, table, skill_table(preds, obs, seed),
                       first_line, brier_reason, notes, truth)


# ---------------------------------------------------------------------------- output


def summary_text(result: ScoreResult) -> str:
    """The scores table and what it rests on, in readable lines."""
    t = result.table
    lines = [f"{result.scenario}: {len(result.windows)} windows of {describe_target(result.kind)} "
             f"after t = 0 scored, {result.runs} runs per model predictor, seed {result.seed}"]
    if result.first_violation:
        lo, hi = result.first_violation
        lines.append(f"first recorded violation: {lo:g}–{hi:g} min (scored at {(lo + hi) / 2:g})")
    shown = t[["predictor", "crps", "log_score_first", "brier", "coverage_50", "coverage_90"]].copy()
    for c in ("crps", "log_score_first", "brier", "coverage_50", "coverage_90"):
        shown[c] = ["undefined" if pd.isna(v) else f"{v:.3f}" for v in t[c]]
    with pd.option_context("display.width", 160, "display.float_format", "{:.3f}".format):
        lines.append(shown.to_string(index=False))
    if result.brier_reason:
        lines.append(result.brier_reason)
    for _, r in t.iterrows():
        if r["note"]:
            lines.append(f"  {r['predictor']}: {r['note']}")
    best = result.skill[result.skill["best"]]
    if len(best):
        b = best.iloc[0]
        lines.append(f"CRPS skill of the model against the best reference ({b['reference']}): "
                     f"{b['skill']:.3f} (90% bootstrap interval {b['low']:.3f} to {b['high']:.3f}; "
                     "> 0: the model is better)")
        stat = result.skill[result.skill["reference"].isin(BASELINES)]
        if len(stat) and b["reference"] not in BASELINES:
            # The best baseline has the lowest CRPS, so the model's lowest skill against it.
            s = stat.loc[stat["skill"].idxmin()] if stat["skill"].notna().any() else None
            if s is not None:
                lines.append(f"  against the best statistical baseline ({s['reference']}): {s['skill']:.3f} "
                             f"({s['low']:.3f} to {s['high']:.3f})")
    else:
        lines.append("CRPS skill: undefined (no reference predictor could be scored)")
    lines += [f"note: {n}" for n in result.notes]
    return "\n".join(lines)
