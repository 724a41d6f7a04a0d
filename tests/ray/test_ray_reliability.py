"""The Ray encode path under the inputs and faults a user meets: its defaults on a 2-CPU cluster, a cluster whose
CPUs are taken, typos, duplicate ids, bad texts, a bad file in a folder, and an actor process killed mid-batch."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import corpus_texts
from sentence_transformers import SentenceTransformer

from st_llm2vec_gen.cli.main import main
from st_llm2vec_gen.corpus.ray_output import encode_to_parquet, load_parquet_embeddings

pytestmark = pytest.mark.slow  # end to end, other processes: `pytest -m slow` (CI runs it)

ROWS = 48
POOL = {"actors": 2, "num_cpus": 0.5, "batch_size": 8, "block_rows": 8}


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return corpus_texts(ROWS)


@pytest.fixture(scope="module")
def reference(ray_model, texts) -> np.ndarray:
    """One-process ``encode`` with the document prompt: (ROWS, D) float32."""
    model = SentenceTransformer(ray_model, trust_remote_code=True, device="cpu")
    return model.encode(texts, prompt_name="document", batch_size=8)


def _parquet(path, ids, texts) -> str:
    pq.write_table(pa.table({"doc": ids, "text": texts}), path)
    return str(path)


def _cli(ray_cluster, *args, timeout: float = 240) -> subprocess.CompletedProcess:
    """``llm2vec-gen ARGS`` in a separate process connected to the test cluster, as a user runs it; a stall fails."""
    env = {**os.environ, "RAY_ADDRESS": ray_cluster.get_runtime_context().gcs_address}
    argv = [sys.executable, "-m", "st_llm2vec_gen.cli", *map(str, args)]
    try:
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as stalled:
        pytest.fail(f"llm2vec-gen stalled for {timeout} s: {str(stalled.stderr)[-2000:]}")


def test_cli_defaults_finish_on_a_two_cpu_cluster(ray_cluster, ray_model, texts, reference, tmp_path):
    """No --actors, no --cpus-per-actor, on the 2-CPU cluster: it must finish, not stall."""
    source = _parquet(tmp_path / "corpus.parquet", list(range(ROWS)), texts)
    out = tmp_path / "vecs"
    done = _cli(ray_cluster, "encode", "--engine", "ray", "--model", ray_model, "--input", source, "--id-column", "doc",
                "--column", "text", "--prompt-name", "document", "--output", out)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    ids, vectors = load_parquet_embeddings(out)
    assert ids == list(range(ROWS))
    np.testing.assert_allclose(vectors, reference, atol=1e-5, rtol=0)


def test_a_cluster_whose_cpus_are_taken_fails_with_a_message(ray_cluster, ray_model, texts, tmp_path):
    source = _parquet(tmp_path / "corpus.parquet", list(range(ROWS)), texts)

    @ray_cluster.remote(num_cpus=1.75)
    class Squatter:
        def ready(self) -> bool:
            return True

    squatter = Squatter.remote()
    ray_cluster.get(squatter.ready.remote())
    try:
        done = _cli(ray_cluster, "encode", "--engine", "ray", "--model", ray_model, "--input", source, "--id-column",
                    "doc", "--output", tmp_path / "vecs", timeout=120)  # fmt: skip
    finally:
        ray_cluster.kill(squatter)
    assert done.returncode == 1 and "CPU" in done.stderr and "free" in done.stderr, done.stderr[-3000:]
    assert not (tmp_path / "vecs").exists()  # nothing written


def test_a_wrong_id_column_writes_nothing_and_the_corrected_command_runs(
    ray_cluster, ray_model, texts, reference, tmp_path, capsys
):
    source = _parquet(tmp_path / "corpus.parquet", list(range(ROWS)), texts)
    out = tmp_path / "vecs"
    argv = ["encode", "--engine", "ray", "--model", ray_model, "--input", source, "--prompt-name", "document",
            "--output", str(out), "--cpus-per-actor", "0.5", "--batch-size", "8"]  # fmt: skip
    assert main([*argv, "--id-column", "doc_id"]) == 1
    assert "doc_id" in capsys.readouterr().err
    assert not out.exists()  # nothing encoded, nothing written
    assert main([*argv, "--id-column", "doc"]) == 0
    ids, vectors = load_parquet_embeddings(out)
    assert ids == list(range(ROWS))
    np.testing.assert_allclose(vectors, reference, atol=1e-5, rtol=0)


def test_duplicate_ids_are_refused_before_anything_is_written(ray_cluster, ray_model, texts, tmp_path):
    source = _parquet(tmp_path / "corpus.parquet", [10, 11, 11, 13], texts[:4])
    with pytest.raises(ValueError, match=r"duplicate.*\b11\b"):
        encode_to_parquet(source, ray_model, tmp_path / "vecs", "doc", prompt_name="document", **POOL)
    assert not (tmp_path / "vecs").exists()


def test_a_missing_text_is_one_line_naming_the_row(ray_cluster, ray_model, texts, tmp_path, capsys):
    source = _parquet(tmp_path / "corpus.parquet", [10, 11, 12, 13], [texts[0], None, texts[2], "  "])
    out = tmp_path / "vecs"
    argv = ["encode", "--engine", "ray", "--model", ray_model, "--input", source, "--id-column", "doc",
            "--output", str(out), "--cpus-per-actor", "0.5"]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "doc=11" in err and "text" in err and "Traceback" not in err and "RayTaskError" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_a_bad_file_in_a_parquet_folder_is_named(ray_cluster, ray_model, texts, tmp_path, capsys):
    folder = tmp_path / "corpus"
    folder.mkdir()
    _parquet(folder / "a.parquet", list(range(4)), texts[:4])
    (folder / "b.parquet").write_bytes(b"not parquet at all")
    argv = ["encode", "--engine", "ray", "--model", ray_model, "--input", str(folder), "--id-column", "doc",
            "--output", str(tmp_path / "vecs"), "--cpus-per-actor", "0.5"]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "b.parquet" in err and len(err.strip().splitlines()) == 1, err


def test_an_actor_killed_mid_batch_loses_and_duplicates_nothing(ray_cluster, ray_model, texts, reference, tmp_path):
    from ray_faults import DiesOnce

    source = _parquet(tmp_path / "corpus.parquet", list(range(ROWS)), texts)
    marker = tmp_path / "died-once"
    out = tmp_path / "vecs"
    encode_to_parquet(source, ray_model, out, "doc", prompt_name="document", encoder=DiesOnce,
                      encoder_kwargs={"fail_id": 21, "marker": str(marker)}, **POOL)  # fmt: skip
    assert marker.exists()  # an actor process did die holding id 21
    ids, vectors = load_parquet_embeddings(out)
    assert ids == list(range(ROWS))
    np.testing.assert_allclose(vectors, reference, atol=1e-5, rtol=0)
