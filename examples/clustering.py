"""Topic clustering: k-means on normalised embeddings with the clustering instruction (plain torch).

python examples/clustering.py [--model PATH]
"""

import argparse

import torch
from sentence_transformers import SentenceTransformer

from st_llm2vec_gen import DEFAULT_MODEL

TEXTS = [
    "The striker scored twice in the final minutes.", "The team won the league after a penalty shoot-out.",
    "Bake the bread for forty minutes at 200 degrees.", "Whisk the eggs with sugar until pale.",
    "The central bank raised interest rates again.", "Shares fell after the company missed its forecast.",
]  # fmt: skip


def kmeans(x: torch.Tensor, k: int, steps: int = 20, seed: int = 0) -> torch.Tensor:
    """Cluster ids (B,) for unit vectors x (B, D), spherical k-means from k random points."""
    generator = torch.Generator().manual_seed(seed)
    centers = x[torch.randperm(len(x), generator=generator)[:k]]  # (k, D)
    for _ in range(steps):
        assign = (x @ centers.T).argmax(dim=1)  # (B,)
        centers = torch.stack([x[assign == c].mean(0) if (assign == c).any() else centers[c] for c in range(k)])
        centers = torch.nn.functional.normalize(centers, dim=-1)
    return assign


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--k", type=int, default=3)
    args = parser.parse_args()

    model = SentenceTransformer(args.model, trust_remote_code=True)
    embeddings = model.encode(TEXTS, prompt_name="Clustering", convert_to_tensor=True, normalize_embeddings=True)
    clusters = kmeans(embeddings.cpu().float(), args.k)
    for cluster in range(args.k):
        print(f"Cluster {cluster}:")
        for text, c in zip(TEXTS, clusters.tolist()):
            if c == cluster:
                print(f"  {text}")


if __name__ == "__main__":
    main()
