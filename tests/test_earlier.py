"""Moving over from the earlier system: its records read by `flask ingest` through the one
declared mapping (webapp/earlier.py), its live index imported by `flask es import-earlier` from a
fake Elasticsearch node (tests/fake_elasticsearch.py), and our answers read the way its clients
read them.

The fixtures (tests/fixtures/earlier_*.jsonl) are invented records written for these tests: every
earlier name of both shapes, both date forms, empty and missing published_dt, themes as strings
and lists, missing optional fields, and fields outside the shapes.
"""

from __future__ import annotations

import copy
import datetime as dt
import json

import numpy as np
import pytest
from elasticsearch import Elasticsearch

from tests.fake_elasticsearch import FakeElasticsearch
from tests.helpers import ROOT, SAMPLE, es_config
from tools.earlier_import import EARLIER_INDEX, earlier_document, load_earlier_index
from webapp import earlier, ingest
from webapp.embedding import compose
from webapp.fields import ENCODED_FIELDS, FIELD_DIMS, FIELDS, SENTIMENT_LABELS
from webapp.ingest import REUSE_MIN_COSINE, IngestReport, VectorCheck, read_records
from webapp.schemas import GDELT_DATE_FORMAT, LIST_MAX_ITEMS, SHORT_TEXT_MAX, NewsRecord
from webapp.settings import load_settings
from webapp.store import StoreError, StoreUnavailable
from webapp.store import elasticsearch as es_store
from webapp.store.elasticsearch import EarlierIndex
from webapp.store.embedded import EmbeddedStore

FIXTURES = ROOT / "tests" / "fixtures"
API_RESULTS = FIXTURES / "earlier_api_results.jsonl"
ES_DOCUMENTS = FIXTURES / "earlier_es_documents.jsonl"
COMPOSED = next(f for f in FIELDS if f.parts)
DATED_INDEX = f"{EARLIER_INDEX}-2025.05"


