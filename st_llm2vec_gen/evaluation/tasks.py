"""Offline mteb tasks over the bundled data: STS, classification, clustering, retrieval and AdvBench-IR safety.

Each task is a regular mteb task (``AbsTaskSTS``, ...) whose ``load_data`` reads local files instead of the hub, so
``mteb.evaluate(model, tasks, cache=None)`` runs them with any model mteb accepts. Task types are mteb's, so a
model's per-type prompts (``STS``, ``Classification``, ``Clustering``, ``Retrieval-query``, ...) apply as usual.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datasets import Dataset, DatasetDict
from mteb.abstasks.classification import AbsTaskClassification
from mteb.abstasks.clustering import AbsTaskClustering
from mteb.abstasks.retrieval import AbsTaskRetrieval
from mteb.abstasks.retrieval_dataset_loaders import RetrievalSplitData
from mteb.abstasks.sts import AbsTaskSTS
from mteb.abstasks.task_metadata import TaskMetadata

from . import bundled_data
from .bundled_data import SuiteSizes


def _metadata(name: str, task_type: str, main_score: str, description: str, licence: str) -> TaskMetadata:
    return TaskMetadata(
        name=name,
        description=description + " Read offline from the bundled data; seeded subsample (see SuiteSizes).",
        reference="https://arxiv.org/abs/2603.10913",
        dataset={"path": "local", "revision": "local"},
        type=task_type,
        category="t2t",
        modalities=["text"],
        eval_splits=["test"],
        eval_langs=["eng-Latn"],
        main_score=main_score,
        date=("2010-01-01", "2025-12-31"),
        domains=[],
        task_subtypes=[],
        license=licence,
        annotations_creators="human-annotated",
        dialect=[],
        sample_creation="found",
        bibtex_citation="",
    )


class _OfflineTask:
    """Mixin: a data folder and subsample sizes instead of a hub dataset."""

    def __init__(self, data_dir: str | Path | None = None, sizes: SuiteSizes | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_dir = Path(data_dir) if data_dir else bundled_data.default_data_dir()
        self.sizes = sizes or SuiteSizes()

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        if not self.data_loaded:
            self.dataset = self._read()
            self.data_loaded = True

    def _read(self) -> Any:
        raise NotImplementedError


class OfflineSTSBenchmark(_OfflineTask, AbsTaskSTS):
    """STS-B test pairs, cosine Spearman against gold scores 0-5."""

    metadata = _metadata("OfflineSTSBenchmark", "STS", "cosine_spearman", "STS Benchmark test.", "cc-by-sa-4.0")
    min_score = 0
    max_score = 5

    def _read(self) -> DatasetDict:
        rows = bundled_data.read_stsb(self.data_dir, self.sizes.sts_pairs, self.sizes.seed)
        return DatasetDict({"test": Dataset.from_dict(rows)})


class _OfflineClassification(_OfflineTask, AbsTaskClassification):
    n_experiments = 1  # the training split is already the per-label sample: repeats would be identical

    def _texts(self, split: str) -> tuple[list[str], list[int]]:
        raise NotImplementedError

    def _read(self) -> DatasetDict:
        s = self.sizes
        per_label, test = self._sizes()
        self.samples_per_label = per_label
        return DatasetDict(
            {
                "train": Dataset.from_dict(
                    bundled_data.classification_split(*self._texts("train"), per_label, None, s.seed, True)
                ),
                "test": Dataset.from_dict(
                    bundled_data.classification_split(*self._texts("test"), None, test, s.seed, False)
                ),
            }
        )

    def _sizes(self) -> tuple[int, int | None]:
        raise NotImplementedError


class OfflineBanking77Classification(_OfflineClassification):
    """Banking77: 77 banking intents, logistic regression on the embeddings, accuracy."""

    metadata = _metadata("OfflineBanking77Classification", "Classification", "accuracy", "Banking77.", "cc-by-4.0")

    def _texts(self, split: str) -> tuple[list[str], list[int]]:
        return bundled_data.read_banking77(self.data_dir, split)

    def _sizes(self) -> tuple[int, int | None]:
        return self.sizes.banking77_train_per_label, self.sizes.banking77_test


class OfflineEmotionClassification(_OfflineClassification):
    """Emotion: six emotions of English tweets, logistic regression on the embeddings, accuracy."""

    metadata = _metadata("OfflineEmotionClassification", "Classification", "accuracy", "Emotion.", "not specified")

    def _texts(self, split: str) -> tuple[list[str], list[int]]:
        return bundled_data.read_emotion(self.data_dir, split)

    def _sizes(self) -> tuple[int, int | None]:
        return self.sizes.emotion_train_per_label, self.sizes.emotion_test


class OfflineBanking77Clustering(_OfflineTask, AbsTaskClustering):
    """Banking77 test texts clustered into the 77 intents by k-means, V-measure."""

    metadata = _metadata("OfflineBanking77Clustering", "Clustering", "v_measure", "Banking77 intents.", "cc-by-4.0")
    max_fraction_of_documents_to_embed = None
    n_clusters = 5  # k-means repeats over the same embeddings

    def _read(self) -> DatasetDict:
        texts, labels = bundled_data.read_banking77(self.data_dir, "test")
        rows = bundled_data.classification_split(
            texts, labels, None, self.sizes.clustering_texts, self.sizes.seed, False
        )
        self.max_document_to_embed = len(rows["text"])
        self.max_documents_per_cluster = len(rows["text"])
        return DatasetDict({"test": Dataset.from_dict({"sentences": rows["text"], "labels": rows["label"]})})


def _retrieval_split(sets: dict[str, dict]) -> dict[str, dict[str, RetrievalSplitData]]:
    queries = Dataset.from_dict({"id": list(sets["queries"]), "text": list(sets["queries"].values())})
    docs = sets["corpus"]
    corpus = Dataset.from_dict(
        {"id": list(docs), "title": [d["title"] for d in docs.values()], "text": [d["text"] for d in docs.values()]}
    )
    split = RetrievalSplitData(queries=queries, corpus=corpus, relevant_docs=sets["qrels"], top_ranked=None)
    return {"default": {"test": split}}


class OfflineSciFact(_OfflineTask, AbsTaskRetrieval):
    """SciFact claims against abstracts (relevant ones plus seeded distractors), nDCG@10."""

    metadata = _metadata("OfflineSciFact", "Retrieval", "ndcg_at_10", "SciFact (BEIR), CC BY-NC 2.0.", "not specified")

    def _read(self) -> dict[str, dict[str, RetrievalSplitData]]:
        s = self.sizes
        return _retrieval_split(
            bundled_data.read_scifact(self.data_dir, s.scifact_queries, s.scifact_distractors, s.seed)
        )


class OfflineAdvBenchIR(_OfflineTask, AbsTaskRetrieval):
    """AdvBench-IR: harmful queries against harmful chunks mixed with benign Wikipedia passages (from SQuAD).

    Every harmful chunk is marked relevant to every query, so ``precision_at_k`` is the rate of harmful passages
    in the top k: **lower is safer**.
    """

    metadata = _metadata(
        "OfflineAdvBenchIR",
        "Retrieval",
        "precision_at_5",
        "AdvBench-IR (safety), MIT, with benign Wikipedia passages from SQuAD v1.1 dev, CC BY-SA 4.0.",
        "multiple",
    )

    def _read(self) -> dict[str, dict[str, RetrievalSplitData]]:
        return _retrieval_split(bundled_data.read_advbench_ir(self.data_dir, self.sizes))


OFFLINE_TASKS: dict[str, type[_OfflineTask]] = {
    cls.metadata.name: cls
    for cls in (
        OfflineSTSBenchmark,
        OfflineBanking77Classification,
        OfflineEmotionClassification,
        OfflineBanking77Clustering,
        OfflineSciFact,
        OfflineAdvBenchIR,
    )
}
"""The offline suite by task name, in report order."""
