"""The embedded store: exact search, filters inside the search, atomic commits, live reload,
shared memory across processes, and the IVF index's recall."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import threading

import numpy as np
import pytest

from tests.helpers import TEST_META, random_documents
from webapp.store import SearchFilters, StoreError, score_from_cosine
from webapp.store.embedded import EmbeddedStore, IvfIndex


def brute_force(vectors: np.ndarray, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[int]:
    scores = vectors @ query
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    return [int(i) for i in np.argsort(-scores, kind="stable")[:k] if np.isfinite(scores[i])]


@pytest.fixture
def filled(tmp_path):
    documents, vectors = random_documents(3000, seed=1)
    store = EmbeddedStore(tmp_path / "index")
    store.upsert(documents, vectors, TEST_META)
    return store, documents, vectors


def test_exact_search_matches_brute_force_with_cosine_scores(filled):
    store, documents, vectors = filled
    query = vectors["embedding768d"][42]
    hits = store.search("embedding768d", query, 10, SearchFilters())
    expected = brute_force(vectors["embedding768d"], query, 10)
    assert [h.id for h in hits] == [documents[i]["id"] for i in expected]
    assert hits[0].id == "doc-42" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    cosine = float(vectors["embedding768d"][expected[3]] @ query)
    assert hits[3].score == pytest.approx(score_from_cosine(cosine), abs=1e-5)
    assert hits[3].document["title"] == documents[expected[3]]["title"]


@pytest.mark.parametrize(
    "filters, predicate",
    [
        (SearchFilters(doc_types=("analysis",)), lambda d: d["doc_type"] == "analysis"),
        (SearchFilters(sources=("Wire B", "Wire C")), lambda d: d["source"] in ("Wire B", "Wire C")),
        (
            SearchFilters(
                published_from=dt.datetime(2025, 3, 1, tzinfo=dt.UTC),
                published_to=dt.datetime(2025, 3, 20, tzinfo=dt.UTC),
            ),
            lambda d: "2025-03-01" <= d["published_dt"][:10] <= "2025-03-20",
        ),
        (
            SearchFilters(doc_types=("news",), sources=("Wire A",)),
            lambda d: d["doc_type"] == "news" and d["source"] == "Wire A",
        ),
    ],
)
def test_filters_apply_inside_the_search(filled, filters, predicate):
    store, documents, vectors = filled
    query = vectors["embedding384d"][7]
    allowed = np.array([predicate(d) for d in documents])
    for size in (1, 10, 100):
        hits = store.search("embedding384d", query, size, filters)
        expected = brute_force(vectors["embedding384d"], query, size, allowed)
        # k results whenever k documents match: a filter never starves the result list
        assert len(hits) == min(size, int(allowed.sum()))
        assert [h.id for h in hits] == [documents[i]["id"] for i in expected]


def test_filter_values_the_index_never_saw_match_nothing(filled):
    store, _, vectors = filled
    assert store.search("embedding384d", vectors["embedding384d"][0], 10, SearchFilters(sources=("Nowhere",))) == []


def test_min_score_drops_weaker_hits(filled):
    store, _, vectors = filled
    query = vectors["embedding1155d"][5]
    all_hits = store.search("embedding1155d", query, 50, SearchFilters())
    threshold = all_hits[20].score
    hits = store.search("embedding1155d", query, 50, SearchFilters(min_score=threshold))
    assert [h.id for h in hits] == [h.id for h in all_hits if h.score >= threshold]


def test_upsert_replaces_by_id_and_keeps_the_rest(filled):
    store, documents, vectors = filled
    replacement, new_vectors = random_documents(2, seed=99, start=10)
    replacement[0]["title"] = "Replaced"
    store.upsert(replacement, new_vectors, TEST_META)
    assert store.health().documents == 3000
    hit = store.search("embedding384d", new_vectors["embedding384d"][0], 1, SearchFilters())[0]
    assert (hit.id, hit.document["title"]) == ("doc-10", "Replaced")
    assert store.search("embedding384d", vectors["embedding384d"][11], 1, SearchFilters())[0].id != "doc-11"
    untouched = store.search("embedding384d", vectors["embedding384d"][2999], 1, SearchFilters())[0]
    assert untouched.id == "doc-2999" and untouched.score == pytest.approx(1.0, abs=1e-5)
    assert store.content_hashes(["doc-10", "doc-12", "missing"]) == {"doc-10": "sha-10", "doc-12": "sha-12"}


def test_an_index_refuses_vectors_from_other_models(filled):
    store, _, _ = filled
    documents, vectors = random_documents(1, seed=5, start=5000)
    other = {**TEST_META, "models": {**TEST_META["models"], "sentiment": "another"}}
    with pytest.raises(StoreError, match="built with"):
        store.upsert(documents, vectors, other)


def test_a_crash_mid_commit_leaves_the_previous_generation_intact(filled, monkeypatch):
    store, documents, vectors = filled
    before = store.search("embedding384d", vectors["embedding384d"][1], 5, SearchFilters())
    new_documents, new_vectors = random_documents(10, seed=3, start=10_000)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(EmbeddedStore, "_write_columns", crash)
    with pytest.raises(OSError, match="disk full"):
        store.upsert(new_documents, new_vectors, TEST_META)
    monkeypatch.undo()

    reopened = EmbeddedStore(store.path)
    assert reopened.health().documents == 3000
    assert reopened.search("embedding384d", vectors["embedding384d"][1], 5, SearchFilters()) == before
    assert not list(store.path.glob(".staging-*")), "the half-written generation was not cleaned up"
    assert sorted(p.name for p in store.path.glob("gen-*")) == ["gen-000001"]


def test_a_running_reader_sees_new_documents_without_a_restart(filled):
    store, _, _ = filled
    reader = EmbeddedStore(store.path)  # another process's view, opened before the ingest
    assert reader.health().documents == 3000
    new_documents, new_vectors = random_documents(5, seed=8, start=20_000)
    store.upsert(new_documents, new_vectors, TEST_META)
    hits = reader.search("embedding384d", new_vectors["embedding384d"][0], 1, SearchFilters())
    assert hits[0].id == "doc-20000"
    assert reader.health().documents == 3005


def test_searches_during_commits_always_see_a_whole_generation(filled):
    store, _, vectors = filled
    reader = EmbeddedStore(store.path)
    errors, sizes = [], set()

    def search_repeatedly():
        try:
            for _ in range(200):
                hits = reader.search("embedding384d", vectors["embedding384d"][0], 3, SearchFilters())
                assert hits[0].id == "doc-0"
                sizes.add(reader.health().documents)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    thread = threading.Thread(target=search_repeatedly)
    thread.start()
    for batch in range(4):
        docs, vecs = random_documents(50, seed=batch, start=30_000 + 50 * batch)
        store.upsert(docs, vecs, TEST_META)
    thread.join()
    assert not errors, errors
    assert sizes <= {3000, 3050, 3100, 3150, 3200}


def _memory_growth_after_search(path, conn):
    """In a fresh process: anonymous (private) and file-backed memory added by searching."""

    def rollup() -> dict[str, int]:
        with open("/proc/self/smaps_rollup") as handle:
            fields = dict(line.split(":", 1) for line in handle if ":" in line)
        return {key: int(fields[key].split()[0]) for key in ("Rss", "Anonymous")}

    store = EmbeddedStore(path)
    before = rollup()
    rng = np.random.default_rng(0)
    for field, dims in (("embedding384d", 384), ("embedding768d", 768), ("embedding1155d", 1155)):
        store.search(field, rng.standard_normal(dims).astype(np.float32), 10, SearchFilters())
    after = rollup()
    anonymous = after["Anonymous"] - before["Anonymous"]
    conn.send((anonymous / 1024, (after["Rss"] - before["Rss"] - anonymous) / 1024))


def test_worker_processes_share_the_index_pages(tmp_path):
    documents, vectors = random_documents(20_000, seed=2)
    store = EmbeddedStore(tmp_path / "index")
    store.upsert(documents, vectors, TEST_META)
    index_mb = sum(v.nbytes for v in vectors.values()) / 2**20  # about 176 MB
    context = multiprocessing.get_context("fork")
    for _ in range(2):
        parent, child = context.Pipe()
        process = context.Process(target=_memory_growth_after_search, args=(store.path, child))
        process.start()
        private_mb, mapped_mb = parent.recv()
        process.join()
        # Each process scanned every vector through the page cache (file-backed, shared by all
        # processes that map it) and holds only scores and bookkeeping in private memory.
        assert mapped_mb > 0.9 * index_mb, (mapped_mb, index_mb)
        assert private_mb < index_mb / 10, f"{private_mb:.0f} MB private for a {index_mb:.0f} MB index"


def test_ivf_recall_at_10_is_at_least_095_against_exact():
    rng = np.random.default_rng(11)
    # Clustered data, as text embeddings are: 200 topics, documents spread around them.
    centres = rng.standard_normal((200, 384)).astype(np.float32)
    vectors = centres[rng.integers(0, 200, 40_000)] + 0.9 * rng.standard_normal((40_000, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[rng.choice(40_000, 200, replace=False)] + 0.3 * rng.standard_normal((200, 384)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    ivf = IvfIndex.build(vectors)
    recalls = []
    for query in queries:
        exact = set(brute_force(vectors, query, 10))
        rows, cosines = ivf.search(query, 10, None)
        np.testing.assert_allclose(cosines, vectors[rows] @ query, atol=1e-5)  # exact scores of its rows
        recalls.append(len(exact.intersection(rows.tolist())) / 10)
    assert np.mean(recalls) >= 0.95, np.mean(recalls)
    assert ivf.nprobe / ivf.index.nlist < 0.35, "the IVF index scans too much of the corpus to be worth it"
    # A filter applies inside the search: only allowed rows come back, still k of them.
    allowed = np.arange(len(vectors)) % 3 == 0
    rows, _ = ivf.search(queries[0], 10, allowed)
    assert len(rows) == 10 and allowed[rows].all()


def test_store_builds_and_uses_ivf_above_the_threshold_with_exact_fallback(tmp_path):
    documents, vectors = random_documents(2000, seed=4)
    store = EmbeddedStore(tmp_path / "index", ann_min_documents=1000)
    store.upsert(documents, vectors, TEST_META)
    with store.reading() as generation:
        assert set(generation.manifest["ivf_fields"]) == {"embedding384d", "embedding768d", "embedding1155d"}
    query = vectors["embedding384d"][17]
    assert store.search("embedding384d", query, 1, SearchFilters())[0].id == "doc-17"
    # A narrow filter goes to the exact path and still returns k results.
    narrow = SearchFilters(
        published_from=dt.datetime(2025, 1, 1, tzinfo=dt.UTC), published_to=dt.datetime(2025, 1, 3, tzinfo=dt.UTC)
    )
    allowed = np.array(["2025-01-01" <= d["published_dt"][:10] <= "2025-01-03" for d in documents])
    hits = store.search("embedding384d", query, 10, narrow)
    assert [h.id for h in hits] == [
        documents[i]["id"] for i in brute_force(vectors["embedding384d"], query, 10, allowed)
    ]


def test_empty_store_reports_zero_documents_and_no_hits(tmp_path):
    store = EmbeddedStore(tmp_path / "nothing-yet")
    assert store.health().status == "ok" and store.health().documents == 0
    assert store.search("embedding384d", np.ones(384, np.float32), 5, SearchFilters()) == []
    assert store.index_meta() is None


def test_unreadable_index_reports_unavailable(tmp_path):
    documents, vectors = random_documents(10)
    store = EmbeddedStore(tmp_path / "index")
    store.upsert(documents, vectors, TEST_META)
    generation = (tmp_path / "index" / "CURRENT").read_text().strip()
    os.remove(tmp_path / "index" / generation / "manifest.json")
    health = EmbeddedStore(tmp_path / "index").health()
    assert health.status == "unavailable" and "manifest.json" in health.detail


# -- generation lifecycle and recovery (issue 11) --------------------------------------------
def open_handles(folder) -> tuple[list[str], list[str]]:
    """This process's descriptors and memory maps of files under `folder` (deleted ones end in
    ' (deleted)')."""
    descriptors = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(folder)):
            descriptors.append(target)
    with open("/proc/self/maps") as maps:
        mapped = sorted({line.split(None, 5)[5].strip() for line in maps if str(folder) in line})
    return descriptors, mapped


def test_a_long_lived_reader_closes_old_generations(filled):
    store, _, vectors = filled
    reader = EmbeddedStore(store.path)  # a gunicorn worker's view, living through many commits
    query = vectors["embedding384d"][0]
    for batch in range(6):
        assert reader.search("embedding384d", query, 3, SearchFilters())[0].id == "doc-0"
        docs, vecs = random_documents(5, seed=100 + batch, start=40_000 + 5 * batch)
        store.upsert(docs, vecs, TEST_META)
    assert reader.search("embedding384d", query, 3, SearchFilters())[0].id == "doc-0"
    descriptors, mapped = open_handles(store.path)
    assert not [d for d in descriptors if d.endswith("(deleted)")], descriptors
    assert not [m for m in mapped if m.endswith("(deleted)")], mapped
    # One generation open per store object (its six column maps and its documents), nothing more:
    # the reader's is the current one; the writer's, the one it committed over (kept on disk
    # until the next commit), which it leaves when it next reads.
    assert {os.path.basename(os.path.dirname(d)) for d in descriptors} == {"gen-000006", "gen-000007"}
    assert len(descriptors) == 2 * 7, descriptors


def test_a_search_keeps_its_generation_open_until_it_ends(filled):
    store, _, vectors = filled
    reader = EmbeddedStore(store.path)
    with reader.reading() as held:
        for batch in range(3):  # the held generation is replaced, then deleted by the writer
            docs, vecs = random_documents(5, seed=200 + batch, start=50_000 + 5 * batch)
            store.upsert(docs, vecs, TEST_META)
        assert reader.search("embedding384d", vectors["embedding384d"][7], 1, SearchFilters())[0].id == "doc-7"
        assert not held.folder.exists()
        # Still readable: it is closed only when the last search using it ends.
        assert (
            held.document(0)["id"] == "doc-0"
            and held.search("embedding384d", vectors["embedding384d"][3], 1, SearchFilters())[0].id == "doc-3"
        )
    assert held.documents_fd == -1 and held.vectors == {}


def _crash_before_current(store_path, documents, vectors):
    """Commit, but die (as kill -9 would) after the new generation is renamed into place and
    before CURRENT names it."""
    real_replace = os.replace

    def replace(source, target, *args, **kwargs):
        if os.path.basename(target) == "CURRENT":
            raise SystemExit("killed between rename and CURRENT")
        return real_replace(source, target, *args, **kwargs)

    os.replace = replace
    try:
        EmbeddedStore(store_path).upsert(documents, vectors, TEST_META)
    except SystemExit:
        pass
    finally:
        os.replace = real_replace


def test_an_interrupted_commit_never_blocks_the_next_one(filled):
    store, _, _ = filled
    docs, vecs = random_documents(5, seed=9, start=60_000)
    _crash_before_current(store.path, docs, vecs)
    assert sorted(p.name for p in store.path.glob("gen-*")) == ["gen-000001", "gen-000002"]  # an orphan
    (store.path / ".staging-gen-000003-4242").mkdir()  # and a staging folder of a killed writer
    (store.path / ".staging-gen-000003-4242" / "embedding384d.f32").write_bytes(b"\0" * 1024)
    assert EmbeddedStore(store.path).health().documents == 3000  # readers never saw either
    store.upsert(docs, vecs, TEST_META)
    assert EmbeddedStore(store.path).health().documents == 3005
    assert not list(store.path.glob(".staging-*"))
    # The orphan's number is free again: no reader ever saw it.
    assert (store.path / "CURRENT").read_text().strip() == "gen-000002"
    assert sorted(p.name for p in store.path.glob("gen-*")) == ["gen-000001", "gen-000002"]


def test_min_score_keeps_every_hit_whose_shown_score_reaches_it(tmp_path):
    """A client sends back a score it was shown (rounded to 6 decimals) as min_score: the hit
    must still come back, whether its score was rounded up or down on this CPU."""
    documents, vectors = random_documents(500, seed=3)
    store = EmbeddedStore(tmp_path / "index")
    store.upsert(documents, vectors, TEST_META)
    query = vectors["embedding384d"][0]
    raw = score_from_cosine(vectors["embedding384d"] @ query)
    rounded_up = [i for i in range(1, 500) if 1e-7 < round(float(raw[i]), 6) - float(raw[i]) < 4e-7]
    assert rounded_up
    for row in rounded_up[:5]:
        shown = round(float(raw[row]), 6)
        hits = store.search("embedding384d", query, 500, SearchFilters(min_score=shown))
        assert f"doc-{row}" in [hit.id for hit in hits]
