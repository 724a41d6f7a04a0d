"""int8 encoding against fp32 on CPU, at 1 and 2 torch threads, in one run; and how far the embeddings move.

    .venv/bin/python bench/quantize_int8.py                      # 64 queries, batch 16, 2 rounds per thread count
    .venv/bin/python bench/quantize_int8.py --threads 1 2 4 --num-texts 128

Two copies of the embedded default model are loaded, one left in fp32 and one passed through
``quantize_for_cpu``; ``model.encode_query`` of each runs batch by batch, alternately (``paired_rounds``), so both
see the same load on a shared machine. A first round at each thread count is a warm-up. The quality side reported
here is the cosine between each text's fp32 and int8 embedding; the task-level cost is measured with
``llm2vec-gen evaluate --quantize int8`` (docs/performance.md).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from _common import load_texts, median, paired_rounds, print_hardware, print_table


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-texts", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds per thread count, after one warm-up")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    from sentence_transformers import SentenceTransformer

    from st_llm2vec_gen import DEFAULT_MODEL
    from st_llm2vec_gen.quantization import quantize_for_cpu

    print_hardware()
    fp32 = SentenceTransformer(DEFAULT_MODEL, trust_remote_code=True, device="cpu")
    int8 = quantize_for_cpu(SentenceTransformer(DEFAULT_MODEL, trust_remote_code=True, device="cpu"))
    texts = load_texts("queries", args.num_texts, args.seed)
    order = np.argsort([-len(t) for t in texts])  # sentence-transformers' longest-first order, batch by batch
    batches = [[texts[i] for i in order[s : s + args.batch_size]] for s in range(0, len(texts), args.batch_size)]
    print(f"  {len(texts)} queries with the 'query' prompt, {len(batches)} batches of <= {args.batch_size}")

    def encoder(model: SentenceTransformer):
        return lambda i: model.encode_query(batches[i], batch_size=args.batch_size, show_progress_bar=False)

    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        paired_rounds({"fp32": encoder(fp32), "int8": encoder(int8)}, len(batches), 1)  # warm-up
        totals = paired_rounds({"fp32": encoder(fp32), "int8": encoder(int8)}, len(batches), args.rounds)
        per_round = [f / q for f, q in zip(totals["fp32"], totals["int8"])]
        fp32_rate, int8_rate = len(texts) / median(totals["fp32"]), len(texts) / median(totals["int8"])
        rows.append([threads, fp32_rate, int8_rate, median(per_round), ", ".join(f"{r:.2f}" for r in per_round)])
    print_table(["threads", "fp32 texts/s", "int8 texts/s", "speed-up (median)", "per round"], rows, "encode_query")

    a = fp32.encode_query(texts, batch_size=args.batch_size, convert_to_tensor=True)
    b = int8.encode_query(texts, batch_size=args.batch_size, convert_to_tensor=True)
    cosine = torch.nn.functional.cosine_similarity(a, b)
    added = sum(layer.forward.int8.nbytes for layer in vars(int8[0])["_st_llm2vec_gen_int8"].linears) / 2**20
    print(f"\ncosine(fp32, int8) per text: mean {cosine.mean():.4f}, min {cosine.min():.4f}")
    print(f"int8 weights added beside the fp32 model: {added:.0f} MiB")


if __name__ == "__main__":
    main()
