"""Greedy answer generation on the CPU: plain ``generate`` against ``FastGreedy``, both against the compute bound.

    .venv/bin/python bench/generation_speed.py            # 96 corpus queries, batch 32, 96 tokens, bf16, 2 threads
    .venv/bin/python bench/generation_speed.py --n 256 --batch-size 64 --profile
    .venv/bin/python bench/generation_speed.py --dtype float32 --n 64   # the token-for-token check in fp32

1. The machine: CPU model and the flags that decide bf16 speed, then the matrix-product peak at the shapes of one
   decoding step (query/key/value and gate/up fused, output, down and lm_head products with ``batch`` rows) and of a
   prefill, bf16 and fp32, best of ``F.linear`` and the oneDNN-prepacked product, hot caches (an upper bound).
2. The compute bound: FLOPs of the useful work (every prompt token through the layers, every answer token through
   the layers and lm_head, attention over each token's real context) at those peaks. Answers that end early cost
   nothing, padding and finished rows are not counted: the bound is what the answers need. Next to it the memory
   side of a roofline: decoding must read all weights once a step and each row's cached keys and values once a
   token, at the read bandwidth measured here (summing 512 MiB).
3. ``TransformersEngine.answer`` (``generate``, left-padded batches in input order) and ``FastGreedy.answer`` on the
   same queries and settings (greedy, ``--max-new-tokens``, ``--batch-size``), one after the other, ``--rounds``
   times. Printed: wall and CPU seconds, answers/s, ms per step (a step gives one token to every row; a prefill
   counts as one), fraction of the bound, speed-up, and how many answers are identical. ``FastGreedy`` also runs on
   ``generate``'s batches (input order, no refill, no compaction; ``--no-same-batches`` skips it): those answers
   should be identical to the last token, so the differences of the default run come from batch composition alone.
   ``--contiguous-head`` adds ``generate`` with one fix only: the prefill's ``lm_head`` on a contiguous last position
   (on the (B, 1, H) view that ``logits_to_keep=1`` slices, torch multiplies batch-wise and copies the lm_head weight
   once per row). ``--profile`` prints where ``FastGreedy``'s time goes.

The machine is shared: compare the ratios of one run (both paths see the same load), and read the load average.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import time

import torch
import torch.nn.functional as F
from _common import DATA, best_seconds, print_hardware, print_table

from st_llm2vec_gen.generation.engines import GenerationSettings, TransformersEngine, chat_prompts
from st_llm2vec_gen.generation.fast_greedy import FastGreedy
from st_llm2vec_gen.models.backbones import EMBEDDED_BACKBONE, load_backbone


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=96, help="corpus queries (a fixed-seed sample)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--max-query-length", type=int, default=512)
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--rounds", type=int, default=1, help="baseline + fast runs, one after the other")
    parser.add_argument("--queries", default=str(DATA / "corpus" / "queries.jsonl.gz"))
    parser.add_argument("--backbone", default=EMBEDDED_BACKBONE)
    parser.add_argument("--skip-baseline", action="store_true", help="only FastGreedy (no speed-up, no comparison)")
    parser.add_argument(
        "--same-batches",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also FastGreedy on generate's batches (input order, no refill or compaction)",
    )
    parser.add_argument(
        "--contiguous-head",
        action="store_true",
        help="also generate with lm_head's input made contiguous (a forward pre-hook): the prefill fix alone",
    )
    parser.add_argument("--profile", action="store_true", help="profile one FastGreedy run (top operators)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def read_queries(path: str, n: int, seed: int) -> list[str]:
    """``n`` queries drawn with a fixed seed from a JSONL file (gzipped or not) with a ``query`` field."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line)["query"] for line in f if line.strip()]
    return random.Random(seed).sample(rows, n)


def _products(model) -> list[tuple[int, int]]:
    """(in, out) of the products of one decoding step per layer: qkv and gate/up fused, as FastGreedy runs them."""
    attn, mlp = model.model.layers[0].self_attn, model.model.layers[0].mlp
    qkv = sum(m.weight.shape[0] for m in (attn.q_proj, attn.k_proj, attn.v_proj))
    hidden, inner = attn.q_proj.weight.shape[1], mlp.gate_proj.weight.shape[0]
    return [(hidden, qkv), (attn.o_proj.weight.shape[1], hidden), (hidden, 2 * inner), (inner, hidden)]


