"""Workers recycled under load (FINNEWS_MAX_REQUESTS made small, with jitter): 20 clients per
endpoint while gunicorn replaces its workers again and again, sometimes both within a second.
What must hold: every request is answered 200. A worker prepares its runtimes before it accepts
a connection (webapp/gunicorn_conf.py post_fork), so one that is booting takes no request it
cannot answer; while both are booting, requests wait in the listen queue.

The queries run on OpenVINO whatever the CPU: its runtime is the one a forked worker must load
again (from the master's compiled models, webapp/encoders.py), the path production takes on a
CPU with AMX, where "auto" chooses it; on an AVX2 CPU "auto" chooses ONNX Runtime, whose
single-threaded sessions the workers inherit as they are."""

from __future__ import annotations

import re

import pytest
import requests

from tests.reliability.helpers import serve
from tests.reliability.test_load import _authorized_session, load_every_endpoint

pytestmark = pytest.mark.slow

AUTORESTART = re.compile(r"Autorestarting worker after current request")
BOOTED = re.compile(r"Booting worker with pid")


@pytest.fixture(scope="module")
def recycling(model_cache_dir, sample_index, tmp_path_factory, scale):
    server = serve(
        model_cache_dir,
        sample_index,
        tmp_path_factory,
        FINNEWS_MAX_REQUESTS=str(scale.recycle_max_requests),
        FINNEWS_MAX_REQUESTS_JITTER=str(scale.recycle_jitter),
        FINNEWS_QUERY_BACKEND="openvino",
    )
    yield server
    server.stop()


def test_workers_recycled_under_load_answer_every_request(recycling, scale, record_figures):
    with _authorized_session(recycling.token) as check:
        encoders = check.get(f"{recycling.url}/health", timeout=30).json()["model_cache"]["encoders"]
    assert {e["used"].split("/")[0] for e in encoders if e["purpose"] == "query"} == {"openvino"}, encoders
    booted_before = len(BOOTED.findall(recycling.log.read_text()))
    figures = load_every_endpoint(recycling, scale, seed=13)
    log = recycling.log.read_text()
    recycles = len(AUTORESTART.findall(log))
    booted = len(BOOTED.findall(log)) - booted_before
    record_figures(
        clients=scale.load_clients,
        seconds_per_endpoint=scale.load_seconds,
        max_requests=scale.recycle_max_requests,
        max_requests_jitter=scale.recycle_jitter,
        requests=sum(f["requests"] for f in figures.values()),
        recycles=recycles,
        workers_booted=booted,
        non_200=sum(f["errors"] for f in figures.values()),
        endpoints=figures,
    )
    assert {name: f["failures"] for name, f in figures.items()} == dict.fromkeys(figures, {})
    assert recycles >= scale.least_recycles, f"{recycles} recycles; the load should have made {scale.least_recycles}"
    assert requests.get(f"{recycling.url}/health/ready", timeout=10).status_code == 200
