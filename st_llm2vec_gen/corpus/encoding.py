"""Encoding a corpus with a sentence-transformers model: into chunk files (:func:`encode_corpus`: streamed,
resumable, shardable, on one device or sentence-transformers' multi-process pool) or into one ``.npy`` array
(:func:`encode_to_npy`, small inputs)."""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..io.output_lock import lock_beside
from ..io.prompts import check_prompt_name
from ..models.atomic_files import write_json
from .reading import CorpusInput
from .store import (
    chunk_rows,
    manifest_name,
    plan_output,
    remove_chunks,
    remove_stale_temporaries,
    save_npy,
    shard_chunks,
    write_chunk,
)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)


@dataclass
class EncodeSummary:
    """What :func:`encode_corpus` did.

    Attributes:
        output: The output directory.
        manifest: Its manifest file for this shard.
        rows: Rows of the input.
        chunks: Chunks of this shard.
        encoded: Chunks encoded by this call (the others were complete already).
    """

    output: Path
    manifest: Path
    rows: int
    chunks: list[int] = field(default_factory=list)
    encoded: list[int] = field(default_factory=list)


@dataclass
class EncodeSettings:
    """How :func:`encode_corpus` encodes (its keyword arguments; ``llm2vec-gen encode`` builds its options from it).

    Attributes:
        prompt_name: The model's prompt to use (e.g. query, document, STS); none: no prompt.
        batch_size: Texts per forward pass.
        chunk_size: Rows per chunk file; a resumed run must keep it.
        shard: i/n: encode only the chunks whose index % n == i (one of n machines).
        devices: Devices to encode on, e.g. cuda:0,cuda:1 or cpu,cpu: one process each (sentence-transformers'
            pool); none: the model's device.
        normalize: Scale the vectors to unit length.
        overwrite: Replace an output written with other settings.
    """

    prompt_name: str | None = None
    batch_size: int = 32
    chunk_size: int = 10_000
    shard: tuple[int, int] = (0, 1)
    devices: list[str] | None = None
    normalize: bool = False
    overwrite: bool = False


def encode_corpus(
    model: SentenceTransformer | str,
    corpus: CorpusInput,
    output: str | os.PathLike,
    prompt_name: str | None = None,
    batch_size: int = 32,
    chunk_size: int = 10_000,
    shard: tuple[int, int] = (0, 1),
    devices: Sequence[str] | None = None,
    normalize: bool = False,
    overwrite: bool = False,
    show_progress: bool = True,
) -> EncodeSummary:
    """Encodes a corpus into an output directory of chunk files, resuming what an earlier run left.

    The input is read and checked once before anything else (so a bad row fails in seconds), then streamed: only
    one chunk's texts and vectors are in memory at a time.

    Args:
        model: A loaded SentenceTransformer, or its path or hub id (loaded with ``trust_remote_code=True`` only if
            there is something left to encode).
        corpus: The input.
        output: The output directory (created if absent).
        prompt_name: The model's prompt to use (e.g. ``"query"``, ``"document"``); None: no prompt.
        batch_size: Texts per forward pass.
        chunk_size: Rows per chunk file; a resumed run must use the same.
        shard: ``(i, n)``: encode only the chunks ``k`` with ``k % n == i`` (one of n machines).
        devices: Devices to encode on; several (``["cuda:0", "cuda:1"]``, ``["cpu", "cpu"]``) start
            sentence-transformers' multi-process pool, one process each. None: the model's device.
        normalize: Scale the vectors to unit length.
        overwrite: Replace an output of other settings, or write into a directory that holds other files.
        show_progress: Show progress bars.

    Returns:
        An :class:`EncodeSummary`.

    Raises:
        ValueError: For bad arguments or a bad input row.
        FileExistsError: If ``output`` holds something else and ``overwrite`` is not set (see above).
        OutputLockedError: If another live process is writing the same shard of ``output``.
    """
    _check_arguments(batch_size, chunk_size, shard, devices)
    rows = corpus.count()
    settings = {"input": corpus.describe(rows), "prompt_name": prompt_name, "normalize": bool(normalize),
                "chunk_size": chunk_size, "shards": shard[1]}  # fmt: skip
    info = {"input": os.path.abspath(corpus.path) if corpus.path else corpus.name,
            "model": model if isinstance(model, str) else None}  # fmt: skip
    folder = Path(output)
    with lock_beside(folder, "" if shard[1] == 1 else f"{shard[0]}-of-{shard[1]}"):  # one writer per shard
        return _encode_locked(model, corpus, folder, settings, info, rows, shard, devices, prompt_name, batch_size,
                              normalize, overwrite, show_progress)  # fmt: skip


