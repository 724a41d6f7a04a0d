"""Encoding corpora at scale: streamed input, vectors in chunk files with their ids, resumable, split across
machines (``shard``) and processes (sentence-transformers' multi-process pool).

The rows of the input are cut into chunks of ``chunk_size`` consecutive rows; chunk ``k`` holds rows
``[k * chunk_size, (k + 1) * chunk_size)`` and belongs to shard ``k % n`` of ``n``. An output directory holds::

    manifest.json                 (manifest.<i>-of-<n>.json for shard i of n > 1)
    chunk-000000.npy              float32 (rows, D), row order
    chunk-000000.ids.json         the rows' ids: the id column's values, or the 0-based row numbers

Each chunk file is written to a temporary name and renamed into place, and the manifest lists a chunk only once both
of its files are in place: a killed run leaves complete chunks and a manifest that names exactly those, and a rerun
with the same settings encodes the remaining chunks only (the same chunks, in the same batches, so the files come
out byte for byte as in an uninterrupted run). :func:`load_embeddings` reads one or several such directories (the
shards of several machines) and checks that every row is there exactly once.
"""

from .encoding import EncodeSettings, EncodeSummary, encode_corpus, encode_to_npy
from .reading import STREAMED_SUFFIXES, CorpusInput
from .store import FORMAT, VERSION, chunk_files, iter_embeddings, load_embeddings, manifest_name, save_npy, shard_chunks

__all__ = [
    "FORMAT", "STREAMED_SUFFIXES", "VERSION", "CorpusInput", "EncodeSettings", "EncodeSummary", "chunk_files",
    "encode_corpus", "encode_to_npy", "iter_embeddings", "load_embeddings", "manifest_name", "save_npy", "shard_chunks",
]  # fmt: skip
