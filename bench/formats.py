"""Number formats on this CPU: the matrix-product roofline per format, and what encoding and decoding reach of it.

    .venv/bin/python bench/formats.py                      # 64 queries, batch 16, 2 rounds, torch's threads
    .venv/bin/python bench/formats.py --threads 1 --num-texts 128

1. Roofline: a matrix product at the backbone's shapes (``--m`` rows of activations, SmolLM2's 576 -> 1536 MLP
   projection) in fp32, bf16 and int8 (``torch._int_mm``), GFLOP/s (GOP/s for int8) at its best of several runs.
2. Encoding the same queries with the embedded default model loaded four ways: float32 (``model_kwargs={"dtype":
   "float32"}``), the default (no dtype: :func:`~st_llm2vec_gen.models.backbones.default_dtype` decides, bf16 on a
   CPU with fast bf16), int8 (``quantize_for_cpu`` on float32) and int8 on the bf16 backbone. Batches are timed
   interleaved, round after round, so load on a shared machine hits all alike. Per format: texts/s, speed-up over
   fp32, the fraction of that format's matrix-product peak (2 x linear-layer parameters x real tokens per pass;
   attention's own products are left out, so it slightly under-counts), the lowest cosine to the fp32 embedding,
   and the backbone's weight memory.
3. Batch invariance per format: each text encoded alone against within its batch (max abs difference, min cosine).
4. Decoding the docs' three questions (40 new tokens, KV cache) in fp32 and the default format: tokens/s and
   whether the texts are the same.

Training steps are measured by ``bench/train_speed.py`` (fp32 against a bf16 backbone in one run).
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import best_seconds, load_texts, median, print_hardware, print_table, tensor_mib

QUESTIONS = ["Where do polar bears live?", "What is the capital of France?", "How do vaccines work?"]


def peak(dtype: str, m: int, k: int = 576, n: int = 1536, repeats: int = 20) -> float:
    """Best GFLOP/s (GOP/s for int8) of an (m, k) @ (k, n) matrix product."""
    if dtype == "int8":
        a, b = torch.randint(-64, 64, (m, k), dtype=torch.int8), torch.randint(-64, 64, (k, n), dtype=torch.int8)
        product = lambda: torch._int_mm(a, b)  # noqa: E731
    else:
        a, b = torch.randn(m, k, dtype=getattr(torch, dtype)), torch.randn(k, n, dtype=getattr(torch, dtype))
        product = lambda: a @ b  # noqa: E731
    return 2 * m * k * n / best_seconds(product, repeats, warmup=3) / 1e9


def load_models() -> dict[str, tuple[object, str]]:
    """name: (model, the format of its linear layers' products)."""
    from sentence_transformers import SentenceTransformer

    from st_llm2vec_gen import DEFAULT_MODEL
    from st_llm2vec_gen.quantization import quantize_for_cpu

    def load(**model_kwargs):
        return SentenceTransformer(DEFAULT_MODEL, trust_remote_code=True, device="cpu", model_kwargs=model_kwargs)

    default = load()
    default_format = "bfloat16" if default[0].backbone.dtype == torch.bfloat16 else "float32"
    return {
        "fp32": (load(dtype="float32"), "float32"),
        f"default ({default_format})": (default, default_format),
        "int8 (fp32 backbone)": (quantize_for_cpu(load(dtype="float32")), "int8"),
        "int8 (bf16 backbone)": (quantize_for_cpu(load(dtype="bfloat16")), "int8"),
    }


def linear_params(model) -> int:
    """Weights of the backbone's decoder layers' linear layers (the LM head is not used by encoding)."""
    layers = model[0].backbone.base_model.layers
    return sum(m.weight.numel() for m in layers.modules() if isinstance(m, torch.nn.Linear))


def encode_rates(models, texts, batch_size, rounds, prompt) -> tuple[dict[str, list[float]], dict, int]:
    """Per model: the seconds of each round over all batches; its embeddings; real tokens per pass."""
    batches = [texts[i : i + batch_size] for i in range(0, len(texts), batch_size)]
    module = next(iter(models.values()))[0][0]
    tokens = sum(int(module.preprocess(b, prompt=prompt)["attention_mask"].sum()) for b in batches)
    seconds = {name: [] for name in models}
    embeddings = {}
    for round_ in range(rounds + 1):  # round 0 warms up
        spent = dict.fromkeys(models, 0.0)
        for j, batch in enumerate(batches):
            names = list(models)
            for k in range(len(names)):  # rotating order
                name = names[(j + k + round_) % len(names)]
                start = time.perf_counter()
                out = models[name][0].encode(batch, batch_size=batch_size, prompt=prompt, convert_to_tensor=True)
                spent[name] += time.perf_counter() - start
                embeddings.setdefault(name, {})[j] = out
        if round_:
            for name in models:
                seconds[name].append(spent[name])
    joined = {name: torch.cat([parts[j] for j in range(len(batches))]) for name, parts in embeddings.items()}
    return seconds, joined, tokens


def batch_spread(model, texts, prompt) -> tuple[float, float]:
    """Max abs difference and min cosine between each text encoded alone and within one batch."""
    together = model.encode(texts, batch_size=len(texts), prompt=prompt, convert_to_tensor=True)
    alone = torch.cat([model.encode([t], prompt=prompt, convert_to_tensor=True) for t in texts])
    cosine = torch.nn.functional.cosine_similarity(together, alone).min().item()
    return (together - alone).abs().max().item(), cosine


def decode_rate(model) -> tuple[float, list[str]]:
    """Generated tokens/s and texts of decoding the docs' questions (40 new tokens)."""
    start = time.perf_counter()
    texts = model[0].decode(QUESTIONS, max_new_tokens=40)
    seconds = time.perf_counter() - start
    generated = sum(len(model[0].tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
    return generated / seconds, texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-texts", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--m", type=int, default=768, help="rows of the roofline's activation matrix")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print_hardware()
    from st_llm2vec_gen.models.backbones import fast_cpu_bf16

    print(f"  fast bf16 detected: {fast_cpu_bf16()}")
    peaks = {dtype: peak(dtype, args.m) for dtype in ("float32", "bfloat16", "int8")}
    print_table(
        ["format", "matrix-product peak (G(FL)OP/s)", "x fp32"],
        [[d, p, p / peaks["float32"]] for d, p in peaks.items()],
        title=f"roofline: ({args.m} x 576) @ (576 x 1536)",
    )

    models = load_models()
    texts = load_texts("queries", args.num_texts, 0)
    prompt = models["fp32"][0].prompts["query"]
    seconds, embeddings, tokens = encode_rates(models, texts, args.batch_size, args.rounds, prompt)
    flops = 2 * linear_params(models["fp32"][0]) * tokens
    reference, fp32_seconds = embeddings["fp32"], median(seconds["fp32"])
    rows = []
    for name, (model, fmt) in models.items():
        cosine = torch.nn.functional.cosine_similarity(reference, embeddings[name]).min().item()
        spent = median(seconds[name])
        memory = tensor_mib(model[0].backbone)
        share = flops / spent / 1e9 / peaks[fmt]
        rows.append([name, len(texts) / spent, fp32_seconds / spent, share, f"{cosine:.6f}", memory])
    headers = ["model", "texts/s", "x fp32", "of its format's peak", "min cosine to fp32", "backbone MiB"]
    title = f"encode: {len(texts)} queries, batch {args.batch_size}, median of {args.rounds} rounds, {tokens} tokens"
    print_table(headers, rows, title=title)

    spread = [[name, *batch_spread(model, texts[:8], prompt)] for name, (model, _) in models.items()]
    spread = [[name, diff, f"{cosine:.6f}"] for name, diff, cosine in spread]
    print_table(["model", "max |alone - in batch|", "min cosine"], spread, title="batch invariance, 8 queries")

    decoding = {name: decode_rate(models[name][0]) for name in list(models)[:2]}
    fp32_rate, fp32_texts = decoding["fp32"]
    rows = [[n, r, r / fp32_rate, sum(a == b for a, b in zip(t, fp32_texts))] for n, (r, t) in decoding.items()]
    print_table(["model", "tokens/s", "x fp32", "texts equal to fp32 (of 3)"], rows, title="decode, 40 new tokens")
    for name, (_, texts_) in decoding.items():
        print(f"  {name}: " + " | ".join(t[:90] for t in texts_))


if __name__ == "__main__":
    main()
