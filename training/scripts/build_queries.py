"""Builds the unlabeled training-query corpus from every query-like set in ``shared/data``.

    python training/scripts/build_queries.py --data ../shared/data --output training/data/corpus/queries.jsonl.gz

Rows are ``{"id", "query", "source", "source_id"}``: ``id`` is the row's position in the file (the id that
``llm2vec-gen generate`` gives its answer), ``source`` the stream the query came from and ``source_id`` its
provenance, ``<file under shared/data>:<original id or index>``.

Rules (see training/data/corpus/SOURCES.md for the counts):

- SQuAD articles 0-7 of ``data`` are reserved for the evaluation suite (AdvBench-IR's benign corpus): only articles
  8-23 give questions and passages. Passages become documents with the library's document instruction
  (``prompts.DOCUMENT + " " + paragraph``, joined as the encoder joins them).
- A candidate is dropped when its text, or a part of it of four words or more (an Alpaca input, a SQuAD paragraph),
  equals (normalized) a text of an evaluation task: stsb, banking77, emotion, scifact, advbench, advbench_ir, plus
  the AdvBench-IR benign corpus (Alpaca outputs of 20+ words as the suite reads them today, the reserved SQuAD
  articles as it is meant to read them).
- Duplicates (normalized: lowercase, collapsed whitespace) are dropped; the first source in ``SOURCES`` keeps the
  row, so a prompt in both Tulu (Apache-2.0) and AlpacaEval (CC BY-NC) is attributed to Tulu.
- Queries longer than ``--max-chars`` (1,500) characters are dropped, not cut: a cut instruction often loses its
  task, which comes last ("... Summarize the text above").
- Order: a stratified seeded shuffle, so that every prefix holds each source in its overall share (within one row);
  then blocks of ``--block`` rows are sorted by length, so that generation batches pad little. A prefix that ends
  on a block boundary is exactly balanced; any other prefix is off by less than one block.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from st_llm2vec_gen.io.records import iter_jsonl
from st_llm2vec_gen.prompts import DOCUMENT

RESERVED_SQUAD_ARTICLES = range(0, 8)
SQUAD_FILE = "squad/dev-v1.1-even-articles.json"
MIN_PIQA_WORDS = 3
MIN_PART_WORDS = 4  # shorter parts ("5", "Anxiety", "Hello world.") match evaluation texts by chance


@dataclass
class Candidate:
    """A query before filtering: its text, the texts it is made of, and where it came from."""

    query: str
    source: str
    source_id: str
    parts: list[str] = field(default_factory=list)


def normalize(text: str) -> str:
    """Lowercase with whitespace runs collapsed to one space: the key for duplicates and evaluation texts."""
    return re.sub(r"\s+", " ", text).strip().lower()


def _jsonl(path: Path) -> Iterator[dict]:
    """The objects of a JSONL file, by the package's one JSONL reader (a bad line named with its number)."""
    return (row for _, row in iter_jsonl(str(path)))


def _json(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))


def _with_input(instruction: str, extra: str) -> str:
    """An instruction with its input after a blank line, as Alpaca's own prompt template places it."""
    instruction, extra = instruction.strip(), extra.strip()
    return f"{instruction}\n\n{extra}" if extra else instruction


# --- the query sources -------------------------------------------------------------------------------------------


def alpaca(data: Path) -> Iterator[Candidate]:
    """Alpaca's 5,000-example sample and its 175 seed tasks: instruction, plus input after a blank line."""
    for i, row in enumerate(_json(data / "alpaca" / "alpaca_5000.json")):
        query = _with_input(row["instruction"], row["input"])
        yield Candidate(query, "alpaca", f"alpaca/alpaca_5000.json:{i}", [row["instruction"], row["input"]])
    for row in _jsonl(data / "alpaca" / "seed_tasks.jsonl"):
        extra = row["instances"][0]["input"] if row["instances"] else ""
        query = _with_input(row["instruction"], extra)
        yield Candidate(query, "alpaca", f"alpaca/seed_tasks.jsonl:{row['id']}", [row["instruction"], extra])


def tulu(data: Path) -> Iterator[Candidate]:
    """The Tulu-1 human-evaluation prompts (each appears once per compared model pair; duplicates go later)."""
    for row in _jsonl(data / "tulu_eval_prompts" / "eval_instances_tulu_1.jsonl"):
        yield Candidate(
            row["prompt"].strip(), "tulu_eval_prompts", f"tulu_eval_prompts/eval_instances_tulu_1.jsonl:{row['id']}"
        )


