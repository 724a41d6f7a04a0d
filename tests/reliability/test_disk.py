"""Read-only output folders and full disks: a named ``OSError`` (``PermissionError``, errno EFBIG/ENOSPC) that says
which path, no partial files, and the previous version of every file this package writes left intact (each is
written to a temporary name and renamed into place)."""

from __future__ import annotations

import errno
import os
import resource
import shutil
import signal
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from interop.published_format import build
from st_llm2vec_gen import create_model
from st_llm2vec_gen.convert import convert_checkpoint
from st_llm2vec_gen.models import saved_format
from st_llm2vec_gen.training import TrainConfig, train

OWN_FILES = ("model.safetensors", "llm2vec_gen_config.json")  # written by this package, atomically


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def temporary_files(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob(".*")]


@contextmanager
def file_size_limit(nbytes: int) -> Iterator[None]:
    """A full disk for this process: writes beyond ``nbytes`` in any file fail with EFBIG (RLIMIT_FSIZE)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


@pytest.fixture(scope="module", autouse=True)
def imported() -> None:
    """Imports what the commands import lazily, while this process can still read every file (see ReadOnly)."""
    import st_llm2vec_gen.generation.engines  # noqa: F401
    import st_llm2vec_gen.generation.responses  # noqa: F401
    import st_llm2vec_gen.io.records  # noqa: F401
    from st_llm2vec_gen.cli.main import build_parser

    build_parser()


@pytest.fixture()
def other_model(llama_path):
    """A model with another head than ``model``, to save over it."""
    return create_model(llama_path, num_tokens=2, max_seq_length=32, seed=7)


# --------------------------------------------------------------------------------------------------------------------
# Read-only folders


def test_save_into_a_read_only_folder(model, public_tmp, read_only):
    with read_only(public_tmp / "models"), pytest.raises(PermissionError, match="models/new"):
        model.save(str(public_tmp / "models" / "new"))
    assert os.listdir(public_tmp / "models") == []


def test_save_over_a_model_in_a_read_only_folder_keeps_it(model, other_model, public_tmp, read_only):
    target = public_tmp / "model"
    model.save(str(target))
    before = snapshot(target)
    with read_only(target), pytest.raises(PermissionError, match=str(target)):
        other_model.save(str(target))
    assert snapshot(target) == before and temporary_files(target) == []


def test_train_into_a_read_only_folder_fails_before_loading_a_model(public_tmp, read_only):
    config = TrainConfig.from_dict(
        {"data": "never-read.jsonl", "args": {"output_dir": str(public_tmp / "runs" / "run")}}
    )
    with read_only(public_tmp / "runs"), pytest.raises(PermissionError, match="Cannot write to the output_dir"):
        train(config)  # the backbone (embedded default) would take seconds to load: it is never reached
    assert os.listdir(public_tmp / "runs") == []


def test_generate_into_a_read_only_folder_fails_before_loading_the_backbone(cli, chat_backbone, public_tmp, read_only,
                                                                          share):  # fmt: skip
    queries = public_tmp / "q.jsonl"
    queries.write_text('{"query": "Where do polar bears live?"}\n')
    share(queries)
    out = public_tmp / "out" / "responses.jsonl"
    with read_only(out.parent):
        code, err = cli("generate", "--queries", queries, "--output", out, "--backbone", chat_backbone)
    assert code == 1 and f"Cannot write to the output folder {out.parent}" in err and "Permission denied" in err
    assert os.listdir(out.parent) == []


def test_convert_into_a_read_only_folder(cli, llama_path, public_tmp, read_only, share):
    backbone = shutil.copytree(llama_path, public_tmp / "llama")  # the converter reads the base model's config
    build(public_tmp / "published", backbone, 2, 2)
    share(public_tmp)
    with read_only(public_tmp / "out"):
        code, err = cli("convert", public_tmp / "published", public_tmp / "out" / "model")
    assert code == 1 and "Permission denied" in err and str(public_tmp / "out" / "model") in err
    assert os.listdir(public_tmp / "out") == []


# --------------------------------------------------------------------------------------------------------------------
# Full disks


def test_a_full_disk_during_save_keeps_the_previous_weights(model, other_model, tmp_path):
    target = tmp_path / "model"
    model.save(str(target))
    before = snapshot(target)
    with file_size_limit(4096), pytest.raises(OSError, match="File too large") as error:  # the head is ~9 KB
        other_model.save(str(target))
    assert error.value.errno == errno.EFBIG and "model.safetensors" in str(error.value)
    after = snapshot(target)
    assert {name: after[name] for name in OWN_FILES} == {name: before[name] for name in OWN_FILES}
    assert temporary_files(target) == []
    reloaded = SentenceTransformer(str(target), trust_remote_code=True)
    np.testing.assert_array_equal(reloaded.encode(["x"]), model.encode(["x"]))  # still the previous model


def test_sentence_transformers_own_files_are_written_in_place(model, other_model, tmp_path, cli):
    """What this package cannot protect: ST writes config_sentence_transformers.json in place, so a full disk can
    cut it. Loading then fails naming the file (through the command line), and saving again repairs it."""
    target = tmp_path / "model"
    model.save(str(target))
    with file_size_limit(100), pytest.raises(OSError, match="File too large"):
        other_model.save(str(target))
    assert len((target / "config_sentence_transformers.json").read_bytes()) == 100  # cut by the full disk
    code, err = cli("decode", "--model", target, "text")
    assert code == 1 and "config_sentence_transformers.json is not valid JSON" in err
    other_model.save(str(target))  # space again: a plain save repairs the folder
    np.testing.assert_array_equal(SentenceTransformer(str(target), trust_remote_code=True).encode(["x"]),
                                  other_model.encode(["x"]))  # fmt: skip


def test_no_space_left_while_writing_names_the_file(model, other_model, tmp_path, monkeypatch):
    target = tmp_path / "model"
    model.save(str(target))
    before = snapshot(target)

    def disk_full(tensors, path, metadata=None):
        Path(path).write_bytes(b"\0" * 100)  # half written when the disk filled up
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

    monkeypatch.setattr(saved_format, "save_file", disk_full)
    with pytest.raises(OSError, match=r"Cannot write .*model.safetensors: No space left on device \(the previous"):
        other_model[0].save(str(target))
    assert snapshot(target) == before and temporary_files(target) == []


def test_a_failed_backbone_save_keeps_the_previous_backbone(model, tmp_path, monkeypatch):
    module = model[0]
    module.store_backbone = True
    try:
        model.save(str(tmp_path / "model"))
        before = snapshot(tmp_path / "model" / "backbone")

        def disk_full(*args, **kwargs):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(module.backbone, "save_pretrained", disk_full)
        with pytest.raises(OSError, match="No space left"):
            model.save(str(tmp_path / "model"))
    finally:
        module.store_backbone = False
    assert snapshot(tmp_path / "model" / "backbone") == before and temporary_files(tmp_path / "model") == []


def test_a_full_disk_while_converting_leaves_no_partial_model(llama_path, tmp_path):
    build(tmp_path / "published", llama_path, 2, 2)
    with file_size_limit(2048), pytest.raises(OSError, match="File too large"):
        convert_checkpoint(str(tmp_path / "published"), str(tmp_path / "out"))
    assert sorted(os.listdir(tmp_path / "out")) == []  # the weights come first: nothing else is written


# --------------------------------------------------------------------------------------------------------------------
# What a save leaves behind


def test_saved_files_get_the_usual_permissions(model, tmp_path):
    previous = os.umask(0o022)
    try:
        model[0].store_backbone = True
        model.save(str(tmp_path / "model"))
    finally:
        model[0].store_backbone = False
        os.umask(previous)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "model").rglob("*")}
    assert modes.pop("backbone") == 0o755
    assert set(modes.values()) == {0o644}, modes  # readable by the group and others, as any file saved with open()


def test_a_model_in_a_read_only_folder_loads_and_encodes(llama_path, public_tmp, read_only, share):
    backbone = shutil.copytree(llama_path, public_tmp / "llama")
    model = create_model(str(backbone), num_tokens=2, max_seq_length=32)
    model.save(str(public_tmp / "model"))
    share(public_tmp)
    with read_only(public_tmp / "model"):  # loading writes nothing next to the model
        loaded = SentenceTransformer(str(public_tmp / "model"), trust_remote_code=True)
        np.testing.assert_array_equal(loaded.encode(["x"]), model.encode(["x"]))


def test_atomic_write_syncs_the_data_before_the_rename(tmp_path, monkeypatch):
    """After a power loss the file holds the old or the new bytes: the rename must follow an fsync of the data."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: events.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: events.append("replace") or real_replace(a, b))
    saved_format.atomic_write(tmp_path / "f.json", lambda tmp: Path(tmp).write_text("new"))
    assert events == ["fsync", "replace"]
    assert (tmp_path / "f.json").read_text() == "new"
