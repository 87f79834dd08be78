"""Scenario discovery on an experiment batch: which conditions make a ceasefire collapse (or hold)?

Given the folder of a finished batch with ``[sample]`` or ``[grid]`` points, and a condition
on its outcomes (``held == false``, ``collapse_min < 360``), this module finds:

- **PRIM boxes** (Friedman & Fisher 1999, "Bump hunting in high-dimensional data"): starting
  from the box holding every case, it repeatedly peels off the ``peel_alpha`` share of cases at
  the low or high end of one parameter, choosing the peel that raises the share of cases of
  interest inside the box most per case removed (EMA Workbench's default "lenient1" objective,
  Kwakkel & Jaxa-Rozen 2016), until the box would hold less than ``mass_min`` of the cases. The
  sequence of boxes is the *peeling trajectory*: coverage (share of all cases of interest that
  lie in the box) against density (share of the box's cases that are of interest).
- **Quasi-p-values** (Bryant & Lempert 2010) of each restricted limit of a box: a one-sided
  binomial test of the box's cases of interest against the density of the box with that one
  limit removed, as EMA Workbench computes them. They are not p-values of a pre-registered test
  (PRIM chose the limits looking at the same data); small values say the limit is not noise.
- **Feature scores**: extra-trees importances (scikit-learn; Geurts et al. 2006, used for
  scenario discovery by Jaxa-Rozen & Kwakkel 2018), with EMA Workbench's settings, beside a
  column of random noise that shows the score of a parameter that does not matter.

Departures from EMA Workbench's PRIM (checked against it in tests/test_discover.py): there is
no pasting phase (EMA Workbench pastes only the trajectory's last box, growing it back along its
restricted parameters; the box reported here is the knee, which is a peeling box in both), and
integer parameters are peeled like real ones (a peel between two integers removes every case at
the end value; EMA Workbench's integer peel differs, and its integer paste fails on pandas 2).

Replicates: with ``per="run"`` (the default) each run is a case, with the outcome 0 or 1: the
replicates of a point are independent draws given its parameters, so each is a Bernoulli trial.
With ``per="point"`` each point is a case whose outcome is the share of its replicates that
meet the condition; the box statistics are the same when every point has as many replicates
(as in every batch), but the quasi-p-values count points, not runs (more conservative), and
the feature scores come from a regression on the shares instead of a classification of runs.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.model.outcomes import FLAGS
from sim.model.scenario import ScenarioError

PER = ("run", "point")
"""What counts as one case: a run (outcome 0/1) or a point (outcome: share of its replicates)."""
NOISE = "(random noise)"
"""The feature-scoring table's reference row: a uniform random column that cannot matter."""
PEEL_ALPHA = 0.05
MASS_MIN = 0.05
OPERATORS = ("==", "!=", "<=", ">=", "<", ">")
NEVER_SUFFIX = "_min"
"""Outcomes in minutes (first_violation_min, collapse_min) are empty when the thing never
happened: a condition reads them as +infinity ("never"), so ``collapse_min >= 360`` holds for a
ceasefire that never collapsed."""


# -- the condition: a small language, parsed here, never eval'd -----------------------------------
_TOKEN = re.compile(r"\s*(?:(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|(?P<op>==|!=|<=|>=|<|>)"
                    r"|(?P<paren>[()])|(?P<word>[A-Za-z_][A-Za-z0-9_]*))")
CONDITION_HELP = ("OUTCOME OP VALUE, with OP one of == != < <= > >= and VALUE a number or true/false, "
                  "joined by and/or, grouped by ( ), e.g. 'held == false' or "
                  "'collapse_min < 360 and violations_per_h > 1'")


@dataclass(frozen=True)
class Condition:
    """A parsed condition on a run's outcomes: which runs are "of interest"."""

    text: str
    tree: Any = field(repr=False)
    """Nested tuples: ("cmp", name, op, value), ("and", a, b) or ("or", a, b)."""

    @property
    def outcomes(self) -> list[str]:
        """The outcome names the condition reads."""
        names: list[str] = []

        def walk(node: Any) -> None:
            if node[0] == "cmp":
                names.append(node[1])
            else:
                walk(node[1])
                walk(node[2])

        walk(self.tree)
        return list(dict.fromkeys(names))

    def evaluate(self, table: pd.DataFrame) -> np.ndarray:
        """True for each row (run) of ``table`` that meets the condition."""
        return _evaluate(self.tree, table)