def alpaca_eval(data: Path) -> Iterator[Candidate]:
    """AlpacaEval's 805 instructions (the placeholder outputs are ignored)."""
    for i, row in enumerate(_json(data / "alpaca_eval" / "outputs.json")):
        yield Candidate(row["instruction"].strip(), "alpaca_eval", f"alpaca_eval/outputs.json:{i}")


def gsm8k(data: Path) -> Iterator[Candidate]:
    """GSM8K maths word problems, train and test questions."""
    for split in ("train", "test"):
        for i, row in enumerate(_jsonl(data / "gsm8k" / f"{split}.jsonl")):
            yield Candidate(row["question"].strip(), "gsm8k", f"gsm8k/{split}.jsonl:{i}")


def nq_open(data: Path) -> Iterator[Candidate]:
    """NQ-Open search questions from its three files."""
    for name in ("NQ-open.dev.jsonl", "NQ-open.efficientqa.dev.1.1.jsonl", "NQ-open.efficientqa.test.1.1.jsonl"):
        for i, row in enumerate(_jsonl(data / "nq_open" / name)):
            yield Candidate(row["question"].strip(), "nq_open", f"nq_open/{name}:{i}")


def piqa(data: Path) -> Iterator[Candidate]:
    """PIQA goals of at least three words (one- or two-word goals such as "dresser" are objects, not queries)."""
    for name in ("valid.jsonl", "tests.jsonl"):
        for i, row in enumerate(_jsonl(data / "piqa" / name)):
            goal = row["goal"].strip()
            if len(goal.split()) >= MIN_PIQA_WORDS:
                yield Candidate(goal, "piqa", f"piqa/{name}:{i}")


def truthfulqa(data: Path) -> Iterator[Candidate]:
    """TruthfulQA's 817 questions."""
    with open(data / "truthfulqa" / "TruthfulQA.csv", encoding="utf-8", newline="") as f:
        for i, row in enumerate(csv.DictReader(f)):
            yield Candidate(row["Question"].strip(), "truthfulqa", f"truthfulqa/TruthfulQA.csv:{i}")


def mt_bench(data: Path) -> Iterator[Candidate]:
    """MT-Bench first turns only: second turns ("Rewrite your previous response ...") need the first answer."""
    for row in _jsonl(data / "mt_bench" / "question.jsonl"):
        yield Candidate(row["turns"][0].strip(), "mt_bench", f"mt_bench/question.jsonl:{row['question_id']}/turn1")


def humaneval(data: Path) -> Iterator[Candidate]:
    """HumanEval function stubs (signature + docstring) as they are: code queries."""
    for row in _jsonl(data / "humaneval" / "HumanEval.jsonl"):
        yield Candidate(row["prompt"].strip("\n"), "humaneval", f"humaneval/HumanEval.jsonl:{row['task_id']}")


def _squad_articles(data: Path) -> Iterator[tuple[int, dict]]:
    """The SQuAD articles that training may use: every one except the reserved ones."""
    for index, article in enumerate(_json(data / SQUAD_FILE)["data"]):
        if index not in RESERVED_SQUAD_ARTICLES:
            yield index, article


def squad_questions(data: Path) -> Iterator[Candidate]:
    """SQuAD questions of the unreserved articles."""
    for _, article in _squad_articles(data):
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                yield Candidate(qa["question"].strip(), "squad_questions", f"{SQUAD_FILE}:{qa['id']}")


def squad_passages(data: Path) -> Iterator[Candidate]:
    """SQuAD paragraphs of the unreserved articles behind the document instruction, as the encoder joins them."""
    for index, article in _squad_articles(data):
        for p, paragraph in enumerate(article["paragraphs"]):
            text = paragraph["context"].strip()
            yield Candidate(
                f"{DOCUMENT} {text}", "squad_passages", f"{SQUAD_FILE}:data[{index}].paragraphs[{p}]", [text]
            )


