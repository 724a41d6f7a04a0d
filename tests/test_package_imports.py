"""No module imports another module's private (underscore) name: what rooms share is public and documented."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
TREES = ("st_llm2vec_gen", "bench", "training/scripts", "interop", "examples")


def private_imports(path: Path) -> list[str]:
    """``module.name`` for each underscore name that ``path`` imports from the package."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("st_llm2vec_gen")):
            private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
            found += [f"{'.' * node.level}{node.module or ''}.{name}" for name in private]
    return found


@pytest.mark.parametrize("tree", TREES)
def test_no_private_name_is_imported_across_modules(tree):
    offenders = {str(p.relative_to(ROOT)): names for p in (ROOT / tree).rglob("*.py") if (names := private_imports(p))}
    assert not offenders, f"underscore names imported across modules: {offenders}"
