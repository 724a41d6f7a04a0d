"""Retrieval with LangChain: a persistent FAISS index of Wikipedia paragraphs, embedded by an LLM2Vec-Gen model.

    python examples/retrieval_langchain.py                          # build ./langchain-faiss once, then reload it
    python examples/retrieval_langchain.py --model my-model --index my-index --query "Who won Super Bowl 50?"

The corpus is the package's bundled Wikipedia text (568 passages of about 100 words from 8 SQuAD articles). The
first run embeds it with the model's "document" prompt and saves a FAISS index (a temporary folder renamed into
place); later runs load it, in any new process, and embed only the questions, with the "query" prompt. Scores are
cosine similarities (vectors scaled to unit length, inner-product index).

FAISS because both LangChain (langchain-community) and LlamaIndex (llama-index-vector-stores-faiss) save and load it
as local files, with no server and a single `pip install faiss-cpu`; its exact inner-product index gives the same
top-k as brute-force cosine search. LangChain keeps the texts beside it in a pickle file: load only indexes you built.

Needs `langchain-huggingface`, `langchain-community` and `faiss-cpu`. Runs offline on CPU.
"""

import argparse
import logging
import os
import shutil
import tempfile

from langchain_community.vectorstores import FAISS
from langchain_community.vectorstores.utils import DistanceStrategy
from langchain_core.documents import Document

from st_llm2vec_gen import DEFAULT_MODEL
from st_llm2vec_gen.evaluation.bundled_data import BUNDLED_DATA, read_squad_passages
from st_llm2vec_gen.integrations import langchain_embeddings

QUESTIONS = [
    ("Which team won Super Bowl 50?", "Super Bowl 50"),  # (question, title of the article that answers it)
    ("Which chemical element do living things need to breathe?", "Oxygen"),
    ("Who nailed the Ninety-five Theses to a church door?", "Martin Luther"),
]
COSINE = {
    "distance_strategy": DistanceStrategy.MAX_INNER_PRODUCT,
    "normalize_L2": True,
}  # inner product of unit vectors


def passages(every: int = 1) -> list[Document]:
    """The bundled Wikipedia passages (every ``every``-th one); ``id`` is the passage's index, the text alone is
    embedded."""
    rows = read_squad_passages(BUNDLED_DATA)
    return [
        Document(page_content=r["text"], metadata={"id": i, "title": r["title"]})
        for i, r in enumerate(rows)
        if i % every == 0
    ]


def build_or_load(index: str, embeddings, every: int = 1) -> FAISS:
    """Loads the saved index, or builds it from the passages and saves it (to a temporary folder, then renamed)."""
    if os.path.isdir(index):
        print(f"Loaded the index from {index}")
        # Our own pickle. The scoring options are not saved with the index: give them again, or the questions are
        # no longer normalised and the scores stop being cosines.
        return FAISS.load_local(index, embeddings, allow_dangerous_deserialization=True, **COSINE)
    documents = passages(every)
    store = FAISS.from_documents(documents, embeddings, **COSINE)
    parent = os.path.dirname(os.path.abspath(index))
    tmp = tempfile.mkdtemp(prefix=".index-", dir=parent)
    try:
        store.save_local(tmp)
        os.replace(tmp, index)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print(f"Built and saved the index of {len(documents)} passages to {index}")
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="saved LLM2Vec-Gen model (directory or hub id)")
    parser.add_argument("--index", default="langchain-faiss", help="index folder: built if absent, else loaded")
    parser.add_argument("--k", type=int, default=3, help="passages to show per question")
    parser.add_argument("--query", action="append", help="your own question (repeatable); default: three samples")
    parser.add_argument("--every", type=int, default=1, help="index every N-th passage only (a quicker first try)")
    args = parser.parse_args()

    # A langchain_huggingface.HuggingFaceEmbeddings whose embed_query/embed_documents apply the model's saved
    # "query"/"document" instructions (same vectors as encode_query/encode_document).
    store = build_or_load(args.index, langchain_embeddings(args.model), args.every)
    questions = [(q, None) for q in args.query] if args.query else QUESTIONS

    correct = 0
    for question, title in questions:
        hits = store.similarity_search_with_score(question, k=args.k)
        correct += hits[0][0].metadata["title"] == title
        print(f"\n{question}")
        for doc, score in hits:
            print(f"  {score:+.3f}  [{doc.metadata['id']}] {doc.metadata['title']}: {doc.page_content[:90]}...")
    if not args.query:
        print(f"\nTop-1 from the right article: {correct}/{len(questions)}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
