"""Builds the unlabeled query set for the embedded default model from the bundled Alpaca and Tulu prompts.

    python training/scripts/prepare_queries.py --data ../shared/data --output training/data/queries.jsonl

Alpaca (CC BY-NC 4.0): instruction, plus its input after a blank line when it has one. Tulu-1 human-eval prompts
(Apache-2.0): the 332 unique prompts. Order is shuffled with a fixed seed; each row records its source.
"""

import argparse
import json
import random
from pathlib import Path

from st_llm2vec_gen.io.records import iter_jsonl


def alpaca(data: Path) -> list[dict]:
    rows = json.loads((data / "alpaca" / "alpaca_5000.json").read_text(encoding="utf-8"))
    queries = [r["instruction"].strip() + (f"\n\n{r['input'].strip()}" if r["input"].strip() else "") for r in rows]
    return [{"query": q, "source": "alpaca_5000"} for q in queries if q.strip()]


def tulu(data: Path) -> list[dict]:
    seen: dict[str, None] = {}
    for _, row in iter_jsonl(str(data / "tulu_eval_prompts" / "eval_instances_tulu_1.jsonl")):
        seen.setdefault(row["prompt"].strip(), None)
    return [{"query": q, "source": "tulu_1_eval"} for q in seen if q]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data", type=Path)
    parser.add_argument("--output", default="training/data/queries.jsonl", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = alpaca(args.data) + tulu(args.data)
    random.Random(args.seed).shuffle(rows)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    print(f"wrote {len(rows)} queries to {args.output}")


if __name__ == "__main__":
    main()
