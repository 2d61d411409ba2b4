"""The Elasticsearch store against a fake Elasticsearch node (tests/fake_elasticsearch.py): the
exact request bodies (template, mapping, knn query, bulk lines), the same results as the
embedded store, retries and per-document failures, outages and recovery, credentials and TLS.
No models are needed: documents carry random unit vectors."""

from __future__ import annotations

import datetime as dt
import logging
import time
import types

import numpy as np
import pytest
import requests
from elastic_transport import SecurityWarning
from urllib3.exceptions import InsecureRequestWarning

from tests.fake_elasticsearch import FakeElasticsearch
from tests.helpers import TEST_META, random_documents
from tools.benchmark import free_port
from webapp.fields import FIELD_DIMS
from webapp.settings import Settings, SettingsError, load_settings
from webapp.store import DocumentFailure, IndexMismatch, SearchFilters, StoreUnavailable, score_from_cosine
from webapp.store.elasticsearch import ElasticsearchStore
from webapp.store.embedded import EmbeddedStore

VECTORS = ["embedding384d", "embedding768d", "embedding1155d"]


def store_settings(server: FakeElasticsearch, **overrides) -> Settings:
    """The Elasticsearch backend's settings, defaults but for the fake node's URL and `overrides`."""
    return load_settings({"STORE_BACKEND": "elasticsearch", "ES_HOSTS": server.url, **overrides})


def make_index(store: ElasticsearchStore, name: str = "finnews-1", meta: dict = TEST_META, replicas: int = 0) -> None:
    store.put_template(meta, shards=1, replicas=replicas)
    store.create_index(name, with_alias=True)


@pytest.fixture
def fake():
    server = FakeElasticsearch().start()
    yield server
    server.close()


@pytest.fixture
def store(fake):
    store = ElasticsearchStore.from_settings(store_settings(fake, ES_REQUEST_TIMEOUT=2))
    yield store
    store.close()


@pytest.fixture
def backoff(monkeypatch):
    """The waits of the bulk helper's backoff, recorded instead of slept."""
    import elasticsearch.helpers.actions as actions

    waits: list[float] = []
    clock = types.SimpleNamespace(**{n: getattr(time, n) for n in dir(time) if not n.startswith("_")})
    clock.sleep = waits.append
    monkeypatch.setattr(actions, "time", clock)
    return waits


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """A read-only index of 2,000 random documents in a fake node, and the same in an embedded store."""
    server = FakeElasticsearch().start()
    store = ElasticsearchStore.from_settings(store_settings(server))
    make_index(store)
    documents, vectors = random_documents(2000, seed=1)
    assert store.upsert(documents, vectors, TEST_META) == []
    embedded = EmbeddedStore(tmp_path_factory.mktemp("embedded"))
    embedded.upsert(documents, vectors, TEST_META)
    yield types.SimpleNamespace(server=server, store=store, embedded=embedded, documents=documents, vectors=vectors)
    store.close()
    server.close()


# -- what Elasticsearch receives -------------------------------------------------------------
def test_index_template_mapping_and_alias_bodies(fake, store):
    make_index(store, "finnews-000001", replicas=1)
    template = fake.requests_to("/_index_template/finnews", "PUT")[0].body
    vector = {"type": "dense_vector", "index": True, "similarity": "cosine", "index_options": {"type": "hnsw", "m": 16, "ef_construction": 100}}  # fmt: skip
    stored_only = {"type": "keyword", "index": False, "doc_values": False}
    assert template == {
        "index_patterns": ["finnews-*"],
        "priority": 200,
        "template": {
            "settings": {"number_of_shards": 1, "number_of_replicas": 1},
            "mappings": {
                "dynamic": "strict",
                "_meta": TEST_META,
                "properties": {
                    "id": {"type": "keyword"},
                    "title": {"type": "text"},
                    "summary": {"type": "text"},
                    "body": {"type": "text"},
                    "url": stored_only,
                    "published_dt": {"type": "date"},
                    "source": {"type": "keyword"},
                    "doc_type": {"type": "keyword"},
                    "themes": {"type": "keyword"},
                    "organizations": {"type": "keyword"},
                    "quality_score": {"type": "float"},
                    "sentiment": {
                        "properties": {
                            "positive": {"type": "float"},
                            "negative": {"type": "float"},
                            "neutral": {"type": "float"},
                        }
                    },
                    "content_sha256": stored_only,
                    "embedding384d": {**vector, "dims": 384},
                    "embedding768d": {**vector, "dims": 768},
                    "embedding1155d": {**vector, "dims": 1155},
                },
            },
        },
        "_meta": {"description": "news indices behind the alias finnews; made by `flask es create-index`"},
    }
    # The index takes its mapping from the template; the request only names the alias.
    assert fake.requests_to("/finnews-000001", "PUT")[0].body == {"aliases": {"finnews": {"is_write_index": True}}}
    assert fake.indices["finnews-000001"].mappings == template["template"]["mappings"]
    assert store.index_meta() == TEST_META
    assert store.alias_indices() == ["finnews-000001"]
    assert store.next_index_name() == "finnews-000002"


