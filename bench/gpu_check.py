"""The GPU training path, checked in minutes on a tiny random model built from a config (no downloads).

    python bench/gpu_check.py              # CUDA: bf16, SDPA, activation checkpointing, torchrun DDP on all GPUs
    python bench/gpu_check.py --dry-run    # the same checks on the CPU (bf16 on CPU, DDP over gloo): seconds

One line per check, ``PASS name detail`` or ``FAIL name detail``; the exit status is 1 if any check failed.

- ``bf16_head``: a bfloat16 backbone (SDPA attention) keeps a float32 head and gives finite float32 embeddings;
- ``sdpa_left_padding``: hidden states of a left-padded batch are finite at every position (padding rows included,
  a NaN there would leak through masked sums), and each text's embedding equals its embedding alone;
- ``bf16_vs_fp32``: a bf16 backbone's embeddings agree with fp32's (same head): cosine >= 0.999, relative L2 <= 2%;
- ``train_bf16``: ``train()`` with bf16 weights, bf16 autocast and activation checkpointing: finite losses, a
  float32 head that moved, the backbone bit-identical, the saved model reloads in bf16 with the same embeddings;
- ``ddp``: ``torchrun -m st_llm2vec_gen.cli.main train`` over the visible GPUs (NCCL; one process on a single GPU;
  two gloo processes with --dry-run): teacher labels computed once, finite losses, a loadable final model;
- ``decode``: greedy decoding and the logit lens from a bf16 backbone return text.

The tiny backbone is tests/tiny_models.py's (2-layer Llama, BPE tokenizer trained on the spot).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the package from this checkout; tests/tiny_models.py
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

TEXTS = [
    "Where do polar bears live?",
    "Paris",
    "How do plants turn sunlight, water and carbon dioxide into sugar and oxygen, and why does it matter?",
    "Summarize the following passage about the history of the printing press.",
]
RESPONSES = [
    "Polar bears live in the Arctic, on sea ice and snow.",
    "The capital of France is Paris.",
    "Photosynthesis turns sunlight, water and carbon dioxide into sugar and oxygen.",
    "The printing press spread books across Europe.",
]
MIN_COSINE, MAX_RELATIVE_ERROR = 0.999, 0.02


@dataclass
class Setup:
    """Where and how the checks run."""

    device: str
    backbone: str
    work: Path
    processes: int
    dry_run: bool


def agreement(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """(lowest cosine, highest relative L2 error) between the rows of two embedding matrices."""
    a, b = a.float().cpu(), b.float().cpu()
    cosine = torch.nn.functional.cosine_similarity(a, b).min().item()
    relative = ((a - b).norm(dim=-1) / a.norm(dim=-1)).max().item()
    return cosine, relative


def check_agreement(a: torch.Tensor, b: torch.Tensor, what: str) -> str:
    cosine, relative = agreement(a, b)
    detail = f"{what}: min cosine {cosine:.6f}, max relative error {relative:.2e}"
    assert cosine >= MIN_COSINE and relative <= MAX_RELATIVE_ERROR, detail
    return detail


def tiny_model(setup: Setup, dtype: str):
    from st_llm2vec_gen import create_model

    kwargs = {"dtype": dtype, "attn_implementation": "sdpa"}
    return create_model(setup.backbone, num_tokens=4, max_seq_length=64, model_kwargs=kwargs, device=setup.device)


# --------------------------------------------------------------------------------------------------------------------
# Checks: each returns a detail line or raises


def check_bf16_head(setup: Setup) -> str:
    model = tiny_model(setup, "bfloat16")
    module = model[0]
    head = {p.dtype for p in module.trainable_state_dict().values()}
    assert module.backbone.dtype == torch.bfloat16, f"backbone is {module.backbone.dtype}"
    assert head == {torch.float32}, f"head dtypes {head}"
    embeddings = model.encode(TEXTS, convert_to_tensor=True)
    assert embeddings.dtype == torch.float32 and torch.isfinite(embeddings).all(), "non-finite or non-fp32 output"
    attention = module.backbone.config._attn_implementation
    return f"backbone bf16 ({attention}), head fp32, embeddings {tuple(embeddings.shape)} fp32 and finite"


def check_sdpa_left_padding(setup: Setup) -> str:
    from st_llm2vec_gen.models.backbone_forward import hidden_states, masked_mean

    model = tiny_model(setup, "bfloat16")
    module = model[0]
    features = {k: v.to(setup.device) for k, v in module.preprocess(TEXTS).items()}
    padded = int((features["attention_mask"] == 0).sum())
    assert padded, "the batch has no left padding"
    with torch.no_grad():
        states = hidden_states(module.backbone, features["attention_mask"], input_ids=features["input_ids"])
        pooled = masked_mean(states, features["attention_mask"])
    bad = (~torch.isfinite(states)).any(-1).nonzero().tolist()
    assert not bad, f"non-finite hidden states at (row, position) {bad[:8]}"
    assert torch.isfinite(pooled).all(), "masked mean is not finite"
    batch = model.encode(TEXTS, convert_to_tensor=True)
    alone = torch.stack([model.encode([text], convert_to_tensor=True)[0] for text in TEXTS])
    return f"{padded} padding positions, all finite; " + check_agreement(alone, batch, "alone vs batch")


def check_bf16_vs_fp32(setup: Setup) -> str:
    fp32, bf16 = tiny_model(setup, "float32"), tiny_model(setup, "bfloat16")
    bf16[0].load_trainable_state({k: v.detach() for k, v in fp32[0].trainable_state_dict().items()})
    return check_agreement(fp32.encode(TEXTS, convert_to_tensor=True), bf16.encode(TEXTS, convert_to_tensor=True),
                           "bf16 vs fp32")  # fmt: skip


def write_pairs(folder: Path, count: int = 32) -> Path:
    path = folder / "pairs.jsonl"
    rows = [{"query": f"{TEXTS[i % 4]} ({i})", "response": RESPONSES[i % 4]} for i in range(count)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def training_settings(setup: Setup, output_dir: Path, steps: int) -> dict:
    """A bf16 + autocast + activation checkpointing run of ``steps`` steps, the recipes' GPU settings."""
    return {
        "model": {"backbone": setup.backbone, "num_tokens": 4, "max_seq_length": 64},
        "data": {"paths": [str(write_pairs(output_dir.parent))]},
        "dtype": "bfloat16", "attn_implementation": "sdpa", "batch_size": 8, "max_steps": steps, "schedule_steps": None,
        "args": {"output_dir": str(output_dir), "bf16": True, "activation_checkpointing": True, "warmup_steps": 0,
                 "learning_rate": 1e-3, "logging_steps": 1, "save_steps": steps,
                 **({"use_cpu": True} if setup.device == "cpu" else {})},
    }  # fmt: skip


