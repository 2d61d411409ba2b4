"""The service review (issue 18): what a caller can learn that it should not (another caller's
queries, secrets in settings errors, internal error texts), how large an answer a small request
can get, and whose address the access log records. Each test here failed on the code before."""

from __future__ import annotations

import logging
import re

import pytest
from flask import request
from werkzeug.test import EnvironBuilder

from tests.helpers import API_TOKEN, OTHER_API_TOKEN, random_documents
from webapp import SEARCH_SERVICE, create_app
from webapp.schemas import FULL_TEXT_MAX
from webapp.settings import Settings, SettingsError, load_settings
from webapp.store import Hit, IndexMismatch, StoreError, StoreUnavailable

SEARCH = "/search/cosine/embedding384d/"
AS_FIRST = {"Authorization": f"Bearer {API_TOKEN}"}
AS_OTHER = {"Authorization": f"Bearer {OTHER_API_TOKEN}"}


@pytest.fixture
def closed_app(make_app, sample_index):
    return make_app(sample_index, API_TOKENS=f"{API_TOKEN}, {OTHER_API_TOKEN}")


# -- 1. the query cache tells nobody what others searched ----------------------------------------
def test_a_query_another_caller_asked_is_no_cache_hit(closed_app):
    client, registry = closed_app.test_client(), closed_app.extensions[SEARCH_SERVICE].registry
    query = {"query": "a text only the first caller of this test searched"}
    assert client.post(SEARCH, json=query, headers=AS_FIRST).status_code == 200
    before = registry.query_cache_info()
    answer = client.post(SEARCH, json=query, headers=AS_OTHER)
    after = registry.query_cache_info()
    assert answer.status_code == 200 and set(answer.get_json()["timings"]) == {"embedding_ms", "search_ms"}
    assert (after["misses"] - before["misses"], after["hits"] - before["hits"]) == (1, 0)
    # The caller's own repeat is still served from the cache.
    assert client.post(SEARCH, json=query, headers=AS_FIRST).status_code == 200
    assert registry.query_cache_info()["hits"] - after["hits"] == 1


def test_only_a_token_holder_sees_the_query_cache_counters(closed_app):
    client = closed_app.test_client()
    assert client.get("/health").get_json()["model_cache"]["query_cache"] is None
    full = client.get("/health", headers=AS_FIRST).get_json()["model_cache"]["query_cache"]
    assert set(full) == {"hits", "misses", "size", "max_size"}


# -- 2. no settings error repeats a value --------------------------------------------------------
SECRET = "s3cret-Passw0rd"
LEAKY_VALUES = (
    f"elastic:{SECRET}@host:9200",  # the scheme forgotten: the password is no URL part any more
    f"https://elastic:{SECRET}@host:9200",
    f'["https://es.internal:9200", "elastic:{SECRET}@host:9200"]',
    f'["elastic:{SECRET}@host:9200"',
    f"{SECRET}, {SECRET}x",
    f"[{SECRET}",
)
CUSTOM_VALIDATED = sorted(
    {
        field
        for decorator in Settings.__pydantic_decorators__.field_validators.values()
        for field in decorator.info.fields
    }
)


def test_the_password_of_a_url_without_its_scheme_is_not_printed(monkeypatch):
    monkeypatch.setenv("FINNEWS_STORE_BACKEND", "elasticsearch")
    monkeypatch.setenv("FINNEWS_ES_HOSTS", "elastic:secret@host:9200")
    with pytest.raises(SettingsError, match="FINNEWS_ES_HOSTS") as error:
        load_settings()
    assert "secret" not in str(error.value)


@pytest.mark.parametrize("name", CUSTOM_VALIDATED)
def test_every_custom_validator_refuses_a_value_without_repeating_it(name):
    refused = 0
    for value in LEAKY_VALUES:
        try:
            load_settings({"STORE_BACKEND": "elasticsearch", "ES_HOSTS": "https://es.internal:9200", name: value})
        except SettingsError as error:
            refused += 1
            assert f"FINNEWS_{name.upper()}" in str(error) and SECRET not in str(error), value
    assert refused, f"{name}'s validator refused none of the values, so this test checks none of its messages"


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_no_setting_repeats_its_value_when_refused(name):
    for value in LEAKY_VALUES:
        for backend in ("embedded", "elasticsearch"):
            try:
                load_settings({"STORE_BACKEND": backend, name: value})
            except SettingsError as error:
                assert SECRET not in str(error), (name, value)


# -- 3. internal error texts stay in the log ---------------------------------------------------
ES_403 = (
    "the Elasticsearch user lacks a privilege (search): security_exception: action [indices:data/read/search] "
    "is unauthorized for user [finnews-svc] with roles [finnews_reader], API key id [kEy1d-0f-the-svc]"
)
INTERNAL = ("finnews-svc", "finnews_reader", "kEy1d-0f-the-svc", "/srv/finnews", "sha256:")


