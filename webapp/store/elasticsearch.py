"""The Elasticsearch store: the news index in an Elasticsearch 8.x/9.x cluster, searched by kNN.

Layout, made by ``flask es create-index`` (webapp/cli.py), for ``ES_INDEX = "finnews"``::

    index template "finnews"   patterns ["finnews-*"]: settings, mapping, models in the mapping's _meta
    index "finnews-000001"     created from the template (a reindex makes finnews-000002, ...)
    alias "finnews"            what the service searches and the ingest writes

A reindex builds a new index beside the live one (``flask es create-index --next``), ingests
into it, and moves the alias in one atomic ``_aliases`` request (``flask es switch-alias``), so
searches never see a half-built index.

Mapping. Three ``dense_vector`` fields (384, 768 and 1,155 dims, ``cosine``) with float HNSW
index options: Elasticsearch's newer defaults quantize vectors (``int8_hnsw`` since 8.14,
``bbq_hnsw`` from 384 dims in 9.1), which would change the scores, and every backend promises
the same scores. Keyword fields for the exact-match filters, ``date`` for ``published_dt``,
``text`` for title, summary and body; url and content_sha256 are only kept in ``_source``.
``dynamic: strict``: a document that does not fit is refused rather than growing the mapping.
The mapping's ``_meta`` is exactly what :meth:`ModelRegistry.index_meta` records (composition
and the identity of every model, sentiment included), so an index is checked against the
service's models like the embedded store's manifest.

Search. The top-level ``knn`` clause: ``k`` = size, ``num_candidates`` = factor x k (at most
10,000), the filters inside knn's ``filter`` (applied during the search, so k hits come back
whenever k documents match), and ``similarity`` for min_score: for ``cosine`` Elasticsearch
compares ``similarity`` with the raw cosine, while the score it returns is ``(1 + cos) / 2``,
the score convention of webapp.store; so ``similarity = 2 * min_score - 1``. The vector fields
are left out of ``_source``.

Writes. ``helpers.streaming_bulk`` in chunks; 429 and 5xx answers, for a whole request or for
single documents, are retried with exponential backoff; other refusals come back per document
to the ingest. Documents are indexed by ``_id``, so a re-run replaces instead of duplicating.
Each upsert ends with a refresh, so what it wrote is searchable when it returns, as after an
embedded commit. Writes through an alias set ``require_alias``: if the alias vanished, a bulk
request must fail instead of auto-creating an index with a dynamic mapping.

Availability. Nothing connects at start-up. A request that cannot reach the cluster, times
out, or gets 429/5xx raises :class:`StoreUnavailable` (HTTP 503) with a message that names no
host and no credential; the client tries the node again on the next request, so the service
recovers by itself when the cluster returns. The client retries only what never reached a node
(:data:`CLIENT_RETRIES`): a cluster that is slow or answers 429/502/503/504 is pushing back, and
the client's default, three immediate retries, would multiply its load and the caller's wait.

Health is the alias's indices' document count, then their cluster health (green / yellow /
red): two requests (the one API that gives both, ``_cat/indices``, needs the ``monitor``
privilege on the indices, which the service lacks), within one FINNEWS_ES_REQUEST_TIMEOUT
together and never retried, so that /health/ready gives up before the load balancer's health
check does (5 s).

``index_meta()`` is read before every search, so it is cached: an index's ``_meta`` never
changes (nothing here writes it after creation), only the index behind the alias does. The
cache is re-read every META_MAX_AGE_S seconds, and at once when a search is answered by an
index it does not know (the alias moved).
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from elasticsearch import (
    ApiError,
    AuthenticationException,
    AuthorizationException,
    ConnectionTimeout,
    Elasticsearch,
    NotFoundError,
    SSLError,
    TransportError,
    UnsupportedProductError,
    helpers,
)
from elasticsearch import ConnectionError as EsConnectionError

from webapp.fields import FIELD_DIMS, SENTIMENT_LABELS
from webapp.store import (
    DocumentFailure,
    Hit,
    IndexMismatch,
    SearchFilters,
    StoreError,
    StoreHealth,
    StoreUnavailable,
    min_cosine,
    same_models,
)

if TYPE_CHECKING:
    from pathlib import Path

    from pydantic import SecretStr

    from webapp.settings import Settings

log = logging.getLogger(__name__)

VECTOR_FIELDS = tuple(FIELD_DIMS)
# Elasticsearch refuses a larger num_candidates.
MAX_NUM_CANDIDATES = 10_000
# Float HNSW with Elasticsearch's own default graph parameters; see the module docstring.
HNSW_OPTIONS = {"type": "hnsw", "m": 16, "ef_construction": 100}
# Above the priority (100) of Elasticsearch's built-in templates, so ours wins should a
# pattern ever overlap one of theirs.
TEMPLATE_PRIORITY = 200
# A document is about 48 KB of JSON (2,307 floats); Elasticsearch's guidance is bulk requests
# of a few MB to a few tens of MB, and its default http.max_content_length is 100 MB.
BULK_CHUNK_DOCUMENTS = 500
BULK_CHUNK_BYTES = 10 * 2**20
# Retries of 429 / 5xx with backoff 2, 4, 8, 16, 32 s: about a minute of patience per chunk.
BULK_RETRY_STATUSES = (429, 500, 502, 503, 504)
BULK_MAX_RETRIES = 5
BULK_INITIAL_BACKOFF_S = 2.0
BULK_MAX_BACKOFF_S = 60.0
# A bulk request of BULK_CHUNK_BYTES may take far longer than a search.
BULK_REQUEST_TIMEOUT_S = 120
MGET_BATCH = 1_000
META_MAX_AGE_S = 30.0
# Reading an earlier index (EarlierIndex.scan): documents per page, and how long the scroll
# context lives between two pages. The import embeds a page, and every commit_every documents
# commits, before it asks for the next, so the keep-alive covers a commit, not just a request.
SCAN_PAGE_DOCUMENTS = 500
SCROLL_KEEP_ALIVE = "30m"
SCAN_REQUEST_TIMEOUT_S = 120
# The store's client retries a request that never reached a node (connection refused or reset,
# a pooled connection the node had closed), at once: on another node when there are several,
# while the failed one rests 1, 2, 4 ... 30 s (the node pool's backoff). Never a timeout or a
# 429/502/503/504: those come from a cluster that is slow or pushing back, and the caller answers
# 503 at once instead (the bulk helper retries its own with backoff, BULK_*).
CLIENT_RETRIES = {"max_retries": 2, "retry_on_status": (), "retry_on_timeout": False}


def _vector_mapping(dims: int) -> dict:
    return {"type": "dense_vector", "dims": dims, "index": True, "similarity": "cosine", "index_options": HNSW_OPTIONS}


def index_mappings(meta: dict) -> dict:
    """The mapping of every news index; ``meta`` is what the models that fill it record."""
    stored_only = {"type": "keyword", "index": False, "doc_values": False}
    return {
        "dynamic": "strict",
        "_meta": meta,
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
            "sentiment": {"properties": {label: {"type": "float"} for label in SENTIMENT_LABELS}},
            "content_sha256": stored_only,
            **{field: _vector_mapping(dims) for field, dims in FIELD_DIMS.items()},
        },
    }


def index_template(alias: str, meta: dict, shards: int, replicas: int) -> dict:
    """The body of ``PUT _index_template/<alias>``."""
    return {
        "index_patterns": [f"{alias}-*"],
        "priority": TEMPLATE_PRIORITY,
        "template": {
            "settings": {"number_of_shards": shards, "number_of_replicas": replicas},
            "mappings": index_mappings(meta),
        },
        "_meta": {"description": f"news indices behind the alias {alias}; made by `flask es create-index`"},
    }


def check_mapping(index: str, mapping: dict) -> dict:
    """The index's recorded models; IndexMismatch when its vectors cannot be this service's."""
    properties = mapping.get("properties", {})
    for field, dims in FIELD_DIMS.items():
        spec = properties.get(field, {})
        if spec.get("type") != "dense_vector" or spec.get("dims") != dims or spec.get("similarity") != "cosine":
            found = f"{spec.get('type')} with {spec.get('dims')} dims, similarity {spec.get('similarity')}"
            raise IndexMismatch(
                f"index {index!r} maps {field} as {found if spec else 'nothing'}; this service needs "
                f"dense_vector with {dims} dims and cosine similarity: create a new index with "
                "`flask es create-index --next` and ingest into it"
            )
    meta = mapping.get("_meta") or {}
    if "composition" not in meta or "models" not in meta:
        raise IndexMismatch(
            f"index {index!r} records no models in its mapping's _meta, so it was not made by "
            "`flask es create-index`: create a new index with it and ingest into that"
        )
    return meta


@dataclass(frozen=True)
class Target:
    """What the store's name (alias or index) resolves to, and the models recorded there."""

    name: str
    indices: frozenset[str]
    meta: dict
    read_at: float

    @property
    def is_alias(self) -> bool:
        return self.indices != {self.name}


