"""Policies: the rules forces follow, as small classes behind one interface each.

Two families, each with a registry a researcher can extend without touching the engine:

* **Violation rules** say how often a force starts an incident (a hazard, per minute) and with
  which kinds of fire. A force's hazard is the sum of the rules the scenario switches on.
* **Retaliation policies** say how a force answers one perceived hostile act: whether, with
  which kind of fire, and after how long. They are modelled on Axelrod's strategies for the
  iterated prisoner's dilemma (tit-for-tat, grudger, ...), with the "defection" being fire.

Every class carries a ``classifier`` dict (what it remembers, whether it is stochastic, ...),
so tests and tools can filter the registries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:  # only for type hints: policies never import the model or its agents
    from sim.model.agents import Force
    from sim.model.draws import Draws

INF = math.inf


# -- violation rules -------------------------------------------------------------------------

class ViolationRule:
    """How often a force starts incidents, and with which kinds of fire.

    ``rate_per_min(force, t)`` is the hazard at minute ``t``. ``bound_per_min(force, t)`` returns
    ``(bound, until)``: an upper bound on the hazard that holds from ``t`` until minute ``until``
    whatever else happens (grievance rising, mediator pressure ending); the clock uses it to draw
    incident times exactly by thinning.
    """

    name: ClassVar[str] = ""
    kinds: ClassVar[tuple[str, ...]] = ()
    """Kinds of fire this rule produces (restricted to the force's capabilities)."""
    classifier: ClassVar[dict[str, object]] = {}

    def rate_per_min(self, force: Force, t: float) -> float:
        raise NotImplementedError

    def bound_per_min(self, force: Force, t: float) -> tuple[float, float]:
        raise NotImplementedError


class PreCeasefireFighting(ViolationRule):
    """Until its ceasefire order is in effect a force fights at its war-time rate.

    Source: the report of heavy fighting on the southern fronts on the morning of 10 October 2020.
    """

    name = "pre_ceasefire_fighting"
    kinds = ("small_arms", "artillery", "drone", "rockets", "raid")
    classifier: ClassVar[dict[str, object]] = {"posture": "war", "depends_on": ("order",)}

    def rate_per_min(self, force: Force, t: float) -> float:
        return 0.0 if force.under_ceasefire(t) else force.war_rate_per_min

    def bound_per_min(self, force: Force, t: float) -> tuple[float, float]:
        if force.under_ceasefire(t):
            return 0.0, INF
        return force.war_rate_per_min, force.posture_change_min(t)


class LastMinuteGains(ViolationRule):
    """Offensive pressure rises towards t = 0 on sections worth taking.

    Extra rate = war rate x last_minute_gain x offensive_intent x section value x exp(t / ramp),
    for t < 0; a force that has not yet received its order keeps pushing at the t = 0 level.
    Source: the report quotes Armenia's defence ministry on attempts at "last-minute" gains in
    the south before the ceasefire.
    """

    name = "last_minute_gains"
    kinds = ("artillery", "drone", "rockets", "raid")
    classifier: ClassVar[dict[str, object]] = {"posture": "war", "depends_on": ("order", "value")}

    def rate_per_min(self, force: Force, t: float) -> float:
        if force.under_ceasefire(t):
            return 0.0
        return force.offensive_rate_per_min * math.exp(min(t, 0.0) / force.params.gain_ramp_min)

    def bound_per_min(self, force: Force, t: float) -> tuple[float, float]:
        if force.under_ceasefire(t) or force.offensive_rate_per_min == 0.0:
            return 0.0, force.posture_change_min(t)
        # The rate grows until t = 0: bound it piecewise, a quarter ramp time (at least a
        # minute) at a time; any step keeps the bound valid, the size only sets how tight.
        until = force.posture_change_min(t)
        if t < 0:
            until = min(until, t + max(force.params.gain_ramp_min / 4, 1.0), 0.0)
        return force.offensive_rate_per_min * math.exp(min(until, 0.0) / force.params.gain_ramp_min), until


class Spoiler(ViolationRule):
    """Some forces keep their offensive intent after the order: raids and strikes that fade.

    Rate = war rate x last_minute_gain x offensive_intent x section value x exp(-s / persistence)
    x (1 - mediator pressure) x (1 - deterrence of a post), s = minutes since the force came under
    the ceasefire; only forces drawn as spoilers (with ``spoiler_probability``) follow it.
    Source: the commando incursion towards Hadrut about three hours after the ceasefire took effect.
    """

    name = "spoiler"
    kinds = ("raid", "drone", "artillery")
    classifier: ClassVar[dict[str, object]] = {"posture": "ceasefire", "depends_on": ("value",)}

    def rate_per_min(self, force: Force, t: float) -> float:
        if not (force.spoiler and force.under_ceasefire(t)):
            return 0.0
        return force.offensive_rate_per_min * force.deterred * (1.0 - force.pressure(t)) * math.exp(
            -(t - force.ceasefire_from_min) / force.params.spoiler_persistence_min)

    def bound_per_min(self, force: Force, t: float) -> tuple[float, float]:
        if not force.spoiler:
            return 0.0, INF
        if not force.under_ceasefire(t):
            return 0.0, force.posture_change_min(t)
        # Without the mediator's pressure (which may end at any time) the rate only decays
        # from here; refresh the bound every half persistence time (at least every minute).
        persistence = force.params.spoiler_persistence_min
        return (force.offensive_rate_per_min * force.deterred
                * math.exp(-(t - force.ceasefire_from_min) / persistence),
                min(t + max(persistence / 2, 1.0), force.posture_change_min(t)))


class Indiscipline(ViolationRule):
    """Under the order, incidents still start: more often with less discipline and more grievance.

    Rate = ceasefire_rate x (1 - discipline x commitment) x (1 + grievance_weight x grievance)
    x (1 - mediator pressure) x (1 - deterrence of a peacekeepers' post), grievance and the
    command's commitment in [0, 1]. As commitment falls the command's grip loosens (rule 8);
    a post deters initiations (rule 9). Assumption: the functional form is ours; the report
    only shows fire continuing after noon "despite" the agreement.
    """

    name = "indiscipline"
    kinds = ("small_arms", "artillery")
    classifier: ClassVar[dict[str, object]] = {"posture": "ceasefire",
                                               "depends_on": ("discipline", "grievance",
                                                              "commitment")}

    GRIEVANCE_HEADROOM = 0.25
    COMMITMENT_HEADROOM = 0.05
    """The bound allows for this much more grievance and this much less commitment than now;
    beyond that the force's incident clock is re-armed (fewer re-arms, looser bounds)."""

    def rate_per_min(self, force: Force, t: float) -> float:
        if not force.under_ceasefire(t):
            return 0.0
        return force.ceasefire_rate_per_min * (1.0 - force.params.discipline * force.grip(t)) * (
            1.0 - force.pressure(t)) * (1.0 + force.params.grievance_weight * force.grievance(t))

    def bound_per_min(self, force: Force, t: float) -> tuple[float, float]:
        if not force.under_ceasefire(t):
            return 0.0, force.posture_change_min(t)
        g = min(1.0, force.grievance(t) + self.GRIEVANCE_HEADROOM)
        c = max(0.0, force.grip(t) - self.COMMITMENT_HEADROOM)
        force.grievance_cap = g
        force.commitment_floor = c
        until = min(force.posture_change_min(t), force.command.reaches_min(c, t))
        return (force.ceasefire_rate_per_min * (1.0 - force.params.discipline * c)
                * (1.0 + force.params.grievance_weight * g), max(until, t))


VIOLATION_RULES: dict[str, type[ViolationRule]] = {
    cls.name: cls for cls in (PreCeasefireFighting, LastMinuteGains, Spoiler, Indiscipline)
}
"""Registry of violation rules, by name (the names scenario files use)."""


# -- retaliation policies --------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Answer:
    """What a force decides to do about one perceived hostile act."""

    rung: int
    """Index into the force's ladder of kinds (0 = its lightest kind of fire)."""
    delay_min: float
    """Minutes between the act and the answer."""


class RetaliationPolicy:
    """How a force answers one perceived hostile act.

    ``answer(act_severity, draws)`` returns an :class:`Answer` or None (no answer). The force
    owns the ladder of kinds it can use (lightest first, by severity); policies pick a rung.
    ``probability``, ``delay_mean_min`` and ``forgiveness`` come from the scenario.
    """

    name: ClassVar[str] = ""
    classifier: ClassVar[dict[str, object]] = {}

    def __init__(self, severities: tuple[float, ...], probability: float, delay_mean_min: float,
                 forgiveness: float = 0.0) -> None:
        self.severities = severities
        """Severity of each rung of the force's ladder, lightest first."""
        self.probability = probability
        self.delay_mean_min = delay_mean_min
        self.forgiveness = forgiveness
        self._rungs: dict[float, int] = {}

    def answer(self, act_severity: float, draws: Draws) -> Answer | None:
        raise NotImplementedError

    def notice(self, act_severity: float) -> None:
        """A hostile act was perceived, whether or not it can be answered (pressure, an answer
        already on its way): policies that remember acts remember it here."""

    def in_kind(self, act_severity: float, draws: Draws) -> Answer:
        """An answer in kind (the closest rung), after the usual delay: what a force whose
        command has loosened its grip fires back where its policy would have let go (rule 8)."""
        return self._after_delay(self._closest_rung(act_severity), draws)

    def reset(self) -> None:
        """Forget everything remembered about past acts (a side that recommits, rule 8)."""

    @property
    def keeps_grievance(self) -> bool:
        """True while the force holds a grudge: its grievance then does not fade."""
        return False

    def _closest_rung(self, severity: float) -> int:
        """The rung whose severity is closest to ``severity`` (the lighter one on a tie)."""
        rung = self._rungs.get(severity)
        if rung is None:
            sev = self.severities
            rung = self._rungs[severity] = min(range(len(sev)),
                                               key=lambda i: (abs(sev[i] - severity), i))
        return rung

    def _after_delay(self, rung: int, draws: Draws) -> Answer:
        return Answer(rung, self.delay_mean_min * draws.exponential())


class TitForTat(RetaliationPolicy):
    """Answers every perceived hostile act, in kind (the closest kind it has).

    Axelrod's tit-for-tat, with fire as defection; it ignores ``probability``.
    """

    name = "tit_for_tat"
    classifier: ClassVar[dict[str, object]] = {"stochastic": False, "memory": "last act",
                                               "escalates": False, "forgives": False}

    def answer(self, act_severity: float, draws: Draws) -> Answer | None:
        return self.in_kind(act_severity, draws)


class Proportional(RetaliationPolicy):
    """Answers with ``probability``, at the severity of the act (the closest kind it has)."""

    name = "proportional"
    classifier: ClassVar[dict[str, object]] = {"stochastic": True, "memory": "last act",
                                               "escalates": False, "forgives": False}

    def answer(self, act_severity: float, draws: Draws) -> Answer | None:
        if draws.uniform() >= self.probability:
            return None
        return self._after_delay(self._closest_rung(act_severity), draws)


class Escalating(RetaliationPolicy):
    """Answers with ``probability``, one rung heavier than the act (up to its heaviest kind)."""

    name = "escalating"
    classifier: ClassVar[dict[str, object]] = {"stochastic": True, "memory": "last act",
                                               "escalates": True, "forgives": False}

    def answer(self, act_severity: float, draws: Draws) -> Answer | None:
        if draws.uniform() >= self.probability:
            return None
        rung = self._closest_rung(act_severity)
        return self._after_delay(min(rung + 1, len(self.severities) - 1), draws)


class Restrained(RetaliationPolicy):
    """Lets an act go with ``forgiveness``; otherwise answers with ``probability``, one rung lighter."""

    name = "restrained"
    classifier: ClassVar[dict[str, object]] = {"stochastic": True, "memory": "last act",
                                               "escalates": False, "forgives": True}

    def answer(self, act_severity: float, draws: Draws) -> Answer | None:
        if draws.uniform() < self.forgiveness or draws.uniform() >= self.probability:
            return None
        return self._after_delay(max(self._closest_rung(act_severity) - 1, 0), draws)


class Grudger(RetaliationPolicy):
    """Once fired upon, never forgives: answers every act with its heaviest kind, and its
    grievance stops fading (so its own violation hazard stays high).

    Axelrod's grudger ("defects forever" once defected against); ignores ``probability``.
    """

    name = "grudger"
    classifier: ClassVar[dict[str, object]] = {"stochastic": False, "memory": "whole history",
                                               "escalates": True, "forgives": False}

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.grudge = False
        """Whether a hostile act has been perceived since the last reset."""

    def notice(self, act_severity: float) -> None:
        self.grudge = True

    def answer(self, act_severity: float, draws: Draws) -> Answer | None:
        self.grudge = True
        return self._after_delay(len(self.severities) - 1, draws)

    def reset(self) -> None:
        self.grudge = False

    @property
    def keeps_grievance(self) -> bool:
        return self.grudge


RETALIATION_POLICIES: dict[str, type[RetaliationPolicy]] = {
    cls.name: cls for cls in (TitForTat, Proportional, Escalating, Restrained, Grudger)
}
"""Registry of retaliation policies, by name (the names scenario files use)."""
