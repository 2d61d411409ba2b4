"""The HTTP contract: the three search endpoints, their validation, health, OpenAPI, metrics.

Every test that uses ``sample_client`` runs on both store backends (embedded, and
Elasticsearch on the fake node of tests/fake_elasticsearch.py), each holding the sample corpus.
"""

from __future__ import annotations

import datetime as dt
import json

import jsonschema
import pytest

from tests.helpers import API_TOKEN, JUDGEMENTS, OTHER_API_TOKEN, es_config
from webapp import SETTINGS
from webapp.fields import FIELD_NAMES

FIELDS = list(FIELD_NAMES)


@pytest.fixture(scope="module")
def judged():
    return [json.loads(line) for line in JUDGEMENTS.read_text().splitlines()]


@pytest.mark.parametrize("field", FIELDS)
def test_search_returns_ranked_results_of_the_documented_shape(sample_client, field):
    response = sample_client.post(f"/search/cosine/{field}/", json={"query": "bank profits rise", "size": 7})
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["results", "total_hits", "query", "embedding_field", "search_time_ms", "timings"]
    assert body["embedding_field"] == field and body["query"] == "bank profits rise"
    assert len(body["results"]) == body["total_hits"] == 7
    scores = [hit["score"] for hit in body["results"]]
    assert scores == sorted(scores, reverse=True) and all(0.0 <= s <= 1.0 for s in scores)
    hit = body["results"][0]
    assert list(hit) == [
        "id", "score", "title", "summary", "url", "published_dt", "source", "doc_type",
        "sentiment", "themes", "organizations",
        "full_text", "date",  # the earlier API's, for its clients (tests/test_earlier.py)
    ]  # fmt: skip
    assert list(hit["sentiment"]) == ["label", "scores", "score"]
    assert hit["sentiment"]["label"] in ("positive", "negative", "neutral")
    assert sum(hit["sentiment"]["scores"].values()) == pytest.approx(1.0, abs=1e-4)
    assert set(body["timings"]) == {"embedding_ms", "search_ms"}
    assert body["search_time_ms"] >= body["timings"]["search_ms"]


@pytest.mark.parametrize("field", FIELDS)
def test_judged_queries_find_relevant_news(sample_client, judged, field):
    found = 0
    for query in judged[:10]:
        body = sample_client.post(f"/search/cosine/{field}", json={"query": query["query"]}).get_json()
        found += bool({hit["id"] for hit in body["results"]} & set(query["relevant_ids"]))
    assert found >= 7, f"only {found} of 10 judged queries found a relevant document in the top 10"


def test_trailing_slash_is_optional_and_limit_is_an_alias_of_size(sample_client):
    with_slash = sample_client.post("/search/cosine/embedding384d/", json={"query": "oil prices", "limit": 3})
    without = sample_client.post("/search/cosine/embedding384d", json={"query": "oil prices", "size": 3})
    assert with_slash.status_code == without.status_code == 200
    assert [h["id"] for h in with_slash.get_json()["results"]] == [h["id"] for h in without.get_json()["results"]]
    assert len(without.get_json()["results"]) == 3


def test_default_size_is_ten(sample_client):
    assert (
        len(sample_client.post("/search/cosine/embedding768d/", json={"query": "layoffs"}).get_json()["results"]) == 10
    )


@pytest.mark.parametrize("field", FIELDS)
def test_filters_are_honoured_and_still_fill_the_page(sample_client, field):
    body = sample_client.post(
        f"/search/cosine/{field}/",
        json={
            "query": "earnings",
            "size": 20,
            "date_from": "2025-06-01",
            "date_to": "2025-09-30",
            "doc_types": ["analysis"],
        },
    ).get_json()
    assert len(body["results"]) == 20
    for hit in body["results"]:
        assert "2025-06-01" <= hit["published_dt"][:10] <= "2025-09-30"
        assert hit["doc_type"] == "analysis"


def test_source_filter_and_datetime_bounds(sample_client):
    first = sample_client.post("/search/cosine/embedding384d/", json={"query": "markets", "size": 1}).get_json()
    source = first["results"][0]["source"]
    body = sample_client.post(
        "/search/cosine/embedding384d/",
        json={"query": "markets", "size": 30, "sources": [source], "date_from": "2025-01-01T12:00:00+00:00"},
    ).get_json()
    assert body["results"] and {h["source"] for h in body["results"]} == {source}
    assert all(
        dt.datetime.fromisoformat(h["published_dt"]) >= dt.datetime(2025, 1, 1, 12, tzinfo=dt.UTC)
        for h in body["results"]
    )