def _error_text(body: object) -> str:
    """'type: reason' from an Elasticsearch error body (or the body itself when it has another shape)."""
    error = body.get("error") if isinstance(body, dict) else body
    if isinstance(error, dict):
        text = f"{error.get('type')}: {error.get('reason')}"
        cause = error.get("caused_by")
        if isinstance(cause, dict) and cause.get("reason"):
            text += f" (caused by {cause.get('type')}: {cause['reason']})"
        return text
    return str(error)


def _connection_reason(exc: TransportError) -> str:
    """The innermost cause of a connection failure, without object addresses or URLs."""
    cause: BaseException = exc
    while getattr(cause, "errors", None):
        cause = cause.errors[0]
    while cause.__context__ is not None and not isinstance(cause, OSError):
        cause = cause.__context__
    text = str(cause) or type(cause).__name__
    text = re.sub(r"<[^>]*object at 0x[0-9a-f]+>:\s*", "", text)
    text = re.sub(r"https?://\S+", "(url)", text)
    return re.sub(r"\[Errno -?\d+\]\s*", "", text).strip() or type(cause).__name__


def connect(
    hosts: tuple[str, ...],
    *,
    api_key: SecretStr | None,
    username: SecretStr | None,
    password: SecretStr | None,
    verify_certs: bool,
    ca_certs: Path | None,
    request_timeout: float,
    what: str,
    prefix: str,
) -> Elasticsearch:
    """A client of the cluster at ``hosts`` (validated by webapp.settings); nothing connects yet.
    The log line names the hosts and the kind of credential, never the credential."""
    options: dict = {"request_timeout": request_timeout, "verify_certs": verify_certs}
    if api_key:
        options["api_key"] = api_key.get_secret_value()
    elif username:
        options["basic_auth"] = (username.get_secret_value(), password.get_secret_value())
    if ca_certs:
        options["ca_certs"] = str(ca_certs)
    auth = "API key" if api_key else "username and password" if username else "no credentials"
    log.info("%s: %s, %s, TLS verification %s", what, ", ".join(hosts), auth, "on" if verify_certs else "OFF")
    if not verify_certs:
        log.warning("%sVERIFY_CERTS is false: the cluster's identity is not checked", prefix)
    # The transport logs a line per request at INFO (a second access log) and a traceback per
    # retry at WARNING (dozens a second in an outage). What an operator needs stays: the node
    # pool's warnings (node down, node back) and the service's own "store unavailable" lines.
    logging.getLogger("elastic_transport.transport").setLevel(logging.ERROR)
    return Elasticsearch(list(hosts), **options)


