"""ceasefire-sim: an agent-based simulation of how ceasefires erode after their start time.

The Python API mirrors the ``ceasefire`` command:

- :func:`load_scenario` loads and validates a scenario (with overrides);
- :class:`CeasefireModel` is one run (a ``mesa.Model``);
- :func:`run_replicates` runs a batch and returns :class:`Results` (pandas tables, summary).
"""

from importlib.metadata import PackageNotFoundError, version

from sim.model import CeasefireModel
from sim.runner import Results, run_replicates
from sim.scenario import Scenario, ScenarioError, load_scenario

try:
    __version__ = version("ceasefire-sim")
except PackageNotFoundError:  # pragma: no cover - running from a checkout without install
    __version__ = "0.0.0+unknown"

__all__ = ["CeasefireModel", "Results", "Scenario", "ScenarioError", "__version__",
           "load_scenario", "run_replicates"]
