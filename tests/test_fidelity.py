"""The fidelity guard (tools/fidelity.py) on the sample corpus and its judged queries: every
encoder backend, at the precision the service's own guard lets it run with on this CPU (its probe
set, webapp/fidelity.py), gives torch float32's vectors; so the probe chooses as the whole sample
would. And the guard refuses vectors that moved.

A third of the sample (its first SAMPLE_DOCUMENTS documents, every judged query) keeps this under
a minute per backend on two cores; `python -m tools evaluate --fidelity` (`make fidelity`) runs
the guard on the whole sample. The reference (torch float32) is kept in the test cache (tests.helpers.TEST_CACHE) under
a key of what it is made from. The backends are embedded afresh.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from tests.helpers import JUDGEMENTS, ROOT, SAMPLE, cache_entry
from tools import fidelity
from webapp.encoders import BACKENDS, cpu_has_native_bf16
from webapp.fields import EMBEDDING_MODELS, FIELD_DIMS
from webapp.modelcache import ModelCache

pytestmark = [pytest.mark.slow, pytest.mark.timeout(5400)]

SAMPLE_DOCUMENTS = 400


@pytest.fixture(scope="module")
def sample() -> fidelity.Sample:
    return fidelity.Sample.load(SAMPLE, JUDGEMENTS, limit=SAMPLE_DOCUMENTS)


@pytest.fixture(scope="module")
def reference(model_cache_dir, sample) -> fidelity.Embedded:
    cache = ModelCache(model_cache_dir)
    digest = hashlib.sha256()
    digest.update(str(SAMPLE_DOCUMENTS).encode())
    for path in (SAMPLE, JUDGEMENTS, ROOT / "tools" / "fidelity.py", ROOT / "webapp" / "encoders.py"):
        digest.update(path.read_bytes())
    for name in EMBEDDING_MODELS:
        digest.update(cache.verify(name).weights_sha256.encode())
    cached = cache_entry(
        f"fidelity-reference-{digest.hexdigest()[:16]}.npz",
        lambda path: fidelity.reference(cache, sample).save(path),
        stale="fidelity-reference-*.npz",
    )
    return fidelity.Embedded.load(cached)


@pytest.mark.parametrize("backend", BACKENDS)
def test_what_the_guard_lets_each_backend_run_passes_on_the_sample(
    backend, model_cache_dir, sample, reference, measured
):
    """On a CPU with bfloat16 the probe may accept a backend's bfloat16 (or refuse it for float32):
    either way, what it accepted must hold on the whole sample. A failure here means the probe
    set passed a precision the sample refuses: the probe needs texts like those that failed."""
    if backend == "torch" and not cpu_has_native_bf16():
        pytest.skip("torch runs float32 on this CPU for ingest and queries alike: it is the reference itself")
    embedded, described = fidelity.candidate(ModelCache(model_cache_dir), backend, sample)
    results = fidelity.compare(sample, reference, embedded)
    for line in fidelity.report_lines(backend, described, results):
        measured(line)
    assert {r.field: r.failures for r in results if r.failures} == {}, described


def test_the_guard_refuses_vectors_that_moved(sample):
    """Noise of the size dynamic int8 quantisation makes (cosine about 0.99) fails the guard;
    identical vectors pass. (Random unit vectors stand in for the reference: no model runs.)"""
    rng = np.random.default_rng(0)

    def unit(rows: int, dims: int) -> np.ndarray:
        vectors = rng.standard_normal((rows, dims)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def moved(vectors: np.ndarray, scale: float) -> np.ndarray:
        noisy = vectors + rng.standard_normal(vectors.shape).astype(np.float32) * scale / np.sqrt(vectors.shape[1])
        return noisy / np.linalg.norm(noisy, axis=1, keepdims=True)

    reference = fidelity.Embedded(
        documents={f: unit(len(sample.ids), d) for f, d in FIELD_DIMS.items()},
        queries={f: unit(len(sample.queries), d) for f, d in FIELD_DIMS.items()},
    )
    same = fidelity.compare(sample, reference, reference)
    assert all(not r.failures and r.top10_overlap == 1.0 and r.ndcg_delta == 0 for r in same)
    damaged = fidelity.Embedded(
        documents={f: moved(v, 0.15) for f, v in reference.documents.items()},
        queries={f: moved(v, 0.15) for f, v in reference.queries.items()},
    )
    results = fidelity.compare(sample, reference, damaged)
    assert all(any("min cosine" in failure for failure in r.failures) for r in results)
    assert all(0.98 < r.min_cosine_documents < 0.999 for r in results)


def test_evaluate_fidelity_checks_the_configured_backends(make_app, tmp_path):
    """`python -m tools evaluate --fidelity` on a slice of the sample: both configured backends
    (here: onnx for queries and openvino for ingest, or openvino for both) against torch float32."""
    from tools.evaluate import evaluate_command

    corpus, judged = tmp_path / "corpus.jsonl", tmp_path / "judged.jsonl"
    corpus.write_text("\n".join(SAMPLE.read_text().splitlines()[:40]) + "\n")
    judged.write_text("\n".join(JUDGEMENTS.read_text().splitlines()[:6]) + "\n")
    app = make_app(tmp_path / "unused-index", QUERY_BACKEND="onnx", INGEST_BACKEND="openvino")
    result = app.test_cli_runner().invoke(
        evaluate_command, ["--fidelity", "--corpus", str(corpus), "--judgements", str(judged)]
    )
    assert result.exit_code == 0, result.output
    assert "fidelity of onnx, openvino against torch float32: 40 documents, 6 judged queries" in result.output
    for backend in ("onnx", "openvino"):
        for field in FIELD_DIMS:
            # stdout only: the models' loading progress bars go to stderr, without a line end.
            assert any(
                line.startswith(backend) and field in line and "pass" in line for line in result.stdout.splitlines()
            ), result.output
