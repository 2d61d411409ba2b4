"""The service's hardening (issue 11): no 500 for any input or store failure, metrics labels from
fixed sets, closed by default, health detail only with a token, security headers, a deadline on
every search. Each test here failed on the code before the hardening."""

from __future__ import annotations

import gc
import os
import re
import shutil
import subprocess
import sys
import threading

import pytest
from flask import url_for

from tests.helpers import API_TOKEN, ROOT, es_config
from webapp import SEARCH_SERVICE, create_app
from webapp.auth import is_public
from webapp.settings import SettingsError, load_settings
from webapp.store import StoreError, StoreHealth

SEARCH = "/search/cosine/embedding384d/"


# -- no 500 for any input -----------------------------------------------------------------
@pytest.mark.parametrize("depth", [1_000, 5_000, 30_000])
def test_deeply_nested_json_is_a_400_not_a_500(client, depth):
    # The parser runs a thousand frames deep. A finalizer of garbage that earlier tests left, run
    # by a collection there, would hit the recursion limit itself, and pytest's hook for such
    # unraisable errors would fail the test while formatting it (a server prints and goes on).
    gc.collect()
    gc.disable()
    try:
        for body in ("[" * depth + "]" * depth, '{"query": ' + "[" * depth + "]" * depth + "}"):
            response = client.post(SEARCH, data=body, content_type="application/json")
            assert response.status_code == 400, response.get_data(as_text=True)[:200]
            assert response.get_json()["error"] == "invalid_json"
    finally:
        gc.enable()


@pytest.mark.parametrize(
    "key, value",
    [
        ("date_from", "0001-01-01T00:00:00+05:00"),
        ("date_to", "9999-12-31T23:59:59-05:00"),
        ("date_from", "0001-01-01T00:00:00+23:59"),
    ],
)
def test_dates_outside_the_utc_range_are_a_422_naming_the_field(client, key, value):
    response = client.post(SEARCH, json={"query": "bank results", key: value})
    assert response.status_code == 422, response.get_json()
    error = response.get_json()
    assert [d["field"] for d in error["details"]] == [key]
    assert "out of range once converted to UTC" in error["details"][0]["message"]


def test_the_extreme_dates_that_fit_in_utc_still_work(client):
    body = {"query": "bank results", "date_from": "0001-01-01T00:00:00-05:00", "date_to": "9999-12-31"}
    assert client.post(SEARCH, json=body).status_code == 200


def test_a_generation_removed_during_a_search_is_a_503(make_app, sample_index, tmp_path):
    index = tmp_path / "index"
    shutil.copytree(sample_index, index)
    app = make_app(index)
    client = app.test_client()
    assert client.post(SEARCH, json={"query": "banks"}).status_code == 200
    # Another process commits a generation, and it is gone before this one opens it.
    (index / "CURRENT").write_text("gen-999999\n")
    response = client.post(SEARCH, json={"query": "banks"})
    assert response.status_code == 503 and response.get_json()["error"] == "store_unavailable"
    assert client.get("/health").get_json()["store"]["status"] == "unavailable"


def test_any_other_store_failure_is_a_503_with_the_error_envelope(app, monkeypatch):

    def fails(*args, **kwargs):
        raise StoreError("generation gen-000001 is corrupt")

    monkeypatch.setattr(app.extensions[SEARCH_SERVICE].store, "search", fails)
    response = app.test_client().post(SEARCH, json={"query": "banks"})
    assert response.status_code == 503
    assert response.get_json() == {
        "error": "store_error",
        "message": "the search store failed to answer; it has been logged",
        "details": [],
        "request_id": response.headers["X-Request-ID"],
    }


# -- metrics ---------------------------------------------------------------------------------
def test_made_up_methods_and_paths_never_create_metric_series(client):
    for i in range(12):
        response = client.open(f"/no-such-path-{i}", method=f"FOO{chr(65 + i)}")
        assert response.status_code in (404, 405)
        client.open(SEARCH, method=f"BAR{chr(65 + i)}")
    text = client.get("/metrics").get_data(as_text=True)
    series = [line for line in text.splitlines() if line.startswith("http_requests_total{")]
    assert not [line for line in series if "FOO" in line or "BAR" in line or "no-such-path" in line], series
    assert 'http_requests_total{endpoint="other",method="other",status="404"}' in text
    assert 'http_requests_total{endpoint="other",method="other",status="405"}' in text


