"""Turning a force's hazard into incident times on the simpy clock, exactly, by thinning.

Candidate times are drawn at an upper bound of the hazard (Lewis & Shedler thinning); each is
kept with probability hazard / bound, and the violation rule that fired is picked in the same
draw. A bound holds until a minute the rules name (a change of posture, a step of the
last-minute ramp) and for the grievance and commitment it was computed with; at that minute,
or as soon as an event pushes grievance or commitment past what the bound allowed for, or an
order changes the force's posture, the force is *re-armed*: the pending candidate is dropped
and the next one is drawn afresh from the current minute at a new bound, which the
exponential's lack of memory makes exact.

Candidates are plain simpy timeouts with a callback (no generator process to resume); each
carries the arming it belongs to, so a re-arm leaves the dropped one to fall through as a
no-op when its minute comes.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import simpy
from simpy.events import Timeout

from sim.model.policies import INF

if TYPE_CHECKING:
    from sim.model.agents import Force
    from sim.model.draws import Draws


class Thinning:
    """The incident clock of one force: draws the incidents it starts of its own accord."""

    __slots__ = ("arming", "bound", "clock", "draws", "force", "rules", "until")

    def __init__(self, clock: simpy.Environment, force: Force, draws: Draws) -> None:
        self.clock = clock
        self.force = force
        self.draws = draws
        self.rules = force.rules
        self.arming = 0
        """Counts the armings; a scheduled candidate of an earlier arming is ignored."""
        self.bound = 0.0
        self.until = INF

    def arm(self) -> None:
        """Draw the next candidate afresh from now, at a bound computed now."""
        t = self.clock.now
        self.arming += 1
        self.bound, self.until = self.force.hazard_bound(t)
        self._schedule(t)

    def _schedule(self, t: float) -> None:
        bound, until = self.bound, self.until
        if bound > 0.0:
            gap = self.draws.exponential() / bound
            if t + gap < until:
                Timeout(self.clock, gap, self.arming).callbacks.append(self._candidate)
                return
        if until < INF:
            Timeout(self.clock, _delay_to(t, until), self.arming).callbacks.append(self._expired)

    def _candidate(self, event: Timeout) -> None:
        # ``_value`` is what a Timeout was given; reading it skips the property's checks, once
        # per candidate (the hot path).
        if event._value != self.arming:
            return  # dropped by a re-arm
        force = self.force
        t = self.clock.now
        x = self.draws.uniform() * self.bound
        for rule in self.rules:
            rate = rule.rate_per_min(force, t)
            if x < rate:
                arming = self.arming
                force.violate(rule)
                if arming != self.arming:
                    return  # the incident re-armed this clock already
                break
            x -= rate
        self._schedule(t)

    def _expired(self, event: Timeout) -> None:
        if event._value == self.arming:
            self.arm()


def _delay_to(now: float, t: float) -> float:
    """A delay ``d >= 0`` with ``now + d == t`` exactly where floats allow (else just past ``t``).

    The bound must be renewed at or after its minute, never an ulp before it.
    """
    d = max(t - now, 0.0)
    while now + d < t:
        d += max(math.ulp(now), math.ulp(d))
    return d
