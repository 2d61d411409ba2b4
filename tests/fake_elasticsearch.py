"""A stand-in for one Elasticsearch 8.x/9.x node, for tests (no Elasticsearch can be installed
on the build machines).

It answers the REST calls the service makes as Elasticsearch documents them: the
``X-Elastic-Product`` header on every response, the versioned media types the official clients
send (and the 400 that a server of another major version answers to them), status codes and
error bodies (``{"error": {"root_cause": [...], "type", "reason"}, "status"}``), index templates,
aliases (atomic ``_aliases``, ``is_write_index``, ``require_alias``), strict mappings with
dense_vector dimension checks, ``_bulk`` with per-item results, ``_mget``, ``_count``,
``_refresh`` and a kNN search: exact cosine over the stored vectors, scored ``(1 + cos) / 2``
in float32, with the filter applied during the search, ``similarity`` compared with the raw
cosine, then ``num_candidates`` per index and the best ``k`` overall. Searches with a ``query``
(a filter, or ``function_score`` with ``random_score`` to draw a random sample), sorted by
``_doc`` or score, with ``from`` + ``size`` within ``index.max_result_window``; and the scroll API
that the client's ``helpers.scan`` reads an index with (a view of the moment the scroll opened,
pages of ``size``, keep-alive renewed by each page, ``search_context_missing_exception`` once it
lapsed, contexts freed by ``DELETE _search/scroll``).

It records every request (method, path, query parameters, headers, parsed body; a ``_bulk``
body as its list of NDJSON lines) so tests can check the exact bodies the client sent, and
it can fail on purpose: per request, per bulk item, as an outage (connection refused after
:meth:`stop`, 503 while :attr:`unavailable`, no answer while :attr:`hanging`) and recover.

What it leaves out, and a real cluster may do differently: HNSW is approximate and this search
is exact (what a search with num_candidates covering the whole index gives); one shard per
index; documents become searchable at a refresh only (no periodic refresh); queries other than
term, terms, range, bool, match_all and function_score/random_score are answered 400, and those
that match score 1.0 (no relevance scoring); no security beyond checking one API key or
username and password.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import fnmatch
import hashlib
import itertools
import json
import random
import re
import threading
import time
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

MAX_NUM_CANDIDATES = 10_000
MAX_RESULT_WINDOW = 10_000  # index.max_result_window: from + size of a search, scrolls excepted
INDEX_NAME = re.compile(r"^[a-z0-9][a-z0-9_.+-]*$")


class EsError(Exception):
    """An error answered the way Elasticsearch answers it."""

    def __init__(self, status: int, error_type: str, reason: str, **extra):
        super().__init__(reason)
        self.status, self.error_type, self.reason, self.extra = status, error_type, reason, extra

    def body(self) -> dict:
        cause = {"type": self.error_type, "reason": self.reason, **self.extra}
        return {"error": {"root_cause": [cause], **cause}, "status": self.status}


def index_not_found(name: str) -> EsError:
    return EsError(
        404,
        "index_not_found_exception",
        f"no such index [{name}]",
        **{"resource.type": "index_or_alias", "resource.id": name, "index_uuid": "_na_", "index": name},
    )


@dataclass
class _Delayed:
    """An answer given only after a wait, outside the server's lock."""

    seconds: float
    answer: tuple


@dataclass
class _Scroll:
    """An open scroll: the hits of the search that opened it, and how far the client has read."""

    hits: list[dict]
    size: int
    position: int
    expires_at: float
    shards: int


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: Any
    size: int  # bytes of the body as sent


@dataclass
class FakeIndex:
    name: str
    settings: dict
    mappings: dict
    aliases: dict[str, dict] = field(default_factory=dict)
    documents: dict[str, dict] = field(default_factory=dict)  # what realtime reads see
    searchable: dict[str, dict] = field(default_factory=dict)  # what searches see: as of the last refresh
    versions: dict[str, int] = field(default_factory=dict)
    uuid: str = field(default_factory=lambda: uuid.uuid4().hex[:22])
    _matrices: dict[str, tuple[list[str], np.ndarray]] = field(default_factory=dict)

    @property
    def replicas(self) -> int:
        return int(self.settings.get("number_of_replicas", 1))

    def refresh(self) -> None:
        self.searchable = dict(self.documents)
        self._matrices.clear()

    def matrix(self, field_name: str) -> tuple[list[str], np.ndarray]:
        """Searchable ids that have a vector in ``field_name``, and those vectors (float32 rows)."""
        if field_name not in self._matrices:
            ids = [i for i, source in self.searchable.items() if source.get(field_name) is not None]
            dims = self.mappings.get("properties", {}).get(field_name, {}).get("dims", 0)
            rows = np.asarray([self.searchable[i][field_name] for i in ids], dtype=np.float32)
            self._matrices[field_name] = (ids, rows.reshape(len(ids), dims))
        return self._matrices[field_name]


class _QuietHandler(WSGIRequestHandler):
    # One request per connection: an outage then cuts every client off, as a dead node does.
    protocol_version = "HTTP/1.0"

    def log_request(self, *args, **kwargs) -> None:
        pass