def parse_condition(text: str, outcomes: Sequence[str], types: dict[str, str] | None = None) -> Condition:
    """Parse ``text`` into a Condition over ``outcomes`` (column names; ``types``: their kinds).

    Raises ScenarioError (one line) naming the bad part and what is allowed.
    """
    types = types or {}
    where = f"condition {text!r}"
    tokens: list[tuple[str, str]] = []
    pos = 0
    stripped = text.rstrip()
    while pos < len(stripped):
        m = _TOKEN.match(stripped, pos)
        if m is None or m.end() == pos:
            raise ScenarioError(f"{where}: cannot read {stripped[pos:].strip()[:20]!r}; "
                                f"write {CONDITION_HELP}")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    if not tokens:
        raise ScenarioError(f"{where}: empty; write {CONDITION_HELP}")
    i = 0

    def peek() -> tuple[str, str] | None:
        return tokens[i] if i < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal i
        tok = peek()
        if tok is None:
            raise ScenarioError(f"{where}: ends too early; write {CONDITION_HELP}")
        i += 1
        return tok

    def expr() -> Any:
        node = term()
        while (tok := peek()) is not None and tok == ("word", "or"):
            take()
            node = ("or", node, term())
        return node

    def term() -> Any:
        node = factor()
        while (tok := peek()) is not None and tok == ("word", "and"):
            take()
            node = ("and", node, factor())
        return node

    def factor() -> Any:
        kind, value = take()
        if (kind, value) == ("paren", "("):
            node = expr()
            if peek() != ("paren", ")"):
                raise ScenarioError(f"{where}: a '(' is not closed")
            take()
            return node
        if kind != "word" or value in ("and", "or", "true", "false"):
            raise ScenarioError(f"{where}: {value!r} where an outcome name should be; write {CONDITION_HELP}")
        if value not in outcomes:
            raise ScenarioError(f"{where}: unknown outcome {value!r}; this batch kept: {', '.join(outcomes)}")
        op_kind, op = take()
        if op_kind != "op":
            raise ScenarioError(f"{where}: {op!r} after {value!r}; expected one of {' '.join(OPERATORS)}")
        v_kind, literal = take()
        is_bool = types.get(value) in ("bool", "flag")
        if v_kind == "word" and literal.lower() in ("true", "false"):
            if not is_bool:
                raise ScenarioError(f"{where}: {value} {op} {literal}: {value} is a number; compare it "
                                    f"with a number")
            if op not in ("==", "!="):
                raise ScenarioError(f"{where}: {value} {op} {literal}: true/false take == or != only")
            truth = literal.lower() == "true"
            if types.get(value) == "flag":  # 1.0 / 0.0, NaN where undefined (never qualifies)
                return ("cmp", value, op, 1.0 if truth else 0.0)
            return ("cmp", value, op, truth)
        if v_kind != "num":
            raise ScenarioError(f"{where}: {literal!r} after {value} {op}: expected a number"
                                f"{' or true/false' if is_bool else ''}")
        if is_bool:
            raise ScenarioError(f"{where}: {value} {op} {literal}: {value} is true/false; write "
                                f"{value} == true or {value} == false")
        return ("cmp", value, op, float(literal))

    tree = expr()
    if i != len(tokens):
        raise ScenarioError(f"{where}: unexpected {tokens[i][1]!r}; join comparisons with and/or")
    return Condition(text, tree)


def _evaluate(node: Any, table: pd.DataFrame) -> np.ndarray:
    if node[0] == "and":
        return _evaluate(node[1], table) & _evaluate(node[2], table)
    if node[0] == "or":
        return _evaluate(node[1], table) | _evaluate(node[2], table)
    _, name, op, value = node
    column = table[name]
    if isinstance(value, bool):
        x = column.to_numpy(dtype=bool)
        return x == value if op == "==" else x != value
    x = column.to_numpy(dtype=float)
    missing = np.isnan(x)
    if name.endswith(NEVER_SUFFIX):
        x = np.where(missing, np.inf, x)
        missing = np.zeros_like(missing)
    with np.errstate(invalid="ignore"):
        out = {"==": x == value, "!=": x != value, "<": x < value, "<=": x <= value,
               ">": x > value, ">=": x >= value}[op]
    return out & ~missing  # an undefined outcome (no violation: no retaliation share) never qualifies


