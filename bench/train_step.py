"""Training step of ``LLM2VecGenLoss``: seconds per step and peak memory, with and without activation checkpointing.

    .venv/bin/python bench/train_step.py                       # batch 8, 3 timed steps per setting, CPU fp32
    .venv/bin/python bench/train_step.py --batch-size 16 --steps 5 --threads 1

Each setting runs in a fresh process (bench/_ours.py train): the embedded default model, real query/response pairs
from training/data/responses.jsonl (SmolLM2's own answers, up to 96 tokens), forward + backward of both loss terms
with tokenization included and no optimizer step; one warm-up step, then the median of the timed ones. Settings:

- checkpointing off / on, with the backbone as online self teacher inside the step (the work of the published step);
- checkpointing off with the teacher embeddings precomputed as labels (what ``st_llm2vec_gen.training.run.train`` does),
  with and without the prefix KV reuse (``LLM2VecGen.prefix_cache``: the query runs without autograd and only the
  compression tokens backpropagate), with and without the query instruction before the query, and with the same
  pairs in length-grouped batches (``LengthGroupedBatchSampler``, what ``train()`` uses).

Activation checkpointing is the backbone's (``activation_checkpointing_enable``), which is what
``activation_checkpointing=True`` in the training arguments turns on.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _common import print_hardware, print_table, run_worker

BENCH = Path(__file__).resolve().parent
SETTINGS = {  # label: extra worker arguments
    "off, online self teacher": [],
    "on, online self teacher": ["--checkpointing"],
    "off, precomputed labels": ["--teacher", "precomputed"],
    "off, precomputed labels, no prefix reuse": ["--teacher", "precomputed", "--no-prefix-cache"],
    "off, precomputed labels, instruction": ["--teacher", "precomputed", "--query-prompt"],
    "off, precomputed labels, instruction, no prefix reuse": ["--teacher", "precomputed", "--query-prompt",
                                                               "--no-prefix-cache"],
    "off, precomputed labels, instruction, length-grouped": ["--teacher", "precomputed", "--query-prompt",
                                                              "--group-by-length"],
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up step")
    parser.add_argument("--threads", type=int, default=0, help="torch threads in the workers (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print_hardware(threads=args.threads)
    common = ["--batch-size", str(args.batch_size), "--steps", str(args.steps), "--seed", str(args.seed)]
    common += ["--threads", str(args.threads)]
    results = {}
    for label, extra in SETTINGS.items():
        print(f"\ncheckpointing {label} ...", flush=True)
        r = results[label] = run_worker([sys.executable, str(BENCH / "_ours.py"), "train", *common, *extra])
        r["growth_mib"] = r["work_peak_mib"] - r["rss_after_load_mib"]  # activations, gradients, temporaries
        print(f"  step times {[round(t, 2) for t in r['times']]}, load average at end {r['load_average_1min_at_end']}")
    keys = ("s_per_step", "samples_per_s", "peak_rss_mib", "growth_mib")
    rows = [[label, *(r[k] for k in keys), sum(r["response_tokens"]) // len(r["response_tokens"])]
            for label, r in results.items()]  # fmt: skip
    off, on = results["off, online self teacher"], results["on, online self teacher"]
    rows.append(["on / off (online teacher)", *(on[k] / off[k] for k in keys), ""])
    for suffix in ("", ", instruction"):
        reuse = results[f"off, precomputed labels{suffix}"]
        full = results[f"off, precomputed labels{suffix}, no prefix reuse"]
        rows.append([f"prefix reuse / none{suffix}", *(reuse[k] / full[k] for k in keys), ""])
    grouped, before = (
        results["off, precomputed labels, instruction, length-grouped"],
        results["off, precomputed labels, instruction, no prefix reuse"],
    )
    rows.append(["prefix reuse + length-grouped / neither, instruction", *(grouped[k] / before[k] for k in keys), ""])
    print_table(
        [
            "activation checkpointing",
            "s/step",
            "samples/s",
            "peak RSS (MiB)",
            "growth over loaded model (MiB)",
            "response tokens",
        ],
        rows,
        title=f"LLM2VecGenLoss step, batch {args.batch_size}, CPU fp32",
    )


if __name__ == "__main__":
    main()
