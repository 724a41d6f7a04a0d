"""LangChain's HuggingFaceEmbeddings on an LLM2Vec-Gen model: the saved query/document instructions reach it."""

from __future__ import annotations

import numpy as np
import pytest

from st_llm2vec_gen.integrations import langchain_embeddings

langchain_huggingface = pytest.importorskip("langchain_huggingface")
from langchain_core.documents import Document  # noqa: E402  (langchain-core comes with langchain-huggingface)
from langchain_core.vectorstores import InMemoryVectorStore  # noqa: E402


@pytest.fixture(scope="module")
def embeddings(model_path):
    return langchain_embeddings(model_path)


def test_queries_and_documents_match_encode_query_and_encode_document(embeddings, st_model, queries, documents):
    assert isinstance(embeddings, langchain_huggingface.HuggingFaceEmbeddings)
    for query in queries:
        np.testing.assert_allclose(embeddings.embed_query(query), st_model.encode_query([query])[0], atol=1e-6)
    np.testing.assert_allclose(embeddings.embed_documents(documents), st_model.encode_document(documents), atol=1e-6)


def test_instructions_are_applied(embeddings, st_model, queries):
    """The same text embeds differently as a query and as a document, and neither is the bare text."""
    text = queries[0]
    query, document = np.array(embeddings.embed_query(text)), np.array(embeddings.embed_documents([text])[0])
    bare = st_model.encode([text])[0]
    assert not np.allclose(query, document, atol=1e-4)
    assert not np.allclose(query, bare, atol=1e-4) and not np.allclose(document, bare, atol=1e-4)


def test_plain_langchain_configuration_is_equivalent(model_path, embeddings, queries, documents):
    """What the helper builds is what a user writes by hand (README-style), prompt names included."""
    by_hand = langchain_huggingface.HuggingFaceEmbeddings(
        model_name=model_path,
        model_kwargs={"trust_remote_code": True},
        encode_kwargs={"prompt_name": "document"},
        query_encode_kwargs={"prompt_name": "query"},
    )
    np.testing.assert_allclose(by_hand.embed_query(queries[0]), embeddings.embed_query(queries[0]), atol=1e-6)
    np.testing.assert_allclose(by_hand.embed_documents(documents), embeddings.embed_documents(documents), atol=1e-6)


def test_without_prompt_names_langchain_drops_the_instructions(model_path, st_model, queries):
    """The quirk the helper exists for: LangChain calls encode(), never encode_query(), so no prompt is applied."""
    plain = langchain_huggingface.HuggingFaceEmbeddings(model_name=model_path, model_kwargs={"trust_remote_code": True})
    np.testing.assert_allclose(plain.embed_query(queries[0]), st_model.encode([queries[0]])[0], atol=1e-6)
    assert not np.allclose(plain.embed_query(queries[0]), st_model.encode_query([queries[0]])[0], atol=1e-4)


def test_encode_kwargs_reach_queries_too(model_path, st_model, queries, documents):
    """LangChain uses query_encode_kwargs instead of encode_kwargs for queries: the helper copies them over."""
    normalized = langchain_embeddings(model_path, encode_kwargs={"normalize_embeddings": True, "batch_size": 2})
    query = np.array(normalized.embed_query(queries[0]))
    assert np.linalg.norm(query) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(query, st_model.encode_query(queries[:1], normalize_embeddings=True)[0], atol=1e-6)
    embedded = normalized.embed_documents(documents)
    np.testing.assert_allclose(embedded, st_model.encode_document(documents, normalize_embeddings=True), atol=1e-6)


def test_other_saved_prompts_can_be_chosen(model_path, st_model, queries):
    symmetric = langchain_embeddings(model_path, query_prompt_name="STS", document_prompt_name="STS")
    expected = st_model.encode(queries[:1], prompt_name="STS")[0]
    np.testing.assert_allclose(symmetric.embed_query(queries[0]), expected, atol=1e-6)
    np.testing.assert_allclose(symmetric.embed_documents(queries[:1])[0], expected, atol=1e-6)


def test_newlines_become_spaces(embeddings, st_model):
    """LangChain replaces newlines by spaces before encoding; documented, not hidden."""
    (embedded,) = embeddings.embed_documents(["Polar bears live in the Arctic.\nThey hunt seals."])
    expected = st_model.encode_document(["Polar bears live in the Arctic. They hunt seals."])[0]
    np.testing.assert_allclose(embedded, expected, atol=1e-6)


def test_in_memory_vector_store_ranks_as_sentence_transformers_does(embeddings, st_model, queries, documents):
    store = InMemoryVectorStore(embeddings)
    store.add_documents([Document(page_content=text, metadata={"i": i}) for i, text in enumerate(documents)])
    scores = st_model.similarity(st_model.encode_query(queries), st_model.encode_document(documents)).numpy()
    for query, row in zip(queries, scores):
        hits = store.similarity_search_with_score(query, k=len(documents))
        assert [doc.metadata["i"] for doc, _ in hits] == np.argsort(-row, kind="stable").tolist()
        np.testing.assert_allclose([score for _, score in hits], np.sort(row)[::-1], atol=1e-5)


def test_bad_configurations_fail_before_loading(model_path):
    with pytest.raises(ValueError, match="no prompt named 'passage'"):
        langchain_embeddings(model_path, document_prompt_name="passage")
    with pytest.raises(ValueError, match="multi_process"):
        langchain_embeddings(model_path, multi_process=True)
    with pytest.raises(ValueError, match="query_prompt_name"):
        langchain_embeddings(model_path, encode_kwargs={"prompt_name": "STS"})


def test_prompts_given_at_load_time_count(model_path, st_model, queries):
    """model_kwargs={"prompts": ...} adds prompts on top of the saved ones, as in SentenceTransformer(...)."""
    custom = langchain_embeddings(model_path, query_prompt_name="mine", model_kwargs={"prompts": {"mine": "Answer:"}})
    np.testing.assert_allclose(
        custom.embed_query(queries[0]), st_model.encode(queries[:1], prompt="Answer:")[0], atol=1e-6
    )