# -- PRIM --------------------------------------------------------------------------------------------
def _quantile(data: np.ndarray, q: float) -> float:
    """The peel value at quantile ``q``: sdtoolkit's and EMA Workbench's rule, which steps past ties
    so a peel always removes at least one distinct value."""
    data = np.sort(data)
    i = (len(data) - 1) * q
    lo, hi = math.floor(i), math.ceil(i)
    if q > 0.5:
        while data[lo] == data[hi] and lo > 0:
            lo -= 1
    else:
        while data[lo] == data[hi] and hi < len(data) - 1:
            hi += 1
    return float((data[lo] + data[hi]) / 2)


@dataclass
class Peeling:
    """A PRIM peeling trajectory: box ``i`` is ``limits[i]`` (low, high per parameter)."""

    parameters: list[str]
    trajectory: pd.DataFrame
    """One row per box: box, coverage, density, mass, restricted (how many parameters), n, k."""
    limits: list[np.ndarray] = field(repr=False)
    """Per box, an array (2, parameters): row 0 the lower limits, row 1 the upper."""
    initial: np.ndarray = field(repr=False)
    x: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)

    def restricted(self, i: int) -> list[int]:
        """Columns whose limits box ``i`` moved from the data's range."""
        return [j for j in range(len(self.parameters))
                if np.any(self.limits[i][:, j] != self.initial[:, j])]

    def inside(self, limits: np.ndarray) -> np.ndarray:
        """Which cases lie in a box (limits inclusive)."""
        return np.all((self.x >= limits[0]) & (self.x <= limits[1]), axis=1)

    def quasi_p(self, i: int) -> pd.DataFrame:
        """Quasi-p-values of box ``i``'s restricted limits (NaN where a side is not restricted).

        For each restricted limit: the box's k cases of interest out of n, against the density
        p of the same box with that limit removed (one-sided binomial, scipy.stats.binomtest).
        """
        from scipy.stats import binomtest

        row = self.trajectory.iloc[i]
        k, n = round(float(row["k"])), int(row["n"])
        box = self.limits[i]
        out = []
        for j in self.restricted(i):
            qp = [math.nan, math.nan]
            for side in (0, 1):
                if box[side, j] != self.initial[side, j]:
                    wider = box.copy()
                    wider[side, j] = self.initial[side, j]
                    y = self.y[self.inside(wider)]
                    qp[side] = float(binomtest(k, n, float(y.sum()) / y.size, alternative="greater").pvalue)
            out.append({"parameter": self.parameters[j], "low": float(box[0, j]), "high": float(box[1, j]),
                        "qp_low": qp[0], "qp_high": qp[1]})
        return pd.DataFrame(out, columns=["parameter", "low", "high", "qp_low", "qp_high"])


def prim(x: pd.DataFrame, y: np.ndarray, *, peel_alpha: float = PEEL_ALPHA,
         mass_min: float = MASS_MIN) -> Peeling:
    """PRIM's peeling trajectory for numeric parameters ``x`` (rows: cases) and outcomes ``y``.

    ``y`` is 1 for a case of interest and 0 otherwise, or a share in [0, 1] (a point's share of
    replicates). Each step removes the ``peel_alpha`` tail of one parameter (within the box) that
    gains most density per case lost (ties: the box restricting fewer parameters, then the first
    candidate); it stops when no peel keeps at least ``mass_min`` of the cases and gains density.
    Raises ValueError for empty or mismatched input.
    """
    xs = x.to_numpy(dtype=float)
    ys = np.asarray(y, dtype=float)
    if xs.ndim != 2 or xs.shape[0] != ys.shape[0] or xs.shape[0] == 0:
        raise ValueError(f"prim: x has shape {xs.shape}, y has {ys.shape[0]} values; need one row per value")
    if not (0 < peel_alpha < 0.5 and 0 < mass_min < 1):
        raise ValueError(f"prim: peel_alpha = {peel_alpha} must be in (0, 0.5), "
                         f"mass_min = {mass_min} in (0, 1)")
    n, d = xs.shape
    total = float(ys.sum())
    initial = np.vstack([xs.min(axis=0), xs.max(axis=0)])
    limits = [initial.copy()]
    idx = np.arange(n)
    rows = [_box_row(0, ys, total, n, 0)]
    while True:
        best: tuple[float, int, np.ndarray, np.ndarray] | None = None
        y_old = ys[idx]
        mean_old = float(y_old.mean())
        box = limits[-1]
        for j in range(d):
            xj = xs[idx, j]
            for side, q in ((1, 1 - peel_alpha), (0, peel_alpha)):  # upper first, as EMA Workbench
                cut = _quantile(xj, q)
                keep = xj <= cut if side == 1 else xj >= cut
                new = box.copy()
                new[side, j] = cut
                y_new = y_old[keep]
                mean_new = float(y_new.mean()) if y_new.size else 0.0
                lost = y_old.size - y_new.size
                obj = (mean_new - mean_old) / lost if (lost and mean_new != mean_old) else 0.0
                free = d - int(np.count_nonzero(np.any(new != initial, axis=0)))
                if best is None or (obj, free) > (best[0], best[1]):
                    best = (obj, free, new, idx[keep])
        if best is None:
            break
        obj, _, new, kept = best
        if not (kept.size / n >= mass_min and kept.size < idx.size and obj > 0):
            break
        idx = kept
        limits.append(new)
        restricted = int(np.count_nonzero(np.any(new != initial, axis=0)))
        rows.append(_box_row(len(rows), ys[idx], total, n, restricted))
    trajectory = pd.DataFrame(rows)
    return Peeling(list(x.columns), trajectory, limits, initial, xs, ys)


