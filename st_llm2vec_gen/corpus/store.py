"""The on-disk output of a corpus encoding: chunk files with their ids and a manifest per shard, planned, written
and read back here (see :mod:`st_llm2vec_gen.corpus` for the layout)."""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..models.atomic_files import atomic_write, write_json

logger = logging.getLogger(__name__)

FORMAT = "llm2vec-gen-embeddings"
VERSION = 1


def manifest_name(shard: tuple[int, int]) -> str:
    """``manifest.json`` for a whole corpus, ``manifest.<i>-of-<n>.json`` for shard i of n."""
    index, count = shard
    return "manifest.json" if count == 1 else f"manifest.{index}-of-{count}.json"


def chunk_files(chunk: int) -> tuple[str, str]:
    """The vectors' and ids' file names of a chunk."""
    return f"chunk-{chunk:06d}.npy", f"chunk-{chunk:06d}.ids.json"


def shard_chunks(rows: int, chunk_size: int, shard: tuple[int, int]) -> list[int]:
    """The chunks shard ``i`` of ``n`` encodes: chunk k (rows ``[k * chunk_size, (k + 1) * chunk_size)``) if
    ``k % n == i``. The shards of one ``n`` are disjoint and together cover every chunk."""
    index, count = shard
    return [k for k in range(math.ceil(rows / chunk_size)) if k % count == index]


def chunk_rows(chunk: int, rows: int, chunk_size: int) -> int:
    """The number of rows of ``chunk``: ``chunk_size``, fewer for the last one."""
    return min(chunk_size, rows - chunk * chunk_size)


def _own_entry(name: str) -> bool:
    """Whether a directory entry is one this module writes (manifests, chunk files, their temporary names)."""
    return name.lstrip(".").startswith(("manifest.", "chunk-"))


def _fresh_manifest(settings: dict[str, Any], shard: tuple[int, int], info: dict[str, Any]) -> dict[str, Any]:
    """The manifest of a shard's output before any chunk is done."""
    return {"format": FORMAT, "version": VERSION, "settings": settings, "shard": list(shard), "info": info,
            "done": [], "complete": False}  # fmt: skip


def _read_manifest(path: Path) -> dict[str, Any]:
    """Reads a manifest, raising ValueError if it is not valid JSON, not one of ours or of another version."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not a valid manifest ({error}): remove it or pass --overwrite") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{path} is not an llm2vec-gen embeddings manifest")
    if manifest.get("version") != VERSION:
        raise ValueError(f"{path} has manifest version {manifest.get('version')}; this package reads {VERSION}")
    return manifest


def _differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Dotted names of the settings that differ."""
    names = []
    for key in sorted(set(a) | set(b)):
        if isinstance(a.get(key), dict) and isinstance(b.get(key), dict):
            names += [f"{key}.{sub}" for sub in _differences(a[key], b[key])]
        elif a.get(key) != b.get(key):
            names.append(key)
    return names


def plan_output(
    folder: Path, settings: dict[str, Any], shard: tuple[int, int], info: dict[str, Any], overwrite: bool
) -> tuple[dict[str, Any], bool]:
    """The manifest to continue from: the existing one when the settings match (a resume), else a fresh one; and
    whether this shard's earlier chunk files are to be removed (``overwrite``). Reads only, writes nothing.

    Raises:
        FileExistsError: If the output is a file, holds an output of other settings (without ``overwrite``), other
            shards' output of other settings, or foreign files (without ``overwrite``).
    """
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder} is a file; the output is a directory (or a .npy file name for one array)")
    if not folder.exists():
        return _fresh_manifest(settings, shard, info), False
    mine = folder / manifest_name(shard)
    for other in sorted(folder.glob("manifest*.json")):
        if other != mine and (diff := _differences(_read_manifest(other)["settings"], settings)):
            raise FileExistsError(
                f"{folder} holds {other.name}, another run's output (settings differ: {', '.join(diff)}): remove it "
                "or choose another output directory"
            )
    if mine.exists():
        previous = _read_manifest(mine)
        diff = _differences(previous["settings"], settings)
        if not diff and not overwrite:
            return _resumed(folder, previous), False
        if not overwrite:
            raise FileExistsError(
                f"{folder} holds an output written with other settings ({', '.join(diff)}): pass --overwrite "
                "(overwrite=True) to replace it, or choose another output directory"
            )
    elif not overwrite and (foreign := sorted(n for n in os.listdir(folder) if not _own_entry(n))):
        raise FileExistsError(
            f"{folder} is not empty and holds no embeddings output ({foreign[:3]}): pass --overwrite "
            "(overwrite=True) to write into it anyway, or choose another output directory"
        )
    return _fresh_manifest(settings, shard, info), overwrite


