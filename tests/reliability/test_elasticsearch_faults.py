"""Elasticsearch taken away and slowed down (the fake node of tests/fake_elasticsearch.py), with
the service under gunicorn: every search is answered 503 within its deadline while it lasts, and
the same processes answer 200 again when the cluster is back, with no restart.

The deadline (FINNEWS_REQUEST_TIMEOUT, 2 s here) is shorter than the client's own timeout
towards Elasticsearch (5 s), so a hanging cluster is cut off by the deadline; an outage is
refused at once by the connection."""

from __future__ import annotations

import statistics
import time

import pytest
import requests

from tests.reliability.test_worker_kill import settled_workers, workers_of
from tests.test_elasticsearch_service import node_with_news
from tools.benchmark import free_port, start_server

pytestmark = pytest.mark.slow

DEADLINE_S = 2.0
ES_TIMEOUT_S = 5.0
TOKEN = "reliability-token-0123456789abcdefghij"


@pytest.fixture
def on_elasticsearch(model_cache_dir, registry, tmp_path):
    fake, settings = node_with_news(registry, model_cache_dir, tmp_path)
    settings |= {
        "FINNEWS_ES_REQUEST_TIMEOUT": str(ES_TIMEOUT_S),
        "FINNEWS_REQUEST_TIMEOUT": str(DEADLINE_S),
        "FINNEWS_API_TOKENS": TOKEN,
        # Each phase's readiness check sees that phase, not a health kept from the one before.
        "FINNEWS_HEALTH_MAX_AGE": "0",
    }
    server = start_server(settings, free_port(), workers=2, log=tmp_path / "gunicorn.log", timeout=180)
    yield server, fake
    server.stop()
    fake.stop()


def _search(url: str) -> tuple[int, str, float]:
    began = time.monotonic()
    response = requests.post(
        f"{url}/search/cosine/embedding384d/",
        json={"query": "Harbor Bank deposits", "size": 3},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=60,
    )
    error = response.json().get("error", "") if response.status_code != 200 else ""
    return response.status_code, error, time.monotonic() - began


def test_outages_and_slow_answers_are_503_within_the_deadline_and_recover_without_a_restart(
    on_elasticsearch, record_figures
):
    server, fake = on_elasticsearch
    workers = settled_workers(server.process.pid)
    assert _search(server.url)[0] == 200
    phases = {}
    for phase, start, end in (
        ("outage", fake.stop, fake.start),
        ("hanging", lambda: setattr(fake, "hanging", True), lambda: setattr(fake, "hanging", False)),
        ("answering 503", lambda: setattr(fake, "unavailable", True), lambda: setattr(fake, "unavailable", False)),
    ):
        start()
        answers = [_search(server.url) for _ in range(6)]
        ready = requests.get(f"{server.url}/health/ready", timeout=60).status_code
        end()
        recovered_after = time.monotonic()
        while _search(server.url)[0] != 200:
            assert time.monotonic() - recovered_after < 60, f"no recovery after {phase}"
            time.sleep(0.2)
        phases[phase] = {
            "statuses": sorted({status for status, _, _ in answers}),
            "errors": sorted({error for _, error, _ in answers}),
            "median_s": round(statistics.median(seconds for _, _, seconds in answers), 3),
            "max_s": round(max(seconds for _, _, seconds in answers), 3),
            "ready_status": ready,
            "recovered_in_s": round(time.monotonic() - recovered_after, 3),
        }
        assert {status for status, _, _ in answers} == {503} and ready == 503, phases[phase]
    record_figures(deadline_s=DEADLINE_S, es_request_timeout_s=ES_TIMEOUT_S, phases=phases)
    assert phases["hanging"]["errors"] == ["deadline_exceeded"]
    assert set(phases["outage"]["errors"]) == set(phases["answering 503"]["errors"]) == {"store_unavailable"}
    assert workers_of(server.process.pid) == workers, "a worker was restarted"
