"""Security headers on every response: the page runs only its own script and style, is never
framed, sends no referrer (it keeps an API token in sessionStorage), and HTTPS is remembered
when the service is reached over HTTPS (directly, or through a load balancer that says so).
The answers of the search, health and metrics routes, errors included, are never stored."""

from __future__ import annotations

from flask import Flask, Response, request

# The page loads search.js and search.css from this origin and calls the API on it; nothing
# inline, nothing from elsewhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"
# A search answer is one token holder's, health and metrics one moment's: a browser, proxy or CDN
# that kept one would show a caller's results to another, or an outage as health.
NEVER_STORED = ("/search/", "/health", "/metrics")


def _reached_over_https() -> bool:
    # An ALB ends TLS and says how the client came in; this header only adds HSTS, which
    # browsers ignore on a plain-HTTP response, so a forged one cannot do harm.
    return request.is_secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def init_app(app: Flask) -> None:
    @app.after_request
    def add_security_headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if _reached_over_https():
            response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
        if request.path.startswith(NEVER_STORED):
            response.headers["Cache-Control"] = "no-store"
        return response
