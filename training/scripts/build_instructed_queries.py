"""Builds the queries of ablation (b): corpus texts under the model's per-task instructions (STS, classification,
clustering), so that the LLM's answers to them (``llm2vec-gen generate``) keep the input's meaning and topic.

    python training/scripts/build_instructed_queries.py --output training/data/instructed/queries.jsonl

Rows are ``{"id", "query", "source", "source_id", "prompt_name"}`` with ``query = with_prompt(prompt, text)``, the
joining rule of the encoder, so training splits the prompt back off and trains each group with its prompt, as
``encode(..., prompt_name=...)`` applies it at inference. Texts are drawn (seed 0) from the first ``--prefix`` corpus
queries, the ones the ablation's start has seen, leaving out maths, code and the wrapped passages; the three
prompts take turns.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
from pathlib import Path

from st_llm2vec_gen import DEFAULT_MODEL
from st_llm2vec_gen.io.prompts import saved_prompts
from st_llm2vec_gen.io.records import iter_jsonl
from st_llm2vec_gen.models.inputs import with_prompt

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus" / "queries.jsonl.gz"
PROMPT_NAMES = ("STS", "Classification", "Clustering")
LEFT_OUT = {"gsm8k", "humaneval", "squad_passages"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--count", type=int, default=1200)
    parser.add_argument("--prefix", type=int, default=4263, help="draw from the first N corpus queries")
    parser.add_argument("--max-chars", type=int, default=400)
    args = parser.parse_args()

    prompts = saved_prompts(DEFAULT_MODEL)
    rows = [row for _, row in itertools.islice(iter_jsonl(str(CORPUS)), args.prefix)]
    eligible = [r for r in rows if r["source"] not in LEFT_OUT and len(r["query"]) <= args.max_chars]
    if len(eligible) < args.count:
        raise SystemExit(f"only {len(eligible)} eligible queries for --count {args.count}")
    chosen = sorted(random.Random(0).sample(eligible, args.count), key=lambda r: r["id"])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_name(args.output.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for i, row in enumerate(chosen):
            name = PROMPT_NAMES[i % len(PROMPT_NAMES)]
            query = with_prompt(prompts[name], row["query"])
            out = {"id": i, "query": query, "source": row["source"], "source_id": row["source_id"], "prompt_name": name}
            f.write(json.dumps(out, ensure_ascii=False) + "\n")
    tmp.replace(args.output)
    print(f"{args.count} queries from {len(eligible)} eligible -> {args.output}")


if __name__ == "__main__":
    main()