@contextlib.contextmanager
def translated_errors(doing: str, *, timeout: float, prefix: str, hosts_from: str, missing: str) -> Iterator[None]:
    """Translate client errors: StoreUnavailable (503) for what may pass, StoreError for what is
    a bug. ``prefix`` names the settings of the cluster's credentials, ``hosts_from`` where its
    URL came from, ``missing`` says what to do about a missing index."""
    try:
        yield
    except ConnectionTimeout as exc:
        raise StoreUnavailable(f"Elasticsearch did not answer within {timeout:g} s ({doing})") from exc
    except SSLError as exc:
        raise StoreUnavailable(
            f"the TLS connection to Elasticsearch failed ({doing}): {_connection_reason(exc)}; if a private CA "
            f"signed the cluster's certificate, give its bundle in {prefix}CA_CERTS"
        ) from exc
    except EsConnectionError as exc:
        raise StoreUnavailable(f"cannot connect to Elasticsearch ({doing}): {_connection_reason(exc)}") from exc
    except UnsupportedProductError as exc:
        raise StoreUnavailable(f"the server at {hosts_from} does not answer as Elasticsearch does") from exc
    except AuthenticationException as exc:
        raise StoreUnavailable(
            f"Elasticsearch refused the credentials (401): check {prefix}API_KEY, or {prefix}USERNAME and {prefix}PASSWORD"
        ) from exc
    except AuthorizationException as exc:
        raise StoreUnavailable(f"the Elasticsearch user lacks a privilege ({doing}): {_error_text(exc.body)}") from exc
    except NotFoundError as exc:
        if _error_type(exc) != "index_not_found_exception":
            raise StoreError(f"Elasticsearch answered 404 ({doing}): {_error_text(exc.body)}") from exc
        raise StoreUnavailable(missing) from exc
    except ApiError as exc:
        if exc.status_code == 429 or exc.status_code >= 500:
            raise StoreUnavailable(
                f"Elasticsearch answered {exc.status_code} ({doing}): {_error_text(exc.body)}"
            ) from exc
        raise StoreError(
            f"Elasticsearch refused a request ({doing}): {exc.status_code} {_error_text(exc.body)}"
        ) from exc
    except TransportError as exc:
        raise StoreUnavailable(f"Elasticsearch could not be used ({doing}): {exc}") from exc


