"""Simulation-based calibration (SBC): does the ABC-SMC calibration recover the truth?

Talts, Betancourt, Simpson, Vehtari & Gelman (2018), "Validating Bayesian inference algorithms
with simulation-based calibration", arXiv:1804.06788. If the calibration is right, then for a
truth drawn from the prior, a record simulated from it and the posterior computed from that
record, the truth is a draw from the posterior: its rank among the posterior particles is uniform
and every 90% interval holds it nine times in ten, averaged over truths.

For each truth ``k`` of a check seeded ``S``:

1. its parameters are drawn from the priors (in unit space) by a generator of
   ``SeedSequence(S, spawn_key=(TRUTHS, k))``;
2. the scenario runs once with them (run ``k`` of batch ``S``: ``sim.studies.runner.run_seed(S, k)``),
   and the monitor of that run writes its counts (:func:`sim.records.observations.synthetic_counts`,
   its draws from ``monitor_seed(S, k)``): a record like the real ones' monitor lines, the
   posts' violations and explosions per post section per ``bin_min``;
3. :func:`sim.studies.calibration.calibrate` runs against that record with seed
   :func:`calibration_seed` ``(S, k)``, a seed of its own, on one process;
4. per parameter and per way of turning the last population into a posterior (``method``:
   ``"none"``, the particles as accepted, the default of every spec; ``"regression"``, after
   the regression adjustment, :func:`sim.studies.calibration.regression_adjust`): the truth's
   weighted rank among the particles (:func:`weighted_rank`), whether it lies inside the weighted
   90% interval, and the interval's width over the prior 90% interval's width, both in the
   prior's unit space (log for log-uniform priors), so 1 means "the record taught nothing".

Both methods come from the same calibration run (the adjustment only post-processes its last
population), so their difference is the adjustment's and nothing else.

Truths are independent tasks, each a function of ``(setup, S, k)`` only; workers share them
out, so results never depend on the number of workers.

Where the intervals come out too narrow, the exact-ABC reference (the section that closes this
module) tells whether the ABC target or the SMC's approximation of it narrows them.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.model.scenario import Scenario, ScenarioError, bundled_path, load_scenario
from sim.records.observations import (
    Settings,
    Statistic,
    monitor_seed,
    observed_bounds,
    observer,
    synthetic_counts,
)
from sim.studies.calibration import (
    Population,
    Posterior,
    Prior,
    Spec,
    calibrate,
    calibration_case,
    ess,
    prior_values,
    record_statistics,
    regression_adjust,
    set_distances,
    set_misfits,
    weighted_quantile,
)
from sim.studies.runner import RunPool, run_one

TRUTHS = 0x73626374
"""Tag of the truths' parameter streams: ``SeedSequence(S, spawn_key=(TRUTHS, k))``."""
CALIBRATIONS = 0x73626361
"""Tag of the streams that seed each truth's calibration."""
LEVEL = 0.9
"""The central interval checked: 90%."""
PRIOR_WIDTH = LEVEL
"""Width of a prior's 90% interval in its unit space (every prior is uniform there)."""
INFORMABLE_RATIO = 0.5
"""A parameter is informable when its mean posterior width is at most half the prior's."""
RANK_BINS = 10
Row = dict[str, float | int | str | bool]
"""One row of the truths table: a truth, a method and a parameter."""
COLUMNS = ("truth", "method", "parameter", "value", "rank", "q05", "q95", "inside", "width_ratio",
           "populations", "tolerance", "simulations", "ess")
"""The truths table's columns (:func:`check_truth`)."""
METHODS = ("regression", "none")
"""How the last population becomes the posterior: adjusted, and as accepted."""
REFERENCE_METHODS = ("reference-regression", "reference-none")
"""The same two readings of each truth's exact-ABC reference (:func:`reference_population`),
paired with :data:`METHODS` in order."""
LABELS = {"regression": "adjusted", "none": "as accepted", "reference-regression": "exact ABC, adjusted",
          "reference-none": "exact ABC, as accepted"}


