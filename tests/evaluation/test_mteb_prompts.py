"""The published per-task instructions through mteb 2's own prompt resolution, on local tasks with registered names.

The tasks are the offline suite's classes renamed to registered mteb task names (their data stays the miniature
files): mteb resolves prompts by task name, so this exercises exactly what happens with the hub tasks, offline.
"""

from __future__ import annotations

import json

import mteb
import pytest
from mteb.models.abs_encoder import AbsEncoder
from sentence_transformers import SentenceTransformer

from st_llm2vec_gen import DEFAULT_PROMPTS
from st_llm2vec_gen.evaluation import OFFLINE_TASKS, SuiteSizes
from st_llm2vec_gen.evaluation.bright_prompts import BRIGHT_TASKS
from st_llm2vec_gen.evaluation.mteb_prompts import (
    INSTRUCTIONS_FILE,
    apply_paper_prompts,
    model_meta,
    mteb_model,
    paper_document_instruction,
    paper_instructions,
    paper_prompts,
    paper_source,
)

SIZES = SuiteSizes(sts_pairs=6, banking77_test=6, emotion_test=6, clustering_texts=9, scifact_queries=3,
                   scifact_distractors=4)  # fmt: skip
LOCAL_AS = {  # offline class -> the registered mteb task whose name it takes here
    "OfflineSTSBenchmark": "STSBenchmark",
    "OfflineBanking77Classification": "Banking77Classification",
    "OfflineBanking77Clustering": "StackExchangeClustering.v2",
    "OfflineSciFact": "SciFact",
}
SUMMARISE = "Summarize the following passage:"


def local_task(offline: str, name: str, data_dir):
    cls = OFFLINE_TASKS[offline]
    renamed = type(f"Local{cls.__name__}", (cls,), {"metadata": cls.metadata.model_copy(update={"name": name})})
    return renamed(data_dir=data_dir, sizes=SIZES)


@pytest.fixture()
def model(chat_model_dir):
    return SentenceTransformer(chat_model_dir, trust_remote_code=True)


def recorded_prompts(model, task) -> dict[str, set[str | None]]:
    """Runs mteb on ``task`` and returns, for each text the module encoded, the prompts it came with."""
    module = model[0]
    seen: dict[str, set[str | None]] = {}
    original = module.preprocess

    def preprocess(inputs, prompt=None, **kwargs):
        for text in inputs:
            seen.setdefault(text, set()).add(prompt)
        return original(inputs, prompt=prompt, **kwargs)

    module.preprocess = preprocess
    try:
        mteb.evaluate(model, task, cache=None, show_progress_bar=False)
    finally:
        del module.preprocess
    return seen


def test_the_data_file_names_its_source_and_covers_mteb_eng_v2():
    source = paper_source()
    assert source["repository"] == "https://github.com/McGill-NLP/llm2vec-gen" and source["license"] == "MIT"
    assert len(source["tasks_file_commit"]) == 40 and (INSTRUCTIONS_FILE.parent / source["license_file"]).is_file()
    assert paper_document_instruction() == SUMMARISE
    benchmark = {t.metadata.name for t in mteb.get_benchmark("MTEB(eng, v2)").tasks}  # metadata only, no data
    assert benchmark <= set(paper_instructions())
    assert json.loads(INSTRUCTIONS_FILE.read_text())["tasks"] == paper_instructions()


def test_prompt_keys_are_all_valid_for_mteb():
    prompts = paper_prompts()
    AbsEncoder.validate_task_to_prompt_name(prompts, raise_for_invalid_keys=True)  # raises on any dropped key
    assert "AdvBench-IR" in paper_instructions() and "AdvBench-IR" not in prompts  # the paper's own, unregistered
    assert len(prompts) == 2 * (len(paper_instructions()) - 1 + len(BRIGHT_TASKS))  # BRIGHT: per domain
    assert prompts["SciFact"] == paper_instructions()["SciFact"] and prompts["SciFact-document"] == SUMMARISE


def test_only_the_given_tasks_are_covered(data_dir):
    tasks = [local_task("OfflineSciFact", "SciFact", data_dir), "STS12", "NotATask", "OfflineSciFact"]
    assert set(paper_prompts(tasks)) == {"SciFact", "SciFact-document", "STS12", "STS12-document"}


@pytest.mark.parametrize("offline", list(LOCAL_AS))
def test_each_task_type_gets_its_published_instruction(model, data_dir, offline):
    name = LOCAL_AS[offline]
    task = local_task(offline, name, data_dir)
    added = apply_paper_prompts(model, [task])
    assert set(added) == {name, f"{name}-document"} and model.prompts["query"] == DEFAULT_PROMPTS["query"]
    instruction = paper_instructions()[name]
    if task.metadata.type == "Retrieval":  # queries: the task's instruction; documents: summarise
        task.load_data()  # mteb frees the data after evaluating
        split = task.dataset["default"]["test"]
        queries = set(split["queries"]["text"])
        documents = {f"{d['title']} {d['text']}".strip() for d in split["corpus"]}
        seen = recorded_prompts(model, task)
        assert queries and all(seen[q] == {instruction} for q in queries)
        assert documents and all(seen[d] == {SUMMARISE} for d in documents)
    else:  # symmetric tasks: every text gets the task's instruction
        seen = recorded_prompts(model, task)
        assert seen and all(prompts == {instruction} for prompts in seen.values())


def test_without_the_map_the_saved_per_type_prompts_apply(model, data_dir):
    task = local_task("OfflineSTSBenchmark", "STSBenchmark", data_dir)
    assert all(p == {DEFAULT_PROMPTS["STS"]} for p in recorded_prompts(model, task).values())
    apply_paper_prompts(model, ["STSBenchmark"])
    clustering = OFFLINE_TASKS["OfflineBanking77Clustering"](data_dir=data_dir, sizes=SIZES)  # no published entry
    assert all(p == {DEFAULT_PROMPTS["Clustering"]} for p in recorded_prompts(model, clustering).values())


def test_model_meta_describes_the_loaded_model(model, data_dir):
    meta = model_meta(model, name="me/tiny-llm2vec-gen", revision="abc123", license="apache-2.0")
    module = model[0]
    assert meta.name == "me/tiny-llm2vec-gen" and meta.revision == "abc123" and meta.languages == ["eng-Latn"]
    assert meta.n_parameters == sum(p.numel() for p in model.parameters())
    assert meta.n_embedding_parameters == module.backbone.get_input_embeddings().weight.numel()
    assert meta.embed_dim == module.embedding_dim and meta.max_tokens == model.max_seq_length
    assert meta.memory_usage_mb > 0 and meta.similarity_fn_name.value == "cosine" and meta.use_instructions
    assert meta.framework == ["Sentence Transformers", "PyTorch"] and "2603.10913" in meta.citation
    task = local_task("OfflineSTSBenchmark", "STSBenchmark", data_dir)
    result = mteb.evaluate(mteb_model(model, name="me/tiny-llm2vec-gen", revision="abc123"), task, cache=None)
    assert (result.model_name, result.model_revision) == ("me/tiny-llm2vec-gen", "abc123")