def rows(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_jsonl(path, records) -> object:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def gdelt(value: str) -> str:
    return dt.datetime.fromisoformat(value).astimezone(dt.UTC).strftime(GDELT_DATE_FORMAT)


# -- the mapping, the shapes, the fixtures (no models) --------------------------------------
def test_the_moving_page_shows_the_declared_mapping():
    page = (ROOT / "docs" / "moving-from-the-earlier-api.md").read_text()
    assert earlier.markdown_table() in page, (
        "paste webapp.earlier.markdown_table() into docs/moving-from-the-earlier-api.md (Field by field):\n"
        + earlier.markdown_table()
    )


def test_the_fixtures_hold_every_earlier_name_and_every_case():
    api, es = rows(API_RESULTS), rows(ES_DOCUMENTS)
    sources = [row.get("_source", row) for row in es]
    assert earlier.SHAPE_NAMES[earlier.EARLIER_API] <= {key for row in api for key in row}
    # The import tests add the two vectors our models can have made.
    assert earlier.SHAPE_NAMES[earlier.EARLIER_ES] - set(earlier.EARLIER_VECTORS) <= {k for s in sources for k in s}
    assert any("_source" not in row and "id" in row for row in es), "a bare document with an id"
    for records, dated in ((api, "date"), (sources, "DATE")):
        iso_names = [n for n in ("published_dt", "published_at") if any(n in r for r in records)]
        undated = [r for r in records if not any(r.get(n) for n in iso_names)]
        assert any(r.get("published_dt") == "" for r in records), "an empty published_dt"
        assert any(len(str(r.get("date", r.get("DATE", "")))) == 14 for r in undated), "a GDELT timestamp in use"
        assert any(dated in r for r in records)
        assert any(len(str(r.get("date", r.get("DATE", "")))) == 8 for r in undated), "a GDELT date alone"
    themes = [r.get(n) for r in api + sources for n in ("themes", "V2Themes", "v2_themes") if n in r]
    assert any(isinstance(t, str) for t in themes) and any(isinstance(t, list) for t in themes)
    assert any(not {"summary", "full_text", "themes", "organizations", "sentiment"} & set(r) for r in api)
    assert any(not {"news_summary", "summary", "V2Themes", "v2_themes", "themes"} & set(r) for r in sources)


def test_each_record_is_recognised_by_its_shape():
    assert {earlier.detect(row)[0] for row in rows(API_RESULTS)} == {earlier.EARLIER_API}
    assert {earlier.detect(row)[0] for row in rows(ES_DOCUMENTS)} == {earlier.EARLIER_ES}
    ours = [json.loads(line) for line in SAMPLE.read_text().splitlines()[:200]]
    assert {earlier.detect(row)[0] for row in ours} == {earlier.NATIVE}
    # Nothing tells: our strict validation applies (and says that source is missing).
    assert earlier.detect({"id": "x", "title": "t", "url": "https://a.example/x"}) == (earlier.NATIVE, ())
    assert earlier.detect({"id": "x", "title": "t", "date": "20250101000000", "doc_type": "news"})[0] == "earlier-es"
    assert earlier.detect({"_id": "x", "_source": "not an object"})[0] == earlier.EARLIER_ES


def test_files_of_earlier_records_map_with_no_rejects():
    report = IngestReport()
    records = {r.id: r for r in read_records([API_RESULTS, ES_DOCUMENTS], report)}
    assert report.rejected == [] and report.notes == [] and report.read == 12 and len(records) == 12
    assert {source: {f: seen.records for f, seen in formats.items()} for source, formats in report.formats.items()} == {
        str(API_RESULTS): {"earlier-api": 6},
        str(ES_DOCUMENTS): {"earlier-es": 6},
    }
    assert report.ignored_fields == {"cluster_id": 1, "highlight_html": 1, "crawl_batch": 1}
    utc = dt.UTC
    expected = {
        # full_text is our body; the outlet is the URL's host; published_dt wins over date.
        "ea-0001": {"body": rows(API_RESULTS)[0]["full_text"], "source": "harborwire.example",
                    "published_dt": dt.datetime(2025, 3, 12, 9, 30, tzinfo=utc), "doc_type": "news"},
        # An empty published_dt: the GDELT date, in UTC.
        "ea-0002": {"published_dt": dt.datetime(2025, 4, 2, 14, 15, tzinfo=utc), "themes": ["mining", "commodities"]},
        # No published_dt, a GDELT date alone; themes as one string; full_text null.
        "ea-0003": {"published_dt": dt.datetime(2025, 5, 19, tzinfo=utc), "themes": ["deals", "consumer"], "body": None},
        "ea-0004": {"published_dt": dt.datetime(2025, 6, 5, 8, 30, tzinfo=utc), "summary": None},
        # A number for date; an upper-case host with www.; no optional field at all.
        "ea-0005": {"published_dt": dt.datetime(2025, 6, 21, 8, tzinfo=utc), "source": "quaysidewire.example",
                    "summary": None, "body": None, "themes": [], "organizations": []},
        # GDELT V2 strings: offsets and repeats dropped; published_at before DATE.
        "es-0001": {"themes": ["AUTOS_RECALL", "SAFETY"], "organizations": ["Orchard Motors", "National Road Safety Office"],
                    "published_dt": dt.datetime(2025, 2, 3, 11, tzinfo=utc), "quality_score": 0.74,
                    "title": "Orchard Motors recalls thirty thousand vans over a brake fault"},
        "es-0002": {"themes": ["cloud computing", "earnings"], "doc_type": "analysis", "source": "evergale.example"},
        "es-0003": {"published_dt": dt.datetime(2025, 3, 10, 7, 30, tzinfo=utc), "organizations": ["Tidewater Shipping"],
                    "summary": None},
        # A bare document with its id; a time without zone is UTC.
        "es-0004": {"published_dt": dt.datetime(2025, 4, 17, 9, 15, tzinfo=utc), "themes": []},
        "es-0005": {"published_dt": dt.datetime(2025, 5, 8, tzinfo=utc), "themes": ["ENV_WINDPOWER", "ENERGY"],
                    "organizations": ["Northbay Energy", "Coastal Licensing Board"], "body": None},
        "es-0006": {"published_dt": dt.datetime(2025, 5, 20, 4, 45, tzinfo=utc), "body": None},
    }  # fmt: skip
    for record_id, fields in expected.items():
        assert {name: getattr(records[record_id], name) for name in fields} == fields, record_id


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"score": 0.5, "title": "T", "url": "https://a.example/1", "date": "20250101000000"}, "no id"),
        (
            {"id": "a2", "score": 0.5, "title": "T", "url": "https://a.example/2", "published_dt": ""},
            "no publication date: published_dt and date are all empty or missing",
        ),
        (
            {
                "id": "a3",
                "score": 0.5,
                "title": "T",
                "url": "https://a.example/3",
                "published_dt": "",
                "date": "2025-13",
            },
            "date: '2025-13' is not a GDELT date (YYYYMMDDhhmmss)",
        ),
        (
            {"id": "a4", "score": 0.5, "title": "T", "url": "https://a.example/4", "date": "20251345000000"},
            "is not a GDELT date",
        ),
        ({"id": "a5", "score": 0.5, "title": "T", "date": "20250101000000"}, "no url, and the outlet"),
        ({"id": "a6", "score": 0.5, "title": "T", "url": "no host", "date": "20250101000000"}, "has no host"),
        ({"id": "a7", "score": 0.5, "url": "https://a.example/7", "date": "20250101000000"}, "title: Field required"),
        (
            {"_id": "e1", "_source": {"news_body": "B", "url": "https://a.example/e1", "DATE": "20250101000000"}},
            "title (from news_title or title): Field required",
        ),
        (
            {
                "_id": "e2",
                "_source": {
                    "news_title": "T",
                    "news_body": "x" * 100_001,
                    "url": "https://a.example/e2",
                    "DATE": "20250101000000",
                },
            },
            "body (from news_body): String should have at most 100000 characters",
        ),  # fmt: skip
        (
            {"_id": "e3", "_source": {"news_title": "T", "url": "https://a.example/e3", "published_at": "yesterday"}},
            "published_dt (from published_at): Input should be a valid datetime",
        ),
        ({"_id": "e4", "_source": "not an object"}, "_source is not a JSON object"),
        (
            {"news_title": "T", "url": "https://a.example/e5", "DATE": "20250101000000"},
            "no id: give the Elasticsearch hit",
        ),
    ],
)
def test_a_record_without_what_ours_requires_is_refused_with_the_reason(tmp_path, row, reason):
    good = rows(API_RESULTS)[0]
    report = IngestReport()
    records = read_records([write_jsonl(tmp_path / "mixed.jsonl", [good, row])], report)
    assert [r.id for r in records] == [good["id"]]
    assert len(report.rejected) == 1 and report.rejected[0].line == 2
    assert reason in report.rejected[0].reason


