"""Bearer-token access to the search endpoints and /metrics, when API tokens are configured.

Health checks (the load balancer's and the container's), the OpenAPI document and the search
page stay open; the page asks its user for a token and sends it with each search.
"""

from __future__ import annotations

import hmac
import re

from flask import Flask, current_app, request

from webapp import current_settings
from webapp.errors import ApiError
from webapp.settings import Settings

PROTECTED_PREFIXES = ("/search/", "/metrics")


def configured_tokens(settings: Settings) -> tuple[bytes, ...]:
    text = settings.api_tokens.get_secret_value() if settings.api_tokens else ""
    return tuple(token.encode() for token in re.split(r"[\s,]+", text) if token)


def tokens_required() -> bool:
    return bool(configured_tokens(current_settings()))


def init_app(app: Flask) -> None:
    with app.app_context():
        tokens = configured_tokens(current_settings())
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