@dataclass(frozen=True)
class Setup:
    """What an SBC check calibrates: a scenario, priors, the record's shape and the budget."""

    scenario: Path
    priors: tuple[Prior, ...]
    horizon_h: float = 24.0
    """Hours after t = 0 that the truth runs and the calibration runs simulate."""
    windows: tuple[tuple[float, float], ...] = ((-240.0, 0.0), (0.0, 480.0), (480.0, 1440.0))
    """The monitor's reporting periods (min, from, to): a few long ones, so the calibration
    compares few statistics (ABC's tolerance grows with their number). Their edges must be
    multiples of ``bin_min`` from the scenario's start."""
    bin_min: float = 240.0
    """The finest reporting period (min) the windows are summed from."""
    particles: int = 100
    budget: int = 8000
    """Simulations each calibration may spend."""
    quantile: float = 0.5
    min_acceptance: float = 0.01
    kinds: tuple[str, ...] = ("violations",)
    """Which of the monitor's count lines the record keeps."""
    settings: Settings = field(default_factory=Settings)


DEFAULT_SETUP = Setup(
    scenario=bundled_path("classroom-peacekeepers"),
    priors=(
        # Informed by the counts after t = 0 (incidents per hour under the order).
        Prior("sides.*.force.ceasefire_rate_per_h", "loguniform", 0.1, 10.0),
        # Informed by the counts before t = 0, where the war-time rate is known.
        Prior("peacekeepers.recorded_per_incident_mean", "uniform", 1.0, 6.0),
        # Commitment lost per severity point blamed on the other side: expected to be left
        # uninformed by one day of counts (it shows only when a command abandons the truce); the
        # check measures it (README, docs/calibration/sbc.csv).
        Prior("sides.*.command.violation_cost", "uniform", 0.0, 0.02),
    ),
)
"""The committed benchmark's setup: the classroom ridge with its peacekeepers' post, one day."""

FINE_SETUP = replace(
    DEFAULT_SETUP,
    windows=tuple((float(a), float(a + 240)) for a in range(-240, 1440, 240)),
    kinds=("violations", "explosions"))
"""The same truths with a record of many statistics, like the real monitor records: violations
and explosions in every 4-hour period (14 counts instead of 3). It tells whether the regression
adjustment, validated on DEFAULT_SETUP, still holds when it regresses on many noisy counts."""
LARGE_SETUP = replace(DEFAULT_SETUP, particles=200, budget=16_000)
"""The default check's truths and records with twice the particles and twice the budget (about
as many populations, so about the same final tolerance). The committed calibrations use 120-200
particles; the exact-ABC reference (``--reference``) put part of the default check's too narrow
rate intervals down to 100 particles approximating the target poorly. This check measures what
200 particles change, truth by truth on the same records (``docs/calibration/sbc-large*``)."""
SETUPS = {"default": DEFAULT_SETUP, "fine": FINE_SETUP, "large": LARGE_SETUP}


def calibration_seed(seed: int, truth: int) -> int:
    """The calibration seed of truth ``truth`` in a check seeded ``seed`` (a 32-bit integer)."""
    return int(np.random.SeedSequence(seed, spawn_key=(CALIBRATIONS, truth)).generate_state(1)[0])