def test_a_given_format_reads_every_row_as_that_format(tmp_path):
    report = IngestReport()
    # Our own strictness for native records: an earlier record is not one of ours.
    assert read_records([API_RESULTS], report, fmt="native") == []
    assert (
        "source: Field required" in report.rejected[0].reason and "full_text: Extra inputs" in report.rejected[0].reason
    )
    report = IngestReport()
    # As earlier-api, what only the Elasticsearch documents have is outside the shape: ignored, counted.
    both = {"id": "x1", "title": "T", "url": "https://a.example/x1", "date": "20250101000000", "news_body": "B",
            "V2Themes": "ECON_X,3", "doc_type": "analysis"}  # fmt: skip
    path = write_jsonl(tmp_path / "as-api.jsonl", [both, {"_id": "x2", "_source": {"news_title": "T"}}])
    [record] = read_records([path], report, fmt="earlier-api")
    assert (record.body, record.themes, record.doc_type) == (None, [], "news")
    assert report.ignored_fields == {"news_body": 1, "V2Themes": 1, "doc_type": 1}
    assert [r.reason for r in report.rejected] == ["no id"]
    assert report.formats[str(path)]["earlier-api"].given
    csv_file = tmp_path / "news.csv"
    csv_file.write_text("id,title\n1,t\n")
    report = IngestReport()
    assert read_records([csv_file], report, fmt="earlier-es") == []
    assert report.rejected[0].reason == "earlier-es records are read from JSON Lines, not CSV"


def test_themes_and_organizations_keep_what_our_schema_keeps(tmp_path):
    assert earlier.split_terms("ECON_X,12;TAX_Y,40;ECON_X,99", "V2Themes") == (["ECON_X", "TAX_Y"], [])
    assert earlier.split_terms("a, b,,c; a", "v2_themes") == (["a", "b", "c"], [])
    assert earlier.split_terms([" a ", "", "b", "a"], "themes") == (["a", "b"], [])
    many = ";".join(f"THEME_{i},{i * 10}" for i in range(LIST_MAX_ITEMS + 12))
    long_name = "X" * (SHORT_TEXT_MAX + 1)
    row = {"_id": "e1", "_source": {"news_title": "T", "url": "https://a.example/1", "DATE": "20250101000000",
                                    "V2Themes": many, "organizations": ["Acme", long_name]}}  # fmt: skip
    report = IngestReport()
    [record] = read_records([write_jsonl(tmp_path / "long.jsonl", [row])], report)
    assert record.themes == [f"THEME_{i}" for i in range(LIST_MAX_ITEMS)] and record.organizations == ["Acme"]
    assert [str(n) for n in report.notes] == [
        f"{tmp_path / 'long.jsonl'}:1: e1: V2Themes: {LIST_MAX_ITEMS + 12} given, the first {LIST_MAX_ITEMS} kept",
        f"{tmp_path / 'long.jsonl'}:1: e1: organizations: 1 longer than {SHORT_TEXT_MAX} characters not kept",
    ]


