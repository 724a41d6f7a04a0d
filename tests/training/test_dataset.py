"""The training dataset: prompt groups, the cut-response column, and the instruction joined as at inference."""

from __future__ import annotations

import numpy as np
import torch
from datasets import DatasetDict
from sentence_transformers import SentenceTransformerTrainingArguments

from st_llm2vec_gen import DEFAULT_PROMPTS, LLM2VecGenTrainer, create_model
from st_llm2vec_gen.io.records import Pairs
from st_llm2vec_gen.training.collator import CUT_COLUMN, LLM2VecGenDataCollator
from st_llm2vec_gen.training.dataset import QUERIES, split_prompt, training_dataset

QUERY, DOCUMENT = DEFAULT_PROMPTS["query"], DEFAULT_PROMPTS["document"]
PAIRS = Pairs(
    queries=[
        "Where do polar bears live?",
        f"{DOCUMENT} Polar bears live on sea ice.",
        f"{QUERY} Why is ice slippery?",
    ],
    responses=["In the Arctic.", "Polar bears need sea ice.", "A thin film of water."],
    truncated=[False, True, False],
)


def test_split_prompt_inverts_the_joining_rule():
    assert split_prompt(f"{DOCUMENT} A passage.", DEFAULT_PROMPTS) == ("document", "A passage.")
    assert split_prompt(f"{DOCUMENT}A passage.", DEFAULT_PROMPTS) == (None, f"{DOCUMENT}A passage.")  # no space
    assert split_prompt("Plain text.", DEFAULT_PROMPTS) == (None, "Plain text.")


def test_wrapped_passages_train_in_their_own_dataset_with_their_prompt():
    labels = np.arange(6, dtype=np.float32).reshape(3, 2)
    dataset, prompts = training_dataset(PAIRS, labels, QUERY, DEFAULT_PROMPTS)
    assert isinstance(dataset, DatasetDict) and set(dataset) == {QUERIES, "document"}
    assert prompts == {QUERIES: {"query": QUERY}, "document": {"query": DOCUMENT}}
    assert dataset[QUERIES]["query"] == ["Where do polar bears live?", "Why is ice slippery?"]  # the prompt once
    assert dataset["document"]["query"] == ["Polar bears live on sea ice."]
    assert dataset["document"][CUT_COLUMN] == [True] and dataset[QUERIES][CUT_COLUMN] == [False, False]
    np.testing.assert_array_equal(dataset["document"]["label"], labels[1:2])


def test_plain_queries_give_one_dataset_and_no_cut_column_when_nothing_was_cut():
    pairs = Pairs(queries=["a?", "b?"], responses=["A.", "B."], truncated=[False, False])
    dataset, prompts = training_dataset(pairs, np.zeros((2, 2), np.float32), None, DEFAULT_PROMPTS)
    assert dataset.column_names == ["query", "response", "label"] and prompts == {}


def test_the_collator_tokenizes_as_inference_and_hands_the_cut_flag_to_the_response_features(llama_path, tmp_path):
    model = create_model(llama_path, num_tokens=2, max_seq_length=48)
    dataset, prompts = training_dataset(PAIRS, np.zeros((3, 32), np.float32), QUERY, model.prompts)
    collate = LLM2VecGenDataCollator(model.preprocess, router_mapping={"response": "response"}, prompts=prompts)
    rows = [{**row, "dataset_name": "document"} for row in dataset["document"]]
    batch = collate(rows)
    expected = model[0].preprocess([PAIRS.queries[1]])  # the stored text, as encode() tokenizes it
    assert torch.equal(batch["query_input_ids"], expected["input_ids"])
    args = SentenceTransformerTrainingArguments(str(tmp_path), use_cpu=True, router_mapping={"response": "response"})
    trainer = LLM2VecGenTrainer(model=model, args=args, train_dataset=dataset[QUERIES])
    (query, response), _ = trainer.collect_features(batch)
    assert response["truncated"].tolist() == [True] and "truncated" not in query