def _encode_locked(
    model: SentenceTransformer | str,
    corpus: CorpusInput,
    folder: Path,
    settings: dict[str, Any],
    info: dict[str, Any],
    rows: int,
    shard: tuple[int, int],
    devices: Sequence[str] | None,
    prompt_name: str | None,
    batch_size: int,
    normalize: bool,
    overwrite: bool,
    show_progress: bool,
) -> EncodeSummary:
    """:func:`encode_corpus` once it holds the shard's lock."""
    manifest, replace = plan_output(folder, settings, shard, info, overwrite)
    mine = folder / manifest_name(shard)
    chunks = shard_chunks(rows, settings["chunk_size"], shard)
    todo = [k for k in chunks if k not in set(manifest["done"])]
    summary = EncodeSummary(output=folder, manifest=mine, rows=rows, chunks=chunks)
    if todo:  # loaded and checked before anything is written or removed
        model = _loaded(model, devices)
        _check_model(model, manifest, prompt_name, mine)
    folder.mkdir(parents=True, exist_ok=True)
    if replace:
        remove_chunks(folder, shard)
    remove_stale_temporaries(folder, todo, shard)
    manifest["complete"] = not todo
    write_json(mine, manifest)
    if not todo:
        logger.info("%s: all %d chunk(s) of shard %d/%d are complete", folder, len(chunks), *shard)
        return summary
    with _Encoder(model, devices, prompt_name, batch_size, normalize, show_progress) as encoder:
        summary.encoded = _encode_chunks(encoder, corpus, folder, manifest, todo, show_progress)
    return summary


