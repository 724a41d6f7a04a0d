"""Training throughput before and after the speed work, interleaved in one process so machine load hits both alike.

    .venv/bin/python bench/train_speed.py                         # batch 8, 6 batches, 2 rounds, 2 threads
    .venv/bin/python bench/train_speed.py --batches 8 --rounds 3 --threads 1

The same real pairs (SmolLM2's answers in training/data/responses.jsonl, queries with the query instruction as
``train(query_prompt=...)`` formats them, teacher labels precomputed) go through one ``LLM2VecGenLoss`` forward +
backward per batch (no optimizer step) under three settings:

- ``before``: one pass over the whole query with autograd (``prefix_cache=False``), batches in random order of pairs;
- ``prefix reuse``: the query's keys/values computed without autograd, only the compression tokens backpropagate;
- ``after``: prefix reuse and length-grouped batches (``LengthGroupedBatchSampler``, as ``train()`` uses).

For each batch index the three settings run back to back in a rotating order, for ``--rounds`` rounds; samples/s is
the pairs processed over the summed time of each setting, so a change of machine load during the run affects all
three alike. The embedded default model is loaded once.
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import load_texts, print_hardware, print_table


def _batches(pairs: list[tuple[str, str]], batch_size: int, grouped: bool, seed: int) -> list[list[tuple[str, str]]]:
    if not grouped:
        return [pairs[i : i + batch_size] for i in range(0, len(pairs), batch_size)]
    from datasets import Dataset

    from st_llm2vec_gen.sampler import LengthGroupedBatchSampler

    data = Dataset.from_dict({"query": [q for q, _ in pairs], "response": [r for _, r in pairs]})
    sampler = LengthGroupedBatchSampler(data, batch_size, True, seed=seed, pool_batches=len(pairs) // batch_size)
    return [[pairs[i] for i in batch] for batch in sampler]


def _step(model, loss_fn, batch: list[tuple[str, str]], labels: dict[str, torch.Tensor]) -> float:
    module = model[0]
    start = time.perf_counter()
    query = module.preprocess([q for q, _ in batch])
    response = {**module.preprocess([r for _, r in batch], task="response"), "task": "response"}
    label = torch.stack([labels[r] for _, r in batch])
    sum(loss_fn([query, response], label).values()).backward()
    seconds = time.perf_counter() - start
    model.zero_grad(set_to_none=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batches", type=int, default=6, help="batches per setting and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print_hardware(threads=args.threads)

    from sentence_transformers import SentenceTransformer

    from st_llm2vec_gen import DEFAULT_MODEL, LLM2VecGenLoss
    from st_llm2vec_gen.teachers import SelfTeacher
    from st_llm2vec_gen.training import with_prompt

    model = SentenceTransformer(DEFAULT_MODEL, trust_remote_code=True, device="cpu")
    model.train()
    raw = load_texts("pairs", args.batch_size * args.batches, args.seed)
    queries = with_prompt([q for q, _ in raw], model.prompts["query"], model.prompts.values())
    pairs = list(zip(queries, [r for _, r in raw]))
    labels = dict(zip([r for _, r in pairs], SelfTeacher(model[0]).encode([r for _, r in pairs])))
    loss_fn = LLM2VecGenLoss(model)
    settings = {  # name: (prefix_cache, batches)
        "before": (False, _batches(pairs, args.batch_size, False, args.seed)),
        "prefix reuse": (True, _batches(pairs, args.batch_size, False, args.seed)),
        "after": (True, _batches(pairs, args.batch_size, True, args.seed)),
    }
    names = list(settings)
    _step(model, loss_fn, pairs[: args.batch_size], labels)  # warm-up
    seconds = dict.fromkeys(names, 0.0)
    for round_ in range(args.rounds):
        for j in range(args.batches):
            for k in range(len(names)):  # rotating order: none of the settings always runs first
                name = names[(j + k + round_) % len(names)]
                model[0].prefix_cache = settings[name][0]
                seconds[name] += _step(model, loss_fn, settings[name][1][j], labels)
        print(f"round {round_ + 1}: " + ", ".join(f"{n} {s:.1f} s" for n, s in seconds.items()), flush=True)
    samples = args.batch_size * args.batches * args.rounds
    rows = [[name, samples / seconds[name], seconds["before"] / seconds[name]] for name in names]
    title = f"LLM2VecGenLoss forward + backward, batch {args.batch_size}, CPU fp32, {args.threads} threads"
    print_table(["setting", "samples/s", "speed-up over before"], rows, title=title)


if __name__ == "__main__":
    main()
