"""The reliability suite: the service under gunicorn, fuzzed, loaded, its workers killed, its
ingest killed, its Elasticsearch taken away and slowed down.

Two sizes. ``make test`` runs the CI size (every module is marked slow); ``make reliability``
runs the full size (``--reliability=full``): at least 10,000 fuzzed requests, 20 clients for
60 s per endpoint, at least 20 ingest kills at random points besides the targeted ones. Each
test asserts what must hold (no 5xx, no lost commit, recovery without a restart) and records
what it measured in test-artifacts/reliability/<test>.json, printed at the end of the run:
timings are figures to read, never asserted.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import pytest
from hypothesis import settings

from tests.conftest import ARTIFACTS, serve_sample

FIGURES = ARTIFACTS / "reliability"


@dataclass(frozen=True)
class Scale:
    name: str
    fuzz_requests: int  # at least this many generated requests, over every operation
    load_clients: int
    load_seconds: float  # per endpoint
    kill_load_seconds: float
    ingest_random_kills: int  # besides one targeted kill at each step of a commit
    # Workers recycled under load: each after this many requests (plus up to the jitter), at least
    # `least_recycles` times in `load_seconds` per endpoint. Small enough that a machine busy
    # with other work (a tenth of an idle one's throughput) still recycles that often; on an
    # idle one the two workers are often booting at once.
    recycle_max_requests: int
    recycle_jitter: int
    least_recycles: int


SCALES = {
    "ci": Scale(
        "ci",
        fuzz_requests=1_000,
        load_clients=20,
        load_seconds=5,
        kill_load_seconds=12,
        ingest_random_kills=4,
        recycle_max_requests=30,
        recycle_jitter=15,
        least_recycles=5,
    ),
    "full": Scale(
        "full",
        fuzz_requests=10_000,
        load_clients=20,
        load_seconds=60,
        kill_load_seconds=40,
        ingest_random_kills=24,
        recycle_max_requests=100,
        recycle_jitter=50,
        least_recycles=30,
    ),
}


# The fuzzing's examples go mostly to the three search endpoints (the health endpoints take
# few parameters, and hypothesis stops early there).
SEARCH_OPERATIONS = 3


def pytest_configure(config):
    # Called as this file loads, before the test modules are imported: hypothesis reads the
    # number of examples from its profile when schemathesis builds the tests.
    scale = SCALES[config.getoption("--reliability")]
    settings.register_profile("finnews-reliability", max_examples=math.ceil(scale.fuzz_requests / SEARCH_OPERATIONS))
    settings.load_profile("finnews-reliability")


@pytest.fixture(scope="session")
def scale(request) -> Scale:
    return SCALES[request.config.getoption("--reliability")]  # declared in tests/conftest.py


@pytest.fixture
def record_figures(request, scale, measured):
    """Record this test's figures (JSON-safe values) under its name, with the scale it ran at: in
    test-artifacts/reliability/NAME.json, and in the run's measured lines."""

    def record(**figures) -> None:
        name = request.node.name
        FIGURES.mkdir(parents=True, exist_ok=True)
        entry = {"scale": asdict(scale), **figures}
        (FIGURES / f"{name}.json").write_text(json.dumps(entry, indent=2, default=str) + "\n")
        measured(f"[{scale.name}] {json.dumps(figures, default=str)} (also in {FIGURES / name}.json)")

    return record


TOKEN = "reliability-token-0123456789abcdefghij"


def serve(model_cache_dir, sample_index, tmp_path_factory, **settings: str):
    """The service as production runs it: gunicorn, two workers, a token required (a copy of the
    sample index), with `settings` (FINNEWS_*) besides. Returns the server, with .token and .index."""
    server = serve_sample(
        model_cache_dir,
        sample_index,
        tmp_path_factory.mktemp("served"),
        FINNEWS_API_TOKENS=TOKEN,
        # 20 clients on a shared two-core machine queue for seconds: the load measures latency,
        # and the deadline (15 s by default) has its own test (test_elasticsearch_faults.py).
        FINNEWS_REQUEST_TIMEOUT="60",
        **settings,
    )
    server.token = TOKEN
    return server


@pytest.fixture(scope="module")
def served(model_cache_dir, sample_index, tmp_path_factory):
    """The service under gunicorn with its default settings (:func:`serve`)."""
    server = serve(model_cache_dir, sample_index, tmp_path_factory)
    yield server
    server.stop()