def test_an_earlier_vector_is_kept_only_when_it_can_be_one_of_ours():
    dims = FIELD_DIMS["embedding384d"]
    vector = earlier.earlier_vector([3.0] + [0.0] * (dims - 1), "embedding384d")
    assert vector.dtype == np.float32 and vector[0] == 1.0 and np.linalg.norm(vector) == pytest.approx(1.0)
    for bad in (None, [1.0] * (dims - 1), [0.0] * dims, [float("nan")] * dims, ["x"] * dims, "1,2,3"):
        assert earlier.earlier_vector(bad, "embedding384d") is None


def test_the_sample_check_reuses_only_at_99_percent_of_cosines_at_least_0_999():
    assert VectorCheck("embedding384d", "embedding_384d", 100, 100, 99, 0.91, 0.9999).reuse
    refused = VectorCheck("embedding768d", "embedding_768d", 100, 100, 98, 0.91, 0.9999)
    assert not refused.reuse
    assert "98 of 100 sampled vectors have cosine >= 0.999" in str(refused)
    assert "re-embedding every document with all-mpnet-base-v2" in str(refused)
    nothing = VectorCheck("embedding384d", "embedding_384d", 40, 0, 0)
    assert not nothing.reuse and "none of the 40 sampled documents has a usable embedding_384d" in str(nothing)


# -- the earlier index, read (no models) ------------------------------------------------------
@pytest.fixture
def node():
    fake = FakeElasticsearch().start()
    yield fake
    fake.close()


def plain_hits(n: int, index: str = EARLIER_INDEX) -> list[dict]:
    return [
        {"_index": index, "_id": f"d-{i:03d}", "_source": {"news_title": f"Title {i}", "url": f"https://a.example/{i}",
                                                          "DATE": "20250101000000", "embedding_enhanced": [1.0, 2.0, 3.0]}}
        for i in range(n)
    ]  # fmt: skip


def test_the_earlier_index_is_sampled_at_random_and_scanned_with_a_scroll(node, monkeypatch):
    client = Elasticsearch(node.url)
    client.indices.create(index=EARLIER_INDEX)
    load_earlier_index(client, plain_hits(23))
    bulks = len(node.requests_to("/_bulk"))
    monkeypatch.setattr(es_store, "SCAN_PAGE_DOCUMENTS", 5)
    source = EarlierIndex(Elasticsearch(node.url), EARLIER_INDEX, request_timeout=10, prefix="FINNEWS_EARLIER_ES_")
    assert source.count() == 23
    first, again = source.sample(8, seed=11, exclude=[]), source.sample(8, seed=11, exclude=[])
    assert [h["_id"] for h in first] == [h["_id"] for h in again] and len({h["_id"] for h in first}) == 8
    assert [h["_id"] for h in source.sample(8, seed=12, exclude=[])] != [h["_id"] for h in first]
    scanned = list(source.scan(["embedding_enhanced"]))
    assert sorted(h["_id"] for h in scanned) == [f"d-{i:03d}" for i in range(23)]
    assert all("embedding_enhanced" not in h["_source"] for h in scanned)
    opened = node.requests_to(f"/{EARLIER_INDEX}/_search")[-1]
    assert opened.params["scroll"] == es_store.SCROLL_KEEP_ALIVE and opened.body["size"] == 5
    # Pages of 5, 5, 5, 3 after the first, then an empty one that ends the scan; then the scroll is freed.
    assert len(node.requests_to("/_search/scroll", "POST")) == 5 and node.scrolls == {}
    assert len(node.requests_to("/_bulk")) == bulks, "nothing is written to the earlier cluster"


