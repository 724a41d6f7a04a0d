"""This package against the published implementation (PyPI ``llm2vec-gen`` 0.1.3): encoding and a training step.

    bash interop/setup_published_venv.sh     # once: .venv-published
    .venv/bin/python bench/published.py      # ~5 min at --threads 1 on one (busy) CPU core

Same backbone (the embedded SmolLM2-135M-Instruct, fp32, CPU), same texts, same batch size. A published-format
checkpoint (10 special tokens, random trained rows and projections, seeded) is built around the backbone as in
interop/published_parity.py. Every measurement runs in a fresh process (bench/_ours.py, bench/_published_worker.py),
so each peak RSS belongs to one implementation and one task:

- encode: texts/s of ``model.encode`` (ours) and ``LLM2VecGenModel.encode`` (published, handed batches of the same
  size in the same longest-first order, the instruction prepended as text), one warm-up pass, median of the rest;
- train: seconds per step of forward + backward with the online teacher (ours: ``LLM2VecGenLoss`` with the backbone
  as self teacher; published: collator -> ``EncoderDecoderModel`` -> ``get_teacher_embeddings`` -> MSE, see
  bench/_published_worker.py for why its loss is driven directly), tokenization included, no optimizer step; with
  and without activation checkpointing (the published recipe turns it on).

Memory, three ways: "model tensors" sums the distinct parameter and buffer storages of every model the
implementation holds (what they would occupy on a GPU); "peak RSS" is the kernel's high-water mark of resident memory
(VmHWM) over the whole process, imports and loading included; "during work" is that peak from the end of loading on.
On CPU the safetensors weights are memory-mapped, so a model copy only becomes resident once it is used.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ROOT, print_hardware, print_table, run_worker

BENCH = Path(__file__).resolve().parent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--published-python", default=str(ROOT / ".venv-published" / "bin" / "python"))
    parser.add_argument("--num-texts", type=int, default=64, help="encode: texts per pass")
    parser.add_argument("--encode-batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="encode: timed passes after one warm-up pass")
    parser.add_argument("--train-batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2, help="train: timed steps after one warm-up step")
    parser.add_argument("--checkpointing", choices=["off", "on", "both"], default="both")
    parser.add_argument("--skip", choices=["encode", "train"], action="append", default=[])
    parser.add_argument("--threads", type=int, default=0, help="torch threads in the workers (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def build_checkpoint(tmp: Path) -> tuple[str, str, list[str]]:
    """A published-format checkpoint around the embedded backbone: (checkpoint dir, 4.x backbone dir, specials)."""
    sys.path.insert(0, str(ROOT))  # the interop package at the repo root (this script runs with bench/ on sys.path)
    from interop.published_format import build, legacy_copy
    from st_llm2vec_gen.models.backbones import cached_gguf, embedded_gguf_path

    legacy = legacy_copy(str(cached_gguf(embedded_gguf_path())), tmp / "base-v4")
    truth = build(tmp / "published", legacy, num_tokens=10, encoded=10, dim=576, seed=0)
    return str(tmp / "published"), legacy, truth["special"]


def main() -> None:
    args = parse_args()
    if not Path(args.published_python).is_file():
        sys.exit(f"{args.published_python} not found: run `bash interop/setup_published_venv.sh` first")
    print_hardware(threads=args.threads)
    version = subprocess.run(
        [
            args.published_python,
            "-c",
            "import importlib.metadata as m; "
            "print(m.version('llm2vec-gen'), m.version('transformers'), m.version('torch'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    print(f"  published side: llm2vec-gen {version[0]}, transformers {version[1]}, torch {version[2]}")
    ours = [sys.executable, str(BENCH / "_ours.py")]
    seed = ["--seed", str(args.seed), "--threads", str(args.threads)]
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint, backbone, special = build_checkpoint(Path(tmp))
        theirs = [args.published_python, str(BENCH / "_published_worker.py")]
        location = [checkpoint, backbone, json.dumps(special)]
        if "encode" not in args.skip:
            sizes = [
                "--num-texts",
                str(args.num_texts),
                "--batch-size",
                str(args.encode_batch_size),
                "--rounds",
                str(args.rounds),
                *seed,
            ]
            print("\nencode: ours ...", flush=True)
            a = run_worker([*ours, "encode", *sizes])
            print("encode: published ...", flush=True)
            b = run_worker([*theirs, "encode", *location, *sizes])
            keys = ("texts_per_s", "tensor_mib", "peak_rss_mib", "work_peak_mib")
            rows = [[name, *(r[k] for k in keys)] for name, r in (("st_llm2vec_gen", a), ("llm2vec-gen 0.1.3", b))]
            rows.append(["ours / published", *(a[k] / b[k] for k in keys)])
            print_table(
                ["encode", "texts/s", "model tensors (MiB)", "peak RSS (MiB)", "peak RSS during work (MiB)"],
                rows,
                title=f"encode {args.num_texts} queries, batch {args.encode_batch_size}, CPU fp32",
            )
            print(f"  times (s) ours {a['times']}, published {b['times']}")
        if "train" in args.skip:
            return
        modes = {"off": [False], "on": [True], "both": [False, True]}[args.checkpointing]
        rows = []
        for checkpointing in modes:
            flag = ["--checkpointing"] if checkpointing else []
            sizes = ["--batch-size", str(args.train_batch_size), "--steps", str(args.steps), *seed, *flag]
            label = "on" if checkpointing else "off"
            print(f"\ntrain (checkpointing {label}): ours ...", flush=True)
            a = run_worker([*ours, "train", *sizes])
            print(f"train (checkpointing {label}): published ...", flush=True)
            b = run_worker([*theirs, "train", *location, *sizes])
            keys = ("s_per_step", "tensor_mib", "peak_rss_mib", "work_peak_mib")
            for name, r in (("st_llm2vec_gen", a), ("llm2vec-gen 0.1.3", b)):
                tokens = sum(r["response_tokens"]) // len(r["response_tokens"])
                rows.append([name, label, *(r[k] for k in keys), tokens])
                print(f"  {name}: step times {[round(t, 2) for t in r['times']]}, losses {r['losses'][-1]}")
            rows.append(["ours / published", label, *(a[k] / b[k] for k in keys), ""])
        print_table(
            [
                "train step",
                "checkpointing",
                "s/step",
                "model tensors (MiB)",
                "peak RSS (MiB)",
                "peak RSS during work (MiB)",
                "response tokens/batch",
            ],
            rows,
            title=f"training step, batch {args.train_batch_size}, fwd+bwd, CPU fp32",
        )


if __name__ == "__main__":
    main()
