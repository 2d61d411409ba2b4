"""Load benchmark: the service under gunicorn on a generated corpus, measured from outside, the
torch path and the new path side by side.

``python -m tools benchmark`` generates (once) a corpus of ``--documents`` synthetic news items and
its judged queries, ingests it into its own index under ``bench/`` (also once: the ingest is
idempotent, a re-run only checks hashes) on the ingest backend, measures the ingest rate of
every encoder backend on a slice of the corpus, then starts gunicorn on the index exactly as
production does, once per path, and measures each with queries the query-embedding cache has
never seen:

* the torch path: FINNEWS_QUERY_BACKEND=torch, one query per forward pass (the service before
  the encoder backends);
* the new path: the configured backends (FINNEWS_QUERY_BACKEND, default auto) with batched
  queries.

Per path and endpoint:

* single client: p50 / p95 / mean latency per endpoint;
* ``--clients`` concurrent clients: throughput, error rate and latency per endpoint;
* the model cache: time from process start to ready (models loaded from the verified cache),
  the first request's latency after ready against the warm p50;
* nDCG@10 on the corpus's judged queries, over HTTP.

It prints the new path's figures beside the torch path's (their ratio) and the previous
system's published ones, and writes everything to ``bench/results-<time>.json``. The load generator runs on the same machine as
the server, so on a 2-core machine it takes CPU from the service: the figures are conservative.
"""

from __future__ import annotations

import contextlib
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
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click
import requests
from flask.cli import with_appcontext

from webapp.fields import FIELD_NAMES

if TYPE_CHECKING:
    from webapp.embedding import ModelRegistry
    from webapp.ingest import IngestReport
    from webapp.settings import Settings

# The previous system's published figures (average latency per endpoint, single client; and
# requests per second at 20 concurrent clients), and this project's targets on a 2-core machine
# at 100,000 documents (issue 14), for every search field.
PREVIOUS_AVERAGE_S = {"embedding384d": 0.239, "embedding768d": 0.294, "embedding1155d": 0.393}
PREVIOUS_THROUGHPUT_RPS = 4.49
TARGET_P50_MS = {"embedding384d": 10.0, "embedding768d": 25.0, "embedding1155d": 35.0}
TARGET_THROUGHPUT_RPS = {"embedding384d": 150.0, "embedding768d": 60.0, "embedding1155d": 50.0}
# The new path must be at least this much faster than the torch path on 768d, in the same run.
TARGET_SPEEDUP_768D = 2.0
TARGET_INGEST_DOCS_PER_S = 100.0
assert set(PREVIOUS_AVERAGE_S) == set(TARGET_P50_MS) == set(TARGET_THROUGHPUT_RPS) == set(FIELD_NAMES)
# The two paths measured side by side: extra settings of each server.
TORCH_PATH = {"FINNEWS_QUERY_BACKEND": "torch", "FINNEWS_QUERY_BATCH_MAX": "1"}
NEW_PATH: dict[str, str] = {}


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
        """gunicorn's graceful stop; past its graceful timeout (30 s), the master and its workers
        are killed together (a killed master alone would leave its workers running)."""
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=45)
        except subprocess.TimeoutExpired:
            kill_group(self.process)


def kill_group(process: subprocess.Popen) -> None:
    """Kill a process started in a session of its own, with every process it started."""
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def start_server(
    settings: dict[str, str], port: int, workers: int, log: Path, timeout: float = 300, access_log: bool = False
) -> Server:
    """gunicorn with the service's own config on 127.0.0.1:`port`, `settings` (FINNEWS_*) added to
    this environment, its log (with the access log when `access_log`, which a measurement leaves
    out) in `log`; returns once /health/ready answers 200 (models loaded, store open) and every
    worker has said it can search (the first one ready answers while the others still prepare,
    and a measurement that began then would measure fewer workers)."""
    from webapp.embedding import WORKER_READY

    env = {**os.environ, **settings, "FINNEWS_WORKERS": str(workers)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    root = Path(__file__).resolve().parents[1]
    started = time.perf_counter()
    with log.open("w") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "webapp/gunicorn_conf.py", "--bind", f"127.0.0.1:{port}",
             "--access-logfile", "-" if access_log else "/dev/null", "webapp.wsgi:app"],
            cwd=root, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            if (
                requests.get(f"{url}/health/ready", timeout=2).status_code == 200
                and log.read_text().count(WORKER_READY) >= workers
            ):
                return Server(url, process, time.perf_counter() - started, log)
        except (requests.ConnectionError, requests.Timeout):  # workers still starting
            pass
        if process.poll() is not None or time.perf_counter() - started > timeout:
            kill_group(process)
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
    # What the failed requests got ("HTTP 503", "7 results", the client's exception), counted:
    # a report that says a request failed also says how.
    failures: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0

    @property
    def errors(self) -> int:
        return sum(self.failures.values())

    def add(self, latency_s: float, failure: str, started: float) -> None:
        self.latencies_s.append(latency_s)
        self.finished_s.append(time.perf_counter() - started)
        if failure:
            self.failures[failure] += 1


