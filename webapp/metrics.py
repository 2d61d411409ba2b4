"""Prometheus metrics, served at /metrics.

Under gunicorn each worker is a process: when ``PROMETHEUS_MULTIPROC_DIR`` is set (the gunicorn
config sets it) every process writes its samples there and /metrics aggregates them.
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter("http_requests_total", "HTTP requests answered", ["endpoint", "method", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to answer a request",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
SEARCH_PHASE = Histogram(
    "search_phase_seconds",
    "Time spent in each phase of a search",
    ["field", "phase"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
MODEL_LOAD = Gauge("model_load_seconds", "Time the process took to load each model", ["model"], multiprocess_mode="max")
QUERY_CACHE = Gauge(
    "query_embedding_cache", "Query-embedding LRU cache counters", ["counter"], multiprocess_mode="livesum"
)


def observe_search(field: str, embedding_ms: float, search_ms: float, cache_info: dict[str, int]) -> None:
    SEARCH_PHASE.labels(field, "embedding").observe(embedding_ms / 1000)
    SEARCH_PHASE.labels(field, "store").observe(search_ms / 1000)
    for counter in ("hits", "misses", "size"):
        QUERY_CACHE.labels(counter).set(cache_info[counter])


def init_app(app: Flask) -> None:
    @app.before_request
    def _start_timer():
        g.request_started = time.perf_counter()

    @app.after_request
    def _record(response):
        # The URL rule, not the path, so that unknown paths do not create new series.
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
        if "request_started" in g:
            LATENCY.labels(endpoint).observe(time.perf_counter() - g.request_started)
        return response

    @app.get("/metrics")
    def metrics():
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
        return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)
