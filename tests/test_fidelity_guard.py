"""The fidelity guard as a rule of the service (webapp/fidelity.py): each model runs with the
first candidate whose vectors of the probe set hold against torch float32's, on the CPU that runs
it, and /health and the index say which.

Whether the fastest precision is bfloat16 depends on the CPU, and OpenVINO ignores a bfloat16
hint on a CPU without AMX or AVX512-BF16 (it compiles float32: checked on an AVX2 EPYC). So the
bfloat16 branch is forced here on any CPU: OpenVINO's own choice is made to report bfloat16 while
it computes float32 (so that the vectors are the same on every CPU) and, where a test says so, to
move the vectors as much as bfloat16 moved mpnet's on an AMX Xeon (cosine about 0.998, below the
guard's 0.999).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from webapp import SEARCH_SERVICE
from webapp.embedding import ModelRegistry, select_field_encoder
from webapp.encoders import Candidate, OpenVinoEncoder, candidates
from webapp.fidelity import MIN_COSINE, MIN_TOP10_OVERLAP, PROBE_FILE, Probe, run_probe
from webapp.fields import EMBEDDING_MODELS, ENCODED_FIELDS
from webapp.modelcache import ModelCache, ModelCacheError, export_name

MINILM = "all-MiniLM-L6-v2"


def force_bf16(monkeypatch) -> None:
    """OpenVINO compiled with no precision hint (its fastest) reports bfloat16, as on an AMX CPU,
    and computes float32 on every CPU: where it would really choose bfloat16 (an AMD EPYC with
    AVX512-BF16 did: probe min cosine 0.99998), the vectors would otherwise depend on the CPU."""
    compile_model = OpenVinoEncoder._load

    def load(self, threads):
        fastest = not self._precision_config
        if fastest:
            self._precision_config = {"INFERENCE_PRECISION_HINT": "f32"}
        try:
            compile_model(self, threads)
        finally:
            if fastest:
                self._precision_config = {}
        if fastest:
            self.precision = "bfloat16"

    monkeypatch.setattr(OpenVinoEncoder, "_load", load)


def move_vectors(monkeypatch, precisions: set[str]) -> None:
    """OpenVINO's vectors at PRECISIONS move by bfloat16's error on mpnet on an AMX Xeon (cosine
    about 0.998 to torch float32's)."""
    run = OpenVinoEncoder.run

    def run_moved(self, feeds):
        vectors = run(self, feeds)
        if self.precision not in precisions:
            return vectors
        noise = np.random.default_rng(len(vectors)).standard_normal(vectors.shape).astype(np.float32)
        vectors = vectors + noise * 0.065 / np.sqrt(vectors.shape[1])
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    monkeypatch.setattr(OpenVinoEncoder, "run", run_moved)


def test_candidates_go_from_the_fastest_precision_to_float32_then_onnx_then_torch(monkeypatch):
    fastest, exact = (lambda backend: Candidate(backend, float32=False)), (lambda backend: Candidate(backend, True))
    monkeypatch.setattr("webapp.encoders.cpu_has_native_bf16", lambda: True)
    assert candidates("auto", "query", "auto") == [
        fastest("openvino"),
        exact("openvino"),
        exact("onnx"),
        exact("torch"),
    ]
    assert candidates("auto", "query", "float32") == [exact("openvino"), exact("onnx"), exact("torch")]
    monkeypatch.setattr("webapp.encoders.cpu_has_native_bf16", lambda: False)
    assert candidates("auto", "query", "auto") == [exact("onnx"), exact("torch")]
    assert candidates("auto", "ingest", "auto") == [
        fastest("openvino"),
        exact("openvino"),
        exact("onnx"),
        exact("torch"),
    ]
    # A backend named in the settings keeps its runtime: only its precision is the guard's.
    assert candidates("openvino", "query", "auto") == [fastest("openvino"), exact("openvino")]
    assert candidates("torch", "ingest", "auto") == [fastest("torch"), exact("torch")]
    assert candidates("onnx", "ingest", "auto") == [exact("onnx")]


def test_a_precision_that_fails_the_probe_is_not_used_and_health_and_the_index_say_why(make_app, tmp_path, monkeypatch):
    force_bf16(monkeypatch)
    move_vectors(monkeypatch, {"bfloat16"})
    # QUERY_CACHE_SIZE makes this app's registry its own (registries are shared per settings):
    # no other test gets these encoders.
    app = make_app(tmp_path / "index", QUERY_BACKEND="auto", ENCODER_PRECISION="auto", QUERY_CACHE_SIZE=17)
    registry = app.extensions[SEARCH_SERVICE].registry
    meta = registry.ingest_meta()  # ingest's backend is openvino on every CPU
    assert meta["precision"] == {"embedding384d": ["openvino/float32"], "embedding768d": ["openvino/float32"]}
    health = app.test_client().get("/health").get_json()
    ingest = {e["model"]: e for e in health["model_cache"]["encoders"] if e["purpose"] == "ingest"}
    assert set(ingest) == set(EMBEDDING_MODELS)
    for model in EMBEDDING_MODELS:
        assert ingest[model]["used"] == "openvino/float32"
        rejected, accepted = ingest[model]["guard"]
        assert rejected.startswith("openvino/bfloat16 rejected: min cosine 0.99") and f"< {MIN_COSINE}" in rejected
        assert accepted.startswith("openvino/float32 accepted (probe min cosine 1.0000")
    queries = {e["model"]: e["used"] for e in health["model_cache"]["encoders"] if e["purpose"] == "query"}
    assert queries == {model: registry.encoders[field].describe() for field, model in ENCODED_FIELDS.items()}
    assert "bfloat16" not in json.dumps(queries)


def test_a_precision_that_holds_is_used(model_cache_dir, monkeypatch):
    """The fast path is taken where the vectors hold: bfloat16 reported, vectors unmoved."""
    force_bf16(monkeypatch)
    encoder, _, choice = select_field_encoder(ModelCache(model_cache_dir), MINILM, "openvino", "ingest", "auto")
    assert encoder.describe() == choice.used == "openvino/bfloat16"
    assert len(choice.guard) == 1 and choice.guard[0].startswith("openvino/bfloat16 accepted (probe min cosine 1.0000")


def test_when_no_candidate_holds_the_model_does_not_load(model_cache_dir, monkeypatch):
    """A backend named in the settings is kept to its runtime: if neither precision holds, the
    start fails with the guard's figures instead of serving moved vectors."""
    force_bf16(monkeypatch)
    move_vectors(monkeypatch, {"bfloat16", "float32"})
    registry = ModelRegistry(ModelCache(model_cache_dir), query_backend="openvino", query_cache_size=3)
    with pytest.raises(ModelCacheError, match="passes the fidelity guard: openvino/bfloat16 rejected: min cosine"):
        registry.wait_until_loaded()
    assert "openvino/float32 rejected: min cosine" in registry.state.error


def test_the_probe_and_its_reference_figures(model_cache_dir, measured):
    """The probe of every model at its export's reference: its cost, and that torch float32's
    own export holds ONNX float32 to the guard's bounds with room to spare."""
    cache = ModelCache(model_cache_dir)
    for model in EMBEDDING_MODELS:
        encoder, _, choice = select_field_encoder(cache, model, "onnx", "query", "float32", threads=2)
        probe = Probe.load(cache.path(export_name(model)) / PROBE_FILE)
        assert len(probe.documents) == len(probe.document_vectors) and len(probe.queries) == len(probe.query_vectors)
        result = run_probe(encoder.describe(), encoder.encode, probe)
        assert result.min_cosine > 0.99999 and result.top10_overlap == 1.0 >= MIN_TOP10_OVERLAP
        measured(f"probe of {model}: {result.describe()}")


def test_the_probe_vectors_are_hashed_with_the_export(tmp_path, model_cache_dir):
    cache = ModelCache(tmp_path / "models")
    shutil.copytree(model_cache_dir / export_name(MINILM), cache.path(export_name(MINILM)))
    probe = cache.path(export_name(MINILM)) / PROBE_FILE
    data = bytearray(probe.read_bytes())
    data[-100] ^= 0xFF
    probe.write_bytes(bytes(data))
    with pytest.raises(ModelCacheError, match=f"{PROBE_FILE} does not match its sha256"):
        select_field_encoder(cache, MINILM, "onnx", "query")


def test_an_export_made_before_the_guard_is_refused_with_how_to_mend_it(tmp_path, model_cache_dir):
    cache = ModelCache(tmp_path / "models")
    shutil.copytree(model_cache_dir / export_name(MINILM), cache.path(export_name(MINILM)))
    manifest_path = cache.path(export_name(MINILM)) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["files"][PROBE_FILE]
    manifest_path.write_text(json.dumps(manifest))
    (cache.path(export_name(MINILM)) / PROBE_FILE).unlink()
    with pytest.raises(ModelCacheError, match=f"run `flask models export {MINILM} --force`"):
        select_field_encoder(cache, MINILM, "onnx", "query")


def test_torch_bfloat16_autocast_is_judged_by_the_probe_with_real_bfloat16_arithmetic(model_cache_dir, monkeypatch):
    """torch's bfloat16 autocast runs on any CPU (emulated where the CPU lacks it): the branch an
    AMX CPU takes for torch's ingest batches, its real arithmetic judged by the probe."""
    monkeypatch.setattr("webapp.encoders.cpu_has_native_bf16", lambda: True)
    cache = ModelCache(model_cache_dir)
    encoder, _, choice = select_field_encoder(cache, MINILM, "torch", "ingest", "auto")
    assert choice.used == "torch/bfloat16-autocast" and choice.guard[0].startswith("torch/bfloat16-autocast accepted")
    result = run_probe(encoder.describe(), encoder.encode, Probe.load(cache.path(export_name(MINILM)) / PROBE_FILE))
    assert MIN_COSINE <= result.min_cosine < 0.999999  # bfloat16 moved the vectors, within the guard
