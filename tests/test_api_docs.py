"""docs/api.md lists exactly the public names: every ``__all__`` of the package's modules is documented there."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import st_llm2vec_gen

API = (Path(__file__).parents[1] / "docs" / "api.md").read_text(encoding="utf-8")
MODULES = [
    "st_llm2vec_gen", "st_llm2vec_gen.models", "st_llm2vec_gen.losses", "st_llm2vec_gen.corpus",
    "st_llm2vec_gen.evaluation", "st_llm2vec_gen.generation", "st_llm2vec_gen.generation.responses",
    "st_llm2vec_gen.integrations", "st_llm2vec_gen.training", "st_llm2vec_gen.cli",
]  # fmt: skip


def top_level_table() -> set[str]:
    """The names in the first column of the ``st_llm2vec_gen`` section's table."""
    section = API.split("## `st_llm2vec_gen`", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Za-z_][A-Za-z0-9_]*)", section, flags=re.MULTILINE))


def test_the_top_level_table_is_the_packages_all():
    assert top_level_table() == set(st_llm2vec_gen.__all__)


@pytest.mark.parametrize("name", MODULES)
def test_every_public_name_is_documented(name):
    module = importlib.import_module(name)
    missing = [n for n in module.__all__ if not re.search(rf"`[^`]*\b{re.escape(n)}\b", API)]
    assert not missing, f"{name}.__all__ names missing from docs/api.md: {missing}"


def test_every_module_with_all_is_checked():
    root = Path(st_llm2vec_gen.__file__).parent
    found = {
        ".".join(("st_llm2vec_gen", *p.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
        for p in root.rglob("*.py")
        if "__all__" in p.read_text(encoding="utf-8") and "default_model" not in p.parts
    }
    assert found <= set(MODULES), sorted(found - set(MODULES))