class FakeElasticsearch:
    def __init__(
        self,
        version: str = "8.19.3",
        api_key: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        ssl_context: tuple[str, str] | None = None,
    ):
        self.version = version
        self.major = int(version.split(".")[0])
        self.api_key, self.basic_auth, self.ssl_context = api_key, basic_auth, ssl_context
        self.cluster_name = "fake-cluster"
        self.requests: list[Recorded] = []
        self.internal_errors: list[str] = []  # tracebacks of the fake's own bugs
        self.indices: dict[str, FakeIndex] = {}
        self.templates: dict[str, dict] = {}
        self.unavailable = False
        self.product_header = True  # False: answer as a server that is not Elasticsearch
        self.red_indices: set[str] = set()
        self.scrolls: dict[str, _Scroll] = {}  # open scroll contexts by id
        self._request_failures: list[list] = []  # [endpoint, status, error_type, times_left]
        self._document_failures: dict[str, list] = {}  # id -> [status, error_type, reason, times_left]
        self._answering = threading.Event()
        self._answering.set()
        self._lock = threading.RLock()
        self._seq = itertools.count()
        self._server = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self._routes = Map(
            [
                Rule("/", methods=["GET", "HEAD"], endpoint="info"),
                Rule("/_cluster/health", methods=["GET"], endpoint="cluster_health"),
                Rule("/_cluster/health/<target>", methods=["GET"], endpoint="cluster_health"),
                Rule("/_index_template/<name>", methods=["PUT", "POST", "GET"], endpoint="index_template"),
                Rule("/_aliases", methods=["POST"], endpoint="update_aliases"),
                Rule("/_alias/<name>", methods=["GET", "HEAD"], endpoint="get_alias"),
                Rule("/_bulk", methods=["POST", "PUT"], endpoint="bulk"),
                Rule("/<target>/_bulk", methods=["POST", "PUT"], endpoint="bulk"),
                Rule("/_search/scroll", methods=["GET", "POST", "DELETE"], endpoint="scroll"),
                Rule("/_search/scroll/<scroll_id>", methods=["GET", "POST", "DELETE"], endpoint="scroll"),
                Rule("/<target>/_search", methods=["GET", "POST"], endpoint="search"),
                Rule("/<target>/_count", methods=["GET", "POST"], endpoint="count"),
                Rule("/<target>/_mget", methods=["GET", "POST"], endpoint="mget"),
                Rule("/<target>/_refresh", methods=["GET", "POST"], endpoint="refresh"),
                Rule("/<target>/_mapping", methods=["GET"], endpoint="get_mapping"),
                Rule("/<target>/_alias", methods=["GET"], endpoint="index_aliases"),
                Rule("/<target>", methods=["PUT"], endpoint="create_index"),
                Rule("/<target>", methods=["HEAD"], endpoint="exists"),
                Rule("/<target>", methods=["DELETE"], endpoint="delete_index"),
            ]
        )

    # -- lifecycle and faults -----------------------------------------------------------
    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{self.port}"

    def start(self) -> FakeElasticsearch:
        """Listen (again, on the same port after a stop)."""
        self._server = make_server(
            "127.0.0.1",
            self.port,
            self._wsgi,
            threaded=True,
            request_handler=_QuietHandler,
            ssl_context=self.ssl_context,
        )
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-es", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: clients get 'connection refused' until start()."""
        if self._server is not None:
            self._answering.set()  # release hanging requests
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=10)
            self._server = None

    def close(self) -> None:
        """Stop for good, and fail if the fake itself broke on a request meanwhile."""
        self.stop()
        if self.internal_errors:
            raise AssertionError(f"the fake Elasticsearch failed on a request:\n{self.internal_errors[0]}")

    @property
    def hanging(self) -> bool:
        return not self._answering.is_set()

    @hanging.setter
    def hanging(self, value: bool) -> None:
        """Accept connections but answer nothing (a node stuck in GC, a black-holed route)."""
        if value:
            self._answering.clear()
        else:
            self._answering.set()

    def fail_requests(self, endpoint: str, status: int, times: int, error_type: str | None = None) -> None:
        """Answer the next ``times`` requests to ``endpoint`` (e.g. "bulk", "search") with ``status``."""
        default = {429: "es_rejected_execution_exception", 503: "unavailable_shards_exception"}
        self._request_failures.append([endpoint, status, error_type or default.get(status, "exception"), times])

    def fail_documents(
        self, ids, status: int, error_type: str, reason: str = "injected failure", times: int | None = None
    ) -> None:
        """Bulk items for these ids fail with ``status`` (``times`` attempts, or always)."""
        for doc_id in ids:
            self._document_failures[doc_id] = [status, error_type, reason, times]

    def requests_to(self, endpoint_path: str, method: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith(endpoint_path) and (method is None or r.method == method)]

    # -- WSGI ---------------------------------------------------------------------------
    def _wsgi(self, environ, start_response):
        request = Request(environ)
        try:
            response = self._dispatch(request)
        except EsError as exc:
            response = self._json(request, exc.body(), exc.status)
        except HTTPException as exc:
            body = {"error": f"no handler found for uri [{request.path}] and method [{request.method}]", "status": 400}
            response = self._json(request, body, 405 if exc.code == 405 else 400)
        except Exception:  # a bug in the fake: answer 500 and keep it for the test to fail on
            self.internal_errors.append(traceback.format_exc())
            response = self._json(request, EsError(500, "fake_internal_error", self.internal_errors[-1]).body(), 500)
        if self.product_header:
            response.headers["X-elastic-product"] = "Elasticsearch"
        return response(environ, start_response)

    def _json(self, request: Request, body: Any, status: int = 200) -> Response:
        accept = request.headers.get("Accept", "")
        version = _compat_version(accept)
        mimetype = f"application/vnd.elasticsearch+json;compatible-with={version}" if version else "application/json"
        if request.method == "HEAD":
            return Response(status=status, content_type=mimetype)
        return Response(json.dumps(body), status=status, content_type=mimetype)

    def _dispatch(self, request: Request) -> Response:
        raw = request.get_data()
        adapter = self._routes.bind_to_environ(request.environ)
        endpoint, args = adapter.match()
        body: Any = None
        if raw:
            try:
                if endpoint == "bulk":
                    body = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
                else:
                    body = json.loads(raw)
            except ValueError as exc:
                raise EsError(
                    400, "x_content_parse_exception", f"[1:1] failed to parse the request body: {exc}"
                ) from None
        with self._lock:
            self.requests.append(
                Recorded(request.method, request.path, dict(request.args), dict(request.headers), body, len(raw))
            )
        self._answering.wait(timeout=60)
        self._check_media_types(request)
        self._check_credentials(request)
        if self.unavailable:
            raise EsError(503, "master_not_discovered_exception", "no master node has been discovered")
        for failure in self._request_failures:
            if failure[0] == endpoint and failure[3] > 0:
                failure[3] -= 1
                raise EsError(failure[1], failure[2], f"injected {failure[1]} for [{endpoint}]")
        with self._lock:
            result = getattr(self, f"_{endpoint}")(request, body, **args)
        if isinstance(result, _Delayed):
            time.sleep(result.seconds)
            result = result.answer
        status, payload = result if isinstance(result, tuple) else (200, result)
        return self._json(request, payload, status)

    def _check_media_types(self, request: Request) -> None:
        for header in ("Accept", "Content-Type"):
            version = _compat_version(request.headers.get(header, ""))
            if version is not None and version not in (self.major, self.major - 1):
                raise EsError(
                    400,
                    "media_type_header_exception",
                    f"Invalid media-type value on headers [{header}]",
                    caused_by={
                        "type": "status_exception",
                        "reason": f"{header} version must be either version {self.major} or {self.major - 1}, "
                        f"but found {version}. {header}={request.headers.get(header)}",
                    },
                )

    def _check_credentials(self, request: Request) -> None:
        if self.api_key is None and self.basic_auth is None:
            return
        given = request.headers.get("Authorization", "")
        accepted = []
        if self.api_key is not None:
            accepted.append(f"ApiKey {self.api_key}")
        if self.basic_auth is not None:
            accepted.append("Basic " + base64.b64encode(":".join(self.basic_auth).encode()).decode())
        if given not in accepted:
            reason = (
                f"missing authentication credentials for REST request [{request.path}]"
                if not given
                else "unable to authenticate with provided credentials and anonymous access is not allowed for this request"
            )
            error = EsError(
                401, "security_exception", reason, header={"WWW-Authenticate": ['Basic realm="security"', "ApiKey"]}
            )
            raise error

    # -- helpers ------------------------------------------------------------------------
    def _resolve(self, target: str) -> list[FakeIndex]:
        """Concrete indices behind an index name, an alias, or a comma-separated list of them."""
        found: dict[str, FakeIndex] = {}
        for name in target.split(","):
            if "*" in name:  # a wildcard may match nothing (allow_no_indices)
                found.update((n, index) for n, index in self.indices.items() if fnmatch.fnmatchcase(n, name))
                continue
            if name in self.indices:
                found[name] = self.indices[name]
                continue
            behind = [index for index in self.indices.values() if name in index.aliases]
            if not behind:
                raise index_not_found(name)
            found.update((index.name, index) for index in behind)
        return [found[name] for name in sorted(found)]

    def _write_index(self, name: str) -> FakeIndex:
        if name in self.indices:
            return self.indices[name]
        behind = [index for index in self.indices.values() if name in index.aliases]
        if len(behind) == 1:
            return behind[0]
        writers = [index for index in behind if index.aliases[name].get("is_write_index")]
        if len(writers) == 1:
            return writers[0]
        if behind:
            raise EsError(
                400,
                "illegal_argument_exception",
                f"no write index is defined for alias [{name}]. The write index may be explicitly disabled "
                "using is_write_index=false or the alias points to multiple indices without one being "
                "designated as a write index",
            )
        raise index_not_found(name)

    def _new_index(self, name: str, body: dict | None) -> FakeIndex:
        if not INDEX_NAME.match(name) or name in (".", ".."):
            raise EsError(400, "invalid_index_name_exception", f"Invalid index name [{name}], must be lowercase")
        if name in self.indices:
            existing = self.indices[name]
            raise EsError(
                400,
                "resource_already_exists_exception",
                f"index [{name}/{existing.uuid}] already exists",
                index=name,
            )
        if any(name in index.aliases for index in self.indices.values()):
            raise EsError(400, "invalid_index_name_exception", f"Invalid index name [{name}], already exists as alias")
        body = body or {}
        matching = [t for t in self.templates.values() if any(fnmatch.fnmatchcase(name, p) for p in t["patterns"])]
        template = max(matching, key=lambda t: t["body"].get("priority", 0))["body"]["template"] if matching else {}
        settings = {**_flat_settings(template.get("settings", {})), **_flat_settings(body.get("settings", {}))}
        mappings = copy.deepcopy(body.get("mappings") or template.get("mappings") or {})
        aliases = {**template.get("aliases", {}), **(body.get("aliases") or {})}
        index = FakeIndex(name=name, settings=settings, mappings=mappings, aliases=copy.deepcopy(aliases))
        self.indices[name] = index
        return index

    # -- endpoints ----------------------------------------------------------------------
    def _info(self, request, body):
        return {
            "name": "fake-node-0",
            "cluster_name": self.cluster_name,
            "cluster_uuid": "fAkEcLuStErUuId0000000",
            "version": {
                "number": self.version,
                "build_flavor": "default",
                "build_type": "docker",
                "build_hash": "0" * 40,
                "build_date": "2026-01-01T00:00:00.000Z",
                "build_snapshot": False,
                "lucene_version": "10.3.0" if self.major >= 9 else "9.12.2",
                "minimum_wire_compatibility_version": f"{self.major - 1}.19.0" if self.major >= 9 else "7.17.0",
                "minimum_index_compatibility_version": f"{self.major - 1}.0.0",
            },
            "tagline": "You Know, for Search",
        }

    def _cluster_health(self, request, body, target: str | None = None):
        if target is not None:
            try:
                indices = self._resolve(target)
            except EsError:
                # Elasticsearch waits for a missing index until the timeout (30 s by default), then 408.
                answer = (408, {"cluster_name": self.cluster_name, "status": "red", "timed_out": True})
                return _Delayed(_seconds(request.args.get("timeout", "30s")), answer)
        else:
            indices = list(self.indices.values())
        if any(index.name in self.red_indices for index in indices):
            status = "red"
        elif any(index.replicas > 0 for index in indices):
            status = "yellow"  # one node: replicas stay unassigned
        else:
            status = "green"
        primaries = sum(int(index.settings.get("number_of_shards", 1)) for index in indices)
        unassigned = sum(int(index.settings.get("number_of_shards", 1)) * index.replicas for index in indices)
        return {
            "cluster_name": self.cluster_name,
            "status": status,
            "timed_out": False,
            "number_of_nodes": 1,
            "number_of_data_nodes": 1,
            "active_primary_shards": primaries,
            "active_shards": primaries,
            "relocating_shards": 0,
            "initializing_shards": 0,
            "unassigned_shards": unassigned,
            "delayed_unassigned_shards": 0,
            "number_of_pending_tasks": 0,
            "number_of_in_flight_fetch": 0,
            "task_max_waiting_in_queue_millis": 0,
            "active_shards_percent_as_number": 100.0 * primaries / max(1, primaries + unassigned),
        }

    def _index_template(self, request, body, name: str):
        if request.method == "GET":
            if name not in self.templates:
                raise EsError(404, "resource_not_found_exception", f"index template matching [{name}] not found")
            return {"index_templates": [{"name": name, "index_template": self.templates[name]["body"]}]}
        if not body or "index_patterns" not in body:
            raise EsError(
                400, "action_request_validation_exception", "Validation Failed: 1: index patterns are missing;"
            )
        unknown = set(body) - {"index_patterns", "template", "priority", "version", "_meta", "composed_of"}
        if unknown:
            raise EsError(400, "x_content_parse_exception", f"[index_template] unknown field [{sorted(unknown)[0]}]")
        patterns = body["index_patterns"]
        self.templates[name] = {"patterns": [patterns] if isinstance(patterns, str) else patterns, "body": body}
        return {"acknowledged": True}

    def _create_index(self, request, body, target: str):
        index = self._new_index(target, body)
        return {"acknowledged": True, "shards_acknowledged": True, "index": index.name}

    def _exists(self, request, body, target: str):
        self._resolve(target)
        return {}

    def _delete_index(self, request, body, target: str):
        if target not in self.indices:
            raise index_not_found(target)
        del self.indices[target]
        return {"acknowledged": True}

    def _get_mapping(self, request, body, target: str):
        return {index.name: {"mappings": index.mappings} for index in self._resolve(target)}

    def _index_aliases(self, request, body, target: str):
        return {index.name: {"aliases": index.aliases} for index in self._resolve(target)}

    def _get_alias(self, request, body, name: str):
        found = {
            index.name: {"aliases": {name: index.aliases[name]}}
            for index in self.indices.values()
            if name in index.aliases
        }
        if not found:
            return 404, {"error": f"alias [{name}] missing", "status": 404}
        return found

    def _update_aliases(self, request, body):
        aliases = {name: copy.deepcopy(index.aliases) for name, index in self.indices.items()}
        removed: set[str] = set()
        for action in body.get("actions", []):
            (kind, spec), *rest = action.items()
            if rest:
                raise EsError(400, "x_content_parse_exception", "too many operations declared on operation entry")
            index = spec.get("index")
            if index not in self.indices or index in removed:
                raise index_not_found(str(index))
            if kind == "add":
                aliases[index][spec["alias"]] = {k: v for k, v in spec.items() if k in ("is_write_index", "filter")}
            elif kind == "remove":
                if spec["alias"] not in aliases[index]:
                    raise EsError(404, "aliases_not_found_exception", f"aliases [{spec['alias']}] missing")
                del aliases[index][spec["alias"]]
            elif kind == "remove_index":
                removed.add(index)
            else:
                raise EsError(400, "x_content_parse_exception", f"Unknown alias action [{kind}]")
        for name, index in self.indices.items():
            index.aliases = aliases[name]
        for name in removed:
            del self.indices[name]
        return {"acknowledged": True, "errors": False}

    def _refresh(self, request, body, target: str):
        indices = self._resolve(target)
        for index in indices:
            index.refresh()
        return {"_shards": {"total": 2 * len(indices), "successful": len(indices), "failed": 0}}

    def _count(self, request, body, target: str):
        if body:
            raise EsError(400, "parsing_exception", "the fake counts whole indices only")
        indices = self._resolve(target)
        shards = {"total": len(indices), "successful": len(indices), "skipped": 0, "failed": 0}
        return {"count": sum(len(index.searchable) for index in indices), "_shards": shards}

    def _mget(self, request, body, target: str):
        includes = [p for p in request.args.get("_source_includes", "").split(",") if p]
        ids = body.get("ids") or [doc["_id"] for doc in body.get("docs", [])]
        try:
            indices = self._resolve(target)
        except EsError as exc:
            return {"docs": [{"_index": target, "_id": i, "error": exc.body()["error"]} for i in ids]}
        if len(indices) > 1:
            names = ", ".join(i.name for i in indices)
            raise EsError(
                400,
                "illegal_argument_exception",
                f"alias [{target}] has more than one index associated with it [{names}], can't execute a single index op",
            )
        index = indices[0]
        docs = []
        for doc_id in ids:
            if doc_id in index.documents:
                source = _filter_source(index.documents[doc_id], {"includes": includes} if includes else True)
                docs.append(
                    {
                        "_index": index.name,
                        "_id": doc_id,
                        "_version": index.versions[doc_id],
                        "_seq_no": 0,
                        "_primary_term": 1,
                        "found": True,
                        "_source": source,
                    }
                )
            else:
                docs.append({"_index": index.name, "_id": doc_id, "found": False})
        return {"docs": docs}

    def _bulk(self, request, body, target: str | None = None):
        started = time.perf_counter()
        lines = list(body or [])
        require_alias = request.args.get("require_alias") == "true"
        items, touched = [], set()
        position = 0
        while position < len(lines):
            action = lines[position]
            (op_type, meta), *_ = action.items()
            position += 1
            source = None
            if op_type != "delete":
                source = lines[position]
                position += 1
            name = meta.get("_index", target)
            doc_id = meta.get("_id") or uuid.uuid4().hex
            try:
                items.append({op_type: self._bulk_item(op_type, name, doc_id, source, require_alias, touched)})
            except EsError as exc:
                error = exc.body()["error"]
                error.pop("root_cause", None)
                items.append({op_type: {"_index": name, "_id": doc_id, "status": exc.status, "error": error}})
        if request.args.get("refresh") in ("true", "wait_for", ""):
            for name in touched:
                self.indices[name].refresh()
        took = int((time.perf_counter() - started) * 1000)
        return {"errors": any("error" in next(iter(i.values())) for i in items), "took": took, "items": items}

    def _bulk_item(self, op_type, name, doc_id, source, require_alias, touched) -> dict:
        failure = self._document_failures.get(doc_id)
        if failure is not None and (failure[3] is None or failure[3] > 0):
            if failure[3] is not None:
                failure[3] -= 1
            raise EsError(failure[0], failure[1], failure[2])
        is_alias = any(name in index.aliases for index in self.indices.values())
        if require_alias and not is_alias:
            raise EsError(
                404,
                "index_not_found_exception",
                f"no such index [{name}] and [require_alias] request flag is [true] and [{name}] is not an alias",
                index=name,
            )
        try:
            index = self._write_index(name)
        except EsError as exc:
            if exc.error_type != "index_not_found_exception":
                raise
            index = self._new_index(name, None)  # action.auto_create_index, on by default
        if op_type == "delete":
            existed = index.documents.pop(doc_id, None) is not None
            touched.add(index.name)
            return {"_index": index.name, "_id": doc_id, "result": "deleted" if existed else "not_found", "status": 200}
        if op_type not in ("index", "create"):
            raise EsError(400, "illegal_argument_exception", f"the fake does not implement bulk [{op_type}]")
        if op_type == "create" and doc_id in index.documents:
            raise EsError(
                409, "version_conflict_engine_exception", f"[{doc_id}]: version conflict, document already exists"
            )
        _validate_document(index, doc_id, source)
        created = doc_id not in index.documents
        index.documents[doc_id] = source
        index.versions[doc_id] = index.versions.get(doc_id, 0) + 1
        touched.add(index.name)
        return {
            "_index": index.name,
            "_id": doc_id,
            "_version": index.versions[doc_id],
            "result": "created" if created else "updated",
            "_shards": {"total": 1 + index.replicas, "successful": 1, "failed": 0},
            "_seq_no": next(self._seq),
            "_primary_term": 1,
            "status": 201 if created else 200,
        }

    def _search(self, request, body, target: str):
        started = time.perf_counter()
        body = body or {}
        unknown = set(body) - {"knn", "query", "sort", "size", "from", "_source", "track_total_hits"}
        if unknown:
            raise EsError(400, "parsing_exception", f"the fake does not implement search option [{sorted(unknown)[0]}]")
        if "knn" in body and ("query" in body or "sort" in body):
            raise EsError(400, "parsing_exception", "the fake does not combine knn with query or sort")
        indices = self._resolve(target)
        size, offset = int(body.get("size", 10)), int(body.get("from", 0))
        keep_alive = request.args.get("scroll")
        if keep_alive is not None and "from" in body:
            raise EsError(
                400,
                "action_request_validation_exception",
                "Validation Failed: 1: using [from] is not allowed in a scroll context;",
            )
        if keep_alive is None and offset + size > MAX_RESULT_WINDOW:
            raise EsError(
                400,
                "illegal_argument_exception",
                f"Result window is too large, from + size must be less than or equal to: [{MAX_RESULT_WINDOW}] but was "
                f"[{offset + size}]. See the scroll api for a more efficient way to request large data sets.",
            )
        if "knn" in body:
            knn = body["knn"]
            if not isinstance(knn, dict):
                raise EsError(400, "parsing_exception", "the fake answers a single knn clause only")
            ranked = self._knn(indices, knn, size)
        else:
            ranked = self._query(indices, body.get("query", {"match_all": {}}), body.get("sort"))
        source_spec = _source_spec(body.get("_source", True), request.args)
        hits = [
            {"_index": index.name, "_id": doc_id, "_score": score, "_source": _filter_source(source, source_spec)}
            for score, index, doc_id, source in ranked
        ]
        answer = {
            "took": int((time.perf_counter() - started) * 1000),
            "timed_out": False,
            "_shards": {"total": len(indices), "successful": len(indices), "skipped": 0, "failed": 0},
            "hits": {
                "total": {"value": len(ranked), "relation": "eq"},
                "max_score": max((h["_score"] for h in hits if h["_score"] is not None), default=None),
                "hits": hits[offset : offset + size],
            },
        }
        if keep_alive is not None:
            # A scroll keeps the view of this moment: later writes are not seen by its pages.
            scroll_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            self.scrolls[scroll_id] = _Scroll(hits, size, size, time.monotonic() + _seconds(keep_alive), len(indices))
            answer["_scroll_id"] = scroll_id
        return answer

    def _scroll(self, request, body, scroll_id: str | None = None):
        body = body or {}
        if request.method == "DELETE":
            given = body.get("scroll_id", scroll_id)
            ids = list(self.scrolls) if given == "_all" else [given] if isinstance(given, str) else list(given or [])
            freed = sum(self.scrolls.pop(i, None) is not None for i in ids)
            return (200 if freed or not ids else 404), {"succeeded": True, "num_freed": freed}
        scroll_id = body.get("scroll_id", scroll_id or request.args.get("scroll_id"))
        keep_alive = body.get("scroll", request.args.get("scroll"))
        scroll = self.scrolls.get(scroll_id)
        if scroll is not None and scroll.expires_at < time.monotonic():
            del self.scrolls[scroll_id]
            scroll = None
        if scroll is None:
            reason = f"No search context found for id [{scroll_id}]"
            cause = {"type": "search_context_missing_exception", "reason": reason}
            raise EsError(
                404,
                "search_phase_execution_exception",
                "all shards failed",
                phase="query",
                grouped=True,
                failed_shards=[{"shard": -1, "index": None, "reason": cause}],
                caused_by=cause,
            )
        if keep_alive is not None:
            scroll.expires_at = time.monotonic() + _seconds(keep_alive)
        page = scroll.hits[scroll.position : scroll.position + scroll.size]
        scroll.position += len(page)
        shards = {"total": scroll.shards, "successful": scroll.shards, "skipped": 0, "failed": 0}
        return {
            "_scroll_id": scroll_id,
            "took": 0,
            "timed_out": False,
            "_shards": shards,
            "hits": {"total": {"value": len(scroll.hits), "relation": "eq"}, "max_score": None, "hits": page},
        }

    def expire_scrolls(self) -> None:
        """Every open scroll outlives its keep-alive (the client paused too long between pages)."""
        for scroll in self.scrolls.values():
            scroll.expires_at = 0.0

    def _query(self, indices: list[FakeIndex], query: dict, sort: Any) -> list[tuple]:
        """(score, index, id, source) of every searchable document the query matches, ordered by
        ``sort``: ``_doc`` (index order, then the order documents were first indexed; no score)
        or, by default, score descending."""
        sort_keys = [sort] if isinstance(sort, (str, dict)) else list(sort or ["_score"])
        names = [next(iter(key)) if isinstance(key, dict) else key for key in sort_keys]
        if names not in (["_doc"], ["_score"]):
            raise EsError(400, "parsing_exception", f"the fake sorts by _doc or by _score only, not {sort}")
        matched = []
        for index in indices:
            for doc_id, source in index.searchable.items():
                score = _score(query, source, doc_id, index)
                if score is not None:
                    matched.append((score, index, doc_id, source))
        if names == ["_doc"]:
            return [(None, index, doc_id, source) for _, index, doc_id, source in matched]
        return sorted(matched, key=lambda hit: -hit[0])

    def _knn(self, indices: list[FakeIndex], knn: dict, size: int) -> list[tuple]:
        for required in ("field", "query_vector"):
            if required not in knn:
                raise EsError(400, "x_content_parse_exception", f"[knn] failed to parse: [{required}] is required")
        k = int(knn.get("k", size))
        num_candidates = int(knn.get("num_candidates", min(int(1.5 * k), MAX_NUM_CANDIDATES)))
        if k < 1:
            raise EsError(400, "illegal_argument_exception", "[k] must be greater than 0")
        if num_candidates > MAX_NUM_CANDIDATES:
            raise EsError(400, "illegal_argument_exception", f"[num_candidates] cannot exceed [{MAX_NUM_CANDIDATES}]")
        if num_candidates < k:
            raise EsError(400, "illegal_argument_exception", "[num_candidates] cannot be less than [k]")
        field_name = knn["field"]
        query = np.asarray(knn["query_vector"], dtype=np.float32)
        filters = knn.get("filter", [])
        filters = filters if isinstance(filters, list) else [filters]
        candidates = []
        for index in indices:
            spec = index.mappings.get("properties", {}).get(field_name)
            if spec is None or spec.get("type") != "dense_vector" or not spec.get("index", True):
                raise EsError(
                    400,
                    "illegal_argument_exception",
                    f"[knn] queries are only supported on [dense_vector] fields; field [{field_name}] is not indexed as one",
                )
            if len(query) != spec["dims"]:
                raise EsError(
                    400,
                    "illegal_argument_exception",
                    f"The query vector has a different number of dimensions [{len(query)}] than the document vectors [{spec['dims']}].",
                )
            similarity = spec.get("similarity", "cosine")
            if similarity != "cosine":
                raise EsError(400, "illegal_argument_exception", f"the fake implements cosine only, not [{similarity}]")
            norm = np.linalg.norm(query)
            if norm == 0:
                raise EsError(
                    400,
                    "illegal_argument_exception",
                    "The [cosine] similarity does not support vectors with zero magnitude.",
                )
            ids, matrix = index.matrix(field_name)
            if not ids:
                continue
            cosine = (matrix @ query) / (np.linalg.norm(matrix, axis=1) * norm)
            scores = ((np.float32(1) + cosine.astype(np.float32)) / np.float32(2)).astype(np.float32)
            keep = np.array([all(_matches(f, index.searchable[i], index) for f in filters) for i in ids], dtype=bool)
            if "similarity" in knn:
                # For cosine, similarity is a raw cosine; Elasticsearch turns it into a score threshold.
                threshold = (np.float32(1) + np.float32(knn["similarity"])) / np.float32(2)
                keep &= scores >= threshold
            rows = np.flatnonzero(keep)
            order = rows[np.argsort(-scores[rows], kind="stable")][:num_candidates]
            candidates += [(float(scores[r]), index, ids[r], index.searchable[ids[r]]) for r in order]
        candidates.sort(key=lambda c: -c[0])  # stable: index order, then insertion order on ties
        return candidates[:k]


