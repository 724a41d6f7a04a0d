"""Retrieval with LangChain: an LLM2Vec-Gen model as the embedder of an in-memory vector store.

    python examples/retrieval_langchain.py                    # the embedded default model
    python examples/retrieval_langchain.py --model my-model   # any saved LLM2Vec-Gen model

Needs `langchain-huggingface` (pip install 'st-llm2vec-gen[langchain]'). Runs offline on CPU.
"""

import argparse
import logging

from langchain_core.documents import Document
from langchain_core.vectorstores import InMemoryVectorStore

from st_llm2vec_gen import DEFAULT_MODEL
from st_llm2vec_gen.integrations import langchain_embeddings

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

    # A langchain_huggingface.HuggingFaceEmbeddings whose embed_query/embed_documents apply the model's saved
    # "query"/"document" instructions (same vectors as encode_query/encode_document).
    embeddings = langchain_embeddings(args.model)
    store = InMemoryVectorStore(embeddings)
    store.add_documents([Document(page_content=text, metadata={"id": i}) for i, text in enumerate(DOCUMENTS)])

    correct = 0
    for query, answer in QUERIES:
        hits = store.similarity_search_with_score(query, k=args.k)
        correct += hits[0][0].metadata["id"] == answer
        print(f"\n{query}")
        for doc, score in hits:
            print(f"  {score:+.3f}  [{doc.metadata['id']}] {doc.page_content}")
    print(f"\nTop-1 correct: {correct}/{len(QUERIES)}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
