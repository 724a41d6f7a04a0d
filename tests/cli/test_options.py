"""Command options built from the settings dataclasses: one per field, typed, documented, never drifting."""

from __future__ import annotations

import inspect
from dataclasses import fields

import pytest

from st_llm2vec_gen.cli.main import build_parser
from st_llm2vec_gen.cli.options import attribute_docs
from st_llm2vec_gen.corpus import EncodeSettings, encode_corpus
from st_llm2vec_gen.evaluation import EvaluationConfig
from st_llm2vec_gen.generation import GenerationSettings


def _options(command: str) -> set[str]:
    sub = next(a for a in build_parser()._actions if a.dest == "command")  # argparse keeps subparsers here
    return {o for action in sub.choices[command]._actions for o in action.option_strings}


@pytest.mark.parametrize(
    ("command", "cls", "skip"),
    [
        ("generate", GenerationSettings, ()),
        ("encode", EncodeSettings, ()),
        ("evaluate", EvaluationConfig, ("teacher", "sizes")),
    ],  # fmt: skip
)
def test_every_settings_field_is_an_option_with_its_docstring(command, cls, skip):
    docs = attribute_docs(cls)
    for f in fields(cls):
        if f.name not in skip:
            assert "--" + f.name.replace("_", "-") in _options(command), f.name
            assert docs.get(f.name), f"{cls.__name__}.{f.name} has no Attributes entry"


def test_encode_settings_are_exactly_encode_corpus_keywords():
    keywords = set(inspect.signature(encode_corpus).parameters) - {"model", "corpus", "output", "show_progress"}
    assert keywords == {f.name for f in fields(EncodeSettings)}


def test_booleans_take_a_value_flag_or_negation_but_never_swallow_texts():
    parser = build_parser()
    base = ["evaluate", "--methods", "llm2vec_gen"]
    assert parser.parse_args([*base, "--interpretability", "false"]).interpretability is False
    assert parser.parse_args([*base, "--no-interpretability"]).interpretability is False
    assert parser.parse_args([*base, "--interpretability"]).interpretability is True
    args = parser.parse_args(["encode", "--model", "m", "--output", "o", "--normalize", "a text"])
    assert args.normalize is True and args.texts == ["a text"]
