"""The agents of a ceasefire and the rules they follow.

The story, in the order it happens:

1. **Order propagation.** Each side's Command orders its forces to cease fire; the order reaches
   each Force after a random delay. Until it arrives (and never before t = 0) a force keeps its
   pre-ceasefire posture.
2. **Last-minute gains.** Before t = 0 forces with offensive intent push harder on sections worth
   taking; spoilers keep pushing for a while after (violation rules in sim.policies).
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
   credibility falls when violations continue despite it.

Time is simulated minutes relative to the ceasefire's effective time (t = 0). Agents read the
model's state and its clock (``model.now``, ``model.after``); they know nothing of how they
are run, stored or drawn.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

import mesa

from sim.events import INITIATED, NO_ONE, RETALIATION, SPILLOVER
from sim.policies import INF, RETALIATION_POLICIES, ViolationRule

if TYPE_CHECKING:
    from sim.model import CeasefireModel
    from sim.scenario import CommandParams, ForceParams, Section
    from sim.scenario import Mediator as MediatorParams

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

    def rear_areas_of(self, side: int) -> list[FrontSection]:
        """Neighbouring rear areas belonging to ``side`` (targets for strikes on the rear)."""
        return [n for n in self.neighbours if n.is_rear and n.owner == side]


class Command(mesa.Agent):
    """A side's headquarters: orders the ceasefire, hears its forces, accuses the other side."""

    def __init__(self, model: CeasefireModel, side: int, name: str, params: CommandParams) -> None:
        super().__init__(model)
        self.side = side
        self.name = name
        self.order_issue_min = params.order_issue_min
        """When the order to cease fire goes out (minutes; effective at t = 0 at the earliest)."""
        self.order_due_min = max(params.order_issue_min, model.now)
        """The clock minute at which the order is scheduled to go out (set by the model)."""
        self.order_delay_mean_min = params.order_delay_mean_min
        self.forces: list[Force] = []
        self.accusations = 0
        """Public accusations against the other side so far (one per incident blamed on it)."""

    def order_ceasefire(self) -> None:
        """Rule 1: send the order to cease fire; it reaches each force after a random delay."""
        now = self.model.now
        propagate = self.model.rules.order_propagation
        draws = self.model.draws
        for force in self.forces:
            delay = self.order_delay_mean_min * draws.exponential() if propagate else 0.0
            force.order_arrival_min = now + delay

    def accuse(self) -> None:
        """Publish an accusation against the other side."""
        self.accusations += 1