def _post(session: requests.Session, url: str, field_name: str, query: str) -> tuple[float, str]:
    """One search: its seconds, and what went wrong ("" for 200 with 10 results)."""
    started = time.perf_counter()
    try:
        response = session.post(f"{url}/search/cosine/{field_name}/", json={"query": query, "size": 10}, timeout=30)
        if response.status_code != 200:
            failure = f"HTTP {response.status_code}"
        elif (count := len(response.json()["results"])) != 10:
            failure = f"{count} results"
        else:
            failure = ""
    except requests.RequestException as exc:
        failure = request_failure(exc)
    return time.perf_counter() - started, failure


def request_failure(exc: requests.RequestException) -> str:
    """A client-side failure, named by its kind and its innermost cause (a reset, a timeout...)."""
    cause: BaseException = exc
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__
    return f"{type(exc).__name__} ({type(cause).__name__})" if cause is not exc else type(exc).__name__


def single_client(
    url: str, field_name: str, pool: QueryPool, requests_count: int, session_factory=requests.Session
) -> Sample:
    sample = Sample()
    with session_factory() as session:
        started = time.perf_counter()
        for _ in range(requests_count):
            sample.add(*_post(session, url, field_name, pool.next()), started)
        sample.wall_s = time.perf_counter() - started
    return sample


def concurrent_clients(
    url: str, field_name: str, pool: QueryPool, clients: int, duration_s: float, session_factory=requests.Session
) -> Sample:
    return under_load(
        lambda session: _post(session, url, field_name, pool.next()), clients, duration_s, session_factory
    )


def under_load(
    request: Callable[[requests.Session], tuple[float, str]],
    clients: int,
    duration_s: float,
    session_factory=requests.Session,
) -> Sample:
    """`clients` threads, each with a session of its own, sending `request` (which returns its
    seconds and what went wrong, "" when nothing did) one after another until `duration_s` has
    passed."""
    sample = Sample()
    lock = threading.Lock()
    started = time.perf_counter()
    deadline = started + duration_s

    def client() -> None:
        with session_factory() as session:
            while time.perf_counter() < deadline:
                latency, failure = request(session)
                with lock:
                    sample.add(latency, failure, started)

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
        "failures": dict(sample.failures),
        "error_rate": sample.errors / len(latencies_ms) if latencies_ms else 0.0,
        "p50_ms": round(percentile(latencies_ms, 50), 2),
        "p95_ms": round(percentile(latencies_ms, 95), 2),
        "p99_ms": round(percentile(latencies_ms, 99), 2),
        "mean_ms": round(statistics.fmean(latencies_ms), 2) if latencies_ms else float("nan"),
        "max_ms": round(max(latencies_ms), 2) if latencies_ms else float("nan"),
        "throughput_rps": round(len(latencies_ms) / sample.wall_s, 2) if sample.wall_s else 0.0,
    }


def _ranked_ids(session: requests.Session, url: str, field_name: str, query: str, failures: Counter[str]) -> list[str]:
    """The ids a search ranks, or none (its failure counted in `failures`): a failed request is
    reported beside the nDCG it lowered, never a crash of the whole benchmark."""
    try:
        response = session.post(f"{url}/search/cosine/{field_name}/", json={"query": query, "size": 10}, timeout=60)
    except requests.RequestException as exc:
        failures[request_failure(exc)] += 1
        return []
    if response.status_code != 200:
        failures[f"HTTP {response.status_code}"] += 1
        return []
    return [hit["id"] for hit in response.json()["results"]]


