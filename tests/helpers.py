"""What the test modules share besides fixtures (tests/conftest.py holds those): the repository's
paths, the tokens, the tests' content-keyed caches, the sample corpus in either backend, the
service under gunicorn, and random stored documents for the store tests."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
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
from webapp.modelcache import ModelCache, export_name
from webapp.store.embedded import EmbeddedStore

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

# Tokens for tests that switch authentication on (at least 32 characters, as the service demands).
API_TOKEN = "test-token-0123456789abcdefghijklmnop"
OTHER_API_TOKEN = "test-token-qrstuvwxyz9876543210ABCDEF"


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


def sample_index_key(registry) -> str:
    """Changes whenever the sample index would come out differently: its inputs' bytes, the
    models' identities and how this CPU runs them at ingest (backend, precision)."""
    digest = hashlib.sha256(json.dumps(registry.ingest_meta()).encode())
    for name in INDEX_INPUTS:
        path = ROOT / name
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(file.relative_to(ROOT).as_posix().encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]


def es_config(server: FakeElasticsearch, index: str = "finnews", **overrides) -> dict:
    """App configuration of the Elasticsearch backend on a fake server."""
    return {"STORE_BACKEND": "elasticsearch", "ES_HOSTS": server.url, "ES_INDEX": index, **overrides}


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


def wait_until_ready(url: str, process: subprocess.Popen, log: Path, timeout: float) -> float:
    """Wait for `url` to answer 200; fail with the end of `log` if the process exits or time runs out.
    Returns the seconds waited."""
    start = time.monotonic()
    while True:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return time.monotonic() - start
        # Not listening yet, or too busy starting to answer within the request's own timeout.
        except (requests.ConnectionError, requests.Timeout):
            pass
        if process.poll() is not None or time.monotonic() - start > timeout:
            process.kill()
            pytest.fail(f"{url} did not answer 200: {log.read_text()[-3000:]}")
        time.sleep(0.3)


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
