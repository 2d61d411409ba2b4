"""The search service: one process's models and store, the searches they answer together, and
the health of both."""

from __future__ import annotations

import datetime as dt
import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from webapp.embedding import ModelRegistry
from webapp.fields import FIELD_BY_NAME, SENTIMENT_LABELS
from webapp.modelcache import ModelCache
from webapp.schemas import (
    FULL_TEXT_MAX,
    PAGE_WINDOW,
    EncoderStatus,
    HealthReport,
    ModelCacheStatus,
    SearchHit,
    SearchRequest,
    SearchResponse,
    SentimentOut,
    StoreStatus,
    Timings,
    Total,
)
from webapp.sentiment import label_of
from webapp.settings import Settings
from webapp.store import (
    Hit,
    SearchFilters,
    SearchStore,
    StoreError,
    StoreHealth,
    check_compatible,
    displayed_score,
)


class ModelsNotReady(RuntimeError):
    """The models are still loading, or failed to load (HTTP 503). The message is for the
    client; ``detail``, why they failed, only for the log (it names paths)."""

    def __init__(self, message: str, detail: str | None = None):
        super().__init__(message)
        self.detail = detail


@dataclass(frozen=True)
class Readiness:
    """Whether to send traffic here; ``reason`` is for anyone, ``detail`` (error texts, which may
    name paths, users or roles) only for a caller with a valid token."""

    ready: bool
    reason: str
    detail: str | None = None


def process_registry(settings: Settings) -> ModelRegistry:
    """One registry per process, cache and encoder settings: apps created in the same process share the models."""
    return _registry(
        str(settings.model_cache_dir),
        settings.query_cache_size,
        settings.query_backend,
        settings.ingest_backend,
        settings.query_batch_max,
        settings.query_batch_window_ms,
        worker_threads(settings.workers),
        settings.encoder_precision,
    )


