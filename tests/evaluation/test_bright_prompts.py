"""BRIGHT as the paper runs it: every mteb BRIGHT task against the shipped instructions, and the evaluate command on
BRIGHT-shaped local data through mteb's own BRIGHT tasks (their loader reads the fake hub dataset below)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import datasets
import mteb
import pytest
from mteb.tasks.retrieval.eng import bright_v1_1_retrieval

from st_llm2vec_gen.cli.main import main
from st_llm2vec_gen.evaluation import SuiteSizes, resolve_tasks
from st_llm2vec_gen.evaluation.bright_prompts import (
    BRIGHT_BENCHMARKS,
    BRIGHT_FILE,
    BRIGHT_TASKS,
    bright_instruction,
    bright_prompts,
    bright_query_instructions,
    bright_source,
    is_bright_task,
)
from st_llm2vec_gen.evaluation.mteb_prompts import paper_prompts
from st_llm2vec_gen.models.llm2vec_gen import LLM2VecGen
from st_llm2vec_gen.training.teachers import SelfTeacher

MTEB_BRIGHT = sorted(
    t.metadata.name for t in mteb.get_tasks(exclude_superseded=False) if is_bright_task(t.metadata.name)
)
ALL_DOMAINS = {"BrightRetrieval", "BrightLongRetrieval"}  # one mteb task for every domain
DOMAINS = ["biology", "earth_science", "economics", "psychology", "robotics", "stackoverflow", "sustainable_living",
           "pony", "leetcode", "aops", "theoremqa_theorems", "theoremqa_questions"]  # fmt: skip
SUMMARISE = "Summarize the following passage: "
SHIPPED = json.loads(BRIGHT_FILE.read_text(encoding="utf-8"))


class _Loaded(Exception):
    pass


def _loaded_domain(name: str, monkeypatch) -> tuple[str, str]:
    """(config, split) mteb's own BRIGHT loader asks the hub for when ``name`` loads its corpus."""
    calls = []

    def load_dataset(path, config, split=None, **kwargs):
        calls.append((config, split))
        raise _Loaded

    monkeypatch.setattr(bright_v1_1_retrieval, "datasets", SimpleNamespace(load_dataset=load_dataset))
    with pytest.raises(_Loaded):
        mteb.get_task(name).load_data()
    return calls[0]


def test_the_data_file_names_its_source_and_every_domain():
    source = bright_source()
    assert source["repository"] == "https://github.com/McGill-NLP/llm2vec-gen" and source["license"] == "CC-BY-4.0"
    assert len(source["commit"]) == 40 and (BRIGHT_FILE.parent / source["license_file"]).is_file()
    for name, entry in SHIPPED["sets"].items():
        assert list(entry["domains"]) == DOMAINS, name
        long = [d for d, config in entry["domains"].items() if "instructions_long" in config]
        assert long == DOMAINS[:8], name  # the domains with a long-document setting
        for config in entry["domains"].values():  # the published script glues instruction and text as they are
            assert all(v["query"].endswith(" ") for v in config.values())
    assert SHIPPED["sets"]["ours_new"]["document"] == SHIPPED["sets"]["ours"]["document"] == SUMMARISE


def test_every_mteb_bright_task_resolves_to_its_published_instruction(monkeypatch):
    per_domain = {name for name in MTEB_BRIGHT if name not in ALL_DOMAINS and not name.startswith("BrightPro")}
    assert set(BRIGHT_TASKS) == per_domain and len(per_domain) == 20  # a new mteb BRIGHT task fails here
    for name in MTEB_BRIGHT:
        if name not in BRIGHT_TASKS:
            with pytest.raises(ValueError, match=name):
                bright_prompts([name])
            continue
        domain, long = BRIGHT_TASKS[name]
        # the domain and document set are the ones mteb's own task loads, not guessed from the name
        assert _loaded_domain(name, monkeypatch) == ("long_documents" if long else "documents", domain)
        for instructions in ("ours_new", "ours", "llm2vec"):
            config = SHIPPED["sets"][instructions]["domains"][domain]
            query = config["instructions_long" if long else "instructions"]["query"]
            assert bright_instruction(name, instructions) == query.replace("{task}", domain)
            assert "{" not in bright_instruction(name, instructions)
        assert bright_prompts([name]) == {name: bright_instruction(name), f"{name}-document": SUMMARISE}


def test_each_domain_and_variant_gets_its_own_instruction():
    prompts = {name: bright_instruction(name) for name in BRIGHT_TASKS}
    assert prompts["BrightEarthScienceRetrieval"] == (
        "Given a earth_science post, generate relevant passages that help answer the post, "
        "I don't want the answer to the problem: "
    )  # {task} is the domain key, underscore kept, as the published script and mteb's own prompt fill it
    assert prompts["BrightBiologyLongRetrieval"] == (
        "Given a biology post, generate relevant Wikipedia-like documents that help answer the post, "
        "I don't want the answer to the problem: "
    )
    assert bright_instruction("BrightAopsRetrieval", "ours") == (
        "Given a Math problem, generate relevant examples that help answer the problem: "
    )
    assert bright_instruction("BrightLeetcodeRetrieval", "llm2vec") == (
        "Given a coding problem, retrieve relevant examples that help answer the problem; "
    )
    for short, (_, long) in BRIGHT_TASKS.items():
        if long:  # the long variant differs from its short task: documents, not passages
            standard = short.replace("LongRetrieval", "Retrieval")
            assert prompts[short] != prompts[standard] and "documents" in prompts[short]
            assert prompts[short].replace("documents", "passages") == prompts[standard]


