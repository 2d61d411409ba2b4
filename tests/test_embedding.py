"""Embeddings: dimensions, normalisation, the 1155-d composition, agreement with float32, caching, threads."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests.helpers import SAMPLE
from webapp.embedding import ModelRegistry, compose
from webapp.fields import FIELD_DIMS
from webapp.modelcache import ModelCache


@pytest.fixture(scope="module")
def texts():
    records = [json.loads(line) for line in SAMPLE.read_text().splitlines()[:48]]
    return [f"{r['title']}\n{r['summary']}" for r in records]


def test_every_field_has_its_dimension_and_unit_length(registry, texts):
    vectors, sentiment = registry.encode_documents(texts[:5])
    for field, dims in FIELD_DIMS.items():
        assert vectors[field].shape == (5, dims) and vectors[field].dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors[field], axis=1), 1.0, atol=1e-5)
        query = registry.encode_query(field, "central bank raises rates")
        assert query.shape == (dims,) and abs(np.linalg.norm(query) - 1.0) < 1e-5
    assert sentiment.shape == (5, 3)


def test_1155_cosine_is_the_documented_combination(registry, texts):
    vectors, sentiment = registry.encode_documents(texts[:2])
    c384 = vectors["embedding384d"][0] @ vectors["embedding384d"][1]
    c768 = vectors["embedding768d"][0] @ vectors["embedding768d"][1]
    norms = np.sqrt(2 + (sentiment**2).sum(axis=1))
    expected = (c384 + c768 + sentiment[0] @ sentiment[1]) / (norms[0] * norms[1])
    assert vectors["embedding1155d"][0] @ vectors["embedding1155d"][1] == pytest.approx(expected, abs=1e-5)
    np.testing.assert_allclose(vectors["embedding1155d"][:, :384] * norms[:, None], vectors["embedding384d"], atol=1e-5)
    np.testing.assert_allclose(vectors["embedding1155d"][:, 1152:] * norms[:, None], sentiment, atol=1e-5)


def test_compose_normalises_rows():
    e384 = np.eye(1, 384, dtype=np.float32)
    e768 = np.eye(1, 768, dtype=np.float32)
    joined = compose([e384, e768], np.array([[0.0, 0.0, 1.0]], np.float32))
    assert joined.shape == (1, 1155)
    np.testing.assert_allclose(joined[0, [0, 384, 1154]], [1 / np.sqrt(3)] * 3, rtol=1e-6)


def test_documents_and_queries_agree_with_torch_float32(registry, texts, model_cache_dir):
    """Whatever the backends (ingest and query may differ), the vectors are torch float32's; the
    whole sample is checked by the fidelity guard (tests/test_fidelity.py)."""
    from webapp.encoders import TorchEncoder

    vectors, _ = registry.encode_documents(texts)
    for field, model in (("embedding384d", "all-MiniLM-L6-v2"), ("embedding768d", "all-mpnet-base-v2")):
        exact = TorchEncoder(ModelCache(model_cache_dir).verify(model).path).encode(texts)
        assert (vectors[field] * exact).sum(axis=1).min() >= 0.999, (registry.ingest_backend, field)
        query = registry.encode_query(field, texts[0])
        assert query @ exact[0] >= 0.999, (registry.query_backend, field)


def test_query_cache_returns_the_same_read_only_vector(registry):
    first = registry.encode_query("embedding768d", "a query only this test asks")
    again = registry.encode_query("embedding768d", "a query only this test asks")
    assert first is again and not first.flags.writeable
    with pytest.raises(ValueError):
        first[0] = 1.0


def test_query_cache_is_bounded(model_cache_dir):
    registry = ModelRegistry(ModelCache(model_cache_dir), query_cache_size=3)
    registry.wait_until_loaded()
    for i in range(5):
        registry.encode_query("embedding384d", f"query {i}")
    registry.encode_query("embedding384d", "query 4")
    registry.encode_query("embedding384d", "query 0")  # evicted: a miss
    assert registry.query_cache_info() == {"hits": 1, "misses": 6, "size": 3, "max_size": 3}


def test_concurrent_queries_from_many_threads(registry):
    fields = list(FIELD_DIMS)

    def embed(i):
        return registry.encode_query(fields[i % 3], f"thread safety probe {i}").shape[0]

    with ThreadPoolExecutor(max_workers=8) as pool:
        dims = list(pool.map(embed, range(48)))
    assert dims == [FIELD_DIMS[fields[i % 3]] for i in range(48)]