def draw_truth(setup: Setup, seed: int, truth: int) -> np.ndarray:
    """Parameter values of truth ``truth``: one draw from the priors (their order)."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(TRUTHS, truth))))
    return prior_values(setup.priors, rng.random((1, len(setup.priors))))[0]


def truth_case(setup: Setup, values: np.ndarray) -> Scenario:
    """The scenario at the truth's parameters, run to the setup's horizon."""
    overrides = {p.path: (int(v) if p.integer else float(v))
                 for p, v in zip(setup.priors, values, strict=True)}
    return load_scenario(setup.scenario, {**overrides, "scenario.horizon_h": setup.horizon_h})


def synthetic_monitor_record(setup: Setup, values: np.ndarray, seed: int, truth: int) -> pd.DataFrame:
    """The count lines the monitor of run ``truth`` (batch ``seed``) at ``values`` writes."""
    case = truth_case(setup, values)
    if case.peacekeepers is None:
        raise ScenarioError(f"{setup.scenario}: peacekeepers: an SBC check needs a [peacekeepers] "
                            "table (its posts write the synthetic counts)")
    log = run_one(case, seed, truth, keep_steps=False).events
    counts = synthetic_counts(log, case, observer(case, monitor_seed(seed, truth), setup.settings),
                              bin_min=setup.bin_min, until_min=setup.horizon_h * 60.0)
    return merge_windows(counts[counts["kind"].isin(setup.kinds)], setup.windows)


def merge_windows(counts: pd.DataFrame, windows: Sequence[tuple[float, float]]) -> pd.DataFrame:
    """Count lines summed into ``windows`` (per section and kind): one line per window.

    Raises ValueError when a window's edges do not fall on the lines' edges.
    """
    out = []
    for (section, kind), lines in counts.groupby(["section", "kind"], sort=False):
        for a, b in windows:
            inside = lines[(lines["t_min_earliest"] >= a) & (lines["t_min_latest"] < b)]
            starts, ends = inside["t_min_earliest"].to_numpy(), inside["t_min_latest"].to_numpy() + 1e-6
            if len(inside) == 0 or starts.min() != a or not np.isclose(ends.max(), b):
                raise ValueError(f"window {a:g} to {b:g} min does not fall on the count lines' edges")
            line = inside.iloc[0].copy()
            line["t_min_latest"] = inside["t_min_latest"].max()
            line["count"] = int(inside["count"].sum())
            line["note"] = f"synthetic: the monitor's {kind} in {section}"
            out.append(line)
    return pd.DataFrame(out).reset_index(drop=True).astype(counts.dtypes.to_dict())


def weighted_rank(x: np.ndarray, w: np.ndarray, truth: float) -> float:
    """The truth's normalised rank among weighted particles: the posterior weight below it,
    plus half the weight of particles equal to it (mid-rank for ties). In [0, 1]; uniform over
    truths when the posterior is calibrated.
    """
    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float)
    total = w.sum()
    if not total > 0:
        raise ValueError("weights must sum to a positive number")
    return float((w[x < truth].sum() + 0.5 * w[x == truth].sum()) / total)


def truth_spec(setup: Setup, seed: int, truth: int, events: Path) -> Spec:
    """The calibration spec of truth ``truth``, its record written at ``events``."""
    return Spec(source=setup.scenario, scenario_path=setup.scenario, events_path=events,
                priors=setup.priors, particles=setup.particles, budget=setup.budget,
                seed=calibration_seed(seed, truth), quantile=setup.quantile,
                min_acceptance=setup.min_acceptance, horizon_h=setup.horizon_h,
                settings=setup.settings, adjustment="regression")


def calibrate_truth(setup: Setup, seed: int, truth: int) -> tuple[np.ndarray, pd.DataFrame, Posterior]:
    """Truth ``truth``'s parameter values, its synthetic record and the calibration against it."""
    values = draw_truth(setup, seed, truth)
    record = synthetic_monitor_record(setup, values, seed, truth)
    with tempfile.TemporaryDirectory(prefix="sbc-") as tmp:
        events = Path(tmp) / f"truth-{truth}.events.csv"
        record.to_csv(events, index=False)
        post = calibrate(truth_spec(setup, seed, truth, events), workers=1, progress=False)
    return values, record, post


