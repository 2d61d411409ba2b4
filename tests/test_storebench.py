"""The store benchmark's machinery: synthetic vectors shaped like sentence embeddings, and a small
run through the real store (no timing asserted)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tools.storebench import NOISE_COSINE, store_benchmark_command, synthetic_vectors, verdicts
from webapp.fields import FIELD_DIMS


def test_synthetic_vectors_cluster_like_sentence_embeddings():
    vectors = synthetic_vectors(2000, clusters=20, seed=1)
    again = synthetic_vectors(10, clusters=20, seed=2)  # another seed: the same cluster centres
    for field, dims in FIELD_DIMS.items():
        rows = vectors[field]
        assert rows.shape == (2000, dims) and rows.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
        nearest = np.sort(rows[:50] @ rows.T, axis=1)[:, -2]  # the nearest other document
        assert np.median(nearest) > 0.4  # neighbours within a cluster
        assert abs(np.median(rows[:50] @ rows[-50:].T)) < 0.2 or field == "embedding1155d"
        assert np.median((again[field] @ rows.T).max(axis=1)) > 0.4
    assert 0.5 < NOISE_COSINE < 1


@pytest.mark.slow
def test_store_benchmark_end_to_end_on_a_small_index(make_app, tmp_path):
    app = make_app(tmp_path / "unused-index")
    folder = tmp_path / "bench"
    args = ["--documents", "3000", "--clusters", "30", "--queries", "5", "--folder", str(folder)]
    result = app.test_cli_runner().invoke(store_benchmark_command, args=args)
    assert result.exit_code in (0, 1), result.output  # 1: a target missed on a busy machine
    results = json.loads(next(folder.glob("store-results-*.json")).read_text())
    assert results["documents"] == 3000 and results["build_s"] > 0 and results["disk_bytes"] > 3000 * 4 * 2307
    for field in FIELD_DIMS:
        for case in ("none", "date range", "doc type"):
            figures = results["fields"][field][case]
            assert 0 <= figures["recall@10"] <= 1 and figures["exact_p50_ms"] > 0 and figures["ivf_p50_ms"] > 0
        assert set(results["fields"][field]["scan_ms_float32_vs_float16"]) == {"float32", "float16"}
        probe = results["fields"][field]["nprobe"]
        assert len(probe["sweep"]) == 2 and probe["shipped"] < probe["nlist"]
    assert "| embedding1155d | doc type |" in result.output
    assert (result.exit_code == 1) == bool(verdicts(results))
    # A second run reuses the index: nothing is written again.
    again = app.test_cli_runner().invoke(store_benchmark_command, args=args)
    assert "written in 0.0 s" in again.output
