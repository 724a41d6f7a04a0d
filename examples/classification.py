"""Intent classification with a nearest-centroid classifier on the embeddings (no extra dependencies).

python examples/classification.py [--model PATH]
"""

import argparse

import torch
from sentence_transformers import SentenceTransformer

from st_llm2vec_gen import DEFAULT_MODEL

TRAIN = {
    "card_arrival": ["When will my new card arrive?", "My card still has not been delivered.", "Card not here yet"],
    "exchange_rate": ["What exchange rate do you use?", "How much is a euro in dollars?", "Is the rate fair?"],
    "top_up": ["How do I add money to my account?", "My top-up failed.", "Can I top up with a bank transfer?"],
}
TEST = [("Where is the card you sent me?", "card_arrival"), ("Which rate applies to pounds?", "exchange_rate"),
        ("I want to put money into my account", "top_up")]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    args = parser.parse_args()

    model = SentenceTransformer(args.model, trust_remote_code=True)
    labels = list(TRAIN)
    centroids = torch.stack(
        [model.encode(TRAIN[label], prompt_name="Classification", convert_to_tensor=True).mean(0) for label in labels]
    )  # (3, D)
    test = model.encode([text for text, _ in TEST], prompt_name="Classification", convert_to_tensor=True)  # (3, D)
    predicted = model.similarity(test, centroids).argmax(dim=1).tolist()  # nearest centroid by cosine
    for (text, gold), index in zip(TEST, predicted):
        print(f"{labels[index]:<14} (gold {gold:<14}) {text}")
    print(f"Accuracy: {sum(labels[i] == gold for (_, gold), i in zip(TEST, predicted))}/{len(TEST)}")


if __name__ == "__main__":
    main()
