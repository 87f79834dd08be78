"""CeasefireModel: the Mesa model of one ceasefire, on a simpy clock.

Simulated time is in minutes relative to the ceasefire's effective time (t = 0). The clock is a
``simpy.Environment`` started at the scenario's ``start_min``; agents act at the continuous
times their rules draw. Each ``model.step()`` advances the clock by one reporting interval and
collects one row with Mesa's DataCollector, so ``mesa.batch_run`` and ``SolaraViz`` work on it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import mesa
import numpy as np
import pandas as pd
import simpy
from simpy.events import Timeout

from sim.model.agents import Command, Force, FrontSection, Mediator, Peacekeepers
from sim.model.draws import Draws
from sim.model.events import ABANDON, FIELDS, INITIATED, RETALIATION, SPILLOVER, EventLog
from sim.model.hazard import Thinning
from sim.model.policies import VIOLATION_RULES
from sim.model.scenario import Scenario, load_scenario


def seed_sequence(seed: int | np.random.SeedSequence | None) -> np.random.SeedSequence:
    """A SeedSequence from None (fresh entropy), an int, or a SeedSequence (used as is)."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)
                             or seed < 0):
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.SeedSequence(None if seed is None else int(seed))


SECTION, CAUSE = (FIELDS.index(f) for f in ("section", "cause"))
"""Positions of the fields the step tallies read in an event-log row."""
DECISION_FIELDS = ("t_min", "side", "decision", "term", "commitment")
"""A command's decision (rule 8): when, which side, abandon or recommit, the term that pushed
it over (attacks, rear_strikes, misattributed_fire, war_aims, broker), its commitment then."""


