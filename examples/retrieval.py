"""Semantic search: queries get the answer-describing instruction, documents the summarise instruction.

python examples/retrieval.py [--model PATH]
"""

import argparse

from sentence_transformers import SentenceTransformer, util

from st_llm2vec_gen import DEFAULT_MODEL

DOCUMENTS = [
    "Polar bears live in the Arctic, hunting seals on the sea ice around the North Pole.",
    "Paris, on the river Seine, is the capital and largest city of France.",
    "Plants use photosynthesis to turn sunlight, water and carbon dioxide into sugar and oxygen.",
    "The printing press, built by Gutenberg around 1440, made books cheap to copy.",
    "Vaccines expose the immune system to a harmless part of a germ so it learns to fight it.",
]
QUERIES = ["Where do polar bears live?", "Who made books cheap to produce?", "How do vaccines work?"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    args = parser.parse_args()

    model = SentenceTransformer(args.model, trust_remote_code=True)
    corpus = model.encode_document(DOCUMENTS, convert_to_tensor=True)  # (5, D)
    queries = model.encode_query(QUERIES, convert_to_tensor=True)  # (3, D)
    for query, hits in zip(QUERIES, util.semantic_search(queries, corpus, top_k=2)):
        print(query)
        for hit in hits:
            print(f"  {hit['score']:.3f}  {DOCUMENTS[hit['corpus_id']]}")


if __name__ == "__main__":
    main()
