"""The model: the scenario it is built from, its agents and rules, the clock and the outcomes."""
