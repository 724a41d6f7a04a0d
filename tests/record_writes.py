"""Runs the llm2vec-gen CLI while recording every file this process writes, as ``rank<TAB>path`` lines.

    torchrun --nproc_per_node 2 tests/record_writes.py LOG train RECIPE

Used by tests/test_ddp.py to check that each checkpoint file is written by one rank only, how many times each rank
loads a backbone (``LOAD`` lines) and which backend its process group uses (``BACKEND:<name>`` lines).
"""

from __future__ import annotations

import builtins
import os
import sys

LOG = sys.argv.pop(1)
RANK = os.environ.get("RANK", "0")
_open, _replace = builtins.open, os.replace


def _record(path: object) -> None:
    with _open(LOG, "a", encoding="utf-8") as f:
        f.write(f"{RANK}\t{os.path.abspath(os.fspath(path))}\n")


def recording_open(file, mode="r", *args, **kwargs):
    if isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax+"):
        _record(file)
    return _open(file, mode, *args, **kwargs)


def recording_replace(src, dst, *args, **kwargs):
    _record(dst)
    return _replace(src, dst, *args, **kwargs)


builtins.open, os.replace = recording_open, recording_replace


def _record_backbone_loads() -> None:
    """Logs ``rank<TAB>LOAD`` for every causal-LM weight load: one per rank means one backbone in memory."""
    from transformers import AutoModelForCausalLM

    load = AutoModelForCausalLM.from_pretrained

    def recording_load(*args, **kwargs):
        _record("LOAD")
        return load(*args, **kwargs)

    AutoModelForCausalLM.from_pretrained = recording_load


def _record_backend() -> None:
    """Logs ``rank<TAB>BACKEND:<name>`` when the process group starts (gloo on CPU)."""
    import torch.distributed as dist

    init = dist.init_process_group

    def recording_init(*args, **kwargs):
        result = init(*args, **kwargs)
        _record(f"BACKEND:{dist.get_backend()}")
        return result

    dist.init_process_group = recording_init


if __name__ == "__main__":
    _record_backbone_loads()
    _record_backend()
    from st_llm2vec_gen.cli.main import main

    sys.exit(main(sys.argv[1:]))
