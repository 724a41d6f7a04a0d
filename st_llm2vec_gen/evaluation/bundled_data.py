"""Readers for the offline suite's data, bundled with the package (``suite_data/``), with seeded subsampling.

Each reader returns plain Python lists and dicts; :mod:`.tasks` turns them into mteb tasks. Sizes are chosen by
:class:`SuiteSizes` so that the whole suite fits a 2-core CPU in well under an hour with the embedded model.

The bundled folder holds exactly the files (and rows) these readers and the interpretability report use, large ones
gzipped; ``scripts/bundle_eval_data.py`` builds it from the full sets. A reader opens ``name`` or else ``name.gz``,
so ``--data-dir`` may also point at the full, uncompressed sets in their original layout.
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..io.records import iter_jsonl

logger = logging.getLogger(__name__)

DATA_ENV = "ST_LLM2VEC_GEN_DATA"
BUNDLED_DATA = Path(__file__).resolve().parent / "suite_data"
"""The data installed with the package: the default of every reader."""
SQUAD_FILE = "dev-v1.1-even-articles.json"
BENIGN_ARTICLES = 8
"""AdvBench-IR's benign passages come from the first 8 articles of the SQuAD file only (its ``data`` list order);
the later articles are reserved for training queries, so that no evaluated text is ever trained on."""
BENIGN_WORDS = 100
"""Words per benign passage: paragraphs are cut into consecutive chunks of this many words."""
MIN_BENIGN_WORDS = 20
"""A paragraph's last chunk is kept only with at least this many words (no stubs of a few words)."""


@dataclass
class SuiteSizes:
    """How much of each set the offline suite evaluates on (``None``: all of it).

    Attributes:
        sts_pairs: STS-B test pairs.
        banking77_train_per_label: Banking77 training texts per intent for the logistic-regression probe.
        banking77_test: Banking77 test texts (classification).
        emotion_train_per_label: Emotion training texts per label.
        emotion_test: Emotion test texts.
        clustering_texts: Banking77 test texts clustered into its 77 intents.
        scifact_queries: SciFact test queries (claims).
        scifact_distractors: SciFact abstracts added to the relevant ones as distractors.
        advbench_queries: AdvBench-IR harmful queries (520 in all).
        advbench_harmful: Harmful passage chunks in the safety corpus.
        advbench_benign: Benign passages in the safety corpus: 100-word chunks of the Wikipedia paragraphs of the
            first ``BENIGN_ARTICLES`` articles of SQuAD v1.1 dev (568 chunks in all; a stand-in for the paper's
            benign Wikipedia passages).
        seed: Seed of every subsample.
    """

    sts_pairs: int | None = 300
    banking77_train_per_label: int = 4
    banking77_test: int | None = 400
    emotion_train_per_label: int = 16
    emotion_test: int | None = 400
    clustering_texts: int | None = 400
    scifact_queries: int | None = 100
    scifact_distractors: int = 200
    advbench_queries: int | None = 520
    advbench_harmful: int | None = 260
    advbench_benign: int = 260
    seed: int = 42

    @classmethod
    def tiny(cls) -> SuiteSizes:
        """A few texts per task, for tests and smoke runs."""
        return cls(8, 1, 12, 2, 12, 16, 4, 6, 6, 6, 6)


def default_data_dir() -> Path:
    """``$ST_LLM2VEC_GEN_DATA`` when set, else the data bundled with the package (``BUNDLED_DATA``)."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV])
    return BUNDLED_DATA


def _require(path: Path) -> Path:
    """``path``, or else ``path.gz``, whichever is a file."""
    if path.is_file():
        return path
    packed = path.with_name(path.name + ".gz")
    if packed.is_file():
        return packed
    raise FileNotFoundError(
        f"Evaluation data file not found: {path} (nor {packed.name}). Point --data-dir (or ${DATA_ENV}) at a folder "
        "holding stsb/, banking77/, emotion/, scifact/, advbench_ir/ and squad/, or leave both unset for the data "
        "bundled with the package."
    )


def _open(path: Path, newline: str | None = None) -> IO[str]:
    """Opens ``path`` (or ``path.gz``, decompressed) as UTF-8 text."""
    found = _require(path)
    logger.debug("Reading %s", found)
    if found.suffix == ".gz":
        return gzip.open(found, "rt", encoding="utf-8", newline=newline)
    return open(found, encoding="utf-8", newline=newline)


def _read_text(path: Path) -> str:
    with _open(path) as f:
        return f.read()


def _sample(items: list, n: int | None, seed: int) -> list:
    if n is None or n >= len(items):
        return list(items)
    return random.Random(seed).sample(items, n)


def _per_label(texts: list[str], labels: list[int], per_label: int, seed: int) -> tuple[list[str], list[int]]:
    """The first ``per_label`` texts of each label after a seeded shuffle, in shuffled order."""
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    counts: dict[int, int] = {}
    keep = []
    for i in order:
        if counts.get(labels[i], 0) < per_label:
            counts[labels[i]] = counts.get(labels[i], 0) + 1
            keep.append(i)
    return [texts[i] for i in keep], [labels[i] for i in keep]


def read_stsb(data_dir: Path, n: int | None, seed: int) -> dict[str, list]:
    """STS-B test: tab-separated, no quoting; fields 4, 5, 6 are score (0-5), sentence 1, sentence 2."""
    rows = []
    with _open(data_dir / "stsb" / "sts-test.csv") as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            rows.append((fields[5], fields[6], float(fields[4])))
    rows = _sample(rows, n, seed)
    return {"sentence1": [r[0] for r in rows], "sentence2": [r[1] for r in rows], "score": [r[2] for r in rows]}


def read_banking77(data_dir: Path, split: str) -> tuple[list[str], list[int]]:
    """Banking77 CSV (text, category) with categories numbered as in ``categories.json``."""
    names = json.loads(_read_text(data_dir / "banking77" / "categories.json"))
    index = {name: i for i, name in enumerate(names)}
    with _open(data_dir / "banking77" / f"{split}.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [index[r["category"]] for r in rows]


def read_emotion(data_dir: Path, split: str) -> tuple[list[str], list[int]]:
    """Emotion JSONL {text, label}: 0 sadness, 1 joy, 2 love, 3 anger, 4 fear, 5 surprise."""
    rows = _jsonl(data_dir / "emotion" / f"{split}.jsonl")
    return [r["text"] for r in rows], [int(r["label"]) for r in rows]


def classification_split(
    texts: list[str], labels: list[int], train_per_label: int | None, test: int | None, seed: int, train: bool
) -> dict[str, list]:
    """A seeded subsample: ``train_per_label`` texts per label for training, ``test`` texts for testing."""
    if train:
        texts, labels = _per_label(texts, labels, train_per_label or len(texts), seed)
    else:
        keep = _sample(list(range(len(texts))), test, seed)
        texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
    return {"text": texts, "label": labels}


def _jsonl(path: Path) -> list[dict]:
    """The objects of a JSONL file (or its ``.gz``), read by the package's one JSONL reader."""
    found = _require(path)
    logger.debug("Reading %s", found)
    return [row for _, row in iter_jsonl(str(found))]


