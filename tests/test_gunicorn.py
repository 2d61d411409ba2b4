"""The service as production runs it: gunicorn, preloaded models, two worker processes sharing
one store, which picks up newly ingested documents without a restart."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import ROOT

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
