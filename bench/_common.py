"""Shared helpers of the benchmark scripts: hardware report, real texts, peak memory, timing and tables.

Kept free of this package's imports so that the published-package worker (another virtual environment) can use it.
"""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "training" / "data"
MATMUL_FLAGS = {"avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16", "amx_int8"}
"""The CPU flags that decide which number formats multiply fast (printed in every benchmark's header)."""


def hardware(device: str = "cpu", threads: int = 0) -> dict[str, Any]:
    """What the figures were measured on: CPU model, cores, torch threads, library versions, load average.

    ``threads``: the torch threads of worker processes, when they differ from this process's (0: the same).
    """
    import torch

    cpu, flags = platform.processor() or "unknown", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            lines = f.read().splitlines()
        cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), cpu)
        flags = set(next((line.split(":", 1)[1] for line in lines if line.startswith("flags")), "").split())
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cpu_flags": " ".join(sorted(flags & MATMUL_FLAGS)) or "none of " + " ".join(sorted(MATMUL_FLAGS)),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cores": os.cpu_count(),
        "torch_threads": threads or torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    for name in ("transformers", "sentence_transformers", "peft"):
        try:
            info[name] = __import__(name).__version__
        except ImportError:
            pass
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def print_hardware(device: str = "cpu", threads: int = 0) -> None:
    """Prints :func:`hardware` as one block; the load average tells how busy the (shared) machine was."""
    print("== hardware ==")
    for key, value in hardware(device, threads).items():
        print(f"  {key}: {value}")


def load_texts(kind: str, n: int, seed: int = 0) -> list[str] | list[tuple[str, str]]:
    """``n`` real texts drawn with a fixed seed from the training data of the repository.

    Args:
        kind: ``"queries"`` (Alpaca/Tulu instructions), ``"responses"`` (SmolLM2's answers to them) or ``"pairs"``
            (query, response) tuples.
        n: How many.
        seed: Seed of the draw.
    """
    path = DATA / ("queries.jsonl" if kind == "queries" else "responses.jsonl")
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    if kind != "queries":
        rows = [r for r in rows if r["query"].strip() and r["response"].strip()]
    if n > len(rows):
        raise ValueError(f"{path} has only {len(rows)} usable rows, {n} asked for")
    rows = random.Random(seed).sample(rows, n)
    if kind == "queries":
        return [r["query"] for r in rows]
    if kind == "responses":
        return [r["response"] for r in rows]
    return [(r["query"], r["response"]) for r in rows]


def _status_kib(key: str) -> int:
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def rss_mib() -> float:
    """Resident memory of this process now (MiB)."""
    return _status_kib("VmRSS") / 1024


def peak_rss_mib() -> float:
    """Peak resident memory of this process since start or the last :func:`reset_peak_rss` (MiB)."""
    return _status_kib("VmHWM") / 1024


def reset_peak_rss() -> None:
    """Resets the kernel's peak-RSS counter to the current RSS (Linux ``/proc/self/clear_refs``)."""
    with open("/proc/self/clear_refs", "w", encoding="utf-8") as f:
        f.write("5")


def tensor_mib(*modules: Any) -> float:
    """Memory of the distinct tensor storages (parameters and buffers) of ``modules`` (MiB): what the model(s)
    occupy on a GPU. On CPU, safetensors weights are memory-mapped and only count in RSS once touched."""
    storages: dict[int, int] = {}
    for module in modules:
        for tensor in [*module.parameters(), *module.buffers()]:
            storage = tensor.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
    return sum(storages.values()) / 2**20


def time_call(fn: Callable[[], Any], sync: Callable[[], None] = lambda: None) -> float:
    """Wall-clock seconds of one call of ``fn``, synchronising the device before and after."""
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


def best_seconds(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> float:
    """The fastest of ``repeats`` timed calls of ``fn``, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def paired_rounds(
    fns: dict[str, Callable[[int], Any]], items: int, rounds: int, sync: Callable[[], None] = lambda: None
) -> dict[str, list[float]]:
    """Times several ways of processing the same ``items`` (e.g. batches), interleaved item by item.

    On a shared machine the load changes over seconds; running the contenders back to back on each item exposes them
    to the same load, so their ratio is far steadier than that of two whole passes run one after the other.

    Returns:
        For each name, its total seconds over all items, one value per round.
    """
    totals: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        sums = dict.fromkeys(fns, 0.0)
        for i in range(items):
            for name, fn in fns.items():
                sums[name] += time_call(lambda fn=fn, i=i: fn(i), sync)
        for name in fns:
            totals[name].append(sums[name])
    return totals


def median(values: Sequence[float]) -> float:
    """The median."""
    return statistics.median(values)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
    """Prints a Markdown table (ready to paste into docs/performance.md)."""
    if title:
        print(f"\n== {title} ==")
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def run_worker(cmd: Sequence[str], timeout: float = 1800) -> dict[str, Any]:
    """Runs a worker subprocess (one process per measurement, so its peak RSS is its own) and returns the JSON
    object it prints as its last line of standard output. The worker's standard error is passed through."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    proc = subprocess.run(list(cmd), stdout=subprocess.PIPE, stderr=sys.stderr, text=True, env=env, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"worker failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def emit(result: dict[str, Any]) -> None:
    """A worker's result: one JSON line on standard output."""
    print(json.dumps({**result, "load_average_1min_at_end": round(os.getloadavg()[0], 2)}), flush=True)
