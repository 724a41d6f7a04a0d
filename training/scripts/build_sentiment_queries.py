"""Builds training queries whose tone is the point (review sentences, Reddit comments, dialogue turns), each under the
model's classification prompt, so the LLM's answers to them (``llm2vec-gen generate``) keep the input's sentiment.

    python training/scripts/build_sentiment_queries.py                 # queries.jsonl from the stored extract
    python training/scripts/build_sentiment_queries.py --refresh-extract \\
        --uci DIR --goemotions DIR --dailydialog DIR                   # first re-read the raw source files

Two steps. The *extract* (``training/data/sentiment/sources.jsonl.gz``, rows ``{"source", "source_id", "label",
"text"}``) holds the raw rows that can be chosen, as read from the public files (see that folder's SOURCES.md):
UCI Sentiment Labelled Sentences (all 3,000), GoEmotions (comments with exactly one label, among the emotions of
``PLAN``) and DailyDialog test + validation (turns labelled with an emotion). The *build* reads only the extract and
the evaluation suite's bundled texts, so it runs offline and gives the same bytes every time: it cleans each text,
keeps those of ``--min-words``..``--max-words`` words, drops duplicates and every text that equals, contains or is
contained in an Emotion or Banking77 suite text (normalized: lowercase, collapsed white space), draws each class of
``PLAN`` with seed ``--seed`` (round robin over the class's fine labels, so rare ones are not crowded out), orders the
rows so every prefix mixes the classes, and writes rows ``{"id", "query", "source", "source_id", "prompt_name"}`` with
``query = with_prompt(prompt, text)``: the schema and joining rule of ``build_instructed_queries.py``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from st_llm2vec_gen import DEFAULT_MODEL
from st_llm2vec_gen.evaluation.bundled_data import BUNDLED_DATA
from st_llm2vec_gen.io.prompts import saved_prompts
from st_llm2vec_gen.io.records import iter_jsonl
from st_llm2vec_gen.models.inputs import with_prompt

FOLDER = Path(__file__).resolve().parents[1] / "data" / "sentiment"
EXTRACT = FOLDER / "sources.jsonl.gz"
OUTPUT = FOLDER / "queries.jsonl"
PROMPT_NAME = "Classification"

# (source, class, quota, fine labels taken in turn). UCI rows are positive/negative, their fine label is the site.
PLAN: tuple[tuple[str, str, int, tuple[str, ...]], ...] = (
    ("uci_sentiment", "positive", 450, ("amazon", "imdb", "yelp")),
    ("uci_sentiment", "negative", 450, ("amazon", "imdb", "yelp")),
    ("goemotions", "positive", 450, ("admiration", "amusement", "caring", "desire", "excitement", "gratitude", "joy",
                                     "love", "optimism", "pride", "relief")),
    ("goemotions", "negative", 450, ("anger", "annoyance", "disappointment", "disgust", "embarrassment", "fear",
                                     "grief", "nervousness", "remorse", "sadness")),
    ("goemotions", "surprise", 150, ("surprise",)),
    ("dailydialog", "positive", 240, ("happiness",)),
    ("dailydialog", "negative", 240, ("anger", "disgust", "fear", "sadness")),
    ("dailydialog", "surprise", 150, ("surprise",)),
)  # fmt: skip
KINDS = {"uci_sentiment": "review", "goemotions": "social post", "dailydialog": "dialogue turn"}

UCI_FILES = {"amazon": "amazon_cells_labelled.txt", "imdb": "imdb_labelled.txt", "yelp": "yelp_labelled.txt"}
UCI_HEADER = "reviews\tsentiment"  # a header some copies add; the UCI files have none
# GoEmotions' emotions.txt, in order: the ids of the .tsv files index it.
GOEMOTIONS_LABELS = (
    "admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion", "curiosity", "desire",
    "disappointment", "disapproval", "disgust", "embarrassment", "excitement", "fear", "gratitude", "grief", "joy",
    "love", "nervousness", "optimism", "pride", "realization", "relief", "remorse", "sadness", "surprise", "neutral",
)  # fmt: skip
DAILYDIALOG_EMOTIONS = ("no emotion", "anger", "disgust", "fear", "happiness", "sadness", "surprise")
DAILYDIALOG_SPLITS = ("test", "validation")


def normalize(text: str) -> str:
    return " ".join(text.lower().split())


# ---------------------------------------------------------------------------------------------------------- extract
def _lines(path: Path) -> list[str]:
    """The file's lines split on "\\n" only (the UCI IMDb file has U+0085 inside sentences)."""
    text = path.read_text(encoding="utf-8")
    return text[:-1].split("\n") if text.endswith("\n") else text.split("\n")


