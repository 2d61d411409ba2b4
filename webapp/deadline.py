"""A deadline for every request that searches or asks the store (FINNEWS_REQUEST_TIMEOUT).

gunicorn's gthread worker reports itself alive from its main loop, whatever its request threads
do, so a search stuck in the store, a model or a native library would hold its client forever.
Here the work runs in a per-process pool of FINNEWS_THREADS threads while the request's own
thread waits at most the deadline for it; past the deadline the request is answered 503
(``deadline_exceeded``) and the late result, should one come, is dropped. Work that had not
started by then never starts.

A thread cannot be stopped from outside: a search that hangs for good keeps its pool thread,
and the worker answers with fewer threads until gunicorn replaces it (FINNEWS_MAX_REQUESTS).
Each such search is logged, with how many are still running late. Once every thread runs late
work, the worker answers every search 503 until it has answered FINNEWS_MAX_REQUESTS requests,
which at a low rate may take hours: :attr:`DeadlineRunner.stuck` is then true, /health/live
answers 503, and the container's health check has the container replaced.

:class:`SharedCall` runs one call for many requests at once (the store's health, which every
/health and /health/ready asks, with no token needed): a burst of them takes one thread here
and asks the store once.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Generic, TypeVar

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
        self._late: set[Future] = set()  # work still running past its deadline

    @property
    def overdue(self) -> int:
        return len(self._late)

    @property
    def stuck(self) -> bool:
        """Every thread runs work past its deadline: nothing that needs one can be answered."""
        return self.overdue >= self.threads

    def _executor(self) -> ThreadPoolExecutor:
        # A pool's threads do not survive fork: each process (gunicorn worker) makes its own.
        with self._lock:
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="deadline")
                self._pool_pid = os.getpid()
                self._late = set()
            return self._pool

    def run(self, what: str, function: Callable[..., T], *args) -> T:
        """``function(*args)``, or DeadlineExceeded once the deadline has passed."""
        return self.wait(what, self.submit(function, *args), time.monotonic())

    def submit(self, function: Callable[..., T], *args) -> Future:
        return self._executor().submit(function, *args)

    def wait(self, what: str, future: Future, submitted: float) -> T:
        """The result of work submitted at ``submitted`` (time.monotonic()), or DeadlineExceeded
        once the deadline has passed since then. Several requests may wait for the same work."""
        try:
            return future.result(timeout=max(0.0, submitted + self.timeout_s - time.monotonic()))
        except (FutureTimeout, CancelledError):
            if not future.cancel():  # it runs: it keeps its thread until it ends
                with self._lock:
                    late = future not in self._late
                    self._late.add(future)
                    overdue = self.overdue
                if late:
                    future.add_done_callback(self._finished_late)
                    log.error(
                        "%s ran past its %.1f s deadline and was answered 503; %d of %d threads still run late work",
                        what,
                        self.timeout_s,
                        overdue,
                        self.threads,
                    )
                    if overdue == self.threads:
                        log.error(
                            "every one of the %d threads runs work past its deadline: this worker can answer "
                            "no search, and /health/live answers 503 (so that the container is replaced) "
                            "until one of them ends",
                            self.threads,
                        )
            raise DeadlineExceeded(f"{what} did not finish within {self.timeout_s:g} s; retry shortly") from None

    def _finished_late(self, future: Future) -> None:
        with self._lock:
            was_stuck = self.stuck
            self._late.discard(future)
            overdue = self.overdue
        if was_stuck:
            log.warning(
                "late work ended; %d of %d threads still run late work, and /health/live answers 200 again",
                overdue,
                self.threads,
            )


class SharedCall(Generic[T]):
    """A call that many requests ask at once, made once for all of them.

    At most one call runs at a time, in the runner's pool: a request that comes while it runs
    waits for its answer, until the deadline of that call, and never starts another. An answer
    is then given to every request for ``max_age_s`` seconds (0: only to those that waited for it).
    """

    def __init__(self, runner: DeadlineRunner, what: str, max_age_s: float):
        self.runner, self.what, self.max_age_s = runner, what, max_age_s
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._answer: tuple[float, T] | None = None  # (answered at, answer)
        self._running: tuple[float, Future] | None = None  # (submitted at, the call)

    def __call__(self, function: Callable[[], T]) -> T:
        with self._lock:
            now = time.monotonic()
            if self._pid != os.getpid():
                # A forked worker: a call of its parent's runs in none of its threads, and would never end here.
                self._pid, self._answer, self._running = os.getpid(), None, None
            if self._answer is not None and now - self._answer[0] < self.max_age_s:
                return self._answer[1]
            asks = self._running is None
            if asks:
                self._running = (now, self.runner.submit(function))
            submitted, future = self._running
        if asks:
            # Outside the lock: a call already ended runs _ended at once, in this thread.
            future.add_done_callback(self._ended)
        return self.runner.wait(self.what, future, submitted)

    def _ended(self, future: Future) -> None:
        # Cancelled (it never started) or failed: no answer to keep, and the next request asks anew.
        answered = not future.cancelled() and future.exception() is None
        with self._lock:
            if self._running is not None and self._running[1] is future:
                self._running = None
                if answered:
                    self._answer = (time.monotonic(), future.result())