def _resumed(folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest with only the chunks whose two files are present (a deleted file gets encoded again)."""
    present = [k for k in manifest["done"] if all((folder / name).is_file() for name in chunk_files(k))]
    if missing := sorted(set(manifest["done"]) - set(present)):
        logger.warning("%s: chunk files of %s are missing; encoding them again", folder, missing)
    manifest["done"] = present
    logger.info("Resuming %s: %d chunk(s) already complete", folder, len(present))
    return manifest


def remove_chunks(folder: Path, shard: tuple[int, int]) -> None:
    """Removes the chunk files of a shard's earlier run (listed in its manifest or not), never other shards'."""
    index, count = shard
    for path in folder.glob("chunk-*"):
        number = path.name.removeprefix("chunk-").split(".")[0]
        if number.isdigit() and int(number) % count == index:
            path.unlink()


def remove_stale_temporaries(folder: Path, chunks: Iterable[int], shard: tuple[int, int]) -> None:
    """Temporary files a killed run of this shard left behind (only this shard's names: others may be running)."""
    prefixes = tuple(f".{name}." for k in chunks for name in chunk_files(k)) + (f".{manifest_name(shard)}.",)
    for path in folder.iterdir():
        if path.name.startswith(prefixes) and path.name.endswith(".tmp"):
            path.unlink(missing_ok=True)


def write_chunk(folder: Path, chunk: int, ids: list[str | int], vectors: np.ndarray) -> None:
    """Writes a chunk's vectors and ids, each to a temporary name renamed into place."""
    vectors_name, ids_name = chunk_files(chunk)
    save_npy(folder / vectors_name, vectors)
    write_json(folder / ids_name, ids)


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Writes ``array`` to exactly ``path`` (never ``path + ".npy"``) through a temporary file renamed into place."""

    def save(tmp: str) -> None:
        with open(tmp, "wb") as f:  # a file object: np.save would append ".npy" to a path without it
            np.save(f, array)

    atomic_write(path, save)


def iter_embeddings(*outputs: str | os.PathLike) -> Iterator[tuple[list[str | int], np.ndarray]]:
    """Yields ``(ids, vectors)`` chunk by chunk in row order, from one output directory or the directories of
    several shards.

    Raises:
        ValueError: If the manifests disagree, a chunk is missing (a shard not finished or not given) or present
            twice, or a chunk file does not match its manifest.
    """
    located = _locate_chunks(outputs)
    for chunk in sorted(located):
        folder, rows = located[chunk]
        vectors_name, ids_name = chunk_files(chunk)
        vectors = np.load(folder / vectors_name)
        ids = json.loads((folder / ids_name).read_text(encoding="utf-8"))
        if vectors.shape[0] != rows or len(ids) != rows:
            raise ValueError(f"{folder}/{vectors_name}: {vectors.shape[0]} vectors and {len(ids)} ids, expected {rows}")
        yield ids, vectors


def load_embeddings(*outputs: str | os.PathLike) -> tuple[list[str | int], np.ndarray]:
    """All ids and vectors, (rows, D), of one output directory or of several shards' directories, in row order."""
    ids: list[str | int] = []
    parts = []
    for chunk_ids, vectors in iter_embeddings(*outputs):
        ids += chunk_ids
        parts.append(vectors)
    return ids, np.concatenate(parts)


def _locate_chunks(outputs: Sequence[str | os.PathLike]) -> dict[int, tuple[Path, int]]:
    """``{chunk: (folder, rows)}`` over the manifests of ``outputs``, checked complete and without overlaps."""
    manifests = [(Path(o), _read_manifest(m)) for o in outputs for m in sorted(Path(o).glob("manifest*.json"))]
    if not manifests:
        raise ValueError(f"No embeddings manifest in {[str(o) for o in outputs]}")
    settings = manifests[0][1]["settings"]
    located: dict[int, tuple[Path, int]] = {}
    for folder, manifest in manifests:
        if diff := _differences(manifest["settings"], settings):
            raise ValueError(f"{folder}: the shards were written with different settings ({', '.join(diff)})")
        for chunk in manifest["done"]:
            if chunk in located and located[chunk][0].resolve() != folder.resolve():
                raise ValueError(f"Chunk {chunk} is in both {located[chunk][0]} and {folder}")
            located[chunk] = (folder, chunk_rows(chunk, settings["input"]["rows"], settings["chunk_size"]))
    expected = math.ceil(settings["input"]["rows"] / settings["chunk_size"])
    if missing := sorted(set(range(expected)) - set(located)):
        count = settings["shards"]
        shards = sorted({k % count for k in missing})
        raise ValueError(
            f"Incomplete embeddings: {len(missing)} of {expected} chunk(s) missing (e.g. {missing[:5]}), from "
            f"shard(s) {shards} of {count}: finish them (rerun the same command) or give their output directories"
        )
    return located
