"""An experiment from spec to figure, from Python: P(holding) over the broker's effectiveness.

    python examples/experiment_to_figure.py [--replicates 40] [--out results/example-broker]

Writes a spec (TOML, the same as a file in experiments/), runs it, prints P(holding at 24 h)
per grid point from the outcomes table (pandas), and leaves the batch's figure in ``--out``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

SPEC = """\
[experiment]
name = "example-broker"
title = "Classroom: P(holding) over the broker's effectiveness"
scenario = "classroom-two-villages"
seed = 7
replicates = {replicates}
horizon_h = 48
outcomes = ["collapse_min", "held", "violations_per_h"]

[grid]
"mediator.effectiveness" = [0.0, 0.5, 1.0]

[figure]
kind = "erosion_curves"
by = "mediator.effectiveness"
"""


def main(replicates: int = 40, out: Path = Path("results/example-broker")) -> dict[float, float]:
    """Run the batch into ``out``; return P(holding at 24 h) by effectiveness."""
    from sim.faces.figures.batch import experiment_figure
    from sim.studies import experiment

    out.mkdir(parents=True, exist_ok=True)
    spec = out / "example-broker.toml"
    spec.write_text(SPEC.format(replicates=replicates), encoding="utf-8")
    res = experiment.run(spec, workers=1, out=out, progress=False)
    table = res.outcomes
    held = table.assign(at_24h=table["collapse_min"].isna() | (table["collapse_min"] > 24 * 60))
    shares = held.groupby("mediator.effectiveness")["at_24h"].mean()
    for effectiveness, share in shares.items():
        print(f"effectiveness {effectiveness:.1f}: P(holding at 24 h) = {share:.2f}")
    print(f"figure: {experiment_figure(res, 'png')}")
    return shares.to_dict()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path("results/example-broker"))
    args = parser.parse_args()
    main(args.replicates, args.out)
