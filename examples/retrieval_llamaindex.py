"""Retrieval with LlamaIndex: a persistent FAISS index of Wikipedia paragraphs, embedded by an LLM2Vec-Gen model.

    python examples/retrieval_llamaindex.py                          # build ./llamaindex-faiss once, then reload
    python examples/retrieval_llamaindex.py --model my-model --index my-index --query "Who won Super Bowl 50?"

The corpus is the package's bundled Wikipedia text (568 passages of about 100 words from 8 SQuAD articles). The
first run embeds it with the model's "document" prompt into a FaissVectorStore and persists the index (a temporary
folder renamed into place); later runs load it, in any new process, and embed only the questions, with the "query"
prompt. No LLM is involved. Scores are cosine similarities (unit-length vectors, inner-product index).

FAISS because both LlamaIndex and LangChain save and load it as local files with no server (see
retrieval_langchain.py); its exact inner-product index gives the same top-k as brute-force cosine search.

Needs `llama-index-embeddings-huggingface`, `llama-index-vector-stores-faiss` and `faiss-cpu`. Runs offline on CPU.
"""

import argparse
import logging
import os
import shutil
import tempfile

import faiss
from llama_index.core import Settings, StorageContext, VectorStoreIndex, load_index_from_storage
from llama_index.core.schema import TextNode
from llama_index.vector_stores.faiss import FaissVectorStore

from st_llm2vec_gen import DEFAULT_MODEL
from st_llm2vec_gen.evaluation.bundled_data import BUNDLED_DATA, read_squad_passages
from st_llm2vec_gen.integrations import llamaindex_embedding

QUESTIONS = [
    ("Which team won Super Bowl 50?", "Super Bowl 50"),  # (question, title of the article that answers it)
    ("Which chemical element do living things need to breathe?", "Oxygen"),
    ("Who nailed the Ninety-five Theses to a church door?", "Martin Luther"),
]


def passages(every: int = 1) -> list[TextNode]:
    """The bundled Wikipedia passages (every ``every``-th one) as nodes; ``id`` is the passage's index, the text alone
    is embedded (LlamaIndex would otherwise embed the metadata with it)."""
    rows = read_squad_passages(BUNDLED_DATA)
    return [
        TextNode(text=r["text"], metadata={"id": i, "title": r["title"]}, excluded_embed_metadata_keys=["id", "title"])
        for i, r in enumerate(rows)
        if i % every == 0
    ]


def build_or_load(index: str, every: int = 1) -> VectorStoreIndex:
    """Loads the persisted index, or builds it from the passages and persists it (to a temporary folder, renamed)."""
    if os.path.isdir(index):
        print(f"Loaded the index from {index}")
        store = FaissVectorStore.from_persist_dir(index)
        return load_index_from_storage(StorageContext.from_defaults(vector_store=store, persist_dir=index))
    nodes = passages(every)
    dim = len(Settings.embed_model.get_text_embedding("dimension probe"))
    store = FaissVectorStore(faiss_index=faiss.IndexFlatIP(dim))  # unit-length vectors: inner product = cosine
    built = VectorStoreIndex(nodes, storage_context=StorageContext.from_defaults(vector_store=store))
    tmp = tempfile.mkdtemp(prefix=".index-", dir=os.path.dirname(os.path.abspath(index)))
    try:
        built.storage_context.persist(persist_dir=tmp)
        os.replace(tmp, index)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print(f"Built and saved the index of {len(nodes)} passages to {index}")
    return built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="saved LLM2Vec-Gen model (directory or hub id)")
    parser.add_argument("--index", default="llamaindex-faiss", help="index folder: built if absent, else loaded")
    parser.add_argument("--k", type=int, default=3, help="passages to show per question")
    parser.add_argument("--query", action="append", help="your own question (repeatable); default: three samples")
    parser.add_argument("--every", type=int, default=1, help="index every N-th passage only (a quicker first try)")
    args = parser.parse_args()

    # A llama_index HuggingFaceEmbedding with the model's saved "query"/"document" instructions (without them,
    # LlamaIndex would embed queries and texts with no instruction at all); vectors normalised.
    Settings.embed_model = llamaindex_embedding(args.model)
    retriever = build_or_load(args.index, args.every).as_retriever(similarity_top_k=args.k)
    questions = [(q, None) for q in args.query] if args.query else QUESTIONS

    correct = 0
    for question, title in questions:
        hits = retriever.retrieve(question)
        correct += hits[0].node.metadata["title"] == title
        print(f"\n{question}")
        for hit in hits:
            meta = hit.node.metadata
            print(f"  {hit.score:+.3f}  [{meta['id']}] {meta['title']}: {hit.node.get_content()[:90]}...")
    if not args.query:
        print(f"\nTop-1 from the right article: {correct}/{len(questions)}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
