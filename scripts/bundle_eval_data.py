"""Builds the offline evaluation suite's data bundled with the package, from the full source sets.

    .venv/bin/python scripts/bundle_eval_data.py --source ../shared/data

Writes ``st_llm2vec_gen/evaluation/suite_data/``: exactly what ``st_llm2vec_gen.evaluation.bundled_data`` and
``interpretability.sample_queries`` read, so that the suite runs from a clone with nothing beside it. Every pool a
seeded sampler draws from is kept whole and in its original order, so the samples are the ones the full files give,
for any seed and size. Only what no reader touches is dropped (other splits, unused columns, rows never read).
Large files are gzipped (deterministically: no name, no time stamp); the readers open ``name`` or ``name.gz``.
The hand-written ``SOURCES.md`` of each folder (origin, licence) is left as it is. Re-running gives the same bytes.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import inspect
import io
import json
from collections.abc import Iterable
from pathlib import Path

from st_llm2vec_gen.evaluation.bundled_data import BENIGN_ARTICLES, SQUAD_FILE
from st_llm2vec_gen.evaluation.interpretability import sample_queries

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "st_llm2vec_gen" / "evaluation" / "suite_data"
INTERPRETABILITY_ROWS = inspect.signature(sample_queries).parameters["per_source"].default
"""Rows of scifact/queries.jsonl and advbench/harmful_behaviors.csv that the interpretability report reads first."""

VERBATIM = {  # source file -> bundled name; the bytes are unchanged (gzip aside)
    "stsb/sts-test.csv": "stsb/sts-test.csv.gz",
    "stsb/LICENSE.txt": "stsb/LICENSE.txt",
    "banking77/train.csv": "banking77/train.csv.gz",
    "banking77/test.csv": "banking77/test.csv.gz",
    "banking77/categories.json": "banking77/categories.json",
    "emotion/train.jsonl": "emotion/train.jsonl.gz",
    "emotion/test.jsonl": "emotion/test.jsonl.gz",
    "scifact/corpus.jsonl": "scifact/corpus.jsonl.gz",
    "scifact/qrels/test.tsv": "scifact/qrels/test.tsv",
}


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        buffer = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as f:
            f.write(data)
        data = buffer.getvalue()
    path.write_bytes(data)


def _jsonl(rows: Iterable[dict]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def scifact_queries(source: Path) -> bytes:
    """The claims with test qrels (read_scifact) plus the first lines (the interpretability report), in order."""
    with open(source / "scifact" / "qrels" / "test.tsv", encoding="utf-8") as f:
        tested = {row["query-id"] for row in csv.DictReader(f, delimiter="\t")}
    lines = (source / "scifact" / "queries.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    keep = [line for i, line in enumerate(lines) if i < INTERPRETABILITY_ROWS or json.loads(line)["_id"] in tested]
    return "".join(keep).encode("utf-8")


def advbench_behaviors(source: Path) -> bytes:
    """The header and first rows of AdvBench's harmful_behaviors.csv (the interpretability report's samples)."""
    with open(source / "advbench" / "harmful_behaviors.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))[: 1 + INTERPRETABILITY_ROWS]
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode("utf-8")


def advbench_ir(source: Path) -> dict[str, bytes]:
    """All 520 queries (id and instruction only) and all 1,796 harmful chunks (id, title, text only)."""
    root = source / "advbench_ir"
    queries = [{"id_": r["id_"], "instruction": r["instruction"]} for r in _read_jsonl(root / "advbench-ir.jsonl")]
    chunks = [
        {"id_": r["id_"], "title": r["title"], "response": r["response"]}
        for r in _read_jsonl(root / "advbench-ir_chunked.jsonl")
    ]
    return {"advbench-ir.jsonl.gz": _jsonl(queries), "advbench-ir_chunked.jsonl.gz": _jsonl(chunks)}


def squad_articles(source: Path) -> bytes:
    """The paragraphs (context only) of SQuAD's first BENIGN_ARTICLES articles: AdvBench-IR's benign corpus.

    The other articles are reserved for training queries and are not bundled.
    """
    squad = json.loads((source / "squad" / SQUAD_FILE).read_text(encoding="utf-8"))
    articles = [
        {"title": a["title"], "paragraphs": [{"context": p["context"]} for p in a["paragraphs"]]}
        for a in squad["data"][:BENIGN_ARTICLES]
    ]
    return json.dumps({"version": squad["version"], "data": articles}, ensure_ascii=False).encode("utf-8")


def build(source: Path, output: Path) -> dict[str, int]:
    """Writes every bundled data file under ``output`` and returns their sizes in bytes, by relative path."""
    for folder in ("stsb", "banking77", "emotion", "scifact", "advbench", "advbench_ir", "squad"):
        for old in (output / folder).glob("**/*"):  # a clean rebuild; SOURCES.md stays
            if old.is_file() and old.name != "SOURCES.md":
                old.unlink()
    files = {name: (source / path).read_bytes() for path, name in VERBATIM.items()}
    files["scifact/queries.jsonl"] = scifact_queries(source)
    files["advbench/harmful_behaviors.csv"] = advbench_behaviors(source)
    files |= {f"advbench_ir/{name}": data for name, data in advbench_ir(source).items()}
    files[f"squad/{SQUAD_FILE}.gz"] = squad_articles(source)
    for name, data in sorted(files.items()):
        _write(output / name, data)
    return {name: (output / name).stat().st_size for name in sorted(files)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "data", help="the full data sets")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="the bundled folder to (re)write")
    args = parser.parse_args()
    sizes = build(args.source, args.output)
    print("     bytes  sha256 of the content (decompressed)  file")
    for name, size in sizes.items():
        path = args.output / name
        content = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        print(f"{size:>10,}  {hashlib.sha256(content).hexdigest()[:16]}  {name}")
    print(f"{sum(sizes.values()):>10,}  total")


if __name__ == "__main__":
    main()
