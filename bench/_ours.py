"""Worker: one measurement of this package in its own process, printed as one JSON line (see bench/published.py).

    .venv/bin/python bench/_ours.py encode --num-texts 64 --batch-size 16
    .venv/bin/python bench/_ours.py train --batch-size 8 --steps 3 [--checkpointing] [--teacher precomputed]
        [--no-prefix-cache] [--query-prompt] [--group-by-length]

A fresh process per measurement makes its peak RSS its own: ``rss_after_load_mib`` is the resident memory once the
model is loaded, ``peak_rss_mib`` the peak over the whole process (loading included) and ``work_peak_mib`` the peak
from the end of loading to the end of the measured work (warm-up included).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _common import emit, load_texts, median, peak_rss_mib, reset_peak_rss, rss_mib, tensor_mib


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["encode", "train"])
    parser.add_argument("--num-texts", type=int, default=64, help="encode: texts per timed pass")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="encode: timed passes after a warm-up pass")
    parser.add_argument("--steps", type=int, default=3, help="train: timed steps after a warm-up step")
    parser.add_argument("--checkpointing", action="store_true", help="train: activation checkpointing on")
    parser.add_argument("--teacher", choices=["online", "precomputed"], default="online", help="train: see train()")
    parser.add_argument("--no-prefix-cache", action="store_true", help="train: backpropagate through the whole query")
    parser.add_argument("--query-prompt", action="store_true", help="train: queries carry the query instruction")
    parser.add_argument("--group-by-length", action="store_true", help="train: length-grouped batches of the pairs")
    parser.add_argument("--prompt", default="Generate a passage that answers this question:")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def load_model():
    """The embedded default model, fp32 on CPU."""
    from sentence_transformers import SentenceTransformer

    from st_llm2vec_gen import DEFAULT_MODEL

    return SentenceTransformer(DEFAULT_MODEL, trust_remote_code=True, device="cpu")


def encode(args: argparse.Namespace) -> dict:
    """Texts/s of ``model.encode`` over ``num_texts`` queries (the prompt passed as the ST prompt)."""
    model = load_model()
    after_load, load_peak = rss_mib(), peak_rss_mib()
    reset_peak_rss()
    texts = load_texts("queries", args.num_texts, args.seed)
    model.encode(texts, batch_size=args.batch_size, prompt=args.prompt)  # warm-up
    times = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        model.encode(texts, batch_size=args.batch_size, prompt=args.prompt)
        times.append(time.perf_counter() - start)
    return {
        "texts_per_s": len(texts) / median(times),
        "times": times,
        "tensor_mib": tensor_mib(model),
        "rss_after_load_mib": after_load,
        "peak_rss_mib": max(load_peak, peak_rss_mib()),
        "work_peak_mib": peak_rss_mib(),
    }


def train(args: argparse.Namespace) -> dict:
    """Seconds per step of ``LLM2VecGenLoss`` forward + backward (tokenization included, no optimizer step).

    With ``--teacher online`` the backbone is the self teacher inside the step (mean of its final hidden states over
    the response), like the published step that runs its teacher in the step; with ``precomputed`` the teacher
    embeddings come as labels, computed before timing, as ``st_llm2vec_gen.training.run.train`` does.
    """
    from st_llm2vec_gen import LLM2VecGenLoss
    from st_llm2vec_gen.training.teachers import SelfTeacher

    torch.manual_seed(args.seed)
    model = load_model()
    if args.checkpointing:
        model[0].backbone.activation_checkpointing_enable()
    model.train()
    loss_fn = LLM2VecGenLoss(model)
    module = model[0]
    module.prefix_cache = not args.no_prefix_cache
    prompt = model.prompts["query"] if args.query_prompt else None
    after_load, load_peak = rss_mib(), peak_rss_mib()
    reset_peak_rss()
    pairs = load_texts("pairs", args.batch_size * (args.steps + 1), args.seed)
    batches = [pairs[i : i + args.batch_size] for i in range(0, len(pairs), args.batch_size)]
    if args.group_by_length:  # the same pairs, grouped as training groups them (one pool)
        from datasets import Dataset

        from st_llm2vec_gen.training.sampler import LengthGroupedBatchSampler

        data = Dataset.from_dict({"query": [q for q, _ in pairs], "response": [r for _, r in pairs]})
        grouped = LengthGroupedBatchSampler(data, args.batch_size, True, seed=args.seed, pool_batches=len(batches))
        batches = [[pairs[i] for i in batch] for batch in grouped]
    labels = [None] * len(batches)
    if args.teacher == "precomputed":
        labels = [SelfTeacher(module).encode([r for _, r in batch]) for batch in batches]
    times, losses = [], []
    for batch, label in zip(batches, labels):  # the first is the warm-up
        start = time.perf_counter()
        query = module.preprocess([q for q, _ in batch], prompt=prompt)
        response = {**module.preprocess([r for _, r in batch], task="response"), "task": "response"}
        parts = loss_fn([query, response], label)
        total = sum(parts.values())
        total.backward()
        times.append(time.perf_counter() - start)
        losses.append({k: v.item() for k, v in parts.items()})
        model.zero_grad(set_to_none=True)
    tokens = [int(module.preprocess([r for _, r in b], task="response")["attention_mask"].sum()) for b in batches]
    return {
        "s_per_step": median(times[1:]),
        "samples_per_s": args.batch_size * len(times[1:]) / sum(times[1:]),
        "times": times[1:],
        "losses": losses,
        "response_tokens": tokens,
        "tensor_mib": tensor_mib(model),
        "rss_after_load_mib": after_load,
        "peak_rss_mib": max(load_peak, peak_rss_mib()),
        "work_peak_mib": peak_rss_mib(),
    }


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    emit({"encode": encode, "train": train}[args.what](args) | {"threads": torch.get_num_threads()})


if __name__ == "__main__":
    np.random.seed(0)
    main()