def measure_path(
    settings: dict[str, str],
    pool: QueryPool,
    judged: list[dict],
    port: int,
    workers: int,
    single_requests: int,
    clients: int,
    duration_s: float,
    log: Path,
    echo=print,
) -> dict:
    """One path's figures: gunicorn with `settings`, every endpoint measured in turn."""
    from tools.evaluate import evaluate

    server = start_server(settings, port, workers, log)
    try:
        health = requests.get(f"{server.url}/health", timeout=10).json()
        echo(
            f"gunicorn ready after {server.ready_after_s:.1f} s ({workers} workers, {health['store']['documents']} documents)"
        )
        results: dict = {
            "settings": settings,
            "documents": health["store"]["documents"],
            "workers": workers,
            "ready_after_s": round(server.ready_after_s, 2),
        }
        for field_name in FIELD_NAMES:
            quality_failures: Counter[str] = Counter()
            with requests.Session() as session:
                first_latency, first_failure = _post(session, server.url, field_name, pool.next())
                quality = evaluate(
                    lambda q, s=session, f=field_name, c=quality_failures: _ranked_ids(s, server.url, f, q, c), judged
                )
            single = summarise(single_client(server.url, field_name, pool, single_requests))
            echo(f"{field_name}: single client p50 {single['p50_ms']} ms, p95 {single['p95_ms']} ms")
            loaded = summarise(concurrent_clients(server.url, field_name, pool, clients, duration_s))
            echo(f"{field_name}: {clients} clients {loaded['throughput_rps']} req/s, errors {loaded['errors']}")
            results[field_name] = {
                "first_request_ms": round(first_latency * 1000, 2),
                "first_request_ok": not first_failure,
                "single": single,
                "concurrent": loaded,
                "ndcg@10": round(quality["ndcg@10"], 4),
                "ndcg_failures": dict(quality_failures),
            }
    finally:
        server.stop()
    return results


def run(
    index: Path,
    model_cache: Path,
    queries: list[str],
    judged: list[dict],
    port: int,
    workers: int,
    single_requests: int,
    clients: int,
    duration_s: float,
    log: Path,
    echo=print,
) -> dict:
    """Both paths, one after the other, on the same index with the same kind of queries (each
    query asked once in the whole run)."""
    pool = QueryPool(queries)
    # A measurement on this machine: served as development serves (no token asked).
    common = {
        "FINNEWS_STORE_PATH": str(index),
        "FINNEWS_MODEL_CACHE_DIR": str(model_cache),
        "FINNEWS_ALLOW_ANONYMOUS": "1",
    }
    results = {}
    for path, extra in (("torch", TORCH_PATH), ("new", NEW_PATH)):
        echo(f"-- the {path} path: {extra or 'the configured backends'}")
        results[path] = measure_path(
            {**common, **extra}, pool, judged, port, workers, single_requests, clients, duration_s, log, echo
        )
    return results


def ingest_rates(model_cache: Path, texts: list[str], backends: tuple[str, ...], echo=print) -> dict[str, dict]:
    """Documents per second of each ingest backend on TEXTS (all three vectors and sentiment,
    sorted by length into batches, as `flask ingest` embeds them; no store)."""
    from webapp.embedding import ModelRegistry
    from webapp.modelcache import ModelCache

    rates = {}
    for backend in backends:
        registry = ModelRegistry(ModelCache(model_cache), query_backend=backend, ingest_backend=backend)
        registry.wait_until_loaded()
        registry.encode_documents(texts[:8])  # loads the ingest encoders, warms the runtime
        started = time.perf_counter()
        registry.encode_documents(texts)
        seconds = time.perf_counter() - started
        how = ", ".join(sorted({e.describe() for e in registry.ingest_encoders().values()}))
        rates[backend] = {"documents": len(texts), "docs_per_s": round(len(texts) / seconds, 1), "precision": how}
        echo(f"ingest {backend} ({how}): {rates[backend]['docs_per_s']} documents/s on {len(texts)} documents")
    return rates


