"""Retrieval with LlamaIndex: an LLM2Vec-Gen model as the embedder of a VectorStoreIndex, no LLM involved.

    python examples/retrieval_llamaindex.py                    # the embedded default model
    python examples/retrieval_llamaindex.py --model my-model   # any saved LLM2Vec-Gen model

Needs `llama-index-embeddings-huggingface` (pip install 'st-llm2vec-gen[llamaindex]'). Runs offline on CPU.
"""

import argparse
import logging

from llama_index.core import Document, Settings, VectorStoreIndex

from st_llm2vec_gen import DEFAULT_MODEL
from st_llm2vec_gen.integrations import llamaindex_embedding

DOCUMENTS = [
    "Polar bears live in the Arctic, hunting seals on the sea ice around the North Pole.",
    "Plants use photosynthesis to turn sunlight, water and carbon dioxide into sugar and oxygen.",
    "Paris, on the river Seine, is the capital and largest city of France.",
    "The printing press, built by Gutenberg around 1440, made books cheap to produce.",
    "Penguins live in the Southern Hemisphere, most of them in Antarctica.",
]
QUERIES = [
    ("Where do polar bears live?", 0),  # (query, index of the document that answers it)
    ("How do plants make their food?", 1),
    ("What is the capital of France?", 2),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="saved LLM2Vec-Gen model (directory or hub id)")
    parser.add_argument("--k", type=int, default=2, help="documents to show per query")
    args = parser.parse_args()

    # A llama_index HuggingFaceEmbedding with the model's saved "query"/"document" instructions (without them,
    # LlamaIndex would embed queries and texts with no instruction at all).
    Settings.embed_model = llamaindex_embedding(args.model)

    # LlamaIndex embeds a node's metadata with its text ("id: 0\n\n...") unless told not to.
    documents = [
        Document(text=text, metadata={"id": i}, excluded_embed_metadata_keys=["id"]) for i, text in enumerate(DOCUMENTS)
    ]
    retriever = VectorStoreIndex.from_documents(documents).as_retriever(similarity_top_k=args.k)

    correct = 0
    for query, answer in QUERIES:
        hits = retriever.retrieve(query)
        correct += hits[0].node.metadata["id"] == answer
        print(f"\n{query}")
        for hit in hits:
            print(f"  {hit.score:+.3f}  [{hit.node.metadata['id']}] {hit.node.get_content()}")
    print(f"\nTop-1 correct: {correct}/{len(QUERIES)}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
