"""The parts of st_llm2vec_gen.integrations that need neither LangChain nor LlamaIndex installed."""

from __future__ import annotations

import re
import sys

import pytest

from st_llm2vec_gen import DEFAULT_MODEL, DEFAULT_PROMPTS
from st_llm2vec_gen.integrations import langchain_embeddings, llamaindex_embedding, saved_prompts


def test_saved_prompts_are_read_without_loading_the_model(tmp_path):
    assert saved_prompts(DEFAULT_MODEL) == DEFAULT_PROMPTS
    assert saved_prompts(str(tmp_path)) == {}  # a directory without config_sentence_transformers.json


@pytest.mark.parametrize(
    ("build", "module", "hint"),
    [
        (langchain_embeddings, "langchain_huggingface", "st-llm2vec-gen[langchain]"),
        (llamaindex_embedding, "llama_index.embeddings.huggingface", "[llamaindex]"),
    ],
)
def test_missing_framework_gives_an_install_hint(build, module, hint, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed: importing it raises ImportError
    with pytest.raises(ImportError, match=re.escape(hint)):
        build(DEFAULT_MODEL)