def test_earlier_index_errors_say_what_to_do(node, monkeypatch):
    missing = EarlierIndex(Elasticsearch(node.url), "no_such_index", request_timeout=10, prefix="FINNEWS_EARLIER_ES_")
    with pytest.raises(StoreUnavailable, match="check --source-index and --source-hosts"):
        missing.count()
    client = Elasticsearch(node.url)
    client.indices.create(index=EARLIER_INDEX)
    load_earlier_index(client, plain_hits(12))
    source = EarlierIndex(Elasticsearch(node.url), EARLIER_INDEX, request_timeout=10, prefix="FINNEWS_EARLIER_ES_")
    monkeypatch.setattr(es_store, "SCAN_PAGE_DOCUMENTS", 5)
    hits = source.scan([])
    next(hits)
    node.expire_scrolls()  # the client paused longer than the keep-alive
    with pytest.raises(StoreError, match="No search context found"):
        list(hits)
    locked = FakeElasticsearch(api_key="right-key").start()
    try:
        settings = load_settings({"EARLIER_ES_API_KEY": "wrong-key-0123"})
        refused = EarlierIndex.from_settings(settings, (locked.url,), EARLIER_INDEX)
        with pytest.raises(StoreUnavailable, match="check FINNEWS_EARLIER_ES_API_KEY") as raised:
            refused.count()
        assert "wrong-key" not in str(raised.value)
    finally:
        locked.close()


# -- ingest of earlier files, and the earlier clients' reads ----------------------------------
def read_as_earlier_client(result: dict) -> dict:
    """What the earlier API's clients take from each result, the way they take it: full_text in
    preference to summary, the label and its score, the GDELT date."""
    return {
        "id": result["id"],
        "score": float(result["score"]),
        "title": result["title"],
        "text": result.get("full_text") or result["summary"],
        "url": result["url"],
        "date": dt.datetime.strptime(result["date"], GDELT_DATE_FORMAT).replace(tzinfo=dt.UTC),
        "published_dt": result["published_dt"],
        "label": result["sentiment"]["label"],
        "sentiment_score": float(result["sentiment"]["score"]),
        "themes": list(result["themes"]),
        "organizations": list(result["organizations"]),
    }


EARLIER_REQUESTS = ({"size": 4}, {"limit": 3, "min_score": 0.55})


def test_cli_ingests_earlier_files_says_what_it_found_and_earlier_clients_read_the_answers(make_app, tmp_path):
    app = make_app(tmp_path / "index")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["ingest", str(API_RESULTS), str(ES_DOCUMENTS)])
    assert result.exit_code == 0, result.output
    assert (
        f"{API_RESULTS}: 6 earlier-api (recognised by date, full_text, rag_doc_url, score, sentiment)" in result.output
    )
    assert f"{ES_DOCUMENTS}: 6 earlier-es (recognised by _source)" in result.output
    assert "ignored, not part of the earlier shapes (records that had each): cluster_id (1)" in result.output
    assert "read 12 rows: 12 added, 0 updated, 0 unchanged, 0 rejected" in result.output
    again = runner.invoke(args=["ingest", "--format", "earlier-api", str(API_RESULTS)])
    assert again.exit_code == 0 and "6 earlier-api (--format)" in again.output
    assert "read 6 rows: 0 added, 0 updated, 6 unchanged" in again.output

    given = {row["id"]: row for row in rows(API_RESULTS)}
    client = app.test_client()
    for query, expected in (
        ("copper pit wall collapse halts mining", "ea-0002"),
        ("central bank keeps its interest rate unchanged", "ea-0004"),
        ("utility cuts its dividend to pay for storm repairs", "ea-0006"),
        ("new chief executive at a telecom company", "ea-0005"),
    ):
        for shape in EARLIER_REQUESTS:
            response = client.post("/search/cosine/embedding768d/", json={"query": query, **shape})
            assert response.status_code == 200
            results = [read_as_earlier_client(r) for r in response.get_json()["results"]]
            assert 0 < len(results) <= shape.get("size", shape.get("limit"))
            assert all(r["score"] >= shape.get("min_score", 0) for r in results)
            read, row = results[0], given[expected]
            assert read["id"] == expected, (query, [r["id"] for r in results])
            # What the client saved is what it reads back.
            assert read["text"] == (row.get("full_text") or row.get("summary") or None)
            published = row.get("published_dt") or None
            assert read["date"].strftime(GDELT_DATE_FORMAT) == (gdelt(published) if published else str(row["date"]))
            assert read["themes"] == earlier.split_terms(row.get("themes", []), "themes")[0]
            assert read["organizations"] == row.get("organizations", [])
            # Our URL type writes the host in lower case.
            assert read["url"].lower() == row["url"].lower() and read["title"] == row["title"]


