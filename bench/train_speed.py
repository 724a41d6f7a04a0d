"""Training throughput: number formats (the default) or the earlier speed work, interleaved in one process so machine
load hits every setting alike.

    .venv/bin/python bench/train_speed.py                         # fp32 vs bf16 backbone, batch 8, 6 batches, 2 rounds
    .venv/bin/python bench/train_speed.py --compare speedups      # the prefix-reuse / length-grouping settings
    .venv/bin/python bench/train_speed.py --batches 8 --rounds 3 --threads 1

The same real pairs (SmolLM2's answers in training/data/responses.jsonl, queries with the query instruction as
``train(query_prompt=...)`` formats them, teacher labels precomputed) go through one ``LLM2VecGenLoss`` forward +
backward per batch (no optimizer step).

``--compare formats``: the embedded default model with its backbone in float32 and in bfloat16 (the same float32
head; what ``train()`` picks by itself on a CPU with fast bf16), both with prefix reuse and length-grouped batches.

``--compare speedups``, in float32:

- ``before``: one pass over the whole query with autograd (``prefix_cache=False``), batches in random order of pairs;
- ``prefix reuse``: the query's keys/values computed without autograd, only the compression tokens backpropagate;
- ``after``: prefix reuse and length-grouped batches (``LengthGroupedBatchSampler``, as ``train()`` uses).

For each batch index the settings run back to back in a rotating order, for ``--rounds`` rounds; samples/s is the
pairs processed over the summed time of each setting, so a change of machine load during the run affects all alike.
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

    from st_llm2vec_gen.training.sampler import LengthGroupedBatchSampler

    data = Dataset.from_dict({"query": [q for q, _ in pairs], "response": [r for _, r in pairs]})
    sampler = LengthGroupedBatchSampler(data, batch_size, True, seed=seed, pool_batches=len(pairs) // batch_size)
    return [[pairs[i] for i in batch] for batch in sampler]


def _step(model, loss_fn, batch: list[tuple[str, str]], labels: dict[str, torch.Tensor]) -> tuple[float, float]:
    """Seconds of one forward + backward, and the loss."""
    module = model[0]
    start = time.perf_counter()
    query = module.preprocess([q for q, _ in batch])
    response = {**module.preprocess([r for _, r in batch], task="response"), "task": "response"}
    label = torch.stack([labels[r] for _, r in batch])
    loss = sum(loss_fn([query, response], label).values())
    loss.backward()
    seconds = time.perf_counter() - start
    model.zero_grad(set_to_none=True)
    return seconds, loss.item()


def _model(dtype: str):
    from sentence_transformers import SentenceTransformer

    from st_llm2vec_gen import DEFAULT_MODEL

    model = SentenceTransformer(DEFAULT_MODEL, trust_remote_code=True, device="cpu", model_kwargs={"dtype": dtype})
    return model.train()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compare", choices=["formats", "speedups"], default="formats")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batches", type=int, default=6, help="batches per setting and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print_hardware(threads=args.threads)

    from st_llm2vec_gen import LLM2VecGenLoss
    from st_llm2vec_gen.models.backbones import fast_cpu_bf16
    from st_llm2vec_gen.models.inputs import with_prompt
    from st_llm2vec_gen.training.dataset import split_prompt
    from st_llm2vec_gen.training.teachers import SelfTeacher

    print(f"fast bf16 detected: {fast_cpu_bf16()}")
    fp32 = _model("float32")
    raw = load_texts("pairs", args.batch_size * args.batches, args.seed)
    prompts, query_prompt = fp32.prompts, fp32.prompts["query"]  # queries stored without a prompt get the query one
    queries = [q if split_prompt(q, prompts)[0] else with_prompt(query_prompt, q) for q, _ in raw]
    pairs = list(zip(queries, [r for _, r in raw]))
    labels = dict(zip([r for _, r in pairs], SelfTeacher(fp32[0]).encode([r for _, r in pairs])))
    grouped = _batches(pairs, args.batch_size, True, args.seed)
    if args.compare == "formats":  # name: (model, prefix_cache, batches)
        settings = {"fp32": (fp32, True, grouped), "bf16 backbone": (_model("bfloat16"), True, grouped)}
    else:
        shuffled = _batches(pairs, args.batch_size, False, args.seed)
        settings = {
            "before": (fp32, False, shuffled),
            "prefix reuse": (fp32, True, shuffled),
            "after": (fp32, True, grouped),
        }
    names = list(settings)
    losses = {name: LLM2VecGenLoss(model) for name, (model, _, _) in settings.items()}
    for name, (model, _, _) in settings.items():  # warm-up
        _step(model, losses[name], pairs[: args.batch_size], labels)
    seconds, loss_values = dict.fromkeys(names, 0.0), {name: [] for name in names}
    for round_ in range(args.rounds):
        for j in range(args.batches):
            for k in range(len(names)):  # rotating order: none of the settings always runs first
                name = names[(j + k + round_) % len(names)]
                model, prefix_cache, batches = settings[name]
                model[0].prefix_cache = prefix_cache
                took, loss = _step(model, losses[name], batches[j], labels)
                seconds[name] += took
                loss_values[name].append(loss)
        print(f"round {round_ + 1}: " + ", ".join(f"{n} {s:.1f} s" for n, s in seconds.items()), flush=True)
    samples = args.batch_size * args.batches * args.rounds
    first = names[0]
    rows = [[n, samples / seconds[n], seconds[first] / seconds[n], sum(loss_values[n]) / samples * args.batch_size]
            for n in names]  # fmt: skip
    title = f"LLM2VecGenLoss forward + backward, batch {args.batch_size}, CPU, {args.threads} threads"
    print_table(["setting", "samples/s", f"speed-up over {first}", "mean loss"], rows, title=title)


if __name__ == "__main__":
    main()
