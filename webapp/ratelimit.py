"""Per-caller rate limits on the searches: FINNEWS_RATE_LIMIT_PER_MINUTE (0, the default: none).

Each caller (webapp.auth.Identity.key: a person, a token; everyone unauthenticated shares one)
has a token bucket that holds a minute's searches and refills at the same pace: a caller may
search in bursts of up to that many, and on average that many a minute. A search beyond it is
answered 429 with the JSON error contract and a Retry-After header (whole seconds).

The buckets live in each gunicorn worker's memory, so a caller whose searches are spread over
W workers may make up to W times the limit; a limit that must hold across workers and tasks
belongs at the edge (a WAF rate-based rule). Health checks, the page and /metrics are not
limited. Refused searches are counted by the caller's kind, never by who the caller is (the
metrics' labels stay few, webapp.metrics).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict

from flask import Flask, current_app, request
from prometheus_client import Counter

from webapp import SETTINGS
from webapp.auth import request_identity
from webapp.errors import error_response
from webapp.request_id import request_id

LIMITED_PREFIXES = ("/search/",)
# The limiter of an app (app.extensions), present only when a limit is set.
RATE_LIMITER = "finnews.rate_limiter"
# Callers whose buckets a worker keeps, the least recently seen forgotten first. A bucket is a
# key and two floats (a few hundred bytes): this many are a few MB per worker. Keys come from
# verified callers only (people the identity provider knows, configured tokens), so a client
# cannot mint keys to push others out; a caller forgotten starts again with a full bucket.
MAX_CALLERS = 10_000

RATE_LIMITED = Counter("rate_limited_requests_total", "Searches refused with 429 (rate limit)", ["caller_kind"])


class RateLimiter:
    """A token bucket per caller key, at most MAX_CALLERS of them."""

    def __init__(self, per_minute: int):
        self.capacity = float(per_minute)
        self.per_second = per_minute / 60
        # What the buckets are timed by; a test may give its own.
        self.clock = time.monotonic
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, as of)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when KEY's caller may go ahead (one search taken from its bucket), else the seconds
        until it may."""
        now = self.clock()
        with self._lock:
            tokens, as_of = self._buckets.pop(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - as_of) * self.per_second)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self.per_second
            self._buckets[key] = (tokens - 1 if tokens >= 1 else tokens, now)
            if len(self._buckets) > MAX_CALLERS:
                self._buckets.popitem(last=False)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)


def init_app(app: Flask) -> None:
    per_minute = app.extensions[SETTINGS].rate_limit_per_minute
    if not per_minute:
        return
    limiter = app.extensions[RATE_LIMITER] = RateLimiter(per_minute)

    # Registered after webapp.auth's check: an unauthenticated search is refused 401 before it
    # could spend anyone's budget.
    @app.before_request
    def limit_rate():
        if not request.path.startswith(LIMITED_PREFIXES):
            return None
        identity = request_identity()
        wait = limiter.take(identity.key)
        if not wait:
            return None
        RATE_LIMITED.labels(identity.kind).inc()
        retry_after = max(1, math.ceil(wait))
        current_app.logger.info("request %s: %s is over the rate limit", request_id(), identity.label)
        response = error_response(
            429, "rate_limited", f"more than {per_minute} searches a minute; retry in {retry_after} s"
        )
        response.headers["Retry-After"] = str(retry_after)
        return response
