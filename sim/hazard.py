"""Turning a force's hazard into incident times on the simpy clock, exactly, by thinning.

Candidate times are drawn at an upper bound of the hazard (Lewis & Shedler thinning); each is
kept with probability hazard / bound, and the violation rule that fired is picked in the same
draw. A bound holds until a minute the rules name (a change of posture, a step of the
last-minute ramp); at that minute the bound is drawn again, which the exponential's lack of
memory makes exact.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

import simpy

from sim.policies import INF

if TYPE_CHECKING:
    from sim.agents import Force
    from sim.draws import Draws


def incidents(clock: simpy.Environment, force: Force, draws: Draws) -> Generator:
    """simpy process: the incidents ``force`` starts of its own accord, until none can come."""
    rules = force.rules
    until = clock.now
    while True:
        t = clock.now
        if t >= until:  # a bound holds until its minute, whatever happens in between
            bound, until = force.hazard_bound(t)
        if bound <= 0.0:
            if until == INF:
                return
            yield clock.timeout(until - t)
            continue
        gap = draws.exponential() / bound
        if t + gap >= until:
            yield clock.timeout(until - t)
            continue
        yield clock.timeout(gap)
        t = clock.now
        x = draws.uniform() * bound
        for rule in rules:
            rate = rule.rate_per_min(force, t)
            if x < rate:
                force.violate(rule)
                break
            x -= rate