def _box_row(i: int, y: np.ndarray, total: float, n: int, restricted: int) -> dict[str, Any]:
    k = float(y.sum())
    return {"box": i, "coverage": k / total if total else math.nan, "density": k / y.size,
            "mass": y.size / n, "restricted": restricted, "n": int(y.size), "k": k}


def knee(trajectory: pd.DataFrame) -> int:
    """The knee of a peeling trajectory: the box farthest above the chord from the first box to
    the last in (coverage, density), both scaled to [0, 1] over the trajectory (the "kneedle"
    rule of Satopää et al. 2011). The last box if the trajectory is a straight line or shorter
    than three boxes."""
    c = trajectory["coverage"].to_numpy(dtype=float)
    d = trajectory["density"].to_numpy(dtype=float)
    if len(c) < 3:
        return len(c) - 1

    def scaled(v: np.ndarray) -> np.ndarray:
        span = v.max() - v.min()
        return (v - v.min()) / span if span > 0 else np.zeros_like(v)

    cs, ds = scaled(c), scaled(d)
    # Signed distance from the chord (first box → last box); positive towards high coverage and density.
    (x0, y0), (x1, y1) = (cs[0], ds[0]), (cs[-1], ds[-1])
    dist = (y1 - y0) * (cs - x0) - (x1 - x0) * (ds - y0)
    best = int(np.argmax(dist))
    return best if dist[best] > 1e-12 else len(c) - 1


# -- feature scoring ----------------------------------------------------------------------------------
SCORING_METHOD = "extra-trees impurity importance (scikit-learn)"


def feature_scores(x: pd.DataFrame, y: np.ndarray, *, classify: bool, seed: int = 0,
                   trees: int = 250) -> pd.DataFrame:
    """Extra-trees feature scores of ``x``'s columns for ``y``, with a random-noise reference row.

    ``classify``: y is 0/1 (ExtraTreesClassifier, Gini) or a share (ExtraTreesRegressor). Settings
    as EMA Workbench's get_ex_feature_scores: a third of the features per split, leaves of at least
    max(1, round(sqrt(N / 1000))) cases, bootstrap. Scores sum to 1. Raises ScenarioError when
    scikit-learn is missing.
    """
    try:
        from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor
    except ImportError:
        raise ScenarioError("feature scoring needs scikit-learn: pip install 'ceasefire-sim[experiments]'"
                            ) from None
    rng = np.random.default_rng(seed)
    data = x.to_numpy(dtype=float)
    data = np.column_stack([data, rng.random(data.shape[0])])
    names = [*x.columns, NOISE]
    common = dict(n_estimators=trees, max_features=max(1, round(data.shape[1] / 3)),
                  min_samples_leaf=max(1, round(math.sqrt(data.shape[0] / 1000))), bootstrap=True,
                  random_state=seed, n_jobs=1)
    model = (ExtraTreesClassifier(criterion="gini", **common) if classify
             else ExtraTreesRegressor(criterion="squared_error", **common))
    model.fit(data, np.asarray(y, dtype=int if classify else float))
    table = pd.DataFrame({"parameter": names, "score": model.feature_importances_})
    table = table.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    table["method"] = SCORING_METHOD
    return table


