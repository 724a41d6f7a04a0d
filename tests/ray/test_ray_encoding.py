"""Encoding on Ray Data: an actor pool gives the vectors of one-process ``encode``, through the library and the
command line, after a failed batch, and after an interrupted job (a rerun encodes only the ids not yet written)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import corpus_texts
from sentence_transformers import SentenceTransformer

from st_llm2vec_gen.cli.main import main
from st_llm2vec_gen.corpus.ray_encoding import encode_ray_dataset
from st_llm2vec_gen.corpus.ray_output import encode_to_parquet, load_parquet_embeddings

pytestmark = pytest.mark.slow  # end to end, other processes: `pytest -m slow` (CI runs it)

ROWS = 520
# 2 actors of half a CPU each leave the 2-CPU cluster room for Ray's read and write tasks; 120-row blocks: 5 blocks.
POOL = {"actors": 2, "num_cpus": 0.5, "batch_size": 40, "block_rows": 120}


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return corpus_texts(ROWS)


@pytest.fixture(scope="module")
def reference(ray_model, texts) -> dict[str, np.ndarray]:
    """One-process ``encode`` with each prompt: (ROWS, D) float32."""
    model = SentenceTransformer(ray_model, trust_remote_code=True, device="cpu")
    return {name: model.encode(texts, prompt_name=name, batch_size=32) for name in ("query", "document")}


@pytest.fixture(scope="module")
def parquet_input(tmp_path_factory, texts) -> str:
    path = tmp_path_factory.mktemp("ray-input") / "passages.parquet"
    pq.write_table(pa.table({"pid": list(range(ROWS)), "passage": texts}), path, row_group_size=100)
    return str(path)


def _collect(dataset) -> tuple[list, np.ndarray]:
    table = pa.concat_tables(list(dataset.iter_batches(batch_format="pyarrow", batch_size=None)))
    ids = table.column("id").to_pylist()
    vectors = np.stack(table.column("embedding").to_numpy(zero_copy_only=False))
    return ids, vectors


def test_actor_pool_equals_one_process_encode(ray_cluster, ray_model, texts, reference):
    dataset = ray_cluster.data.from_items([{"id": f"doc-{i}", "text": t} for i, t in enumerate(texts)])
    ids, vectors = _collect(encode_ray_dataset(dataset, ray_model, "id", prompt_name="query", **POOL))
    assert sorted(ids) == sorted(f"doc-{i}" for i in range(ROWS)) and len(set(ids)) == ROWS
    rows = [int(i.split("-")[1]) for i in ids]
    np.testing.assert_allclose(vectors, reference["query"][rows], atol=1e-5, rtol=0)


def _interrupt(out) -> int:
    """Leaves ``out`` as a killed job does: one complete file and one cut file still in staging, the run not
    complete. Returns the rows of the cut file."""
    parts = sorted(out.glob("part-*.parquet"))
    assert len(parts) >= 2
    staging = out / ".staging-killed"
    staging.mkdir()
    shutil.move(parts[0], staging / parts[0].name)
    cut = parts[1].read_bytes()
    parts[1].unlink()
    (staging / parts[1].name).write_bytes(cut[: len(cut) // 2])
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**manifest, "complete": False}))
    return pq.read_metadata(pa.BufferReader(cut)).num_rows


def test_cli_parquet_in_and_out_resumes_after_an_interrupted_job(
    ray_cluster, ray_model, parquet_input, reference, tmp_path
):
    out = tmp_path / "vectors"
    # batch size 20: blocks of 16 batches = 320 rows, so 2 blocks, one per actor
    argv = ["encode", "--engine", "ray", "--model", ray_model, "--input", parquet_input, "--id-column", "pid",
            "--prompt-name", "document", "--output", str(out), "--actors", "2", "--cpus-per-actor", "0.5",
            "--batch-size", "20"]  # fmt: skip
    assert main(argv) == 0
    ids, vectors = load_parquet_embeddings(out)
    assert ids == list(range(ROWS))
    np.testing.assert_allclose(vectors, reference["document"], atol=1e-5, rtol=0)

    lost = _interrupt(out)
    with pytest.raises(ValueError, match="not completed"):
        load_parquet_embeddings(out)
    assert main(argv) == 0  # the rerun keeps the complete staged file and encodes only the cut file's rows
    assert json.loads((out / "manifest.json").read_text())["encoded"] == lost
    ids, vectors = load_parquet_embeddings(out)
    assert ids == list(range(ROWS)) and not list(out.glob(".staging-*"))
    np.testing.assert_allclose(vectors, reference["document"], atol=1e-5, rtol=0)
    assert main(argv) == 0  # finished: nothing is encoded, no actor started
    assert json.loads((out / "manifest.json").read_text())["encoded"] == 0


def test_cli_refuses_ray_without_ids(ray_model, parquet_input, tmp_path, capsys):
    # batch size 20: blocks of 16 batches = 320 rows, so 2 blocks, one per actor
    argv = ["encode", "--engine", "ray", "--model", ray_model, "--input", parquet_input, "--output", str(tmp_path)]
    assert main(argv) == 1
    assert "--id-column" in capsys.readouterr().err


@pytest.fixture
def retry_raised_errors(ray_cluster):
    context = ray_cluster.data.DataContext.get_current()
    previous, context.actor_task_retry_on_errors = context.actor_task_retry_on_errors, True
    yield
    context.actor_task_retry_on_errors = previous


def test_a_batch_that_fails_once_is_retried_nothing_lost_or_duplicated(
    ray_cluster, retry_raised_errors, ray_model, parquet_input, reference, tmp_path
):
    from ray_faults import FailsOnce

    marker = tmp_path / "failed-once"
    out = tmp_path / "vectors"
    encode_to_parquet(parquet_input, ray_model, out, "pid", prompt_name="document", encoder=FailsOnce,
                      encoder_kwargs={"fail_id": 250, "marker": str(marker)}, **POOL)  # fmt: skip
    assert marker.exists()  # the batch holding id 250 did fail once
    ids, vectors = load_parquet_embeddings(out)
    assert ids == list(range(ROWS))
    np.testing.assert_allclose(vectors, reference["document"], atol=1e-5, rtol=0)
