"""The agents of a ceasefire and the rules they follow.

The story, in the order it happens:

1. **Order propagation.** Each side's Command orders its forces to cease fire; the order reaches
   each Force after a random delay. Until it arrives (and never before t = 0) a force keeps its
   pre-ceasefire posture.
2. **Last-minute gains.** Before t = 0 forces with offensive intent push harder on sections worth
   taking; spoilers keep pushing for a while after (violation rules in sim.model.policies).
3. **Violation.** Under the order, forces still start incidents at a hazard that falls with
   discipline and rises with grievance; mediator pressure lowers it.
4. **Perception and attribution.** The other side detects an incident with a kind-dependent
   probability and its command accuses the side that fired; the side that fired may, when the
   kind is ambiguous, publicly blame the other side for it.
5. **Retaliation.** A force that perceives a hostile act answers per its policy, after a delay.
6. **Spillover.** Severe incidents provoke answers in neighbouring sections and strikes on rear
   areas; a struck rear area raises its side's grievance everywhere.
7. **Mediation.** The Mediator hears of violations after a delay and, within its capacity,
   presses both commands; pressure lowers violation and retaliation for a while, and its
   credibility falls when it hears of violations despite its pressure.
8. **Commitment.** Each Command weighs the truce. Its commitment falls with every hostile act it
   blames on the other side (most with strikes on its rear and its people), and with the pull of
   its unmet war aims; it recovers towards its initial level, and the broker's interventions and
   a guarantee prop it up. As it falls the command loosens its grip (discipline slackens, answers
   come readier and heavier); below a threshold the command abandons the ceasefire and orders
   offensive operations. The broker can bring it back (recommitment).
9. **Peacekeepers.** Posts of a monitoring mission or an interposition force stand on some
   sections: they detect incidents there and attribute them to the side that fired, report to
   the broker, and (if armed) deter initiations and block answers.

Time is simulated minutes relative to the ceasefire's effective time (t = 0). Agents read the
model's state and its clock (``model.now``, ``model.after``); they know nothing of how they
are run, stored or drawn.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from typing import TYPE_CHECKING

import mesa

from sim.model.events import ABANDON, INITIATED, NO_ONE, RECOMMIT, RETALIATION, SPILLOVER
from sim.model.policies import INF, RETALIATION_POLICIES, Answer, RetaliationPolicy, ViolationRule
from sim.model.scenario import DEFAULT_POST_DETECTION

if TYPE_CHECKING:
    from sim.model.ceasefire import CeasefireModel
    from sim.model.scenario import CommandParams, ForceParams, Section
    from sim.model.scenario import Mediator as MediatorParams
    from sim.model.scenario import Peacekeepers as PeacekeepersParams

LN2 = math.log(2.0)


class FrontSection(mesa.Agent):
    """A stretch of the line of contact, or a rear area (a town, a border district)."""

    def __init__(self, model: CeasefireModel, index: int, name: str, params: Section,
                 owner: int) -> None:
        super().__init__(model)
        self.index = index
        """Position in the model's section list (the code used in the event log)."""
        self.name = name
        self.label = params.label or name
        self.is_rear = params.kind == "rear"
        self.owner = owner
        """For a rear area, the index of the side it belongs to; -1 on the front."""
        self.value = params.value
        """Territorial value in [0, 1]: what an attacker stands to gain here."""
        self.neighbours: list[FrontSection] = []
        self.forces: tuple[list[Force], list[Force]] = ([], [])
        """The forces each side holds here, by side index."""
        self.post: Peacekeepers | None = None
        """The peacekeepers, if they have a post on this section (rule 9)."""

    def rear_areas_of(self, side: int) -> list[FrontSection]:
        """Neighbouring rear areas belonging to ``side`` (targets for strikes on the rear)."""
        return [n for n in self.neighbours if n.is_rear and n.owner == side]


MIN_PER_DAY = 1440.0
CROSSING_TOLERANCE = 1e-9
"""Commitment within this of a threshold at the computed crossing minute has crossed it."""
ATTACKS, REAR_STRIKES, MISATTRIBUTED, WAR_AIMS, BROKER = (
    "attacks", "rear_strikes", "misattributed_fire", "war_aims", "broker")
