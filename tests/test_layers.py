"""The package's parts import one way: model <- records <- studies <- faces."""

from __future__ import annotations

import ast
from pathlib import Path

import sim

RANK = {"model": 0, "records": 1, "studies": 2, "faces": 3}
ROOT = Path(sim.__file__).resolve().parent


def _imports(path: Path) -> set[str]:
    """Every ``sim.*`` module a file imports, at top level or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("sim."))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "sim":
                found.update(f"sim.{a.name}" for a in node.names)
            elif node.module.startswith("sim."):
                found.add(node.module)
    return found


def test_every_module_belongs_to_a_part() -> None:
    loose = sorted(p.name for p in ROOT.glob("*.py") if p.name != "__init__.py")
    assert loose == [], f"modules outside the four parts: {loose}"


def test_imports_point_one_way() -> None:
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        part = path.relative_to(ROOT).parts[0]
        if part not in RANK:
            continue
        for name in _imports(path):
            target = name.split(".")[1]
            if target in RANK and RANK[target] > RANK[part]:
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert wrong == [], "imports against the flow model <- records <- studies <- faces:\n" + "\n".join(wrong)
