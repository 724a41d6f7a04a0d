"""A Ray encoder that fails once: imported by the Ray workers (tests/ray is on their PYTHONPATH)."""

from __future__ import annotations

import os
import signal

from st_llm2vec_gen.corpus.ray_encoding import RayEncoder


def first_time(marker: str) -> bool:
    """True for the first caller across all processes (it creates ``marker``), False after."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


class FailsOnce(RayEncoder):
    """Raises on the first batch that holds ``fail_id``, the first time any actor sees it (a marker file records
    that it did): Ray must retry that batch."""

    def __init__(self, *args, fail_id=None, marker: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fail_id, self.marker = fail_id, marker

    def __call__(self, batch):
        if self.fail_id in batch.column(self.id_column).to_pylist() and first_time(self.marker):
            raise RuntimeError(f"injected failure on the batch holding {self.fail_id!r}")
        return super().__call__(batch)


class DiesOnce(RayEncoder):
    """Kills its own process (as the out-of-memory killer or a pre-empted node does) in the middle of the first batch
    that holds ``fail_id``, the first time any actor sees it (a marker file records that it did)."""

    def __init__(self, *args, fail_id=None, marker: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fail_id, self.marker = fail_id, marker

    def __call__(self, batch):
        if self.fail_id in batch.column(self.id_column).to_pylist() and first_time(self.marker):
            os.kill(os.getpid(), signal.SIGKILL)
        return super().__call__(batch)