# -- documents and queries ----------------------------------------------------------------
def _flat_settings(settings: dict) -> dict:
    flat = dict(settings.get("index", {}))
    flat.update({k.removeprefix("index."): v for k, v in settings.items() if k != "index"})
    return flat


def _epoch_millis(value: str) -> int:
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)


def _validate_document(index: FakeIndex, doc_id: str, source: dict) -> None:
    properties = index.mappings.get("properties", {})
    if index.mappings.get("dynamic") in ("strict", "false", False, "strict_allow_templates"):
        for name in source:
            if name not in properties and index.mappings.get("dynamic") in ("strict", "strict_allow_templates"):
                raise EsError(
                    400,
                    "strict_dynamic_mapping_exception",
                    f"[1:2] mapping set to strict, dynamic introduction of [{name}] within [_doc] is not allowed",
                )
    for name, spec in properties.items():
        value = source.get(name)
        if value is None:
            continue
        if spec.get("type") == "dense_vector":
            if not isinstance(value, list) or len(value) != spec["dims"]:
                length = len(value) if isinstance(value, list) else 1
                raise EsError(
                    400,
                    "document_parsing_exception",
                    f"[1:2] failed to parse: The [dense_vector] field [{name}] in doc [document with id '{doc_id}'] "
                    f"has a different number of dimensions [{length}] than defined in the mapping [{spec['dims']}]",
                )
            if spec.get("similarity", "cosine") == "cosine" and not any(value):
                raise EsError(
                    400,
                    "document_parsing_exception",
                    f"[1:2] failed to parse: The [cosine] similarity does not support vectors with zero magnitude. "
                    f"Preview of invalid vector: {value[:5]}",
                )
        elif spec.get("type") == "date":
            try:
                _epoch_millis(value)
            except ValueError:
                raise EsError(
                    400,
                    "document_parsing_exception",
                    f"[1:2] failed to parse field [{name}] of type [date] in document with id '{doc_id}'. "
                    f"Preview of field's value: '{value}'",
                ) from None