def logged_losses(output_dir: Path) -> list[float]:
    history = json.loads((output_dir / "log_history.json").read_text())
    return [h["loss"] for h in history if "loss" in h]


def check_train_bf16(setup: Setup) -> str:
    from sentence_transformers import SentenceTransformer

    from st_llm2vec_gen.training import TrainConfig, train

    output_dir = setup.work / "train" / "run"
    output_dir.parent.mkdir(parents=True)
    config = TrainConfig.from_dict(training_settings(setup, output_dir, steps=6))
    if setup.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # the trainer prints its logs; one line per check here
        model = train(config)
    seconds = time.perf_counter() - start
    module = model[0]
    losses = logged_losses(output_dir)
    assert len(losses) == 6 and all(math.isfinite(x) for x in losses), f"losses {losses}"
    head = module.trainable_state_dict()
    assert {p.dtype for p in head.values()} == {torch.float32}, "the head left float32"
    initial = tiny_model(setup, "bfloat16")[0].trainable_state_dict()  # same seed: the head before training
    assert not torch.equal(head["compression_tokens"], initial["compression_tokens"]), "the head did not train"
    assert_backbone_untouched(module.backbone, setup)
    reloaded = SentenceTransformer(str(output_dir / "final"), trust_remote_code=True, device=setup.device)
    assert reloaded[0].backbone.dtype == torch.bfloat16, f"reloaded backbone {reloaded[0].backbone.dtype}"
    detail = check_agreement(model.encode(TEXTS, convert_to_tensor=True),
                             reloaded.encode(TEXTS, convert_to_tensor=True), "reloaded vs trained")  # fmt: skip
    memory = f", peak {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB" if setup.device.startswith("cuda") else ""
    return f"6 steps in {seconds:.1f} s{memory}, loss {losses[0]:.3f} -> {losses[-1]:.3f}; {detail}"


def assert_backbone_untouched(backbone: torch.nn.Module, setup: Setup) -> None:
    from st_llm2vec_gen.models import load_backbone

    fresh, _ = load_backbone(setup.backbone, {"dtype": "bfloat16"})
    trained = backbone.state_dict()
    changed = [k for k, v in fresh.state_dict().items() if not torch.equal(v, trained[k].cpu())]
    assert not changed, f"the frozen backbone changed: {changed[:3]}"


