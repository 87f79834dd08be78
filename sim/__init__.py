"""ceasefire-sim: an agent-based simulation of how ceasefires erode after their start time.

The Python API mirrors the ``ceasefire`` command:

- :func:`load_scenario` loads and validates a scenario (with overrides);
- :class:`CeasefireModel` is one run (a ``mesa.Model``);
- :func:`run_replicates` runs a batch and returns :class:`Results` (pandas tables, summary).

The names are imported on first use, so ``import sim`` (and every ``ceasefire`` command)
loads Mesa, pandas and matplotlib only when it needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from sim.model.ceasefire import CeasefireModel
    from sim.model.scenario import Scenario, ScenarioError, load_scenario
    from sim.studies.runner import Results, run_replicates

_LAZY = {"CeasefireModel": "sim.model.ceasefire",
         "Results": "sim.studies.runner", "run_replicates": "sim.studies.runner",
         "Scenario": "sim.model.scenario", "ScenarioError": "sim.model.scenario",
         "load_scenario": "sim.model.scenario"}
"""Public name -> the module that defines it."""

__all__ = ["CeasefireModel", "Results", "Scenario", "ScenarioError", "__version__",
           "load_scenario", "run_replicates"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("ceasefire-sim")
        except PackageNotFoundError:  # pragma: no cover - a checkout without install
            value = "0.0.0+unknown"
    else:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    globals()[name] = value  # the next look-up is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
