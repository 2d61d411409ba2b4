"""kill -9 of a gunicorn worker under load: only the requests that worker held fail, and the
service recovers by itself (the master forks a new worker from its preloaded app).

Each client opens a connection per request (``Connection: close``), so a request is bound to a
worker only once that worker has accepted it: a request that fails must have been sent before
the kill, and there can be no more of them than one worker holds (FINNEWS_WORKER_CONNECTIONS)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tools.corpus import benchmark_queries
from webapp.settings import load_settings

pytestmark = pytest.mark.slow

CLIENTS = 8


def workers_of(master_pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(master_pid)], capture_output=True, text=True).stdout.split()
    return sorted(int(pid) for pid in found)


def settled_workers(master_pid: int, count: int = 2, timeout_s: float = 120) -> list[int]:
    """The master's workers once all ``count`` are running: the service answers as soon as its
    first worker does, and on a loaded machine the second may be forked seconds later."""
    deadline = time.monotonic() + timeout_s
    while len(workers := workers_of(master_pid)) != count:
        assert time.monotonic() < deadline, f"{len(workers)} of {count} workers after {timeout_s} s: {workers}"
        time.sleep(0.2)
    return workers


def test_killing_a_worker_fails_only_its_requests_and_the_service_recovers(served, scale, record_figures):
    master = served.process.pid
    before = settled_workers(master)
    queries = iter(benchmark_queries(100_000, seed=21))
    lock = threading.Lock()
    outcomes: list[tuple[float, float, bool]] = []  # (sent, finished, ok), seconds since start
    started = time.monotonic()
    killed_at: list[float] = []

    def client() -> None:
        while (now := time.monotonic() - started) < scale.kill_load_seconds:
            with lock:
                query = next(queries)
            try:
                response = requests.post(
                    f"{served.url}/search/cosine/embedding384d/",
                    json={"query": query, "size": 5},
                    headers={"Authorization": f"Bearer {served.token}", "Connection": "close"},
                    timeout=60,
                )
                ok = response.status_code == 200
            except requests.RequestException:
                ok = False
            with lock:
                outcomes.append((now, time.monotonic() - started, ok))

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        futures = [pool.submit(client) for _ in range(CLIENTS)]
        time.sleep(scale.kill_load_seconds / 3)
        victim = before[0]
        killed_at.append(time.monotonic() - started)
        os.kill(victim, signal.SIGKILL)
        for future in futures:
            future.result()
    kill = killed_at[0]
    failures = [(sent, finished) for sent, finished, ok in outcomes if not ok]
    after = workers_of(master)
    replaced = sorted(set(after) - set(before))
    last_third = [ok for sent, _, ok in outcomes if sent > 2 * scale.kill_load_seconds / 3]
    record_figures(
        requests=len(outcomes),
        failed=len(failures),
        failed_sent_before_kill=sum(sent <= kill for sent, _ in failures),
        killed_worker=victim,
        replacement_workers=replaced,
        requests_in_last_third=len(last_third),
        seconds_from_kill_to_next_success=round(
            min((finished for sent, finished, ok in outcomes if ok and sent > kill), default=float("nan")) - kill, 3
        ),
    )
    assert served.process.poll() is None
    assert victim not in after and len(after) == 2 and len(replaced) == 1, (before, after)
    assert all(sent <= kill for sent, _ in failures), failures
    assert len(failures) <= load_settings({}).worker_connections
    assert last_third and all(last_third), "the service had not recovered by the last third of the run"
    assert requests.get(f"{served.url}/health/ready", timeout=10).status_code == 200
