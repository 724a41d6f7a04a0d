"""bench/gpu_check.py --dry-run: the GPU path's checks on the CPU (bf16 on CPU, two gloo processes for DDP)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).parents[1] / "bench" / "gpu_check.py"


@pytest.fixture()
def gpu_check(monkeypatch) -> Iterator[ModuleType]:
    """The script imported as a module (its dataclass needs it in sys.modules)."""
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gpu_check", module)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the script puts the checkout and tests/ first
    spec.loader.exec_module(module)
    threads = module.torch.get_num_threads()
    module.torch.set_num_threads(1)  # tiny models: one thread is fastest on shared CI cores
    yield module
    module.torch.set_num_threads(threads)


def test_dry_run_passes_every_check(gpu_check, capsys):
    assert gpu_check.main(["--dry-run"]) == 0, capsys.readouterr().out
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("PASS ", "FAIL "))]
    assert [line.split()[:2] for line in lines] == [["PASS", name] for name, _ in gpu_check.CHECKS]


def test_without_a_gpu_and_without_dry_run_it_says_so(gpu_check, capsys, monkeypatch):
    monkeypatch.setattr(gpu_check.torch.cuda, "device_count", lambda: 0)
    assert gpu_check.main([]) == 1
    assert "FAIL cuda no CUDA device is visible: run with --dry-run" in capsys.readouterr().out
