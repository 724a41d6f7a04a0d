"""Encoding corpora: streamed inputs, chunk files with ids, resume after kill -9, shards, the multi-process pool."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from st_llm2vec_gen import create_model
from st_llm2vec_gen.cli.main import main
from st_llm2vec_gen.corpus import CorpusInput, encode_corpus, load_embeddings, shard_chunks

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def model_dir(llama_path, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("model")
    create_model(llama_path, num_tokens=2, max_seq_length=32).save(str(path))
    return str(path)


def texts(count: int) -> list[str]:
    topics = ["polar bears", "the capital of France", "photosynthesis", "the printing press", "penguins"]
    return [f"Passage {i} is about {topics[i % 5]}" + " and more" * (i % 7) for i in range(count)]


def write_jsonl(path: Path, count: int) -> str:
    path.write_text("".join(json.dumps({"id": f"doc-{i}", "text": t}) + "\n" for i, t in enumerate(texts(count))))
    return str(path)


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_chunks_hold_the_vectors_and_ids_of_their_rows(model_dir, tmp_path):
    corpus = CorpusInput(write_jsonl(tmp_path / "c.jsonl", 23), id_column="id")
    summary = encode_corpus(model_dir, corpus, tmp_path / "out", chunk_size=10, show_progress=False)
    assert summary.encoded == summary.chunks == [0, 1, 2] and summary.rows == 23
    names = sorted(os.listdir(tmp_path / "out"))
    assert names == [f"chunk-00000{k}.{ext}" for k in range(3) for ext in ("ids.json", "npy")] + ["manifest.json"]
    ids, vectors = load_embeddings(tmp_path / "out")
    assert ids == [f"doc-{i}" for i in range(23)] and vectors.shape == (23, 32) and vectors.dtype == np.float32
    from sentence_transformers import SentenceTransformer

    expected = SentenceTransformer(model_dir, trust_remote_code=True).encode(texts(23))
    assert np.abs(vectors - expected).max() <= 1e-5
    again = encode_corpus(model_dir, corpus, tmp_path / "out", chunk_size=10, show_progress=False)
    assert again.encoded == []  # complete: nothing to do, the model is not even loaded


def test_input_formats_agree(model_dir, tmp_path):
    rows = texts(7)
    (tmp_path / "c.txt").write_text("\n".join(rows[:3]) + "\n\n" + "\n".join(rows[3:]) + "\n")  # a blank line
    (tmp_path / "c.csv").write_text("key,body\n" + "".join(f"k{i},{t}\n" for i, t in enumerate(rows)))
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    pq.write_table(pa.table({"passage": rows, "pid": list(range(100, 107))}), tmp_path / "c.parquet")
    inputs = {
        "txt": CorpusInput(str(tmp_path / "c.txt")),
        "csv": CorpusInput(str(tmp_path / "c.csv"), text_column="body", id_column="key"),
        "parquet": CorpusInput(str(tmp_path / "c.parquet"), id_column="pid"),
        "texts": CorpusInput(texts=rows),
    }
    results = {}
    for name, corpus in inputs.items():
        encode_corpus(model_dir, corpus, tmp_path / name, chunk_size=4, show_progress=False)
        results[name] = load_embeddings(tmp_path / name)
    assert results["txt"][0] == results["texts"][0] == list(range(7))  # row numbers, blank lines skipped
    assert results["csv"][0] == [f"k{i}" for i in range(7)] and results["parquet"][0] == list(range(100, 107))
    for name in ("csv", "parquet", "texts"):
        np.testing.assert_array_equal(results[name][1], results["txt"][1])


def test_two_cpu_processes_give_the_vectors_of_one(model_dir, tmp_path):
    corpus = CorpusInput(write_jsonl(tmp_path / "c.jsonl", 30), id_column="id")
    encode_corpus(model_dir, corpus, tmp_path / "one", chunk_size=16, show_progress=False)
    encode_corpus(model_dir, corpus, tmp_path / "pool", chunk_size=16, devices=["cpu", "cpu"], show_progress=False)
    one_ids, one = load_embeddings(tmp_path / "one")
    pool_ids, pooled = load_embeddings(tmp_path / "pool")
    assert pool_ids == one_ids
    assert np.abs(pooled - one).max() <= 1e-5


def run_cli(args: list[str], **kwargs) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "st_llm2vec_gen.cli.main", *args]
    return subprocess.Popen(command, env=env, cwd=ROOT, stderr=subprocess.DEVNULL, **kwargs)


@pytest.mark.slow  # a killed run in another process
def test_resume_after_kill_9_gives_the_bytes_of_an_uninterrupted_run(model_dir, tmp_path):
    corpus = write_jsonl(tmp_path / "c.jsonl", 1000)
    common = ["encode", "--model", model_dir, "--input", corpus, "--id-column", "id", "--prompt-name", "document",
              "--chunk-size", "50", "--batch-size", "2"]  # fmt: skip
    killed = tmp_path / "killed"
    process = run_cli([*common, "--output", str(killed)])
    deadline = time.monotonic() + 180
    while process.poll() is None and not (killed / "chunk-000000.ids.json").exists():
        assert time.monotonic() < deadline, "no chunk written in 180 s"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL  # killed, not finished
    manifest = json.loads((killed / "manifest.json").read_text())
    assert not manifest["complete"] and len(manifest["done"]) < 20

    assert run_cli([*common, "--output", str(killed)]).wait(timeout=600) == 0  # the same command resumes
    assert run_cli([*common, "--output", str(tmp_path / "whole")]).wait(timeout=600) == 0
    assert files(killed) == files(tmp_path / "whole")  # every chunk, ids file and the manifest, byte for byte
    ids, vectors = load_embeddings(killed)
    assert ids == [f"doc-{i}" for i in range(1000)] and len(vectors) == 1000  # no gaps, no duplicates


def test_shards_are_disjoint_and_complete(model_dir, tmp_path):
    corpus = CorpusInput(write_jsonl(tmp_path / "c.jsonl", 45), id_column="id")
    whole = encode_corpus(model_dir, corpus, tmp_path / "whole", chunk_size=10, show_progress=False)
    parts = [
        encode_corpus(model_dir, corpus, tmp_path / f"part{i}", chunk_size=10, shard=(i, 2), show_progress=False)
        for i in range(2)
    ]
    assert set(parts[0].encoded).isdisjoint(parts[1].encoded)
    assert sorted(parts[0].encoded + parts[1].encoded) == whole.encoded == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match=r"shard\(s\) \[1\] of 2"):
        load_embeddings(tmp_path / "part0")  # half of the corpus: named, not silently short
    ids, vectors = load_embeddings(tmp_path / "part0", tmp_path / "part1")
    whole_ids, whole_vectors = load_embeddings(tmp_path / "whole")
    assert ids == whole_ids == [f"doc-{i}" for i in range(45)]
    np.testing.assert_array_equal(vectors, whole_vectors)

    for i in range(2):  # both machines writing into one shared directory
        assert main(["encode", "--model", model_dir, "--input", corpus.path, "--id-column", "id", "--chunk-size", "10",
                     "--shard", f"{i}/2", "--output", str(tmp_path / "shared")]) == 0  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "shared").glob("manifest*")) == [
        "manifest.0-of-2.json", "manifest.1-of-2.json"]  # fmt: skip
    np.testing.assert_array_equal(load_embeddings(tmp_path / "shared")[1], whole_vectors)


def test_shard_chunks_partition_every_chunk():
    for rows, size, count in [(1, 1, 1), (45, 10, 2), (100, 7, 3), (5, 10, 4)]:
        parts = [shard_chunks(rows, size, (i, count)) for i in range(count)]
        flat = [k for part in parts for k in part]
        assert sorted(flat) == list(range(-(-rows // size))) and len(flat) == len(set(flat))


def test_output_name_and_npy_name_never_clobber_each_other(model_dir, tmp_path):
    (tmp_path / "emb.npy").write_bytes(b"keep me")
    assert main(["encode", "--model", model_dir, "--output", str(tmp_path / "emb"), "a b", "c"]) == 0
    assert (tmp_path / "emb" / "manifest.json").is_file() and (tmp_path / "emb.npy").read_bytes() == b"keep me"
    assert main(["encode", "--model", model_dir, "--output", str(tmp_path / "emb.npy"), "x"]) == 1
    assert (tmp_path / "emb.npy").read_bytes() == b"keep me"
    assert main(["encode", "--model", model_dir, "--output", str(tmp_path / "emb.npy"), "--overwrite", "x", "y"]) == 0
    assert np.load(tmp_path / "emb.npy").shape == (2, 32)
    assert sorted(os.listdir(tmp_path)) == ["emb", "emb.npy"]  # nothing else written (no emb.npy.npy, no temp file)

    (tmp_path / "file").write_text("mine")
    for extra in ([], ["--overwrite"]):
        assert main(["encode", "--model", model_dir, "--output", str(tmp_path / "file"), *extra, "x"]) == 1
    assert (tmp_path / "file").read_text() == "mine"


def test_existing_outputs_are_resumed_or_refused(model_dir, tmp_path, capsys):
    corpus = write_jsonl(tmp_path / "c.jsonl", 12)
    base = ["encode", "--model", model_dir, "--input", corpus, "--output", str(tmp_path / "out"), "--chunk-size", "5"]
    assert main(base) == 0
    assert main([*base[:-1], "4"]) == 1  # another chunk size: refused, not mixed
    assert "chunk_size" in capsys.readouterr().err
    assert main([*base[:-1], "4", "--overwrite"]) == 0
    assert load_embeddings(tmp_path / "out")[0] == list(range(12))
    assert not list((tmp_path / "out").glob("chunk-000003.*"))  # 12 rows in chunks of 4: the old chunk 3 is gone

    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    assert main([*base[:5], "--output", str(tmp_path / "foreign")]) == 1
    assert "holds no embeddings output" in capsys.readouterr().err
    assert main([*base[:5], "--output", str(tmp_path / "foreign"), "--overwrite"]) == 0
    assert (tmp_path / "foreign" / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--shard", "2/2", "expected i/n"), ("--chunk-size", "0", "must be >= 1"), ("--batch-size", "-3", "must be >= 1"),
     ("--devices", "cpu,,cpu", "expected device names"), ("--devices", "gpu0", "expected device names")],
)  # fmt: skip
def test_usage_errors_exit_2(option, value, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["encode", "--model", "m", "--output", "o", f"{option}={value}", "text"])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_inputs_exit_1_before_loading_the_model(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"text": ""}\n')
    no_model = str(tmp_path / "no-model")  # never loaded: every case fails first
    cases = [
        (["--input", str(tmp_path / "missing.jsonl")], "not found"),
        (["--input", str(bad)], "bad.jsonl:2: missing or empty 'text'"),
        (["--input", str(bad), "--id-column", "id"], "bad.jsonl:1: missing, empty or non-scalar id column 'id'"),
        (["--input", str(bad), "extra text"], "not both"),
        (["--output", str(tmp_path / "o.npy"), "--shard", "0/2", "x"], "need an output directory"),
    ]
    for extra, message in cases:
        output = [] if "--output" in extra else ["--output", str(tmp_path / "out")]
        assert main(["encode", "--model", no_model, *output, *extra]) == 1
        assert message in capsys.readouterr().err


def test_unknown_prompt_name_is_refused_before_anything_is_written(model_dir, tmp_path, capsys):
    assert main(["encode", "--model", model_dir, "--output", str(tmp_path / "o"), "--prompt-name", "nope", "x"]) == 1
    assert "Unknown prompt name 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # so the corrected command starts afresh, not refused as another run
    assert main(["encode", "--model", model_dir, "--output", str(tmp_path / "o"), "--prompt-name", "query", "x"]) == 0
