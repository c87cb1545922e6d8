"""The safety manager's state changes only through its own methods: no product module outside
engine/safety/ assigns a field of the manager, its breaker board or its latch."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OWNED = {"safety", "board", "latch", "_latch"}


def _assignments_to_safety(path: Path, root: Path = ROOT) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            # `<anything>.safety.<field> = ...` (also `.safety.board.<field>`, `.latch.<field>`)
            chain = target
            while isinstance(chain, ast.Attribute):
                chain = chain.value
                if isinstance(chain, ast.Attribute) and chain.attr in OWNED:
                    found.append(f"{path.relative_to(root)}:{node.lineno}")
                    break
    return found


def test_no_module_outside_the_safety_package_assigns_its_fields() -> None:
    offenders = [
        hit
        for folder in ("engine", "dashboard", "notifier")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "safety" not in path.relative_to(ROOT).parts[1:2]
        for hit in _assignments_to_safety(path)
    ]
    assert offenders == []


def test_the_check_sees_an_assignment(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f(x):\n    x.safety.manual_pause = True\n    x.safety.board.y += 1\n")
    assert _assignments_to_safety(sample, tmp_path) == ["sample.py:2", "sample.py:3"]
