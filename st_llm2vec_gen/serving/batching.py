"""Dynamic batching that sleeps while there is nothing to do.

LitServe's batched loop (0.2.19) collects a batch by polling its request queue, a multiprocessing-manager proxy,
every millisecond, and starts over at once when the batch is empty: an idle server kept about 13 % of a core busy
here (worker and queue manager together). This loop waits for the first request with one blocking read (up to
:data:`IDLE_WAIT` seconds), then lets LitServe collect the rest of the batch as usual: the ``batch_timeout`` window
opens when a request arrives, not before.
"""

from __future__ import annotations

from queue import Empty
from typing import Any

from litserve.loops.base import collate_requests
from litserve.loops.simple_loops import BatchedLoop

IDLE_WAIT = 1.0
"""Seconds of one blocking read of an empty queue (the loop checks for shutdown between reads)."""


class IdleBlockingBatchedLoop(BatchedLoop):
    """LitServe's ``BatchedLoop``, except that an empty queue is waited on instead of polled."""

    def get_batch_requests(self, lit_api: Any, request_queue: Any, transport: Any) -> tuple[list, list]:
        """Blocks until a request (or LitServe's stop sentinel) arrives, then collects a batch from there."""
        try:
            first = request_queue.get(timeout=IDLE_WAIT)
        except Empty:
            return [], []
        return collate_requests(loop=self, lit_api=lit_api, request_queue=_Prepended(first, request_queue),
                                transport=transport)  # fmt: skip


class _Prepended:
    """A queue that yields ``first``, then what ``queue`` holds (only the reads ``collate_requests`` makes)."""

    def __init__(self, first: Any, queue: Any) -> None:
        self._first, self._queue, self._taken = first, queue, False

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if not self._taken:
            self._taken = True
            return self._first
        return self._queue.get(block, timeout)

    def get_nowait(self) -> Any:
        return self.get(block=False)