# -- closed by default -----------------------------------------------------------------------
@pytest.mark.slow  # starts the service's entry point three times, models included
def test_the_service_refuses_to_start_without_tokens_unless_anonymous_is_allowed(model_cache_dir, sample_index):
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("FINNEWS_", "PROMETHEUS_MULTIPROC_DIR"))
    }
    env |= {"FINNEWS_MODEL_CACHE_DIR": str(model_cache_dir), "FINNEWS_STORE_PATH": str(sample_index)}
    # gunicorn imports webapp.wsgi in its master before it forks: importing it is starting.
    closed = subprocess.run(
        [sys.executable, "-c", "import webapp.wsgi"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert closed.returncode != 0
    assert "the service will not start: no API tokens: set FINNEWS_API_TOKENS" in closed.stderr
    for extra in ({"FINNEWS_API_TOKENS": API_TOKEN}, {"FINNEWS_ALLOW_ANONYMOUS": "1"}):
        started = subprocess.run(
            [sys.executable, "-c", "import webapp.wsgi"], cwd=ROOT, env=env | extra, capture_output=True, text=True
        )
        assert started.returncode == 0, started.stderr[-2000:]


# The views any caller reaches. Every other view must refuse an anonymous caller.
OPEN_VIEWS = {"static", "api.health", "api.live", "api.ready", "api.openapi", "ui.index"}


def test_every_view_is_closed_unless_it_is_on_the_open_list(make_app, tmp_path):
    """Walks the URL map: a view is public only when marked so (webapp.auth.public) and listed
    here; every other one, and one added later without a mark, answers an anonymous caller 401."""
    app = make_app(tmp_path / "empty-index", API_TOKENS=API_TOKEN)
    app.add_url_rule("/added-later", "added_later", lambda: "data")
    client = app.test_client()
    closed = []
    for rule in app.url_map.iter_rules():
        if is_public(app, rule.endpoint):
            assert rule.endpoint in OPEN_VIEWS, f"{rule.rule} ({rule.endpoint}) is public but not on the open list"
            continue
        with app.test_request_context():
            path = url_for(rule.endpoint, **dict.fromkeys(rule.arguments, "embedding384d"))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(path, method=method, json={"query": "banks"})
            assert response.status_code == 401, (method, path, response.status_code)
            assert response.get_json()["error"] == "unauthorized"
            closed.append(rule.endpoint)
    assert {"api.search", "metrics", "added_later"} <= set(closed)
    # What the list names is open: each answers without a token.
    for rule in app.url_map.iter_rules():
        if rule.endpoint in OPEN_VIEWS - {"static"}:
            assert client.get(rule.rule).status_code in (200, 503), rule.rule


def test_an_app_without_tokens_refuses_searches_unless_anonymous_is_allowed(model_cache_dir, sample_index):
    config = {"MODEL_CACHE_DIR": str(model_cache_dir), "STORE_PATH": str(sample_index)}
    closed = create_app(config).test_client()
    assert closed.post(SEARCH, json={"query": "banks"}).status_code == 401
    assert closed.get("/metrics").status_code == 401
    assert 'id="token"' in closed.get("/").get_data(as_text=True)
    assert closed.get("/health/live").status_code == 200
    opened = create_app({**config, "ALLOW_ANONYMOUS": True})
    opened.extensions[SEARCH_SERVICE].registry.wait_until_loaded()
    assert opened.test_client().post(SEARCH, json={"query": "banks"}).status_code == 200


@pytest.mark.parametrize("tokens", ["", "   ", " , ,", "\t\n", "short-token", f"{API_TOKEN}, tooshort"])
def test_blank_or_short_tokens_are_refused_at_start_without_repeating_them(tokens):
    with pytest.raises(SettingsError, match="FINNEWS_API_TOKENS") as error:
        load_settings({"API_TOKENS": tokens})
    assert "tooshort" not in str(error.value) and "short-token" not in str(error.value)


def test_unauthenticated_health_shows_no_paths_errors_or_hashes(make_app, sample_index, model_cache_dir):
    client = make_app(sample_index, API_TOKENS=API_TOKEN).test_client()
    public = client.get("/health")
    assert public.status_code == 200
    text = public.get_data(as_text=True)
    assert str(model_cache_dir) not in text and "sha256" not in text and str(sample_index) not in text
    health = public.get_json()
    assert health["model_cache"]["path"] is None and health["model_cache"]["sentiment_model"] == "loughran-mcdonald"
    # What the deployment plan's expected health answer shows stays: names, states, counts.
    assert health["status"] == "healthy" and health["store"]["documents"] == 1200
    assert {"all-MiniLM-L6-v2", "all-mpnet-base-v2"} <= set(health["model_cache"]["loaded_models"])
    full = client.get("/health", headers={"Authorization": f"Bearer {API_TOKEN}"}).get_json()
    assert full["model_cache"]["path"] == str(model_cache_dir)
    assert full["model_cache"]["sentiment_model"].startswith("loughran-mcdonald@sha256:")


def test_unauthenticated_health_hides_the_store_errors_text(make_app, tmp_path):
    from tests.fake_elasticsearch import FakeElasticsearch

    fake = FakeElasticsearch().start()
    try:
        client = make_app(tmp_path / "unused", API_TOKENS=API_TOKEN, **es_config(fake, "news")).test_client()
        fake.stop()  # an outage: the store's error text names what failed, and how
        public, ready = client.get("/health"), client.get("/health/ready")
        assert public.status_code == ready.status_code == 503
        assert public.get_json()["store"]["detail"] is None and public.get_json()["elasticsearch"] == "unavailable"
        assert ready.get_json() == {"status": "not_ready", "reason": "store unavailable"}
        token = {"Authorization": f"Bearer {API_TOKEN}"}
        assert "cannot connect to Elasticsearch" in client.get("/health", headers=token).get_json()["store"]["detail"]
        assert "cannot connect to Elasticsearch" in client.get("/health/ready", headers=token).get_json()["detail"]
    finally:
        fake.close()


# -- security headers ------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/static/search.js", "/health", "/openapi.json", "/no-such-page"])
def test_every_response_carries_the_security_headers(client, path):
    headers = client.get(path).headers
    assert headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "Strict-Transport-Security" not in headers  # plain HTTP: HSTS means nothing there
    behind_alb = client.get(path, headers={"X-Forwarded-Proto": "https"}).headers
    assert behind_alb["Strict-Transport-Security"].startswith("max-age=")


def test_no_search_health_or_metrics_answer_may_be_stored(make_app, tmp_path, monkeypatch):
    app = make_app(tmp_path / "empty-index", API_TOKENS=API_TOKEN)
    client, token = app.test_client(), {"Authorization": f"Bearer {API_TOKEN}"}
    answers = {
        "search": client.post(SEARCH, json={"query": "banks"}, headers=token),
        "search without a token": client.post(SEARCH, json={"query": "banks"}),
        "invalid search": client.post(SEARCH, json={}, headers=token),
        "unknown field": client.post("/search/cosine/embedding7d/", json={"query": "banks"}, headers=token),
        "metrics": client.get("/metrics", headers=token),
        "metrics without a token": client.get("/metrics"),
        "live": client.get("/health/live"),
        "health, wrong method": client.post("/health"),
    }
    monkeypatch.setattr(
        app.extensions[SEARCH_SERVICE].store, "health", lambda: StoreHealth("embedded", "unavailable", None, "gone")
    )
    answers |= {"health": client.get("/health"), "ready": client.get("/health/ready")}
    assert {name: answer.status_code for name, answer in answers.items()} == {
        "search": 200,
        "search without a token": 401,
        "invalid search": 422,
        "unknown field": 404,
        "metrics": 200,
        "metrics without a token": 401,
        "live": 200,
        "health, wrong method": 405,
        "health": 503,
        "ready": 503,
    }
    assert {name: answer.headers.get("Cache-Control") for name, answer in answers.items()} == dict.fromkeys(
        answers, "no-store"
    )


def test_the_page_needs_nothing_the_policy_forbids(client):
    html = client.get("/").get_data(as_text=True)
    # No inline script, style or event handler: the policy allows only files from this origin.
    assert not re.search(r"<script>|<style|\sstyle=|\son[a-z]+=", html), html


# -- the deadline ----------------------------------------------------------------------------
def hang_searches(app, monkeypatch) -> threading.Event:
    """Every search of APP hangs in its store until the returned event is set (at most 120 s)."""
    release = threading.Event()

    def hangs(*args, **kwargs):
        release.wait(timeout=120)
        return []

    monkeypatch.setattr(app.extensions[SEARCH_SERVICE].store, "search", hangs)
    return release


def test_a_hung_search_is_answered_503_at_its_deadline(make_app, sample_index, monkeypatch):
    app = make_app(sample_index, REQUEST_TIMEOUT=0.5)
    release = hang_searches(app, monkeypatch)
    client = app.test_client()
    try:
        response = client.post(SEARCH, json={"query": "banks"})
        assert response.status_code == 503 and response.get_json()["error"] == "deadline_exceeded"
        assert "0.5 s" in response.get_json()["message"]
        assert client.get("/health/live").status_code == 200
    finally:
        release.set()
    monkeypatch.undo()
    assert client.post(SEARCH, json={"query": "banks"}).status_code == 200


def test_liveness_fails_while_every_thread_is_stuck_past_its_deadline(make_app, tmp_path, monkeypatch, caplog):
    # Such a worker answers every search 503 for as long as the work hangs: only a replaced
    # container ends that, and ECS replaces one whose /health/live fails.
    app = make_app(tmp_path / "empty-index", THREADS=2, REQUEST_TIMEOUT=0.3)
    release = hang_searches(app, monkeypatch)
    client = app.test_client()
    try:
        assert client.post(SEARCH, json={"query": "banks"}).status_code == 503
        assert client.get("/health/live").status_code == 200  # one of two threads stuck: still alive
        assert client.post(SEARCH, json={"query": "banks"}).status_code == 503
        live = client.get("/health/live")
        assert live.status_code == 503
        assert live.get_json() == {
            "status": "stuck",
            "reason": "every one of this worker's 2 threads runs work past its deadline",
        }
        assert "every one of the 2 threads runs work past its deadline" in caplog.text
    finally:
        release.set()
    waited = 0
    while client.get("/health/live").status_code != 200:
        assert waited < 600, "liveness did not come back when the late work ended"
        waited += 1
        release.wait(0.1)
    assert "/health/live answers 200 again" in caplog.text
    monkeypatch.undo()
    assert client.post(SEARCH, json={"query": "banks"}).status_code == 200
