"""The service as production runs it: gunicorn, preloaded models, two worker processes sharing
one store, which picks up newly ingested documents without a restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.helpers import ROOT, serve_sample
from tools.benchmark import kill_group
from webapp.service import worker_threads

pytestmark = pytest.mark.slow


def test_answers_concurrent_searches_on_every_endpoint(gunicorn_server):
    queries = [f"{topic} outlook {i}" for i in range(10) for topic in ("bank", "airline", "chipmaker")]

    def search(i_query):
        i, query = i_query
        field = ("embedding384d", "embedding768d", "embedding1155d")[i % 3]
        return requests.post(f"{gunicorn_server.url}/search/cosine/{field}/", json={"query": query}, timeout=30)

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(search, enumerate(queries)))
    assert [r.status_code for r in responses] == [200] * len(queries)
    assert all(len(r.json()["results"]) == 10 for r in responses)


def test_health_reports_the_release_version_and_both_workers_serve(gunicorn_server):
    health = requests.get(f"{gunicorn_server.url}/health", timeout=10).json()
    assert health["version"] == "test-1.2.3" and health["status"] == "healthy"
    children = subprocess.run(
        ["pgrep", "-P", str(gunicorn_server.process.pid)], capture_output=True, text=True, check=True
    ).stdout.split()
    assert len(children) == 2


def test_the_access_log_names_the_client_behind_the_balancer_and_the_request_id(gunicorn_server):
    """gunicorn writes the line after the app ran, from the environ the app changed (ProxyFix)."""
    headers = {"X-Forwarded-For": "198.51.100.9, 203.0.113.7", "X-Request-ID": "trace-4711"}
    response = requests.get(f"{gunicorn_server.url}/health/live", headers=headers, timeout=10)
    assert response.headers["X-Request-ID"] == "trace-4711"
    # One trusted proxy (the ALB): the entry it appended is the client; the first was the client's own say.
    # The line is written once the answer has gone: wait for it.
    deadline = time.monotonic() + 30
    while not (lines := [ln for ln in gunicorn_server.log.read_text().splitlines() if ln.endswith(" trace-4711")]):
        assert time.monotonic() < deadline, "no access log line for the request"
        time.sleep(0.05)
    line = lines[0]
    assert line.startswith('203.0.113.7 "GET /health/live HTTP/1.1" 200 '), line


def test_new_documents_are_searchable_without_a_restart(gunicorn_server, model_cache_dir, tmp_path):
    record = {
        "id": "live-reload-1",
        "title": "Zephyr Quantum Foundry unveils a cryogenic qubit packaging line",
        "summary": "The start-up opened a factory for superconducting qubit packages.",
        "published_dt": "2026-10-30T09:00:00Z",
        "source": "Test Wire",
        "doc_type": "press_release",
    }
    source = tmp_path / "one.jsonl"
    source.write_text(json.dumps(record) + "\n")
    env = {"FINNEWS_MODEL_CACHE_DIR": str(model_cache_dir), "FINNEWS_STORE_PATH": str(gunicorn_server.index)}
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "webapp", "ingest", str(source)],
        cwd=ROOT, env={**__import__("os").environ, **env}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    # Ask enough times that both workers answer at least once.
    for _ in range(6):
        body = requests.post(
            f"{gunicorn_server.url}/search/cosine/embedding384d/",
            json={"query": "superconducting qubit packaging factory", "size": 1},
            timeout=30,
        ).json()
        assert body["results"][0]["id"] == "live-reload-1"
    assert requests.get(f"{gunicorn_server.url}/health", timeout=10).json()["store"]["documents"] == 1201


def test_metrics_add_up_across_workers(gunicorn_server):
    for i in range(6):
        requests.post(
            f"{gunicorn_server.url}/search/cosine/embedding384d/", json={"query": f"count me {i}"}, timeout=30
        )
    text = requests.get(f"{gunicorn_server.url}/metrics", timeout=10).text
    line = next(
        ln for ln in text.splitlines()
        if ln.startswith('http_requests_total{endpoint="/search/cosine/<field>/",method="POST",status="200"}')
    )  # fmt: skip
    assert float(line.rsplit(" ", 1)[1]) >= 6
    assert 'model_load_seconds{model="all-MiniLM-L6-v2"}' in text


def test_the_connection_survives_an_oversized_body(gunicorn_server):
    with requests.Session() as session:
        url = f"{gunicorn_server.url}/search/cosine/embedding384d/"
        for size in (70_000, 900_000):
            too_big = session.post(url, data="x" * size, headers={"Content-Type": "application/json"}, timeout=30)
            assert too_big.status_code == 413 and too_big.headers["Connection"] == "keep-alive"
            # The same keep-alive connection carries the next request (a POST is never retried).
            assert session.post(url, json={"query": "bank profits"}, timeout=30).status_code == 200


def test_a_worker_with_runtime_thread_pools_stops_at_once(model_cache_dir, sample_index, tmp_path):
    """One worker takes every core: its ONNX Runtime sessions have thread pools of their own,
    made after the fork. Torn down by the interpreter in a forked child, such a pool waits forever
    for a thread to join (or aborts the process), so the master would wait out graceful_timeout at
    every stop and recycle; the worker ends without that teardown (webapp/gunicorn_conf.py)."""
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: a worker's sessions run on one thread, with no pool to tear down")
    server = serve_sample(
        model_cache_dir,
        sample_index,
        tmp_path,
        workers=1,
        FINNEWS_ALLOW_ANONYMOUS="1",
        FINNEWS_QUERY_BACKEND="onnx",
        # A worker that hangs in its teardown takes all of this; one that ends takes a second or two.
        GUNICORN_CMD_ARGS="--graceful-timeout 120",
    )
    try:
        search = requests.post(f"{server.url}/search/cosine/embedding768d/", json={"query": "bank rates"}, timeout=30)
        assert search.status_code == 200
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=60)
    finally:
        kill_group(server.process)
    log = server.log.read_text()
    assert f"({worker_threads(1)} threads)" in log, "the worker did not get every core for its pools"
    assert "terminate called" not in log and "SIGABRT" not in log, log[-2000:]
