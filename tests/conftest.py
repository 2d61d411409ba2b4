"""Shared fixtures. The real models are used throughout: they load from the model cache that
`make models` fills (or FINNEWS_MODEL_CACHE_DIR); a missing cache fails the run loudly."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from filelock import FileLock

from tests.fake_elasticsearch import FakeElasticsearch
from tools.benchmark import free_port, start_server
from webapp import SEARCH_SERVICE, create_app
from webapp.fidelity import PROBE_FILE
from webapp.fields import EMBEDDING_MODELS, FIELD_DIMS
from webapp.ingest import ingest
from webapp.modelcache import ModelCache, export_name
from webapp.service import process_registry
from webapp.settings import load_settings
from webapp.store.embedded import EmbeddedStore

# Nothing in the tests may reach the model hub: a lookup fails at once instead of retrying.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "news_sample.jsonl"
JUDGEMENTS = ROOT / "data" / "relevance.jsonl"
ARTIFACTS = ROOT / "test-artifacts"
# What the browser tests saw, kept for people to look at.
SCREENSHOTS = ARTIFACTS / "screenshots"
MODEL_CACHE = Path(os.environ.get("FINNEWS_MODEL_CACHE_DIR", ROOT / "instance" / "models"))
# The suite encodes at float32: recorded answers (tests/golden) and cached indexes then hold on
# every CPU, with bfloat16 or without. The tests of the precision choice set their own.
FLOAT32 = {"ENCODER_PRECISION": "float32"}


@pytest.fixture(scope="session")
def model_cache_dir() -> Path:
    missing = [name for name in EMBEDDING_MODELS if not (MODEL_CACHE / name / "manifest.json").is_file()]
    if missing:
        pytest.fail(f"the model cache {MODEL_CACHE} lacks {missing}: run `make models`")
    return exported_model_cache(MODEL_CACHE)


def exported_model_cache(source: Path) -> Path:
    """SOURCE when it holds the models' ONNX exports with their probe vectors (`make models`
    makes them; exports made before the fidelity guard lack them); otherwise a cache of the
    tests' own in the test cache (TEST_CACHE): SOURCE's models linked, their exports made
    once (minutes) and kept under a key of the export code and the models' manifests. The
    SOURCE cache is never written (it may be shared)."""
    if all((source / export_name(name) / PROBE_FILE).is_file() for name in EMBEDDING_MODELS):
        return source
    # The export code, and the probe set whose reference vectors an export holds.
    digest = hashlib.sha256((ROOT / "webapp" / "modelcache.py").read_bytes())
    digest.update((ROOT / "webapp" / "fidelity.py").read_bytes())
    for name in EMBEDDING_MODELS:
        digest.update((source / name / "manifest.json").read_bytes())

    def export(folder: Path) -> None:
        folder.mkdir()
        for name in EMBEDDING_MODELS:
            (folder / name).symlink_to((source / name).resolve())
            ModelCache(folder).export(name)

    return cache_entry(f"models-{digest.hexdigest()[:16]}", export, stale="models-*")


@pytest.fixture(scope="session")
def registry(model_cache_dir):
    registry = process_registry(load_settings({"MODEL_CACHE_DIR": str(model_cache_dir), **FLOAT32}))
    registry.wait_until_loaded()
    return registry


# What an index of the sample corpus is made from: the corpus, and the code below the service
# that turns records into stored documents and vectors (the models are in the key separately).
INDEX_INPUTS = (
    "data/news_sample.jsonl",
    "webapp/fields.py",
    "webapp/schemas.py",
    "webapp/embedding.py",
    "webapp/encoders.py",
    "webapp/sentiment.py",
    "webapp/modelcache.py",
    "webapp/ingest.py",
    "webapp/store",
)
# The test caches live outside the clone, beside the project's other content-keyed caches (the
# Makefile's CACHE, which exports XDG_CACHE_HOME): a fresh clone on the same machine reuses them.
TEST_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "finnews" / "test-cache"


def cache_entry(name: str, make, stale: str) -> Path:
    """TEST_CACHE/NAME: made by MAKE(path) when missing, in a staging folder renamed
    into place when complete, the entries matching the STALE pattern removed (a changed input
    gives a new name). A lock serialises this between the two lanes of `make test` (two pytest
    processes): the second to need an entry waits for the first to make it, then reuses it."""
    TEST_CACHE.mkdir(parents=True, exist_ok=True)
    entry = TEST_CACHE / name
    with FileLock(TEST_CACHE / ".lock"):
        if not entry.exists():
            staging = Path(tempfile.mkdtemp(prefix=".building-", dir=TEST_CACHE))
            try:
                make(staging / name)
                for old in TEST_CACHE.glob(stale):
                    shutil.rmtree(old) if old.is_dir() else old.unlink()
                (staging / name).rename(entry)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    return entry


def sample_index_key(registry) -> str:
    """Changes whenever the sample index would come out differently: its inputs' bytes, the
    models' identities and how this CPU runs them at ingest (backend, precision)."""
    digest = hashlib.sha256(json.dumps(registry.ingest_meta()).encode())
    for name in INDEX_INPUTS:
        path = ROOT / name
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(file.relative_to(ROOT).as_posix().encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]


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


# Tokens for tests that switch authentication on (at least 32 characters, as the service demands).
API_TOKEN = "test-token-0123456789abcdefghijklmnop"
OTHER_API_TOKEN = "test-token-qrstuvwxyz9876543210ABCDEF"


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


def es_config(server: FakeElasticsearch, index: str = "finnews", **overrides) -> dict:
    """App configuration of the Elasticsearch backend on a fake server."""
    return {"STORE_BACKEND": "elasticsearch", "ES_HOSTS": server.url, "ES_INDEX": index, **overrides}


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