def read_uci(folder: Path) -> Iterator[dict]:
    for name in UCI_FILES.values():
        lines = _lines(folder / name)
        if lines and lines[0] == UCI_HEADER:
            lines = lines[1:]
        for i, line in enumerate(lines):
            text, label = line.rsplit("\t", 1)
            label = {"0": "negative", "1": "positive"}[label.strip()]
            yield {"source": "uci_sentiment", "source_id": f"uci_sentiment/{name}:{i}", "label": label, "text": text}


def read_goemotions(folder: Path, wanted: set[str]) -> Iterator[dict]:
    for split in ("train", "dev", "test"):
        with (folder / f"{split}.tsv").open(encoding="utf-8", newline="") as f:
            for text, ids, comment_id in csv.reader(f, delimiter="\t"):  # texts with quotes are CSV-quoted
                labels = [GOEMOTIONS_LABELS[int(i)] for i in ids.split(",")]
                if len(labels) == 1 and labels[0] in wanted:
                    source_id = f"goemotions/{split}.tsv:{comment_id}"
                    yield {"source": "goemotions", "source_id": source_id, "label": labels[0], "text": text}


def read_dailydialog(folder: Path) -> Iterator[dict]:
    for split in DAILYDIALOG_SPLITS:
        name = f"dialogues_{split}.txt"
        texts = folder / split / name
        emotions = folder / split / f"dialogues_emotion_{split}.txt"
        if not texts.is_file():  # copies that drop the split from the names
            texts, emotions = folder / split / "dialogues.txt", folder / split / "dialogues_emotion.txt"
        for d, (dialogue, labels) in enumerate(zip(_lines(texts), _lines(emotions), strict=True)):
            turns = [t.strip() for t in dialogue.split("__eou__")]
            turns = turns[:-1] if turns and not turns[-1] else turns
            labels = labels.split()
            if len(turns) != len(labels):
                raise ValueError(f"{texts}:{d}: {len(turns)} turns, {len(labels)} emotion labels")
            for t, (turn, label) in enumerate(zip(turns, labels)):
                if label != "0":
                    source_id = f"dailydialog/{split}/{name}:{d}.{t}"
                    yield {"source": "dailydialog", "source_id": source_id, "label": DAILYDIALOG_EMOTIONS[int(label)],
                           "text": turn}  # fmt: skip


def write_extract(path: Path, rows: Iterable[dict]) -> int:
    """Gzipped JSONL with a fixed header (no name, no time): the same rows give the same bytes."""
    buffer = io.BytesIO()
    count = 0
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as f:
        for row in rows:
            f.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
            count += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return count


def read_extract(path: Path) -> list[dict]:
    return [row for _, row in iter_jsonl(str(path))]


# ------------------------------------------------------------------------------------------------------------ build
def _cp1252(ch: str) -> str:
    try:
        return ch.encode("latin-1").decode("cp1252")
    except UnicodeDecodeError:
        return ch


_DETOKENIZE = (
    (re.compile(r"(?<=\w) ([’']) (?=\w)"), r"\1"),  # I ’ ll -> I’ll
    (re.compile(r" ([,.!?;:%)\]])"), r"\1"),  # word , -> word,
    (re.compile(r"([(\[$]) "), r"\1"),  # ( word -> (word
)