def test_unknown_bright_tasks_are_errors_that_name_them():
    with pytest.raises(ValueError, match="BrightFooRetrieval") as error:
        paper_prompts(["SciFact", "BrightFooRetrieval"])
    assert "--prompts saved" in str(error.value)
    with pytest.raises(ValueError, match="--tasks 'BRIGHT'"):
        bright_prompts(["BrightRetrieval"])
    with pytest.raises(ValueError, match="BRIGHT-Pro"):
        bright_query_instructions(["BrightProBiologyRetrieval"], "llm2vec")
    with pytest.raises(ValueError, match="student set"):
        bright_prompts(["BrightBiologyRetrieval"], "llm2vec")
    with pytest.raises(ValueError, match="Unknown BRIGHT instruction set"):
        bright_instruction("BrightBiologyRetrieval", "bge")
    assert set(paper_prompts(["SciFact", "BrightPonyRetrieval"])) == {
        "SciFact", "SciFact-document", "BrightPonyRetrieval", "BrightPonyRetrieval-document"
    }  # fmt: skip


def test_the_bright_benchmarks_run_one_task_per_domain():
    standard = [t.metadata.name for t in resolve_tasks(["BRIGHT"], None, SuiteSizes())]
    long = [t.metadata.name for t in resolve_tasks(["BRIGHT (long)"], None, SuiteSizes())]
    assert standard == BRIGHT_BENCHMARKS["BRIGHT"] and len(standard) == 12
    assert long == BRIGHT_BENCHMARKS["BRIGHT (long)"] and len(long) == 8
    assert all(t.metadata.eval_splits == ["long"] for t in resolve_tasks(["BRIGHT (long)"], None, SuiteSizes()))
    assert len(paper_prompts(mteb.get_benchmark("BRIGHT(v1.1)").tasks)) == 40  # mteb's per-domain benchmark


def _fake_bright(path, config, split=None, **kwargs):
    """xlangai/BRIGHT's shape: documents / long_documents (id, content) and examples with gold and excluded ids."""
    if config in ("documents", "long_documents"):
        size = "long" if config == "long_documents" else "short"
        ids = [f"{split}-{size}-{i}" for i in range(6)]
        return datasets.Dataset.from_dict({"id": ids, "content": [f"{split} {size} document {i}." for i in range(6)]})
    rows = [{"id": f"{split}-q{i}", "query": f"A {split} question {i}?", "gold_ids": [f"{split}-short-{i}"],
             "gold_ids_long": [f"{split}-long-{i}"], "excluded_ids": [f"{split}-short-5"] if i == 0 else ["N/A"]}
            for i in range(3)]  # fmt: skip
    return datasets.Dataset.from_list(rows)


def test_evaluate_runs_bright_with_the_published_prompts(chat_model_dir, data_dir, tmp_path, monkeypatch):
    fake = SimpleNamespace(load_dataset=_fake_bright, DatasetDict=datasets.DatasetDict)
    monkeypatch.setattr(bright_v1_1_retrieval, "datasets", fake)
    seen, teacher_texts = {}, []
    preprocess, encode = LLM2VecGen.preprocess, SelfTeacher.encode

    def recording_preprocess(self, inputs, prompt=None, **kwargs):
        for text in inputs:
            seen.setdefault(text, set()).add(prompt)
        return preprocess(self, inputs, prompt=prompt, **kwargs)

    def recording_encode(self, texts, *args, **kwargs):
        teacher_texts.extend(texts)
        return encode(self, texts, *args, **kwargs)

    monkeypatch.setattr(LLM2VecGen, "preprocess", recording_preprocess)
    monkeypatch.setattr(SelfTeacher, "encode", recording_encode)
    output = tmp_path / "bright.json"
    tasks = ["BrightBiologyRetrieval", "BrightEarthScienceLongRetrieval"]
    code = main(["evaluate", "--model", chat_model_dir, "--tasks", *tasks, "--methods", "llm2vec_gen", "teacher",
                 "--data-dir", str(data_dir), "--output", str(output), "--no-interpretability",
                 "--batch-size", "4"])  # fmt: skip
    assert code == 0
    scores = json.loads(output.read_text())["scores"]
    assert all(set(scores[method]) == set(tasks) for method in ("llm2vec_gen", "teacher"))
    for name, domain, size in (("BrightBiologyRetrieval", "biology", "short"),
                               ("BrightEarthScienceLongRetrieval", "earth_science", "long")):  # fmt: skip
        queries = [f"A {domain} question {i}?" for i in range(3)]
        documents = [f"{domain} {size} document {i}." for i in range(6)]
        assert all(seen[q] == {bright_instruction(name)} for q in queries), name
        assert all(seen[d] == {SUMMARISE} for d in documents if d in seen) and len(set(documents) & set(seen)) >= 5
        teacher = bright_instruction(name, "llm2vec")  # the teacher's own instruction, documents as they are
        assert {teacher + q for q in queries} <= set(teacher_texts) and set(documents) <= set(teacher_texts)
    assert "Given a earth_science post, retrieve relevant documents that help answer the post; A earth_science " \
           "question 0?" in teacher_texts  # fmt: skip


def test_evaluate_refuses_a_bright_task_without_instruction_before_loading(chat_model_dir, tmp_path, capsys):
    code = main(["evaluate", "--model", chat_model_dir, "--tasks", "BrightRetrieval", "--output",
                 str(tmp_path / "r.json")])  # fmt: skip
    assert code == 1 and "BrightRetrieval" in capsys.readouterr().err and not (tmp_path / "r.json").exists()
    assert main(["evaluate", "--model", chat_model_dir, "--tasks", "BrightRetrieval", "--prompts", "saved",
                 "--output", str(tmp_path / "r.json")]) == 1  # fmt: skip
    assert "could not load its data" in capsys.readouterr().err  # past the check: offline, the hub is unreachable