def _field_values(source: dict, path: str) -> list:
    value: Any = source
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _matches(query: dict, source: dict, index: FakeIndex) -> bool:
    (kind, spec), *rest = query.items()
    if rest:
        raise EsError(400, "parsing_exception", "[_na] query malformed, no end_object after query name")
    if kind == "match_all":
        return True
    if kind == "bool":
        clauses = {
            k: v if isinstance(v, list) else [v]
            for k, v in spec.items()
            if k in ("filter", "must", "must_not", "should")
        }
        ok = all(_matches(q, source, index) for q in clauses.get("filter", []) + clauses.get("must", []))
        ok = ok and not any(_matches(q, source, index) for q in clauses.get("must_not", []))
        if clauses.get("should") and not (clauses.get("filter") or clauses.get("must")):
            ok = ok and any(_matches(q, source, index) for q in clauses["should"])
        return ok
    if kind in ("term", "terms"):
        (path, wanted), *_ = spec.items()
        if kind == "term":
            wanted = [wanted["value"] if isinstance(wanted, dict) else wanted]
        return bool(set(map(str, _field_values(source, path))) & set(map(str, wanted)))
    if kind == "range":
        (path, bounds), *_ = spec.items()
        field_type = index.mappings.get("properties", {}).get(path, {}).get("type")
        convert = _epoch_millis if field_type == "date" else float
        values = [convert(v) for v in _field_values(source, path)]
        checks = {"gte": np.greater_equal, "gt": np.greater, "lte": np.less_equal, "lt": np.less}
        unknown = set(bounds) - set(checks) - {"format", "time_zone"}
        if unknown:
            raise EsError(400, "parsing_exception", f"[range] query does not support [{sorted(unknown)[0]}]")
        return any(all(checks[op](v, convert(b)) for op, b in bounds.items() if op in checks) for v in values)
    raise EsError(400, "parsing_exception", f"unknown query [{kind}]", line=1, col=1)