@pytest.mark.parametrize("shape", EARLIER_REQUESTS, ids=["size", "limit-min_score"])
def test_earlier_clients_read_every_result_on_either_backend(sample_client, shape):
    bodies = {r["id"]: r for r in map(json.loads, SAMPLE.read_text().splitlines())}
    for field in ("embedding384d", "embedding768d", "embedding1155d"):
        response = sample_client.post(f"/search/cosine/{field}/", json={"query": "bank profits rise", **shape})
        assert response.status_code == 200
        raw = response.get_json()["results"]
        results = [read_as_earlier_client(r) for r in raw]
        assert len(results) == shape.get("size", shape.get("limit"))
        for read, hit in zip(results, raw, strict=True):
            record = NewsRecord.model_validate(bodies[read["id"]])
            assert read["text"] == record.body and hit["full_text"] == record.body
            assert read["date"] == record.published_dt.replace(microsecond=0)
            assert read["score"] >= shape.get("min_score", 0)
            scores = hit["sentiment"]["scores"]
            assert read["sentiment_score"] == scores[read["label"]] == max(scores.values())


def test_openapi_documents_the_compatibility_fields(sample_client):
    schemas = sample_client.get("/openapi.json").get_json()["components"]["schemas"]
    hit, sentiment = schemas["SearchHit"]["properties"], schemas["SentimentOut"]["properties"]
    for described in (hit["full_text"], hit["date"], sentiment["score"]):
        assert described["description"].startswith("Compatibility field for clients of the earlier API")
    assert hit["date"]["pattern"] == "^[0-9]{14}$"


# -- import from a live earlier index (fake node, our models) ----------------------------------
@pytest.fixture(scope="module")
def earlier_corpus(registry) -> list[dict]:
    """The earlier index's documents: the fixture documents and ten of the sample corpus in its
    shape, each with ``ours`` (our models' vectors of its text, as the earlier system made them)
    and ``other`` (vectors of another text: what a system that embedded something else holds)."""
    hits = [row if "_source" in row else {"_id": row["id"], "_source": row} for row in rows(ES_DOCUMENTS)]
    samples = [NewsRecord.model_validate(json.loads(line)) for line in SAMPLE.read_text().splitlines()[:10]]
    hits += [earlier_document(record) for record in samples]
    records = [ingest.to_record(hit, earlier.EARLIER_ES)[0] for hit in hits]
    texts = [r.embedding_text() for r in records]
    titles = [r.title for r in records]
    for name in ENCODED_FIELDS:
        ours, other = registry.encode_field(name, texts), registry.encode_field(name, titles)
        for hit, mine, theirs in zip(hits, ours, other, strict=True):
            hit.setdefault("ours", {})[name] = mine
            hit.setdefault("other", {})[name] = theirs
    return hits


def load_earlier(client: Elasticsearch, corpus: list[dict], other=(), without=(), extra=()) -> list[dict]:
    """The corpus in the earlier indices (the dated one for its dated hits): vectors of the fields
    in ``other`` made from other text, none of ``without`` = (id, field) pairs; ``extra`` hits."""
    hits = []
    for entry in corpus:
        hit = {
            "_index": entry.get("_index", EARLIER_INDEX),
            "_id": entry["_id"],
            "_source": copy.deepcopy(entry["_source"]),
        }
        for name, ours in earlier.EARLIER_VECTORS.items():
            if (hit["_id"], ours) not in without:
                hit["_source"][name] = (entry["other"] if ours in other else entry["ours"])[ours].tolist()
        hits.append(hit)
    hits += extra
    for index in (EARLIER_INDEX, DATED_INDEX):
        load_earlier_index(client, [h for h in hits if h.get("_index", EARLIER_INDEX) == index], index)
    return hits


def import_earlier(app, node, *options: str):
    return app.test_cli_runner().invoke(
        args=["es", "import-earlier", "--source-hosts", node.url, "--source-index", f"{EARLIER_INDEX},{EARLIER_INDEX}-*",
              *options]
    )  # fmt: skip


def stored(index_path) -> dict[str, tuple[dict, dict[str, np.ndarray]]]:
    with EmbeddedStore(index_path).reading() as generation:
        return {
            generation.document(row)["id"]: (generation.document(row), {f: np.array(m[row]) for f, m in generation.vectors.items()})
            for row in range(generation.size)
        }  # fmt: skip


