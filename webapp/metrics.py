"""Prometheus metrics, served at /metrics.

Under gunicorn each worker is a process: when ``PROMETHEUS_MULTIPROC_DIR`` is set (the gunicorn
config sets it) every process writes its samples there and /metrics aggregates them. When a
worker exits (gunicorn replaces workers after FINNEWS_MAX_REQUESTS), its counts move into one
archive file per metric type (:func:`retire_process`), so the folder holds the living workers'
files and two more, however many workers came and went.

Every label comes from a fixed set: the route's rule (never the path), the HTTP method among
the standard ones, the status; anything else is ``other``, so no client can create new series. The layers
below the API know nothing of metrics: the API reports each search's phases here, and the models'
load times are read from the search service when /metrics is scraped (every worker holds the
same models, loaded once in gunicorn's master before it forked).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.registry import Collector

from webapp import current_service

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
OTHER = "other"

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
QUERY_CACHE = Gauge(
    "query_embedding_cache", "Query-embedding LRU cache counters", ["counter"], multiprocess_mode="livesum"
)


def observe_search(field: str, embedding_ms: float, search_ms: float, cache_info: dict[str, int]) -> None:
    SEARCH_PHASE.labels(field, "embedding").observe(embedding_ms / 1000)
    SEARCH_PHASE.labels(field, "store").observe(search_ms / 1000)
    for counter in ("hits", "misses", "size"):
        QUERY_CACHE.labels(counter).set(cache_info[counter])


class ModelLoadCollector(Collector):
    """model_load_seconds{model}: how long each model took to load, from the search service."""

    def __init__(self, load_seconds: dict[str, float]):
        self.load_seconds = load_seconds

    def collect(self):
        family = GaugeMetricFamily("model_load_seconds", "Time the process took to load each model", labels=["model"])
        for model, seconds in self.load_seconds.items():
            family.add_metric([model], seconds)
        yield family


def exposition() -> bytes:
    """Every metric: this process's (or, under gunicorn, every worker's) and the models' load times."""
    registry = CollectorRegistry()
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Delegate(REGISTRY))
    registry.register(ModelLoadCollector(dict(current_service().registry.state.load_seconds)))
    return generate_latest(registry)


def retire_process(pid: int) -> None:
    """For gunicorn's child_exit: drop an exited worker's gauges and add its counters and
    histograms into the archives, so that totals survive it and its files go."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return
    multiprocess.mark_process_dead(pid, folder)
    for kind in ("counter", "histogram"):
        retired = Path(folder) / f"{kind}_{pid}.db"
        if not retired.exists():
            continue
        # The collector reads the type from the name's first part: counter_archive.db is a counter.
        archive = MmapedDict(str(Path(folder) / f"{kind}_archive.db"))
        try:
            for key, value, timestamp, _ in MmapedDict.read_all_values_from_file(str(retired)):
                total, _ = archive.read_value(key)
                archive.write_value(key, total + value, timestamp)
        finally:
            archive.close()
        retired.unlink()


class _Delegate(Collector):
    def __init__(self, registry: CollectorRegistry):
        self.registry = registry

    def collect(self):
        yield from self.registry.collect()


def init_app(app: Flask) -> None:
    @app.before_request
    def _start_timer():
        g.request_started = time.perf_counter()

    @app.after_request
    def _record(response):
        # The URL rule, not the path, and a known method: a client cannot create new series.
        endpoint = request.url_rule.rule if request.url_rule else OTHER
        method = request.method if request.method in METHODS else OTHER
        REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
        if "request_started" in g:
            LATENCY.labels(endpoint).observe(time.perf_counter() - g.request_started)
        return response

    @app.get("/metrics")
    def metrics():
        return Response(exposition(), mimetype=CONTENT_TYPE_LATEST)