def clean(source: str, text: str) -> str:
    """C1 control characters (Windows-1252 punctuation read as Latin-1 in the UCI IMDb file) become the punctuation
    they stand for, DailyDialog's space-tokenized turns get the usual spacing back, white space is collapsed."""
    text = "".join(_cp1252(ch) if "\x80" <= ch <= "\x9f" else ch for ch in text)
    if source == "dailydialog":
        for pattern, replacement in _DETOKENIZE:
            text = pattern.sub(replacement, text)
    return " ".join(text.split())


def suite_texts(data_dir: Path = BUNDLED_DATA) -> set[str]:
    """Normalized texts of the suite's Emotion and Banking77 files, training and test splits."""
    texts: list[str] = []
    for split in ("train", "test"):
        texts += [row["text"] for _, row in iter_jsonl(str(data_dir / "emotion" / f"{split}.jsonl.gz"))]
        with gzip.open(data_dir / "banking77" / f"{split}.csv.gz", "rt", encoding="utf-8", newline="") as f:
            texts += [row["text"] for row in csv.DictReader(f)]
    return {normalize(t) for t in texts}


def overlaps(candidates: Sequence[str], suite: Iterable[str], k: int = 6) -> dict[int, str]:
    """Index -> how ("equal", "in suite", "contains suite") for each candidate that equals, is a substring of or
    contains a suite text. All texts normalized. Exact: every occurrence of the shorter text starts with one of its
    first-k-character windows, so the longer text's windows are looked up in a dict of the shorter ones' prefixes."""
    suite = set(suite)
    hits: dict[int, str] = {i: "equal" for i, c in enumerate(candidates) if c in suite}
    by_prefix: dict[str, list[str]] = defaultdict(list)
    for s in suite:
        by_prefix[s[:k]].append(s)
    short_suite = [s for s in suite if len(s) < k]
    for i, c in enumerate(candidates):
        if i in hits:
            continue
        if any(s in c for s in short_suite) or any(
            c.startswith(s, j) for j in range(len(c) - k + 1) for s in by_prefix.get(c[j : j + k], ())
        ):
            hits[i] = "contains suite"
    candidates_by_prefix: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(candidates):
        if i not in hits:
            candidates_by_prefix[c[:k]].append(i)
    short = [i for i, c in enumerate(candidates) if len(c) < k and i not in hits]
    for s in suite:
        for i in short:
            if candidates[i] in s:
                hits[i] = "in suite"
        for j in range(len(s) - k + 1):
            for i in candidates_by_prefix.get(s[j : j + k], ()):
                if i not in hits and s.startswith(candidates[i], j):
                    hits[i] = "in suite"
    return hits


def classify(row: dict) -> tuple[str, str]:
    """(class, fine label) of an extract row under ``PLAN``."""
    if row["source"] == "uci_sentiment":
        name = row["source_id"].split("/", 1)[1].split(":", 1)[0]
        return row["label"], next(site for site, file in UCI_FILES.items() if file == name)
    for source, name, _, fines in PLAN:
        if source == row["source"] and row["label"] in fines:
            return name, row["label"]
    raise ValueError(f"{row['source_id']}: label {row['label']!r} is in no class of PLAN")