class CeasefireModel(mesa.Model):
    """One run of a ceasefire scenario.

    Args:
        case: the scenario: a loaded :class:`~sim.model.scenario.Scenario`, a TOML path, a bundled
            name, or None for the default (Karabakh, 10 October 2020). (Mesa 3.5 reserves the
            names ``scenario`` and ``time`` on models, hence ``case`` and ``now``.)
        overrides: ``key.path -> value`` changes to the scenario, validated like the file.
        rng: seed of the run: an int, a ``numpy.random.SeedSequence``, or a
            ``numpy.random.Generator`` (used as is). Same scenario + same seed => same log.
        seed: accepted for Mesa compatibility; same meaning as an int ``rng``.
        collect_steps: keep one row of data per reporting interval (:meth:`steps_table`). Off,
            :meth:`run_to_horizon` runs the clock straight to the horizon with no per-interval
            work: the same event log, faster the fewer incidents a run has (``benchmarks/
            bench_core.py`` times both ways), for runs that only need the log (calibrations,
            scores, batches).
        **params: overrides as keywords, with ``__`` for dots
            (``sides__armenian__force__discipline=0.9``), for ``batch_run`` and ``SolaraViz``.
    """

    def __init__(self, case: Scenario | str | Path | None = None, *,
                 overrides: Mapping[str, Any] | None = None,
                 rng: int | np.random.SeedSequence | np.random.Generator | None = None,
                 seed: int | None = None, collect_steps: bool = True, **params: Any) -> None:
        if seed is not None and rng is not None:
            raise ValueError("pass either rng or seed, not both")
        source = rng if rng is not None else seed
        if isinstance(source, np.random.Generator):
            generator = source
            mesa_rng = source.spawn(1)[0]
            self.seed_entropy = None
        else:
            ss = seed_sequence(source)
            self.seed_entropy = ss.entropy
            """The entropy this run was seeded with (reproduces a run started with no seed)."""
            generator = np.random.Generator(np.random.PCG64(ss))
            mesa_rng = np.random.Generator(np.random.PCG64(ss.spawn(1)[0]))
        # Mesa gets a generator of its own, so its own draws never shift the model's stream.
        super().__init__(rng=mesa_rng)

        changes = dict(overrides or {})
        changes.update({k.replace("__", "."): v for k, v in params.items()})
        self.case: Scenario = load_scenario(case, changes or None)
        """The validated scenario this run follows."""
        meta = self.case.scenario
        self.start_min = meta.start_min
        self.horizon_min = meta.horizon_h * 60.0
        self.report_interval_min = meta.report_interval_min

        self.clock = simpy.Environment(initial_time=self.start_min)
        """The simulated clock, in minutes relative to t = 0."""
        self.draws = Draws(generator)
        """All randomness of the run's rules, in blocks from the run's generator."""

        case = self.case
        self.rules = case.rules
        """Which rules are switched on (read in the agents' hot path)."""
        self.spillover = case.spillover
        self.side_names = case.side_names
        self.kind_names = tuple(case.kinds)
        self.kind_index = {k: i for i, k in enumerate(self.kind_names)}
        self.kind_params = tuple(case.kinds[k] for k in self.kind_names)
        self.kind_reaches_rear = tuple(k.reaches_rear for k in self.kind_params)
        # Per-kind numbers as plain tuples: the hot path reads them once per incident.
        self.kind_severity = tuple(k.severity for k in self.kind_params)
        self.kind_detection = tuple(k.detection_probability for k in self.kind_params)
        self.kind_ambiguity = tuple(k.ambiguity for k in self.kind_params)
        self.kind_casualties = tuple(k.casualties_mean for k in self.kind_params)
        self.kind_no_casualty = tuple(math.exp(-k.casualties_mean) for k in self.kind_params)
        """Per kind: P(no casualty), the Poisson's mass at 0 (most incidents kill no one)."""
        self.attribution_errors = case.rules.attribution_errors
        self.spillover_on = case.rules.spillover
        self.retaliating = case.rules.retaliation
        self.section_names = tuple(case.sections)
        self.log = EventLog(self.section_names, self.side_names, self.kind_names)
        """Every incident of the run."""

        self.decisions: list[tuple[float, int, str, str, float]] = []
        """The commands' decisions (rule 8), fields as in DECISION_FIELDS."""
        self._build_agents()
        self.mediating = self.mediator is not None and case.rules.mediation

        self._thinning: dict[Force, Thinning] = {}
        for force in self.forces:
            self._thinning[force] = clock = Thinning(self.clock, force, self.draws)
            clock.arm()
        for command in self.commands:
            self.at(command.order_issue_min, command.order_ceasefire)
            if command.weighs:
                self.at(0.0, command.watch_thresholds)  # the drift of war aims starts at t = 0

        self._seen = 0
        self._interval = 0
        self._all_ordered = False
        self._reset_interval_counts()
        self.collect_steps = collect_steps
        """Whether a row of data is collected per reporting interval."""
        self.datacollector = StepCollector(model_reporters=self._reporters())
        self.running = True
        if collect_steps:
            self.datacollector.collect(self)

    # -- construction -------------------------------------------------------------------------------
    def _build_agents(self) -> None:
        case = self.case
        side_index = {s: i for i, s in enumerate(self.side_names)}
        self.sections: list[FrontSection] = []
        for i, (name, params) in enumerate(case.sections.items()):
            owner = side_index[params.side] if params.kind == "rear" else -1
            self.sections.append(FrontSection(self, i, name, params, owner))
        by_name = {s.name: s for s in self.sections}
        for sec in self.sections:
            sec.neighbours = [by_name[n] for n in case.sections[sec.name].neighbours]
        # Neighbourhood is symmetric even where the file lists a pair once.
        for sec in self.sections:
            for n in sec.neighbours:
                if sec not in n.neighbours:
                    n.neighbours.append(sec)

        posts = case.peacekeepers if case.rules.peacekeepers else None
        self.peacekeepers: Peacekeepers | None = None
        """The monitoring mission or interposition force (rule 9), if the scenario has one."""
        if posts is not None:
            self.peacekeepers = Peacekeepers(self, posts)
            for name in posts.sections:
                by_name[name].post = self.peacekeepers

        rules = [VIOLATION_RULES[name]() for name in case.rules.violation]
        self.commands: list[Command] = []
        self.forces: list[Force] = []
        self.forces_of: tuple[list[Force], list[Force]] = ([], [])
        for s, side_name in enumerate(self.side_names):
            side = case.sides[side_name]
            command = Command(self, s, side_name, side.command)
            self.commands.append(command)
            for sec_name, params in side.forces.items():
                section = by_name[sec_name]
                force = Force(self, s, section, params, command, rules)
                section.forces[s].append(force)
                command.forces.append(force)
                self.forces.append(force)
                self.forces_of[s].append(force)
        self.mediator: Mediator | None = (Mediator(self, case.mediator)
                                          if case.mediator is not None else None)
        guarantee = posts.guarantee if posts is not None else 0.0
        for command in self.commands:
            command.set_guarantee(guarantee)

    # -- the clock ------------------------------------------------------------------------------------
    @property
    def now(self) -> float:
        """Current simulated minute, relative to the ceasefire's effective time."""
        return self.clock._now  # simpy's own field behind Environment.now: one property, not two

    def after(self, delay_min: float, action: Callable[..., None], *args: Any) -> None:
        """Call ``action(*args)`` ``delay_min`` simulated minutes from now."""
        Timeout(self.clock, delay_min).callbacks.append(lambda _event: action(*args))

    def at(self, t_min: float, action: Callable[..., None], *args: Any) -> float:
        """Call ``action(*args)`` at minute ``t_min`` (now, if that has passed).

        Returns the minute the call is scheduled for: ``t_min`` itself, unless it has passed.
        """
        now = self.clock.now
        if t_min <= now:
            self.after(0.0, action, *args)
            return now
        self.after(delay_to(now, t_min), action, *args)
        return t_min

    def rearm(self, force: Force) -> None:
        """Redraw ``force``'s next incident from now: its hazard may have risen past its bound."""
        self._thinning[force].arm()

    def decide(self, side: int, decision: str, term: str, commitment: float) -> None:
        """Log a command's decision to abandon the ceasefire or recommit to it (rule 8)."""
        self.decisions.append((self.clock.now, side, decision, term, commitment))

    def step(self) -> None:
        """Advance one reporting interval and collect one row of data (unless ``collect_steps``
        is off)."""
        self._interval += 1
        end = min(self.start_min + self._interval * self.report_interval_min, self.horizon_min)
        now = self.clock.now
        if end > now:
            self.clock.run(until=until_for(now, end))
        if self.collect_steps:
            self._tally()
            self.datacollector.collect(self)
        if self.clock.now >= self.horizon_min:
            self.running = False

    def run_to_horizon(self) -> None:
        """Step until the horizon; without ``collect_steps``, run the clock there in one go.

        Steps only read the model (tallies for the data collector), so both ways log the same
        incidents in the same order: simpy keeps the order of events however its run is split.
        """
        if self.collect_steps:
            while self.running:
                self.step()
            return
        now = self.clock.now
        if self.horizon_min > now:
            self.clock.run(until=until_for(now, self.horizon_min))
        self.running = False

    # -- per-interval tallies, read by the DataCollector ---------------------------------------------
    def _reset_interval_counts(self) -> None:
        self.events = 0
        self.interval_events = 0
        self.interval_initiated = 0
        self.interval_retaliation = 0
        self.interval_spillover = 0
        self.sections_active = 0

    def _tally(self) -> None:
        rows = self.log.rows
        new = rows[self._seen:]
        self._seen = len(rows)
        self.events = len(rows)
        self.interval_events = len(new)
        causes = [r[CAUSE] for r in new]
        self.interval_initiated = causes.count(INITIATED)
        self.interval_retaliation = causes.count(RETALIATION)
        self.interval_spillover = causes.count(SPILLOVER)
        self.sections_active = len({r[SECTION] for r in new})

    @property
    def holding(self) -> bool:
        """Whether no side has abandoned the ceasefire (and not recommitted since)."""
        return not any(c.abandoned for c in self.commands)

    @property
    def collapsed_at_min(self) -> float | None:
        """When a side first abandoned the ceasefire (see sim.model.outcomes.collapse_min), or None."""
        for t, _side, decision, _term, _c in self.decisions:
            if decision == ABANDON:
                return t
        return None

    @property
    def status(self) -> str:
        """"not yet in force", "holding", "eroding" or "collapsed" (the page's status).

        Collapsed while a side has abandoned the ceasefire; eroding once a side's commitment
        has fallen ``outcomes.erosion_level`` of the way from its initial level down to its
        abandonment threshold; without rule 8 only "holding" or "undefined" can be said.
        """
        now = self.clock.now
        if now < 0:
            return "not yet in force"
        if not self.rules.commitment:
            return "undefined (rule 8, commitment, is off)"
        if not self.holding:
            return "collapsed"
        level = self.case.outcomes.erosion_level
        for c in self.commands:
            floor = c.params.abandon_threshold
            if c.commitment(now) <= c.initial - level * (c.initial - floor):
                return "eroding"
        return "holding"

    @property
    def forces_ordered(self) -> float:
        """Share of forces the ceasefire order has reached."""
        if self._all_ordered:
            return 1.0
        now = self.clock.now
        share = sum(f.order_arrival_min <= now for f in self.forces) / len(self.forces)
        self._all_ordered = share == 1.0
        return share

    @property
    def mean_grievance(self) -> float:
        """Mean grievance over all forces, in [0, 1]."""
        now = self.clock.now
        return sum(f.grievance(now) for f in self.forces) / len(self.forces)

    def _reporters(self) -> dict[str, Any]:
        reporters: dict[str, Any] = {
            "t_min": "now",
            "events": "events",
            "interval_events": "interval_events",
            "initiated": "interval_initiated",
            "retaliation": "interval_retaliation",
            "spillover": "interval_spillover",
            "sections_active": "sections_active",
            "forces_ordered": "forces_ordered",
            "holding": "holding",
        }
        for command in self.commands:
            reporters[f"accusations_by_{command.name}"] = _accusations(command)
            reporters[f"commitment_{command.name}"] = _commitment(command)
        if self.mediator is not None:
            reporters["mediator_pressure"] = _pressure(self.mediator)
            reporters["mediator_credibility"] = _credibility(self.mediator)
            reporters["interventions"] = _interventions(self.mediator)
        return reporters

    # -- tables ------------------------------------------------------------------------------------
    def events_table(self) -> pd.DataFrame:
        """The event log as a DataFrame (one row per incident)."""
        return self.log.table()

    def steps_table(self) -> pd.DataFrame:
        """The DataCollector's table: one row per reporting interval.

        Raises ValueError for a run made with ``collect_steps=False`` (it has no rows)."""
        if not self.collect_steps:
            raise ValueError("this run collected no steps (collect_steps=False)")
        return self.datacollector.get_model_vars_dataframe().reset_index(drop=True)

    def orders_table(self) -> pd.DataFrame:
        """When the ceasefire order reached each force."""
        return pd.DataFrame({
            "side": [self.side_names[f.side] for f in self.forces],
            "section": [f.section.name for f in self.forces],
            "order_arrival_min": [f.order_arrival_min for f in self.forces],
            "spoiler": [f.spoiler for f in self.forces],
        })

    def decisions_table(self) -> pd.DataFrame:
        """The commands' decisions to abandon the ceasefire or recommit to it (rule 8)."""
        frame = pd.DataFrame(self.decisions, columns=list(DECISION_FIELDS))
        frame["side"] = [self.side_names[s] for s in frame["side"]]
        return frame

    def interventions_table(self) -> pd.DataFrame:
        """The mediator's interventions (empty without a mediator)."""
        rows = self.mediator.interventions if self.mediator is not None else []
        frame = pd.DataFrame(rows, columns=["t_min", "blamed", "pressure_0", "pressure_1"])
        frame["blamed"] = [self.side_names[b] for b in frame["blamed"]]
        return frame.rename(columns={"pressure_0": f"pressure_on_{self.side_names[0]}",
                                     "pressure_1": f"pressure_on_{self.side_names[1]}"})