def test_knn_query_body_with_every_filter(loaded):
    loaded.server.requests.clear()
    query = loaded.vectors["embedding384d"][7]
    filters = SearchFilters(
        published_from=dt.datetime(2025, 3, 1, tzinfo=dt.UTC),
        published_to=dt.datetime(2025, 3, 20, 23, 59, 59, 999999, tzinfo=dt.UTC),
        doc_types=("analysis",),
        sources=("Wire B", "Wire C"),
        min_score=0.6,
    )
    loaded.store.search("embedding384d", query, 7, filters)
    (request,) = loaded.server.requests_to("/finnews/_search")
    body = request.body
    assert np.allclose(body["knn"].pop("query_vector"), query, atol=1e-7)
    assert body == {
        "knn": {
            "field": "embedding384d",
            "k": 7,
            "num_candidates": 70,
            "filter": [
                {
                    "range": {
                        "published_dt": {"gte": "2025-03-01T00:00:00+00:00", "lte": "2025-03-20T23:59:59.999999+00:00"}
                    }
                },
                {"terms": {"doc_type": ["analysis"]}},
                {"terms": {"source": ["Wire B", "Wire C"]}},
            ],
            # For cosine, Elasticsearch compares similarity with the raw cosine: 2 * 0.6 - 1, less
            # the half unit of the sixth decimal that a score shown as 0.6 may have been rounded up by.
            "similarity": pytest.approx(0.2 - 1e-6, abs=1e-12),
        },
        "size": 7,
        "_source": {"excludes": VECTORS},
    }


def test_num_candidates_is_the_factor_times_k_up_to_elasticsearch_limit(fake):
    store = ElasticsearchStore.from_settings(store_settings(fake, ES_NUM_CANDIDATES_FACTOR=150))
    vector = np.ones(384, np.float32)
    assert store.knn_query("embedding384d", vector, 10, SearchFilters())["num_candidates"] == 1500
    assert store.knn_query("embedding384d", vector, 100, SearchFilters())["num_candidates"] == 10_000
    assert Settings.model_fields["es_num_candidates_factor"].default >= 10  # the floor: at least 10 k


# -- the same results as the embedded store ----------------------------------------------------
@pytest.mark.parametrize(
    "filters",
    [
        SearchFilters(),
        SearchFilters(doc_types=("analysis",)),
        SearchFilters(sources=("Wire B", "Wire C")),
        SearchFilters(
            published_from=dt.datetime(2025, 3, 1, tzinfo=dt.UTC), published_to=dt.datetime(2025, 3, 20, tzinfo=dt.UTC)
        ),
        SearchFilters(doc_types=("news",), sources=("Wire A",), min_score=0.52),
        SearchFilters(sources=("Nowhere",)),
    ],
    ids=["none", "doc_type", "sources", "dates", "combined+min_score", "no-match"],
)
@pytest.mark.parametrize("field", VECTORS)
def test_results_equal_the_embedded_store(loaded, field, filters):
    query = loaded.vectors[field][42]
    for size in (1, 10, 100):
        ours = loaded.store.search(field, query, size, filters)
        reference = loaded.embedded.search(field, query, size, filters)
        assert [h.id for h in ours] == [h.id for h in reference]
        assert [h.score for h in ours] == pytest.approx([h.score for h in reference], abs=1e-6)
        assert [h.document for h in ours] == [h.document for h in reference]
        assert all(set(h.document).isdisjoint(VECTORS) for h in ours)


