"""Each request's id: the client's X-Request-ID when it is a short plain token (its own trace
id), else a new one. Every answer carries it in the X-Request-ID header, every error body as
``request_id``, and the service logs what failed under it: a client that reports an error gives
what finds its detail in the log, and is never shown that detail (webapp.errors)."""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, request

HEADER = "X-Request-ID"
# Short, and letters, digits and ._- only: the id is written into log lines as it came, where
# anything else could forge a line or bury the real one.
_SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request_id() -> str:
    """This request's id (made on first use, so also for a request refused before any view)."""
    if "request_id" not in g:
        given = request.headers.get(HEADER, "")
        g.request_id = given if _SANE.fullmatch(given) else uuid.uuid4().hex
    return g.request_id


def init_app(app: Flask) -> None:
    @app.after_request
    def answer_the_request_id(response: Response) -> Response:
        response.headers[HEADER] = request_id()
        return response