"""What moved a command's commitment: hostile acts on its front, strikes on its rear or people,
its own side's fire it blamed on the other side, the pull of its war aims, the broker."""


class Command(mesa.Agent):
    """A side's headquarters: orders the ceasefire, hears its forces, weighs the truce (rule 8).

    Commitment ``C`` in [0, 1] starts at ``commitment_initial`` at t = 0 and between events
    follows ``dC/dt = r (C0 - C) - w (1 - g)``: it recovers towards ``C0`` at rate ``r``
    (``recovery_per_day``) and is pulled down by the side's unmet war aims ``w``
    (``war_aims_per_day``), which a guarantee ``g`` (the peacekeepers' ``guarantee``) offsets.
    It drops at once by ``violation_cost x severity`` (``x rear_multiplier`` on its rear) plus
    ``casualty_cost x casualties`` for every hostile act the command blames on the other side,
    whether or not the other side fired it, and rises by ``commitment_support x pressure`` with
    each intervention of the broker. It abandons the ceasefire below ``abandon_threshold``, and,
    where the broker can bring it back, recommits above ``recommit_threshold``.

    Sources: the commitment stock, its drivers and the threshold follow the suggestion in
    shared/sources/ceasefire-literature.md section 7 (C <- C - a*violations - b*war-aim gap
    - c*(1 - guarantee) + r*(C0 - C)); a side expecting to gain by fighting is not held by
    carrots and sticks (Werner & Yuen 2005); third-party guarantees keep settlements in place
    (Walter 1997, 2002). The linear form and every number are assumptions.
    """

    def __init__(self, model: CeasefireModel, side: int, name: str, params: CommandParams) -> None:
        super().__init__(model)
        self.side = side
        self.name = name
        self.params = params
        self.order_issue_min = params.order_issue_min
        """When the order to cease fire goes out (minutes; effective at t = 0 at the earliest)."""
        self.order_delay_mean_min = params.order_delay_mean_min
        self.forces: list[Force] = []
        self.accusations = 0
        """Public accusations against the other side so far (one per incident blamed on it)."""
        self.weighs = model.rules.commitment
        """Whether this command weighs the truce at all (rule 8 switched on)."""
        self.initial = params.commitment_initial if self.weighs else 1.0
        self._c = self.initial
        self._c_t = 0.0
        """Commitment ``_c`` at minute ``_c_t``; it evolves from there by the ODE above."""
        self._recovery = params.recovery_per_day / MIN_PER_DAY
        self._pull = 0.0
        self._watch = 0
        self._watch_at = INF
        """Counter and minute of the pending threshold check; only the latest is acted on."""
        self.abandoned = False
        """Whether the command has abandoned the ceasefire (and not recommitted since)."""

    def set_guarantee(self, guarantee: float) -> None:
        """A third-party guarantee cuts the pull of the war aims by this share (rule 9)."""
        self._pull = self.params.war_aims_per_day / MIN_PER_DAY * (1.0 - guarantee)

    # -- rule 1 ---------------------------------------------------------------------------------
    def order_ceasefire(self) -> None:
        """Rule 1: send the order to cease fire; it reaches each force after a random delay."""
        now = self.model.now
        for force in self.forces:
            force.order_arrival_min = now + self._order_delay()
            self.model.rearm(force)
        if self.weighs and now >= 0.0:
            self.watch_thresholds()

    def _order_delay(self) -> float:
        if not self.model.rules.order_propagation:
            return 0.0
        return self.order_delay_mean_min * self.model.draws.exponential()

    def accuse(self) -> None:
        """Publish an accusation against the other side."""
        self.accusations += 1

    # -- rule 8: commitment -----------------------------------------------------------------------
    def commitment(self, t: float) -> float:
        """Commitment in [0, 1] at minute ``t`` (the initial level before t = 0)."""
        dt = t - self._c_t
        if dt <= 0.0 or not self.weighs:
            return self._c
        r = self._recovery
        if r > 0.0:
            target = self.initial - self._pull / r
            c = target + (self._c - target) * math.exp(-r * dt)
        else:
            c = self._c - self._pull * dt
        return 0.0 if c < 0.0 else (1.0 if c > 1.0 else c)

    def reaches_min(self, level: float, t: float) -> float:
        """When commitment, left to itself from minute ``t``, falls to ``level`` (inf: never).

        Between events it moves monotonically towards ``C0 - w / r``, so it crosses a level
        below it at most once.
        """
        if level <= 0.0:
            return INF  # commitment never goes below 0
        c = self.commitment(t)
        if c <= level:
            return t
        r, pull = self._recovery, self._pull
        if r > 0.0:
            target = self.initial - pull / r
            if target >= level:
                return INF
            return t + math.log((c - target) / (level - target)) / r
        return t + (c - level) / pull if pull > 0.0 else INF

    def _reaches_max(self, level: float, t: float) -> float:
        """When commitment, left to itself from minute ``t``, rises to ``level`` (inf: never)."""
        c = self.commitment(t)
        if c >= level:
            return t
        r = self._recovery
        if r <= 0.0:
            return INF
        target = self.initial - self._pull / r
        if target <= level:
            return INF
        return t + math.log((target - c) / (target - level)) / r

    def hostile_act(self, severity: float, on_rear: bool, casualties: int, term: str) -> None:
        """An act this command blames on the other side (rightly or not) costs commitment."""
        p = self.params
        cost = p.violation_cost * severity * (p.rear_multiplier if on_rear else 1.0)
        if casualties:
            cost += p.casualty_cost * casualties
        self._move(-cost, term)

    def supported(self, pressure: float) -> None:
        """The broker presses this side to keep the truce: commitment rises (rule 7 and 8)."""
        self._move(self.model.mediator.params.commitment_support * pressure, BROKER)

    def _move(self, change: float, term: str) -> None:
        now = self.model.now
        if not self.weighs or now < 0.0 or change == 0.0:
            return
        c = self.commitment(now) + change
        self._c = 0.0 if c < 0.0 else (1.0 if c > 1.0 else c)
        self._c_t = now
        if change < 0.0:
            for force in self.forces:  # their hazard bounds assumed at least this much commitment
                if self._c < force.commitment_floor:
                    self.model.rearm(force)
        # A move away from the threshold watched only makes the pending check early (it looks
        # again then); a move towards it may make the drift cross it sooner.
        self._check(term, watch=(change < 0.0) != self.abandoned)

    def _check(self, term: str, watch: bool = True) -> None:
        """Abandon or recommit if a threshold is crossed; else watch for the drift to cross one."""
        p = self.params
        if not self.abandoned and self._c < p.abandon_threshold:
            self.abandon(term)
        elif self.abandoned and self._c >= p.recommit_threshold and self._may_recommit():
            self.recommit()
        elif watch:
            self.watch_thresholds()

    def watch_thresholds(self) -> None:
        """Make sure a check is due no later than the minute the drift alone would cross the
        next threshold. One pending check is enough while it comes no later than that minute:
        if it comes early, it looks again and schedules the next one."""
        now = self.model.now
        p = self.params
        if self.abandoned:
            when = self._reaches_max(p.recommit_threshold, now) if self._may_recommit() else INF
        else:
            when = self.reaches_min(p.abandon_threshold, now)
        if when >= self._watch_at or when >= self.model.horizon_min:
            return
        self._watch += 1
        self._watch_at = when
        self.model.after(max(when - now, 0.0), self._drifted, self._watch)

    def _drifted(self, watch: int) -> None:
        if watch != self._watch:
            return  # superseded by an earlier check
        self._watch_at = INF
        now = self.model.now
        self._c = self.commitment(now)
        self._c_t = now
        p = self.params
        # The crossing minute is computed; within rounding, take it as crossed.
        if not self.abandoned and self._c < p.abandon_threshold + CROSSING_TOLERANCE:
            self._c = min(self._c, math.nextafter(p.abandon_threshold, -INF))
        elif self.abandoned and self._c > p.recommit_threshold - CROSSING_TOLERANCE:
            self._c = max(self._c, p.recommit_threshold)
        self._check(WAR_AIMS if not self.abandoned else BROKER)

    def _may_recommit(self) -> bool:
        mediator = self.model.mediator
        return mediator is not None and self.model.mediating and mediator.params.recommitment

    def abandon(self, term: str) -> None:
        """Commitment fell below the threshold: order offensive operations again."""
        now = self.model.now
        self.abandoned = True
        self._watch_at = INF  # the next threshold to watch is the other one
        self.model.decide(self.side, ABANDON, term, self._c)
        for force in self.forces:
            if force.order_arrival_min > now:
                force.order_arrival_min = INF  # the order to cease fire is called back
            force.resume_arrival_min = now + self._order_delay()
            self.model.rearm(force)
        self.watch_thresholds()

    def recommit(self) -> None:
        """Brought back by the broker: order the ceasefire again; grudges are set aside."""
        now = self.model.now
        self.abandoned = False
        self._watch_at = INF
        self.model.decide(self.side, RECOMMIT, BROKER, self._c)
        for force in self.forces:
            if force.resume_arrival_min > now:  # the order to resume had not arrived yet
                force.resume_arrival_min = INF
                if force.order_arrival_min == INF:  # nor the order to cease fire (called back)
                    force.order_arrival_min = now + self._order_delay()
            else:
                force.order_arrival_min = now + self._order_delay()
                force.resume_arrival_min = INF
            force.policy.reset()
            self.model.rearm(force)
        self.watch_thresholds()