def test_min_score_keeps_exactly_the_documents_at_or_above_it(fake, store):
    make_index(store)
    query = np.zeros(384, np.float32)
    query[0] = 1.0
    documents, vectors = random_documents(4, seed=0)
    for row, cosine in enumerate([0.9, 0.5, 0.1, -0.3]):  # scores 0.95, 0.75, 0.55, 0.35
        vector = np.zeros(384, np.float32)
        vector[0], vector[1] = cosine, np.sqrt(1 - cosine**2)
        vectors["embedding384d"][row] = vector
    assert store.upsert(documents, vectors, TEST_META) == []
    for min_score, expected in [
        (0.6, ["doc-0", "doc-1"]),
        (0.5, ["doc-0", "doc-1", "doc-2"]),
        (0.96, []),
        (0.0, ["doc-0", "doc-1", "doc-2", "doc-3"]),
    ]:
        hits = store.search("embedding384d", query, 10, SearchFilters(min_score=min_score))
        assert [h.id for h in hits] == expected, min_score
    assert [h.score for h in hits] == pytest.approx([score_from_cosine(c) for c in (0.9, 0.5, 0.1, -0.3)], abs=1e-6)


# -- writing ---------------------------------------------------------------------------------
def test_bulk_lines_chunks_refresh_and_require_alias(fake, store):
    make_index(store)
    fake.requests.clear()
    documents, vectors = random_documents(600, seed=2)
    assert store.upsert(documents, vectors, TEST_META) == []
    bulks = fake.requests_to("/_bulk")
    lines = [line for request in bulks for line in request.body]
    assert [line for line in lines[0::2]] == [{"index": {"_index": "finnews", "_id": d["id"]}} for d in documents]
    first = lines[1]
    assert {k: v for k, v in first.items() if k not in VECTORS} == documents[0]
    for field in VECTORS:
        assert np.array_equal(np.asarray(first[field], np.float32), vectors[field][0])
    # Chunks within both limits, each through the alias only (require_alias), then one refresh.
    assert len(bulks) > 1
    for request in bulks:
        assert len(request.body) // 2 <= 500
        assert request.size <= 10 * 2**20
        assert request.params == {"require_alias": "true"}
    assert [r.method + " " + r.path for r in fake.requests if r.path.endswith("_refresh")] == ["POST /finnews/_refresh"]
    assert store.health().documents == 600


def test_upserts_are_idempotent_by_id(fake, store):
    make_index(store)
    documents, vectors = random_documents(20, seed=3)
    store.upsert(documents, vectors, TEST_META)
    replacement, new_vectors = random_documents(2, seed=4, start=5)
    replacement[0]["title"] = "Replaced"
    store.upsert(replacement, new_vectors, TEST_META)
    store.upsert(replacement, new_vectors, TEST_META)
    assert store.health().documents == 20
    hit = store.search("embedding384d", new_vectors["embedding384d"][0], 1, SearchFilters())[0]
    assert (hit.id, hit.document["title"]) == ("doc-5", "Replaced")
    fake.requests.clear()
    assert store.content_hashes(["doc-5", "doc-6", "missing"]) == {"doc-5": "sha-5", "doc-6": "sha-6"}
    (mget,) = fake.requests_to("/finnews/_mget")
    assert mget.body == {"ids": ["doc-5", "doc-6", "missing"]}
    assert mget.params == {"_source_includes": "content_sha256"}