def _score(query: dict, source: dict, doc_id: str, index: FakeIndex) -> float | None:
    """The score of a document for a query, or None when it does not match. ``function_score``
    with ``random_score`` (the documented way to draw a random sample) scores each document
    uniformly in [0, 1): reproducibly for a ``seed`` (hashed with the document's index and id,
    whatever ``field`` names; Elasticsearch hashes that field's value), afresh on every request
    without one. Other queries score 1.0 when they match (Elasticsearch would compute relevance)."""
    (kind, spec), *_ = query.items()
    if kind != "function_score":
        return 1.0 if _matches(query, source, index) else None
    unknown = set(spec) - {"query", "random_score", "boost_mode", "boost"}
    if unknown or "random_score" not in spec:
        raise EsError(
            400, "parsing_exception", f"the fake's function_score implements random_score only, not {sorted(unknown)}"
        )
    inner = _score(spec.get("query", {"match_all": {}}), source, doc_id, index)
    if inner is None:
        return None
    seed = spec["random_score"].get("seed")
    if seed is None:
        draw = random.random()
    else:
        digest = hashlib.sha256(f"{seed}\0{index.name}\0{doc_id}".encode()).digest()
        draw = int.from_bytes(digest[:8], "big") / 2**64
    return draw if spec.get("boost_mode", "multiply") == "replace" else inner * draw