@pytest.mark.slow
def test_import_reuses_the_vectors_it_verified_and_recomputes_the_rest(make_app, node, earlier_corpus, tmp_path):
    load_earlier(Elasticsearch(node.url), earlier_corpus, without={("es-0003", "embedding768d")})
    documents = len(earlier_corpus)
    app = make_app(tmp_path / "index")
    bulks = len(node.requests_to("/_bulk"))
    result = import_earlier(app, node)
    assert result.exit_code == 0, result.output
    assert f"earlier index '{EARLIER_INDEX},{EARLIER_INDEX}-*': {documents} documents" in result.output
    assert (
        f"embedding384d from embedding_384d: {documents} of {documents} sampled vectors have cosine >= 0.999"
        in result.output
    )
    assert f"embedding768d from embedding_768d: {documents - 1} of {documents - 1} sampled" in result.output
    assert result.output.count(": reused (documents without a usable") == 2
    assert (
        f"read {documents} documents: {documents} added, 0 updated, 0 unchanged, 0 rejected, 0 refused" in result.output
    )
    assert (
        f"embedding384d {documents} reused, 0 embedded; embedding768d {documents - 1} reused, 1 embedded"
        in result.output
    )
    assert f"{COMPOSED.name} composed for {documents} with our sentiment model" in result.output

    kept = stored(tmp_path / "index")
    assert len(kept) == documents
    for entry in earlier_corpus:
        document, vectors = kept[entry["_id"]]
        for name in ENCODED_FIELDS:
            if (entry["_id"], name) != ("es-0003", "embedding768d"):
                np.testing.assert_allclose(vectors[name], entry["ours"][name], atol=1e-6)
        sentiment = np.array([[document["sentiment"][label] for label in SENTIMENT_LABELS]], dtype=np.float32)
        recomposed = compose([vectors[part][None, :] for part in COMPOSED.parts], sentiment)[0]
        np.testing.assert_allclose(vectors[COMPOSED.name], recomposed, atol=1e-5)
    # Its own vector for the document that had none is ours for that text.
    by_id = {entry["_id"]: entry for entry in earlier_corpus}
    assert float(kept["es-0003"][1]["embedding768d"] @ by_id["es-0003"]["ours"]["embedding768d"]) >= 0.9999

    opened = [r for r in node.requests if r.params.get("scroll")]
    assert opened and all(r.params["_source_excludes"] == "embedding_enhanced" for r in opened)
    assert node.scrolls == {} and len(node.requests_to("/_bulk")) == bulks, "scroll freed; nothing written there"
    generation = generation_name(tmp_path / "index")
    again = import_earlier(app, node)
    assert again.exit_code == 0, again.output
    assert f"read {documents} documents: 0 added, 0 updated, {documents} unchanged, 0 rejected" in again.output
    assert generation_name(tmp_path / "index") == generation, "a re-run with nothing new commits nothing"


def generation_name(index_path) -> str:
    with EmbeddedStore(index_path).reading() as generation:
        return generation.name


@pytest.mark.slow
def test_import_embeds_every_document_of_a_field_whose_vectors_are_not_ours(
    make_app, node, earlier_corpus, tmp_path, registry
):
    assert (
        max(float(e["ours"]["embedding768d"] @ e["other"]["embedding768d"]) for e in earlier_corpus) < REUSE_MIN_COSINE
    )
    load_earlier(Elasticsearch(node.url), earlier_corpus, other={"embedding768d"})
    documents = len(earlier_corpus)
    result = import_earlier(make_app(tmp_path / "index"), node, "--sample-size", "12")
    assert result.exit_code == 0, result.output
    assert "vector check on 12 documents drawn at random" in result.output
    assert "12 of 12 sampled vectors have cosine >= 0.999" in result.output  # 384d: ours
    assert f"fewer than 99%: re-embedding every document with {ENCODED_FIELDS['embedding768d']}" in result.output
    assert (
        f"embedding384d {documents} reused, 0 embedded; embedding768d 0 reused, {documents} embedded" in result.output
    )
    opened = [r for r in node.requests if r.params.get("scroll")]
    assert set(opened[-1].params["_source_excludes"].split(",")) == {"embedding_768d", "embedding_enhanced"}
    for entry in earlier_corpus:
        vector = stored(tmp_path / "index")[entry["_id"]][1]["embedding768d"]
        assert (
            float(vector @ entry["ours"]["embedding768d"]) >= 0.9999 > float(vector @ entry["other"]["embedding768d"])
        )