def test_429_and_5xx_are_retried_with_backoff(fake, store, backoff):
    make_index(store)
    documents, vectors = random_documents(10, seed=5)
    fake.fail_requests("bulk", 503, times=1)  # the whole request
    fake.fail_documents(["doc-3"], 429, "es_rejected_execution_exception", "rejected execution", times=2)
    assert store.upsert(documents, vectors, TEST_META) == []
    assert backoff == [2.0, 4.0, 8.0]
    retried = fake.requests_to("/_bulk")
    assert [len(r.body) // 2 for r in retried] == [10, 10, 1, 1]  # then only the rejected document
    assert store.health().documents == 10


def test_refused_documents_are_reported_and_the_rest_kept(fake, store, backoff):
    make_index(store)
    documents, vectors = random_documents(10, seed=6)
    documents[4]["headline"] = "a field the strict mapping does not know"
    fake.fail_documents(["doc-7"], 429, "es_rejected_execution_exception", "queue full")  # never clears
    failures = store.upsert(documents, vectors, TEST_META)
    assert failures == [
        DocumentFailure(
            "doc-4",
            "Elasticsearch refused it: 400 strict_dynamic_mapping_exception: [1:2] mapping set to strict, "
            "dynamic introduction of [headline] within [_doc] is not allowed",
        ),
        DocumentFailure("doc-7", "Elasticsearch refused it: 429 es_rejected_execution_exception: queue full"),
    ]
    assert backoff == [2.0, 4.0, 8.0, 16.0, 32.0]  # five retries of doc-7, then it is reported
    assert store.health().documents == 8


def test_a_bulk_request_that_keeps_failing_raises_unavailable(fake, store, backoff):
    make_index(store)
    documents, vectors = random_documents(3, seed=7)
    fake.fail_requests("bulk", 503, times=100)
    with pytest.raises(StoreUnavailable, match="Elasticsearch answered 503 .indexing documents.: unavailable_shards"):
        store.upsert(documents, vectors, TEST_META)
    assert len(backoff) == 5


def test_writes_into_an_index_by_name_do_not_require_an_alias(fake, store):
    make_index(store, "finnews-next")
    fake.requests.clear()
    documents, vectors = random_documents(2, seed=8)
    reindex = ElasticsearchStore.from_settings(store_settings(fake, ES_INDEX="finnews-next"))
    assert reindex.upsert(documents, vectors, TEST_META) == []
    assert [r.params for r in fake.requests_to("/_bulk")] == [{}]
    assert store.health().documents == 2


# -- refusing to mix models ------------------------------------------------------------------
def test_an_index_of_other_models_is_refused_before_anything_is_written(fake, store):
    make_index(store)
    fake.requests.clear()
    documents, vectors = random_documents(2, seed=9)
    other = {**TEST_META, "models": {**TEST_META["models"], "sentiment": "finbert@other"}}
    with pytest.raises(IndexMismatch, match="vectors from different models are never mixed"):
        store.upsert(documents, vectors, other)
    assert not fake.requests_to("/_bulk")


def test_an_index_whose_vector_dims_differ_is_refused(fake, store):
    store.client.indices.create(
        index="finnews-old",
        aliases={"finnews": {}},
        mappings={
            "_meta": TEST_META,
            "properties": {
                "embedding384d": {"type": "dense_vector", "dims": 512, "index": True, "similarity": "cosine"},
                "embedding768d": {"type": "dense_vector", "dims": 768, "index": True, "similarity": "cosine"},
                "embedding1155d": {"type": "dense_vector", "dims": 1155, "index": True, "similarity": "cosine"},
            },
        },
    )
    message = "maps embedding384d as dense_vector with 512 dims, similarity cosine; this service needs dense_vector with 384 dims"
    with pytest.raises(IndexMismatch, match=message):
        store.index_meta()
    documents, vectors = random_documents(1, seed=10)
    with pytest.raises(IndexMismatch, match="512 dims"):
        store.upsert(documents, vectors, TEST_META)


def test_an_index_without_recorded_models_is_refused(fake, store):
    mappings = {
        "properties": {f: {"type": "dense_vector", "dims": d, "similarity": "cosine"} for f, d in FIELD_DIMS.items()}
    }
    store.client.indices.create(index="finnews-foreign", aliases={"finnews": {}}, mappings=mappings)
    with pytest.raises(IndexMismatch, match="records no models in its mapping's _meta"):
        store.index_meta()


def test_the_models_are_read_once_and_again_when_the_alias_moves(fake, store):
    make_index(store, "finnews-1")
    documents, vectors = random_documents(5, seed=11)
    store.upsert(documents, vectors, TEST_META)
    fake.requests.clear()
    for _ in range(5):
        store.index_meta()
        store.search("embedding384d", vectors["embedding384d"][0], 3, SearchFilters())
    assert len(fake.requests_to("/_mapping")) == 1
    # Another process (flask es switch-alias) moves the alias to an index of other models.
    other = {**TEST_META, "models": {**TEST_META["models"], "embedding384d": "a2"}}
    admin = ElasticsearchStore.from_settings(store_settings(fake))
    admin.put_template(other, 1, 0)
    admin.create_index("finnews-2", with_alias=False)
    ElasticsearchStore.from_settings(store_settings(fake, ES_INDEX="finnews-2")).upsert(documents, vectors, other)
    admin.switch_alias("finnews-2", ["finnews-1"], delete_old=False)
    assert store.index_meta() == TEST_META  # cached
    store.search("embedding384d", vectors["embedding384d"][0], 3, SearchFilters())  # answered by finnews-2
    assert store.index_meta() == other


# -- health, outages, recovery ---------------------------------------------------------------
def test_health_is_the_index_health_and_its_document_count(fake, store):
    make_index(store, replicas=1)
    documents, vectors = random_documents(7, seed=12)
    store.upsert(documents, vectors, TEST_META)
    health = store.health()
    assert (health.status, health.documents, health.available) == ("yellow", 7, True)  # one node: replica unassigned
    assert fake.requests_to("/_cluster/health/finnews")
    fake.red_indices.add("finnews-1")
    health = store.health()
    assert (health.status, health.available) == ("red", False)


def test_a_missing_alias_is_named_with_the_command_that_creates_it(fake, store):
    health = store.health()
    assert health.status == "unavailable"
    assert (
        health.detail
        == "the index or alias 'finnews' does not exist in Elasticsearch: create it with `flask es create-index`"
    )
    # The cluster health API would wait 30 s for a missing index: it is not asked.
    assert not fake.requests_to("/_cluster/health/finnews")
    with pytest.raises(StoreUnavailable, match="flask es create-index"):
        store.index_meta()
    with pytest.raises(StoreUnavailable, match="flask es create-index"):
        store.search("embedding384d", np.ones(384, np.float32), 3, SearchFilters())


@pytest.mark.parametrize(
    "outage, message",
    [
        ("stopped", "cannot connect to Elasticsearch (searching): Connection refused"),
        ("unavailable", "Elasticsearch answered 503 (searching): master_not_discovered_exception"),
        ("hanging", "Elasticsearch did not answer within 2 s (searching)"),
    ],
)
def test_an_outage_is_unavailable_and_recovery_needs_no_restart(fake, store, outage, message):
    make_index(store)
    documents, vectors = random_documents(5, seed=13)
    store.upsert(documents, vectors, TEST_META)
    query = vectors["embedding768d"][2]
    before = store.search("embedding768d", query, 3, SearchFilters())
    if outage == "stopped":
        fake.stop()
    else:
        setattr(fake, outage, True)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as caught:
        store.search("embedding768d", query, 3, SearchFilters())
    assert str(caught.value).startswith(message)
    assert time.monotonic() - started < 10  # a bounded wait, never a hang
    health = store.health()
    assert (health.status, health.documents, health.available) == ("unavailable", None, False)
    if outage == "stopped":
        fake.start()
    else:
        setattr(fake, outage, False)
    assert store.health().status == "green"
    assert store.search("embedding768d", query, 3, SearchFilters()) == before


@pytest.fixture
def sent(store, monkeypatch):
    """What the client hands its transport for each request: the path, and the timeout and
    retries that request really runs with."""
    transport = store.client.transport
    perform = transport.perform_request
    calls: list[dict] = []

    def recording(method, target, **options):
        calls.append({"target": target, **options})
        return perform(method, target, **options)

    monkeypatch.setattr(transport, "perform_request", recording)
    return calls


def test_health_is_one_check_within_the_store_timeout_and_never_retried(fake, store, sent, monkeypatch):
    import webapp.store.elasticsearch as module

    make_index(store)
    # The test's clock, which each request moves on by `step` seconds: the cluster health request
    # gets what the count left of the 2 s, so the whole check ends within them.
    clock = types.SimpleNamespace(now=100.0, step=1.5)
    monkeypatch.setattr(module, "time", types.SimpleNamespace(monotonic=lambda: clock.now))
    recording = store.client.transport.perform_request

    def taking_time(method, target, **options):
        clock.now += clock.step
        return recording(method, target, **options)

    monkeypatch.setattr(store.client.transport, "perform_request", taking_time)
    sent.clear()
    assert store.health().status == "green"
    assert [(c["target"], c["request_timeout"], c["max_retries"]) for c in sent] == [
        ("/finnews/_count", 2.0, 0),
        ("/_cluster/health/finnews", 0.5, 0),
    ]
    # Past the 2 s, the check is over: no request is sent that could only end later.
    clock.step = 2.5
    sent.clear()
    health = store.health()
    assert (health.status, health.detail) == (
        "unavailable",
        "Elasticsearch did not answer within 2 s (reading the cluster health)",
    )
    assert [c["target"] for c in sent] == ["/finnews/_count"]


@pytest.mark.parametrize("fault", ["answering 503", "answering 429", "hanging"])
def test_health_asks_a_slow_or_refusing_cluster_once(fake, store, fault):
    make_index(store)
    fake.requests.clear()
    if fault == "hanging":
        fake.hanging = True
    else:
        fake.fail_requests("count", int(fault.split()[1]), times=1)
    try:
        assert store.health().status == "unavailable"
    finally:
        fake.hanging = False
    assert [r.path for r in fake.requests] == ["/finnews/_count"]


def test_searches_retry_only_what_never_reached_a_node(fake, store, sent):
    make_index(store)
    documents, vectors = random_documents(5, seed=14)
    store.upsert(documents, vectors, TEST_META)
    query = vectors["embedding384d"][0]
    # A cluster that pushes back is not asked again at once: that would multiply its load.
    for status in (429, 503):
        fake.fail_requests("search", status, times=1)
        asked = len(fake.requests_to("/_search"))
        with pytest.raises(StoreUnavailable, match=f"answered {status}"):
            store.search("embedding384d", query, 3, SearchFilters())
        assert len(fake.requests_to("/_search")) == asked + 1
    searches = [c for c in sent if c["target"].endswith("/_search")]
    retries = {(c["max_retries"], tuple(c["retry_on_status"]), c["retry_on_timeout"]) for c in searches}
    assert retries == {(2, (), False)}  # twice, and only what never reached a node
    # A node that cannot be reached costs a retry on another.
    two_nodes = ElasticsearchStore.from_settings(
        store_settings(fake, ES_HOSTS=f'["http://127.0.0.1:{free_port()}", "{fake.url}"]')
    )
    try:
        for _ in range(4):
            assert len(two_nodes.search("embedding384d", query, 3, SearchFilters())) == 3
    finally:
        two_nodes.close()


def test_a_server_that_is_not_elasticsearch_is_unavailable(fake, store):
    make_index(store)
    fake.product_header = False  # a proxy or another product answers 200 without the header
    newcomer = ElasticsearchStore.from_settings(store_settings(fake))  # the client checks once, on its first 2xx
    with pytest.raises(StoreUnavailable, match="does not answer as Elasticsearch does"):
        newcomer.index_meta()


@pytest.mark.parametrize("version", ["8.19.3", "9.1.4"])
def test_the_client_talks_to_elasticsearch_8_and_9(version):
    server = FakeElasticsearch(version=version).start()
    try:
        store = ElasticsearchStore.from_settings(store_settings(server))
        make_index(store)
        assert store.cluster()["version"] == version
        accept = server.requests[-1].headers["Accept"]
        # A 9.x client asks for compatible-with=9, which 8.x servers refuse; the 8.x client is
        # served by both (Elasticsearch 9 answers its 8.x REST compatibility).
        assert accept == "application/vnd.elasticsearch+json; compatible-with=8"
        refused = requests.get(server.url, headers={"Accept": "application/vnd.elasticsearch+json; compatible-with=10"})
        assert refused.status_code == 400 and refused.json()["error"]["type"] == "media_type_header_exception"
    finally:
        server.close()


# -- configuration, credentials, TLS ---------------------------------------------------------
def test_an_api_key_is_sent_and_never_repeated(caplog):
    secret = "c2VjcmV0LWlkOnNlY3JldC1rZXk="
    server = FakeElasticsearch(api_key=secret).start()
    try:
        with caplog.at_level(logging.DEBUG):
            store = ElasticsearchStore.from_settings(store_settings(server, ES_API_KEY=secret))
            make_index(store)
            assert server.requests[-1].headers["Authorization"] == f"ApiKey {secret}"
            wrong = ElasticsearchStore.from_settings(store_settings(server, ES_API_KEY="d3Jvbmc6a2V5"))
            health = wrong.health()
        assert health.status == "unavailable"
        assert health.detail == (
            "Elasticsearch refused the credentials (401): check FINNEWS_ES_API_KEY, or FINNEWS_ES_USERNAME and FINNEWS_ES_PASSWORD"
        )
        assert "API key" in caplog.text
        assert secret not in caplog.text and "d3Jvbmc6a2V5" not in caplog.text
    finally:
        server.close()


def test_username_and_password_are_sent_as_basic_auth():
    server = FakeElasticsearch(basic_auth=("finnews", "123456")).start()
    try:
        store = ElasticsearchStore.from_settings(store_settings(server, ES_USERNAME="finnews", ES_PASSWORD="123456"))
        make_index(store)
        assert store.health().status == "green"
    finally:
        server.close()


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"ES_HOSTS": None}, "FINNEWS_ES_HOSTS is not set"),
        ({"ES_HOSTS": "https://elastic:s3cret@es.internal:9200"}, "must not carry credentials"),
        ({"ES_HOSTS": "es.internal:9200"}, "is not an http"),
        ({"ES_API_KEY": "k", "ES_USERNAME": "u", "ES_PASSWORD": "p"}, "not both"),
        ({"ES_USERNAME": "u"}, "go together"),
        ({"ES_VERIFY_CERTS": "maybe"}, "FINNEWS_ES_VERIFY_CERTS: Input should be a valid boolean"),
    ],
)
def test_bad_configuration_is_refused_at_start(fake, overrides, message):
    with pytest.raises(SettingsError, match=message) as caught:
        store_settings(fake, **overrides)
    assert "s3cret" not in str(caught.value)


