"""Encoding throughput: ``model.encode`` against a bare forward of the backbone over the same token ids.

    .venv/bin/python bench/encode.py                                   # CPU, fp32, 128 queries, batch 16
    .venv/bin/python bench/encode.py --device cuda --dtype bfloat16 --num-texts 2048 --batch-size 64

The bound is what no LLM2Vec-Gen implementation can beat on this backbone: ``backbone.base_model(input_ids,
attention_mask, use_cache=False)`` under ``torch.inference_mode`` over exactly the ids ``model[0].preprocess``
produces (text + N compression slots, left-padded), pre-tokenized and already on the device, batched in the order
sentence-transformers uses (longest texts first). ``model.encode`` additionally tokenizes, splices in the
compression tokens, computes padding-aware positions, applies R and A, and copies the embeddings back to numpy.

The two are timed batch by batch, alternately, so that both see the same load on a shared machine; the first round
is a warm-up. Target: ``model.encode`` reaches >= 0.9 of the bound's texts/s on CPU fp32.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from _common import load_texts, median, paired_rounds, print_hardware, print_table, time_call


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-texts", type=int, default=128, help="texts to encode per round")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds after one warm-up round")
    parser.add_argument("--texts", choices=["queries", "responses"], default="queries")
    parser.add_argument("--prompt", default="query", help="prompt name of the model (empty for none)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    from sentence_transformers import SentenceTransformer

    from st_llm2vec_gen import DEFAULT_MODEL

    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    print_hardware(args.device)
    dtype = getattr(torch, args.dtype)
    model = SentenceTransformer(
        DEFAULT_MODEL, trust_remote_code=True, device=args.device, model_kwargs={"dtype": dtype}
    )
    module = model[0]
    base = module.backbone.base_model
    print(
        f"  backbone: {module.backbone.config.model_type}, dtype {module.backbone.dtype}, device {model.device}, "
        f"attention {module.backbone.config._attn_implementation}, N = {module.num_tokens}"
    )
    sync = torch.cuda.synchronize if model.device.type == "cuda" else (lambda: None)

    texts = load_texts(args.texts, args.num_texts, args.seed)
    prompt = model.prompts.get(args.prompt) if args.prompt else None
    order = np.argsort([-len(t) for t in texts])  # sentence-transformers' order: longest (in characters) first
    ordered = [texts[i] for i in order]
    text_batches = [ordered[i : i + args.batch_size] for i in range(0, len(ordered), args.batch_size)]
    id_batches = [
        {k: v.to(model.device) for k, v in module.preprocess(batch, prompt=prompt).items()} for batch in text_batches
    ]
    real_tokens = sum(int(b["attention_mask"].sum()) for b in id_batches)
    padded_tokens = sum(b["input_ids"].numel() for b in id_batches)
    print(
        f"  {len(texts)} {args.texts}, prompt {args.prompt!r}, {len(text_batches)} batches of <= {args.batch_size}, "
        f"{real_tokens} tokens ({padded_tokens} with padding, compression slots included)"
    )

    def bound(i: int) -> None:
        with torch.inference_mode():
            base(input_ids=id_batches[i]["input_ids"], attention_mask=id_batches[i]["attention_mask"], use_cache=False)

    def encode(i: int) -> None:
        model.encode(text_batches[i], batch_size=args.batch_size, prompt=prompt)

    paired_rounds({"bound": bound, "encode": encode}, len(text_batches), 1, sync)  # warm-up, not timed
    totals = paired_rounds({"bound": bound, "encode": encode}, len(text_batches), args.rounds, sync)
    whole = time_call(lambda: model.encode(texts, batch_size=args.batch_size, prompt=prompt), sync)

    n = len(texts)
    ratios = [b / e for b, e in zip(totals["bound"], totals["encode"])]
    rows = [
        [
            "bare forward of backbone.base_model (bound)",
            n / median(totals["bound"]),
            n / min(totals["bound"]),
            real_tokens / median(totals["bound"]),
            "1",
        ],
        [
            "model.encode, batch by batch (interleaved)",
            n / median(totals["encode"]),
            n / min(totals["encode"]),
            real_tokens / median(totals["encode"]),
            f"{median(ratios):.3f}",
        ],
        [
            "model.encode, one call over all texts",
            n / whole,
            n / whole,
            real_tokens / whole,
            f"{median(totals['bound']) / whole:.3f}",
        ],
    ]
    print_table(
        ["what", "texts/s (median)", "texts/s (best)", "tokens/s (median)", "ratio to bound"],
        rows,
        title=f"encode, {args.device} {args.dtype}, batch {args.batch_size}, {args.rounds} rounds",
    )
    print(f"\nper-round ratios encode/bound: {', '.join(f'{r:.3f}' for r in ratios)}")
    target = median(ratios)
    print(f"target >= 0.9 of the bound: {'met' if target >= 0.9 else 'MISSED'} ({target:.3f})")


if __name__ == "__main__":
    main()
