"""Answers unlabeled queries with the frozen backbone (its own responses are LLM2Vec-Gen's training targets).

    python training/generate_responses.py --queries training/data/queries.jsonl --limit 2400 \
        --max-new-tokens 96 --batch-size 32 --output training/data/responses.jsonl

Resumable: re-run the same command after an interruption. Parallel: --shard 0/4 ... 3/4 with one output each.
"""

import argparse
import logging

from st_llm2vec_gen.models.backbones import EMBEDDED_BACKBONE, load_backbone
from st_llm2vec_gen.queries import read_queries
from st_llm2vec_gen.responses import GenerationSettings, generate_responses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default=EMBEDDED_BACKBONE, help="hub id, local dir, .gguf file or embedded")
    parser.add_argument("--queries", required=True, help="JSONL/JSON/CSV file or datasets name/path")
    parser.add_argument("--column", default=None, help="query column (default: query/prompt/instruction/...)")
    parser.add_argument("--output", required=True, help="JSONL output, appended to and resumed from")
    parser.add_argument("--limit", type=int, default=None, help="answer only the first N queries")
    parser.add_argument("--shard", default="0/1", help="i/n: answer the queries whose index %% n == i")
    parser.add_argument("--dtype", default=None, help="backbone dtype, e.g. bfloat16 on GPU")
    defaults = GenerationSettings()
    for name, value in vars(defaults).items():
        kind = (lambda s: s.lower() in ("1", "true", "yes")) if isinstance(value, bool) else type(value)
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=value)
    args = parser.parse_args()

    queries = read_queries(args.queries, column=args.column)[: args.limit]
    settings = GenerationSettings(**{k: getattr(args, k) for k in vars(defaults)})
    model, tokenizer = load_backbone(args.backbone, {"dtype": args.dtype} if args.dtype else None)
    index, count = (int(x) for x in args.shard.split("/"))
    rows = generate_responses(model, tokenizer, queries, args.output, settings, shard=(index, count))
    logging.info("%d responses in %s", len(rows), args.output)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main()
