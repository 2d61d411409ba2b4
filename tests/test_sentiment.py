"""Sentiment: the Loughran-McDonald lexicon's distributions, and the FinBERT code path driven by
a tiny BERT classifier that the test builds and saves itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers import SAMPLE
from webapp.embedding import ModelRegistry, compose
from webapp.ingest import ingest
from webapp.modelcache import ModelCache
from webapp.sentiment import FinBertSentiment, LexiconSentiment, label_of
from webapp.store import IndexMismatch
from webapp.store.embedded import EmbeddedStore


@pytest.fixture(scope="module")
def lexicon():
    return LexiconSentiment()


@pytest.mark.parametrize(
    "text, label",
    [
        ("Harbor Bank reports strong gains and boosts its dividend", "positive"),
        ("Lumen Air swings to a loss as fuel costs climb; lawsuit filed over delays", "negative"),
        ("Keel Mining will hold its annual meeting on Tuesday", "neutral"),
        ("The merger was not beneficial for shareholders", "negative"),  # negated positive word
        ("Margins improved, but impairment charges and losses weighed", "negative"),
    ],
)
def test_lexicon_labels(lexicon, text, label):
    assert label_of(lexicon.predict([text])[0]) == label


def test_lexicon_gives_proper_distributions(lexicon):
    scores = lexicon.predict(["Record gains", "Severe losses and defaults", "Meeting on Monday", ""])
    assert scores.shape == (4, 3) and scores.dtype == np.float32
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-6)
    assert (scores > 0).all()
    np.testing.assert_allclose(scores[2], [2 / 9, 2 / 9, 5 / 9], rtol=1e-6)  # no tone words: the neutral prior
    assert scores[1][1] == pytest.approx(3.5 / 5.25)  # three negative words outweigh the prior


def test_lexicon_identity_names_the_dictionary(lexicon):
    assert lexicon.identity.startswith("loughran-mcdonald@sha256:")


WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "profit", "loss", "record", "meeting", "bank", "the"]
# The classifier's logits are its bias (weights zeroed), so the output is known exactly.
TINY_BIAS = [0.0, 2.0, -1.0]
TINY_LABELS = {0: "neutral", 1: "Positive", 2: "NEGATIVE"}  # neither FinBERT's order nor its case


def build_tiny_finbert(folder, id2label=TINY_LABELS):
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder.mkdir(parents=True)
    (folder / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(WORDS),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=len(id2label),
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor(TINY_BIAS[: len(id2label)]))
    model.save_pretrained(folder)
    return folder


def expected_tiny_scores() -> np.ndarray:
    probs = torch.softmax(torch.tensor(TINY_BIAS), dim=0).numpy()
    by_name = {name.lower(): probs[i] for i, name in TINY_LABELS.items()}
    return np.array([by_name["positive"], by_name["negative"], by_name["neutral"]], dtype=np.float32)


def test_finbert_maps_labels_by_name_not_position(tmp_path):
    model = FinBertSentiment(build_tiny_finbert(tmp_path / "tiny"), identity="tiny")
    scores = model.predict(["record profit at the bank", "loss", "meeting"] * 30)  # several batches
    assert scores.shape == (90, 3)
    np.testing.assert_allclose(scores, np.tile(expected_tiny_scores(), (90, 1)), rtol=1e-5)
    assert label_of(scores[0]) == "positive"


def test_finbert_refuses_a_classifier_without_the_three_labels(tmp_path):
    folder = build_tiny_finbert(tmp_path / "two-labels", id2label={0: "bullish", 1: "bearish"})
    with pytest.raises(ValueError, match="exactly the labels"):
        FinBertSentiment(folder, identity="x")


@pytest.fixture
def cache_with_finbert(tmp_path, model_cache_dir):
    """A model cache holding the real embedding models and their exports (linked) and the tiny FinBERT."""
    cache = ModelCache(tmp_path / "models")
    cache.root.mkdir()
    for name in ModelCache(model_cache_dir).cached_names():
        (cache.root / name).symlink_to(model_cache_dir / name)
    cache.import_folder("finbert", build_tiny_finbert(tmp_path / "tiny"), revision="tiny-test")
    return cache


def test_registry_prefers_finbert_when_cached_and_records_it(cache_with_finbert):
    registry = ModelRegistry(cache_with_finbert)
    registry.wait_until_loaded()
    assert registry.loaded_models() == ["all-MiniLM-L6-v2", "all-mpnet-base-v2", "finbert"]
    assert registry.index_meta()["models"]["sentiment"].startswith("ProsusAI/finbert@sha256:")
    vectors, sentiment = registry.encode_documents(["Harbor Bank posts record profit"])
    np.testing.assert_allclose(sentiment[0], expected_tiny_scores(), rtol=1e-5)
    expected = compose([vectors["embedding384d"], vectors["embedding768d"]], sentiment)
    np.testing.assert_allclose(vectors["embedding1155d"], expected)
    assert vectors["embedding1155d"].shape == (1, 1155)
    assert np.linalg.norm(vectors["embedding1155d"][0]) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors["embedding384d"][0]), 1.0, rtol=1e-5)


def test_a_query_with_another_sentiment_model_is_refused_on_1155_only(tmp_path, cache_with_finbert, registry, make_app):
    """An index built with the lexicon, searched by a service that runs FinBERT."""
    index = tmp_path / "lexicon-index"
    lines = SAMPLE.read_text().splitlines()[:20]
    (tmp_path / "few.jsonl").write_text("\n".join(lines) + "\n")
    ingest([tmp_path / "few.jsonl"], registry, EmbeddedStore(index), progress=False)
    client = make_app(index, MODEL_CACHE_DIR=str(cache_with_finbert.root)).test_client()
    refused = client.post("/search/cosine/embedding1155d/", json={"query": "bank profits"})
    assert refused.status_code == 409
    assert refused.get_json()["error"] == "index_model_mismatch"
    # The models' identities (their hashes) are logged under the request's id, not answered.
    assert "finbert" not in refused.get_json()["message"] and refused.get_json()["request_id"]
    # The text-only fields do not depend on the sentiment model.
    assert client.post("/search/cosine/embedding384d/", json={"query": "bank profits"}).status_code == 200
    # And ingesting with FinBERT into the lexicon-built index is refused too.
    finbert_registry = ModelRegistry(cache_with_finbert)
    finbert_registry.wait_until_loaded()
    with pytest.raises(IndexMismatch, match="sentiment vectors were built with loughran-mcdonald"):
        ingest([SAMPLE], finbert_registry, EmbeddedStore(index), progress=False)