class ElasticsearchStore:
    backend = "elasticsearch"

    def __init__(self, client: Elasticsearch, index: str, num_candidates_factor: int, request_timeout: float):
        self.client = client
        self.index = index
        self.num_candidates_factor = num_candidates_factor
        self.request_timeout = request_timeout
        self._target: Target | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ElasticsearchStore:
        """The store for validated settings (webapp.settings checks hosts and credentials)."""
        return cls(
            connect(
                settings.es_hosts,
                api_key=settings.es_api_key,
                username=settings.es_username,
                password=settings.es_password,
                verify_certs=settings.es_verify_certs,
                ca_certs=settings.es_ca_certs,
                request_timeout=settings.es_request_timeout,
                what=f"Elasticsearch store, index {settings.es_index!r}",
                prefix="FINNEWS_ES_",
            ).options(**CLIENT_RETRIES),
            index=settings.es_index,
            num_candidates_factor=settings.es_num_candidates_factor,
            request_timeout=settings.es_request_timeout,
        )

    # -- errors ---------------------------------------------------------------------------
    def _errors(self, doing: str) -> contextlib.AbstractContextManager[None]:
        return translated_errors(
            doing,
            timeout=self.request_timeout,
            prefix="FINNEWS_ES_",
            hosts_from="FINNEWS_ES_HOSTS",
            missing=f"the index or alias {self.index!r} does not exist in Elasticsearch: "
            "create it with `flask es create-index`",
        )

    # -- reading --------------------------------------------------------------------------
    def read_target(self, name: str | None = None) -> Target:
        """Resolve ``name`` (default: the store's alias or index) and check its mapping."""
        name = name or self.index
        with self._errors("reading the index mapping"):
            mappings = self.client.indices.get_mapping(index=name).body
        metas = {index: check_mapping(index, body["mappings"]) for index, body in sorted(mappings.items())}
        first = next(iter(metas.values()))
        if any(meta != first for meta in metas.values()):
            raise IndexMismatch(
                f"{name!r} spans indices built with different models ({', '.join(metas)}): point it at one of them"
            )
        return Target(name=name, indices=frozenset(mappings), meta=first, read_at=time.monotonic())

    def index_meta(self) -> dict | None:
        target = self._target
        if target is None or time.monotonic() - target.read_at > META_MAX_AGE_S:
            target = self._target = self.read_target()
        return target.meta

    def knn_query(self, field: str, vector: np.ndarray, k: int, filters: SearchFilters) -> dict:
        knn: dict = {
            "field": field,
            "query_vector": np.asarray(vector, dtype=np.float32).tolist(),
            "k": k,
            "num_candidates": min(MAX_NUM_CANDIDATES, max(k, self.num_candidates_factor * k)),
        }
        clauses: list[dict] = []
        if filters.published_from is not None or filters.published_to is not None:
            bounds = {}
            if filters.published_from is not None:
                bounds["gte"] = filters.published_from.isoformat()
            if filters.published_to is not None:
                bounds["lte"] = filters.published_to.isoformat()
            clauses.append({"range": {"published_dt": bounds}})
        if filters.doc_types is not None:
            clauses.append({"terms": {"doc_type": list(filters.doc_types)}})
        if filters.sources is not None:
            clauses.append({"terms": {"source": list(filters.sources)}})
        if clauses:
            knn["filter"] = clauses
        if filters.min_score is not None:
            knn["similarity"] = min_cosine(filters.min_score)
        return knn

    def search(self, field: str, vector: np.ndarray, size: int, filters: SearchFilters) -> list[Hit]:
        knn = self.knn_query(field, vector, size, filters)
        with self._errors("searching"):
            response = self.client.search(
                index=self.index, knn=knn, size=size, source={"excludes": list(VECTOR_FIELDS)}
            )
        hits = response["hits"]["hits"]
        target = self._target
        if target is not None and not {hit["_index"] for hit in hits} <= target.indices:
            self._target = None  # the alias moved: read the models of its new index before the next search
        return [Hit(id=hit["_id"], score=float(hit["_score"]), document=hit["_source"]) for hit in hits]

    def filter_values(self) -> None:
        """None: listing them takes a terms aggregation over the index (which the project's fake
        node does not answer); the page then takes the names typed."""
        return None

    def health(self) -> StoreHealth:
        """One check within request_timeout, both requests together (see the module docstring)."""
        ends = time.monotonic() + self.request_timeout
        try:
            with self._errors("counting documents"):
                documents = self._health_client(ends, "counting documents").count(index=self.index)["count"]
            # Only for an existing index: for a missing one this API waits for its timeout (30 s).
            with self._errors("reading the cluster health"):
                client = self._health_client(ends, "reading the cluster health")
                status = client.cluster.health(index=self.index)["status"]
        except StoreError as exc:
            return StoreHealth(self.backend, "unavailable", None, str(exc))
        return StoreHealth(self.backend, status, documents)

    def _health_client(self, ends: float, doing: str) -> Elasticsearch:
        """The client for a request of the health check: what is left of its time, no retry."""
        left = ends - time.monotonic()
        if left <= 0:
            raise StoreUnavailable(f"Elasticsearch did not answer within {self.request_timeout:g} s ({doing})")
        return self.client.options(request_timeout=left, max_retries=0)

    def content_hashes(self, ids: list[str]) -> dict[str, str]:
        hashes = {}
        for start in range(0, len(ids), MGET_BATCH):
            with self._errors("reading stored documents"):
                response = self.client.mget(
                    index=self.index, ids=ids[start : start + MGET_BATCH], source_includes=["content_sha256"]
                )
            for doc in response["docs"]:
                if "error" in doc:
                    raise StoreError(f"cannot read document {doc.get('_id')!r}: {_error_text(doc)}")
                if doc.get("found"):
                    hashes[doc["_id"]] = doc["_source"]["content_sha256"]
        return hashes

    def close(self) -> None:
        self.client.close()

    # -- writing --------------------------------------------------------------------------
    def upsert(self, documents: list[dict], vectors: dict[str, np.ndarray], meta: dict) -> list[DocumentFailure]:
        if not documents:
            return []
        target = self.read_target()  # never write on the strength of a cached view
        if not same_models(target.meta, meta):
            raise IndexMismatch(
                f"{self.index!r} holds vectors made with {target.meta['models']} ({target.meta['composition']}), "
                f"this ingest makes them with {meta['models']} ({meta['composition']}): vectors from "
                "different models are never mixed. Create a new index with `flask es create-index --next` "
                "and ingest into it."
            )
        actions = (
            {
                "_op_type": "index",
                "_index": self.index,
                "_id": document["id"],
                "_source": {**document, **{field: vectors[field][row].tolist() for field in VECTOR_FIELDS}},
            }
            for row, document in enumerate(documents)
        )
        # The helper retries with backoff; the transport must not also retry those statuses at once.
        client = self.client.options(request_timeout=BULK_REQUEST_TIMEOUT_S, retry_on_status=())
        failures = []
        with self._errors("indexing documents"):
            for _, item in helpers.streaming_bulk(
                client,
                actions,
                chunk_size=BULK_CHUNK_DOCUMENTS,
                max_chunk_bytes=BULK_CHUNK_BYTES,
                max_retries=BULK_MAX_RETRIES,
                initial_backoff=BULK_INITIAL_BACKOFF_S,
                max_backoff=BULK_MAX_BACKOFF_S,
                retry_on_status=BULK_RETRY_STATUSES,
                raise_on_error=False,
                yield_ok=False,
                require_alias=target.is_alias or None,
            ):
                info = next(iter(item.values()))
                failures.append(
                    DocumentFailure(
                        str(info.get("_id")), f"Elasticsearch refused it: {info.get('status')} {_error_text(info)}"
                    )
                )
            client.indices.refresh(index=self.index)
        log.info("indexed %d documents into %r (%d refused)", len(documents) - len(failures), self.index, len(failures))
        return failures

    # -- index management (flask es ...) --------------------------------------------------
    def put_template(self, meta: dict, shards: int, replicas: int) -> None:
        body = index_template(self.index, meta, shards, replicas)
        with self._errors("writing the index template"):
            self.client.indices.put_index_template(
                name=self.index,
                index_patterns=body["index_patterns"],
                priority=body["priority"],
                template=body["template"],
                meta=body["_meta"],
            )

    def alias_indices(self) -> list[str] | None:
        """The indices the store's alias points to; None when there is no such alias.

        StoreError when the name belongs to an index: the alias could never be created.
        """
        with self._errors("reading the alias"):
            if not self.client.indices.exists(index=self.index):
                return None
            try:
                return sorted(self.client.indices.get_alias(name=self.index).body)
            except NotFoundError:
                raise StoreError(
                    f"{self.index!r} is an index, not an alias: `flask es` manages an alias. Set "
                    "FINNEWS_ES_INDEX to the alias's name."
                ) from None

    def next_index_name(self) -> str:
        """``<alias>-000001``, then one more than the highest such index (as rollover names them)."""
        with self._errors("listing the indices"):
            existing = self.client.indices.get_alias(index=f"{self.index}-*").body
        numbers = [int(n) for name in existing if (n := name.removeprefix(f"{self.index}-")).isdigit()]
        return f"{self.index}-{max(numbers, default=0) + 1:06d}"

    def create_index(self, name: str, with_alias: bool) -> Target:
        """Create ``name`` from the template (and point the alias at it); check what came out."""
        aliases = {self.index: {"is_write_index": True}} if with_alias else None
        with self._errors(f"creating the index {name}"):
            self.client.indices.create(index=name, aliases=aliases)
        # Another, higher-priority template could have shaped it: check the mapping it got.
        return self.read_target(name)

    def switch_alias(self, new_index: str, old_indices: list[str], delete_old: bool) -> None:
        actions: list[dict] = [{"remove": {"index": old, "alias": self.index}} for old in old_indices]
        actions.append({"add": {"index": new_index, "alias": self.index, "is_write_index": True}})
        if delete_old:
            actions += [{"remove_index": {"index": old}} for old in old_indices]
        with self._errors("moving the alias"):
            self.client.indices.update_aliases(actions=actions)
        self._target = None

    def count(self, name: str | None = None) -> int:
        with self._errors("counting documents"):
            self.client.indices.refresh(index=name or self.index)
            return self.client.count(index=name or self.index)["count"]

    def cluster(self) -> dict:
        """Name, version and health of the cluster."""
        with self._errors("reading the cluster information"):
            info = self.client.info()
            health = self.client.cluster.health()
        return {"name": info["cluster_name"], "version": info["version"]["number"], "status": health["status"]}