def report_table(results: dict, clients: int) -> str:
    torch_path, new = results["torch"], results["new"]
    lines = [
        f"Corpus: {new['documents']:,} documents; gunicorn {new['workers']} workers; ready (models loaded from "
        f"the cache) after {torch_path['ready_after_s']} s (torch path) and {new['ready_after_s']} s (new path).",
        "",
        "| endpoint | path | p50 ms (target) | p95 ms | mean ms | req/s at "
        f"{clients} clients (target) | errors | nDCG@10 | first request ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for field_name in FIELD_NAMES:
        for name, r in (("torch", torch_path[field_name]), ("new", new[field_name])):
            single, loaded = r["single"], r["concurrent"]
            lines.append(
                f"| {field_name} | {name} | {single['p50_ms']} ({TARGET_P50_MS[field_name]:.0f}) | {single['p95_ms']} | "
                f"{single['mean_ms']} | {loaded['throughput_rps']} ({TARGET_THROUGHPUT_RPS[field_name]:.0f}) | "
                f"{loaded['errors'] + single['errors']}/{loaded['requests'] + single['requests']} | {r['ndcg@10']} | "
                f"{r['first_request_ms']} |"
            )
    lines += [
        "",
        "| endpoint | p50 torch / new | p95 torch / new | req/s new / torch | previous system mean ms "
        f"| previous / new mean | previous req/s ({PREVIOUS_THROUGHPUT_RPS}) / new |",
        "|---|---|---|---|---|---|---|",
    ]
    for field_name in FIELD_NAMES:
        t, n = torch_path[field_name], new[field_name]
        previous_ms = PREVIOUS_AVERAGE_S[field_name] * 1000
        lines.append(
            f"| {field_name} | {t['single']['p50_ms'] / n['single']['p50_ms']:.2f}x | "
            f"{t['single']['p95_ms'] / n['single']['p95_ms']:.2f}x | "
            f"{n['concurrent']['throughput_rps'] / max(t['concurrent']['throughput_rps'], 1e-9):.2f}x | "
            f"{previous_ms:.0f} | {previous_ms / n['single']['mean_ms']:.1f}x | "
            f"{n['concurrent']['throughput_rps'] / PREVIOUS_THROUGHPUT_RPS:.1f}x |"
        )
    if results.get("ingest"):
        lines += ["", "| ingest backend | precision | documents/s (all three vectors) |", "|---|---|---|"]
        for backend, rate in results["ingest"].items():
            lines.append(f"| {backend} | {rate['precision']} | {rate['docs_per_s']} |")
    return "\n".join(lines)


def verdicts(results: dict) -> list[str]:
    """The targets this run missed, in words (the new path's figures)."""
    missed = []
    torch_path, new = results["torch"], results["new"]
    for field_name in FIELD_NAMES:
        r = new[field_name]
        if r["single"]["p50_ms"] > TARGET_P50_MS[field_name]:
            missed.append(f"{field_name} p50 {r['single']['p50_ms']} ms > {TARGET_P50_MS[field_name]} ms")
        if r["concurrent"]["throughput_rps"] < TARGET_THROUGHPUT_RPS[field_name]:
            missed.append(
                f"{field_name} {r['concurrent']['throughput_rps']} req/s < {TARGET_THROUGHPUT_RPS[field_name]}"
            )
        for path, figures in (("torch", torch_path[field_name]), ("new", r)):
            for kind in ("single", "concurrent"):
                if figures[kind]["errors"]:
                    missed.append(f"{field_name} {path} path {kind}: {figures[kind]['errors']} errors")
            if figures["ndcg_failures"]:
                missed.append(f"{field_name} {path} path nDCG@10 queries failed: {figures['ndcg_failures']}")
        if abs(r["ndcg@10"] - torch_path[field_name]["ndcg@10"]) > 0.005:
            missed.append(f"{field_name} nDCG@10 {r['ndcg@10']} vs torch path {torch_path[field_name]['ndcg@10']}")
    speedup = torch_path["embedding768d"]["single"]["p50_ms"] / new["embedding768d"]["single"]["p50_ms"]
    if speedup < TARGET_SPEEDUP_768D:
        missed.append(f"embedding768d new path only {speedup:.2f}x faster than the torch path (p50)")
    for backend, rate in results.get("ingest", {}).items():
        if backend == results.get("ingest_backend") and rate["docs_per_s"] < TARGET_INGEST_DOCS_PER_S:
            missed.append(f"ingest on {backend}: {rate['docs_per_s']} documents/s < {TARGET_INGEST_DOCS_PER_S}")
    return missed


def prepare_corpus(
    folder: Path, documents: int, seed: int, registry: ModelRegistry, settings: Settings, echo=print
) -> tuple[Path, Path, Path, IngestReport]:
    """The corpus of DOCUMENTS generated with SEED, its judged queries and its embedded index in
    FOLDER: made on the first run (the index on the ingest backend), reused afterwards (nothing
    is embedded again). Returns the corpus, the judged queries, the index and the ingest report."""
    from tools.corpus import write_corpus
    from webapp.ingest import ingest
    from webapp.store.embedded import EmbeddedStore

    folder.mkdir(parents=True, exist_ok=True)
    corpus = folder / f"corpus-{documents}-seed{seed}.jsonl"
    relevance = folder / f"relevance-{documents}-seed{seed}.jsonl"
    if not corpus.exists() or not relevance.exists():
        echo(f"generating {documents:,} documents into {corpus}, judged queries into {relevance}")
        write_corpus(corpus, documents, seed, relevance_path=relevance)
    index = folder / f"index-{documents}-seed{seed}"
    report = ingest([corpus], registry, EmbeddedStore(index, ann_min_documents=settings.store_ann_min_documents))
    if report.embedded:
        echo(f"ingested {report.embedded:,} documents at {report.documents_per_second:.1f} documents/s")
    return corpus, relevance, index, report


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
    "--ingest-sample",
    default=1000,
    show_default=True,
    help="Documents of the corpus each encoder backend embeds for its ingest rate (0: skip).",
)
@click.option(
    "--folder",
    default="bench",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the corpus, its index and the results are kept between runs.",
)
def benchmark_command(
    documents: int,
    seed: int,
    single_requests: int,
    clients: int,
    duration: float,
    workers: int,
    ingest_sample: int,
    folder: Path,
) -> None:
    """Load-test the service under gunicorn on a generated corpus: the torch path and the new
    path (the configured encoder backends, batched queries) side by side, and the ingest rate of
    each encoder backend.

    The corpus and its index are built on the first run, on the ingest backend
    (FINNEWS_INGEST_BACKEND), and reused afterwards. Exits 1 when a target is missed.
    """
    from tools.corpus import benchmark_queries
    from tools.evaluate import load_judgements
    from webapp import current_settings
    from webapp.cli import loaded_service
    from webapp.encoders import BACKENDS

    settings = current_settings()
    registry = loaded_service().registry
    results: dict = {"ingest_backend": registry.ingest_backend}
    corpus, relevance, index, report = prepare_corpus(folder, documents, seed, registry, settings, echo=click.echo)
    if ingest_sample:
        from webapp.ingest import IngestReport, read_records

        records = read_records([corpus], IngestReport())[:ingest_sample]
        results["ingest"] = ingest_rates(
            settings.model_cache_dir, [r.embedding_text() for r in records], BACKENDS, echo=click.echo
        )
    if report.embedded:
        results["index_ingest_docs_per_s"] = round(report.documents_per_second, 1)
    # Queries from another seed than the corpus: none of them was ever embedded by the server.
    concurrent_budget = int(duration * 400)
    queries = benchmark_queries(2 * len(FIELD_NAMES) * (1 + single_requests + concurrent_budget), seed + 1)
    results.update(
        run(
            index=index,
            model_cache=settings.model_cache_dir,
            queries=queries,
            judged=load_judgements(relevance),
            port=free_port(),
            workers=workers,
            single_requests=single_requests,
            clients=clients,
            duration_s=duration,
            log=folder / "gunicorn.log",
            echo=click.echo,
        )
    )
    click.echo("")
    click.echo(report_table(results, clients))
    click.echo(f"\nresults: {save(results, folder)}")
    missed = verdicts(results)
    for miss in missed:
        click.echo(f"target missed: {miss}", err=True)
    if missed:
        raise click.ClickException(f"{len(missed)} targets missed")