def product_seconds(model, rows: int, dtype: torch.dtype, with_head: bool, repeats: int = 5) -> tuple[float, float]:
    """Best seconds of one step's products with ``rows`` rows (all layers, + lm_head if asked) and their FLOPs.

    Each product is timed alone, its weight hot in cache, best of ``F.linear`` and the oneDNN-prepacked product.
    """
    shapes = _products(model)  # per layer
    layers = len(model.model.layers)
    hidden, vocab = model.lm_head.weight.shape[1], model.lm_head.weight.shape[0]
    seconds = flops = 0.0
    for (k, n), count in [*((shape, layers) for shape in shapes), *([((hidden, vocab), 1)] if with_head else [])]:
        x, w = torch.randn(rows, k, dtype=dtype), torch.randn(n, k, dtype=dtype) * 0.02
        best = best_seconds(lambda x=x, w=w: F.linear(x, w), repeats)
        if dtype == torch.bfloat16:
            try:
                packed = torch.ops.mkldnn._reorder_linear_weight(w, rows)
                run = lambda x=x, p=packed: torch.ops.mkldnn._linear_pointwise(x, p, None, "none", [], "")  # noqa: E731
                best = min(best, best_seconds(run, repeats))
            except (AttributeError, RuntimeError):
                pass
        seconds += best * count
        flops += 2 * rows * k * n * count
    return seconds, flops


def peaks(model, batch: int, prefill_rows: int) -> dict[str, float]:
    """GFLOP/s of a decoding step's and a prefill's products, bf16 and fp32."""
    out = {}
    for dtype in (torch.bfloat16, torch.float32):
        name = str(dtype).removeprefix("torch.")
        for kind, rows, head in (("step", batch, True), ("prefill", prefill_rows, False)):
            seconds, flops = product_seconds(model, rows, dtype, head)
            out[f"{name}_{kind}"] = flops / seconds / 1e9
    return out


def read_bandwidth(repeats: int = 3) -> float:
    """Memory read bandwidth (GB/s): summing a 512 MiB buffer, best of ``repeats``, with this process's threads."""
    buffer = torch.ones(2**27)  # 512 MiB of fp32, far beyond any cache share
    return 2**29 / best_seconds(buffer.sum, repeats) / 1e9


