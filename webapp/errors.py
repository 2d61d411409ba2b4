"""Every error leaves the service as a JSON ErrorResponse with a 4xx or 503 status.

Bad input is the client's to fix (400, 401, 404, 405, 409, 413, 415, 422); a store that is
unavailable or fails, models still loading and a request past its deadline are the service's
(503, retry later). An unexpected exception is logged with its traceback and answered 500
without internals: that is a bug to fix, never a way to signal bad input.

The store's and the models' own error texts name users, roles, key ids, paths and model hashes:
they go to the log, under the request's id (webapp.request_id), and the answer says what failed
in general terms and gives that id. A token holder still reads them in /health.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from webapp.deadline import DeadlineExceeded
from webapp.request_id import request_id
from webapp.schemas import ErrorDetail, ErrorResponse
from webapp.service import ModelsNotReady
from webapp.store import IndexMismatch, StoreError, StoreUnavailable

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, details: list[ErrorDetail] | None = None):
        super().__init__(message)
        self.status, self.error, self.message, self.details = status, error, message, details or []


def error_response(status: int, error: str, message: str, details: list[ErrorDetail] | None = None):
    body = ErrorResponse(error=error, message=message, details=details or [], request_id=request_id())
    response = jsonify(body.model_dump())
    response.status_code = status
    return response


# gunicorn drains at most 64 KiB of a body the app left unread, then closes the connection, yet
# its reply still says keep-alive, so a client's next request on that connection fails. Reading
# (and dropping) a refused body up to this size keeps the connection honest and usable.
DISCARD_AT_MOST = 1024 * 1024


def _discard_body() -> None:
    remaining = min(request.content_length or 0, DISCARD_AT_MOST)
    stream = request.environ["wsgi.input"]
    while remaining > 0 and (chunk := stream.read(min(remaining, 65536))):
        remaining -= len(chunk)


def _field_name(location: tuple) -> str:
    return ".".join(str(part) for part in location) or "body"


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        response = error_response(exc.status, exc.error, exc.message, exc.details)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="finnews"'
        return response

    @app.errorhandler(ValidationError)
    def validation_error(exc: ValidationError):
        details = [
            ErrorDetail(field=_field_name(err["loc"]), message=err["msg"].removeprefix("Value error, "))
            for err in exc.errors(include_url=False)
        ]
        fields = ", ".join(sorted({d.field for d in details}))
        return error_response(422, "validation_error", f"invalid request: {fields}", details)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        if exc.code == 413:
            _discard_body()
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(IndexMismatch)
    def index_mismatch(exc: IndexMismatch):
        log.error("request %s: the index does not fit this service's models: %s", request_id(), exc)
        return error_response(
            409,
            "index_model_mismatch",
            "the index was built with other models than this service runs for this field; it has been logged",
        )

    @app.errorhandler(StoreUnavailable)
    def store_unavailable(exc: StoreUnavailable):
        log.warning("request %s: store unavailable: %s", request_id(), exc)
        return error_response(503, "store_unavailable", "the search store is unavailable; retry later")

    @app.errorhandler(StoreError)
    def store_error(exc: StoreError):
        # A failure of the store other than an outage (a corrupt generation, a request the
        # cluster refused): the service's fault, not the client's; logged in full.
        log.error("request %s: store error: %s", request_id(), exc)
        return error_response(503, "store_error", "the search store failed to answer; it has been logged")

    @app.errorhandler(DeadlineExceeded)
    def deadline_exceeded(exc: DeadlineExceeded):
        return error_response(503, "deadline_exceeded", str(exc))

    @app.errorhandler(ModelsNotReady)
    def models_not_ready(exc: ModelsNotReady):
        if exc.detail:
            log.error("request %s: the models failed to load: %s", request_id(), exc.detail)
        return error_response(503, "models_not_ready", str(exc))

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("request %s: unhandled error", request_id())
        return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")
