"""Retrieval metrics, and the quality of each endpoint on the judged sample queries."""

from __future__ import annotations

import json

import pytest

from tools.evaluate import evaluate, evaluate_command, ndcg_at_k, recall_at_k


def test_ndcg_and_recall_by_hand():
    assert ndcg_at_k(["a", "b", "c"], {"a", "b", "c"}) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "a"], {"a"}) == pytest.approx(1 / 1.5849625, rel=1e-6)
    assert ndcg_at_k(["x", "y"], {"a"}) == 0.0
    assert ndcg_at_k(["a"] + ["x"] * 20, {"a", "b"}, k=10) == pytest.approx(1 / (1 + 1 / 1.5849625), rel=1e-6)
    assert recall_at_k(["a", "x", "b"], {"a", "b", "c", "d"}) == 0.5
    assert recall_at_k(["x"] * 10 + ["a"], {"a"}) == 0.0  # beyond the cut-off
    assert recall_at_k([], set()) == 0.0


def test_evaluate_averages_over_queries():
    judged = [
        {"query_id": "q1", "query": "one", "relevant_ids": ["a"]},
        {"query_id": "q2", "query": "two", "relevant_ids": ["b"]},
    ]
    result = evaluate(lambda q: ["a"] if q == "one" else ["x"], judged)
    assert result["ndcg@10"] == 0.5 and result["recall@10"] == 0.5 and len(result["queries"]) == 2


def test_every_endpoint_ranks_judged_news_well(runner, tmp_path):
    output = tmp_path / "evaluation.json"
    result = runner.invoke(evaluate_command, ["--output", str(output)])
    assert result.exit_code == 0, result.output
    assert "82 judged queries, 1200 documents" in result.output
    measured = json.loads(output.read_text())
    # Measured on the sample: 0.68 / 0.73 / 0.75. A drop below these floors is a regression.
    for field, floor in (("embedding384d", 0.6), ("embedding768d", 0.65), ("embedding1155d", 0.65)):
        assert measured[field]["ndcg@10"] >= floor, (field, measured[field]["ndcg@10"])
        assert len(measured[field]["queries"]) == 82