def test_min_score_cuts_the_list(sample_client):
    everything = sample_client.post(
        "/search/cosine/embedding768d/", json={"query": "credit rating downgrade", "size": 50}
    ).get_json()["results"]
    cut = everything[9]["score"]
    body = sample_client.post(
        "/search/cosine/embedding768d/", json={"query": "credit rating downgrade", "size": 50, "min_score": cut}
    ).get_json()
    # Every hit shown with a score of at least the cut, and only those: compared as shown, so
    # the answer is the same on any CPU, whichever way a score's last bits fell there.
    assert [h["id"] for h in body["results"]] == [h["id"] for h in everything if h["score"] >= cut]
    assert 10 <= len(body["results"]) < 50 and all(h["score"] >= cut for h in body["results"])
    assert body["total_hits"] == len(body["results"])


def test_filters_that_match_nothing_give_an_empty_list(sample_client):
    body = sample_client.post(
        "/search/cosine/embedding384d/", json={"query": "banks", "date_from": "1999-01-01", "date_to": "1999-12-31"}
    ).get_json()
    assert body["results"] == [] and body["total_hits"] == 0


BAD_REQUESTS = [
    ({}, 422, "query"),
    ({"query": ""}, 422, "query"),
    ({"query": "   "}, 422, "query"),
    ({"query": "x" * 2001}, 422, "query"),
    # The schema's maxLength counts the text as sent: stripping it first accepted a 2,001-character
    # query that starts with a whitespace character (schemathesis found "\u0085" + 2,000 more).
    ({"query": "\u0085" + "x" * 2000}, 422, "query"),
    ({"query": "ok", "sources": [" " + "s" * 200]}, 422, "sources.0"),
    ({"query": 42}, 422, "query"),
    ({"query": None}, 422, "query"),
    ({"query": ["a"]}, 422, "query"),
    ({"query": "ok", "size": 0}, 422, "size"),
    ({"query": "ok", "size": 101}, 422, "size"),
    ({"query": "ok", "size": "ten"}, 422, "size"),
    ({"query": "ok", "size": 2.5}, 422, "size"),
    ({"query": "ok", "limit": -1}, 422, "limit"),
    ({"query": "ok", "size": 5, "limit": 5}, 422, "body"),
    ({"query": "ok", "min_score": 1.5}, 422, "min_score"),
    ({"query": "ok", "min_score": "high"}, 422, "min_score"),
    # Booleans and numeric strings are not the numbers the schema asks for (schemathesis found
    # `"min_score": true` answered 200).
    ({"query": "ok", "min_score": True}, 422, "min_score"),
    ({"query": "ok", "min_score": "0.5"}, 422, "min_score"),
    ({"query": "ok", "size": True}, 422, "size"),
    ({"query": "ok", "limit": "5"}, 422, "limit"),
    ({"query": "ok", "date_from": "2025-02-30"}, 422, "date_from"),
    ({"query": "ok", "date_to": "last week"}, 422, "date_to"),
    ({"query": "ok", "date_to": 1700000000}, 422, "date_to"),
    # Numeric strings are not the date-times the schema asks for: pydantic's lax mode read them
    # as Unix timestamps (schemathesis found `"date_from": "0"` answered 200).
    ({"query": "ok", "date_from": "0"}, 422, "date_from"),
    ({"query": "ok", "date_to": "17000000000"}, 422, "date_to"),
    ({"query": "ok", "date_from": "-1.5"}, 422, "date_from"),
    ({"query": "ok", "date_from": "2026-01-01", "date_to": "2025-01-01"}, 422, "body"),
    ({"query": "ok", "doc_types": "news"}, 422, "doc_types"),
    ({"query": "ok", "doc_types": [1]}, 422, "doc_types.0"),
    ({"query": "ok", "sources": ["x"] * 21}, 422, "sources"),
    ({"query": "ok", "unknown": True}, 422, "unknown"),
    ({"query": "ok", "k": 5}, 422, "k"),
    ({"query": "ok", "offset": -1}, 422, "offset"),
    ({"query": "ok", "offset": "20"}, 422, "offset"),
    ({"query": "ok", "offset": 1.5}, 422, "offset"),
    ({"query": "ok", "offset": 500}, 422, "offset"),
    # Paging reaches the PAGE_WINDOW (500) best matches: the page that would end past it is refused.
    ({"query": "ok", "offset": 495, "size": 10}, 422, "body"),
    ({"query": "ok", "order": "date"}, 422, "order"),
    ({"query": "ok", "order": None}, 422, "order"),
    ({"query": "ok", "sentiments": "positive"}, 422, "sentiments"),
    ({"query": "ok", "sentiments": []}, 422, "sentiments"),
    ({"query": "ok", "sentiments": ["happy"]}, 422, "sentiments.0"),
]