def truth_rows(setup: Setup, truth: int, values: np.ndarray, method: str, pop: Population,
               populations: int, simulations: int) -> list[Row]:
    """One row per parameter: where the truth falls in ``pop`` (weighted) and its 90% interval."""
    lo_q, hi_q = (1 - LEVEL) / 2, (1 + LEVEL) / 2
    rows: list[Row] = []
    for k, prior in enumerate(setup.priors):
        x, true = pop.values[:, k], float(values[k])
        q_lo, q_hi = weighted_quantile(x, pop.weights, [lo_q, hi_q])
        z_lo, z_hi = prior.to_unit(np.array([q_lo, q_hi]))
        rows.append({"truth": truth, "method": method, "parameter": prior.path, "value": true,
                     "rank": weighted_rank(x, pop.weights, true),
                     "q05": float(q_lo), "q95": float(q_hi), "inside": bool(q_lo <= true <= q_hi),
                     "width_ratio": float(z_hi - z_lo) / PRIOR_WIDTH,
                     "populations": populations, "tolerance": pop.tolerance,
                     "simulations": simulations, "ess": ess(pop.weights)})
    return rows


def _smc_rows(setup: Setup, truth: int, values: np.ndarray, post: Posterior) -> list[Row]:
    return [row for method, pop in zip(METHODS, (post.final, post.last), strict=True)
            for row in truth_rows(setup, truth, values, method, pop, len(post.populations),
                                  post.simulations)]


def check_truth(setup: Setup, seed: int, truth: int) -> list[Row]:
    """Calibrate against truth ``truth``'s synthetic record; one row per method and parameter."""
    values, _, post = calibrate_truth(setup, seed, truth)
    return _smc_rows(setup, truth, values, post)


def _check_truth_task(args: tuple[Setup, int, int, Bank | None]) -> list[Row]:
    setup, seed, truth, bank = args
    return check_truth(setup, seed, truth) if bank is None else \
        check_truth_with_reference(setup, seed, truth, bank)


def run_sbc(setup: Setup, truths: int, seed: int = 0, *, workers: int = 1,
            on_done: Callable[[list[Row]], None] | None = None,
            done: pd.DataFrame | None = None, bank: Bank | None = None) -> pd.DataFrame:
    """Run the check over truths ``0 .. truths-1``: one row per truth and parameter, in order.

    Each truth is one task; ``workers`` processes share them (same table for any number).
    ``done`` holds rows of truths already checked (an earlier run's table with the same setup
    and seed): those truths are kept as they are and not run again, so an interrupted or
    extended check resumes without loss or repetition. ``on_done`` receives each newly checked
    truth's rows as it finishes (in truth order), e.g. to save progress. With ``bank``, each
    truth also gets its exact-ABC reference rows (:func:`check_truth_with_reference`).
    """
    if truths < 1:
        raise ValueError(f"truths must be ≥ 1, got {truths}")
    if workers < 1:
        raise ValueError(f"workers must be ≥ 1, got {workers}")
    if seed < 0:
        raise ValueError(f"seed must be ≥ 0, got {seed}")
    kept = pd.DataFrame() if done is None else done[done["truth"] < truths]
    have = set() if kept.empty else set(kept["truth"].astype(int))
    tasks = [(setup, seed, k, bank) for k in range(truths) if k not in have]
    rows: list[Row] = [] if kept.empty else kept.to_dict("records")
    pool = (ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
            if workers > 1 and len(tasks) > 1 else None)
    with pool or nullcontext():
        # In truth order, whoever ran it.
        for finished in (pool.map if pool else map)(_check_truth_task, tasks):
            rows.extend(finished)
            if on_done:
                on_done(finished)
    table = pd.DataFrame(rows)
    method_order = {m: i for i, m in enumerate(METHODS + REFERENCE_METHODS)}
    parameter_order = {p.path: i for i, p in enumerate(setup.priors)}
    order = np.lexsort((table["parameter"].map(parameter_order).to_numpy(),
                        table["method"].map(method_order).to_numpy(), table["truth"].to_numpy()))
    return table.iloc[order].reset_index(drop=True)


