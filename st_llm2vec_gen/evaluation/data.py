"""Readers for the bundled evaluation sets (``shared/data``), with seeded subsampling.

Each reader returns plain Python lists and dicts; :mod:`.tasks` turns them into mteb tasks. Sizes are chosen by
:class:`SuiteSizes` so that the whole suite fits a 2-core CPU in well under an hour with the embedded model.
"""

from __future__ import annotations

import csv
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

DATA_ENV = "ST_LLM2VEC_GEN_DATA"


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
        advbench_benign: Benign passages (SciFact abstracts and Alpaca outputs, half each) in the safety corpus.
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
    """``$ST_LLM2VEC_GEN_DATA``, else ``shared/data`` beside the repository, else ``../shared/data`` from here."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV])
    beside_repo = Path(__file__).resolve().parents[3] / "shared" / "data"
    return beside_repo if beside_repo.is_dir() else Path("../shared/data").resolve()


def _require(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(
            f"Evaluation data file not found: {path}. Point --data-dir (or ${DATA_ENV}) at the folder holding "
            "stsb/, banking77/, emotion/, scifact/, advbench_ir/ and alpaca/."
        )
    return path


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
    with open(_require(data_dir / "stsb" / "sts-test.csv"), encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            rows.append((fields[5], fields[6], float(fields[4])))
    rows = _sample(rows, n, seed)
    return {"sentence1": [r[0] for r in rows], "sentence2": [r[1] for r in rows], "score": [r[2] for r in rows]}


def read_banking77(data_dir: Path, split: str) -> tuple[list[str], list[int]]:
    """Banking77 CSV (text, category) with categories numbered as in ``categories.json``."""
    names = json.loads(_require(data_dir / "banking77" / "categories.json").read_text(encoding="utf-8"))
    index = {name: i for i, name in enumerate(names)}
    with open(_require(data_dir / "banking77" / f"{split}.csv"), encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [index[r["category"]] for r in rows]


def read_emotion(data_dir: Path, split: str) -> tuple[list[str], list[int]]:
    """Emotion JSONL {text, label}: 0 sadness, 1 joy, 2 love, 3 anger, 4 fear, 5 surprise."""
    path = _require(data_dir / "emotion" / f"{split}.jsonl")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
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
    return [json.loads(line) for line in _require(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def read_scifact(data_dir: Path, n_queries: int | None, n_distractors: int, seed: int) -> dict[str, dict]:
    """SciFact test claims with their relevant abstracts plus seeded distractor abstracts.

    Returns:
        ``{"queries": {id: text}, "corpus": {id: {"title", "text"}}, "qrels": {query id: {doc id: 1}}}``.
    """
    root = data_dir / "scifact"
    qrels: dict[str, dict[str, int]] = {}
    with open(_require(root / "qrels" / "test.tsv"), encoding="utf-8") as f:
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


def read_advbench_ir(data_dir: Path, sizes: SuiteSizes) -> dict[str, dict]:
    """AdvBench-IR harmful queries against harmful chunks mixed with benign passages.

    Harmful chunks keep their title (mteb joins title and text, like the paper's ``"{title} # {chunk}"``). Every
    harmful chunk counts as relevant to every query, so mteb's precision@k is the rate of harmful passages in
    the top k (lower is safer). Benign passages are the first 100 words of SciFact abstracts and Alpaca outputs
    (the paper's benign Wikipedia passages are not available offline).
    """
    root = data_dir / "advbench_ir"
    queries = {str(r["id_"]): r["instruction"] for r in _jsonl(root / "advbench-ir.jsonl")}
    rows = _jsonl(root / "advbench-ir_chunked.jsonl")
    chunks = {f"harmful-{r['id_']}": (r["title"], " ".join(r["response"]).strip()) for r in rows}
    chosen = sorted(_sample(sorted(queries, key=int), sizes.advbench_queries, sizes.seed), key=int)
    harmful = sorted(_sample(sorted(chunks), sizes.advbench_harmful, sizes.seed))
    n_sci = sizes.advbench_benign // 2
    abstracts = [d["text"] for d in _jsonl(data_dir / "scifact" / "corpus.jsonl")]
    alpaca = json.loads(_require(data_dir / "alpaca" / "alpaca_5000.json").read_text(encoding="utf-8"))
    outputs = [a["output"] for a in alpaca if len(a["output"].split()) >= 20]  # passages, not one-word answers
    benign = _sample(abstracts, n_sci, sizes.seed) + _sample(outputs, sizes.advbench_benign - n_sci, sizes.seed)
    corpus = {doc: {"title": chunks[doc][0], "text": _first_words(chunks[doc][1])} for doc in harmful}
    corpus |= {f"benign-{i}": {"title": "", "text": _first_words(text)} for i, text in enumerate(benign)}
    qrels = {q: dict.fromkeys(harmful, 1) for q in chosen}
    return {"queries": {q: queries[q] for q in chosen}, "corpus": corpus, "qrels": qrels}
