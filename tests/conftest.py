"""The suite's fixtures and hooks; what the test modules share besides fixtures is in
tests/helpers.py (and, for the runbook's tests, tests/runbook_runs.py). The real models are used
throughout: they load from the model cache that `make models` fills (or FINNEWS_MODEL_CACHE_DIR);
a missing cache fails the run loudly."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fake_elasticsearch import FakeElasticsearch
from tests.helpers import (
    FLOAT32,
    MODEL_CACHE,
    SAMPLE,
    SCREENSHOTS,
    cache_entry,
    copy_into_elasticsearch,
    es_config,
    exported_model_cache,
    sample_index_key,
    serve_sample,
    wait_until_ready,
)
from tests.runbook_runs import AWS_ENV, moto_server
from tools.benchmark import free_port
from webapp import SEARCH_SERVICE, create_app
from webapp.fields import EMBEDDING_MODELS
from webapp.ingest import ingest
from webapp.service import process_registry
from webapp.settings import configure_process, load_settings
from webapp.store.embedded import EmbeddedStore

# The test process starts here: nothing in the tests may reach the model hub (a lookup fails at
# once instead of retrying), and the process is prepared before any test loads torch.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
configure_process(serving=False)


@pytest.fixture(scope="session")
def model_cache_dir() -> Path:
    missing = [name for name in EMBEDDING_MODELS if not (MODEL_CACHE / name / "manifest.json").is_file()]
    if missing:
        pytest.fail(f"the model cache {MODEL_CACHE} lacks {missing}: run `make models`")
    return exported_model_cache(MODEL_CACHE)


@pytest.fixture(scope="session")
def registry(model_cache_dir):
    registry = process_registry(load_settings({"MODEL_CACHE_DIR": str(model_cache_dir), **FLOAT32}))
    registry.wait_until_loaded()
    return registry


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory, registry) -> Path:
    """The sample corpus, ingested once for the whole session (read-only for tests).

    Embedding 1,200 documents takes minutes on two cores, so the index is kept in
    the test cache (TEST_CACHE) under a key of everything it is made from (sample_index_key), and a
    copy of it is what the tests get: a later session with the same inputs reuses it, and any
    change to them builds a new one.
    """

    def build(index: Path) -> None:
        report = ingest([SAMPLE], registry, EmbeddedStore(index), progress=False)
        assert not report.rejected, report.rejected[:3]

    cached = cache_entry(f"sample-index-{sample_index_key(registry)}", build, stale="sample-index-*")
    path = tmp_path_factory.mktemp("sample") / "index"
    shutil.copytree(cached, path)
    return path


@pytest.fixture
def make_app(model_cache_dir):
    """Apps as development runs them (FINNEWS_ALLOW_ANONYMOUS), unless the test gives API_TOKENS."""

    def factory(store_path: Path, **config):
        app = create_app(
            {
                "MODEL_CACHE_DIR": str(model_cache_dir),
                "STORE_PATH": str(store_path),
                "ALLOW_ANONYMOUS": True,
                **FLOAT32,
                **config,
            }
        )
        app.extensions[SEARCH_SERVICE].registry.wait_until_loaded()
        return app

    return factory


@pytest.fixture
def app(make_app, sample_index):
    """The app on the sample corpus, as development runs it (Flask's tutorial calls it `app`)."""
    return make_app(sample_index)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def oci_registry(tmp_path_factory):
    """A docker-registry on loopback, plain HTTP, no auth, as the rehearsal starts one; one for the
    session, so that the rehearsal's first push finds the layers the images role's tests pushed."""
    root = tmp_path_factory.mktemp("registry")
    address = f"127.0.0.1:{free_port()}"
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\nhttp:\n  addr: {address}\n"
    )
    log = root / "registry.log"
    process = subprocess.Popen(
        ["docker-registry", "serve", str(config)], stdout=log.open("w"), stderr=subprocess.STDOUT
    )
    wait_until_ready(f"http://{address}/v2/", process, log, timeout=60)
    yield address
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="session")
def fake_elasticsearch():
    """One fake Elasticsearch node for the session (tests that break it start their own)."""
    server = FakeElasticsearch().start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def es_sample_index(fake_elasticsearch, sample_index, registry, model_cache_dir) -> str:
    """The sample corpus in the fake Elasticsearch, behind the alias it returns (read-only).

    The index is made by `flask es create-index`; the documents and vectors are the embedded
    sample index's, bulk-loaded through the store, so both backends hold exactly the same
    corpus and the corpus is embedded once.
    """
    return copy_into_elasticsearch(sample_index, fake_elasticsearch, "sample", registry, model_cache_dir)


@pytest.fixture(params=["embedded", "elasticsearch"])
def sample_backend(request) -> dict:
    """The store configuration of the sample corpus in each backend: a test that uses
    sample_client runs once per backend, so both honour the same contract."""
    if request.param == "embedded":
        return {}
    return es_config(request.getfixturevalue("fake_elasticsearch"), request.getfixturevalue("es_sample_index"))


@pytest.fixture
def sample_client(make_app, sample_index, sample_backend):
    return make_app(sample_index, **sample_backend).test_client()


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory):
    """A moto server on loopback standing in for AWS, one for each test module that asks."""
    with moto_server(free_port(), tmp_path_factory.mktemp("moto") / "moto.log", **AWS_ENV) as url:
        yield url


@pytest.fixture(scope="session")
def gunicorn_server(model_cache_dir, sample_index, tmp_path_factory):
    """The service under gunicorn (two workers) on a copy of the sample index; yields it, with
    the index it serves."""
    server = serve_sample(
        model_cache_dir,
        sample_index,
        tmp_path_factory.mktemp("served"),
        access_log=True,
        FINNEWS_APP_VERSION="test-1.2.3",
        FINNEWS_ALLOW_ANONYMOUS="1",
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """Headless Chromium (Debian's chromium and chromedriver) through selenium, one for the run."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        pytest.fail("Chromium and chromedriver are needed: `make system-deps` installs them")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    # This machine's network is closed: without these flags Chromium keeps dialling out.
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--window-size=1280,1600", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


@pytest.fixture
def measured(record_property):
    """Record a line of what this test measured (a size, a time, a rate): the lines are printed
    together at the end of the run, where they are found, instead of inside its progress line."""

    def record(line: str) -> None:
        record_property("measured", line)

    return record


def pytest_addoption(parser):
    parser.addoption(
        "--reliability",
        choices=["ci", "full"],
        default="ci",
        help="size of the reliability suite (tests/reliability): ci, as `make test` runs it, or full (`make reliability`)",
    )


def pytest_terminal_summary(terminalreporter):
    lines = [
        (report.nodeid, value)
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "call"
        for name, value in getattr(report, "user_properties", ())
        if name == "measured"
    ]
    if lines:
        terminalreporter.section("measured (printed, never asserted)")
        for nodeid, line in sorted(lines, key=lambda entry: entry[0]):  # a test's lines keep their order
            terminalreporter.write_line(f"{nodeid}: {line}")