def same_rows(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Whether two truths tables hold the same rows in :data:`COLUMNS`, compared as the tables
    are written (numbers to the 6 significant digits of ``write_csv_atomic``), whatever dtypes
    they carry: one fresh in memory, one read back from CSV, agree when the first would be
    written as the second."""
    if len(a) != len(b):
        return False
    for c in COLUMNS:
        x, y = a[c].to_numpy(), b[c].to_numpy()
        if c in ("method", "parameter", "inside"):
            same = (x.astype(str) == y.astype(str)).all()
        else:
            same = [f"{float(u):.6g}" for u in x] == [f"{float(v):.6g}" for v in y]
        if not same:
            return False
    return True


def coverage_interval(hits: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson interval of a binomial proportion ``hits / n`` (exact, conservative)."""
    from scipy import stats

    a = (1 - level) / 2
    low = 0.0 if hits == 0 else float(stats.beta.ppf(a, hits, n - hits + 1))
    high = 1.0 if hits == n else float(stats.beta.ppf(1 - a, hits + 1, n - hits))
    return low, high


def summarize(table: pd.DataFrame, priors: Sequence[Prior]) -> pd.DataFrame:
    """Per method (:data:`METHODS` and :data:`REFERENCE_METHODS`, those in ``table``) and
    parameter: truths, coverage of the 90% intervals with its 95% interval, mean width ratio,
    whether it is informable, and the rank histogram (``RANK_BINS`` counts)."""
    rows = []
    methods = [m for m in METHODS + REFERENCE_METHODS if m in set(table["method"])]
    if not methods:
        raise ValueError(f"no rows of a known method ({', '.join(METHODS)})")
    for method, prior in ((m, p) for m in methods for p in priors):
        part = table[(table["method"] == method) & (table["parameter"] == prior.path)]
        n, hits = len(part), int(part["inside"].sum())
        if n == 0:
            raise ValueError(f"no truths for parameter {prior.path} ({method})")
        low, high = coverage_interval(hits, n)
        width = float(part["width_ratio"].mean())
        counts = np.histogram(part["rank"].to_numpy(dtype=float), bins=RANK_BINS, range=(0.0, 1.0))[0]
        rows.append({"method": method, "parameter": prior.path,
                     "prior": f"{prior.distribution} {prior.low:g}-{prior.high:g}",
                     "truths": n, "inside": hits, "coverage": hits / n, "coverage_low": low,
                     "coverage_high": high, "mean_width_ratio": width,
                     "informable": width <= INFORMABLE_RATIO,
                     **{f"rank_{b}": int(c) for b, c in enumerate(counts)}})
    return pd.DataFrame(rows)


def meets_target(summary: pd.DataFrame, low: float = 0.85, high: float = 0.95) -> pd.Series:
    """Per row (method and parameter): whether an informable parameter's coverage lies in
    ``[low, high]`` (the issue's benchmark target); NaN where it is not informable (no target)."""
    ok = summary["coverage"].between(low, high)
    return ok.where(summary["informable"], math.nan)


def markdown(summary: pd.DataFrame) -> str:
    """The summary as the Markdown table the README shows (one row per method and parameter).

    Coverage is shown as the count of truths inside and to three decimals, so a value near the
    target's edges (254/300 = 0.847) is not rounded across it."""
    out = ["| posterior | parameter | prior | truths | 90% coverage (95% CI) | mean width / prior | "
           "informable |",
           "|---|---|---|---|---|---|---|"]
    for r in summary.itertuples(index=False):
        label = LABELS[r.method]
        out.append(f"| {label} | `{r.parameter}` | {r.prior} | {r.truths} | {r.inside}/{r.truths} = "
                   f"{r.coverage:.3f} ({r.coverage_low:.2f}–{r.coverage_high:.2f}) | "
                   f"{r.mean_width_ratio:.2f} | "
                   f"{'yes' if r.informable else 'no'} |")
    return "\n".join(out)


# -- the exact-ABC reference ---------------------------------------------------------------------
# Where SBC finds intervals too narrow, it does not say which part of the calibration narrows
# them: the ABC target itself (the statistics, the tolerance, the adjustment) or the SMC's
# approximation of that target with a few particles. The reference separates the two: for each
# truth, the prior draws of a shared bank whose statistics lie within the SMC's final tolerance
# of the truth's record, measured with the SMC's final scales, are an exact (rejection) sample of
# the very target the SMC's last population approximates (Pritchard et al. 1999, Mol. Biol. Evol.
# 16:1791). The bank can be shared by every truth: a prior draw's statistics do not depend on
# which record they are later compared with.

BANK = 0x73626362
"""Tag of the reference bank's streams: its prior draws, ``SeedSequence(S, spawn_key=(BANK, 0))``,
and its runs, batch ``bank_seed(S)``."""
REFERENCE_MIN_ACCEPTED = 50
"""Fewest bank draws a truth's reference needs; with fewer, its reference is undefined (each
end of a 90% interval would rest on two or three draws)."""


@dataclass(frozen=True)
class Bank:
    """Prior draws and the statistics of one run at each (a rejection sampler's raw material)."""

    z: np.ndarray
    """Draws in unit space, shape (draws, parameters)."""
    values: np.ndarray
    statistics: np.ndarray
    """The calibration's statistics of each draw's run, shape (draws, statistics)."""
    layout: tuple[Statistic, ...]
    """The statistics' definitions with the record's values blanked (:func:`layout`)."""


def layout(stats: Sequence[Statistic]) -> tuple[Statistic, ...]:
    """What the statistics measure, without what a record says they are."""
    return tuple(replace(st, name="", low=0.0, high=0.0, lines=(), doc="") for st in stats)


def bank_seed(seed: int) -> int:
    """The batch seed of the bank's runs in a check seeded ``seed``."""
    return int(np.random.SeedSequence(seed, spawn_key=(BANK, 1)).generate_state(1)[0])


def prior_bank(setup: Setup, seed: int, draws: int, *, workers: int = 1, chunk: int = 2000) -> Bank:
    """``draws`` prior draws of ``setup`` with the statistics of one run at each.

    Each run and its monitor draw from their own streams (run ``i`` of batch :func:`bank_seed`),
    so the bank is the same for any ``workers``.
    """
    if draws < 1:
        raise ValueError(f"draws must be ≥ 1, got {draws}")
    # Any record of the setup gives the statistics' definitions; truth 0's is at hand.
    record = synthetic_monitor_record(setup, draw_truth(setup, seed, 0), seed, 0)
    with tempfile.TemporaryDirectory(prefix="sbc-bank-") as tmp:
        events = Path(tmp) / "bank.events.csv"
        record.to_csv(events, index=False)
        spec = replace(truth_spec(setup, seed, 0, events), seed=bank_seed(seed))
        case, stats, horizon_min = calibration_case(spec)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(BANK, 0))))
    z = rng.random((draws, len(setup.priors)))
    values = prior_values(setup.priors, z)
    given = [{p.path: int(v) if p.integer else float(v) for p, v in zip(setup.priors, row, strict=True)}
             for row in values]
    parts: list[np.ndarray] = []
    with RunPool(case, workers) if workers > 1 else nullcontext() as pool:
        for start in range(0, draws, chunk):  # in chunks: a chunk's event logs are held at once
            runs = range(start, min(start + chunk, draws))
            parts.append(record_statistics(case, stats, horizon_min, setup.settings,
                                           given[start:runs.stop], spec.seed, runs,
                                           workers=workers, pool=pool))
    return Bank(z, values, np.concatenate(parts), layout(stats))