@pytest.mark.slow
def test_import_into_our_alias_reads_our_cluster_with_our_credentials(make_app, earlier_corpus, tmp_path):
    node = FakeElasticsearch(api_key="our-key-0123456789").start()
    try:
        load_earlier(Elasticsearch(node.url, api_key="our-key-0123456789"), earlier_corpus)
        app = make_app(tmp_path / "unused", **es_config(node, "finnews", ES_API_KEY="our-key-0123456789"))
        assert app.test_cli_runner().invoke(args=["es", "create-index", "--replicas", "0"]).exit_code == 0
        own = app.test_cli_runner().invoke(
            args=["es", "import-earlier", "--source-hosts", node.url, "--source-index", "finnews"]
        )
        assert own.exit_code == 1 and "is our own index 'finnews'" in own.output
        result = import_earlier(app, node, "--re-embed", "--batch-size", "8")
        assert result.exit_code == 0, result.output
        assert "vectors: every document embedded with our models (--re-embed)" in result.output
        documents = len(earlier_corpus)
        assert f"embedding384d 0 reused, {documents} embedded" in result.output
        assert Elasticsearch(node.url, api_key="our-key-0123456789").count(index="finnews")["count"] == documents
        scans = [r for r in node.requests if r.params.get("scroll")]
        assert scans and all(r.headers["Authorization"] == "ApiKey our-key-0123456789" for r in scans)
    finally:
        node.close()


@pytest.mark.slow
def test_import_reports_what_it_rejects_and_resumes_after_an_interruption(
    make_app, node, earlier_corpus, tmp_path, monkeypatch
):
    broken = [
        {"_index": EARLIER_INDEX, "_id": "bad-date", "_source": {"news_title": "T", "url": "https://a.example/1",
                                                                 "published_dt": "", "DATE": "2025-13-45"}},
        {"_index": EARLIER_INDEX, "_id": "no-url", "_source": {"news_title": "T", "DATE": "20250101000000"}},
        {"_index": EARLIER_INDEX, "_id": "no-title", "_source": {"url": "https://a.example/3", "DATE": "20250101000000"}},
    ]  # fmt: skip
    load_earlier(Elasticsearch(node.url), earlier_corpus, extra=broken)
    documents = len(earlier_corpus)
    # Small pages and commits, and a scroll that lapses after the first commit: the import stops.
    monkeypatch.setattr(es_store, "SCAN_PAGE_DOCUMENTS", 4)
    monkeypatch.setattr(ingest, "IMPORT_PAGE_DOCUMENTS", 4)
    real_upsert = EmbeddedStore.upsert

    def upsert_then_lapse(self, docs, vectors, meta):
        failures = real_upsert(self, docs, vectors, meta)
        node.expire_scrolls()
        return failures

    monkeypatch.setattr(EmbeddedStore, "upsert", upsert_then_lapse)
    app = make_app(tmp_path / "index")
    stopped = import_earlier(app, node, "--commit-every", "4", "--sample-size", "4")
    assert stopped.exit_code == 1
    assert "No search context found" in stopped.output and "run the import again to resume" in stopped.output
    committed = EmbeddedStore(tmp_path / "index").health().documents
    assert 0 < committed < documents
    monkeypatch.setattr(EmbeddedStore, "upsert", real_upsert)
    rejects = tmp_path / "rejects.jsonl"
    resumed = import_earlier(app, node, "--commit-every", "4", "--sample-size", "4", "--rejects", str(rejects))
    assert resumed.exit_code == 1, resumed.output  # documents were rejected
    assert (
        f"read {documents + 3} documents: {documents - committed} added, 0 updated, {committed} unchanged, 3 rejected"
        in resumed.output
    )
    assert f"rejected {EARLIER_INDEX}/bad-date: DATE: '2025-13-45' is not a GDELT date" in resumed.output
    assert f"rejected {EARLIER_INDEX}/no-url: no url, and the outlet (our source) is the URL's host" in resumed.output
    assert f"rejected {EARLIER_INDEX}/no-title: title (from news_title or title): Field required" in resumed.output
    assert {json.loads(line)["document"] for line in rejects.read_text().splitlines()} == {
        f"{EARLIER_INDEX}/bad-date", f"{EARLIER_INDEX}/no-url", f"{EARLIER_INDEX}/no-title",
    }  # fmt: skip
    assert EmbeddedStore(tmp_path / "index").health().documents == documents
