"""Measures response-generation throughput on the CPU for several batch sizes and ``max_new_tokens`` caps at once.

    OMP_NUM_THREADS=1 python training/scripts/measure_generation.py \
        --queries training/data/corpus/queries.jsonl.gz --n 64 --batch-sizes 16 32 --caps 96 128 160

Greedy decoding is deterministic, so the answer under a cap ``m`` is the first ``m`` tokens of the answer under the
largest cap. One run at the largest cap therefore gives every smaller cap: a per-step clock records when each token
step ends, and a batch under cap ``m`` costs the time up to step ``min(m, steps it ran)``. Prompts are built as the
generation engine builds them (one user turn in the chat template, left padding, KV cache, all end ids).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from dataclasses import dataclass

import torch
from transformers import GenerationConfig, StoppingCriteria, StoppingCriteriaList

from st_llm2vec_gen.io.records import iter_jsonl
from st_llm2vec_gen.models.backbones import EMBEDDED_BACKBONE, load_backbone


class StepClock(StoppingCriteria):
    """Records the time at the end of every generation step; never stops generation."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: object) -> torch.Tensor:
        self.times.append(time.perf_counter())
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


@dataclass
class BatchRun:
    """One batch at the largest cap: when it started, when each step ended, each answer's length in tokens."""

    start: float
    steps: list[float]
    lengths: list[int]  # tokens up to and including the end token; cap + 1 when it never ended

    def seconds(self, cap: int) -> float:
        """The time this batch takes under ``cap``."""
        return self.steps[min(cap, len(self.steps)) - 1] - self.start


def read_queries(path: str, n: int) -> list[str]:
    """The first ``n`` queries of a JSONL file, gzipped or not."""
    return [row["query"] for _, row in itertools.islice(iter_jsonl(path), n)]


def run_batch(model, tokenizer, queries: list[str], cap: int, max_query_length: int) -> BatchRun:
    """Generates one left-padded batch greedily, clocking every step."""
    cut = [tokenizer.decode(tokenizer(q, add_special_tokens=False)["input_ids"][:max_query_length]) for q in queries]
    prompts = [
        tokenizer.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
        for q in cut
    ]
    encoded = tokenizer(prompts, add_special_tokens=False, padding=True, padding_side="left", return_tensors="pt")
    eos = model.generation_config.eos_token_id
    eos = eos if isinstance(eos, list) else [eos if eos is not None else tokenizer.eos_token_id]
    config = GenerationConfig(
        max_new_tokens=cap, do_sample=False, use_cache=True, eos_token_id=eos, pad_token_id=tokenizer.pad_token_id
    )
    clock = StepClock()
    start = time.perf_counter()
    with torch.inference_mode():
        ids = model.generate(**encoded, generation_config=config, stopping_criteria=StoppingCriteriaList([clock]))
    new = ids[:, encoded["input_ids"].shape[1] :]
    ended = torch.isin(new, torch.tensor(eos))
    lengths = [int(row.nonzero()[0, 0]) + 1 if row.any() else cap + 1 for row in ended]
    return BatchRun(start, clock.times, lengths)


def summarize(runs: list[BatchRun], caps: list[int]) -> list[dict]:
    """Per cap: seconds, queries per hour, the share of answers that ended before the cap, mean answer tokens."""
    lengths = [length for run in runs for length in run.lengths]
    rows = []
    for cap in caps:
        seconds = sum(run.seconds(cap) for run in runs)
        complete = sum(length <= cap for length in lengths)
        rows.append(
            {
                "cap": cap,
                "seconds": round(seconds, 1),
                "queries_per_hour": round(3600 * len(lengths) / seconds),
                "complete_share": round(complete / len(lengths), 3),
                "complete_per_hour": round(3600 * complete / seconds),
                "mean_tokens": round(sum(min(length, cap) for length in lengths) / len(lengths), 1),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", required=True)
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--caps", type=int, nargs="+", default=[96, 112, 128, 144, 160])
    parser.add_argument("--max-query-length", type=int, default=512)
    parser.add_argument("--sort", action="store_true", help="sort the sample by length first (length-sorted blocks)")
    parser.add_argument("--backbone", default=EMBEDDED_BACKBONE)
    args = parser.parse_args()
    queries = read_queries(args.queries, args.n)
    if args.sort:
        queries.sort(key=len)
    model, tokenizer = load_backbone(args.backbone)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    run_batch(model, tokenizer, queries[:2], 4, args.max_query_length)  # warm-up, not timed
    print(f"torch threads {torch.get_num_threads()}, {len(queries)} queries, sorted={args.sort}")
    for size in args.batch_sizes:
        runs = [
            run_batch(model, tokenizer, queries[i : i + size], max(args.caps), args.max_query_length)
            for i in range(0, len(queries), size)
        ]
        for row in summarize(runs, args.caps):
            print(json.dumps({"batch_size": size, **row}), flush=True)


if __name__ == "__main__":
    main()