@pytest.mark.parametrize("body, status, field", BAD_REQUESTS, ids=[f"{b}"[:60] for b, _, _ in BAD_REQUESTS])
def test_bad_input_gets_a_4xx_json_error_naming_the_field(sample_client, body, status, field):
    response = sample_client.post("/search/cosine/embedding384d/", json=body)
    assert response.status_code == status
    error = response.get_json()
    assert error["error"] == "validation_error"
    assert field in [d["field"] for d in error["details"]], error
    assert field in error["message"]


@pytest.mark.parametrize(
    "kwargs, status, code",
    [
        ({"data": "{not json", "content_type": "application/json"}, 400, "invalid_json"),
        ({"data": "[1, 2]", "content_type": "application/json"}, 400, "invalid_json"),
        ({"data": '"query"', "content_type": "application/json"}, 400, "invalid_json"),
        ({"data": "", "content_type": "application/json"}, 400, "invalid_json"),
        ({"data": "query=banks"}, 415, "unsupported_media_type"),
        ({"data": "x" * 70_000, "content_type": "application/json"}, 413, "request_entity_too_large"),
    ],
)
def test_bodies_that_are_not_a_json_object(sample_client, kwargs, status, code):
    response = sample_client.post("/search/cosine/embedding768d/", **kwargs)
    assert response.status_code == status
    assert response.get_json()["error"] == code


def test_unknown_routes_and_methods_answer_json(sample_client):
    unknown_field = sample_client.post("/search/cosine/embedding999d/", json={"query": "x"})
    assert unknown_field.status_code == 404 and "embedding384d" in unknown_field.get_json()["message"]
    assert sample_client.get("/search/cosine/embedding384d/").status_code == 405
    assert sample_client.get("/nothing-here").get_json()["error"] == "not_found"


@pytest.mark.parametrize(
    "value", [None, True, -1, 10**30, 1e308, "", "🙂" * 500, {"a": {"b": [1]}}, [None], "\x00", "2025-01-01T25:00:00"]
)
@pytest.mark.parametrize("key", ["query", "size", "min_score", "date_from", "doc_types", "sources"])
def test_odd_values_never_cause_a_server_error(sample_client, key, value):
    body = {"query": "bank results", key: value}
    response = sample_client.post("/search/cosine/embedding1155d/", json=body)
    assert response.status_code in (200, 422), response.get_json()


def paged(client, field="embedding768d", **body) -> dict:
    response = client.post(f"/search/cosine/{field}/", json={"query": "bank profits", **body})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_pages_follow_each_other_and_count_the_matches(sample_client):
    # 88 filing summaries in the sample corpus: fewer than the paging window, so all are counted.
    whole = paged(sample_client, size=100, offset=0, doc_types=["filing_summary"])
    assert whole["total"] == {"value": 88, "relation": "eq"} and whole["offset"] == 0
    assert len(whole["results"]) == whole["total_hits"] == 88
    pages = [paged(sample_client, size=30, offset=offset, doc_types=["filing_summary"]) for offset in (0, 30, 60, 90)]
    assert [len(page["results"]) for page in pages] == [30, 30, 28, 0]
    assert all(
        page["total"] == whole["total"] and page["offset"] == offset
        for page, offset in zip(pages, (0, 30, 60, 90), strict=True)
    )
    assert [h["id"] for page in pages for h in page["results"]] == [h["id"] for h in whole["results"]]
    # The first page is the earlier-shaped answer's list, with the count beside it.
    earlier = sample_client.post(
        "/search/cosine/embedding768d/", json={"query": "bank profits", "size": 30, "doc_types": ["filing_summary"]}
    ).get_json()
    assert [h["id"] for h in pages[0]["results"]] == [h["id"] for h in earlier["results"]]
    assert "total" not in earlier and "offset" not in earlier


