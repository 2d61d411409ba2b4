"""Per-caller rate limits (FINNEWS_RATE_LIMIT_PER_MINUTE): a caller over its budget is answered
429 with Retry-After, other callers are not, health checks and the page never, and a worker's
memory holds a bounded number of callers. The limiter's clock is held still, so that no test
depends on how fast this machine answers."""

from __future__ import annotations

import pytest

from tests.helpers import API_TOKEN, OTHER_API_TOKEN
from webapp.ratelimit import MAX_CALLERS, RATE_LIMITER, RateLimiter

SEARCH = "/search/cosine/embedding384d/"
FIRST = {"Authorization": f"Bearer {API_TOKEN}"}
OTHER = {"Authorization": f"Bearer {OTHER_API_TOKEN}"}
LIMIT = 3


class StillClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def limited(make_app, sample_index):
    """A closed service limited to LIMIT searches a minute per caller, and its limiter's clock."""
    app = make_app(sample_index, API_TOKENS=f"{API_TOKEN}, {OTHER_API_TOKEN}", RATE_LIMIT_PER_MINUTE=LIMIT)
    clock = app.extensions[RATE_LIMITER].clock = StillClock()
    return app, clock


def test_a_caller_over_its_budget_gets_429_with_retry_after(limited):
    app, clock = limited
    client = app.test_client()
    answers = [client.post(SEARCH, json={"query": "bank profits"}, headers=FIRST) for _ in range(LIMIT + 1)]
    assert [a.status_code for a in answers] == [200] * LIMIT + [429]
    refused = answers[-1]
    assert refused.get_json()["error"] == "rate_limited" and refused.get_json()["request_id"]
    # One search comes back every 60 / LIMIT seconds.
    assert refused.headers["Retry-After"] == str(60 // LIMIT)
    # Another caller has a budget of its own.
    assert client.post(SEARCH, json={"query": "bank profits"}, headers=OTHER).status_code == 200
    # Refused searches are counted by the caller's kind, never by who it is.
    metrics = client.get("/metrics", headers=OTHER).get_data(as_text=True)
    assert 'rate_limited_requests_total{caller_kind="token"}' in metrics
    assert "token-0" not in metrics and API_TOKEN not in metrics
    # Once Retry-After has passed, the caller may search again, and only once.
    clock.now += 60 / LIMIT
    assert client.post(SEARCH, json={"query": "bank profits"}, headers=FIRST).status_code == 200
    assert client.post(SEARCH, json={"query": "bank profits"}, headers=FIRST).status_code == 429


def test_health_the_page_and_metrics_are_not_limited(limited):
    app, _ = limited
    client = app.test_client()
    for _ in range(LIMIT + 2):
        for path in ("/health", "/health/ready", "/health/live", "/", "/openapi.json"):
            assert client.get(path, headers=FIRST).status_code == 200, path
        assert client.get("/metrics", headers=FIRST).status_code == 200
    assert client.post(SEARCH, json={"query": "bank profits"}, headers=FIRST).status_code == 200


def test_an_unauthenticated_search_is_refused_401_and_spends_no_budget(limited):
    app, _ = limited
    client = app.test_client()
    for _ in range(LIMIT + 2):
        assert client.post(SEARCH, json={"query": "bank profits"}).status_code == 401
    assert len(app.extensions[RATE_LIMITER]) == 0


def test_without_a_limit_nothing_is_limited(make_app, sample_index):
    app = make_app(sample_index, API_TOKENS=API_TOKEN)
    assert RATE_LIMITER not in app.extensions
    client = app.test_client()
    for _ in range(5):
        assert client.post(SEARCH, json={}, headers=FIRST).status_code == 422


def test_the_limiter_keeps_a_bounded_number_of_callers():
    limiter = RateLimiter(per_minute=1)
    limiter.clock = StillClock()
    for caller in range(MAX_CALLERS + 500):
        assert limiter.take(f"person:{caller}") == 0
    assert len(limiter) == MAX_CALLERS
    # The most recent callers are remembered (their minute's search spent), the oldest forgotten.
    assert limiter.take(f"person:{MAX_CALLERS + 499}") == pytest.approx(60)
    assert limiter.take("person:0") == 0