class EarlierIndex:
    """The earlier system's news in Elasticsearch, read only: an index, alias, pattern or
    comma-separated list of them (``news_finbert_embeddings``, its dated indices). Its documents
    are counted, sampled at random and scanned; nothing is ever written to it."""

    def __init__(self, client: Elasticsearch, index: str, request_timeout: float, prefix: str):
        self.client = client
        self.index = index
        self.request_timeout = request_timeout
        self.prefix = prefix  # the settings its credentials came from

    @classmethod
    def from_settings(cls, settings: Settings, hosts: tuple[str, ...], index: str) -> EarlierIndex:
        """The earlier index at ``hosts`` (checked with webapp.settings.check_es_hosts), with the
        FINNEWS_EARLIER_ES_* credentials; with none of those set and ``hosts`` our own cluster's,
        with ours (they go nowhere they would not go anyway)."""
        earlier_credentials = settings.earlier_es_api_key or settings.earlier_es_username
        if not earlier_credentials and tuple(hosts) == tuple(settings.es_hosts):
            prefix, api_key, username, password = (
                "FINNEWS_ES_", settings.es_api_key, settings.es_username, settings.es_password,
            )  # fmt: skip
            verify_certs, ca_certs = settings.es_verify_certs, settings.es_ca_certs
        else:
            prefix, api_key, username, password = (
                "FINNEWS_EARLIER_ES_", settings.earlier_es_api_key, settings.earlier_es_username,
                settings.earlier_es_password,
            )  # fmt: skip
            verify_certs, ca_certs = settings.earlier_es_verify_certs, settings.earlier_es_ca_certs
        client = connect(
            hosts,
            api_key=api_key,
            username=username,
            password=password,
            verify_certs=verify_certs,
            ca_certs=ca_certs,
            request_timeout=SCAN_REQUEST_TIMEOUT_S,
            what=f"earlier Elasticsearch index {index!r} (credentials from {prefix}*)",
            prefix=prefix,
        )
        return cls(client, index, SCAN_REQUEST_TIMEOUT_S, prefix)

    def _errors(self, doing: str) -> contextlib.AbstractContextManager[None]:
        return translated_errors(
            doing,
            timeout=self.request_timeout,
            prefix=self.prefix,
            hosts_from="--source-hosts",
            missing=f"the earlier index {self.index!r} does not exist there: check --source-index and --source-hosts",
        )

    def count(self) -> int:
        with self._errors("counting the earlier documents"):
            return self.client.count(index=self.index)["count"]

    def sample(self, size: int, seed: int, exclude: list[str]) -> list[dict]:
        """``size`` documents drawn at random (function_score random_score; the same seed draws
        the same documents while the index does not change)."""
        query = {"function_score": {"random_score": {"seed": seed, "field": "_seq_no"}, "boost_mode": "replace"}}
        with self._errors("drawing a random sample"):
            response = self.client.search(index=self.index, query=query, size=size, source_excludes=exclude or None)
        return response["hits"]["hits"]

    def scan(self, exclude: list[str]) -> Iterator[dict]:
        """Every document (hits with _index, _id, _source), in index order, by the client's scan
        helper (a scroll, cleared at the end or when the caller stops early)."""
        with self._errors("scanning the earlier index"):
            try:
                yield from helpers.scan(
                    self.client,
                    index=self.index,
                    size=SCAN_PAGE_DOCUMENTS,
                    scroll=SCROLL_KEEP_ALIVE,
                    _source_excludes=exclude or None,
                )
            except helpers.ScanError as exc:
                raise StoreUnavailable(f"the scan of {self.index!r} failed on some shards: {exc}") from exc

    def close(self) -> None:
        self.client.close()


def _error_type(exc: ApiError) -> str | None:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"].get("type")
    return None