class Mediator(mesa.Agent):
    """The broker of the agreement: hears of violations, presses both commands (rule 7).

    A report of a violation reaches it after a delay. If its pressure is still on when the
    report arrives, the violation happened despite it and costs credibility. It intervenes on
    a report when it has capacity left: at most ``capacity_per_day`` interventions in any 24 h,
    at least 24 h / capacity apart. Assumption: the functional forms are ours.
    """

    def __init__(self, model: CeasefireModel, params: MediatorParams) -> None:
        super().__init__(model)
        self.params = params
        self.label = params.label or "mediator"
        self._credibility = params.credibility
        self._docks: list[float] = []
        """Arrival minutes of reports still to cost credibility (see :meth:`report`)."""
        self.pressure = [0.0, 0.0]
        """Current pressure on each side, in [0, 1]: the share of violations and answers it stops."""
        self.pressure_until = -INF
        self.intervention_times: deque[float] = deque()
        self.interventions: list[tuple[float, int, float, float]] = []
        """(minute, side blamed, pressure on side 0, pressure on side 1), one per intervention."""
        self.spacing_min = (MIN_PER_DAY / params.capacity_per_day if params.capacity_per_day
                            else INF)
        self.monitors = params.monitors
        self.detection = tuple(DEFAULT_POST_DETECTION.get(k, 0.5) for k in model.kind_names)
        """With monitors: the chance they detect an incident, by kind code (as a post would)."""
        self.accuracy = params.monitor_accuracy
        """With monitors: the chance an incident is attributed to the side that fired."""
        self.report_delay_mean_min = (params.monitor_report_delay_mean_min if params.monitors
                                      else params.report_delay_mean_min)

    def pressure_on(self, side: int, t: float) -> float:
        """Pressure on ``side`` at minute ``t`` (0 when no intervention is in force)."""
        return self.pressure[side] if t < self.pressure_until else 0.0

    def attribute(self, side: int, ambiguity: float) -> int:
        """Who the mediator blames for an incident fired by ``side``.

        With monitors it is right with ``monitor_accuracy``; without, it hears both commands
        and an ambiguous incident is a coin toss (right with 1 - ambiguity / 2). Assumption.
        """
        right = self.accuracy if self.monitors else 1.0 - 0.5 * ambiguity
        return side if self.model.draws.uniform() < right else 1 - side

    @property
    def credibility(self) -> float:
        """Credibility now: it falls with every report that arrived while its pressure was on."""
        docks = self._docks
        if docks and docks[0] <= self.model.now:
            now = self.model.now
            while docks and docks[0] <= now:
                heapq.heappop(docks)
                self._credibility *= 1.0 - self.params.credibility_loss
        return self._credibility

    def report(self, blamed: int, delay_mean_min: float) -> None:
        """A violation blamed on ``blamed`` is reported; the report arrives after a delay."""
        model = self.model
        now = model.now
        arrival = now + delay_mean_min * model.draws.exponential()
        if arrival < self._next_capacity_min():
            # No intervention can come before this report arrives, so what it will do is known
            # now: cost credibility on arrival if the pressure is still on then, or nothing.
            # (Exact, and it spares the clock most reports once the capacity is spent.)
            if arrival < self.pressure_until:
                heapq.heappush(self._docks, arrival)
            return
        model.after(arrival - now, self.hear_of, blamed)

    def hear_of(self, blamed: int) -> None:
        """A report arrives: credibility suffers if its pressure was on; it may intervene."""
        now = self.model.now
        if now < self.pressure_until:
            self._credibility = self.credibility * (1.0 - self.params.credibility_loss)
        if self._has_capacity(now):
            self.intervene(blamed)

    def _next_capacity_min(self) -> float:
        """The earliest minute at which the mediator may intervene again."""
        cap = self.params.capacity_per_day
        if cap == 0:
            return INF
        times = self.intervention_times
        if not times:
            return -INF
        nxt = times[-1] + self.spacing_min
        if len(times) >= cap:
            nxt = max(nxt, times[-cap] + MIN_PER_DAY)
        return nxt

    def intervene(self, blamed: int) -> None:
        """Press both commands: full pressure on the side blamed, some on the other."""
        now = self.model.now
        p = self.params
        strength = p.effectiveness * self.credibility
        self.pressure = [0.0, 0.0]
        self.pressure[blamed] = strength
        self.pressure[1 - blamed] = strength * p.even_handedness
        self.pressure_until = now + p.pressure_duration_min
        self.intervention_times.append(now)
        self.interventions.append((now, blamed, self.pressure[0], self.pressure[1]))
        for command in self.model.commands:
            command.supported(self.pressure[command.side])

    def _has_capacity(self, now: float) -> bool:
        times = self.intervention_times
        while times and times[0] <= now - MIN_PER_DAY:
            times.popleft()
        return (len(times) < self.params.capacity_per_day
                and (not times or now - times[-1] >= self.spacing_min))