def build(rows: list[dict], suite: set[str], seed: int, min_words: int, max_words: int) -> tuple[list[dict], dict]:
    """The chosen rows (with their cleaned ``text`` and ``class``), in output order, and the counts of each step."""
    stats: dict = {"read": Counter(), "length": Counter(), "duplicate": Counter(), "suite": Counter(),
                   "suite_how": Counter(), "eligible": Counter(), "kept": Counter()}  # fmt: skip
    seen: set[str] = set()
    pool: list[dict] = []
    for row in rows:
        stats["read"][row["source"]] += 1
        text = clean(row["source"], row["text"])
        if not min_words <= len(text.split()) <= max_words:
            stats["length"][row["source"]] += 1
            continue
        key = normalize(text)
        if key in seen:
            stats["duplicate"][row["source"]] += 1
            continue
        seen.add(key)
        pool.append({**row, "text": text, "key": key})
    hits = overlaps([r["key"] for r in pool], suite)
    for i, how in hits.items():
        stats["suite"][pool[i]["source"]] += 1
        stats["suite_how"][how] += 1
    pool = [r for i, r in enumerate(pool) if i not in hits]

    by_fine: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for row in pool:
        name, fine = classify(row)
        by_fine[row["source"], name, fine].append(row)
        stats["eligible"][f"{row['source']}/{name}"] += 1
    rng = random.Random(seed)
    strata: list[list[dict]] = []
    for source, name, quota, fines in PLAN:
        queues = []
        for fine in fines:
            queue = list(by_fine[source, name, fine])
            rng.shuffle(queue)
            queues.append(queue)
        chosen: list[dict] = []
        while len(chosen) < quota and any(queues):
            for queue in queues:
                if queue and len(chosen) < quota:
                    chosen.append({**queue.pop(), "class": name})
        stats["kept"][f"{source}/{name}"] = len(chosen)
        strata.append(chosen)
    # Stratified order: the k-th of a stratum's n rows gets the key (k + u) / n, so any prefix holds each stratum in
    # about its overall share (generation may stop part way).
    keyed = [((k + rng.random()) / len(rows_), s, k) for s, rows_ in enumerate(strata) for k in range(len(rows_))]
    ordered = [strata[s][k] for _, s, k in sorted(keyed)]
    return ordered, stats


def write_queries(path: Path, rows: list[dict], prompt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for i, row in enumerate(rows):
            out = {"id": i, "query": with_prompt(prompt, row["text"]), "source": row["source"],
                   "source_id": row["source_id"], "prompt_name": PROMPT_NAME}  # fmt: skip
            f.write(json.dumps(out, ensure_ascii=False) + "\n")
    tmp.replace(path)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--extract", type=Path, default=EXTRACT, help="the stored raw rows (read, or written first)")
    parser.add_argument(
        "--refresh-extract", action="store_true", help="first rewrite --extract from --uci, --goemotions, --dailydialog"
    )
    parser.add_argument("--uci", type=Path, help="folder with the UCI *_labelled.txt files")
    parser.add_argument("--goemotions", type=Path, help="folder with GoEmotions' train/dev/test.tsv")
    parser.add_argument("--dailydialog", type=Path, help="folder with DailyDialog's test/ and validation/ folders")
    parser.add_argument("--suite-data", type=Path, default=BUNDLED_DATA, help="the evaluation suite's data")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-words", type=int, default=5)
    parser.add_argument("--max-words", type=int, default=80)
    args = parser.parse_args(argv)

    if args.refresh_extract:
        if not (args.uci and args.goemotions and args.dailydialog):
            parser.error("--refresh-extract needs --uci, --goemotions and --dailydialog")
        wanted = {fine for source, _, _, fines in PLAN if source == "goemotions" for fine in fines}
        rows = [*read_uci(args.uci), *read_goemotions(args.goemotions, wanted), *read_dailydialog(args.dailydialog)]
        print(f"{write_extract(args.extract, rows)} raw rows -> {args.extract}")

    rows, stats = build(read_extract(args.extract), suite_texts(args.suite_data), args.seed, args.min_words,
                        args.max_words)  # fmt: skip
    write_queries(args.output, rows, saved_prompts(DEFAULT_MODEL)[PROMPT_NAME])
    for step in ("read", "length", "duplicate", "suite", "suite_how", "eligible", "kept"):
        print(f"{step:>9}: " + ", ".join(f"{k} {v}" for k, v in sorted(stats[step].items())))
    print(f"{len(rows)} queries -> {args.output}")
    return stats


if __name__ == "__main__":
    main()
