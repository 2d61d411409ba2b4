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
from dataclasses import asdict

import pytest
from hypothesis import settings

from tests.helpers import ARTIFACTS
from tests.reliability.helpers import SCALES, SEARCH_OPERATIONS, Scale, serve

FIGURES = ARTIFACTS / "reliability"


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


@pytest.fixture(scope="module")
def served(model_cache_dir, sample_index, tmp_path_factory):
    """The service under gunicorn with its default settings (:func:`serve`)."""
    server = serve(model_cache_dir, sample_index, tmp_path_factory)
    yield server
    server.stop()