def test_secrets_from_the_environment_are_taken_verbatim(monkeypatch, tmp_path):
    from webapp import SETTINGS, create_app

    for key, value in {"STORE_BACKEND": "elasticsearch", "ES_HOSTS": "http://127.0.0.1:9", "ES_USERNAME": "007",
                       "ES_PASSWORD": "123456", "ES_VERIFY_CERTS": "false", "MODEL_CACHE_DIR": str(tmp_path)}.items():  # fmt: skip
        monkeypatch.setenv(f"FINNEWS_{key}", value)
    settings = create_app().extensions[SETTINGS]
    assert (settings.es_username.get_secret_value(), settings.es_password.get_secret_value()) == ("007", "123456")
    assert settings.es_verify_certs is False


def _certificates(folder):
    """A private CA and a certificate it signed for 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)

    def certificate(subject, issuer, key, signing_key, extensions):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(signing_key, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = certificate("test CA", "test CA", ca_key, ca_key, [(x509.BasicConstraints(ca=True, path_length=0), True)])
    import ipaddress

    server = certificate(
        "127.0.0.1",
        "test CA",
        server_key,
        ca_key,
        [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
        ],
    )
    paths = {name: folder / f"{name}.pem" for name in ("ca", "server", "server-key")}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["server"].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths["server-key"].write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


def test_tls_is_verified_by_default_and_a_ca_bundle_can_be_given(tmp_path, caplog):
    paths = _certificates(tmp_path)
    server = FakeElasticsearch(ssl_context=(str(paths["server"]), str(paths["server-key"]))).start()
    try:
        assert server.url.startswith("https://")
        default = ElasticsearchStore.from_settings(store_settings(server)).health()
        assert default.status == "unavailable"
        assert "certificate verify failed" in default.detail and "FINNEWS_ES_CA_CERTS" in default.detail
        trusted = ElasticsearchStore.from_settings(store_settings(server, ES_CA_CERTS=str(paths["ca"])))
        make_index(trusted)
        assert trusted.health().status == "green"
        with caplog.at_level(logging.WARNING), pytest.warns(SecurityWarning, match="verify_certs=False is insecure"):
            unverified = ElasticsearchStore.from_settings(store_settings(server, ES_VERIFY_CERTS=False))
        assert "FINNEWS_ES_VERIFY_CERTS is false" in caplog.text
        with pytest.warns(InsecureRequestWarning):
            assert unverified.health().status == "green"
    finally:
        server.close()
