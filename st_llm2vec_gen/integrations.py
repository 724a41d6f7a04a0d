"""LangChain and LlamaIndex embedders for LLM2Vec-Gen models, with the saved query and document instructions.

Both frameworks wrap a SentenceTransformer, but neither applies a saved model's prompts the way ``encode_query`` /
``encode_document`` do:

- LangChain's ``HuggingFaceEmbeddings`` calls ``encode`` for queries and documents alike (never ``encode_query``), so
  both get no instruction unless its encode kwargs name a ``prompt_name``. It also replaces newlines by spaces, and
  with ``multi_process=True`` it drops its encode kwargs (and with them the instructions).
- LlamaIndex's ``HuggingFaceEmbedding`` passes ``prompts={"query": ..., "text": ...}`` to the SentenceTransformer,
  filled with ``""`` for models it does not know: that overrides the saved ``query`` prompt, and documents (prompt
  name ``text``) get no instruction either.

:func:`langchain_embeddings` and :func:`llamaindex_embedding` build the framework's own class, configured with the
instructions saved in the model, so that its query and document embeddings equal ``encode_query`` /
``encode_document`` (LlamaIndex L2-normalises them by default). The frameworks are imported only when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .io.prompts import saved_prompts

if TYPE_CHECKING:
    from langchain_huggingface import HuggingFaceEmbeddings
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

__all__ = ["langchain_embeddings", "llamaindex_embedding", "saved_prompts"]


def _instructions(
    model_name_or_path: str, prompts: dict[str, str], query_prompt_name: str, document_prompt_name: str
) -> tuple[str, str]:
    missing = [name for name in (query_prompt_name, document_prompt_name) if name not in prompts]
    if missing:
        raise ValueError(
            f"{model_name_or_path!r} has no prompt named {', '.join(map(repr, missing))} (its prompts: "
            f"{sorted(prompts)}). Pass query_prompt_name/document_prompt_name naming existing prompts, or add the "
            "prompts to the model (SentenceTransformer(..., prompts={...}).save(...))."
        )
    return prompts[query_prompt_name], prompts[document_prompt_name]


def _missing(package: str, extra: str, framework: str) -> ImportError:
    return ImportError(
        f"{framework} support needs the `{package}` package: pip install 'st-llm2vec-gen[{extra}]' "
        f"(or pip install {package})."
    )


def langchain_embeddings(
    model_name_or_path: str | None = None,
    *,
    query_prompt_name: str = "query",
    document_prompt_name: str = "document",
    model_kwargs: dict[str, Any] | None = None,
    encode_kwargs: dict[str, Any] | None = None,
    **kwargs: Any,
) -> HuggingFaceEmbeddings:
    """A LangChain ``HuggingFaceEmbeddings`` that embeds queries and documents with the model's instructions.

    ``embed_query(text)`` equals ``encode_query([text])[0]`` and ``embed_documents(texts)`` equals
    ``encode_document(texts)`` (LangChain replaces newlines in the texts by spaces first).

    Args:
        model_name_or_path: A saved LLM2Vec-Gen model (local directory or hub id); the embedded default model when
            None.
        query_prompt_name: The saved prompt for queries (e.g. ``"STS"`` for symmetric similarity).
        document_prompt_name: The saved prompt for documents.
        model_kwargs: For ``SentenceTransformer(...)``; ``trust_remote_code=True`` is added, which ST needs to load
            the LLM2Vec-Gen module. ``prompts`` here add to or override the saved ones.
        encode_kwargs: For ``encode`` of both queries and documents (``batch_size``, ``normalize_embeddings``, ...);
            the prompt name is set here.
        **kwargs: Other ``HuggingFaceEmbeddings`` fields (``cache_folder``, ``show_progress``).

    Returns:
        The configured ``langchain_huggingface.HuggingFaceEmbeddings``.
    """
    try:
        from langchain_huggingface import HuggingFaceEmbeddings
    except ImportError as exc:
        raise _missing("langchain-huggingface", "langchain", "LangChain") from exc
    if kwargs.get("multi_process"):
        raise ValueError(
            "multi_process=True is not supported: LangChain then encodes without its encode kwargs, so the query "
            "and document instructions would be dropped."
        )
    if model_name_or_path is None:
        from . import DEFAULT_MODEL

        model_name_or_path = DEFAULT_MODEL
    model_kwargs = {"trust_remote_code": True, **(model_kwargs or {})}
    prompts = saved_prompts(model_name_or_path, kwargs.get("cache_folder"), **model_kwargs)
    prompts.update(model_kwargs.get("prompts") or {})
    _instructions(model_name_or_path, prompts, query_prompt_name, document_prompt_name)  # fails before loading
    encode_kwargs = dict(encode_kwargs or {})
    if {"prompt", "prompt_name"} & encode_kwargs.keys():
        raise ValueError("Choose the instructions with query_prompt_name/document_prompt_name, not in encode_kwargs.")
    return HuggingFaceEmbeddings(
        model_name=model_name_or_path,
        model_kwargs=model_kwargs,
        # LangChain uses query_encode_kwargs *instead of* encode_kwargs for queries, so both carry everything.
        encode_kwargs={**encode_kwargs, "prompt_name": document_prompt_name},
        query_encode_kwargs={**encode_kwargs, "prompt_name": query_prompt_name},
        **kwargs,
    )


def llamaindex_embedding(
    model_name_or_path: str | None = None,
    *,
    query_prompt_name: str = "query",
    document_prompt_name: str = "document",
    **kwargs: Any,
) -> HuggingFaceEmbedding:
    """A LlamaIndex ``HuggingFaceEmbedding`` that embeds queries and texts with the model's instructions.

    ``get_query_embedding(text)`` equals ``encode_query([text], normalize_embeddings=True)[0]`` and
    ``get_text_embedding(text)`` the same with ``encode_document`` (``normalize=False`` drops the normalisation).

    Args:
        model_name_or_path: A saved LLM2Vec-Gen model (local directory or hub id); the embedded default model when
            None.
        query_prompt_name: The saved prompt for queries.
        document_prompt_name: The saved prompt for texts (LlamaIndex's documents and nodes).
        **kwargs: Other ``HuggingFaceEmbedding`` arguments (``device``, ``embed_batch_size``, ``normalize``,
            ``cache_folder``, ``token``, ``revision``, ...); ``trust_remote_code`` defaults to True. An explicit
            ``query_instruction`` / ``text_instruction`` wins over the saved prompt.

    Returns:
        The configured ``llama_index.embeddings.huggingface.HuggingFaceEmbedding``.
    """
    try:
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    except ImportError as exc:
        raise _missing("llama-index-embeddings-huggingface", "llamaindex", "LlamaIndex") from exc
    if model_name_or_path is None:
        from . import DEFAULT_MODEL

        model_name_or_path = DEFAULT_MODEL
    kwargs.setdefault("trust_remote_code", True)
    if kwargs.get("query_instruction") is None or kwargs.get("text_instruction") is None:
        from llama_index.core.utils import get_cache_dir

        cache_folder = kwargs.get("cache_folder") or get_cache_dir()  # where LlamaIndex has ST look for hub models
        prompts = saved_prompts(model_name_or_path, cache_folder, **kwargs)
        query, document = _instructions(model_name_or_path, prompts, query_prompt_name, document_prompt_name)
        if kwargs.get("query_instruction") is None:
            kwargs["query_instruction"] = query
        if kwargs.get("text_instruction") is None:
            kwargs["text_instruction"] = document
    return HuggingFaceEmbedding(model_name=model_name_or_path, **kwargs)
