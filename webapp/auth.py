"""Bearer-token access, closed by default.

The search endpoints and /metrics need a valid token (``Authorization: Bearer <token>``, one of
FINNEWS_API_TOKENS). Health checks (the load balancer's and the container's), the OpenAPI
document and the search page stay open; the page asks its user for a token and sends it with
each search. ``/health`` answers everyone, but only a caller with a valid token sees its full
detail (paths, error texts, model hashes: webapp.schemas.HealthReport.public).

A service without tokens does not start under gunicorn (webapp/wsgi.py), and, should it be
served some other way, refuses every protected request: only FINNEWS_ALLOW_ANONYMOUS=1, which
`make serve` and the tests set, opens it to everyone (development).
"""

from __future__ import annotations

import hmac

from flask import Flask, current_app, request

from webapp import current_settings
from webapp.errors import ApiError

PROTECTED_PREFIXES = ("/search/", "/metrics")


def _presented_token(tokens: tuple[str, ...]) -> int | None:
    """The position of the valid token the request presents among TOKENS, or None."""
    scheme, _, presented = (request.headers.get("Authorization") or "").partition(" ")
    # Compare against every token in constant time, so timing tells nothing about any of them.
    matches = [hmac.compare_digest(presented.strip().encode(), token.encode()) for token in tokens]
    return matches.index(True) if scheme.lower() == "bearer" and any(matches) else None


def caller_authorized() -> bool:
    """Whether this request may use everything: it carries a valid token, or the service runs
    without tokens because FINNEWS_ALLOW_ANONYMOUS says so."""
    settings = current_settings()
    tokens = settings.api_token_values
    if not tokens:
        return settings.allow_anonymous
    return _presented_token(tokens) is not None


def caller_key() -> str:
    """Who is asking, for what is kept apart per caller (the query cache): the token this
    request presents, by its position among FINNEWS_API_TOKENS (never the token itself), or one
    key for everyone when the service runs without tokens (development)."""
    position = _presented_token(current_settings().api_token_values)
    return "" if position is None else f"token-{position}"


def tokens_required() -> bool:
    """Whether searches need a token (the page then asks for one)."""
    settings = current_settings()
    return bool(settings.api_tokens) or not settings.allow_anonymous


def init_app(app: Flask) -> None:
    @app.before_request
    def require_token():
        if not request.path.startswith(PROTECTED_PREFIXES) or caller_authorized():
            return None
        if not current_settings().api_tokens:
            current_app.logger.error(
                "refused %s %s: %s", request.method, request.path, current_settings().serving_refusal()
            )
        else:
            current_app.logger.info("refused %s %s: no valid bearer token", request.method, request.path)
        raise ApiError(401, "unauthorized", "send a valid API token: Authorization: Bearer <token>")
