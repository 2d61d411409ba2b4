"""The benchmark's machinery on a tiny corpus: it measures, reports and judges (no timing asserted)."""

from __future__ import annotations

import http.server
import json
import threading
from collections import Counter

import pytest
import requests

from tools.benchmark import (
    QueryPool,
    _ranked_ids,
    benchmark_command,
    concurrent_clients,
    free_port,
    percentile,
    prepare_corpus,
    summarise,
    verdicts,
)
from webapp import current_settings
from webapp.cli import loaded_service


def test_percentile_picks_ranks():
    values = list(range(1, 101))
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 100)) == (51, 95, 100)
    assert percentile([7.0], 95) == 7.0


def test_failed_requests_are_counted_by_what_they_got():
    """A report that says requests failed says how: a status, a short answer, a refused connection."""

    class Answers(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the base class's naming
            self.rfile.read(int(self.headers["Content-Length"]))
            short = "short" in self.path
            body = (
                json.dumps({"results": [{"id": str(i)} for i in range(3)]}).encode()
                if short
                else b'{"error": "overloaded"}'
            )
            self.send_response(200 if short else 503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    pool = QueryPool(["bank earnings"] * 100_000)
    try:
        failures = {
            field: summarise(concurrent_clients(url, field, pool, clients=2, duration_s=0.3))["failures"]
            for field in ("embedding384d", "short")
        }
        # The quality pass counts what a failed search got and goes on without its ranking.
        ranked_failures: Counter[str] = Counter()
        with requests.Session() as session:
            ranked = _ranked_ids(session, url, "embedding384d", "bank earnings", ranked_failures)
            short = _ranked_ids(session, url, "short", "bank earnings", ranked_failures)
    finally:
        server.shutdown()
    refused = summarise(concurrent_clients(f"http://127.0.0.1:{free_port()}", "embedding384d", pool, 1, 0.2))
    assert ranked == [] and len(short) == 3 and ranked_failures == {"HTTP 503": 1}
    assert set(failures["embedding384d"]) == {"HTTP 503"} and set(failures["short"]) == {"3 results"}
    assert set(refused["failures"]) == {"ConnectionError (ConnectionRefusedError)"}
    assert refused["errors"] == refused["requests"] == sum(refused["failures"].values())


@pytest.mark.slow
def test_benchmark_command_end_to_end_on_a_tiny_corpus(make_app, tmp_path):
    app = make_app(tmp_path / "unused-index")
    folder = tmp_path / "bench"
    result = app.test_cli_runner().invoke(
        benchmark_command,
        args=["--documents", "80", "--single-requests", "5", "--clients", "3",
              "--duration", "2", "--workers", "1", "--ingest-sample", "8", "--folder", str(folder)],
    )  # fmt: skip
    assert result.exit_code in (0, 1), result.output  # 1: a latency target missed on a busy machine
    assert "| embedding1155d | new |" in result.output and "| embedding1155d | torch |" in result.output
    assert "previous system mean ms" in result.output and "ingested 80 documents" in result.output
    results = json.loads(next(folder.glob("results-*.json")).read_text())
    # Both paths measured in the same run, on the same index, and every backend's ingest rate.
    assert results["torch"]["settings"]["FINNEWS_QUERY_BACKEND"] == "torch"
    assert "FINNEWS_QUERY_BACKEND" not in results["new"]["settings"]
    assert set(results["ingest"]) == {"torch", "onnx", "openvino"}
    assert all(rate["docs_per_s"] > 0 and rate["documents"] == 8 for rate in results["ingest"].values())
    for path in ("torch", "new"):
        assert results[path]["documents"] == 80
        for field in ("embedding384d", "embedding768d", "embedding1155d"):
            figures = results[path][field]
            assert figures["single"]["requests"] == 5 and figures["single"]["errors"] == 0
            assert figures["concurrent"]["requests"] > 0 and figures["concurrent"]["errors"] == 0
            assert figures["first_request_ok"] and 0 <= figures["ndcg@10"] <= 1 and figures["ndcg_failures"] == {}
    assert (result.exit_code == 1) == bool(verdicts(results))
    # The next run reuses the corpus and its index: nothing is generated or embedded again.
    generated = {path: path.stat().st_mtime_ns for path in folder.glob("*.jsonl")}
    with app.app_context():
        *_, again = prepare_corpus(folder, 80, 7, loaded_service().registry, current_settings())
    assert again.read == again.unchanged == 80 and again.embedded == 0
    assert {path: path.stat().st_mtime_ns for path in folder.glob("*.jsonl")} == generated