def worker_threads(workers: int) -> int:
    """Each gunicorn worker's share of the cores: what one forward pass uses."""
    return max(1, (os.cpu_count() or 1) // workers)


@functools.cache
def _registry(
    cache_dir: str, query_cache_size: int, query_backend, ingest_backend, batch_max, window_ms, threads, precision
):
    return ModelRegistry(
        ModelCache(cache_dir),
        query_cache_size=query_cache_size,
        query_backend=query_backend,
        ingest_backend=ingest_backend,
        query_batch_max=batch_max,
        query_batch_window_ms=window_ms,
        query_threads=threads,
        encoder_precision=precision,
    )


def sentiment_label(document: dict) -> str:
    return label_of([document["sentiment"][label] for label in SENTIMENT_LABELS])


def published(document: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(document["published_dt"])


@dataclass
class SearchService:
    registry: ModelRegistry
    store: SearchStore
    version: str
    # Asks the store's health for /health and /health/ready, which need no token and may come in
    # bursts: the app's webapp.deadline.SharedCall, so that a burst asks the store once, under a
    # deadline, and the answer serves every check for FINNEWS_HEALTH_MAX_AGE seconds.
    ask_store_health: Callable[[Callable[[], StoreHealth]], StoreHealth]

    def search(self, field: str, request: SearchRequest, caller: str = "") -> SearchResponse:
        """Answer REQUEST; CALLER keys the query cache (webapp.auth.caller_key)."""
        self.registry.start_loading()
        if self.registry.state.error:
            raise ModelsNotReady("the models failed to load; it has been logged", self.registry.state.error)
        if not self.registry.ready:
            raise ModelsNotReady("models are still loading; retry shortly")
        started = time.perf_counter()
        check_compatible(self.store.index_meta(), self.registry.index_meta(), FIELD_BY_NAME[field].depends_on)
        # Each caller's queries are cached apart: were the cache shared, a hit (a faster answer,
        # whether read from timings.embedding_ms or from the clock) would tell a caller that
        # someone else had searched that exact text. Rounding the timings would not hide it.
        vector = self.registry.encode_query(field, request.query, caller)
        embedded = time.perf_counter()
        published_from, published_to = request.published_range()
        filters = SearchFilters(
            published_from=published_from,
            published_to=published_to,
            doc_types=tuple(request.doc_types) if request.doc_types else None,
            sources=tuple(request.sources) if request.sources else None,
            min_score=request.min_score,
        )
        total = None
        if request.paged:
            hits, total = self.page(field, vector, request, filters)
        else:
            hits = self.store.search(field, vector, request.size, filters)
            if request.min_score is not None:
                # The store kept every hit that may show as min_score; keep exactly those that do.
                hits = [hit for hit in hits if displayed_score(hit.score) >= request.min_score]
        finished = time.perf_counter()
        results = [
            SearchHit(
                id=hit.id,
                score=displayed_score(hit.score),
                title=hit.document["title"],
                summary=hit.document.get("summary"),
                url=hit.document.get("url"),
                published_dt=hit.document["published_dt"],
                source=hit.document["source"],
                doc_type=hit.document["doc_type"],
                sentiment=SentimentOut(label=sentiment_label(hit.document), scores=hit.document["sentiment"]),
                themes=hit.document.get("themes", []),
                organizations=hit.document.get("organizations", []),
                full_text=hit.document.get("body") and hit.document["body"][:FULL_TEXT_MAX],
                full_text_truncated=len(hit.document.get("body") or "") > FULL_TEXT_MAX,
            )
            for hit in hits
        ]
        return SearchResponse(
            results=results,
            total_hits=len(results),
            total=total,
            offset=request.offset if request.paged else None,
            query=request.query,
            embedding_field=field,
            search_time_ms=round((finished - started) * 1000, 3),
            timings=Timings(
                embedding_ms=round((embedded - started) * 1000, 3),
                search_ms=round((finished - embedded) * 1000, 3),
            ),
        )

    def page(self, field: str, vector, request: SearchRequest, filters: SearchFilters) -> tuple[list[Hit], Total]:
        """One page of a paged search, and how many matches there are to page through.

        The store gives the PAGE_WINDOW best matches of the store's filters; those below
        min_score or of another sentiment are dropped, the rest counted, ordered and sliced. The
        window was full (relation "gte") when the store gave all PAGE_WINDOW and min_score cut none
        of them: documents ranked beyond it may match too. Otherwise every match is counted
        (for approximate search: every match it found)."""
        window = self.store.search(field, vector, PAGE_WINDOW, filters)
        hits = window
        if request.min_score is not None:
            hits = [hit for hit in hits if displayed_score(hit.score) >= request.min_score]
        full = len(window) == PAGE_WINDOW and len(hits) == len(window)
        if request.sentiments:
            wanted = set(request.sentiments)
            hits = [hit for hit in hits if sentiment_label(hit.document) in wanted]
        if request.order == "newest":
            # Stable: documents published at the same instant keep their relevance order.
            hits = sorted(hits, key=lambda hit: published(hit.document), reverse=True)
        total = Total(value=len(hits), relation="gte" if full else "eq")
        return hits[request.offset : request.offset + request.size], total

    def filter_values(self) -> dict[str, list[str]] | None:
        """The doc types and sources the search page offers as filters; None when the store
        cannot list them (or cannot be read now): the page then takes names typed."""
        try:
            return self.store.filter_values()
        except StoreError:
            return None

    def readiness(self) -> Readiness:
        self.registry.start_loading()
        if self.registry.state.error:
            return Readiness(False, "models failed to load", self.registry.state.error)
        if not self.registry.ready:
            return Readiness(False, "models are loading")
        health = self.ask_store_health(self.store.health)
        if not health.available:
            return Readiness(False, f"store {health.status}", health.detail)
        return Readiness(True, "ready")

    def health(self) -> HealthReport:
        """The models' and the store's state, for /health (in full: the API shows callers
        without a token only HealthReport.public())."""
        registry = self.registry
        registry.start_loading()
        store = self.ask_store_health(self.store.health)
        if registry.state.error or not store.available:
            status = "unavailable"
        elif not registry.ready:
            status = "starting"
        else:
            status = "healthy"
        return HealthReport(
            status=status,
            api="operational",
            elasticsearch=store.status,
            version=self.version,
            store=StoreStatus(
                backend=store.backend, status=store.status, documents=store.documents, detail=store.detail
            ),
            model_cache=ModelCacheStatus(
                path=str(registry.cache.root),
                cached_models=registry.cache.cached_names(),
                loaded_models=registry.loaded_models(),
                sentiment_model=registry.sentiment_identity(),
                query_cache=registry.query_cache_info(),
                encoders=[
                    EncoderStatus(model=c.model, purpose=c.purpose, used=c.used, guard=list(c.guard))
                    for c in registry.choices.values()
                ],
                error=registry.state.error,
            ),
            timestamp=dt.datetime.now(dt.UTC),
        )
