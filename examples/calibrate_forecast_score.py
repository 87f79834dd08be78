"""Calibrate on one record, forecast a truce it was not fitted to, and score the forecast.

    python examples/calibrate_forecast_score.py [--budget 600] [--runs 200] [--out results/example-score]

Calibrates the Donbas 2020 recommitment (``scenarios/donbas-2020-07-27.calibration.toml``) by
ABC-SMC, writes its posterior sample, then forecasts the first week of the August 2018 Donbas
recommitment (same forces, same monitor, a record the calibration never saw) with each run's
parameters drawn from that posterior, and scores the forecast of the monitor's counts against
the baselines fitted on the other records. Prints the scores and the model's CRPS skill.
"""

from __future__ import annotations

import argparse
from pathlib import Path

FIT = "donbas-2020-07-27"
FORECAST = "donbas-2018-08-29"


def main(budget: int = 600, particles: int = 100, runs: int = 200,
         out: Path = Path("results/example-score"), seed: int = 0) -> float:
    """Calibrate on :data:`FIT`, score :data:`FORECAST`; return the model's CRPS skill against
    the best reference (NaN if undefined)."""
    from sim.faces.figures.scoring import write_outputs
    from sim.studies.calibration import calibrate, load_spec, spec_path_for, write_posterior
    from sim.studies.scoring import score, summary_text

    out.mkdir(parents=True, exist_ok=True)
    posterior = calibrate(load_spec(spec_path_for(FIT)), budget=budget, particles=particles,
                          seed=seed, progress=False)
    sample = write_posterior(posterior, out / f"{FIT}.posterior.csv")
    widths = posterior.quantiles()
    print(f"calibrated {FIT}: {len(posterior.populations)} populations; 90% width / prior's:")
    for prior, (_, row) in zip(posterior.spec.priors, widths.iterrows(), strict=True):
        # In the prior's unit space a uniform prior's 90% interval is 0.9 wide.
        ratio = float(prior.to_unit(row["q95"]) - prior.to_unit(row["q05"])) / 0.9
        print(f"  {row['parameter']}: {ratio:.2f}")
    # Parameters the August 2018 scenario shares with the 2020 one (the forces, the monitor) are
    # drawn from the posterior; the first week after t = 0, runs from two days before it.
    result = score(FORECAST, posterior=sample, runs=runs, seed=seed, until_min=7 * 1440.0,
                   warmup_min=2 * 1440.0, train=None)
    write_outputs(result, out)
    print(summary_text(result))
    best = result.skill[result.skill["best"]]
    return float(best["skill"].iloc[0]) if len(best) else float("nan")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=600, help="calibration simulations")
    parser.add_argument("--particles", type=int, default=100)
    parser.add_argument("--runs", type=int, default=200, help="forecast runs")
    parser.add_argument("--out", type=Path, default=Path("results/example-score"))
    args = parser.parse_args()
    main(args.budget, args.particles, args.runs, args.out)
