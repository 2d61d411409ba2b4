"""A deadline for every request that searches or asks the store (FINNEWS_REQUEST_TIMEOUT).

gunicorn's gthread worker reports itself alive from its main loop, whatever its request threads
do, so a search stuck in the store, a model or a native library would hold its client forever.
Here the work runs in a per-process pool of FINNEWS_THREADS threads while the request's own
thread waits at most the deadline for it; past the deadline the request is answered 503
(``deadline_exceeded``) and the late result, should one come, is dropped. Work that had not
started by then never starts.

A thread cannot be stopped from outside: a search that hangs for good keeps its pool thread,
and the worker answers with fewer threads until gunicorn replaces it (FINNEWS_MAX_REQUESTS).
Each such search is logged, with how many are still running late.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class DeadlineExceeded(RuntimeError):
    """The work did not finish within the request's deadline (HTTP 503)."""


class DeadlineRunner:
    def __init__(self, threads: int, timeout_s: float):
        self.threads = threads
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid: int | None = None
        self.overdue = 0  # work still running past its deadline

    def _executor(self) -> ThreadPoolExecutor:
        # A pool's threads do not survive fork: each process (gunicorn worker) makes its own.
        with self._lock:
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="deadline")
                self._pool_pid = os.getpid()
                self.overdue = 0
            return self._pool

    def run(self, what: str, function: Callable[..., T], *args) -> T:
        """``function(*args)``, or DeadlineExceeded once the deadline has passed."""
        future = self._executor().submit(function, *args)
        try:
            return future.result(timeout=self.timeout_s)
        except FutureTimeout:
            if not future.cancel():
                with self._lock:
                    self.overdue += 1
                    overdue = self.overdue
                future.add_done_callback(self._finished_late)
                log.error(
                    "%s ran past its %.1f s deadline and was answered 503; %d of %d threads still run late work",
                    what,
                    self.timeout_s,
                    overdue,
                    self.threads,
                )
            raise DeadlineExceeded(f"{what} did not finish within {self.timeout_s:g} s; retry shortly") from None

    def _finished_late(self, future: Future) -> None:
        with self._lock:
            self.overdue -= 1
