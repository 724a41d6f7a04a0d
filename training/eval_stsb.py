"""STS-B test: an LLM2Vec-Gen model against input-centric pooling of its own backbone, Spearman x 100 of cosine.

    python training/eval_stsb.py --model st_llm2vec_gen/default_model --data ../shared/data/stsb/sts-test.csv

Baselines use the same frozen backbone on the same texts: the masked mean of its final hidden states (input-centric
mean pooling) and the final hidden state of the last token, each without and with the STS instruction.
"""

import argparse
import json
import time

import torch
from scipy.stats import spearmanr
from sentence_transformers import SentenceTransformer


def read_stsb(path: str, limit: int | None) -> tuple[list[str], list[str], list[float]]:
    """Tab-separated STS-B: fields 4, 5, 6 are score, sentence 1, sentence 2 (no quoting)."""
    first, second, scores = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            scores.append(float(fields[4]))
            first.append(fields[5])
            second.append(fields[6])
    return first[:limit], second[:limit], scores[:limit]


@torch.inference_mode()
def pooled_backbone(module, texts: list[str], prompt: str | None, batch_size: int) -> dict[str, torch.Tensor]:
    """Input-centric baselines: mean and last-token pooling of the backbone's final hidden states."""
    means, lasts = [], []
    for start in range(0, len(texts), batch_size):
        batch = [f"{prompt} {t}" if prompt else t for t in texts[start : start + batch_size]]
        enc = module.tokenizer(batch, padding=True, padding_side="left", truncation=True, max_length=512,
                               return_tensors="pt")  # fmt: skip
        position_ids = (enc["attention_mask"].cumsum(-1) - 1).clamp(min=0)
        hidden = module.backbone.base_model(**enc, position_ids=position_ids).last_hidden_state  # (B, L, H)
        mask = enc["attention_mask"].unsqueeze(-1).float()
        means.append((hidden * mask).sum(1) / mask.sum(1))
        lasts.append(hidden[:, -1])  # left padding: the last position is the last real token
    return {"mean": torch.cat(means), "last_token": torch.cat(lasts)}


def spearman(a: torch.Tensor, b: torch.Tensor, gold: list[float]) -> float:
    return 100 * spearmanr(torch.nn.functional.cosine_similarity(a, b).numpy(), gold).statistic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", default="../shared/data/stsb/sts-test.csv")
    parser.add_argument("--limit", type=int, default=None, help="first N pairs only")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--output", default=None, help="write the scores as JSON here")
    args = parser.parse_args()

    first, second, gold = read_stsb(args.data, args.limit)
    model = SentenceTransformer(args.model, trust_remote_code=True)
    prompt = model.prompts["STS"]
    results = {"pairs": len(gold), "model": args.model, "prompt": prompt, "spearman": {}, "seconds": {}}
    for name, use_prompt in (("llm2vec_gen", True), ("llm2vec_gen_no_prompt", False)):
        start = time.perf_counter()
        kwargs = {"prompt": prompt} if use_prompt else {}
        a = model.encode(first, batch_size=args.batch_size, convert_to_tensor=True, **kwargs)
        b = model.encode(second, batch_size=args.batch_size, convert_to_tensor=True, **kwargs)
        results["spearman"][name] = spearman(a, b, gold)
        results["seconds"][name] = time.perf_counter() - start
    for suffix, baseline_prompt in (("", None), ("_prompt", prompt)):
        start = time.perf_counter()
        a = pooled_backbone(model[0], first, baseline_prompt, args.batch_size)
        b = pooled_backbone(model[0], second, baseline_prompt, args.batch_size)
        for pooling in a:
            results["spearman"][f"backbone_{pooling}{suffix}"] = spearman(a[pooling], b[pooling], gold)
        results["seconds"][f"backbone_pooling{suffix}"] = time.perf_counter() - start
    print(json.dumps(results, indent=2))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