class Peacekeepers(mesa.Agent):
    """A monitoring mission or interposition force with posts on some sections (rule 9).

    A post detects an incident fired from its section with the kind's ``detection``
    probability and attributes it to the side that fired with ``attribution_accuracy`` (else
    it leaves it unattributed); attributed incidents after t = 0 are reported to the broker
    after a delay. An armed force also prevents a share ``deterrence`` of would-be initiations
    under the ceasefire and blocks a share ``answer_blocking`` of answers. An observer-only
    mission (deterrence 0, like the OSCE's monitors in Donbas) is the same agent: what its
    posts see and whom they blame is logged with each incident (``post_seen``, ``blame_post``),
    and records' monitor counts are read from there. Sources: monitors act through information,
    attribution and early warning; armed peacekeepers cut violence
    (shared/sources/ceasefire-literature.md section 4; Fortna 2004, Hultman, Kathman & Shannon
    2014); the per-kind numbers are assumptions.
    """

    def __init__(self, model: CeasefireModel, params: PeacekeepersParams) -> None:
        super().__init__(model)
        self.params = params
        self.label = params.label or "peacekeepers"
        self.detection = tuple(params.detection.get(k, 0.5) for k in model.kind_names)
        """Chance a post detects an incident, by kind code."""
        self.accuracy = params.attribution_accuracy
        self.report_delay_mean_min = params.report_delay_mean_min

    def observe(self, side: int, kind: int) -> tuple[bool, int]:
        """Whether a post sees an incident fired by ``side``, and whom it blames (or NO_ONE)."""
        draws = self.model.draws
        if draws.uniform() >= self.detection[kind]:
            return False, NO_ONE
        if draws.uniform() >= self.accuracy:
            return True, NO_ONE
        return True, side


