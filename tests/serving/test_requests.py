"""Request checks, model info, settings and the command's options, without a server."""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys

import numpy as np
import pytest

from st_llm2vec_gen import DEFAULT_MODEL
from st_llm2vec_gen.cli.serve import add_serve
from st_llm2vec_gen.serving import Limits, ModelInfo, RequestError, ServeSettings, parse_request, read_model_info
from st_llm2vec_gen.serving.responses import embeddings_body

INFO = ModelInfo(
    path="m", model_id="m", prompts={"query": "Q:", "document": "D:", "STS": "S:"}, default_prompt="document"
)
LIMITS = Limits(max_inputs=3, max_chars=10)


def parse(**body):
    return parse_request(body, INFO, LIMITS)


def test_prompt_from_model_suffix_field_or_default():
    assert parse(model="m:query", input="a").prompt_name == "query"
    assert parse(model="m", input="a", prompt_name="STS").prompt_name == "STS"
    assert parse(model="m:query", input="a", prompt_name="query").prompt_name == "query"
    job = parse(model="m", input=["a", "b"])
    assert (job.prompt_name, job.texts, job.encoding_format) == ("document", ["a", "b"], "float")


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"model": "m", "input": []}, 400, "empty list"),
        ({"model": "m", "input": ""}, 400, "empty or blank"),
        ({"model": "m", "input": ["a", " \n"]}, 400, "input[1] is empty or blank"),
        ({"model": "m", "input": [1, 2]}, 400, "token ids"),
        ({"model": "m", "input": [[1, 2]]}, 400, "token ids"),
        ({"model": "m", "input": [True]}, 400, "a boolean"),
        ({"model": "m", "input": None}, 400, "'input' is missing"),
        ({"model": "m"}, 400, "'input' is missing"),
        ({"model": "m", "input": {"a": 1}}, 400, "a string or a list of strings"),
        ({"model": "m", "input": ["a"] * 4}, 413, "limit is 3"),
        ({"model": "m", "input": "x" * 11}, 413, "limit is 10"),
        ({"model": "m:nope", "input": "a"}, 400, "saved prompts are: STS, document, query"),
        ({"model": "m", "input": "a", "prompt_name": "nope"}, 400, "saved prompts are: STS, document, query"),
        ({"model": "m:query", "input": "a", "prompt_name": "STS"}, 400, "but prompt_name is 'STS'"),
        ({"model": "m", "input": "a", "prompt_name": 3}, 400, "prompt_name must be a string"),
        ({"model": "other", "input": "a"}, 404, "not served here"),
        ({"input": "a"}, 400, "'model' must be a string"),
        ({"model": "m", "input": "a", "encoding_format": "int8"}, 400, "encoding_format"),
        ({"model": "m", "input": "a", "dimensions": 8}, 400, "dimensions"),
    ],
)
def test_bad_requests_are_refused_with_a_message(body, status, words):
    with pytest.raises(RequestError) as caught:
        parse(**body)
    assert caught.value.status == status
    assert words in caught.value.message


def test_body_must_be_an_object():
    with pytest.raises(RequestError, match="JSON object"):
        parse_request(["a"], INFO, LIMITS)


def test_model_info_of_a_saved_model(tmp_path):
    info = read_model_info(DEFAULT_MODEL)
    assert (info.model_id, info.default_prompt) == ("default_model", "document")
    assert {"query", "document"} <= set(info.prompts)
    (tmp_path / "config_sentence_transformers.json").write_text(json.dumps({"prompts": {"passage": "P:"}}))
    assert read_model_info(str(tmp_path), served_name="x").default_prompt == "passage"
    with pytest.raises(ValueError, match="cannot contain ':'"):
        read_model_info(str(tmp_path), served_name="a:b")


def test_settings_refuse_other_hosts_and_ports():
    with pytest.raises(ValueError, match="host"):
        ServeSettings(host="10.0.0.1")
    with pytest.raises(ValueError, match="port"):
        ServeSettings(port=80)
    assert ServeSettings().max_body_bytes > ServeSettings().max_inputs * ServeSettings().max_chars


def test_base64_is_little_endian_float32():
    vectors = np.array([[1.5, -2.0, 3.25]], dtype=np.float32)
    body = embeddings_body(vectors, "m", 7, "base64")
    decoded = np.frombuffer(base64.b64decode(body["data"][0]["embedding"]), dtype="<f4")
    assert np.array_equal(decoded, vectors[0])
    assert body["usage"] == {"prompt_tokens": 7, "total_tokens": 7}
    assert embeddings_body(vectors, "m", 7, "float")["data"][0]["embedding"] == [1.5, -2.0, 3.25]


def test_without_litserve_the_error_says_which_extra(monkeypatch):
    from st_llm2vec_gen.serving import build_server

    monkeypatch.setitem(sys.modules, "litserve", None)  # as if not installed
    with pytest.raises(ImportError, match=re.escape("pip install 'st-llm2vec-gen[serve]'")):
        build_server(ServeSettings())


def test_add_serve_registers_the_command():
    parser = argparse.ArgumentParser()
    add_serve(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["serve", "--port", "9001", "--max-inputs", "4"])
    assert (args.host, args.port, args.model, args.max_inputs, args.access_log) == ("127.0.0.1", 9001, None, 4, False)
    assert callable(args.run)
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--host", "10.0.0.1"])


def test_main_cli_has_serve_once_wired():
    from st_llm2vec_gen.cli.main import build_parser

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    if "serve" not in commands:
        pytest.skip("st_llm2vec_gen/cli/main.py does not call add_serve yet")
    assert commands["serve"].get_default("run") is not None
