"""What the validation notebooks read from the service, and what it means.

The notebooks run against any environment: the embedded store or Elasticsearch, the sample corpus
or production's news. What differs is interpreted here, once, by meaning (is the store ready and
serving, which percentile a sample of this size can bound, which filter values the index holds),
so each rule has a test of its own (tests/test_validate.py) and the notebooks stay readable.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
import time
from collections import Counter
from dataclasses import dataclass

import requests

# /health's status when the service is ready and serving (webapp/schemas.py: HealthReport).
HEALTHY_SERVICE_STATUSES = ("healthy",)
# The embedded store reports "ok" when its index is open and readable.
EMBEDDED_STORE_READY = "ok"


def store_health(report: dict) -> tuple[str, str | None]:
    """The store's backend and health from a /health report: `store.status` (what the embedded
    store reports, or the Elasticsearch cluster's colour), or the top-level `elasticsearch` field of
    the earlier tools' health format."""
    store = report.get("store") or {}
    return store.get("backend", "unknown"), store.get("status", report.get("elasticsearch"))


def store_ready(status: str | None, single_node_cluster: bool) -> bool:
    """Ready and serving, by meaning, on either backend: the embedded store's "ok"; an Elasticsearch
    cluster's green, and yellow where the cluster is configured with a single node (its replicas
    can never be assigned, yet every primary shard serves). Red, unavailable or anything else is
    not ready."""
    ready = {EMBEDDED_STORE_READY, "green"} | ({"yellow"} if single_node_cluster else set())
    return status in ready


def tail_percentile(requests_count: int) -> int | None:
    """The highest of p99, p95 and p90 that a sample of this size bounds with at least one request
    above it (nearest rank): p99 needs 100 requests, otherwise it is the maximum, one request,
    which one descheduling decides. None when even p90 would be the maximum."""
    for q in (99, 95, 90):
        if requests_count * (100 - q) / 100 >= 1:
            return q
    return None


def percentile(values: list[float], q: float) -> float:
    """Nearest rank, as tools.benchmark computes it (one definition for every figure of a report)."""
    from tools.benchmark import percentile as nearest_rank

    return nearest_rank(values, q)


@dataclass(frozen=True)
class TimedSearch:
    """One search: the client's latency, and what the service reports it spent."""

    ok: bool
    client_ms: float
    server_ms: float  # search_time_ms: embedding and store search, inside the service
    embedding_ms: float
    search_ms: float
    problem: str = ""


def timed_search(session: requests.Session, base_url: str, field: str, query: str, timeout: float) -> TimedSearch:
    """POST one query and time it from here; a refused, failed or short answer is not ok."""
    started = time.perf_counter()
    try:
        response = session.post(
            f"{base_url}/search/cosine/{field}/", json={"query": query, "size": 10}, timeout=timeout
        )
    except requests.RequestException as exc:
        from tools.benchmark import request_failure

        failure = request_failure(exc)
        return TimedSearch(False, (time.perf_counter() - started) * 1000, math.nan, math.nan, math.nan, failure)
    client_ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        return TimedSearch(False, client_ms, math.nan, math.nan, math.nan, f"HTTP {response.status_code}")
    body = response.json()
    timings = body["timings"]
    ok = len(body["results"]) == 10
    return TimedSearch(
        ok,
        client_ms,
        body["search_time_ms"],
        timings["embedding_ms"],
        timings["search_ms"],
        "" if ok else f"{len(body['results'])} results",
    )


def latency_summary(values_ms: list[float]) -> dict[str, float]:
    """p50, p90, p95, p99, mean and max of the values that were measured (NaN: a failed request)."""
    measured = [value for value in values_ms if not math.isnan(value)]
    if not measured:
        return dict.fromkeys(("p50_ms", "p90_ms", "p95_ms", "p99_ms", "mean_ms", "max_ms"), math.nan)
    return {
        "p50_ms": percentile(measured, 50),
        "p90_ms": percentile(measured, 90),
        "p95_ms": percentile(measured, 95),
        "p99_ms": percentile(measured, 99),
        "mean_ms": statistics.fmean(measured),
        "max_ms": max(measured),
    }


@dataclass(frozen=True)
class Filters:
    doc_type: str
    date_from: dt.date
    date_to: dt.date
    seen: int  # answers the values were taken from


def discover_filters(hits: list[dict]) -> Filters:
    """Filter values the index really holds, from the answers to unfiltered searches: the doc type
    the answers hold most often, and the middle half of their publication dates (so a filtered
    search still has many candidates on both sides of the window's edges)."""
    if not hits:
        raise ValueError("no answers to discover filter values from: the index looks empty")
    doc_type = Counter(hit["doc_type"] for hit in hits).most_common(1)[0][0]
    dates = sorted(dt.datetime.fromisoformat(hit["published_dt"]).date() for hit in hits)
    lower, upper = dates[len(dates) // 4], dates[(3 * len(dates)) // 4]
    return Filters(doc_type, lower, upper, len(hits))