class Force(mesa.Agent):
    """One side's troops holding one section."""

    def __init__(self, model: CeasefireModel, side: int, section: FrontSection,
                 params: ForceParams, command: Command, rules: list[ViolationRule]) -> None:
        super().__init__(model)
        case = model.case
        draws = model.draws
        self.side = side
        self.section = section
        self.params = params
        self.command = command
        self.opponent = 1 - side
        self.enemy_rear = section.rear_areas_of(self.opponent)
        """The other side's rear areas next to this force's section: targets for rear strikes."""

        # The kinds of fire this force can use, lightest first: its ladder for answers.
        kinds = case.kinds
        usable = sorted((k for k, w in params.capabilities.items() if w > 0),
                        key=lambda k: (kinds[k].severity, model.kind_index[k]))
        self.ladder = tuple(model.kind_index[k] for k in usable)
        """Kind codes this force can fire, lightest first."""
        ret = params.retaliation
        self.policy = RETALIATION_POLICIES[ret.policy](
            tuple(kinds[k].severity for k in usable), ret.probability, ret.delay_mean_min,
            ret.forgiveness)
        self.remembers = type(self.policy).notice is not RetaliationPolicy.notice
        """Whether the policy remembers acts it does not answer (grudger): told of each one."""
        self.grievance_gain = params.grievance_gain

        # Each violation rule fires the kinds it names that this force has; a rule with none
        # of them cannot act for this force and is dropped.
        self.rules: list[ViolationRule] = []
        self.rule_kinds: dict[str, tuple[tuple[int, ...], tuple[float, ...]]] = {}
        for rule in rules:
            names = [k for k in rule.kinds if params.capabilities.get(k, 0.0) > 0]
            if names:
                self.rules.append(rule)
                self.rule_kinds[rule.name] = (
                    tuple(model.kind_index[k] for k in names),
                    tuple(_cumulative([params.capabilities[k] for k in names])))

        # Rule 9: a post on this section deters initiations under the ceasefire, blocks answers.
        post = self.post = section.post
        """The peacekeepers' post on this section, if any (rule 9)."""
        self.deterred = 1.0 - post.params.deterrence if post is not None else 1.0
        """Share of would-be initiations under the ceasefire that go ahead (rule 9)."""
        self.blocking = post.params.answer_blocking if post is not None else 0.0

        # Rates per minute, fixed for the run.
        self.war_rate_per_min = params.war_rate_per_h / 60.0
        self.offensive_rate_per_min = (self.war_rate_per_min * params.last_minute_gain
                                       * params.offensive_intent * section.value)
        self.ceasefire_rate_per_min = params.ceasefire_rate_per_h / 60.0 * self.deterred
        self.spoiler = params.offensive_intent > 0 and draws.uniform() < params.spoiler_probability
        """Whether this force keeps its offensive intent after the order (rule 2)."""

        self.order_arrival_min = INF
        """When the ceasefire order reaches this force (inf until it is sent)."""
        self.resume_arrival_min = INF
        """When an order to resume offensive operations reaches it (inf: none sent, rule 8)."""
        self._grievance = 0.0
        self._grievance_t = model.now
        self._decay_per_min = LN2 / params.grievance_half_life_min
        self.answer_pending = False
        """True while an answer is on its way: further acts only add grievance."""
        self.grievance_cap = INF
        self.commitment_floor = -INF
        """Grievance and commitment the current hazard bound allows for; outside them the bound
        no longer holds and the force's incident clock is re-armed."""

    # -- state the rules read ------------------------------------------------------------------
    @property
    def ceasefire_from_min(self) -> float:
        """When this force came (or will come) under the ceasefire: order in hand and t >= 0."""
        return max(0.0, self.order_arrival_min)

    def under_ceasefire(self, t: float) -> bool:
        """Whether the force is bound by the ceasefire at minute ``t``."""
        return t >= 0.0 and self.order_arrival_min <= t < self.resume_arrival_min

    def posture_change_min(self, t: float) -> float:
        """The next minute after ``t`` at which this force's posture changes, as far as is known.

        A new order (to cease fire, resume or recommit) re-arms the force's incident clock, so
        only the orders already on their way count here.
        """
        nxt = INF
        for m in (self.order_arrival_min, self.resume_arrival_min, 0.0):
            if t < m < nxt:
                nxt = m
        return nxt

    def grievance(self, t: float) -> float:
        """Grievance in [0, 1] at minute ``t``: it fades with its half-life, unless a grudge is held."""
        if self.policy.keeps_grievance:
            return self._grievance
        return self._grievance * math.exp(-self._decay_per_min * (t - self._grievance_t))

    def pressure(self, t: float) -> float:
        """Mediator pressure on this force's side at minute ``t``."""
        mediator = self.model.mediator
        return mediator.pressure_on(self.side, t) if mediator is not None else 0.0

    def grip(self, t: float) -> float:
        """How firmly the command holds this force to the truce: its commitment (rule 8)."""
        return self.command.commitment(t)

    def aggrieve(self, amount: float, t: float) -> None:
        """Grievance rises by ``amount`` (capped at 1)."""
        self._grievance = min(1.0, self.grievance(t) + amount)
        self._grievance_t = t
        if self._grievance > self.grievance_cap:
            self.model.rearm(self)

    # -- the hazard, summed over the violation rules ---------------------------------------------
    def hazard_bound(self, t: float) -> tuple[float, float]:
        """Upper bound on the hazard (per minute) valid from ``t`` to the returned minute."""
        self.grievance_cap = INF
        self.commitment_floor = -INF
        bound = 0.0
        until = INF
        for rule in self.rules:
            b, u = rule.bound_per_min(self, t)
            bound += b
            if u < until:
                until = u
        return bound, until

    # -- rule 3: violation -------------------------------------------------------------------------
    def violate(self, rule: ViolationRule) -> None:
        """Start an incident under ``rule``: pick a kind the rule allows, and a target."""
        draws = self.model.draws
        codes, cumulative = self.rule_kinds[rule.name]
        kind = codes[draws.choice(cumulative)]
        section = self.section
        rear = self.enemy_rear
        if rear and self.model.kind_reaches_rear[kind] and draws.uniform() < self.params.rear_strike_share:
            section = rear[int(draws.uniform() * len(rear))]
        self.fire(kind, section, INITIATED, NO_ONE)

    # -- rule 4: perception and attribution -----------------------------------------------------
    def fire(self, kind: int, section: FrontSection, cause: int, parent: int) -> int:
        """An incident by this force at ``section``; the other side may perceive it.

        Returns the incident's id in the event log.
        """
        model = self.model
        draws = model.draws
        now = model.now
        severity = model.kind_severity[kind]
        them = self.opponent
        on_rear = section.is_rear
        # Who will notice: the force facing us here (for a strike on their rear, the force
        # facing us on our own section; towns always notice being hit).
        facing = self.section.forces[them]
        detected = on_rear or draws.uniform() < model.kind_detection[kind]
        blamed_by_them = blamed_by_us = mediator_blame = post_blame = NO_ONE
        post_seen = False
        post = self.post
        if post is not None:  # rule 9: a post sees fire from its section
            post_seen, post_blame = post.observe(self.side, kind)
        if detected:
            blamed_by_them = self.side
            if model.attribution_errors and draws.uniform() < model.kind_ambiguity[kind]:
                blamed_by_us = them  # "they fired first"
        casualties = 0
        if model.kind_casualties[kind] > 0.0:
            u = draws.uniform()  # Poisson by inversion; most incidents kill no one
            if u > model.kind_no_casualty[kind]:
                casualties = draws.poisson_at(u, model.kind_casualties[kind])
        mediator = model.mediator
        if now >= 0.0 and mediator is not None:
            # Rule 7: the broker hears through the posts, its own monitors, or the side fired on.
            if post_blame != NO_ONE:
                mediator_blame = post_blame
                delay = post.report_delay_mean_min
            elif detected or (mediator.monitors
                              and (post_seen or draws.uniform() < mediator.detection[kind])):
                mediator_blame = mediator.attribute(self.side, model.kind_ambiguity[kind])
                delay = mediator.report_delay_mean_min
            if mediator_blame != NO_ONE and model.mediating:
                mediator.report(mediator_blame, delay)
        if self.side == 0:
            blame_0, blame_1 = blamed_by_us, blamed_by_them
        else:
            blame_0, blame_1 = blamed_by_them, blamed_by_us
        event = model.log.record(now, section.index, self.side, kind, severity, cause, parent,
                                 them, detected, blame_0, blame_1, mediator_blame, casualties,
                                 post_seen, post_blame)
        if not detected:
            return event
        victim = model.commands[them]
        victim.accuse()
        weighing = now >= 0.0 and victim.weighs
        # Rule 8: a command that believes it was attacked loses commitment, rightly or not.
        if weighing:
            victim.hostile_act(severity, on_rear, casualties,
                               REAR_STRIKES if on_rear or casualties else ATTACKS)
        if blamed_by_us != NO_ONE:
            self.command.accuse()
            if weighing:
                self.command.hostile_act(severity, False, 0, MISATTRIBUTED)
        spillover = model.spillover
        if on_rear:
            # Rule 6: a struck rear area aggrieves every force of its side.
            for force in model.forces_of[them]:
                force.aggrieve(spillover.rear_grievance, now)
        for force in facing:
            force.perceive(event, severity, on_rear, RETALIATION)
        if model.spillover_on and severity >= spillover.min_severity and not on_rear:
            p = spillover.neighbour_probability
            for neighbour in section.neighbours:
                for force in neighbour.forces[them]:
                    if draws.uniform() < p:
                        force.perceive(event, severity, False, SPILLOVER)
        return event

    # -- rule 5: retaliation -----------------------------------------------------------------------
    def perceive(self, event: int, severity: float, on_our_rear: bool, cause: int) -> None:
        """A hostile act has been perceived: grievance rises, and the policy may answer it.

        Rule 8: as the command's commitment ``C`` falls, answers come readier and heavier: an
        act the policy would let go is answered in kind with probability ``1 - C``, and an
        answer goes one rung up the ladder with probability ``1 - C`` (assumption).
        """
        model = self.model
        now = model.now
        self.aggrieve(self.grievance_gain * severity, now)
        if self.remembers:
            self.policy.notice(severity)
        if not model.retaliating or self.answer_pending:
            return
        draws = model.draws
        pressure = self.pressure(now)
        if pressure > 0.0 and draws.uniform() < pressure:
            return  # held back by the mediator's pressure
        if self.blocking > 0.0 and self.under_ceasefire(now) and draws.uniform() < self.blocking:
            return  # held back by the peacekeepers' post (rule 9)
        answer = self.policy.answer(severity, draws)
        slack = 1.0 - self.grip(now)
        if slack > 0.0:
            if answer is None:
                if draws.uniform() < slack:
                    answer = self.policy.in_kind(severity, draws)
            elif answer.rung + 1 < len(self.ladder) and draws.uniform() < slack:
                answer = Answer(answer.rung + 1, answer.delay_min)
        if answer is None:
            return
        kind = self.ladder[answer.rung]
        target = self.section
        if model.kind_reaches_rear[kind]:
            # In kind for a strike on our rear; a severe act may spill over to their rear.
            spill = (not on_our_rear and model.spillover_on
                     and severity >= model.spillover.min_severity
                     and draws.uniform() < model.spillover.rear_probability)
            rear = self.enemy_rear
            if (on_our_rear or spill) and rear:
                target = rear[int(draws.uniform() * len(rear))]
                if spill:
                    cause = SPILLOVER
        self.answer_pending = True
        model.after(answer.delay_min, self.retaliate, kind, target, cause, event)

    def retaliate(self, kind: int, target: FrontSection, cause: int, parent: int) -> None:
        """Deliver an answer decided earlier."""
        self.answer_pending = False
        self.fire(kind, target, cause, parent)


def _cumulative(weights: list[float]) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out