def forget(model: mesa.Model) -> None:
    """Let Mesa forget a finished model, so a long batch does not keep every run in memory.

    Mesa 3.3 keeps a per-model agent-id counter in the class attribute ``Agent._ids``, keyed by
    the model, forever (about 0.5 MB per Karabakh run); Mesa 3.5 no longer does. Batch runners
    call this once a run's results are taken.
    """
    ids = getattr(mesa.Agent, "_ids", None)
    if ids is not None:
        ids.pop(model, None)


def delay_to(now: float, t: float) -> float:
    """A delay ``d`` with ``now + d == t`` exactly, as far as floats allow.

    simpy schedules at ``now + delay``; ``t - now`` can round so that the sum misses ``t`` by
    an ulp, and a wait for "the minute the order goes out" or "the horizon" must land on it.
    """
    d = t - now
    while now + d < t:
        d = math.nextafter(d, math.inf)
    while now + d > t:
        d = math.nextafter(d, -math.inf)
    return d


def until_for(now: float, t: float) -> float:
    """The ``until`` to give ``simpy.Environment.run`` so that it stops at ``t`` exactly.

    simpy stops at ``now + (until - now)``, which can miss ``until`` by an ulp.
    """
    at = t
    while now + (at - now) < t:
        at = math.nextafter(at, math.inf)
    while now + (at - now) > t:
        at = math.nextafter(at, -math.inf)
    return at


