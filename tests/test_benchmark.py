"""The benchmark's machinery on a tiny corpus: it measures, reports and judges (no timing asserted)."""

from __future__ import annotations

import json

import pytest

from tools.benchmark import benchmark_command, percentile, verdicts


def test_percentile_picks_ranks():
    values = list(range(1, 101))
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 100)) == (51, 95, 100)
    assert percentile([7.0], 95) == 7.0


@pytest.mark.slow
def test_benchmark_command_end_to_end_on_a_tiny_corpus(make_app, tmp_path):
    app = make_app(tmp_path / "unused-index")
    folder = tmp_path / "bench"
    result = app.test_cli_runner().invoke(
        benchmark_command,
        args=["--documents", "150", "--single-requests", "5", "--clients", "3",
              "--duration", "2", "--workers", "1", "--folder", str(folder)],
    )  # fmt: skip
    assert result.exit_code in (0, 1), result.output  # 1: a latency target missed on a busy machine
    assert "| embedding1155d |" in result.output and "previous mean ms" in result.output
    results = json.loads(next(folder.glob("results-*.json")).read_text())
    assert results["documents"] == 150
    for field in ("embedding384d", "embedding768d", "embedding1155d"):
        assert results[field]["single"]["requests"] == 5 and results[field]["single"]["errors"] == 0
        assert results[field]["concurrent"]["requests"] > 0 and results[field]["concurrent"]["errors"] == 0
        assert results[field]["first_request_ok"]
    assert (result.exit_code == 1) == bool(verdicts(results))
    # A second run reuses the corpus and its index: nothing is embedded again.
    again = app.test_cli_runner().invoke(
        benchmark_command,
        args=["--documents", "150", "--single-requests", "2", "--clients", "2",
              "--duration", "1", "--workers", "1", "--folder", str(folder)],
    )  # fmt: skip
    assert "ingested" not in again.output
