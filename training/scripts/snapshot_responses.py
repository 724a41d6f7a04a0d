"""Snapshots the live response file into a committed gzip, and restores the live files from the committed ones.

    python training/scripts/snapshot_responses.py            # responses.jsonl -> responses.jsonl.gz (atomic)
    python training/scripts/snapshot_responses.py --restore  # queries.jsonl and responses.jsonl from their .gz

The snapshot holds only complete lines (a line being written while the generator runs is left for the next
snapshot) and is written to a temporary file that replaces the old one, so a reader never sees half a file. It is
gzipped with a zero timestamp: the same rows give the same bytes.

``--restore`` makes the uncompressed, git-ignored files that ``llm2vec-gen generate`` reads: the plain query file
whenever it differs from the committed ``queries.jsonl.gz``, and ``responses.jsonl`` from ``responses.jsonl.gz``
only when there is no live file yet (a live file is newer than any snapshot of it).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"


def complete_lines(path: Path) -> bytes:
    """The file's text up to its last newline, every line checked to be a JSON object."""
    data = path.read_bytes()
    data = data[: data.rfind(b"\n") + 1]
    for number, line in enumerate(data.splitlines(), start=1):
        if line.strip() and not isinstance(json.loads(line), dict):
            raise ValueError(f"{path}:{number} is not a JSON object")
    return data


def gzip_bytes(data: bytes) -> bytes:
    """``data`` gzipped without a file name or timestamp."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as f:
        f.write(data)
    return buffer.getvalue()


def write_atomically(path: Path, data: bytes) -> None:
    """Writes to a temporary file beside ``path``, then renames it over ``path``."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def snapshot(live: Path, archive: Path) -> int:
    """Gzips the complete lines of ``live`` into ``archive``; returns the number of rows."""
    data = complete_lines(live)
    write_atomically(archive, gzip_bytes(data))
    return _rows(data)


def _rows(data: bytes) -> int:
    return data.count(b"\n")


def restore(corpus: Path) -> None:
    """Creates the plain files ``llm2vec-gen generate`` reads from the committed gzips (see the module docstring)."""
    queries = gzip.decompress((corpus / "queries.jsonl.gz").read_bytes())
    plain = corpus / "queries.jsonl"
    if not plain.is_file() or plain.read_bytes() != queries:
        write_atomically(plain, queries)
        print(f"restored {plain} ({_rows(queries)} queries)")
    live, archive = corpus / "responses.jsonl", corpus / "responses.jsonl.gz"
    if not live.exists() and archive.is_file():
        responses = gzip.decompress(archive.read_bytes())
        write_atomically(live, responses)
        print(f"restored {live} ({_rows(responses)} responses)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="the folder of the query and response files")
    parser.add_argument("--restore", action="store_true", help="make the plain files from the committed gzips")
    args = parser.parse_args()
    if args.restore:
        restore(args.corpus)
    else:
        rows = snapshot(args.corpus / "responses.jsonl", args.corpus / "responses.jsonl.gz")
        print(f"{rows} responses in {args.corpus / 'responses.jsonl.gz'}")


if __name__ == "__main__":
    main()
