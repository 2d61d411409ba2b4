"""Load: 20 concurrent clients for a while on each endpoint, with queries the query cache has
never seen. What must hold: no errors. What is recorded: throughput and latency percentiles (a
benchmark on whatever machine runs it; compare runs on the same machine only)."""

from __future__ import annotations

import functools
import threading
import time

import pytest
import requests

from tools.benchmark import concurrent_clients, request_failure, summarise, under_load
from tools.corpus import benchmark_queries
from webapp.fields import FIELD_NAMES

pytestmark = pytest.mark.slow


class ReusedQueries:
    """Unseen queries while they last (about 50 per second per endpoint is more than two cores
    answer), then again from the start."""

    def __init__(self, queries: list[str]):
        self.queries, self.position, self.lock = queries, 0, threading.Lock()

    def next(self) -> str:
        with self.lock:
            self.position += 1
            return self.queries[self.position % len(self.queries)]


def _authorized_session(token: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def _health(session: requests.Session, url: str) -> tuple[float, str]:
    began = time.perf_counter()
    try:
        status = session.get(f"{url}/health", timeout=30).status_code
        failure = "" if status == 200 else f"HTTP {status}"
    except requests.RequestException as exc:
        failure = request_failure(exc)
    return time.perf_counter() - began, failure


def load_every_endpoint(server, scale, seed: int) -> dict[str, dict]:
    """`scale.load_clients` clients for `scale.load_seconds` on each search endpoint in turn, with
    the server's token, then on /health: the summary of each, by endpoint."""
    queries = ReusedQueries(benchmark_queries(int(60 * scale.load_seconds) * len(FIELD_NAMES), seed=seed))
    session = functools.partial(_authorized_session, server.token)
    figures = {}
    for field in FIELD_NAMES:
        sample = concurrent_clients(
            server.url, field, queries, scale.load_clients, scale.load_seconds, session_factory=session
        )
        figures[field] = summarise(sample)
    figures["health"] = summarise(
        under_load(functools.partial(_health, url=server.url), scale.load_clients, scale.load_seconds)
    )
    return figures


def test_every_endpoint_under_concurrent_load_answers_without_errors(served, scale, record_figures):
    figures = load_every_endpoint(served, scale, seed=11)
    record_figures(clients=scale.load_clients, seconds_per_endpoint=scale.load_seconds, endpoints=figures)
    assert {name: f["failures"] for name, f in figures.items()} == dict.fromkeys(figures, {})