def _check_arguments(batch_size: int, chunk_size: int, shard: tuple[int, int], devices: Sequence[str] | None) -> None:
    """Raises ValueError for a batch or chunk size below 1, a shard other than ``(i, n)`` with ``0 <= i < n``, or
    an empty or blank device list."""
    for name, value in (("batch_size", batch_size), ("chunk_size", chunk_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    index, count = shard
    if not (isinstance(index, int) and isinstance(count, int) and 0 <= index < count):
        raise ValueError(f"shard must be (i, n) with integers 0 <= i < n, got {shard!r}")
    if devices is not None and (not devices or not all(isinstance(d, str) and d.strip() for d in devices)):
        raise ValueError(f"devices must be a non-empty list of device names such as 'cpu' or 'cuda:0', got {devices!r}")


def _loaded(model: SentenceTransformer | str, devices: Sequence[str] | None) -> SentenceTransformer:
    """The model, loaded if given by name: on the CPU for a pool (its workers place their own copies), else on the
    one device given."""
    if not isinstance(model, str):
        if devices is not None and len(devices) == 1:
            model.to(devices[0])
        return model
    from sentence_transformers import SentenceTransformer

    device = "cpu" if devices is not None and len(devices) > 1 else (devices[0] if devices else None)
    return SentenceTransformer(model, trust_remote_code=True, device=device)


def _check_model(model: SentenceTransformer, manifest: dict[str, Any], prompt_name: str | None, path: Path) -> None:
    """Records the embedding size and prompt text, or checks them against those an earlier run recorded."""
    check_prompt_name(model.prompts, prompt_name)
    found = {"dim": model.get_embedding_dimension(), "prompt": model.prompts.get(prompt_name) if prompt_name else None}
    recorded = {key: manifest[key] for key in found if key in manifest}
    if recorded and recorded != found:
        raise ValueError(
            f"{path} was written by a model with {recorded}, this one has {found}: pass --overwrite (overwrite=True) "
            "to replace the output, or choose another output directory"
        )
    manifest.update(found)


class _Encoder:
    """``model.encode`` with fixed settings, in one process or a multi-process pool started and stopped with it."""

    def __init__(
        self,
        model: SentenceTransformer,
        devices: Sequence[str] | None,
        prompt_name: str | None,
        batch_size: int,
        normalize: bool,
        show_progress: bool,
    ) -> None:
        self.model, self.devices = model, list(devices or [])
        self.kwargs = {"prompt_name": prompt_name, "batch_size": batch_size, "normalize_embeddings": normalize,
                       "show_progress_bar": show_progress, "convert_to_numpy": True}  # fmt: skip
        self.pool: dict[str, Any] | None = None

    def __enter__(self) -> _Encoder:
        if len(self.devices) > 1:
            logger.info("Starting a multi-process pool on %s", ", ".join(self.devices))
            self.pool = self.model.start_multi_process_pool(self.devices)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self.pool is not None:
            self.model.stop_multi_process_pool(self.pool)
            self.pool = None

    def __call__(self, texts: list[str]) -> np.ndarray:
        """(len(texts), D) float32."""
        vectors = self.model.encode(texts, pool=self.pool, **self.kwargs)
        return np.asarray(vectors, dtype=np.float32)


def _encode_chunks(
    encoder: _Encoder,
    corpus: CorpusInput,
    folder: Path,
    manifest: dict[str, Any],
    todo: list[int],
    show_progress: bool,
) -> list[int]:
    """Streams the input and encodes the chunks in ``todo``, recording each in the manifest once it is written."""
    from tqdm.auto import tqdm

    settings = manifest["settings"]
    rows, chunk_size = settings["input"]["rows"], settings["chunk_size"]
    path = folder / manifest_name(tuple(manifest["shard"]))
    total = sum(chunk_rows(k, rows, chunk_size) for k in todo)
    wanted, last, encoded = set(todo), max(todo), []
    stream = corpus.rows()
    with tqdm(total=total, unit="text", desc=f"Encoding {folder.name}", disable=not show_progress) as progress:
        for chunk in range(last + 1):
            block = list(itertools.islice(stream, chunk_size))
            if chunk not in wanted:
                continue
            ids, texts = [row_id for row_id, _ in block], [text for _, text in block]
            write_chunk(folder, chunk, ids, encoder(texts))
            encoded.append(chunk)
            manifest["done"] = sorted([*manifest["done"], chunk])
            manifest["complete"] = len(encoded) == len(todo)
            write_json(path, manifest)  # only now is the chunk complete: a rerun skips it
            progress.update(len(block))
            left = len(todo) - len(encoded)
            logger.info("Chunk %d written (%d rows); %d of %d chunk(s) left", chunk, len(block), left, len(todo))
    return encoded


def encode_to_npy(
    model: SentenceTransformer | str,
    corpus: CorpusInput,
    output: str | os.PathLike,
    prompt_name: str | None = None,
    batch_size: int = 32,
    devices: Sequence[str] | None = None,
    normalize: bool = False,
    overwrite: bool = False,
    show_progress: bool = True,
) -> np.ndarray:
    """Encodes a small corpus into one ``.npy`` array (rows in input order, no ids), all in memory.

    The file is written to a temporary name and renamed to exactly ``output``, which must end with ``.npy``.

    Raises:
        ValueError: If ``output`` does not end with ``.npy``, or for bad arguments or rows.
        FileExistsError: If ``output`` exists (a directory always; a file unless ``overwrite``).
    """
    path = Path(output)
    if path.suffix != ".npy":
        raise ValueError(f"{output}: a single-array output is a .npy file name; give a directory for chunked output")
    if path.is_dir() or (path.exists() and not overwrite):
        what = "is a directory" if path.is_dir() else "exists; pass --overwrite (overwrite=True) to replace it"
        raise FileExistsError(f"{output} {what}")
    _check_arguments(batch_size, 1, (0, 1), devices)
    texts = [text for _, text in corpus.rows()]
    model = _loaded(model, devices)
    check_prompt_name(model.prompts, prompt_name)
    with _Encoder(model, devices, prompt_name, batch_size, normalize, show_progress) as encoder:
        vectors = encoder(texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    with lock_beside(path):
        save_npy(path, vectors)
    logger.info("Saved %s embeddings to %s", vectors.shape, path)
    return vectors