@pytest.mark.parametrize(
    "failure, status, code",
    [
        (StoreUnavailable(ES_403), 503, "store_unavailable"),
        (StoreError("generation /srv/finnews/index/gen-000007 is corrupt"), 503, "store_error"),
        (
            IndexMismatch("the index was built with finbert@sha256:0123abcd, this one runs other"),
            409,
            "index_model_mismatch",
        ),
    ],
    ids=["unavailable", "store-error", "index-mismatch"],
)
def test_a_store_failure_answers_a_request_id_and_logs_its_text_under_it(
    closed_app, monkeypatch, caplog, failure, status, code
):
    def fails(*args, **kwargs):
        raise failure

    monkeypatch.setattr(closed_app.extensions[SEARCH_SERVICE].store, "search", fails)
    with caplog.at_level(logging.INFO):
        response = closed_app.test_client().post(SEARCH, json={"query": "banks"}, headers=AS_FIRST)
    assert response.status_code == status
    body = response.get_json()
    assert body["error"] == code and not [text for text in INTERNAL if text in response.get_data(as_text=True)]
    request_id = body["request_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id) and response.headers["X-Request-ID"] == request_id
    logged = [record.getMessage() for record in caplog.records if request_id in record.getMessage()]
    assert any(str(failure) in message for message in logged), caplog.text


def test_a_model_load_failure_is_logged_not_answered(tmp_path, sample_index, caplog):
    empty = tmp_path / "no-models-here"
    app = create_app({"MODEL_CACHE_DIR": str(empty), "STORE_PATH": str(sample_index), "ALLOW_ANONYMOUS": True})
    with pytest.raises(Exception, match="flask models fetch"):
        app.extensions[SEARCH_SERVICE].registry.start_loading()
        app.extensions[SEARCH_SERVICE].registry.wait_until_loaded()
    with caplog.at_level(logging.INFO):
        response = app.test_client().post(SEARCH, json={"query": "banks"})
    assert response.status_code == 503 and response.get_json()["error"] == "models_not_ready"
    assert str(empty) not in response.get_data(as_text=True)
    request_id = response.get_json()["request_id"]
    assert any(request_id in r.getMessage() and str(empty) in r.getMessage() for r in caplog.records), caplog.text


@pytest.mark.parametrize(
    "given, kept",
    [
        ("3f2a9c1e-alb-trace.7", True),
        ("a" * 64, True),
        ("a" * 65, False),
        ("two words", False),
        ("<script>", False),
        ("", False),
    ],
)
def test_every_answer_carries_a_request_id_the_clients_when_sane(closed_app, given, kept):
    client = closed_app.test_client()
    for response in (
        client.get("/health/live", headers={"X-Request-ID": given}),
        client.post(SEARCH, json={"query": "banks"}, headers={"X-Request-ID": given}),  # 401
        client.post(SEARCH, json={"query": ""}, headers={"X-Request-ID": given, **AS_FIRST}),  # 422
    ):
        answered = response.headers["X-Request-ID"]
        assert answered == given if kept else re.fullmatch(r"[0-9a-f]{32}", answered)
        if response.status_code >= 400:
            assert response.get_json()["request_id"] == answered


# -- 4. a small request gets a bounded answer ------------------------------------------------
def test_full_text_is_bounded_and_flagged_when_cut(closed_app, monkeypatch):
    documents, _ = random_documents(100, body="x" * 100_000)
    documents[0]["body"] = "short body"
    hits = [Hit(document["id"], 0.9 - i / 1000, document) for i, document in enumerate(documents)]
    monkeypatch.setattr(closed_app.extensions[SEARCH_SERVICE].store, "search", lambda *args: hits)
    response = closed_app.test_client().post(SEARCH, json={"query": "banks", "size": 100}, headers=AS_FIRST)
    results = response.get_json()["results"]
    assert results[0]["full_text"] == "short body" and "full_text_truncated" not in results[0]
    assert all(r["full_text"] == "x" * FULL_TEXT_MAX and r["full_text_truncated"] is True for r in results[1:])
    assert len(response.get_data()) < 100 * (FULL_TEXT_MAX + 2_000)


def test_openapi_documents_the_full_text_bound(closed_app):
    hit = closed_app.test_client().get("/openapi.json").get_json()["components"]["schemas"]["SearchHit"]
    assert hit["properties"]["full_text"]["anyOf"][0]["maxLength"] == FULL_TEXT_MAX
    assert "full_text_truncated" in hit["properties"] and "full_text_truncated" not in hit.get("required", [])


# -- 5. the access log records the client, not the load balancer ------------------------------
BALANCER, CLIENT, FORGED = "10.0.1.17", "203.0.113.7", "198.51.100.66"


@pytest.mark.parametrize(
    "trusted, forwarded, seen",
    [
        (None, CLIENT, CLIENT),  # the default: one proxy, the ALB
        (None, f"{FORGED}, {CLIENT}", CLIENT),  # the client's own X-Forwarded-For entry is not believed
        (2, f"{FORGED}, {CLIENT}", FORGED),
        (0, CLIENT, BALANCER),
    ],
)
def test_the_client_address_is_the_one_the_trusted_proxies_saw(make_app, sample_index, trusted, forwarded, seen):
    app = make_app(sample_index, **({} if trusted is None else {"TRUSTED_PROXIES": trusted}))
    addresses = []

    @app.after_request
    def note_address(response):
        addresses.append(request.remote_addr)
        return response

    headers = {"X-Forwarded-For": forwarded}
    app.test_client().get("/health/live", headers=headers, environ_base={"REMOTE_ADDR": BALANCER})
    assert addresses == [seen]
    # gunicorn's access log (%(h)s) reads REMOTE_ADDR from the environ the app was given.
    environ = EnvironBuilder(path="/health/live", headers=headers, environ_base={"REMOTE_ADDR": BALANCER}).get_environ()
    app(environ, lambda status, headers, exc_info=None: None)
    assert environ["REMOTE_ADDR"] == seen


def test_trusted_proxies_is_a_count(monkeypatch):
    assert load_settings({}).trusted_proxies == 1
    monkeypatch.setenv("FINNEWS_TRUSTED_PROXIES", "0")
    assert load_settings().trusted_proxies == 0
    with pytest.raises(SettingsError, match="FINNEWS_TRUSTED_PROXIES"):
        load_settings({"TRUSTED_PROXIES": -1})