def test_total_beyond_the_paging_window_says_so(sample_client):
    # 1,200 documents: every one is a k-NN match, and the window holds the 500 best.
    body = paged(sample_client, size=10, offset=490)
    assert body["total"] == {"value": 500, "relation": "gte"} and len(body["results"]) == 10


def test_total_counts_only_matches_above_min_score(sample_client):
    ranked = sample_client.post(
        "/search/cosine/embedding768d/", json={"query": "credit rating downgrade", "size": 100}
    ).get_json()["results"]
    cut = ranked[24]["score"]
    expected = [h["id"] for h in ranked if h["score"] >= cut]
    body = sample_client.post(
        "/search/cosine/embedding768d/",
        json={"query": "credit rating downgrade", "size": 10, "offset": 20, "min_score": cut},
    ).get_json()
    assert body["total"] == {"value": len(expected), "relation": "eq"}
    assert [h["id"] for h in body["results"]] == expected[20:30]


def test_newest_orders_the_same_matches_by_date(sample_client):
    best = paged(sample_client, size=100, order="relevance", doc_types=["filing_summary"])
    newest = paged(sample_client, size=100, order="newest", doc_types=["filing_summary"])
    assert newest["total"] == best["total"]
    assert {h["id"] for h in newest["results"]} == {h["id"] for h in best["results"]}
    dates = [h["published_dt"] for h in newest["results"]]
    assert dates == sorted(dates, reverse=True) and dates != [h["published_dt"] for h in best["results"]]


def test_sentiment_filter_keeps_only_that_label(sample_client):
    every = paged(sample_client, size=100, offset=0, doc_types=["filing_summary"])
    negative = paged(sample_client, size=100, sentiments=["negative"], doc_types=["filing_summary"])
    expected = [h["id"] for h in every["results"] if h["sentiment"]["label"] == "negative"]
    assert expected and [h["id"] for h in negative["results"]] == expected
    assert negative["total"] == {"value": len(expected), "relation": "eq"}
    both = paged(sample_client, size=100, sentiments=["negative", "positive"], doc_types=["filing_summary"])
    assert {h["sentiment"]["label"] for h in both["results"]} == {"negative", "positive"}


STORE_HEALTH = {
    "embedded": {"backend": "embedded", "status": "ok", "documents": 1200, "detail": None},
    # The index's cluster health: green, as the sample index has no replicas to assign.
    "elasticsearch": {"backend": "elasticsearch", "status": "green", "documents": 1200, "detail": None},
}


def test_health_reports_store_and_model_cache(sample_client):
    response = sample_client.get("/health")
    assert response.status_code == 200
    health = response.get_json()
    assert list(health) == ["status", "api", "elasticsearch", "version", "store", "model_cache", "timestamp"]
    # The earlier API's fields, which its tools read: "healthy", "operational", the store's health.
    assert health["status"] == "healthy" and health["api"] == "operational" and health["version"] == "dev"
    assert health["store"] == STORE_HEALTH[sample_client.application.extensions[SETTINGS].store_backend]
    assert health["elasticsearch"] == health["store"]["status"]
    age = dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(health["timestamp"])
    assert dt.timedelta(0) <= age < dt.timedelta(minutes=5)
    cache = health["model_cache"]
    assert {"all-MiniLM-L6-v2", "all-mpnet-base-v2"} <= set(cache["cached_models"])
    assert cache["loaded_models"] == ["all-MiniLM-L6-v2", "all-mpnet-base-v2", "loughran-mcdonald"]
    assert cache["sentiment_model"].startswith("loughran-mcdonald@")
    assert set(cache["query_cache"]) == {"hits", "misses", "size", "max_size"}
    assert sample_client.get("/health/live").get_json() == {"status": "alive"}
    assert sample_client.get("/health/ready").status_code == 200


