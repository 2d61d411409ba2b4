"""Encoder backends: exports verified like models, the same vectors from every backend, batches in
the order of their texts, the GPU's float16 path (run on the CPU), and batched queries."""

from __future__ import annotations

import json
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests.helpers import SAMPLE
from tests.test_sentiment import build_tiny_finbert, expected_tiny_scores
from webapp.embedding import ModelRegistry, load_field_encoder
from webapp.encoders import QueryBatcher, TorchEncoder, resolve_backend, sorted_batches
from webapp.modelcache import CATALOGUE, ModelCache, ModelCacheError, export_name
from webapp.sentiment import ExportedFinBertSentiment

MINILM = "all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def texts():
    records = [json.loads(line) for line in SAMPLE.read_text().splitlines()[:24]]
    # Lengths from one word to a whole article's summary, in no order.
    return ["rates", *(f"{r['title']}\n{r['summary']}" for r in records), "bank " * 400]


@pytest.fixture(scope="module")
def reference(model_cache_dir, texts):
    """torch float32 on the published weights."""
    return TorchEncoder(ModelCache(model_cache_dir).verify(MINILM).path).encode(texts, batch_size=7)


def test_the_export_is_a_verified_cache_entry_with_the_source_identity(model_cache_dir):
    cache = ModelCache(model_cache_dir)
    exported = cache.verify(export_name(MINILM))
    manifest = exported.manifest
    assert manifest["source_model"] == MINILM and manifest["kind"] == "onnx-export:sentence-transformer"
    assert manifest["weights_sha256"] == CATALOGUE[MINILM].weights_sha256
    assert manifest["graph_sha256"] == manifest["files"]["model.onnx"]["sha256"]
    assert {"model.onnx", "encoder.json", "tokenizer.json", "config.json"} <= set(manifest["files"])
    assert manifest["export"]["opset"] == 17 and manifest["export"]["exporter"].startswith("torch==")
    # The same identity as the source: an index built with one is searched with the other.
    assert exported.identity == cache.verify(MINILM).identity


def test_a_tampered_export_is_refused_before_it_loads(tmp_path, model_cache_dir):
    cache = ModelCache(tmp_path / "models")
    shutil.copytree(model_cache_dir / export_name(MINILM), cache.path(export_name(MINILM)))
    graph = cache.path(export_name(MINILM)) / "model.onnx"
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF
    graph.write_bytes(bytes(data))
    with pytest.raises(ModelCacheError, match="model.onnx does not match its sha256") as refused:
        load_field_encoder(cache, MINILM, "onnx", "query")
    assert f"flask models export {MINILM} --force" in str(refused.value)
    # An export claiming other source weights than the pinned ones is refused too.
    shutil.copyfile(model_cache_dir / export_name(MINILM) / "model.onnx", graph)
    manifest = json.loads((cache.path(export_name(MINILM)) / "manifest.json").read_text())
    manifest["weights_sha256"] = "0" * 64
    (cache.path(export_name(MINILM)) / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelCacheError, match="not the pinned upstream file"):
        cache.verify(export_name(MINILM))


def test_a_backend_without_its_export_says_how_to_make_it(tmp_path, model_cache_dir):
    cache = ModelCache(tmp_path / "models")
    cache.root.mkdir()
    (cache.root / MINILM).symlink_to(model_cache_dir / MINILM)
    with pytest.raises(ModelCacheError, match=f"run `flask models export {MINILM}`"):
        load_field_encoder(cache, MINILM, "openvino", "query")


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_exported_backends_give_torch_float32_vectors_in_text_order(model_cache_dir, texts, reference, backend):
    encoder, _ = load_field_encoder(ModelCache(model_cache_dir), MINILM, backend, "ingest")
    # Several batch sizes: the texts are sorted by length into batches, the rows come back in order.
    for batch_size in (1, 5, 64):
        vectors = encoder.encode(texts, batch_size=batch_size)
        assert vectors.shape == reference.shape and vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        assert (vectors * reference).sum(axis=1).min() >= 0.999, (backend, encoder.describe())
    single = encoder.encode([texts[3]])[0]
    assert single @ reference[3] >= 0.999