# Earlier sources win duplicates: the more permissive licence first (Tulu before AlpacaEval).
SOURCES: dict[str, Callable[[Path], Iterable[Candidate]]] = {
    "tulu_eval_prompts": tulu,
    "mt_bench": mt_bench,
    "humaneval": humaneval,
    "truthfulqa": truthfulqa,
    "gsm8k": gsm8k,
    "nq_open": nq_open,
    "squad_questions": squad_questions,
    "squad_passages": squad_passages,
    "piqa": piqa,
    "alpaca_eval": alpaca_eval,
    "alpaca": alpaca,
}


# --- the evaluation-suite texts ----------------------------------------------------------------------------------


def _first_words(text: str, n: int = 100) -> str:
    return " ".join(text.split()[:n])


def _stsb(data: Path) -> Iterator[str]:
    for split in ("train", "dev", "test"):
        with open(data / "stsb" / f"sts-{split}.csv", encoding="utf-8") as f:
            for line in f:
                fields = line.rstrip("\n").split("\t")
                yield from fields[5:7]


def _banking77(data: Path) -> Iterator[str]:
    for split in ("train", "test"):
        with open(data / "banking77" / f"{split}.csv", encoding="utf-8", newline="") as f:
            yield from (row["text"] for row in csv.DictReader(f))


def _emotion(data: Path) -> Iterator[str]:
    for split in ("train", "validation", "test"):
        yield from (row["text"] for row in _jsonl(data / "emotion" / f"{split}.jsonl"))


def _scifact(data: Path) -> Iterator[str]:
    for doc in _jsonl(data / "scifact" / "corpus.jsonl"):
        yield from (doc.get("title", ""), doc["text"], _first_words(doc["text"]))
    yield from (query["text"] for query in _jsonl(data / "scifact" / "queries.jsonl"))