def test_not_ready_until_models_are_loaded(tmp_path, model_cache_dir, sample_index):
    """A fresh process (its own cache path, so its own registry) answers 503 while loading."""
    from webapp import SEARCH_SERVICE, create_app

    cache = tmp_path / "models"
    cache.mkdir()
    for model in model_cache_dir.iterdir():  # the models and their exports
        (cache / model.name).symlink_to(model)
    app = create_app({"MODEL_CACHE_DIR": str(cache), "STORE_PATH": str(sample_index), "ALLOW_ANONYMOUS": True})
    client = app.test_client()
    registry = app.extensions[SEARCH_SERVICE].registry
    assert client.get("/health/live").status_code == 200
    ready = client.get("/health/ready")  # starts the loading, which takes a while
    assert ready.status_code == 503 and ready.get_json()["status"] == "not_ready"
    searching = client.post("/search/cosine/embedding384d/", json={"query": "banks"})
    assert searching.status_code == 503 and searching.get_json()["error"] == "models_not_ready"
    assert client.get("/health").get_json()["status"] == "starting"
    registry.wait_until_loaded()
    assert client.get("/health/ready").status_code == 200
    assert client.post("/search/cosine/embedding384d/", json={"query": "banks"}).status_code == 200


def test_broken_model_cache_is_reported_not_hidden(tmp_path, sample_index):
    from webapp import SEARCH_SERVICE, create_app

    app = create_app(
        {"MODEL_CACHE_DIR": str(tmp_path / "empty"), "STORE_PATH": str(sample_index), "ALLOW_ANONYMOUS": True}
    )
    client = app.test_client()
    client.get("/health/ready")
    with pytest.raises(Exception, match="flask models fetch"):
        app.extensions[SEARCH_SERVICE].registry.wait_until_loaded()
    ready = client.get("/health/ready")
    assert ready.status_code == 503 and ready.get_json()["reason"] == "models failed to load"
    assert "flask models fetch" in ready.get_json()["detail"]
    health = client.get("/health")
    assert health.status_code == 503 and health.get_json()["status"] == "unavailable"


def test_query_embeddings_are_cached(sample_client):
    # Both backends' apps share the process's models: a query of its own for each.
    query = f"shipping rates climb on canal delays ({sample_client.application.extensions[SETTINGS].store_backend})"
    before = sample_client.get("/health").get_json()["model_cache"]["query_cache"]
    for _ in range(3):
        assert sample_client.post("/search/cosine/embedding768d/", json={"query": query}).status_code == 200
    after = sample_client.get("/health").get_json()["model_cache"]["query_cache"]
    assert after["misses"] - before["misses"] == 1
    assert after["hits"] - before["hits"] == 2


def test_openapi_describes_the_endpoints_and_matches_real_responses(sample_client):
    spec = sample_client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    assert {f"/search/cosine/{f}/" for f in FIELDS} | {"/health", "/health/ready", "/health/live"} <= set(spec["paths"])
    schemas = spec["components"]["schemas"]
    request_schema = schemas["SearchRequest"]
    assert request_schema["additionalProperties"] is False
    assert request_schema["properties"]["size"]["maximum"] == 100
    assert request_schema["properties"]["query"]["maxLength"] == 2000
    assert request_schema["properties"]["order"]["enum"] == ["relevance", "newest"]
    assert {"offset", "sentiments"} <= set(request_schema["properties"])
    assert {"total", "offset"} <= set(schemas["SearchResponse"]["properties"])
    resolver = {"components": {"schemas": schemas}}
    for path, name, response in (
        (
            "/search/cosine/embedding1155d/",
            "SearchResponse",
            sample_client.post("/search/cosine/embedding1155d/", json={"query": "banks"}),
        ),
        (
            "/search/cosine/embedding768d/",
            "SearchResponse",
            sample_client.post(
                "/search/cosine/embedding768d/", json={"query": "banks", "offset": 10, "order": "newest"}
            ),
        ),
        (
            "/search/cosine/embedding384d/",
            "ErrorResponse",
            sample_client.post("/search/cosine/embedding384d/", json={"size": 3}),
        ),
        ("/health", "HealthReport", sample_client.get("/health")),
    ):
        schema = {**schemas[name], **resolver}
        jsonschema.validate(response.get_json(), schema)
        assert path in spec["paths"]


def test_metrics_count_requests_latency_model_loads_and_cache(sample_client):
    sample_client.post("/search/cosine/embedding384d/", json={"query": "metrics please"})
    sample_client.post("/search/cosine/embedding384d/", json={"query": ""})
    text = sample_client.get("/metrics").get_data(as_text=True)
    assert 'http_requests_total{endpoint="/search/cosine/<field>/",method="POST",status="200"}' in text
    assert 'status="422"' in text
    assert "http_request_duration_seconds_bucket" in text
    assert 'search_phase_seconds_count{field="embedding384d",phase="embedding"}' in text
    assert 'model_load_seconds{model="all-mpnet-base-v2"}' in text
    assert 'query_embedding_cache{counter="misses"}' in text


