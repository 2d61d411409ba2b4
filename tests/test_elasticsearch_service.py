"""The service on the Elasticsearch backend (a fake node, tests/fake_elasticsearch.py): the
`flask es` commands, `flask ingest` into Elasticsearch, the HTTP API through an outage and its
recovery (in-process and under gunicorn), and the compose file for a real local trial."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import yaml

from tests.fake_elasticsearch import FakeElasticsearch
from tests.helpers import ROOT, es_config
from tests.test_ingest import record, write_jsonl
from tests.test_store_elasticsearch import store_settings
from tools.benchmark import free_port, start_server
from webapp.ingest import ingest
from webapp.settings import Settings
from webapp.store.elasticsearch import ElasticsearchStore


@pytest.fixture
def server():
    fake = FakeElasticsearch().start()
    yield fake
    fake.close()


@pytest.fixture
def es_app(make_app, tmp_path, server):
    """An app on the alias "news" of a fresh fake node; call it with overrides for another."""

    def factory(**overrides):
        return make_app(tmp_path / "unused-embedded-index", **es_config(server, **{"index": "news", **overrides}))

    return factory


def run(app, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


def other_models(meta: dict) -> dict:
    return {**meta, "models": {**meta["models"], "sentiment": "finbert@0000000"}}


def test_create_index_status_reindex_and_switch_alias(es_app, server, registry, tmp_path):
    app = es_app()
    created = run(app, "es", "create-index", "--replicas", "0")
    assert created.exit_code == 0, created.output
    assert "created index 'news-000001' behind the alias 'news'" in created.output
    template = server.requests_to("/_index_template/news", "PUT")[-1].body
    assert template["index_patterns"] == ["news-*"]
    assert template["template"]["mappings"]["_meta"] == registry.index_meta()
    assert template["template"]["settings"] == {"number_of_shards": 1, "number_of_replicas": 0}

    again = run(app, "es", "create-index", "--replicas", "0")  # every release runs it
    assert again.exit_code == 0 and "exists and fits this service's models" in again.output
    assert sorted(server.indices) == ["news-000001"]

    ingested = run(app, "ingest", str(write_jsonl(tmp_path / "a.jsonl", [record(i) for i in range(3)])))
    assert ingested.exit_code == 0 and "3 added" in ingested.output, ingested.output
    status = run(app, "es", "status")
    assert status.exit_code == 0, status.output
    assert "cluster 'fake-cluster': Elasticsearch 8.19.3, health green" in status.output
    assert "alias 'news' -> news-000001: 3 documents, health green" in status.output
    assert registry.index_meta()["models"]["sentiment"] in status.output
    assert "this service's models: the same" in status.output

    # A reindex: a new index beside the live one, filled while the alias still serves the old.
    reindex = run(app, "es", "create-index", "--next", "--replicas", "0")
    assert reindex.exit_code == 0, reindex.output
    assert "created index 'news-000002'; the alias 'news' still points to news-000001" in reindex.output
    empty = run(app, "es", "switch-alias", "news-000002")
    assert empty.exit_code == 1 and "holds no documents" in empty.output
    filled = run(es_app(index="news-000002"), "ingest", str(write_jsonl(tmp_path / "b.jsonl", [record(i) for i in range(10, 14)])))  # fmt: skip
    assert filled.exit_code == 0 and "4 added" in filled.output, filled.output
    switched = run(app, "es", "switch-alias", "news-000002", "--delete-old")
    assert switched.exit_code == 0, switched.output
    assert "alias 'news' -> 'news-000002' (4 documents); it pointed to news-000001 (3 documents)" in switched.output
    assert server.requests_to("/_aliases")[-1].body == {
        "actions": [
            {"remove": {"index": "news-000001", "alias": "news"}},
            {"add": {"index": "news-000002", "alias": "news", "is_write_index": True}},
            {"remove_index": {"index": "news-000001"}},
        ]
    }
    assert sorted(server.indices) == ["news-000002"]
    hits = app.test_client().post("/search/cosine/embedding384d/", json={"query": "Harbor Bank", "size": 10})
    assert sorted(h["id"] for h in hits.get_json()["results"]) == ["n-10", "n-11", "n-12", "n-13"]


def test_an_index_of_other_models_is_refused_everywhere(es_app, server, registry, tmp_path):
    admin = ElasticsearchStore.from_settings(store_settings(server, ES_INDEX="news"))
    admin.put_template(other_models(registry.index_meta()), 1, 0)
    admin.create_index(admin.next_index_name(), with_alias=True)
    app = es_app()
    create = run(app, "es", "create-index")
    assert create.exit_code == 1 and "sentiment vectors were built with finbert@0000000" in create.output
    assert server.templates["news"]["body"]["template"]["mappings"]["_meta"] == other_models(registry.index_meta())
    status = run(app, "es", "status")
    assert status.exit_code == 1 and "this service cannot search it" in status.output
    ingest = run(app, "ingest", str(write_jsonl(tmp_path / "a.jsonl", [record(1)])))
    assert ingest.exit_code == 1 and "finbert@0000000" in ingest.output
    assert not server.requests_to("/_bulk")
    search = app.test_client().post("/search/cosine/embedding1155d/", json={"query": "banks"})
    assert search.status_code == 409 and search.get_json()["error"] == "index_model_mismatch"
    # A field whose models match (384-d MiniLM) still answers: the mismatch is the sentiment model.
    assert app.test_client().post("/search/cosine/embedding384d/", json={"query": "banks"}).status_code == 200
    switch = run(app, "es", "switch-alias", "news-000001")
    assert switch.exit_code == 1 and "finbert@0000000" in switch.output


def test_ingest_reports_refused_documents_and_resumes(es_app, server, tmp_path):
    app = es_app()
    assert run(app, "es", "create-index", "--replicas", "0").exit_code == 0
    source = write_jsonl(tmp_path / "news.jsonl", [record(i) for i in range(5)])
    server.fail_documents(["n-2"], 400, "document_parsing_exception", "failed to parse field [title]", times=1)
    first = run(app, "ingest", str(source), "--rejects", str(tmp_path / "rejects.jsonl"))
    assert first.exit_code == 1
    assert "not stored n-2: Elasticsearch refused it: 400 document_parsing_exception: failed to parse field [title]" in first.output  # fmt: skip
    assert "4 added, 0 updated, 0 unchanged, 0 rejected, 1 refused by the store" in first.output
    rejects = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert rejects == [{"id": "n-2", "reason": "Elasticsearch refused it: 400 document_parsing_exception: failed to parse field [title]"}]  # fmt: skip
    again = run(app, "ingest", str(source))
    assert again.exit_code == 0 and "1 added, 0 updated, 4 unchanged" in again.output, again.output
    assert app.test_client().get("/health").get_json()["store"]["documents"] == 5


def test_ingest_without_an_index_or_a_cluster_says_what_to_do(es_app, server, tmp_path):
    app = es_app()
    source = write_jsonl(tmp_path / "news.jsonl", [record(1)])
    missing = run(app, "ingest", str(source))
    assert missing.exit_code == 1
    assert (
        "the index or alias 'news' does not exist in Elasticsearch: create it with `flask es create-index`"
        in missing.output
    )
    server.stop()
    down = run(app, "ingest", str(source))
    assert down.exit_code == 1 and "cannot connect to Elasticsearch" in down.output
    assert "run the ingest again to resume" in down.output
    assert run(app, "es", "status").exit_code == 1


def test_es_commands_need_the_elasticsearch_backend(make_app, tmp_path):
    result = run(make_app(tmp_path / "index"), "es", "status")
    assert result.exit_code == 1 and "set FINNEWS_STORE_BACKEND=elasticsearch" in result.output


@pytest.mark.parametrize("outage", ["stopped", "unavailable"])
def test_the_api_answers_503_while_elasticsearch_is_down_and_recovers(es_app, server, tmp_path, outage):
    app = es_app(HEALTH_MAX_AGE=0)  # every check sees the outage at once, not a health of before it
    assert run(app, "es", "create-index", "--replicas", "0").exit_code == 0
    assert run(app, "ingest", str(write_jsonl(tmp_path / "n.jsonl", [record(i) for i in range(6)]))).exit_code == 0
    client = app.test_client()
    query = {"query": "Harbor Bank fee income", "size": 3}
    before = client.post("/search/cosine/embedding768d/", json=query).get_json()["results"]
    assert len(before) == 3 and client.get("/health/ready").status_code == 200
    if outage == "stopped":
        server.stop()
    else:
        server.unavailable = True
    search = client.post("/search/cosine/embedding768d/", json=query)
    assert search.status_code == 503
    error = search.get_json()
    assert error["error"] == "store_unavailable"
    # What failed, and how, is in the log under the request's id, never in the answer.
    assert error["message"] == "the search store is unavailable; retry later" and error["request_id"]
    ready = client.get("/health/ready")
    assert ready.status_code == 503 and ready.get_json()["reason"] == "store unavailable"
    assert "Elasticsearch" in ready.get_json()["detail"]  # development: everyone sees the detail
    health = client.get("/health")
    assert health.status_code == 503 and health.get_json()["status"] == "unavailable"
    assert health.get_json()["store"]["status"] == "unavailable"
    assert client.get("/health/live").status_code == 200
    if outage == "stopped":
        server.start()
    else:
        server.unavailable = False
    assert client.get("/health/ready").status_code == 200
    assert client.post("/search/cosine/embedding768d/", json=query).get_json()["results"] == before


def test_a_burst_of_health_checks_asks_a_slow_cluster_once(es_app, server, registry):
    admin = ElasticsearchStore.from_settings(store_settings(server, ES_INDEX="news"))
    admin.put_template(registry.index_meta(), 1, 0)
    admin.create_index(admin.next_index_name(), with_alias=True)
    app = es_app()
    asked = len(server.requests)
    server.hanging = True  # a slow cluster: it answers once let go
    paths = ["/health", "/health/ready"] * 6
    with ThreadPoolExecutor(len(paths)) as pool:
        first = pool.submit(app.test_client().get, paths[0])
        while len(server.requests) == asked:
            assert not first.done(), first.result().get_json()
            time.sleep(0.01)
        others = [pool.submit(app.test_client().get, path) for path in paths[1:]]
        time.sleep(0.5)  # the others come while the one call waits for the cluster
        server.hanging = False
        answers = [first.result(), *(other.result() for other in others)]
    assert [answer.status_code for answer in answers] == [200] * len(paths)
    assert [request.path for request in server.requests[asked:]] == ["/news/_count", "/_cluster/health/news"]


# -- under gunicorn ------------------------------------------------------------------------
def node_with_news(registry, model_cache_dir, folder: Path, api_key: str | None = None):
    """A fake node holding eight ingested records behind the alias "news" (asking for `api_key`
    when given), and the FINNEWS_* settings of a service on it."""
    fake = FakeElasticsearch(api_key=api_key).start()
    credentials = {"ES_API_KEY": api_key} if api_key else {}
    store = ElasticsearchStore.from_settings(store_settings(fake, ES_INDEX="news", **credentials))
    store.put_template(registry.index_meta(), 1, 0)
    store.create_index(store.next_index_name(), with_alias=True)
    ingest([write_jsonl(folder / "n.jsonl", [record(i) for i in range(8)])], registry, store, progress=False)
    settings = {
        "FINNEWS_MODEL_CACHE_DIR": str(model_cache_dir),
        "FINNEWS_STORE_BACKEND": "elasticsearch",
        "FINNEWS_ES_HOSTS": fake.url,
        "FINNEWS_ES_INDEX": "news",
        **{f"FINNEWS_{name}": value for name, value in credentials.items()},
    }
    return fake, settings


@pytest.fixture
def gunicorn_on_elasticsearch(model_cache_dir, registry, tmp_path):
    """gunicorn (two workers) on a fake node that demands an API key; yields (url, fake, log)."""
    secret = "Z3VuaWNvcm4tdGVzdDpkby1ub3QtbG9nLW1l"
    fake, settings = node_with_news(registry, model_cache_dir, tmp_path, api_key=secret)
    # FINNEWS_HEALTH_MAX_AGE: every check sees the outage at once, not a health of before it.
    settings |= {"FINNEWS_ES_REQUEST_TIMEOUT": "2", "FINNEWS_ALLOW_ANONYMOUS": "1", "FINNEWS_HEALTH_MAX_AGE": "0"}
    server = start_server(settings, free_port(), workers=2, log=tmp_path / "gunicorn.log", timeout=120)
    yield server.url, fake, server.log, secret, server.process
    server.stop()
    fake.stop()


def _ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/health/ready", timeout=5).status_code == 200
    except requests.ConnectionError:
        return False


@pytest.mark.slow
def test_gunicorn_stays_up_through_an_outage_and_recovers_by_itself(gunicorn_on_elasticsearch):
    url, fake, log_path, secret, process = gunicorn_on_elasticsearch
    query = {"query": "Harbor Bank deposits", "size": 5}
    before = requests.post(f"{url}/search/cosine/embedding384d/", json=query, timeout=30).json()["results"]
    assert len(before) == 5
    fake.close()
    for _ in range(6):  # both workers, several times
        search = requests.post(f"{url}/search/cosine/embedding384d/", json=query, timeout=30)
        assert search.status_code == 503 and search.json()["error"] == "store_unavailable"
        assert requests.get(f"{url}/health/ready", timeout=10).status_code == 503
    assert requests.get(f"{url}/health/live", timeout=10).status_code == 200
    assert process.poll() is None
    fake.start()
    deadline = time.monotonic() + 30
    while not _ready(url):
        assert time.monotonic() < deadline, "the service did not recover when Elasticsearch came back"
        time.sleep(0.5)
    for _ in range(4):
        after = requests.post(f"{url}/search/cosine/embedding384d/", json=query, timeout=30)
        assert after.status_code == 200 and after.json()["results"] == before
    log = log_path.read_text()
    assert "store unavailable: cannot connect to Elasticsearch" in log
    assert "Traceback" not in log
    assert secret not in log


# -- the compose file ----------------------------------------------------------------------
def test_the_compose_file_runs_the_service_on_a_secured_elasticsearch():
    compose = yaml.safe_load((ROOT / "docker" / "compose.yml").read_text())
    services = compose["services"]
    api, elasticsearch = services["api"], services["elasticsearch"]
    assert api["build"] == {"context": "..", "dockerfile": "docker/Dockerfile.api"}
    assert (Path(ROOT / "docker") / api["build"]["context"]).resolve() == ROOT
    settings = {name.upper() for name in Settings.model_fields}
    finnews = {key.removeprefix("FINNEWS_") for key in api["environment"] if key.startswith("FINNEWS_")}
    assert finnews <= settings, finnews - settings
    assert api["environment"]["FINNEWS_STORE_BACKEND"] == "elasticsearch"
    assert api["environment"]["FINNEWS_ES_HOSTS"].startswith("https://elasticsearch:")
    environment = elasticsearch["environment"]
    assert environment["xpack.security.enabled"] == "true"
    assert environment["xpack.security.http.ssl.enabled"] == "true"
    assert environment["discovery.type"] == "single-node"
    # No secret in the file: passwords come from the environment of whoever runs it.
    for service in services.values():
        for key, value in (service.get("environment") or {}).items():
            if "PASSWORD" in key or "API_KEY" in key:
                assert str(value).startswith("${"), (key, value)
    assert all(port.startswith("127.0.0.1:") for s in services.values() for port in s.get("ports", []))
