"""What the reliability suite's modules share besides fixtures (tests/reliability/conftest.py
holds those): its two sizes, and the service as production runs it."""

from __future__ import annotations

from dataclasses import dataclass

from tests.helpers import serve_sample


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