def reference_population(bank: Bank, post: Posterior) -> Population | None:
    """The bank's draws within ``post``'s final tolerance of its record, at its final scales
    (equal weights): an exact sample of the target ``post.last`` approximates. None when fewer
    than :data:`REFERENCE_MIN_ACCEPTED` draws are within it.

    Raises ValueError when the calibration's statistics are not the bank's."""
    if layout(post.statistics) != bank.layout:
        raise ValueError("the calibration's statistics are not the ones the bank was simulated for")
    bounds = [observed_bounds(post.statistics)]
    eps = post.last.tolerance
    d = set_distances([bank.statistics], bounds, [post.scales])
    keep = np.flatnonzero(d <= eps)
    if len(keep) < REFERENCE_MIN_ACCEPTED:
        return None
    misfits = set_misfits([bank.statistics[keep]], bounds, [post.scales])
    return Population(post.last.index, eps, bank.z[keep], bank.values[keep],
                      np.full(len(keep), 1.0 / len(keep)), d[keep], len(d), misfits)


def check_truth_with_reference(setup: Setup, seed: int, truth: int, bank: Bank) -> list[Row]:
    """:func:`check_truth`'s rows, then the same rows for the truth's exact-ABC reference
    (:data:`REFERENCE_METHODS`, each with an ``accepted`` count; none when it is undefined)."""
    values, _, post = calibrate_truth(setup, seed, truth)
    rows = _smc_rows(setup, truth, values, post)
    reference = reference_population(bank, post)
    if reference is None:
        return rows
    adjusted, _ = regression_adjust(reference, [(p.path, p, None) for p in setup.priors])
    for method, pop in zip(REFERENCE_METHODS, (adjusted or reference, reference), strict=True):
        rows += [{**row, "accepted": len(reference.weights)}
                 for row in truth_rows(setup, truth, values, method, pop, len(post.populations),
                                       len(bank.z))]
    return rows


