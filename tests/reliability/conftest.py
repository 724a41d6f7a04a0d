"""Fixtures of the reliability suite: one tiny model, saved copies to damage, the CLI run in-process, and folders
that the test process cannot write to.

Every test here feeds the library a bad input or a fault and checks for a named error or a correct result
(docs/reliability.md lists them). Models are the tiny random backbones of tests/tiny_models.py.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from st_llm2vec_gen import create_model
from st_llm2vec_gen.cli.main import main


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread; on shared CI cores more threads only spin against each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model(llama_path):
    """A tiny untrained LLM2Vec-Gen model: 2 compression tokens, embedding dimension 32."""
    return create_model(llama_path, num_tokens=2, max_seq_length=32)


@pytest.fixture(scope="module")
def saved_model(model, tmp_path_factory) -> Path:
    """``model`` saved by reference to its backbone (head and configs only)."""
    path = tmp_path_factory.mktemp("saved") / "model"
    model.save(str(path))
    return path


@pytest.fixture()
def model_copy(saved_model, tmp_path) -> Path:
    """A fresh copy of ``saved_model`` that a test may damage."""
    return Path(shutil.copytree(saved_model, tmp_path / "model"))


@pytest.fixture()
def cli(capsys) -> Callable[..., tuple[int, str]]:
    """Runs ``llm2vec-gen ARGS`` in this process; returns (exit code, stderr) after checking that a failure is told
    in one ``llm2vec-gen <command>: error: ...`` line and never as a traceback."""

    def run(*args: str) -> tuple[int, str]:
        try:
            code = main([str(a) for a in args])
        except SystemExit as exit_info:  # argparse: usage errors exit 2
            code = exit_info.code
        err = capsys.readouterr().err
        assert "Traceback" not in err, err
        if code:
            errors = [line for line in err.splitlines() if ": error:" in line]
            assert len(errors) == 1 and errors[0].startswith("llm2vec-gen"), err
        return code, err

    return run


@pytest.fixture()
def public_tmp() -> Iterator[Path]:
    """A temporary folder that any user may read (under /tmp), for tests that give up their write permission."""
    folder = Path(tempfile.mkdtemp(prefix="st-llm2vec-gen-reliability-"))
    folder.chmod(0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:  # a test may have left a folder read-only
        if path.is_dir() and not path.is_symlink():
            path.chmod(stat.S_IRWXU)
    shutil.rmtree(folder)


def _share(path: Path) -> Path:
    for item in [path, *path.rglob("*")]:
        item.chmod(0o755 if item.is_dir() else 0o644)
    return path


@pytest.fixture()
def share() -> Callable[[Path], Path]:
    """``share(path)`` makes a file tree readable by every user (for code that runs as ``nobody``, see ReadOnly)."""
    return _share


class ReadOnly:
    """Makes a folder read-only for this process while active.

    ``chmod 555`` is enough for a normal user. The superuser ignores permissions, so when the tests run as root the
    effective user becomes ``nobody`` for the duration: the kernel then refuses the writes as it would for any user.
    Whatever the code under test reads meanwhile must be readable by everyone (the ``share`` fixture).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.as_root = os.geteuid() == 0

    def __enter__(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o555)
        if self.as_root:
            os.setegid(65534)
            os.seteuid(65534)
        return self.folder

    def __exit__(self, *exc: object) -> None:
        if self.as_root:
            os.seteuid(0)
            os.setegid(0)
        self.folder.chmod(0o755)


@pytest.fixture()
def read_only() -> Callable[[Path], ReadOnly]:
    """``with read_only(folder): ...`` runs the block unable to write into ``folder``."""
    return ReadOnly


@pytest.fixture(scope="session")
def chat_backbone() -> Iterator[Path]:
    """A tiny Llama backbone whose tokenizer has a chat template, as ``generate`` needs; readable by every user."""
    from tiny_models import save_backbone
    from transformers import AutoTokenizer

    folder = Path(tempfile.mkdtemp(prefix="st-llm2vec-gen-chat-"))  # outside pytest's owner-only temp folder
    path = Path(save_backbone(folder / "llama-chat", "llama"))
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    tokenizer.save_pretrained(path)
    _share(folder)
    yield path
    shutil.rmtree(folder)
