"""``llm2vec-gen serve`` end to end: a real server in a child process on 127.0.0.1, called by the openai client,
LangChain and LlamaIndex and by raw HTTP; vectors compared with in-process ``encode_query`` / ``encode_document``."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from serve_helpers import LIMITS, SERVED_NAME, server_env, start_server

from st_llm2vec_gen import DEFAULT_MODEL

pytest.importorskip("litserve")  # the `serve` extra
from st_llm2vec_gen.serving.spec import BATCH_HEADER  # noqa: E402 - needs litserve

pytestmark = pytest.mark.slow  # end to end, other processes: `pytest -m slow` (CI runs it)

QUERIES = ["Where do polar bears live?", "What is the capital of France?", "How does photosynthesis work?"]
DOCUMENTS = ["Polar bears live on the Arctic sea ice.", "Paris is the capital of France, on the Seine."]
ATOL = 1e-5


def close(got, expected) -> None:
    np.testing.assert_allclose(np.asarray(got, dtype=np.float32), expected, rtol=0, atol=ATOL)


def openai_client(server):
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0, timeout=60)


def vectors(response) -> np.ndarray:
    return np.array([item.embedding for item in sorted(response.data, key=lambda d: d.index)], dtype=np.float32)


def test_health_and_models(tiny_server):
    assert httpx.get(f"{tiny_server.url}/health").text == "ok"
    ids = [m["id"] for m in httpx.get(f"{tiny_server.url}/v1/models").json()["data"]]
    assert ids[0] == SERVED_NAME and {f"{SERVED_NAME}:query", f"{SERVED_NAME}:document"} <= set(ids)


def test_openai_client_gets_the_in_process_vectors(tiny_server, tiny_model):
    client = openai_client(tiny_server)
    queries, documents = tiny_model.encode_query(QUERIES), tiny_model.encode_document(DOCUMENTS)
    close(vectors(client.embeddings.create(model=f"{SERVED_NAME}:query", input=QUERIES)), queries)
    by_field = client.embeddings.create(model=SERVED_NAME, input=QUERIES, extra_body={"prompt_name": "query"})
    close(vectors(by_field), queries)
    default = client.embeddings.create(model=SERVED_NAME, input=DOCUMENTS, encoding_format="float")
    close(vectors(default), documents)  # no prompt named: the document prompt
    one = client.embeddings.create(model=f"{SERVED_NAME}:document", input=DOCUMENTS[0])
    close(vectors(one), documents[:1])
    assert one.usage.prompt_tokens > 0 and one.model == f"{SERVED_NAME}:document"


def test_langchain_openai_embeddings(tiny_server, tiny_model):
    langchain_openai = pytest.importorskip("langchain_openai")

    def embeddings(model: str):
        return langchain_openai.OpenAIEmbeddings(
            base_url=f"{tiny_server.url}/v1", api_key="x", model=model, check_embedding_ctx_length=False, max_retries=0
        )

    queries, documents = embeddings(f"{SERVED_NAME}:query"), embeddings(SERVED_NAME)
    close([queries.embed_query(QUERIES[0])], tiny_model.encode_query(QUERIES[:1]))
    close(documents.embed_documents(DOCUMENTS), tiny_model.encode_document(DOCUMENTS))
    # docs/integrations.md: documents in a store with the document prompt, searched with query-prompt vectors
    from langchain_core.vectorstores import InMemoryVectorStore

    store = InMemoryVectorStore.from_texts(DOCUMENTS, documents)
    found = store.similarity_search_by_vector(queries.embed_query(QUERIES[0]), k=len(DOCUMENTS))
    assert sorted(d.page_content for d in found) == sorted(DOCUMENTS)


def test_llamaindex_openai_like_embedding(tiny_server, tiny_model):
    openai_like = pytest.importorskip("llama_index.embeddings.openai_like")

    def embed_model(model: str):
        return openai_like.OpenAILikeEmbedding(model_name=model, api_base=f"{tiny_server.url}/v1", api_key="x")

    queries, documents = embed_model(f"{SERVED_NAME}:query"), embed_model(SERVED_NAME)
    close([queries.get_query_embedding(QUERIES[1])], tiny_model.encode_query(QUERIES[1:2]))
    close(documents.get_text_embedding_batch(DOCUMENTS), tiny_model.encode_document(DOCUMENTS))
    # docs/integrations.md: an index built with the document prompt, a retriever with the query prompt
    from llama_index.core import Document, VectorStoreIndex

    index = VectorStoreIndex.from_documents([Document(text=t) for t in DOCUMENTS], embed_model=documents)
    found = index.as_retriever(embed_model=queries, similarity_top_k=len(DOCUMENTS)).retrieve(QUERIES[1])
    assert sorted(n.node.get_content() for n in found) == sorted(DOCUMENTS)


BAD_BODIES = [
    ({"model": SERVED_NAME, "input": []}, 400, "empty list"),
    ({"model": SERVED_NAME, "input": ["ok", ""]}, 400, "input[1] is empty"),
    ({"model": SERVED_NAME, "input": "   "}, 400, "empty or blank"),
    ({"model": SERVED_NAME, "input": [101, 2054]}, 400, "token ids"),
    ({"model": SERVED_NAME, "input": [[101, 2054]]}, 400, "token ids"),
    ({"model": SERVED_NAME, "input": 42}, 400, "a string or a list of strings"),
    ({"model": SERVED_NAME, "input": ["a"] * (LIMITS["max_inputs"] + 1)}, 413, "limit is"),
    ({"model": SERVED_NAME, "input": "x" * (LIMITS["max_chars"] + 1)}, 413, "limit is"),
    ({"model": f"{SERVED_NAME}:nope", "input": "a"}, 400, "saved prompts are: Classification"),
    ({"model": SERVED_NAME, "input": "a", "prompt_name": "nope"}, 400, "document"),
    ({"model": "gpt-4", "input": "a"}, 404, "not served here"),
    ({"model": SERVED_NAME, "input": "a", "encoding_format": "int8"}, 400, "encoding_format"),
]


@pytest.mark.parametrize(("body", "status", "words"), BAD_BODIES)
def test_bad_requests_get_4xx_with_a_message(tiny_server, body, status, words):
    response = httpx.post(f"{tiny_server.url}/v1/embeddings", json=body, timeout=60)
    assert response.status_code == status
    assert words in response.json()["error"]["message"]


def test_malformed_and_oversized_bodies(tiny_server):
    url = f"{tiny_server.url}/v1/embeddings"
    response = httpx.post(url, content=b"{not json", headers={"content-type": "application/json"}, timeout=60)
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]["message"]
    assert httpx.post(url, json=["a list"], timeout=60).status_code == 400
    huge = b'{"model": "tiny", "input": "' + b"a" * 2_000_000 + b'"}'
    assert httpx.post(url, content=huge, headers={"content-type": "application/json"}, timeout=60).status_code == 413
    assert httpx.get(f"{tiny_server.url}/health").status_code == 200  # still serving


def test_32_concurrent_clients_are_batched(tiny_server, tiny_model):
    """32 clients at once, each one text (queries and documents mixed), plus bad requests among them: every good one
    gets its in-process vector, the bad ones a 400, and the worker encodes requests together."""
    texts = [f"Question {i}: what do polar bears eat in month {i}?" for i in range(32)]
    prompts = ["query" if i % 2 else "document" for i in range(32)]
    bodies = [{"model": f"{SERVED_NAME}:{p}", "input": t} for t, p in zip(texts, prompts)]
    bodies += [{"model": SERVED_NAME, "input": ""}] * 4
    start = time.monotonic()
    with httpx.Client(timeout=120, limits=httpx.Limits(max_connections=40)) as client:
        with ThreadPoolExecutor(len(bodies)) as pool:
            responses = list(pool.map(lambda b: client.post(f"{tiny_server.url}/v1/embeddings", json=b), bodies))
    assert time.monotonic() - start < 120
    assert [r.status_code for r in responses] == [200] * 32 + [400] * 4
    got = np.array([r.json()["data"][0]["embedding"] for r in responses[:32]], dtype=np.float32)
    for name in ("query", "document"):
        rows = [i for i, p in enumerate(prompts) if p == name]
        close(got[rows], tiny_model.encode([texts[i] for i in rows], prompt_name=name))
    assert max(int(r.headers[BATCH_HEADER]) for r in responses[:32]) > 1


def test_a_missing_model_fails_fast_with_exit_code_1():
    command = [sys.executable, "-m", "st_llm2vec_gen.cli", "serve", "--port", "18999", "--model", "/nonexistent/model"]
    missing = subprocess.run(command, capture_output=True, text=True, timeout=120, env=server_env())
    assert missing.returncode == 1 and "/nonexistent/model" in missing.stderr


@pytest.mark.backbone
def test_default_model_serves_and_stops_on_sigterm():
    """The embedded default model (the command's default): openai-client vectors equal in-process encode_query /
    encode_document; SIGTERM stops every process of the server within seconds."""
    from sentence_transformers import SentenceTransformer

    with start_server(None) as server:  # no --model: the embedded default model
        try:
            client = openai_client(server)
            model = SentenceTransformer(DEFAULT_MODEL, trust_remote_code=True)
            queries = client.embeddings.create(model="default_model:query", input=QUERIES[:2])
            close(vectors(queries), model.encode_query(QUERIES[:2]))
            documents = client.embeddings.create(model="default_model", input=DOCUMENTS)
            close(vectors(documents), model.encode_document(DOCUMENTS))
        finally:
            seconds = server.stop(timeout=30)
        assert server.process.returncode == 0, server.log()[-3000:]
        assert seconds < 10, f"SIGTERM took {seconds:.1f} s"
        assert server.gone(timeout=5), "processes of the server are left"