def _pairs(a: pd.DataFrame, b: pd.DataFrame, names: tuple[str, str], reading: str) -> list[dict[str, Any]]:
    """Two checks' rows of one reading (``truth``, ``parameter``, ``inside``, optionally
    ``width_ratio``), per parameter over the truths both have: how many intervals hold the truth
    in each (``<name>_inside``), the truths only one misses (``<a>_only_missed``: ``a``'s
    interval misses, ``b``'s holds it), McNemar's exact two-sided p of those discordant counts
    (a binomial test with p = 1/2; NaN without a discordant pair) and, where both give widths,
    each one's mean width over the prior's on those truths (``<name>_width``)."""
    from scipy import stats

    na, nb = names
    a, b = (t.set_index(["truth", "parameter"]) for t in (a, b))
    both = a.index.intersection(b.index)
    rows = []
    for parameter in dict.fromkeys(both.get_level_values("parameter")):
        keys = both[both.get_level_values("parameter") == parameter]
        x, y = a.loc[keys, "inside"].astype(bool).to_numpy(), b.loc[keys, "inside"].astype(bool).to_numpy()
        a_only, b_only = int(np.sum(~x & y)), int(np.sum(x & ~y))
        n = a_only + b_only
        row = {"reading": reading, "parameter": parameter, "truths": len(keys),
               f"{na}_inside": int(x.sum()), f"{nb}_inside": int(y.sum()),
               f"{na}_only_missed": a_only, f"{nb}_only_missed": b_only,
               "mcnemar_p": float(stats.binomtest(a_only, n, 0.5).pvalue) if n else math.nan}
        if "width_ratio" in a and "width_ratio" in b:
            row |= {f"{na}_width": float(a.loc[keys, "width_ratio"].mean()),
                    f"{nb}_width": float(b.loc[keys, "width_ratio"].mean())}
        rows.append(row)
    return rows


def _method(table: pd.DataFrame, method: str) -> pd.DataFrame:
    return table[table["method"] == method]


PAIRED_COLUMNS = ("reading", "parameter", "truths", "smc_inside", "reference_inside", "smc_only_missed",
                  "reference_only_missed", "mcnemar_p")
"""Columns of :func:`paired` (``sbc-reference.csv``)."""


def paired(table: pd.DataFrame) -> pd.DataFrame:
    """The SMC against its exact-ABC reference, truth by truth, per reading and parameter.

    Over the truths whose reference is defined: how many intervals hold the truth in each,
    ``smc_only_missed`` (the SMC's interval misses, the reference's holds it) and
    ``reference_only_missed``, and McNemar's exact two-sided p of those discordant counts (a
    binomial test with p = 1/2; NaN without a discordant pair).
    """
    rows = [row for smc, ref in zip(METHODS, REFERENCE_METHODS, strict=True)
            for row in _pairs(_method(table, smc), _method(table, ref), ("smc", "reference"), LABELS[smc])]
    return pd.DataFrame(rows, columns=list(PAIRED_COLUMNS))


