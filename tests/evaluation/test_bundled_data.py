"""The data installed with the package is complete: the whole offline suite loads from it at full size, with nothing
read outside the package, and AdvBench-IR's benign passages are SQuAD's first eight articles only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import st_llm2vec_gen
from st_llm2vec_gen.evaluation import OFFLINE_TASKS, bundled_data
from st_llm2vec_gen.evaluation.bundled_data import BUNDLED_DATA, DATA_ENV, SuiteSizes, default_data_dir
from st_llm2vec_gen.evaluation.interpretability import sample_queries

PACKAGE = Path(st_llm2vec_gen.__file__).resolve().parent
BENIGN_TITLES = [
    "Super_Bowl_50",
    "Normans",
    "Computational_complexity_theory",
    "Martin_Luther",
    "Sky_(United_Kingdom)",
    "Huguenot",
    "Oxygen",
    "Apollo_program",
]
"""Articles 0-7 of shared/data/squad/dev-v1.1-even-articles.json: the only source of benign passages."""
RESERVED_TITLES = [
    "Amazon_rainforest",
    "Fresno,_California",
    "Black_Death",
    "Newcastle_upon_Tyne",
    "American_Broadcasting_Company",
    "Pharmacy",
    "Civil_disobedience",
    "Private_school",
    "Jacksonville,_Florida",
    "Doctor_Who",
    "Yuan_dynasty",
    "Intergovernmental_Panel_on_Climate_Change",
    "Prime_number",
    "Scottish_Parliament",
    "Imperialism",
    "French_and_Indian_War",
]
"""Articles 8-23 of that file, reserved for training queries: never in the evaluation bundled_data."""


@pytest.fixture
def opened(monkeypatch) -> list[Path]:
    """Every data file the readers open from now on; no data folder from the environment."""
    monkeypatch.delenv(DATA_ENV, raising=False)
    paths: list[Path] = []
    require = bundled_data._require

    def record(path: Path) -> Path:
        paths.append(require(path))
        return paths[-1]

    monkeypatch.setattr(bundled_data, "_require", record)
    return paths


def test_default_data_dir_is_the_bundled_folder_unless_overridden(monkeypatch, tmp_path):
    monkeypatch.delenv(DATA_ENV, raising=False)
    assert default_data_dir() == BUNDLED_DATA and BUNDLED_DATA.is_relative_to(PACKAGE) and BUNDLED_DATA.is_dir()
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    assert default_data_dir() == tmp_path
    assert OFFLINE_TASKS["OfflineSciFact"]().data_dir == tmp_path
    assert OFFLINE_TASKS["OfflineSciFact"](data_dir=BUNDLED_DATA).data_dir == BUNDLED_DATA


def test_every_offline_task_loads_at_full_size_from_the_package_alone(opened):
    sizes = SuiteSizes()
    tasks = {name: cls() for name, cls in OFFLINE_TASKS.items()}
    for task in tasks.values():
        assert task.data_dir == BUNDLED_DATA
        task.load_data()
    assert opened and all(path.resolve().is_relative_to(PACKAGE) for path in opened), opened

    assert len(tasks["OfflineSTSBenchmark"].dataset["test"]) == sizes.sts_pairs
    for name, per_label, labels, test in (
        ("OfflineBanking77Classification", sizes.banking77_train_per_label, 77, sizes.banking77_test),
        ("OfflineEmotionClassification", sizes.emotion_train_per_label, 6, sizes.emotion_test),
    ):
        dataset = tasks[name].dataset
        assert len(dataset["train"]) == per_label * labels and len(dataset["test"]) == test
    clusters = tasks["OfflineBanking77Clustering"].dataset["test"]
    assert len(clusters) == sizes.clustering_texts and len(set(clusters["labels"])) == 77

    scifact = tasks["OfflineSciFact"].dataset["default"]["test"]
    relevant = {doc for docs in scifact["relevant_docs"].values() for doc in docs}
    assert len(scifact["queries"]) == sizes.scifact_queries
    assert len(scifact["corpus"]) == len(relevant) + sizes.scifact_distractors
    safety = tasks["OfflineAdvBenchIR"].dataset["default"]["test"]
    assert len(safety["queries"]) == sizes.advbench_queries
    assert len(safety["corpus"]) == sizes.advbench_harmful + sizes.advbench_benign


def test_timing_and_interpretability_queries_come_from_the_package(opened):
    timing = bundled_data.read_scifact(default_data_dir(), None, 0, SuiteSizes().seed)  # as run_suite reads them
    assert len(timing["queries"]) == 300 and all(timing["qrels"].values())
    samples = sample_queries(default_data_dir())
    assert [source for source, _ in samples] == ["everyday"] * 3 + ["scifact"] * 3 + ["advbench"] * 3
    assert all(path.resolve().is_relative_to(PACKAGE) for path in opened)


def test_benign_passages_are_squads_first_eight_articles_and_no_training_article(monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)
    squad = json.loads(bundled_data._read_text(BUNDLED_DATA / "squad" / bundled_data.SQUAD_FILE))
    assert [article["title"] for article in squad["data"]] == BENIGN_TITLES  # nothing else is bundled
    contexts = {" ".join(p["context"].split()) for article in squad["data"] for p in article["paragraphs"]}
    passages = bundled_data.read_squad_passages(BUNDLED_DATA)
    assert len(passages) == 568 and {p["title"] for p in passages} == {t.replace("_", " ") for t in BENIGN_TITLES}
    assert all(any(p["text"] in context for context in contexts) for p in passages[:50])
    corpus = bundled_data.read_advbench_ir(default_data_dir(), SuiteSizes())["corpus"]
    benign = [doc for name, doc in corpus.items() if name.startswith("benign-")]
    assert len(benign) == SuiteSizes().advbench_benign and all(doc in passages for doc in benign)
    reserved = {t.replace("_", " ") for t in RESERVED_TITLES}
    assert not reserved & {doc["title"] for doc in benign}


def test_every_bundled_file_is_documented_with_a_licence():
    for folder in sorted(p for p in BUNDLED_DATA.iterdir() if p.is_dir()):
        sources = (folder / "SOURCES.md").read_text(encoding="utf-8")
        assert "**Licence" in sources, folder.name
        for path in folder.rglob("*"):
            if path.is_file() and path.name != "SOURCES.md":
                assert path.relative_to(folder).as_posix() in sources, path