def check_ddp(setup: Setup) -> str:
    import yaml
    from sentence_transformers import SentenceTransformer

    output_dir = setup.work / "ddp" / "run"
    output_dir.parent.mkdir(parents=True)
    recipe = output_dir.parent / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(training_settings(setup, output_dir, steps=4)))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
               str(setup.processes), "-m", "st_llm2vec_gen.cli.main", "train", str(recipe)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=setup.work)
    seconds = time.perf_counter() - start
    assert result.returncode == 0, f"torchrun exited {result.returncode}: {result.stderr.strip()[-1500:]}"
    labels = result.stderr.count("Teacher self: embedding")
    assert labels == 1, f"teacher labels computed {labels} times"
    losses = logged_losses(output_dir)
    assert losses and all(math.isfinite(x) for x in losses), f"losses {losses}"
    model = SentenceTransformer(str(output_dir / "final"), trust_remote_code=True, device=setup.device)
    assert torch.isfinite(model.encode(TEXTS, convert_to_tensor=True)).all(), "final model embeds non-finite"
    backend = "gloo" if setup.device == "cpu" else "nccl"
    return f"{setup.processes} process(es), {backend}, {len(losses)} steps in {seconds:.0f} s, teacher labels once"


def check_decode(setup: Setup) -> str:
    model = tiny_model(setup, "bfloat16")
    decoded = model[0].decode(TEXTS, max_new_tokens=8)
    lens = model[0].logit_lens(TEXTS, top_k=5)
    assert all(isinstance(text, str) for text in decoded) and [len(w) for w in lens] == [5] * len(TEXTS)
    return f"{len(decoded)} texts decoded ({sum(map(len, decoded))} characters), logit lens top 5 for each"


CHECKS: list[tuple[str, Callable[[Setup], str]]] = [
    ("bf16_head", check_bf16_head),
    ("sdpa_left_padding", check_sdpa_left_padding),
    ("bf16_vs_fp32", check_bf16_vs_fp32),
    ("train_bf16", check_train_bf16),
    ("ddp", check_ddp),
    ("decode", check_decode),
]


# --------------------------------------------------------------------------------------------------------------------
def run_check(name: str, check: Callable[[Setup], str], setup: Setup) -> bool:
    """Runs one check and prints its line; True when it passed."""
    start = time.perf_counter()
    try:
        detail = check(setup)
    except Exception as error:  # any failure is this check's result, reported on one line
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"FAIL {name} {type(error).__name__}: {message[:2000]} ({time.perf_counter() - start:.1f} s)", flush=True)
        return False
    print(f"PASS {name} {detail} ({time.perf_counter() - start:.1f} s)", flush=True)
    return True


def make_setup(args: argparse.Namespace, work: Path) -> Setup | None:
    """The device and DDP size, or None (with a FAIL line) when no GPU is there and --dry-run is not given."""
    from tiny_models import save_backbone

    gpus = torch.cuda.device_count()
    if args.dry_run:
        device, processes = "cpu", args.processes or 2
    elif gpus:
        device, processes = "cuda", args.processes or gpus
    else:
        print("FAIL cuda no CUDA device is visible: run with --dry-run for the CPU path", flush=True)
        return None
    backbone = save_backbone(work / "backbone", "llama", hidden_size=64)
    return Setup(device=device, backbone=backbone, work=work, processes=processes, dry_run=args.dry_run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="run the checks on the CPU (bf16 on CPU, gloo)")
    parser.add_argument("--processes", type=int, default=0, help="DDP processes (default: GPUs, or 2 on the CPU)")
    parser.add_argument("--only", nargs="+", choices=[name for name, _ in CHECKS], help="run only these checks")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as folder:
        setup = make_setup(args, Path(folder))
        if setup is None:
            return 1
        name = torch.cuda.get_device_name(0) if setup.device == "cuda" else "cpu (dry run)"
        print(f"gpu_check: {name}, {torch.cuda.device_count()} GPU(s), torch {torch.__version__}, "
              f"DDP processes {setup.processes}", flush=True)  # fmt: skip
        if setup.device == "cuda" and setup.processes == 1:
            print("gpu_check: one GPU visible, so DDP runs as a single torchrun process", flush=True)
        results = [run_check(n, check, setup) for n, check in CHECKS if not args.only or n in args.only]
    failed = results.count(False)
    print(f"gpu_check: {len(results) - failed} passed, {failed} failed in {time.perf_counter() - start:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