def fingerprint(setup: Setup, seed: int) -> dict[str, Any]:
    """What makes a truths table this check's: the seed and every field of the setup (the
    scenario by file name), as JSON values. The truths' values show the seed and the priors but
    not the particles, budget, windows or quantile, so a check saves this beside its tables and
    ``benchmarks/sbc.py --resume`` refuses a table whose saved fingerprint differs."""
    fields = asdict(setup)
    fields["scenario"] = Path(setup.scenario).name
    return json.loads(json.dumps({"seed": seed, **fields}))


def fingerprint_difference(saved: Any, setup: Setup, seed: int) -> str | None:
    """The first key where a saved :func:`fingerprint` differs from this check's, in words
    (``"particles: 100 there, 200 here"``); None when they are the same."""
    own = fingerprint(setup, seed)
    if not isinstance(saved, dict):
        return f"not a fingerprint (a JSON object of {', '.join(own)})"
    def shown(d: dict[str, Any], key: str) -> str:
        return json.dumps(d[key]) if key in d else "missing"
    for key in [*own, *sorted(set(saved) - set(own))]:
        if shown(saved, key) != shown(own, key):
            return f"{key}: {shown(saved, key)} there, {shown(own, key)} here"
    return None


def same_records(a: Setup, b: Setup) -> bool:
    """Whether two setups draw the same truths and write the same records for them (they may
    calibrate differently: particles, budget, quantile, stop rule)."""
    keys = ("scenario", "priors", "horizon_h", "windows", "bin_min", "kinds", "settings")
    return all(getattr(a, k) == getattr(b, k) for k in keys)


def paired_setups(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    """Two checks of :func:`same_records` setups and one seed, truth by truth on the truths both
    ran: per reading and parameter, how many intervals hold the truth in each, the truths only
    one misses (``first_only_missed``: the first's interval misses, the second's holds it), the
    McNemar p of those, and each one's mean width over the prior's on those truths."""
    return pd.DataFrame([row for method in METHODS
                         for row in _pairs(_method(first, method), _method(second, method),
                                           ("first", "second"), LABELS[method])])


def _pairs_markdown(pairs: pd.DataFrame, names: tuple[str, str], headers: Sequence[str]) -> str:
    """A pairing's rows as Markdown; mean widths where the pairing has them (:func:`_pairs`)."""
    na, nb = names
    widths = f"{na}_width" in pairs.columns
    columns = [f"{na}_inside", f"{nb}_inside", f"{na}_only_missed", f"{nb}_only_missed"]
    out = ["| reading | parameter | truths | " + " | ".join(headers) + " |",
           "|" + "---|" * (3 + len(headers))]
    for r in pairs.to_dict("records"):
        cells = [str(r[c]) for c in columns]
        cells.append("–" if math.isnan(r["mcnemar_p"]) else f"{r['mcnemar_p']:.2g}")
        if widths:
            cells += [f"{r[f'{na}_width']:.2f}", f"{r[f'{nb}_width']:.2f}"]
        out.append(f"| {r['reading']} | `{r['parameter']}` | {r['truths']} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def paired_setups_markdown(pairs: pd.DataFrame, first: str, second: str) -> str:
    """:func:`paired_setups`'s table as Markdown, the two checks named ``first`` and ``second``
    (p to two significant digits)."""
    return _pairs_markdown(pairs, ("first", "second"),
                           [f"inside, {first}", f"inside, {second}", f"only {first} missed",
                            f"only {second} missed", "McNemar p", f"mean width / prior, {first}", second])


def paired_markdown(pairs: pd.DataFrame) -> str:
    """:func:`paired`'s table as Markdown (p to two significant digits)."""
    return _pairs_markdown(pairs, ("smc", "reference"),
                           ["SMC inside", "exact ABC inside", "only the SMC missed", "only exact ABC missed",
                            "McNemar p"])
