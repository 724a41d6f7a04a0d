"""Every script in bench/ and training/scripts/ still imports against the package as it is now (a move inside the
package broke bench/train_speed.py unnoticed once), and the ones with a command line parse ``--help``."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SCRIPTS = sorted(
    p for folder in ("bench", "training/scripts") for p in (ROOT / folder).glob("*.py") if not p.name.startswith("_")
)
OPTIONAL = {"plot_curve.py": "matplotlib", "plot_suite_curve.py": "matplotlib", "plot_results.py": "matplotlib"}


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_script_imports(path, monkeypatch):
    if path.name in OPTIONAL:
        pytest.importorskip(OPTIONAL[path.name])
    monkeypatch.syspath_prepend(str(path.parent))  # bench scripts import their sibling _common
    spec = importlib.util.spec_from_file_location(f"entry_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)  # top level only: their work runs under `if __name__ == "__main__"`


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_name_a_script_imports_from_the_package_exists(path):
    """Also the imports inside functions, which neither importing the script nor ``--help`` runs."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("st_llm2vec_gen"):
            module = importlib.import_module(node.module)
            names = [a.name for a in node.names]
            missing = [n for n in names if not hasattr(module, n) and not _submodule(node.module, n)]
            assert not missing, f"{path.name}:{node.lineno}: {node.module} has no {missing}"


def _submodule(package: str, name: str) -> bool:
    return importlib.util.find_spec(f"{package}.{name}") is not None


def test_command_lines_parse_help():
    """One process for all: each script's argparse ``--help`` exits 0 with a usage line."""
    with_cli = [p for p in SCRIPTS if "argparse" in p.read_text() and p.name not in OPTIONAL]
    code = (
        "import runpy, sys\n"
        "for path in sys.argv[1:]:\n"
        "    sys.argv = [path, '--help']\n"
        "    sys.path.insert(0, path.rsplit('/', 1)[0])\n"
        "    try:\n"
        "        runpy.run_path(path, run_name='__main__')\n"
        "    except SystemExit as done:\n"
        "        assert done.code in (0, None), (path, done.code)\n"
        "    else:\n"
        "        raise AssertionError(f'{path} ran instead of printing its help')\n"
        "    print('HELP-OK', path, flush=True)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, *map(str, with_cli)], capture_output=True, text=True,
                            timeout=600, cwd=ROOT)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("HELP-OK") == len(with_cli)
