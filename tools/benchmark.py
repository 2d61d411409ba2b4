"""Load benchmark: the service under gunicorn on a generated corpus, measured from outside.

``python -m tools benchmark`` generates (once) a corpus of ``--documents`` synthetic news items, ingests it
into its own index under ``bench/`` (also once: the ingest is idempotent, a re-run only checks
hashes), starts gunicorn on it exactly as production does, and measures, with queries the
query-embedding cache has never seen:

* single client: p50 / p95 / mean latency per endpoint;
* ``--clients`` concurrent clients: throughput, error rate and latency per endpoint;
* the model cache: time from process start to ready (models loaded from the verified cache),
  the first request's latency after ready against the warm p50.

It prints each figure beside the previous system's published one and their ratio, and writes
everything to ``bench/results-<time>.json``. The load generator runs on the same machine as
the server, so on a 2-core machine it takes CPU from the service: the figures are conservative.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import click
import requests
from flask.cli import with_appcontext

from webapp.fields import FIELD_NAMES

# The previous system's published figures (average latency per endpoint, single client; and
# requests per second at 20 concurrent clients), and this project's targets on a 2-core machine,
# for every search field.
PREVIOUS_AVERAGE_S = {"embedding384d": 0.239, "embedding768d": 0.294, "embedding1155d": 0.393}
PREVIOUS_THROUGHPUT_RPS = 4.49
TARGET_P50_MS = {"embedding384d": 25.0, "embedding768d": 60.0, "embedding1155d": 80.0}
TARGET_THROUGHPUT_RPS = 50.0
assert set(PREVIOUS_AVERAGE_S) == set(TARGET_P50_MS) == set(FIELD_NAMES), "a figure for every search field"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    ready_after_s: float
    log: Path

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_server(settings: dict[str, str], port: int, workers: int, log: Path, timeout: float = 300) -> Server:
    """gunicorn with the service's own config on 127.0.0.1:`port`, `settings` (FINNEWS_*) added to
    this environment; returns once /health/ready answers 200 (models loaded, store open)."""
    env = {**os.environ, **settings, "FINNEWS_WORKERS": str(workers)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    root = Path(__file__).resolve().parents[1]
    started = time.perf_counter()
    with log.open("w") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "webapp/gunicorn_conf.py", "--bind", f"127.0.0.1:{port}",
             "--access-logfile", "/dev/null", "webapp.wsgi:app"],
            cwd=root, env=env, stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            if requests.get(f"{url}/health/ready", timeout=2).status_code == 200:
                return Server(url, process, time.perf_counter() - started, log)
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.perf_counter() - started > timeout:
            process.kill()
            raise RuntimeError(f"gunicorn did not become ready: {log.read_text()[-3000:]}")
        time.sleep(0.05)


class QueryPool:
    """Hands out each query once, from any thread: no request can hit the query cache."""

    def __init__(self, queries: list[str]):
        self._queries = iter(queries)
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            try:
                return next(self._queries)
            except StopIteration:
                raise RuntimeError("the benchmark ran out of unseen queries: generate more") from None


@dataclass
class Sample:
    latencies_s: list[float] = field(default_factory=list)
    # When each request finished, in seconds since the sample started (for throughput over time).
    finished_s: list[float] = field(default_factory=list)
    errors: int = 0
    wall_s: float = 0.0


def _post(session: requests.Session, url: str, field_name: str, query: str) -> tuple[float, bool]:
    started = time.perf_counter()
    try:
        response = session.post(f"{url}/search/cosine/{field_name}/", json={"query": query, "size": 10}, timeout=30)
        ok = response.status_code == 200 and len(response.json()["results"]) == 10
    except requests.RequestException:
        ok = False
    return time.perf_counter() - started, ok


def single_client(
    url: str, field_name: str, pool: QueryPool, requests_count: int, session_factory=requests.Session
) -> Sample:
    sample = Sample()
    with session_factory() as session:
        started = time.perf_counter()
        for _ in range(requests_count):
            latency, ok = _post(session, url, field_name, pool.next())
            sample.latencies_s.append(latency)
            sample.finished_s.append(time.perf_counter() - started)
            sample.errors += not ok
        sample.wall_s = time.perf_counter() - started
    return sample


def concurrent_clients(
    url: str, field_name: str, pool: QueryPool, clients: int, duration_s: float, session_factory=requests.Session
) -> Sample:
    sample = Sample()
    lock = threading.Lock()
    started = time.perf_counter()
    deadline = started + duration_s

    def client() -> None:
        with session_factory() as session:
            while time.perf_counter() < deadline:
                latency, ok = _post(session, url, field_name, pool.next())
                with lock:
                    sample.latencies_s.append(latency)
                    sample.finished_s.append(time.perf_counter() - started)
                    sample.errors += not ok

    with ThreadPoolExecutor(max_workers=clients) as executor:
        for future in [executor.submit(client) for _ in range(clients)]:
            future.result()
    sample.wall_s = time.perf_counter() - started
    return sample


def summarise(sample: Sample) -> dict:
    latencies_ms = [s * 1000 for s in sample.latencies_s]
    return {
        "requests": len(latencies_ms),
        "errors": sample.errors,
        "error_rate": sample.errors / len(latencies_ms) if latencies_ms else 0.0,
        "p50_ms": round(percentile(latencies_ms, 50), 2),
        "p95_ms": round(percentile(latencies_ms, 95), 2),
        "p99_ms": round(percentile(latencies_ms, 99), 2),
        "mean_ms": round(statistics.fmean(latencies_ms), 2) if latencies_ms else float("nan"),
        "max_ms": round(max(latencies_ms), 2) if latencies_ms else float("nan"),
        "throughput_rps": round(len(latencies_ms) / sample.wall_s, 2) if sample.wall_s else 0.0,
    }


def run(
    index: Path,
    model_cache: Path,
    queries: list[str],
    port: int,
    workers: int,
    single_requests: int,
    clients: int,
    duration_s: float,
    log: Path,
    echo=print,
) -> dict:
    pool = QueryPool(queries)
    server = start_server(
        # A measurement on this machine: served as development serves (no token asked).
        {"FINNEWS_STORE_PATH": str(index), "FINNEWS_MODEL_CACHE_DIR": str(model_cache), "FINNEWS_ALLOW_ANONYMOUS": "1"},
        port,
        workers,
        log,
    )
    try:
        health = requests.get(f"{server.url}/health", timeout=10).json()
        echo(
            f"gunicorn ready after {server.ready_after_s:.1f} s ({workers} workers, {health['store']['documents']} documents)"
        )
        results: dict = {
            "documents": health["store"]["documents"],
            "workers": workers,
            "ready_after_s": round(server.ready_after_s, 2),
        }
        for field_name in FIELD_NAMES:
            with requests.Session() as session:
                first_latency, first_ok = _post(session, server.url, field_name, pool.next())
            single = summarise(single_client(server.url, field_name, pool, single_requests))
            echo(f"{field_name}: single client p50 {single['p50_ms']} ms, p95 {single['p95_ms']} ms")
            loaded = summarise(concurrent_clients(server.url, field_name, pool, clients, duration_s))
            echo(f"{field_name}: {clients} clients {loaded['throughput_rps']} req/s, errors {loaded['errors']}")
            results[field_name] = {
                "first_request_ms": round(first_latency * 1000, 2),
                "first_request_ok": first_ok,
                "single": single,
                "concurrent": loaded,
            }
    finally:
        server.stop()
    return results


def report_table(results: dict, clients: int) -> str:
    lines = [
        f"Corpus: {results['documents']:,} documents; gunicorn {results['workers']} workers; "
        f"ready (models loaded from the cache) {results['ready_after_s']} s after start.",
        "",
        "| endpoint | p50 ms (target) | p95 ms | mean ms | previous mean ms | speed-up | "
        f"req/s at {clients} clients | errors | first request ms | first / warm p50 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for field_name in FIELD_NAMES:
        r = results[field_name]
        single, loaded = r["single"], r["concurrent"]
        previous_ms = PREVIOUS_AVERAGE_S[field_name] * 1000
        lines.append(
            f"| {field_name} | {single['p50_ms']} ({TARGET_P50_MS[field_name]:.0f}) | {single['p95_ms']} | "
            f"{single['mean_ms']} | {previous_ms:.0f} | {previous_ms / single['mean_ms']:.1f}x | "
            f"{loaded['throughput_rps']} ({loaded['throughput_rps'] / PREVIOUS_THROUGHPUT_RPS:.1f}x of "
            f"{PREVIOUS_THROUGHPUT_RPS}) | {loaded['errors']}/{loaded['requests']} | {r['first_request_ms']} | "
            f"{r['first_request_ms'] / single['p50_ms']:.1f}x |"
        )
    return "\n".join(lines)


def verdicts(results: dict) -> list[str]:
    """The targets this run missed, in words."""
    missed = []
    for field_name in FIELD_NAMES:
        r = results[field_name]
        if r["single"]["p50_ms"] > TARGET_P50_MS[field_name]:
            missed.append(f"{field_name} p50 {r['single']['p50_ms']} ms > {TARGET_P50_MS[field_name]} ms")
        for kind in ("single", "concurrent"):
            if r[kind]["errors"]:
                missed.append(f"{field_name} {kind}: {r[kind]['errors']} errors")
    throughput = results["embedding384d"]["concurrent"]["throughput_rps"]
    if throughput < TARGET_THROUGHPUT_RPS:
        missed.append(f"embedding384d throughput {throughput} req/s < {TARGET_THROUGHPUT_RPS}")
    return missed


def save(results: dict, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"results-{stamp}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path


@click.command("benchmark")
@with_appcontext
@click.option("--documents", default=100_000, show_default=True, help="Size of the generated corpus.")
@click.option("--seed", default=7, show_default=True, help="Corpus generator seed.")
@click.option("--single-requests", default=200, show_default=True, help="Sequential requests per endpoint.")
@click.option("--clients", default=20, show_default=True, help="Concurrent clients.")
@click.option("--duration", default=20.0, show_default=True, help="Seconds of concurrent load per endpoint.")
@click.option("--workers", default=2, show_default=True, help="gunicorn worker processes.")
@click.option(
    "--folder",
    default="bench",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the corpus, its index and the results are kept between runs.",
)
def benchmark_command(
    documents: int, seed: int, single_requests: int, clients: int, duration: float, workers: int, folder: Path
) -> None:
    """Load-test the service under gunicorn on a generated corpus.

    The corpus and its index are built on the first run (embedding 100,000 documents takes
    hours on 2 CPU cores) and reused afterwards. Exits 1 when a target is missed.
    """
    from tools.corpus import benchmark_queries, write_corpus
    from webapp import current_settings
    from webapp.cli import loaded_service
    from webapp.ingest import ingest
    from webapp.store.embedded import EmbeddedStore

    settings = current_settings()
    folder.mkdir(parents=True, exist_ok=True)
    corpus = folder / f"corpus-{documents}-seed{seed}.jsonl"
    if not corpus.exists():
        click.echo(f"generating {documents:,} documents into {corpus}")
        write_corpus(corpus, documents, seed)
    index = folder / f"index-{documents}-seed{seed}"
    registry = loaded_service().registry
    report = ingest([corpus], registry, EmbeddedStore(index, ann_min_documents=settings.store_ann_min_documents))
    if report.embedded:
        click.echo(f"ingested {report.embedded:,} documents at {report.documents_per_second:.1f} documents/s")
    # Queries from another seed than the corpus: none of them was ever embedded by the server.
    concurrent_budget = int(duration * 400)
    queries = benchmark_queries(len(FIELD_NAMES) * (1 + single_requests + concurrent_budget), seed + 1)
    results = run(
        index=index,
        model_cache=settings.model_cache_dir,
        queries=queries,
        port=free_port(),
        workers=workers,
        single_requests=single_requests,
        clients=clients,
        duration_s=duration,
        log=folder / "gunicorn.log",
        echo=click.echo,
    )
    click.echo("")
    click.echo(report_table(results, clients))
    click.echo(f"\nresults: {save(results, folder)}")
    missed = verdicts(results)
    for miss in missed:
        click.echo(f"target missed: {miss}", err=True)
    if missed:
        raise click.ClickException(f"{len(missed)} targets missed")
