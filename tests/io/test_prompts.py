"""A saved model's prompts, read without loading it, and the one check of a prompt name."""

from __future__ import annotations

import json

import pytest

from st_llm2vec_gen import DEFAULT_MODEL, DEFAULT_PROMPTS
from st_llm2vec_gen.io.prompts import SETTINGS_FILE, check_prompt_name, saved_prompts


def test_saved_prompts_read_the_settings_file_alone(tmp_path):
    assert saved_prompts(DEFAULT_MODEL) == DEFAULT_PROMPTS
    assert saved_prompts(str(tmp_path)) == {}  # a directory without the settings file
    (tmp_path / SETTINGS_FILE).write_text(json.dumps({"prompts": {"query": "Q:", "empty": None}}))
    assert saved_prompts(str(tmp_path)) == {"query": "Q:", "empty": ""}
    (tmp_path / SETTINGS_FILE).write_text(json.dumps({"prompts": {"query": 3}}))
    with pytest.raises(ValueError, match="'prompts' must be an object of strings"):
        saved_prompts(str(tmp_path))
    (tmp_path / SETTINGS_FILE).write_text("{")
    with pytest.raises(ValueError, match=f"{SETTINGS_FILE} is not valid JSON"):
        saved_prompts(str(tmp_path))


def test_an_unknown_prompt_name_is_refused_naming_the_known_ones():
    check_prompt_name({"query": "Q:"}, "query")
    check_prompt_name({"query": "Q:"}, None)  # no prompt asked for
    check_prompt_name(None, "anything")  # prompts not known yet (a hub id): the model checks once loaded
    with pytest.raises(ValueError, match=r"Unknown prompt name 'nope'; the model has \['document', 'query'\]"):
        check_prompt_name({"query": "Q:", "document": "D:"}, "nope")