# -- the batch ----------------------------------------------------------------------------------------
@dataclass
class Discovery:
    """What ``discover`` found: the trajectory, the chosen box, the scores, and where they went."""

    condition: str
    per: str
    cases: int
    of_interest: float
    trajectory: pd.DataFrame
    chosen: int
    box: pd.DataFrame
    """The chosen box: one row per restricted parameter (low, high, quasi-p-values)."""
    scores: pd.DataFrame
    peeling: Peeling = field(repr=False)
    files: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Parameters left out of the box: text-valued ones (e.g. a policy name) or constant ones."""
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Each parameter's range over the cases (the first box)."""

    @property
    def chosen_row(self) -> pd.Series:
        return self.trajectory.iloc[self.chosen]

    def summary(self) -> str:
        """The printed report: the chosen box and the feature scores."""
        row = self.chosen_row
        unit = "runs" if self.per == "run" else "points"
        lines = [f"condition {self.condition!r}: {self.of_interest:g} of {self.cases} {unit} "
                 f"({self.of_interest / self.cases:.1%}) are of interest; one case per {self.per}",
                 f"peeling trajectory: {len(self.trajectory)} boxes; box {self.chosen}"
                 f"{' (the knee)' if self.chosen == knee(self.trajectory) else ''}: "
                 f"coverage {row['coverage']:.2f}, density {row['density']:.2f}, "
                 f"mass {row['mass']:.2f}, {int(row['restricted'])} restricted parameters"]
        if self.skipped:
            lines.append(f"  not in the box: {', '.join(self.skipped)}")
        if len(self.box):
            lines.append("the box (qp: quasi-p-value of a limit, one-sided binomial, Bryant & Lempert 2010):")
            lines.append(_box_text(self.box, self.ranges))
        lines.append(f"feature scores ({SCORING_METHOD}; {NOISE} is a parameter that does not matter):")
        lines.append(self.scores[["rank", "parameter", "score"]].to_string(
            index=False, float_format=lambda v: f"{v:.3f}"))
        return "\n".join(lines)


def _box_text(box: pd.DataFrame, ranges: dict[str, tuple[float, float]]) -> str:
    table = box.copy()
    table.insert(1, "range", [f"{ranges[p][0]:.3g} – {ranges[p][1]:.3g}" for p in table["parameter"]])
    return table.to_string(index=False, float_format=lambda v: f"{v:.3g}", na_rep="–")