def workload_bytes(model, prompt_lengths: list[int], answer_lengths: list[int], batch: int) -> float:
    """Bytes that decoding must read at least: all weights once per step of ``batch`` rows, each row's cached keys
    and values once per token it adds (the roofline's memory side; prefill is compute-bound and left out)."""
    config, size = model.config, model.dtype.itemsize
    layers = len(model.model.layers)
    weights = (sum(k * n for k, n in _products(model)) * layers + model.lm_head.weight.numel()) * size
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    per_position = 2 * layers * config.num_key_value_heads * head_dim * size  # keys and values, all layers
    tokens = sum(max(0, answer - 1) for answer in answer_lengths)
    cache = sum(
        per_position * (prompt + i) for prompt, answer in zip(prompt_lengths, answer_lengths) for i in range(1, answer)
    )
    return -(-tokens // batch) * weights + cache


def workload_flops(model, prompt_lengths: list[int], answer_lengths: list[int]) -> tuple[float, float]:
    """FLOPs of the useful work: (prefill: all prompt tokens, decoding: every answer token after the first).

    Per token: 2 x (layer weights) [+ 2 x lm_head for a token whose logits are needed] + attention 4 x heads x
    head_dim x context per layer (scores and weighted values).
    """
    config = model.config
    layers = len(model.model.layers)
    layer_params = sum(k * n for k, n in _products(model))
    head_params = model.lm_head.weight.numel()
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    attn = 4 * config.num_attention_heads * head_dim * layers
    prefill = decode = 0.0
    for prompt, answer in zip(prompt_lengths, answer_lengths):
        prefill += prompt * 2 * layer_params * layers + 2 * head_params + attn * prompt * (prompt + 1) / 2
        for i in range(1, answer):  # the first answer token comes from the prefill
            decode += 2 * (layer_params * layers + head_params) + attn * (prompt + i)
    return prefill, decode


class StepCounter:
    """Wraps ``model.generate`` to count the steps of each call (new tokens of the longest row)."""

    def __init__(self, model) -> None:
        self.model, self.generate, self.steps = model, model.generate, 0

    def __call__(self, input_ids: torch.Tensor, **kwargs) -> torch.Tensor:
        ids = self.generate(input_ids=input_ids, **kwargs)
        self.steps += ids.shape[1] - input_ids.shape[1]
        return ids


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    print_hardware()
    model, tokenizer = load_backbone(args.backbone, {"dtype": args.dtype})
    queries = read_queries(args.queries, args.n, args.seed)
    prompts = chat_prompts(tokenizer, queries, args.max_query_length)
    prompt_lengths = [len(ids) for ids in tokenizer(prompts, add_special_tokens=False)["input_ids"]]
    mean_prompt = sum(prompt_lengths) / len(prompt_lengths)
    print(
        f"\n{args.n} queries, prompts {min(prompt_lengths)}-{max(prompt_lengths)} tokens (mean {mean_prompt:.0f}), "
        f"batch {args.batch_size}, {args.max_new_tokens} new tokens, {args.dtype}, {args.threads} threads"
    )

    settings = GenerationSettings(
        max_new_tokens=args.max_new_tokens, batch_size=args.batch_size, max_query_length=args.max_query_length
    )
    engine = TransformersEngine(model, tokenizer)
    counter = StepCounter(model)
    model.generate = counter  # the engine calls backbone.generate: counted, unchanged
    fast = FastGreedy(model, tokenizer)
    same = FastGreedy(model, tokenizer, sort_by_length=False, refill_min=args.batch_size, compact=False)
    start = time.perf_counter()  # warm-up: oneDNN builds its kernels per shape on first use
    engine.answer(queries[: args.batch_size], GenerationSettings(max_new_tokens=4, batch_size=args.batch_size))
    fast.answer(queries[: args.batch_size], 4, args.batch_size, args.max_query_length)
    print(f"warm-up {time.perf_counter() - start:.1f} s")
    prefill_rows = min(4096, int(args.batch_size * mean_prompt))
    peak = peaks(model, args.batch_size, prefill_rows)

    bandwidth = read_bandwidth()
    names = ("generate", "generate, contiguous lm_head input", "FastGreedy", "FastGreedy same batches")
    runs: dict[str, list[tuple[float, float, int, list]]] = {name: [] for name in names}
    for _ in range(args.rounds):
        if not args.skip_baseline:
            counter.steps, start, cpu = 0, time.perf_counter(), time.process_time()
            answers = engine.answer(queries, settings)
            runs["generate"].append((time.perf_counter() - start, time.process_time() - cpu, counter.steps, answers))
        if args.contiguous_head and not args.skip_baseline:  # lm_head(x[:, -1:]) copies its weight per row, not so
            hook = model.lm_head.register_forward_pre_hook(lambda module, inputs: (inputs[0].contiguous(),))
            counter.steps, start, cpu = 0, time.perf_counter(), time.process_time()
            answers = engine.answer(queries, settings)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            runs["generate, contiguous lm_head input"].append((seconds, cpu, counter.steps, answers))
            hook.remove()
        for name, path in (("FastGreedy", fast), ("FastGreedy same batches", same)):
            if path is same and not args.same_batches:
                continue
            start, cpu = time.perf_counter(), time.process_time()
            answers = path.answer(queries, args.max_new_tokens, args.batch_size, args.max_query_length)
            runs[name].append((time.perf_counter() - start, time.process_time() - cpu, path.stats["steps"], answers))
    after = peaks(model, args.batch_size, prefill_rows)  # the load changes: keep the best seen
    peak = {key: max(value, after[key]) for key, value in peak.items()}
    bandwidth = max(bandwidth, read_bandwidth())
    print_table(
        ["products", "bf16 GFLOP/s", "fp32 GFLOP/s"],
        [
            [f"decoding step ({args.batch_size} rows)", peak["bfloat16_step"], peak["float32_step"]],
            [f"prefill ({prefill_rows} rows)", peak["bfloat16_prefill"], peak["float32_prefill"]],
        ],
        "matrix-product peak at the step's shapes (best of F.linear / prepacked, hot caches)",
    )

    prefill, decode = workload_flops(model, prompt_lengths, fast.lengths)
    prefill_s = prefill / peak[f"{args.dtype}_prefill"] / 1e9
    bound = prefill_s + decode / peak[f"{args.dtype}_step"] / 1e9
    bound_step_ms = decode / max(1, sum(fast.lengths) - args.n) * args.batch_size / peak[f"{args.dtype}_step"] / 1e6
    memory = workload_bytes(model, prompt_lengths, fast.lengths, args.batch_size) / bandwidth / 1e9
    roofline = prefill_s + max(memory, bound - prefill_s)
    print(
        f"\ncompute bound: {prefill / 1e12:.2f} TFLOP prefill + {decode / 1e12:.2f} TFLOP decoding = {bound:.1f} s, "
        f"{args.n / bound:.2f} answers/s; a full step of {args.batch_size} rows {bound_step_ms:.0f} ms"
    )
    print(
        f"memory: {bandwidth:.1f} GB/s read; decoding reads the weights once a step and each row's cache once a "
        f"token: {memory:.1f} s; roofline bound (prefill + max(compute, memory)) {roofline:.1f} s"
    )
    report(args, runs, bound, bound_step_ms, roofline)
    print(
        f"answers cut at {args.max_new_tokens} tokens: {sum(g.truncated for g in runs['FastGreedy'][-1][3])}/{args.n}"
        f"; mean answer {sum(fast.lengths) / args.n:.1f} tokens; load average now {os.getloadavg()[0]:.2f}"
    )
    if args.profile:
        profile_run(fast, queries, args)


def report(args: argparse.Namespace, runs: dict, bound: float, bound_step_ms: float, roofline: float) -> None:
    """The table of the runs: speed, fractions of the bounds, speed-up over generate, answers equal to generate's."""
    reference = runs["generate"][-1][3] if runs["generate"] else None
    base = min(r[0] for r in runs["generate"]) if runs["generate"] else None
    rows = []
    for name, results in runs.items():
        if results:
            seconds, cpu, steps, answers = min(results, key=lambda r: r[0])
            same = "" if reference is None else f"{sum(a == b for a, b in zip(answers, reference))}/{args.n}"
            speed_up = "" if base is None else base / seconds
            rows.append([name, seconds, cpu, args.n / seconds, 1e3 * seconds / steps, bound / seconds,
                         bound * args.threads / cpu, roofline / seconds, speed_up, same])  # fmt: skip
    for name, seconds, step in (("compute bound", bound, bound_step_ms), ("roofline bound", roofline, "")):
        rows.append([name, seconds, "", args.n / seconds, step, bound / seconds, "", roofline / seconds, "", ""])
    headers = ["path", "wall s", "cpu s", "answers/s", "ms/step", "of bound", "of bound (cpu s)", "of roofline",
               "speed-up", "identical to generate"]  # fmt: skip
    print_table(headers, rows, f"greedy answers, best of {args.rounds} round(s)")
    print(
        "ms/step: wall time over forward passes (decoding steps and prefills); bound rows: a full step of the batch. "
        "of bound (cpu s): the bound over the process's CPU seconds per thread (less sensitive to other load)."
    )


def profile_run(fast: FastGreedy, queries: list[str], args: argparse.Namespace) -> None:
    """Where FastGreedy's time goes: products, attention and the rest, per decoding step (profiler overhead in)."""
    from torch.profiler import profile

    with profile() as prof:
        fast.answer(queries, args.max_new_tokens, args.batch_size, args.max_query_length)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    groups = {"products (oneDNN prepacked / mm)": ("mkldnn::_linear_pointwise", "aten::mm", "aten::addmm"),
              "attention (SDPA)": ("aten::_scaled_dot_product_flash_attention_for_cpu",)}  # fmt: skip
    rows, rest = [], total
    for name, keys in groups.items():
        spent = sum(e.self_cpu_time_total for e in events if e.key in keys)
        rows.append([name, spent / 1e3 / fast.stats["steps"], spent / total])
        rest -= spent
    rows.append(["everything else (elementwise, cache writes, Python)", rest / 1e3 / fast.stats["steps"], rest / total])
    print_table(["part", "ms per step", "share"], rows, "FastGreedy profile (prefill included in products)")
    print(events.table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
