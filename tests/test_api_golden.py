"""The API's answers to a fixed set of requests on the sample corpus, compared with the answers
recorded in tests/golden/sample_responses.json.

The recording was made before the code was restructured (the architecture change), so this test
shows that the service still answers exactly as it did: same status, same ids in the same order,
same stored fields, the same error bodies. The suite encodes at float32 on every CPU
(FINNEWS_ENCODER_PRECISION=float32, tests/helpers.py), the index and the queries alike, so the
answers do not depend on whether the CPU multiplies bfloat16 (on an AMX Xeon, bfloat16 moved a
768-d score by 0.0057). Scores are compared within SCORE_TOLERANCE, for float32's last bits
between CPUs and runtimes; where two neighbouring results' scores lie within it, their order may
differ.

Re-record (only when a change of answers is intended, and say why in the commit):
    FINNEWS_RECORD_GOLDEN=1 .venv/bin/pytest tests/test_api_golden.py
"""

from __future__ import annotations

import json
import os

import pytest

from tests.helpers import ROOT

GOLDEN = ROOT / "tests" / "golden" / "sample_responses.json"
FIELDS = ("embedding384d", "embedding768d", "embedding1155d")
SCORE_TOLERANCE = 2e-3
QUERIES = (
    "chipmakers beating earnings forecasts",
    "airline fuel costs hurting profits",
    "central bank raises interest rates",
    "bank cuts its dividend after losses",
    "drug approval sends biotech shares higher",
    "retailer warns on holiday sales",
    "merger talks between software companies",
    "credit rating downgrade",
)
# Bodies beside each plain query: the earlier API's two shapes, and every filter.
VARIANTS = (
    {"size": 5},
    {"limit": 7, "min_score": 0.6},
    {"size": 10, "date_from": "2025-03-01", "date_to": "2025-06-30"},
    {"size": 10, "doc_types": ["analysis"]},
    {"size": 10, "sources": ["Evergale Money", "Quayside Wire"], "date_from": "2025-01-01T00:00:00+05:30"},
)
BAD_BODIES = (
    {"query": "  "},
    {"query": "bank earnings", "size": 0},
    {"query": "bank earnings", "size": 101},
    {"query": "bank earnings", "sort": "date"},
    {"query": "bank earnings", "size": 3, "limit": 3},
    {"query": "bank earnings", "date_from": "2025-06-01", "date_to": "2025-01-01"},
    {"query": "bank earnings", "date_from": "2025-13-01"},
    {"query": "bank earnings", "min_score": 1.5},
    {"query": "bank earnings", "doc_types": "analysis"},
)


def answers(client) -> list[dict]:
    """Every case's status and body, with the timing fields and an error's request id (different
    on every run) left out."""
    recorded = []

    def record(path: str, body: object) -> None:
        response = client.post(path, json=body)
        answer = response.get_json()
        for key in ("search_time_ms", "timings", "request_id"):
            answer.pop(key, None)
        recorded.append({"path": path, "request": body, "status": response.status_code, "response": answer})

    for field in FIELDS:
        for query in QUERIES:
            record(f"/search/cosine/{field}/", {"query": query})
        for variant in VARIANTS:
            record(f"/search/cosine/{field}/", {"query": QUERIES[0], **variant})
        for body in BAD_BODIES:
            record(f"/search/cosine/{field}/", body)
    record("/search/cosine/embedding999d/", {"query": QUERIES[0]})
    return recorded


def assert_same_results(expected: list[dict], actual: list[dict], where: str) -> None:
    assert [e["id"] for e in expected] != [] or actual == [], where
    assert len(actual) == len(expected), f"{where}: {len(actual)} results, recorded {len(expected)}"
    for rank, (want, got) in enumerate(zip(expected, actual, strict=True)):
        if got["id"] != want["id"]:
            # Only a near tie may change places.
            swapped = next((e for e in expected if e["id"] == got["id"]), None)
            assert swapped is not None and abs(swapped["score"] - want["score"]) <= SCORE_TOLERANCE, (
                f"{where}: rank {rank} is {got['id']}, recorded {want['id']}"
            )
            want = swapped
        assert abs(got["score"] - want["score"]) <= SCORE_TOLERANCE, f"{where}: {got['id']} score {got['score']}"
        assert {k: v for k, v in got.items() if k != "score"} == {k: v for k, v in want.items() if k != "score"}, where


def test_answers_match_the_recording(client):
    actual = answers(client)
    if os.environ.get("FINNEWS_RECORD_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(actual, indent=1, ensure_ascii=False) + "\n")
        pytest.skip(f"recorded {len(actual)} answers into {GOLDEN}")
    expected = json.loads(GOLDEN.read_text())
    assert [(a["path"], a["request"]) for a in actual] == [(e["path"], e["request"]) for e in expected]
    for want, got in zip(expected, actual, strict=True):
        where = f"{want['path']} {json.dumps(want['request'])}"
        assert got["status"] == want["status"], f"{where}: {got['status']} {got['response']}"
        if want["status"] != 200:
            assert got["response"] == want["response"], where
            continue
        assert_same_results(want["response"]["results"], got["response"]["results"], where)
        rest = {k: v for k, v in got["response"].items() if k != "results"}
        assert rest == {k: v for k, v in want["response"].items() if k != "results"}, where