def load_batch(folder: str | Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """A finished batch's manifest and outcomes table. Raises ScenarioError (one line)."""
    from sim.studies.batch_store import MANIFEST, read_table

    root = Path(folder)
    if not root.is_dir():
        raise ScenarioError(f"{root}: no such folder; give the --out folder of a finished "
                            f"`ceasefire experiment` (default results/<experiment name>)")
    path = root / MANIFEST
    if not path.is_file():
        raise ScenarioError(f"{path}: missing; {root} is not an experiment batch folder "
                            f"(`ceasefire experiment SPEC --out {root}` writes one)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot be read: {exc}") from None
    if manifest.get("status") != "complete":
        raise ScenarioError(f"{path}: status = {manifest.get('status')!r}: the batch is unfinished "
                            f"({manifest.get('runs_done', 0)} of {manifest.get('runs', '?')} runs); "
                            f"finish it with `ceasefire experiment {manifest.get('spec', 'SPEC')} "
                            f"--resume --out {root}`")
    table = root / f"outcomes.{manifest.get('format', 'parquet')}"
    if not table.is_file():
        raise ScenarioError(f"{table}: missing; the batch folder is incomplete")
    try:
        outcomes = read_table(table)
    except ImportError:
        raise ScenarioError(f"{table}: reading Parquet needs pyarrow: pip install "
                            f"'ceasefire-sim[experiments]'") from None
    return manifest, outcomes


def discover(results: str | Path | Any, condition: str, *, per: str = "run", box: int | None = None,
             out: str | Path | None = None, seed: int = 0,
             peel_alpha: float = PEEL_ALPHA, mass_min: float = MASS_MIN) -> Discovery:
    """Scenario discovery on a finished batch; the Python face of ``ceasefire discover``.

    ``results``: the batch folder (or a BatchResults). ``condition``: which runs are of interest
    (see CONDITION_HELP). ``per``: "run" (each run is a case) or "point" (each point, with the
    share of its replicates). ``box``: the trajectory box to report (default: the knee).
    ``out``: where the tables go (default: the batch folder): ``discover-trajectory.csv``,
    ``discover-box.csv`` and ``discover-scores.csv``. The figure is drawn by the faces
    (:func:`sim.faces.figures.discover.write_discovery_figure`), so studies never import plotting.
    Raises ScenarioError for bad input (one line).
    """
    from sim.studies.experiment import OUTCOME_TYPES

    folder = Path(getattr(results, "folder", results))
    if per not in PER:
        raise ScenarioError(f"--per {per!r}: allowed: {', '.join(PER)}")
    manifest, table = load_batch(folder)
    where = folder / "manifest.json"
    kept = [o for o in manifest.get("outcomes", []) if o in table.columns]
    cond = parse_condition(condition, kept, {o: "flag" if o in FLAGS else OUTCOME_TYPES.get(o, "float")
                                             for o in kept})
    params = [p for p in manifest.get("parameters", []) if p in table.columns]
    if not params:
        raise ScenarioError(f"{where}: parameters = []: discover needs a batch whose points vary "
                            f"parameters ([sample] or [grid] in the spec); this one has none")
    numeric, skipped = [], []
    for p in params:
        column = table[p]
        is_number = pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)
        if not is_number:
            skipped.append(f"{p} (text values)")
        elif column.nunique() < 2:
            skipped.append(f"{p} (one value)")
        else:
            numeric.append(p)
    if not numeric:
        raise ScenarioError(f"{where}: parameters = {params!r}: none varies as a number; PRIM boxes need "
                            f"at least one numeric [sample] or [grid] parameter")
    hit = cond.evaluate(table).astype(float)
    if per == "run":
        x = table[numeric].astype(float).reset_index(drop=True)
        y = hit
    else:
        frame = table[["point", *numeric]].assign(_hit=hit)
        grouped = frame.groupby("point", sort=True)
        x = grouped[numeric].first().astype(float).reset_index(drop=True)
        y = grouped["_hit"].mean().to_numpy(dtype=float)
    if y.sum() == 0:
        raise ScenarioError(f"condition {condition!r}: no run of the {len(table)} in {folder} meets it; "
                            f"PRIM needs some cases of interest")
    if y.sum() == len(y):
        raise ScenarioError(f"condition {condition!r}: every run of the {len(table)} in {folder} meets it; "
                            f"nothing to tell apart")
    peeling = prim(x, y, peel_alpha=peel_alpha, mass_min=mass_min)
    traj = peeling.trajectory
    chosen = knee(traj) if box is None else box
    if not 0 <= chosen < len(traj):
        raise ScenarioError(f"--box {box}: the trajectory has boxes 0 to {len(traj) - 1}")
    box_table = peeling.quasi_p(chosen)
    integer = [p for p in numeric if pd.api.types.is_integer_dtype(table[p])]
    inside = peeling.inside(peeling.limits[chosen])
    for i, p in enumerate(box_table["parameter"]):
        if p in integer:  # report the whole values kept, not the peel's midpoints
            values = x.loc[inside, p]
            box_table.loc[i, ["low", "high"]] = [float(values.min()), float(values.max())]
    scores = feature_scores(_encoded(table if per == "run" else _first_rows(table), params), y,
                            classify=per == "run", seed=seed)
    found = Discovery(condition, per, len(y), float(y.sum()), traj, chosen, box_table, scores, peeling,
                      skipped=skipped, ranges={p: (float(x[p].min()), float(x[p].max())) for p in numeric})
    found.files = _write(found, Path(out) if out is not None else folder)
    return found


def _first_rows(table: pd.DataFrame) -> pd.DataFrame:
    return table.groupby("point", sort=True).first().reset_index()


def _encoded(table: pd.DataFrame, params: list[str]) -> pd.DataFrame:
    """Parameters as numbers for the trees; text values (a policy name) become category codes in
    alphabetical order, so a tree splits them as if ordered: their scores are rougher."""
    out = {}
    for p in params:
        column = table[p]
        numeric = pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)
        out[p] = column.astype(float) if numeric else pd.Series(pd.Categorical(column).codes, dtype=float)
    return pd.DataFrame(out).reset_index(drop=True)


def _write(found: Discovery, out: Path) -> list[Path]:
    from sim.studies.runner import write_csv_atomic

    out.mkdir(parents=True, exist_ok=True)
    box = found.box.copy()
    row = found.chosen_row
    box.insert(0, "box", found.chosen)
    for name in ("coverage", "density", "mass"):
        box[name] = float(row[name])
    return [write_csv_atomic(found.trajectory, out / "discover-trajectory.csv"),
            write_csv_atomic(box, out / "discover-box.csv"),
            write_csv_atomic(found.scores, out / "discover-scores.csv")]


__all__ = ["CONDITION_HELP", "PER", "Condition", "Discovery", "Peeling", "discover", "feature_scores",
           "knee", "load_batch", "parse_condition", "prim"]
