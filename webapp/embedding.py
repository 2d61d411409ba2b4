"""Embeddings for the search fields (webapp.fields says how each is made), from models loaded
once per process.

The weights stay float32 as published; where the CPU multiplies bfloat16 natively (AVX512-BF16
or AMX), forward passes run under torch's bfloat16 autocast, which keeps normalisations and
softmax in float32. On the sample corpus that makes ingest 3x faster and mpnet queries 35%
faster, and every vector has cosine >= 0.9999 to its pure-float32 twin (tests/test_embedding.py
checks it), so an index built on one machine answers queries embedded on another.

:class:`ModelRegistry` loads the models from the verified model cache in a background thread
and sets an Event when done; nothing waits in a loop. gunicorn (webapp/gunicorn_conf.py)
preloads the app, waits for that Event in the master, then forks: the workers share the
weights' memory pages instead of loading a copy each.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from webapp.fields import COMPOSITION, ENCODED_FIELDS, FIELD_BY_NAME, FIELD_DIMS, FIELDS, SENTIMENT, SearchField
from webapp.modelcache import ModelCache, ModelCacheError
from webapp.sentiment import FinBertSentiment, LexiconSentiment

log = logging.getLogger(__name__)


def compose(parts: list[np.ndarray], sentiment: np.ndarray) -> np.ndarray:
    """Rows of [part ‖ ... ‖ p], L2-normalised: a composed field's vectors (webapp.fields)."""
    joined = np.concatenate([*parts, sentiment], axis=1).astype(np.float32, copy=False)
    return joined / np.linalg.norm(joined, axis=1, keepdims=True)


def compose_fields(vectors: dict[str, np.ndarray], sentiment: np.ndarray) -> dict[str, np.ndarray]:
    """``vectors`` of the encoded fields, with every composed field's vectors added."""
    composed = {f.name: compose([vectors[part] for part in f.parts], sentiment) for f in FIELDS if f.parts}
    return {**vectors, **composed}


@dataclass
class LoadState:
    finished: threading.Event = field(default_factory=threading.Event)  # set on success and on failure
    error: str | None = None
    load_seconds: dict[str, float] = field(default_factory=dict)


class ModelRegistry:
    """The process's models: two sentence encoders and one sentiment model."""

    def __init__(self, cache: ModelCache, query_cache_size: int = 4096, batch_size: int = 64):
        self.cache = cache
        self.batch_size = batch_size
        self.state = LoadState()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.encoders: dict[str, object] = {}
        # Fast tokenizers are not safe to call from two threads at once ("Already borrowed"):
        # one lock per encoder serialises its calls; the search itself runs outside them.
        self._encoder_locks = {name: threading.Lock() for name in ENCODED_FIELDS}
        self.sentiment: LexiconSentiment | FinBertSentiment | None = None
        self.identities: dict[str, str] = {}
        self.precision = "float32"
        self._precision = contextlib.nullcontext
        self.encode_query = functools.lru_cache(maxsize=query_cache_size)(self._encode_query)

    # -- loading ------------------------------------------------------------------------
    def start_loading(self) -> None:
        """Load in a background thread, so the HTTP server can answer /health/live meanwhile."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._load_guarded, name="model-loader", daemon=True)
                self._thread.start()

    def wait_until_loaded(self, timeout: float | None = None) -> None:
        """Block until loading ended; raise if it failed. gunicorn's master calls this before forking."""
        self.start_loading()
        if not self.state.finished.wait(timeout):
            raise TimeoutError(f"models did not load within {timeout} s")
        self._thread.join()
        if self.state.error:
            raise ModelCacheError(self.state.error)

    @property
    def ready(self) -> bool:
        return self.state.finished.is_set() and self.state.error is None

    def _load_guarded(self) -> None:
        try:
            self._load()
        except Exception as exc:  # reported by /health and wait_until_loaded
            self.state.error = f"{type(exc).__name__}: {exc}"
            log.error("model loading failed: %s", self.state.error)
        finally:
            self.state.finished.set()

    def _load(self) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        bf16 = torch.ops.mkldnn._is_mkldnn_bf16_supported()
        self._precision = functools.partial(torch.autocast, "cpu", dtype=torch.bfloat16, enabled=bf16)
        self.precision = "bfloat16-autocast" if bf16 else "float32"

        for field_name, model_name in ENCODED_FIELDS.items():
            started = time.perf_counter()
            cached = self.cache.verify(model_name)
            encoder = SentenceTransformer(str(cached.path), device="cpu", local_files_only=True)
            if encoder.get_embedding_dimension() != FIELD_DIMS[field_name]:
                raise ModelCacheError(f"{model_name} gives {encoder.get_embedding_dimension()}-d vectors")
            self.encoders[field_name] = encoder
            self.identities[field_name] = cached.identity
            self.state.load_seconds[model_name] = time.perf_counter() - started
            log.info("loaded %s in %.2f s", model_name, self.state.load_seconds[model_name])
        started = time.perf_counter()
        if self.cache.has("finbert"):
            cached = self.cache.verify("finbert")
            self.sentiment = FinBertSentiment(cached.path, identity=cached.identity)
            name = "finbert"
        else:
            self.sentiment = LexiconSentiment()
            name = "loughran-mcdonald"
        self.identities[SENTIMENT] = self.sentiment.identity
        self.state.load_seconds[name] = time.perf_counter() - started
        log.info("sentiment model: %s (%s); precision %s", name, self.sentiment.identity, self.precision)

    def loaded_models(self) -> list[str]:
        if not self.ready:
            return []
        return [
            *ENCODED_FIELDS.values(),
            "finbert" if isinstance(self.sentiment, FinBertSentiment) else "loughran-mcdonald",
        ]

    def sentiment_identity(self) -> str | None:
        return self.identities.get(SENTIMENT)

    def index_meta(self) -> dict:
        """What an index records about how its vectors were made."""
        return {"composition": COMPOSITION, "models": dict(self.identities)}

    # -- encoding -----------------------------------------------------------------------
    def _encode(self, field_name: str, texts: list[str]) -> np.ndarray:
        with self._encoder_locks[field_name], self._precision():
            vectors = self.encoders[field_name].encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return vectors.astype(np.float32, copy=False)

    def _sentiment(self, texts: list[str]) -> np.ndarray:
        with self._precision():
            return self.sentiment.predict(texts)

    def encode_documents(self, texts: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Vectors of every field for a batch of documents, and their sentiment distributions."""
        vectors = {name: self._encode(name, texts) for name in ENCODED_FIELDS}
        sentiment = self._sentiment(texts)
        return compose_fields(vectors, sentiment), sentiment

    def encode_field(self, field_name: str, texts: list[str]) -> np.ndarray:
        """Unit vectors of one encoded field (an import that reuses the other field's vectors)."""
        return self._encode(field_name, texts)

    def predict_sentiment(self, texts: list[str]) -> np.ndarray:
        """Sentiment distributions [positive, negative, neutral], one row per text."""
        return self._sentiment(texts)

    def _encode_query(self, field_name: str, text: str) -> np.ndarray:
        search_field: SearchField = FIELD_BY_NAME[field_name]
        if search_field.parts:
            parts = [self._encode(part, [text]) for part in search_field.parts]
            vector = compose(parts, self._sentiment([text]))[0]
        else:
            vector = self._encode(field_name, [text])[0]
        vector.flags.writeable = False  # shared by every later cache hit
        return vector

    def query_cache_info(self) -> dict[str, int]:
        info = self.encode_query.cache_info()
        return {"hits": info.hits, "misses": info.misses, "size": info.currsize, "max_size": info.maxsize}
