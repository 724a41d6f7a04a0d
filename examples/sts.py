"""Semantic similarity of sentence pairs with the STS instruction, against human-like scores (0-5).

python examples/sts.py [--model PATH]
"""

import argparse

import torch
from sentence_transformers import SentenceTransformer

from st_llm2vec_gen import DEFAULT_MODEL

PAIRS = [  # (sentence 1, sentence 2, similarity 0-5)
    ("A man is playing a guitar.", "A man plays the guitar.", 5.0),
    ("A woman is slicing an onion.", "A woman is cutting an onion.", 4.6),
    ("A dog runs across the field.", "A puppy is running on the grass.", 3.8),
    ("A child is reading a book.", "A kid watches television.", 1.6),
    ("The stock market fell sharply today.", "A cat is sleeping on the sofa.", 0.0),
]


def ranks(values: torch.Tensor) -> torch.Tensor:
    return values.argsort().argsort().float()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    args = parser.parse_args()

    model = SentenceTransformer(args.model, trust_remote_code=True)
    first = model.encode([a for a, _, _ in PAIRS], prompt_name="STS", convert_to_tensor=True)  # (5, D)
    second = model.encode([b for _, b, _ in PAIRS], prompt_name="STS", convert_to_tensor=True)  # (5, D)
    cosine = model.similarity_pairwise(first, second).cpu()  # (5,)
    for (a, b, gold), score in zip(PAIRS, cosine.tolist()):
        print(f"{score:+.3f}  (gold {gold:.1f})  {a} | {b}")
    gold = torch.tensor([g for _, _, g in PAIRS])
    spearman = torch.corrcoef(torch.stack([ranks(cosine), ranks(gold)]))[0, 1].item()
    print(f"Spearman correlation with the gold scores: {spearman:+.2f}")


if __name__ == "__main__":
    main()