def copy_into_elasticsearch(index: Path, server: FakeElasticsearch, alias: str, registry, model_cache_dir) -> str:
    """The embedded index's documents and vectors, behind ALIAS on SERVER (made by `flask es
    create-index`, written through the store): the corpus is embedded once for both backends."""
    app = create_app({"MODEL_CACHE_DIR": str(model_cache_dir), **es_config(server, alias)})
    result = app.test_cli_runner().invoke(args=["es", "create-index", "--replicas", "0"])
    assert result.exit_code == 0, result.output
    with EmbeddedStore(index).reading() as generation:
        documents = [generation.document(row) for row in range(generation.size)]
        vectors = {field: np.array(generation.vectors[field]) for field in FIELD_DIMS}
    assert app.extensions[SEARCH_SERVICE].store.upsert(documents, vectors, registry.index_meta()) == []
    return alias


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


def wait_until_ready(url: str, process: subprocess.Popen, log: Path, timeout: float) -> float:
    """Wait for `url` to answer 200; fail with the end of `log` if the process exits or time runs out.
    Returns the seconds waited."""
    start = time.monotonic()
    while True:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return time.monotonic() - start
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() - start > timeout:
            process.kill()
            pytest.fail(f"{url} did not answer 200: {log.read_text()[-3000:]}")
        time.sleep(0.3)


# Fake credentials for moto, the AWS that tests run against.
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "ap-south-1"}


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory):
    """A moto server on loopback standing in for AWS, one for each test module that asks."""
    url = f"http://127.0.0.1:{free_port()}"
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    process = subprocess.Popen(
        [Path(sys.executable).parent / "moto_server", "-H", "127.0.0.1", "-p", url.rsplit(":", 1)[1]],
        stdout=log.open("w"), stderr=subprocess.STDOUT, env={**os.environ, **AWS_ENV},
    )  # fmt: skip
    wait_until_ready(f"{url}/moto-api/", process, log, timeout=60)
    yield url
    process.terminate()
    process.wait(timeout=30)


def aws_client(service: str, moto_url: str):
    """A boto3 client of moto with state wiped (each test starts from an empty account)."""
    import boto3

    requests.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()
    return boto3.client(
        service, endpoint_url=moto_url, region_name=AWS_ENV["AWS_REGION"],
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"], aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )  # fmt: skip


def ansible_module_runner(module: Path, moto_url: str, folder: Path):
    """Run one of our Ansible modules as Ansible does (its own process, arguments from a file)
    against moto; returns its result. Ansible stays out of the test process: importing its module
    utilities patches the interpreter in ways torch's compiler does not accept."""

    def run(check_mode: bool = False, diff: bool = False, **args) -> dict:
        connection = {
            "region": AWS_ENV["AWS_REGION"], "endpoint_url": moto_url,
            "access_key": AWS_ENV["AWS_ACCESS_KEY_ID"], "secret_key": AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        }  # fmt: skip
        arguments = {**connection, "_ansible_check_mode": check_mode, "_ansible_diff": diff, **args}
        (folder / "args.json").write_text(json.dumps({"ANSIBLE_MODULE_ARGS": arguments}))
        process = subprocess.run(
            [sys.executable, str(module), str(folder / "args.json")], capture_output=True, text=True, timeout=120
        )
        result = json.loads(process.stdout)
        assert process.returncode == (1 if result.get("failed") else 0), process.stderr
        return result

    return run


def serve_sample(
    model_cache_dir: Path, sample_index: Path, folder: Path, workers: int = 2, access_log=False, **settings
):
    """The service under gunicorn on a copy of the sample index in FOLDER (its log there too),
    with SETTINGS (FINNEWS_*) besides the model cache and the index; the server has .index."""
    index = folder / "index"
    shutil.copytree(sample_index, index)
    settings = {"FINNEWS_MODEL_CACHE_DIR": str(model_cache_dir), "FINNEWS_STORE_PATH": str(index), **settings}
    server = start_server(settings, free_port(), workers, folder / "gunicorn.log", timeout=180, access_log=access_log)
    server.index = index
    return server


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


def random_documents(n: int, seed: int = 0, start: int = 0, **overrides) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Stored documents with random unit vectors, for store tests that need no model."""
    rng = np.random.default_rng(seed)
    documents = []
    for i in range(start, start + n):
        documents.append(
            {
                "id": f"doc-{i}",
                "title": f"Title {i}",
                "summary": None,
                "body": None,
                "url": None,
                "published_dt": (dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=i % 730)).isoformat(),
                "source": ["Wire A", "Wire B", "Wire C"][i % 3],
                "doc_type": ["news", "analysis"][i % 2],
                "themes": [],
                "organizations": [],
                "quality_score": None,
                "sentiment": {"positive": 0.2, "negative": 0.2, "neutral": 0.6},
                "content_sha256": f"sha-{i}",
                **overrides,
            }
        )
    vectors = {}
    for field, dims in FIELD_DIMS.items():
        matrix = rng.standard_normal((n, dims)).astype(np.float32)
        vectors[field] = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    return documents, vectors


TEST_META = {"composition": "test", "models": {"embedding384d": "a", "embedding768d": "b", "sentiment": "c"}}


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


def pytest_addoption(parser):
    parser.addoption(
        "--reliability",
        choices=["ci", "full"],
        default="ci",
        help="size of the reliability suite (tests/reliability): ci, as `make test` runs it, or full (`make reliability`)",
    )


@pytest.fixture
def measured(record_property):
    """Record a line of what this test measured (a size, a time, a rate): the lines are printed
    together at the end of the run, where they are found, instead of inside its progress line."""

    def record(line: str) -> None:
        record_property("measured", line)

    return record


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
