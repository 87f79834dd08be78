"""A new retaliation policy, registered and used by name in a scenario override.

    python examples/new_policy.py [--runs 200]

"Two strikes": a force lets the first hostile act go and answers, in kind, from the second on;
after a quiet spell of ``forgiveness_min`` it forgives again. It is registered in
``sim.model.policies.RETALIATION_POLICIES``, so scenario files, ``--set`` and experiment specs can
name it. Runs here are in this process (``workers=1``): worker processes start fresh and would
need the registration imported too.
"""

from __future__ import annotations

import argparse
from typing import ClassVar

import sim
from sim.model.draws import Draws
from sim.model.policies import RETALIATION_POLICIES, Answer, RetaliationPolicy


class TwoStrikes(RetaliationPolicy):
    """Lets the first act go, answers the next ones in kind; forgets after a quiet spell."""

    name = "two_strikes"
    classifier: ClassVar[dict[str, object]] = {"stochastic": False, "memory": "acts since reset",
                                               "escalates": False, "forgives": True}

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.strikes = 0

    def notice(self, act_severity: float) -> None:
        self.strikes += 1

    def answer(self, act_severity: float, draws: Draws) -> Answer | None:
        return self.in_kind(act_severity, draws) if self.strikes >= 2 else None

    def reset(self) -> None:
        self.strikes = 0


RETALIATION_POLICIES[TwoStrikes.name] = TwoStrikes


def main(runs: int = 200) -> dict[str, dict[str, float]]:
    """Compare the new policy with 'proportional' on the classroom scenario; print and return."""
    out = {}
    for policy in ("proportional", "two_strikes"):
        res = sim.run_replicates("classroom-two-villages", runs=runs, seed=1, workers=1,
                                 overrides={"sides.*.force.retaliation.policy": policy},
                                 keep_steps=False, progress=False)
        summary = res.summary()
        out[policy] = {"p_hold_24h": summary["p_hold"]["24h"],
                       "retaliation_share": summary["retaliation_share"]["median"]}
        print(f"{policy:>13}: P(holding at 24 h) {summary['p_hold']['24h']:.2f}, "
              f"median share of answers {summary['retaliation_share']['median']:.2f}")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    main(parser.parse_args().runs)
