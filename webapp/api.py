"""HTTP API: the three search endpoints, health, and the OpenAPI document generated from the
pydantic schemas in webapp.schemas."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from webapp import current_deadline, current_service, metrics
from webapp.auth import caller_authorized, caller_key, public
from webapp.errors import ApiError
from webapp.fields import FIELD_BY_NAME, FIELD_NAMES
from webapp.schemas import ErrorResponse, HealthReport, SearchRequest, SearchResponse

bp = Blueprint("api", __name__)


def json_object() -> dict:
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the request body as JSON (Content-Type: application/json)")
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        # Python's JSON parser recurses once per nesting level: [[[[...]]]] a few thousand deep
        # fits in a small body and exhausts the stack before parsing fails.
        raise ApiError(400, "invalid_json", "the request body nests arrays or objects too deeply") from None
    if body is None:
        raise ApiError(400, "invalid_json", "the request body is not valid JSON")
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    return body


@bp.post("/search/cosine/<field>/", strict_slashes=False)
def search(field: str):
    if field not in FIELD_BY_NAME:
        raise ApiError(404, "unknown_embedding_field", f"no field {field!r}; use one of {', '.join(FIELD_NAMES)}")
    search_request = SearchRequest.model_validate(json_object())
    svc = current_service()
    response = current_deadline().run("the search", svc.search, field, search_request, caller_key())
    metrics.observe_search(
        field, response.timings.embedding_ms, response.timings.search_ms, svc.registry.query_cache_info()
    )
    return jsonify(response.model_dump(mode="json"))


@bp.get("/health")
@public
def health():
    """Everyone sees the states, model names and document counts; the full report (paths,
    error texts, model hashes) needs a valid token. The store's part is asked once for many
    checks, under the deadline (SearchService.ask_store_health); the models' is the process's own."""
    report = current_service().health()
    shown = report if caller_authorized() else report.public()
    return jsonify(shown.model_dump(mode="json")), 200 if report.status == "healthy" else 503


@bp.get("/health/live")
@public
def live():
    """The process answers, and can still answer a search: enough for a container runtime to
    leave it running. A store outage never fails it (every task would be restarted for nothing);
    a worker whose every deadline thread is stuck in late work does (webapp.deadline)."""
    deadline = current_deadline()
    if deadline.stuck:
        reason = f"every one of this worker's {deadline.threads} threads runs work past its deadline"
        return jsonify({"status": "stuck", "reason": reason}), 503
    return jsonify({"status": "alive"})


@bp.get("/health/ready")
@public
def ready():
    """Models loaded and store reachable: enough for a load balancer to send traffic."""
    readiness = current_service().readiness()
    body = {"status": "ready" if readiness.ready else "not_ready", "reason": readiness.reason}
    if readiness.detail and caller_authorized():
        body["detail"] = readiness.detail
    return jsonify(body), 200 if readiness.ready else 503


# -- OpenAPI ------------------------------------------------------------------------------
ERRORS = {
    "400": "Malformed JSON, or JSON nested too deeply",
    "401": "Neither a person signed in at the load balancer nor a valid API token",
    "404": "Unknown embedding field",
    "409": "The index was built with other models than this service runs",
    "413": "Request body too large",
    "415": "Body is not JSON",
    "429": "Over the caller's rate limit (FINNEWS_RATE_LIMIT_PER_MINUTE); Retry-After says when to retry",
    "422": "A field is missing, of the wrong type or out of range (the field is named), "
    "or offset + size reaches past the matches paging reaches",
    "503": "Models loading, store unavailable or failing, or the request's deadline passed",
}


def _ref(model: type[BaseModel]) -> dict:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type[BaseModel], description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def openapi_document(version: str) -> dict:
    _, schemas = models_json_schema(
        [
            (SearchRequest, "validation"),
            (SearchResponse, "serialization"),
            (ErrorResponse, "serialization"),
            (HealthReport, "serialization"),
        ],
        ref_template="#/components/schemas/{model}",
    )
    paths = {}
    for field in FIELD_BY_NAME.values():
        paths[f"/search/cosine/{field.name}/"] = {
            "post": {
                "summary": f"Cosine k-NN search over {field.name}",
                "description": f"{field.dims}-d vectors: {field.description}.",
                "operationId": f"search_{field.name}",
                # No token is needed only where the service runs with FINNEWS_ALLOW_ANONYMOUS (development).
                "security": [{"apiToken": []}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(SearchRequest)}}},
                "responses": {
                    "200": _json(SearchResponse, "Ranked results"),
                    **{code: _json(ErrorResponse, text) for code, text in ERRORS.items()},
                },
            }
        }
    paths["/health"] = {
        "get": {
            "summary": "Service, store and model cache status",
            "description": "Open to everyone; the full detail (paths, error texts, model hashes) needs a valid token.",
            "security": [{"apiToken": []}, {}],
            "responses": {
                "200": _json(HealthReport, "Healthy"),
                "503": _json(HealthReport, "Starting or unavailable"),
            },
        }
    }
    for path, text, refusal in (
        ("/health/live", "The process answers", "Every thread of the worker is stuck past its deadline"),
        ("/health/ready", "Ready for traffic", "Not ready"),
    ):
        paths[path] = {
            "get": {"summary": text, "responses": {"200": {"description": text}, "503": {"description": refusal}}}
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Financial news semantic search", "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {"apiToken": {"type": "http", "scheme": "bearer"}},
        },
    }


@bp.get("/openapi.json")
@public
def openapi():
    return jsonify(openapi_document(current_service().version))