def _source_spec(body_spec: Any, params: Mapping[str, str]) -> Any:
    """What of _source a search returns: the body's ``_source``, overridden by the ``_source``,
    ``_source_includes`` and ``_source_excludes`` URL parameters (the client sends the latter two
    there)."""
    if params.get("_source") in ("false", "true"):
        return params["_source"] == "true"
    includes = [p for p in params.get("_source_includes", "").split(",") if p]
    excludes = [p for p in params.get("_source_excludes", "").split(",") if p]
    if not includes and not excludes:
        return body_spec
    return {"includes": includes, "excludes": excludes}


def _filter_source(source: dict, spec: Any) -> dict | None:
    if spec is False:
        return None
    if spec is True or spec is None:
        return source
    if isinstance(spec, (list, str)):
        spec = {"includes": [spec] if isinstance(spec, str) else spec}
    includes, excludes = spec.get("includes", []), spec.get("excludes", [])
    return {
        key: value
        for key, value in source.items()
        if (not includes or any(fnmatch.fnmatchcase(key, p) for p in includes))
        and not any(fnmatch.fnmatchcase(key, p) for p in excludes)
    }


def _compat_version(header: str) -> int | None:
    match = re.search(r"compatible-with=(\d+)", header or "")
    return int(match.group(1)) if match else None


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|m|h)?", value)
    if not match:
        raise EsError(400, "illegal_argument_exception", f"failed to parse setting [timeout] with value [{value}]")
    number, unit = int(match.group(1)), match.group(2) or "ms"
    return number * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