class Mediator(mesa.Agent):
    """The broker of the agreement: hears of violations, presses both commands (rule 7)."""

    def __init__(self, model: CeasefireModel, params: MediatorParams) -> None:
        super().__init__(model)
        self.params = params
        self.label = params.label or "mediator"
        self.credibility = params.credibility
        """Falls with every violation reported while its pressure is on."""
        self.pressure = [0.0, 0.0]
        """Current pressure on each side, in [0, 1]: the share of violations and answers it stops."""
        self.pressure_until = -INF
        self.intervention_times: deque[float] = deque()
        self.interventions: list[tuple[float, int, float, float]] = []
        """(minute, side blamed, pressure on side 0, pressure on side 1), one per intervention."""
        self.report_pending = False
        self.monitors = params.monitors
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

    def hear_of(self, blamed: int) -> None:
        """A violation blamed on ``blamed`` is reported to the mediator (it arrives later)."""
        model = self.model
        now = model.now
        if now < self.pressure_until:
            # Violations continuing despite its pressure cost the mediator credibility.
            self.credibility *= 1.0 - self.params.credibility_loss
            return
        if self.report_pending or not self._has_capacity(now):
            return
        self.report_pending = True
        model.after(self.report_delay_mean_min * model.draws.exponential(), self.intervene, blamed)

    def intervene(self, blamed: int) -> None:
        """Press both commands: full pressure on the side blamed, some on the other."""
        now = self.model.now
        self.report_pending = False
        if not self._has_capacity(now):
            return
        p = self.params
        strength = p.effectiveness * self.credibility
        self.pressure = [0.0, 0.0]
        self.pressure[blamed] = strength
        self.pressure[1 - blamed] = strength * p.even_handedness
        self.pressure_until = now + p.pressure_duration_min
        self.intervention_times.append(now)
        self.interventions.append((now, blamed, self.pressure[0], self.pressure[1]))

    def _has_capacity(self, now: float) -> bool:
        times = self.intervention_times
        while times and times[0] <= now - 1440.0:
            times.popleft()
        return len(times) < self.params.capacity_per_day


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

        # Rates per minute, fixed for the run.
        self.war_rate_per_min = params.war_rate_per_h / 60.0
        self.offensive_rate_per_min = (self.war_rate_per_min * params.last_minute_gain
                                       * params.offensive_intent * section.value)
        self.indiscipline_rate_per_min = (params.ceasefire_rate_per_h / 60.0
                                          * (1.0 - params.discipline))
        self.spoiler = params.offensive_intent > 0 and draws.uniform() < params.spoiler_probability
        """Whether this force keeps its offensive intent after the order (rule 2)."""

        self.order_arrival_min = INF
        """When the ceasefire order reaches this force (inf until it is sent)."""
        self._grievance = 0.0
        self._grievance_t = model.now
        self._decay_per_min = LN2 / params.grievance_half_life_min
        self.answer_pending = False
        """True while an answer is on its way: further acts only add grievance."""

    # -- state the rules read ------------------------------------------------------------------
    @property
    def ceasefire_from_min(self) -> float:
        """When this force came (or will come) under the ceasefire: order in hand and t >= 0."""
        return max(0.0, self.order_arrival_min)

    def under_ceasefire(self, t: float) -> bool:
        """Whether the force is bound by the ceasefire at minute ``t``."""
        return t >= 0.0 and t >= self.order_arrival_min

    def posture_change_min(self, t: float) -> float:
        """The next minute at which this force's posture may change (for hazard bounds)."""
        if self.under_ceasefire(t):
            return INF
        if self.order_arrival_min < INF:
            return max(0.0, self.order_arrival_min)
        # Not sent yet: nothing changes before the command sends it (at exactly this minute,
        # which comes before this force's wake-up at the same minute: it was scheduled first).
        return max(0.0, self.command.order_due_min)

    def grievance(self, t: float) -> float:
        """Grievance in [0, 1] at minute ``t``: it fades with its half-life, unless a grudge is held."""
        if self.policy.keeps_grievance:
            return self._grievance
        return self._grievance * math.exp(-self._decay_per_min * (t - self._grievance_t))

    def pressure(self, t: float) -> float:
        """Mediator pressure on this force's side at minute ``t``."""
        mediator = self.model.mediator
        return mediator.pressure_on(self.side, t) if mediator is not None else 0.0

    def aggrieve(self, amount: float, t: float) -> None:
        """Grievance rises by ``amount`` (capped at 1)."""
        self._grievance = min(1.0, self.grievance(t) + amount)
        self._grievance_t = t

    # -- the hazard, summed over the violation rules ---------------------------------------------
    def hazard_bound(self, t: float) -> tuple[float, float]:
        """Upper bound on the hazard (per minute) valid from ``t`` to the returned minute."""
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
        k = model.kind_params[kind]
        them = self.opponent
        on_rear = section.is_rear
        # Who will notice: the force facing us here (for a strike on their rear, the force
        # facing us on our own section; towns always notice being hit).
        facing = self.section.forces[them]
        detected = on_rear or draws.uniform() < k.detection_probability
        blamed_by_them = blamed_by_us = mediator_blame = NO_ONE
        if detected:
            blamed_by_them = self.side
            if model.rules.attribution_errors and draws.uniform() < k.ambiguity:
                blamed_by_us = them  # "they fired first"
            if now >= 0.0 and model.mediator is not None:
                mediator_blame = model.mediator.attribute(self.side, k.ambiguity)
        casualties = draws.poisson(k.casualties_mean) if k.casualties_mean > 0 else 0
        if self.side == 0:
            blame_0, blame_1 = blamed_by_us, blamed_by_them
        else:
            blame_0, blame_1 = blamed_by_them, blamed_by_us
        event = model.log.record(now, section.index, self.side, kind, k.severity, cause, parent,
                                 them, detected, blame_0, blame_1, mediator_blame, casualties)
        if not detected:
            return event
        model.commands[them].accuse()
        if blamed_by_us != NO_ONE:
            self.command.accuse()
        if mediator_blame != NO_ONE and model.mediating:
            model.mediator.hear_of(mediator_blame)
        spillover = model.spillover
        if on_rear:
            # Rule 6: a struck rear area aggrieves every force of its side.
            for force in model.forces_of[them]:
                force.aggrieve(spillover.rear_grievance, now)
        for force in facing:
            force.perceive(event, k.severity, on_rear, RETALIATION)
        if model.rules.spillover and k.severity >= spillover.min_severity and not on_rear:
            p = spillover.neighbour_probability
            for neighbour in section.neighbours:
                for force in neighbour.forces[them]:
                    if draws.uniform() < p:
                        force.perceive(event, k.severity, False, SPILLOVER)
        return event

    # -- rule 5: retaliation -----------------------------------------------------------------------
    def perceive(self, event: int, severity: float, on_our_rear: bool, cause: int) -> None:
        """A hostile act has been perceived: grievance rises, and the policy may answer it."""
        model = self.model
        now = model.now
        self.aggrieve(self.params.grievance_gain * severity, now)
        if not model.rules.retaliation or self.answer_pending:
            return
        draws = model.draws
        pressure = self.pressure(now)
        if pressure > 0.0 and draws.uniform() < pressure:
            return  # held back by the mediator's pressure
        answer = self.policy.answer(severity, draws)
        if answer is None:
            return
        kind = self.ladder[answer.rung]
        target = self.section
        if model.kind_reaches_rear[kind]:
            # In kind for a strike on our rear; a severe act may spill over to their rear.
            spill = (not on_our_rear and model.rules.spillover
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
