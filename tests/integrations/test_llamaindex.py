"""LlamaIndex's HuggingFaceEmbedding on an LLM2Vec-Gen model: the saved query/document instructions reach it."""

from __future__ import annotations

import numpy as np
import pytest

from st_llm2vec_gen.integrations import llamaindex_embedding

li_huggingface = pytest.importorskip("llama_index.embeddings.huggingface")
from llama_index.core import VectorStoreIndex  # noqa: E402  (llama-index-core comes with the embedding package)
from llama_index.core.schema import TextNode  # noqa: E402


@pytest.fixture(scope="module")
def embedding(model_path):
    return llamaindex_embedding(model_path, device="cpu")


def test_queries_and_texts_match_encode_query_and_encode_document(embedding, st_model, queries, documents):
    assert isinstance(embedding, li_huggingface.HuggingFaceEmbedding)
    assert embedding.query_instruction == st_model.prompts["query"]
    assert embedding.text_instruction == st_model.prompts["document"]
    assert embedding.max_length == 40  # the module's max_seq_length, an int as LlamaIndex requires
    for query in queries:
        expected = st_model.encode_query([query], normalize_embeddings=True)[0]
        np.testing.assert_allclose(embedding.get_query_embedding(query), expected, atol=1e-6)
    expected = st_model.encode_document(documents, normalize_embeddings=True)
    np.testing.assert_allclose(embedding.get_text_embedding_batch(documents), expected, atol=1e-6)
    np.testing.assert_allclose(embedding.get_text_embedding(documents[0]), expected[0], atol=1e-6)


def test_instructions_are_applied(embedding, st_model, queries):
    """The same text embeds differently as a query and as a text, and neither is the bare text."""
    text = queries[0]
    query, document = np.array(embedding.get_query_embedding(text)), np.array(embedding.get_text_embedding(text))
    bare = st_model.encode([text], normalize_embeddings=True)[0]
    assert not np.allclose(query, document, atol=1e-4)
    assert not np.allclose(query, bare, atol=1e-4) and not np.allclose(document, bare, atol=1e-4)


def test_plain_llamaindex_overrides_the_saved_query_prompt(model_path, st_model, queries):
    """The quirk the helper exists for: unknown models get prompts={"query": "", "text": ""} from LlamaIndex."""
    plain = li_huggingface.HuggingFaceEmbedding(model_name=model_path, trust_remote_code=True, device="cpu")
    bare = st_model.encode(queries[:1], normalize_embeddings=True)[0]
    np.testing.assert_allclose(plain.get_query_embedding(queries[0]), bare, atol=1e-6)
    np.testing.assert_allclose(plain.get_text_embedding(queries[0]), bare, atol=1e-6)


def test_plain_llamaindex_with_the_saved_instructions_is_equivalent(
    model_path, st_model, embedding, queries, documents
):
    by_hand = li_huggingface.HuggingFaceEmbedding(
        model_name=model_path,
        trust_remote_code=True,
        device="cpu",
        query_instruction=st_model.prompts["query"],
        text_instruction=st_model.prompts["document"],
    )
    np.testing.assert_allclose(
        by_hand.get_query_embedding(queries[0]), embedding.get_query_embedding(queries[0]), atol=1e-6
    )
    np.testing.assert_allclose(
        by_hand.get_text_embedding(documents[0]), embedding.get_text_embedding(documents[0]), atol=1e-6
    )


def test_options_pass_through(model_path, st_model, queries):
    raw = llamaindex_embedding(model_path, device="cpu", normalize=False, query_instruction="Answer:")
    np.testing.assert_allclose(
        raw.get_query_embedding(queries[0]), st_model.encode(queries[:1], prompt="Answer:")[0], atol=1e-6
    )
    np.testing.assert_allclose(raw.get_text_embedding(queries[0]), st_model.encode_document(queries[:1])[0], atol=1e-6)
    symmetric = llamaindex_embedding(model_path, device="cpu", query_prompt_name="STS", document_prompt_name="STS")
    assert symmetric.query_instruction == symmetric.text_instruction == st_model.prompts["STS"]
    with pytest.raises(ValueError, match="no prompt named 'passage'"):
        llamaindex_embedding(model_path, document_prompt_name="passage")


def test_vector_store_index_ranks_as_sentence_transformers_does(embedding, st_model, queries, documents):
    nodes = [TextNode(text=text, id_=str(i)) for i, text in enumerate(documents)]
    index = VectorStoreIndex(nodes, embed_model=embedding)
    retriever = index.as_retriever(similarity_top_k=len(documents))
    scores = st_model.similarity(st_model.encode_query(queries), st_model.encode_document(documents)).numpy()
    for query, row in zip(queries, scores):
        hits = retriever.retrieve(query)
        assert [int(hit.node.node_id) for hit in hits] == np.argsort(-row, kind="stable").tolist()
        np.testing.assert_allclose([hit.score for hit in hits], np.sort(row)[::-1], atol=1e-5)
