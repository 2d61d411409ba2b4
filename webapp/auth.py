"""Who is asking, and whether they may: closed by default.

The search endpoints and /metrics answer two kinds of caller:
- a person signed in at the load balancer: a listener rule with an ``authenticate-oidc`` action
  signs who they are into the ``x-amzn-oidc-data`` header, verified here (webapp.alb_identity)
  when the load balancer is one of FINNEWS_ALB_SIGNERS;
- an API client presenting a token: ``Authorization: Bearer <token>``, one of FINNEWS_API_TOKENS.
Anything else is refused with 401, a forged, expired or foreign identity header included.
Every view is protected unless marked :func:`public` - the health checks (the load balancer's and
the container's), the OpenAPI document and the search page, and the page's static files - so that a
view added without a thought for it is closed (tests/test_hardening.py walks the URL map). ``/health`` answers everyone, but only an authorized caller sees its full detail
(paths, error texts, model hashes: webapp.schemas.HealthReport.public).

A service without tokens does not start under gunicorn (webapp/wsgi.py), and, should it be
served some other way, refuses every protected request but a signed-in person's: only
FINNEWS_ALLOW_ANONYMOUS=1, which `make serve` and the tests set, opens it to everyone (development).

Each request's caller (:func:`request_identity`) is named in the access log by its label, never
by a secret: the person's ``sub``, or a token's fingerprint (:func:`token_fingerprint`).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from flask import Flask, current_app, g, request

from webapp import SETTINGS, current_settings
from webapp.alb_identity import HEADER, IdentityRefused, PublicKeys, PublicKeyUnavailable, verify
from webapp.errors import ApiError
from webapp.request_id import request_id

# The attribute :func:`public` sets on a view function.
PUBLIC_VIEW = "finnews_public"
# Flask's own view of the static folder: the page's scripts and styles, no data.
STATIC_ENDPOINT = "static"
# Where the load balancers' public keys are kept (app.extensions), one cache per app and worker.
PUBLIC_KEYS = "finnews.alb_public_keys"
# The WSGI environ entry that carries the caller's label to gunicorn's access log
# (webapp/gunicorn_conf.py: access_log_format).
CALLER_ENVIRON = "finnews.caller"
# A label is at most this long in a log line (a sub is the identity provider's, of any length).
MAX_LABEL = 128


@dataclass(frozen=True)
class Identity:
    """Who a request comes from.

    kind: "person" (signed in at the load balancer), "token" (an API client), or "anonymous".
    key: what is kept apart per caller (the query cache, the rate limits): ``person:<sub>``,
      ``token-<position among FINNEWS_API_TOKENS>``, or "" for anyone else.
    label: how the logs name the caller: the person's sub, ``token:<fingerprint>``, or "-".
    display: how the page names a person (their email, else their name); None for others.
    """

    kind: Literal["person", "token", "anonymous"]
    key: str
    label: str
    display: str | None = None


ANONYMOUS = Identity(kind="anonymous", key="", label="-")


def public(view):
    """Open a view to every caller (flaskr's ``login_required`` the other way round): every view
    not marked so needs a signed-in person or a token."""
    setattr(view, PUBLIC_VIEW, True)
    return view


def is_public(app: Flask, endpoint: str | None) -> bool:
    """Whether the view of `endpoint` answers every caller."""
    return endpoint == STATIC_ENDPOINT or getattr(app.view_functions.get(endpoint), PUBLIC_VIEW, False)


def request_identity() -> Identity:
    """This request's caller (verified once per request)."""
    if "identity" not in g:
        g.identity = _identify()
    return g.identity


def token_fingerprint(token: str) -> str:
    """What names a token in the logs: the start of its SHA-256, which reveals nothing of it
    (`printf %s "$TOKEN" | sha256sum | cut -c1-12` finds which token it is)."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def _identify() -> Identity:
    settings = current_settings()
    person = _signed_in_person(settings.alb_signers)
    if person is not None:
        return person
    tokens = settings.api_token_values
    position = _presented_token(tokens)
    if position is None:
        return ANONYMOUS
    return Identity(kind="token", key=f"token-{position}", label=f"token:{token_fingerprint(tokens[position])}")


def _signed_in_person(signers: tuple[str, ...]) -> Identity | None:
    """The person the load balancer's identity header names, when one of SIGNERS signed it."""
    header = request.headers.get(HEADER)
    if not signers or not header:
        return None
    try:
        claims = verify(header, signers, current_app.extensions[PUBLIC_KEYS])
    except PublicKeyUnavailable as exc:
        current_app.logger.warning("request %s: identity header not verified: %s", request_id(), exc)
        return None
    except IdentityRefused as exc:
        current_app.logger.info("request %s: identity header refused: %s", request_id(), exc)
        return None
    # Quoted: a sub is the identity provider's text, and the log line must stay one line of fields.
    label = quote(claims.sub, safe="@:+=")[:MAX_LABEL]
    return Identity(kind="person", key=f"person:{claims.sub}", label=label, display=claims.email or claims.name)


def _presented_token(tokens: tuple[str, ...]) -> int | None:
    """The position of the valid token the request presents among TOKENS, or None."""
    scheme, _, presented = (request.headers.get("Authorization") or "").partition(" ")
    # Compare against every token in constant time, so timing tells nothing about any of them.
    matches = [hmac.compare_digest(presented.strip().encode(), token.encode()) for token in tokens]
    return matches.index(True) if scheme.lower() == "bearer" and any(matches) else None


def caller_authorized() -> bool:
    """Whether this request may use everything: it comes from a signed-in person or carries a
    valid token, or the service runs without tokens because FINNEWS_ALLOW_ANONYMOUS says so."""
    if request_identity().kind != "anonymous":
        return True
    settings = current_settings()
    return not settings.api_tokens and settings.allow_anonymous


def caller_key() -> str:
    """Who is asking, for what is kept apart per caller (the query cache): Identity.key, never
    a secret; one key for everyone unauthenticated (development without tokens)."""
    return request_identity().key


def tokens_required() -> bool:
    """Whether searches need a token (the page then asks for one)."""
    settings = current_settings()
    return bool(settings.api_tokens) or not settings.allow_anonymous


def init_app(app: Flask) -> None:
    app.extensions[PUBLIC_KEYS] = PublicKeys(app.extensions[SETTINGS].alb_public_key_url)

    @app.before_request
    def require_identity():
        request.environ[CALLER_ENVIRON] = request_identity().label
        # No view matched (404, 405): nothing is served, and Flask says so.
        if request.endpoint is None or is_public(current_app, request.endpoint) or caller_authorized():
            return None
        if not current_settings().api_tokens:
            current_app.logger.error(
                "refused %s %s: %s", request.method, request.path, current_settings().serving_refusal()
            )
        else:
            current_app.logger.info(
                "refused %s %s: no verified identity header and no valid bearer token", request.method, request.path
            )
        raise ApiError(401, "unauthorized", "sign in again, or send an API token: Authorization: Bearer <token>")