def test_sorted_batches_cover_every_text_once_longest_first():
    lengths = [3, 9, 1, 9, 4, 7, 2]
    batches = list(sorted_batches(lengths, 3))
    assert [len(b) for b in batches] == [3, 3, 1]
    assert sorted(np.concatenate(batches).tolist()) == list(range(7))
    assert [lengths[i] for i in np.concatenate(batches)] == sorted(lengths, reverse=True)


def test_gpu_float16_path_runs_on_the_cpu(model_cache_dir, texts, reference):
    """`flask ingest --device cuda` loads torch in float16; the same code path, on the CPU."""
    encoder = TorchEncoder(ModelCache(model_cache_dir).verify(MINILM).path, device="cpu", half=True)
    assert encoder.precision == "float16" and encoder.describe() == "torch/float16"
    assert next(encoder.model.parameters()).dtype.__str__() == "torch.float16"
    vectors = encoder.encode(texts, batch_size=8)
    assert vectors.dtype == np.float32 and vectors.shape == reference.shape
    assert (vectors * reference).sum(axis=1).min() >= 0.999


def test_a_device_other_than_the_cpu_needs_torch(model_cache_dir):
    with pytest.raises(ModelCacheError, match="needs the torch backend"):
        load_field_encoder(ModelCache(model_cache_dir), MINILM, "onnx", "ingest", device="cuda")


def test_auto_picks_onnx_or_openvino_by_what_the_cpu_multiplies(monkeypatch):
    monkeypatch.setattr("webapp.encoders.cpu_has_native_bf16", lambda: False)
    assert (resolve_backend("auto", "query"), resolve_backend("auto", "ingest")) == ("onnx", "openvino")
    monkeypatch.setattr("webapp.encoders.cpu_has_native_bf16", lambda: True)
    assert (resolve_backend("auto", "query"), resolve_backend("auto", "ingest")) == ("openvino", "openvino")
    assert resolve_backend("torch", "query") == "torch"


def test_concurrent_queries_are_encoded_together():
    """While one batch runs, the queries that arrive wait and then go through as one batch."""
    release = threading.Event()
    calls: list[list[str]] = []

    def encode_many(batch: list[str]) -> np.ndarray:
        calls.append(batch)
        if len(calls) == 1:
            release.wait(timeout=60)  # the first pass runs until the others have queued
        return np.array([[float(text.split()[-1])] for text in batch], dtype=np.float32)

    batcher = QueryBatcher(encode_many, max_batch=4)
    with ThreadPoolExecutor(max_workers=8) as pool:
        first = pool.submit(batcher.encode, "query 0")
        while not calls:
            threading.Event().wait(0.01)
        rest = [pool.submit(batcher.encode, f"query {i}") for i in range(1, 8)]
        while batcher.pending() < 7:
            threading.Event().wait(0.01)
        release.set()
        results = [first.result(), *(f.result() for f in rest)]
    # Each caller gets its own text's vector; 8 queries took 3 forward passes (1, 4, 3).
    assert [float(v[0]) for v in results] == [float(i) for i in range(8)]
    assert [len(c) for c in calls] == [1, 4, 3]
    assert (batcher.stats.batches, batcher.stats.texts, batcher.stats.largest) == (3, 8, 4)


def test_a_failed_batch_fails_each_of_its_queries_and_the_batcher_goes_on():
    def encode_many(batch: list[str]) -> np.ndarray:
        if "bad" in batch:
            raise RuntimeError("the runtime failed")
        return np.ones((len(batch), 2), dtype=np.float32)

    batcher = QueryBatcher(encode_many)
    with pytest.raises(RuntimeError, match="the runtime failed"):
        batcher.encode("bad")
    assert batcher.encode("good").tolist() == [1.0, 1.0]