class StepCollector(mesa.DataCollector):
    """Mesa's DataCollector, minus the deep copy of each model-level value.

    Every model reporter here returns an immutable scalar, so copying it protects nothing;
    Mesa 3.3 deep-copies every value and that was a third of a run's time (benchmarks/
    bench_core.py). Agent-level reporters, if added, go through Mesa's own path.
    """

    def collect(self, model: mesa.Model) -> None:
        if not self.model_reporters or self.agent_reporters or self.agenttype_reporters:
            super().collect(model)
            return
        if hasattr(self, "_collection_steps"):  # Mesa >= 3.4 records when it collected
            self._collection_steps.append(model.time)
        for var, reporter in self.model_reporters.items():
            value = getattr(model, reporter) if isinstance(reporter, str) else reporter(model)
            self.model_vars[var].append(value)


# Reporter factories: named functions rather than lambdas in a loop (late binding).
def _accusations(command: Command) -> Callable[[CeasefireModel], int]:
    return lambda _m: command.accusations


def _commitment(command: Command) -> Callable[[CeasefireModel], float]:
    return lambda m: command.commitment(m.now)


def _pressure(mediator: Mediator) -> Callable[[CeasefireModel], float]:
    return lambda m: max(mediator.pressure_on(0, m.now), mediator.pressure_on(1, m.now))


def _credibility(mediator: Mediator) -> Callable[[CeasefireModel], float]:
    return lambda _m: mediator.credibility


def _interventions(mediator: Mediator) -> Callable[[CeasefireModel], int]:
    return lambda _m: len(mediator.interventions)