def test_search_page_is_served(sample_client, sample_backend):
    page = sample_client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="query"' in html and 'value="embedding1155d"' in html and "search.js" in html
    assert sample_client.get("/static/search.js").status_code == 200
    # The filters offer the index's own doc types and sources where the store lists them (the
    # embedded store's manifest); on Elasticsearch the page takes the name typed.
    if sample_backend:
        assert '<input id="doc_type"' in html and '<input id="source"' in html
    else:
        assert '<option value="filing_summary">' in html and '<option value="Quayside Wire">' in html


def test_the_search_page_is_served_while_the_store_is_unavailable(make_app, tmp_path):
    (tmp_path / "CURRENT").write_text("gen-000001\n")  # names a generation that is not there
    client = make_app(tmp_path).test_client()
    assert client.post("/search/cosine/embedding384d/", json={"query": "banks"}).status_code == 503
    page = client.get("/")
    assert page.status_code == 200 and '<input id="doc_type"' in page.get_data(as_text=True)


PARITY_REQUESTS = [
    {"query": "bank profits rise", "size": 25},
    {"query": "earnings", "size": 20, "date_from": "2025-06-01", "date_to": "2025-09-30", "doc_types": ["analysis"]},
    {"query": "chip supply shortage", "size": 15, "date_from": "2025-01-01T12:00:00+00:00"},
    {"query": "credit rating downgrade", "size": 50, "min_score": 0.7},
    {"query": "oil prices", "size": 100},
    {"query": "banks", "date_from": "1999-01-01", "date_to": "1999-12-31"},
]


@pytest.mark.parametrize("field", FIELDS)
def test_both_backends_give_the_same_answers(make_app, sample_index, fake_elasticsearch, es_sample_index, field):
    embedded = make_app(sample_index).test_client()
    elastic = make_app(sample_index, **es_config(fake_elasticsearch, es_sample_index)).test_client()
    sources = sorted(
        {
            h["source"]
            for h in embedded.post(f"/search/cosine/{field}/", json={"query": "markets", "size": 100}).get_json()[
                "results"
            ]
        }
    )
    for body in [*PARITY_REQUESTS, {"query": "markets", "size": 30, "sources": sources[:2]}]:
        ours, theirs = (c.post(f"/search/cosine/{field}/", json=body).get_json() for c in (embedded, elastic))
        assert [h["id"] for h in ours["results"]] == [h["id"] for h in theirs["results"]], body
        assert ours["total_hits"] == theirs["total_hits"]
        for a, b in zip(ours["results"], theirs["results"], strict=True):
            # float32 arithmetic on both sides, rounded to 6 decimals: at most one unit apart
            assert a.pop("score") == pytest.approx(b.pop("score"), abs=1.5e-6)
            assert a == b


def test_api_tokens_guard_search_and_metrics_but_not_health(make_app, sample_index):
    app = make_app(sample_index, API_TOKENS=f"{API_TOKEN}, {OTHER_API_TOKEN}")
    client = app.test_client()
    body = {"query": "bank profits"}
    refused = client.post("/search/cosine/embedding384d/", json=body)
    assert refused.status_code == 401 and refused.get_json()["error"] == "unauthorized"
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    for header in ("Bearer wrong", API_TOKEN, f"Basic {API_TOKEN}", f"Bearer {API_TOKEN[:-1]}"):
        assert (
            client.post("/search/cosine/embedding384d/", json=body, headers={"Authorization": header}).status_code
            == 401
        )
    for token in (API_TOKEN, OTHER_API_TOKEN):
        ok = client.post("/search/cosine/embedding384d/", json=body, headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {OTHER_API_TOKEN}"}).status_code == 200
    for open_path in ("/health", "/health/ready", "/health/live", "/openapi.json", "/"):
        assert client.get(open_path).status_code == 200, open_path
    assert 'id="token"' in client.get("/").get_data(as_text=True)
    assert API_TOKEN not in client.get("/").get_data(as_text=True)


def test_without_api_tokens_in_development_nothing_asks_for_one(sample_client):
    assert 'id="token"' not in sample_client.get("/").get_data(as_text=True)
    assert sample_client.get("/metrics").status_code == 200
