"""The search store interface, shared by the embedded store and Elasticsearch.

A store keeps, for each document, a vector per search field (webapp.fields) and the document's
fields as the ingest stores them (webapp.ingest.stored_document), and answers exact or
approximate k-nearest-neighbour queries with filters applied inside the search. Scores follow
Elasticsearch's cosine convention, ``(1 + cos) / 2``, so both backends return the same numbers.

Each index records the models that built it (:meth:`SearchStore.index_meta`); the service
checks that record against its own models before a search (:func:`check_compatible`) and the
ingest refuses to mix vectors from different models into one index.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from webapp.settings import Settings


class StoreError(RuntimeError):
    """The store cannot do what was asked (bad configuration, corrupt index)."""


class StoreUnavailable(StoreError):
    """The store cannot be reached right now; the caller may retry later (HTTP 503)."""


class IndexMismatch(StoreError):
    """The index was built with other models than the ones this process runs (HTTP 409)."""


@dataclass(frozen=True)
class SearchFilters:
    published_from: dt.datetime | None = None
    published_to: dt.datetime | None = None
    doc_types: tuple[str, ...] | None = None
    sources: tuple[str, ...] | None = None
    min_score: float | None = None  # on the (1 + cos) / 2 scale

    @property
    def restricts_documents(self) -> bool:
        return any(v is not None for v in (self.published_from, self.published_to, self.doc_types, self.sources))


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    document: dict


@dataclass(frozen=True)
class DocumentFailure:
    """A document the store refused to keep, and why (Elasticsearch reports these per document)."""

    id: str
    reason: str

    def __str__(self) -> str:
        return f"{self.id}: {self.reason}"


@dataclass(frozen=True)
class StoreHealth:
    backend: str
    status: str  # "ok", "unavailable", or the Elasticsearch index's health: green / yellow / red
    documents: int | None
    detail: str | None = None

    @property
    def available(self) -> bool:
        return self.status not in ("unavailable", "red")


def score_from_cosine(cosine: np.ndarray | float) -> np.ndarray | float:
    return (1.0 + cosine) / 2.0


def cosine_from_score(score: float) -> float:
    return 2.0 * score - 1.0


# Scores leave the service rounded to this many decimals. A client may send back a score it was
# shown as min_score, so min_score is compared at that precision: a hit whose score shows as
# min_score is kept, whichever way its last bits fell on this CPU.
SCORE_DECIMALS = 6


def displayed_score(score: float) -> float:
    return round(float(score), SCORE_DECIMALS)


def min_cosine(min_score: float) -> float:
    """The lowest raw cosine a search must keep for ``min_score``: half a unit of the last shown
    decimal below it, so that every score that rounds to min_score or more is among the hits
    (the service then keeps exactly those whose shown score is at least min_score)."""
    return cosine_from_score(min_score - 0.5 * 10**-SCORE_DECIMALS)


def same_models(index_meta: dict, meta: dict) -> bool:
    """Whether vectors made as `meta` records may join an index that recorded `index_meta`: the
    same composition and models. How they ran (backend, precision) may differ: every backend
    passes the fidelity guard against torch float32."""
    return all(index_meta.get(key) == meta.get(key) for key in ("composition", "models"))


def check_compatible(index_meta: dict | None, service_meta: dict, depends_on: tuple[str, ...]) -> None:
    """Refuse to compare vectors made by different models."""
    if not index_meta:
        return  # an empty index: nothing to compare against
    if index_meta.get("composition") != service_meta["composition"]:
        raise IndexMismatch(
            f"the index was built with embedding composition {index_meta.get('composition')!r}, "
            f"this service uses {service_meta['composition']!r}: re-ingest into a new index"
        )
    for part in depends_on:
        built_with = index_meta.get("models", {}).get(part)
        running = service_meta["models"].get(part)
        if built_with != running:
            raise IndexMismatch(
                f"the index's {part} vectors were built with {built_with}, but this service runs "
                f"{running}: vectors from different models cannot be compared. Re-ingest into a new "
                "index with this service's models, or give the service the index's models."
            )


class SearchStore(Protocol):
    backend: str

    def search(self, field: str, vector: np.ndarray, size: int, filters: SearchFilters) -> list[Hit]: ...

    def health(self) -> StoreHealth: ...

    def index_meta(self) -> dict | None: ...

    def filter_values(self) -> dict[str, list[str]] | None:
        """The doc types and sources the index holds ({"doc_types": [...], "sources": [...]}),
        for the search page's filters; None where the store cannot list them cheaply."""
        ...

    def content_hashes(self, ids: list[str]) -> dict[str, str]:
        """content_sha256 of those ids the index holds."""
        ...

    def upsert(self, documents: list[dict], vectors: dict[str, np.ndarray], meta: dict) -> list[DocumentFailure]:
        """Add or replace documents by id; return the documents the store refused.

        Once this returns, every document not listed is searchable. The embedded store commits
        a call all or nothing (a failure raises); Elasticsearch has no such transaction: it
        retries what is transient and reports what it refuses document by document.
        """
        ...

    def close(self) -> None: ...


def open_store(settings: Settings) -> SearchStore:
    """The store the settings name (nothing connects yet)."""
    if settings.store_backend == "elasticsearch":
        from webapp.store.elasticsearch import ElasticsearchStore

        return ElasticsearchStore.from_settings(settings)
    from webapp.store.embedded import EmbeddedStore

    return EmbeddedStore(settings.store_path, ann_min_documents=settings.store_ann_min_documents)
