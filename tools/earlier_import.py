"""The earlier system's index, stood in for, and how fast `flask es import-earlier` reads it.

``python -m tools import-earlier-benchmark --documents 300`` takes the first ``--documents``
records of a corpus of ours (default: the sample corpus), writes them in the shape of the earlier
system's Elasticsearch documents (:func:`earlier_document`: the names only those documents use,
GDELT's DATE and V2Themes strings, and the three vectors, the 384-d and 768-d ones made by our
models as the earlier system made them) into an index ``news_finbert_embeddings`` of a fake
Elasticsearch node (tests/fake_elasticsearch.py; no Elasticsearch server runs on the build
machines), then imports it twice, each time into a fresh embedded store, with the same functions
the command runs: once checking and reusing the earlier vectors, once embedding every document
(``--re-embed``), the baseline. It prints both rates and their ratio. The fake node answers from
this process, so the figures leave out a real cluster's network and scroll costs.
"""

from __future__ import annotations

import itertools
import json
import tempfile
import time
from pathlib import Path

import click
import numpy as np
from elasticsearch import Elasticsearch, helpers
from flask.cli import with_appcontext

from webapp import current_service
from webapp.earlier import EARLIER_VECTORS
from webapp.fields import FIELD_DIMS
from webapp.ingest import check_earlier_vectors, import_earlier
from webapp.schemas import GDELT_DATE_FORMAT, NewsRecord
from webapp.store.elasticsearch import EarlierIndex
from webapp.store.embedded import EmbeddedStore

EARLIER_INDEX = "news_finbert_embeddings"
# The earlier 1,155-d vector: its two text vectors and three numbers of a keyword heuristic.
ENHANCED_DIMS = sum(FIELD_DIMS[field] for field in EARLIER_VECTORS.values()) + 3
EARLIER_MAPPINGS = {
    "properties": {
        **{name: {"type": "dense_vector", "dims": FIELD_DIMS[field], "similarity": "cosine"} for name, field in EARLIER_VECTORS.items()},
        "embedding_enhanced": {"type": "dense_vector", "dims": ENHANCED_DIMS, "similarity": "cosine"},
        "DATE": {"type": "keyword"},
        "url": {"type": "keyword"},
    }
}  # fmt: skip


def earlier_document(record: NewsRecord, vectors: dict[str, np.ndarray] | None = None) -> dict:
    """One of our records as a hit of the earlier index: the names only its documents use, the
    GDELT DATE, themes and organizations as GDELT V2 strings (``NAME,offset;...``), and, given
    our fields' ``vectors``, its 384-d and 768-d vectors and a 1,155-d one as it made them (the
    two, then three heuristic numbers, not normalised)."""
    title_offset = len(record.title)
    source = {
        "news_title": record.title,
        "news_summary": record.summary,
        "news_body": record.body,
        "url": str(record.url),
        "DATE": record.published_dt.strftime(GDELT_DATE_FORMAT),
        "V2Themes": ";".join(f"{theme},{title_offset + i}" for i, theme in enumerate(record.themes)),
        "V2Organizations": ";".join(f"{name},{i * 7}" for i, name in enumerate(record.organizations)),
        "doc_type": record.doc_type,
        "quality_score": record.quality_score,
        "usable_for_rag": True,
        "sentiment": {"label": "neutral", "score": 0.5},
    }
    if vectors is not None:
        parts = [vectors[field] for field in EARLIER_VECTORS.values()]
        for name, vector in zip(EARLIER_VECTORS, parts, strict=True):
            source[name] = vector.tolist()
        source["embedding_enhanced"] = np.concatenate([*parts, [0.25, 1.5, 0.1]]).tolist()
    return {"_index": EARLIER_INDEX, "_id": record.id, "_source": source}


def load_earlier_index(client: Elasticsearch, hits: list[dict], index: str = EARLIER_INDEX) -> None:
    """Create ``index`` as the earlier system's (if missing) and index ``hits`` into it."""
    if not client.indices.exists(index=index):
        client.indices.create(index=index, mappings=EARLIER_MAPPINGS)
    actions = ({"_index": index, "_id": hit["_id"], "_source": hit["_source"]} for hit in hits)
    helpers.bulk(client, actions, refresh=True)


@click.command("import-earlier-benchmark")
@with_appcontext
@click.option("--documents", default=1000, show_default=True, type=click.IntRange(1), help="Documents in the stand-in.")
@click.option(
    "--corpus",
    default="data/news_sample.jsonl",
    show_default=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Records of ours (JSONL) the stand-in is made of.",
)
@click.option("--sample-size", default=200, show_default=True, help="Documents the vector check embeds.")
def import_earlier_benchmark_command(documents: int, corpus: Path, sample_size: int) -> None:
    """Import rate of `flask es import-earlier`, reusing the earlier vectors and not (see the module docstring)."""
    from tests.fake_elasticsearch import FakeElasticsearch

    registry = current_service().registry
    registry.wait_until_loaded()
    with corpus.open() as handle:
        records = [NewsRecord.model_validate(json.loads(line)) for line in itertools.islice(handle, documents)]
    began = time.perf_counter()
    texts = [record.embedding_text() for record in records]
    vectors = {field: registry.encode_field(field, texts) for field in EARLIER_VECTORS.values()}
    hits = [earlier_document(r, {f: v[i] for f, v in vectors.items()}) for i, r in enumerate(records)]
    fake = FakeElasticsearch().start()
    try:
        load_earlier_index(Elasticsearch(fake.url), hits)
        click.echo(f"stand-in earlier index: {len(hits)} documents in {time.perf_counter() - began:.1f} s")
        source = EarlierIndex(Elasticsearch(fake.url), EARLIER_INDEX, request_timeout=120, prefix="FINNEWS_EARLIER_ES_")
        rates, import_rates = {}, {}
        for mode in ("reuse", "re-embed"):
            with tempfile.TemporaryDirectory(prefix="import-earlier-") as folder:
                began = time.perf_counter()
                checks = check_earlier_vectors(source, registry, sample_size, seed=7) if mode == "reuse" else []
                checked = time.perf_counter() - began
                report = import_earlier(source, registry, EmbeddedStore(Path(folder) / "index"), checks, progress=False)
                seconds = time.perf_counter() - began
            if report.rejected or report.failed or report.embedded != len(hits):
                raise click.ClickException(f"{mode}: {report.embedded} written, rejected {report.rejected[:3]}")
            rates[mode], import_rates[mode] = report.embedded / seconds, report.embedded / report.seconds
            reused = ", ".join(f"{field} {report.reused[field]}" for field in EARLIER_VECTORS.values())
            click.echo(
                f"{mode:9} {report.embedded} documents in {seconds:6.1f} s: {rates[mode]:6.1f} documents/s "
                f"(vector check {checked:.1f} s, then the import {import_rates[mode]:.1f} documents/s; "
                f"reused: {reused})"
            )
        click.echo(
            f"reuse / re-embed: {rates['reuse'] / rates['re-embed']:.1f}x with the vector check (a fixed cost of "
            f"{sample_size} documents), {import_rates['reuse'] / import_rates['re-embed']:.1f}x for the import alone"
        )
    finally:
        fake.close()