def test_a_query_alone_waits_for_no_one_unless_a_window_is_set():
    batcher = QueryBatcher(lambda batch: np.zeros((len(batch), 1), dtype=np.float32), window_s=0.0)
    batcher.encode("alone")
    assert batcher.stats.batches == 1 and batcher.pending() == 0


def test_finbert_export_runs_without_torch_and_maps_labels_by_name(tmp_path):
    cache = ModelCache(tmp_path / "models")
    cache.import_folder("finbert", build_tiny_finbert(tmp_path / "tiny"), revision="tiny-test")
    exported = cache.export("finbert")
    assert exported.manifest["kind"] == "onnx-export:sequence-classification"
    registry = ModelRegistry(cache, query_backend="torch", ingest_backend="torch")
    sentiment, name = registry._load_sentiment()  # the export, preferred to the torch model beside it
    assert name == "finbert" and isinstance(sentiment, ExportedFinBertSentiment)
    assert sentiment.identity == cache.verify("finbert").identity
    scores = sentiment.predict(["record profit at the bank", "loss", "meeting"] * 15)
    np.testing.assert_allclose(scores, np.tile(expected_tiny_scores(), (45, 1)), rtol=1e-5)


def test_the_index_records_how_its_vectors_were_made(registry, tmp_path):
    from webapp.ingest import ingest
    from webapp.store.embedded import EmbeddedStore

    lines = SAMPLE.read_text().splitlines()[:6]
    (tmp_path / "few.jsonl").write_text("\n".join(lines) + "\n")
    store = EmbeddedStore(tmp_path / "index")
    ingest([tmp_path / "few.jsonl"], registry, store, progress=False)
    with store.reading() as generation:
        recorded = generation.manifest["meta"]
    backend = registry.ingest_backend
    assert set(recorded["precision"]) == {"embedding384d", "embedding768d"}
    assert all(made[0].startswith(f"{backend}/") for made in recorded["precision"].values())
    assert recorded["models"] == registry.index_meta()["models"]


def test_an_index_built_in_parts_by_two_backends_lists_both(tmp_path):
    from tests.helpers import TEST_META, random_documents
    from webapp.store import StoreError
    from webapp.store.embedded import EmbeddedStore

    store = EmbeddedStore(tmp_path / "index")
    documents, vectors = random_documents(4)
    store.upsert(documents, vectors, {**TEST_META, "precision": {"embedding384d": ["onnx/float32"]}})
    documents, vectors = random_documents(4, start=4)
    store.upsert(documents, vectors, {**TEST_META, "precision": {"embedding384d": ["torch/float16"]}})
    with store.reading() as generation:
        assert generation.manifest["meta"]["precision"] == {"embedding384d": ["onnx/float32", "torch/float16"]}
    # Other models are refused as before.
    other = {**TEST_META, "models": {**TEST_META["models"], "embedding384d": "other"}}
    with pytest.raises(StoreError, match="ingest into a new index"):
        store.upsert(documents, vectors, other)


