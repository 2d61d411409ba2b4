"""Bearer-token access to the search endpoints and /metrics, when API_TOKENS is configured.

Health checks (the load balancer's and the container's), the OpenAPI document and the search
page stay open; the page asks its user for a token and sends it with each search.
"""

from __future__ import annotations

import hmac
import re

from flask import Flask, current_app, request

from webapp.errors import ApiError

PROTECTED_PREFIXES = ("/search/", "/metrics")


def configured_tokens(app: Flask) -> tuple[bytes, ...]:
    return tuple(token.encode() for token in re.split(r"[\s,]+", app.config["API_TOKENS"] or "") if token)


def init_app(app: Flask) -> None:
    tokens = configured_tokens(app)
    app.extensions["api_tokens_required"] = bool(tokens)
    if not tokens:
        return

    @app.before_request
    def require_token():
        if not request.path.startswith(PROTECTED_PREFIXES):
            return None
        scheme, _, presented = (request.headers.get("Authorization") or "").partition(" ")
        # Compare against every token in constant time, so timing tells nothing about any of them.
        matches = [hmac.compare_digest(presented.strip().encode(), token) for token in tokens]
        if scheme.lower() == "bearer" and any(matches):
            return None
        current_app.logger.info("refused %s %s: no valid bearer token", request.method, request.path)
        raise ApiError(401, "unauthorized", "send a valid API token: Authorization: Bearer <token>")
