"""Ingest: JSONL and CSV, per-row rejections that never abort the batch, idempotent upserts."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from webapp.ingest import ingest
from webapp.store import SearchFilters
from webapp.store.embedded import EmbeddedStore


def record(i: int, **fields) -> dict:
    return {
        "id": f"n-{i}",
        "title": f"Harbor Bank quarterly update number {i}",
        "summary": "The lender reported strong gains in fee income.",
        "body": "Harbor Bank said deposits grew. Analysts expect more.",
        "url": f"https://news.example/wire/n-{i}",
        "published_dt": f"2025-0{1 + i % 9}-1{i % 10}T08:30:00Z",
        "source": "Harbor Wire",
        "doc_type": "news",
        "themes": ["banking", "earnings"],
        "organizations": ["Harbor Bank"],
        "quality_score": 0.8,
        **fields,
    }


def write_jsonl(path, rows):
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


def test_bad_rows_are_reported_and_skipped_the_rest_is_committed(tmp_path, registry):
    rows = [
        record(1),
        "{not json",
        record(2, published_dt="31/12/2025"),
        record(3, quality_score=1.7),
        [1, 2, 3],
        record(4, url="ftp://example.com/x"),
        record(5, title=""),
        record(6, extra_field="x"),
        record(7),
    ]
    report = ingest(
        [write_jsonl(tmp_path / "mixed.jsonl", rows)], registry, EmbeddedStore(tmp_path / "i"), progress=False
    )
    assert (report.read, report.added, len(report.rejected)) == (9, 2, 7)
    reasons = {r.line: r.reason for r in report.rejected}
    assert reasons[2].startswith("not valid JSON")
    assert "published_dt" in reasons[3]
    assert "quality_score" in reasons[4]
    assert reasons[5] == "not a JSON object"
    assert "url" in reasons[6]
    assert "title" in reasons[7]
    assert "extra_field" in reasons[8]
    assert EmbeddedStore(tmp_path / "i").health().documents == 2


def test_reingesting_is_idempotent_and_only_changed_rows_are_embedded(tmp_path, registry):
    source = write_jsonl(tmp_path / "news.jsonl", [record(i) for i in range(12)])
    store = EmbeddedStore(tmp_path / "i")
    first = ingest([source], registry, store, progress=False)
    assert (first.added, first.updated, first.unchanged) == (12, 0, 0)
    with store.reading() as generation:
        first_generation = generation.name
    again = ingest([source], registry, store, progress=False)
    assert (again.added, again.updated, again.unchanged, again.embedded) == (0, 0, 12, 0)
    with store.reading() as generation:
        assert generation.name == first_generation, "an ingest with nothing new must not commit"
    changed = [record(i) for i in range(12)]
    changed[3]["title"] = "Harbor Bank names a new chief executive"
    write_jsonl(source, changed + [record(12)])
    third = ingest([source], registry, store, progress=False)
    assert (third.added, third.updated, third.unchanged) == (1, 1, 11)
    assert store.health().documents == 13
    hit = store.search(
        "embedding384d", registry.encode_query("embedding384d", "new chief executive"), 1, SearchFilters()
    )
    assert hit[0].id == "n-3" and hit[0].document["title"] == "Harbor Bank names a new chief executive"


def test_csv_input_with_list_cells(tmp_path, registry):
    path = tmp_path / "news.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(record(0)))
        writer.writeheader()
        for i in range(3):
            writer.writerow({**record(i), "themes": "banking; earnings", "organizations": "Harbor Bank;Keel Mining"})
        writer.writerow({**record(9), "quality_score": "", "summary": "", "themes": "", "published_dt": "never"})
    store = EmbeddedStore(tmp_path / "i")
    report = ingest([path], registry, store, progress=False)
    assert (report.added, len(report.rejected)) == (3, 1)
    assert report.rejected[0].line == 5 and "published_dt" in report.rejected[0].reason
    with store.reading() as generation:
        document = generation.document(0)
    assert document["themes"] == ["banking", "earnings"]
    assert document["organizations"] == ["Harbor Bank", "Keel Mining"]


def test_csv_with_unknown_columns_is_rejected_as_a_whole(tmp_path, registry):
    path = tmp_path / "odd.csv"
    path.write_text("id,headline\n1,Something\n")
    report = ingest([path], registry, EmbeddedStore(tmp_path / "i"), progress=False)
    assert report.added == 0 and "unknown CSV columns ['headline']" in report.rejected[0].reason


def test_duplicate_ids_in_one_input_keep_the_last_row(tmp_path, registry):
    rows = [record(1), record(1, title="Harbor Bank corrected headline")]
    store = EmbeddedStore(tmp_path / "i")
    report = ingest([write_jsonl(tmp_path / "dupes.jsonl", rows)], registry, store, progress=False)
    assert report.added == 1 and store.health().documents == 1
    with store.reading() as generation:
        assert generation.document(0)["title"] == "Harbor Bank corrected headline"


def test_commits_in_chunks_and_a_failed_chunk_keeps_earlier_ones(tmp_path, registry, monkeypatch):
    source = write_jsonl(tmp_path / "news.jsonl", [record(i) for i in range(10)])
    store = EmbeddedStore(tmp_path / "i")
    real_upsert, calls = EmbeddedStore.upsert, []

    def upsert_then_crash(self, documents, vectors, meta):
        calls.append(len(documents))
        if len(calls) == 2:
            raise KeyboardInterrupt("operator pressed Ctrl-C")
        return real_upsert(self, documents, vectors, meta)

    monkeypatch.setattr(EmbeddedStore, "upsert", upsert_then_crash)
    with pytest.raises(KeyboardInterrupt):
        ingest([source], registry, store, commit_every=4, progress=False)
    monkeypatch.undo()
    assert calls == [4, 4] and store.health().documents == 4
    resumed = ingest([source], registry, store, commit_every=4, progress=False)
    assert (resumed.unchanged, resumed.added) == (4, 6)


def test_cli_ingest_reports_rejections_and_throughput(tmp_path, model_cache_dir):
    from webapp import create_app

    source = write_jsonl(tmp_path / "news.jsonl", [record(1), record(2), "oops"])
    app = create_app({"MODEL_CACHE_DIR": str(model_cache_dir), "STORE_PATH": str(tmp_path / "i")})
    result = app.test_cli_runner().invoke(args=["ingest", str(source), "--rejects", str(tmp_path / "rejects.jsonl")])
    assert result.exit_code == 1
    assert "read 3 rows: 2 added, 0 updated, 0 unchanged, 1 rejected" in result.output
    assert "documents/s" in result.output
    assert f"rejected {source}:3: not valid JSON" in result.output
    assert json.loads((tmp_path / "rejects.jsonl").read_text())["line"] == 3
    assert "Embed and upsert" in app.test_cli_runner().invoke(args=["ingest", "--help"]).output


def test_rows_that_once_aborted_the_ingest_are_reported_and_the_rest_committed(tmp_path, registry):
    """A field longer than csv's limit, JSON nested thousands deep, a date outside the years
    1-9999 once in UTC, a line that is not UTF-8, an integer too long to convert: each of them
    stopped the whole ingest before; now each is one rejected row."""
    jsonl = tmp_path / "news.jsonl"
    with jsonl.open("wb") as out:
        for row in (
            json.dumps(record(1)),
            "[" * 5000 + "]" * 5000,
            '{"id": "n-deep", "themes": ' + "[" * 5000 + "]" * 5000 + "}",
            json.dumps(record(2, published_dt="0001-01-01T00:00:00+05:00")),
            json.dumps(record(3, published_dt="9999-12-31T23:59:59-05:00")),
            json.dumps(record(4)),
            '{"id": "n-int", "quality_score": ' + "1" * 5000 + "}",
        ):
            out.write(row.encode() + b"\n")
        out.write(json.dumps(record(5, title="Caf\u00e9 chain"), ensure_ascii=False).encode("latin-1") + b"\n")
        out.write(json.dumps(record(6)).encode() + b"\n")
    csv_path = tmp_path / "news.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(record(0)))
        writer.writeheader()
        writer.writerow({**record(10), "themes": "", "organizations": ""})
        writer.writerow({**record(11), "body": "x" * 200_000, "themes": "", "organizations": ""})
        writer.writerow({**record(12), "body": "y" * (20 * 2**20), "themes": "", "organizations": ""})
        writer.writerow({**record(13), "themes": "", "organizations": ""})
    store = EmbeddedStore(tmp_path / "i")
    report = ingest([jsonl, csv_path], registry, store, progress=False)
    rejected = {(Path(r.source).name, r.line): r.reason for r in report.rejected}
    assert set(rejected) == {
        ("news.jsonl", 2), ("news.jsonl", 3), ("news.jsonl", 4), ("news.jsonl", 5), ("news.jsonl", 7),
        ("news.jsonl", 8), ("news.csv", 3), ("news.csv", 4),
    }, rejected  # fmt: skip
    assert "nested too deeply" in rejected["news.jsonl", 2] and "nest" in rejected["news.jsonl", 3]
    assert "out of range once converted to UTC" in rejected["news.jsonl", 4]
    assert "published_dt" in rejected["news.jsonl", 5]
    assert rejected["news.jsonl", 8] == "not UTF-8 text"
    assert "body" in rejected["news.csv", 3] and "100000 characters" in rejected["news.csv", 3]
    assert "field larger than field limit" in rejected["news.csv", 4]
    assert report.added == 5 and store.health().documents == 5
    assert sorted(store.content_hashes([f"n-{i}" for i in range(20)])) == ["n-1", "n-10", "n-13", "n-4", "n-6"]