def test_ingest_on_a_gpu_says_when_there_is_none(make_app, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the refusal cannot be seen here")
    app = make_app(tmp_path / "index")
    result = app.test_cli_runner().invoke(args=["ingest", str(SAMPLE), "--device", "cuda"])
    assert result.exit_code == 1 and "--device cuda: torch sees no CUDA device" in result.output
    assert not (tmp_path / "index" / "CURRENT").exists()


def test_before_a_fork_runtimes_with_threads_are_let_go_and_workers_load_their_own(model_cache_dir, tmp_path):
    """gunicorn's master loads the encoders with each worker's share of the cores, then forks."""
    cache = ModelCache(model_cache_dir)
    single, _ = load_field_encoder(cache, MINILM, "onnx", "query", threads=1)
    pooled, _ = load_field_encoder(cache, MINILM, "onnx", "query", threads=2)
    openvino, _ = load_field_encoder(cache, MINILM, "openvino", "query", threads=1)
    session = single.session
    for encoder in (single, pooled, openvino):
        encoder.before_fork(tmp_path)
    # One ONNX Runtime thread: no pool, the master's session serves the workers (pages shared).
    assert single.session is session
    # A pool, or OpenVINO's threads: let go in the master, loaded again in each worker.
    assert pooled.session is None and openvino.request is None
    for encoder in (single, pooled, openvino):
        encoder.for_worker(1)
    assert single.session is session and pooled.session is not None and openvino.request is not None
    # A runtime let go and then used in the same process loads again on its own.
    openvino.before_fork(tmp_path)
    assert openvino.encode(["rates"]).shape == (1, 384)


def test_cli_export_then_verify_what_the_backends_load(tmp_path, model_cache_dir):
    from webapp import create_app

    cache_dir = tmp_path / "models"
    cache_dir.mkdir()
    (cache_dir / MINILM).symlink_to(model_cache_dir / MINILM)
    app = create_app({"MODEL_CACHE_DIR": str(cache_dir), "QUERY_BACKEND": "onnx", "INGEST_BACKEND": "onnx"})
    runner = app.test_cli_runner()
    result = runner.invoke(args=["models", "export", MINILM])
    assert result.exit_code == 0, result.output
    assert f"{MINILM}.onnx: ok (torch==" in result.output and "opset 17" in result.output
    # A second export of the same weights only verifies the cached one.
    installed = ModelCache(cache_dir).manifest(export_name(MINILM))["installed_at"]
    assert runner.invoke(args=["models", "export", MINILM]).exit_code == 0
    assert ModelCache(cache_dir).manifest(export_name(MINILM))["installed_at"] == installed
    # The onnx backend needs the exports: the 768-d model's is missing here.
    result = runner.invoke(args=["models", "verify"])
    assert result.exit_code == 1
    assert f"{MINILM}.onnx: ok" in result.output and "all-mpnet-base-v2.onnx: FAILED" in result.output


def test_a_worker_imports_the_masters_compiled_model_and_is_ready_when_prepared(model_cache_dir):
    """OpenVINO compiles each worker's model again unless the master left it compiled: the master
    fills its server's compiled-model folder at the first fork, every worker imports from it, and
    a worker is ready to search as soon as for_worker returns (gunicorn calls it before the
    worker accepts a connection), never after."""
    registry = ModelRegistry(ModelCache(model_cache_dir), query_backend="openvino", query_threads=1)
    registry.wait_until_loaded()
    encoder = registry.encoders["embedding768d"]
    assert encoder.backend == "openvino" and not encoder.loaded_from_cache
    registry.before_fork()
    compiled_cache = registry.compiled_cache
    assert sorted(p.suffix for p in compiled_cache.iterdir()) == [".blob", ".blob"]  # both models
    assert encoder.request is None  # let go before the fork
    registry.for_worker(1)
    assert encoder.request is not None and encoder.loaded_from_cache
    assert registry.ready and registry.encode_query("embedding768d", "rates").shape == (768,)
    # A recycled worker's fork does not compile again; the stopping server takes its folder away.
    registry.before_fork()
    assert registry.compiled_cache == compiled_cache and len(list(compiled_cache.iterdir())) == 2
    registry.remove_compiled_cache()
    assert not compiled_cache.exists() and registry.compiled_cache is None


def test_a_worker_whose_runtimes_fail_reports_it_and_answers_not_ready(model_cache_dir, monkeypatch):
    from webapp.encoders import OpenVinoEncoder

    registry = ModelRegistry(ModelCache(model_cache_dir), query_backend="openvino", query_threads=1)
    registry.wait_until_loaded()
    registry.before_fork()

    def fail(self, threads):
        raise RuntimeError("no memory left for the compiled model")

    monkeypatch.setattr(OpenVinoEncoder, "for_worker", fail)
    registry.for_worker(1)
    assert not registry.ready and "no memory left" in registry.state.error
    registry.remove_compiled_cache()