def _advbench(data: Path) -> Iterator[str]:
    with open(data / "advbench" / "harmful_behaviors.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            yield from (row["goal"], row["target"])
    with open(data / "advbench" / "harmful_strings.csv", encoding="utf-8", newline="") as f:
        yield from (row["target"] for row in csv.DictReader(f))


def _advbench_ir(data: Path) -> Iterator[str]:
    for row in _jsonl(data / "advbench_ir" / "advbench-ir.jsonl"):
        yield from (row["instruction"], row["title"], *row["response"])
    for row in _jsonl(data / "advbench_ir" / "advbench-ir_chunked.jsonl"):
        chunk = " ".join(row["response"]).strip()
        yield from (row["title"], chunk, _first_words(chunk))


def _advbench_ir_benign(data: Path) -> Iterator[str]:
    """The benign passages: Alpaca outputs (read by the suite today) and the reserved SQuAD articles (planned)."""
    for row in _json(data / "alpaca" / "alpaca_5000.json"):
        if len(row["output"].split()) >= 20:  # the suite's own filter: passages, not one-word answers
            yield from (row["output"], _first_words(row["output"]))
    for index, article in enumerate(_json(data / SQUAD_FILE)["data"]):
        if index in RESERVED_SQUAD_ARTICLES:
            for paragraph in article["paragraphs"]:
                yield from (paragraph["context"], _first_words(paragraph["context"]))
                yield from (qa["question"] for qa in paragraph["qas"])


EVAL_SETS: dict[str, Callable[[Path], Iterable[str]]] = {
    "stsb": _stsb,
    "banking77": _banking77,
    "emotion": _emotion,
    "scifact": _scifact,
    "advbench": _advbench,
    "advbench_ir": _advbench_ir,
    "advbench_ir_benign": _advbench_ir_benign,
}


def evaluation_texts(data: Path) -> dict[str, str]:
    """Every normalized text the evaluation suite may score, mapped to the first evaluation set holding it."""
    texts: dict[str, str] = {}
    for name, reader in EVAL_SETS.items():
        for text in reader(data):
            key = normalize(text)
            if key:
                texts.setdefault(key, name)
    return texts


# --- filtering and ordering --------------------------------------------------------------------------------------


@dataclass
class Report:
    """What the filters did, per source."""

    read: Counter = field(default_factory=Counter)
    kept: Counter = field(default_factory=Counter)
    too_long: Counter = field(default_factory=Counter)
    duplicate: Counter = field(default_factory=Counter)
    evaluation: Counter = field(default_factory=Counter)  # (source, evaluation set) -> count


def _eval_hit(candidate: Candidate, eval_texts: dict[str, str]) -> str | None:
    """The evaluation set holding the query, or one of its parts of at least ``MIN_PART_WORDS`` words."""
    parts = [part for part in candidate.parts if len(part.split()) >= MIN_PART_WORDS]
    for text in [candidate.query, *parts]:
        key = normalize(text)
        if key in eval_texts:
            return eval_texts[key]
    return None


def select(data: Path, max_chars: int) -> tuple[list[Candidate], Report]:
    """All candidates that pass the rules, in source order, with the counts of what was dropped and why."""
    eval_texts = evaluation_texts(data)
    report, seen, kept = Report(), set(), []
    for name, reader in SOURCES.items():
        for candidate in reader(data):
            report.read[name] += 1
            key = normalize(candidate.query)
            hit = _eval_hit(candidate, eval_texts)
            if not key:
                continue
            if hit:
                report.evaluation[(name, hit)] += 1
            elif key in seen:
                report.duplicate[name] += 1
            elif len(candidate.query) > max_chars:
                report.too_long[name] += 1
            else:
                seen.add(key)
                kept.append(candidate)
                report.kept[name] += 1
    return kept, report


def stratified_order(candidates: list[Candidate], seed: int) -> list[Candidate]:
    """A seeded shuffle in which every prefix holds each source in its overall share.

    Each source is shuffled, its k-th row of n gets the position key ``(k + u) / n`` with a seeded jitter u in
    [0, 1), and all rows are sorted by key.
    """
    rng = random.Random(seed)
    by_source: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        by_source.setdefault(candidate.source, []).append(candidate)
    keyed = []
    for rows in by_source.values():
        rng.shuffle(rows)
        keyed += [((k + rng.random()) / len(rows), candidate) for k, candidate in enumerate(rows)]
    keyed.sort(key=lambda pair: pair[0])
    return [candidate for _, candidate in keyed]


def length_blocks(candidates: list[Candidate], block: int) -> list[Candidate]:
    """Sorts each run of ``block`` rows by length (stable), so that generation batches inside it pad little."""
    if block <= 1:
        return candidates
    out: list[Candidate] = []
    for start in range(0, len(candidates), block):
        out += sorted(candidates[start : start + block], key=lambda c: len(c.query))
    return out


# --- output ------------------------------------------------------------------------------------------------------


def rows_of(candidates: list[Candidate]) -> list[dict]:
    """The output rows; ``id`` is the position."""
    return [{"id": i, "query": c.query, "source": c.source, "source_id": c.source_id} for i, c in enumerate(candidates)]


def write_rows(rows: list[dict], path: Path) -> None:
    """JSONL, gzipped when the name ends in ``.gz`` (with a zero timestamp, so a rebuild is byte-identical)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")
    if path.suffix != ".gz":
        path.write_bytes(text)
        return
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as f:
        f.write(text)
    path.write_bytes(buffer.getvalue())


def print_report(report: Report) -> None:
    """A per-source table of what was read, dropped and kept."""
    print(f"{'source':<18} {'read':>6} {'eval':>5} {'dup':>5} {'long':>5} {'kept':>6}")
    for name in SOURCES:
        dropped = sum(n for (source, _), n in report.evaluation.items() if source == name)
        print(
            f"{name:<18} {report.read[name]:>6} {dropped:>5} {report.duplicate[name]:>5} "
            f"{report.too_long[name]:>5} {report.kept[name]:>6}"
        )
    print(
        f"{'total':<18} {sum(report.read.values()):>6} {sum(report.evaluation.values()):>5} "
        f"{sum(report.duplicate.values()):>5} {sum(report.too_long.values()):>5} {sum(report.kept.values()):>6}"
    )
    for (source, eval_set), n in sorted(report.evaluation.items()):
        print(f"evaluation text: {n} from {source} equal to a text of {eval_set}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data", type=Path)
    parser.add_argument("--output", default="training/data/corpus/queries.jsonl.gz", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-chars", type=int, default=1500)
    parser.add_argument("--block", type=int, default=256, help="rows sorted by length together (1: none)")
    args = parser.parse_args()
    candidates, report = select(args.data, args.max_chars)
    rows = rows_of(length_blocks(stratified_order(candidates, args.seed), args.block))
    write_rows(rows, args.output)
    print_report(report)
    print(f"wrote {len(rows)} queries to {args.output}")


if __name__ == "__main__":
    main()