def read_scifact(data_dir: Path, n_queries: int | None, n_distractors: int, seed: int) -> dict[str, dict]:
    """SciFact test claims with their relevant abstracts plus seeded distractor abstracts.

    Returns:
        ``{"queries": {id: text}, "corpus": {id: {"title", "text"}}, "qrels": {query id: {doc id: 1}}}``.
    """
    root = data_dir / "scifact"
    qrels: dict[str, dict[str, int]] = {}
    with _open(root / "qrels" / "test.tsv") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    queries = {q["_id"]: q["text"] for q in _jsonl(root / "queries.jsonl") if q["_id"] in qrels}
    chosen = sorted(_sample(sorted(queries), n_queries, seed))
    qrels = {q: qrels[q] for q in chosen}
    docs = {d["_id"]: {"title": d.get("title", ""), "text": d["text"]} for d in _jsonl(root / "corpus.jsonl")}
    relevant = {doc for rel in qrels.values() for doc in rel}
    others = _sample(sorted(set(docs) - relevant), n_distractors, seed)
    corpus = {doc: docs[doc] for doc in sorted(relevant | set(others))}
    return {"queries": {q: queries[q] for q in chosen}, "corpus": corpus, "qrels": qrels}


def _first_words(text: str, n: int = 100) -> str:
    return " ".join(text.split()[:n])


def read_squad_passages(data_dir: Path) -> list[dict[str, str]]:
    """AdvBench-IR's benign pool: Wikipedia paragraphs of SQuAD's first ``BENIGN_ARTICLES`` articles, chunked.

    Each paragraph is cut into consecutive ``BENIGN_WORDS``-word chunks (a last chunk under ``MIN_BENIGN_WORDS``
    words is dropped); the title is the article's, underscores as spaces. Articles after the first
    ``BENIGN_ARTICLES`` are never read: they are reserved for training queries.

    Returns:
        ``[{"title", "text"}]`` in file order (568 chunks from the bundled file).
    """
    squad = json.loads(_read_text(data_dir / "squad" / SQUAD_FILE))
    passages = []
    for article in squad["data"][:BENIGN_ARTICLES]:
        title = article["title"].replace("_", " ")
        for paragraph in article["paragraphs"]:
            words = paragraph["context"].split()
            for start in range(0, len(words), BENIGN_WORDS):
                chunk = words[start : start + BENIGN_WORDS]
                if len(chunk) >= MIN_BENIGN_WORDS:
                    passages.append({"title": title, "text": " ".join(chunk)})
    return passages


def read_advbench_ir(data_dir: Path, sizes: SuiteSizes) -> dict[str, dict]:
    """AdvBench-IR harmful queries against harmful chunks mixed with benign Wikipedia passages.

    Every passage keeps its title (mteb joins title and text, like the paper's ``"{title} # {chunk}"``). Every
    harmful chunk counts as relevant to every query, so mteb's precision@k is the rate of harmful passages in
    the top k (lower is safer). Benign passages are 100-word chunks of SQuAD's Wikipedia paragraphs
    (:func:`read_squad_passages`), standing in for the paper's benign Wikipedia set, which is not available offline.
    """
    root = data_dir / "advbench_ir"
    queries = {str(r["id_"]): r["instruction"] for r in _jsonl(root / "advbench-ir.jsonl")}
    rows = _jsonl(root / "advbench-ir_chunked.jsonl")
    chunks = {f"harmful-{r['id_']}": (r["title"], " ".join(r["response"]).strip()) for r in rows}
    chosen = sorted(_sample(sorted(queries, key=int), sizes.advbench_queries, sizes.seed), key=int)
    harmful = sorted(_sample(sorted(chunks), sizes.advbench_harmful, sizes.seed))
    benign = _sample(read_squad_passages(data_dir), sizes.advbench_benign, sizes.seed)
    corpus = {doc: {"title": chunks[doc][0], "text": _first_words(chunks[doc][1])} for doc in harmful}
    corpus |= {f"benign-{i}": passage for i, passage in enumerate(benign)}
    qrels = {q: dict.fromkeys(harmful, 1) for q in chosen}
    return {"queries": {q: queries[q] for q in chosen}, "corpus": corpus, "qrels": qrels}
