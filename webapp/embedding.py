"""Embeddings for the search fields (webapp.fields says how each is made), from models loaded
once per process, by the encoder backend chosen for queries and for ingest (webapp/encoders.py:
torch, onnx or openvino; FINNEWS_QUERY_BACKEND, FINNEWS_INGEST_BACKEND).

Queries and ingest are encoded apart because they want different things: a query is one short
text, where ONNX Runtime (or OpenVINO's bfloat16 where the CPU has it) is 2-4x faster than torch
and bfloat16 autocast is slower; ingest is batches, where OpenVINO (or torch on a GPU) is
fastest. The ingest encoders load only when something is ingested. Each model runs with the
first backend and precision whose vectors pass the fidelity guard on this CPU
(:func:`select_field_encoder`, webapp/fidelity.py), so its vectors are within cosine 0.999 of
torch float32's and an index built with one backend is searched with another; /health says what
runs (:attr:`ModelRegistry.choices`), the index records which built it (:meth:`ingest_meta`).

Concurrent queries of one process are encoded together (webapp.encoders.QueryBatcher), so
throughput under load rises instead of requests queueing one forward pass each.

:class:`ModelRegistry` loads the models from the verified model cache in a background thread
and sets an Event when done; nothing waits in a loop. gunicorn (webapp/gunicorn_conf.py)
preloads the app, waits for that Event in the master, then forks; each worker then calls
:meth:`ModelRegistry.for_worker` before it accepts a connection, which gives every encoder its
share of the cores (and the runtimes that do not survive a fork, a runtime of their own).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from webapp.encoders import (
    BACKENDS,
    Encoder,
    OnnxRuntimeEncoder,
    QueryBatcher,
    candidates,
    load_encoder,
    resolve_backend,
)
from webapp.fidelity import PROBE_FILE, Probe, run_probe
from webapp.fields import COMPOSITION, ENCODED_FIELDS, FIELD_BY_NAME, FIELD_DIMS, FIELDS, SENTIMENT, SearchField
from webapp.modelcache import ModelCache, ModelCacheError, export_name
from webapp.sentiment import ExportedFinBertSentiment, FinBertSentiment, LexiconSentiment

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


def load_field_encoder(
    cache: ModelCache,
    model_name: str,
    backend: str,
    purpose: str,
    device: str = "cpu",
    threads: int | None = None,
    float32: bool = False,
):
    """(encoder, identity) of a sentence-transformer from the cache, verified before it loads:
    the model folder for torch, its export for the other backends."""
    if backend not in BACKENDS:
        raise ModelCacheError(f"unknown encoder backend {backend!r}; known: {', '.join(BACKENDS)}")
    entry = model_name if backend == "torch" else export_name(model_name)
    if backend != "torch" and not cache.has(entry):
        # The export is made from the model: an empty cache needs both commands.
        fetch = "" if cache.has(model_name) else f"`flask models fetch {model_name}`, then "
        raise ModelCacheError(
            f"the {backend} backend runs {model_name}'s ONNX export, which the model cache {cache.root} "
            f"lacks: run {fetch}`flask models export {model_name}` (or choose FINNEWS_*_BACKEND=torch)"
        )
    cached = cache.verify(entry)
    try:
        encoder = load_encoder(cached.path, backend, purpose, device=device, threads=threads, float32=float32)
    except ValueError as exc:
        raise ModelCacheError(str(exc)) from None
    return encoder, cached.identity


@dataclass(frozen=True)
class EncoderChoice:
    """Which encoder the fidelity guard let a model run with, and what it made of each candidate."""

    model: str
    purpose: str
    used: str
    guard: tuple[str, ...]


def guard_verdict(cache: ModelCache, model_name: str, encoder: Encoder) -> tuple[bool, str]:
    """(accepted, why) for ENCODER: its vectors of the probe set against torch float32's, kept
    in the model's export (webapp/fidelity.py)."""
    if encoder.backend == "torch" and encoder.precision == "float32":
        return True, "torch/float32 accepted (the reference itself)"
    entry = export_name(model_name)
    if not cache.has(entry):
        # torch at a reduced precision, with no export to hold the reference vectors.
        return False, f"{encoder.describe()} rejected: no probe reference without the export {entry}"
    # Verified again only for torch, whose load did not verify the export (the others loaded it).
    probe_path = (cache.verify(entry).path if encoder.backend == "torch" else cache.path(entry)) / PROBE_FILE
    if not probe_path.is_file():
        raise ModelCacheError(
            f"the export {entry} has no probe vectors for the fidelity guard (made before the guard): "
            f"run `flask models export {model_name} --force`"
        )
    result = run_probe(encoder.describe(), encoder.encode, Probe.load(probe_path))
    return result.accepted, result.describe()


def select_field_encoder(
    cache: ModelCache,
    model_name: str,
    backend: str,
    purpose: str,
    precision: str = "auto",
    device: str = "cpu",
    threads: int | None = None,
) -> tuple[Encoder, str, EncoderChoice]:
    """(encoder, identity, choice): the first candidate (webapp.encoders.candidates) whose
    vectors pass the fidelity guard on this CPU. A candidate that fails to load stops the search:
    a missing or corrupt export is an error to mend, not a reason to run something slower."""
    guard: list[str] = []
    rejected: set[str] = set()
    for candidate in candidates(backend, purpose, precision):
        if candidate.float32 and f"{candidate.backend}/float32" in rejected:
            continue  # its fastest precision on this CPU was float32 already
        try:
            encoder, identity = load_field_encoder(
                cache, model_name, candidate.backend, purpose, device, threads, float32=candidate.float32
            )
        except ModelCacheError as exc:
            raise ModelCacheError(f"{exc} (fidelity guard so far: {'; '.join(guard)})" if guard else str(exc)) from None
        accepted, why = guard_verdict(cache, model_name, encoder)
        guard.append(why)
        if accepted:
            log.info("fidelity guard, %s for %s: %s", model_name, purpose, "; ".join(guard))
            return encoder, identity, EncoderChoice(model_name, purpose, encoder.describe(), tuple(guard))
        log.warning("fidelity guard, %s for %s: %s", model_name, purpose, why)
        rejected.add(encoder.describe())
    raise ModelCacheError(f"no encoder of {model_name} for {purpose} passes the fidelity guard: {'; '.join(guard)}")


# Logged by each gunicorn worker once it can search (tools/benchmark.py waits for every worker's).
WORKER_READY = "worker runtimes ready"


class ModelRegistry:
    """The process's models: two sentence encoders (for queries; for ingest, loaded when first
    needed) and one sentiment model."""

    def __init__(
        self,
        cache: ModelCache,
        query_cache_size: int = 4096,
        batch_size: int = 64,
        query_backend: str = "auto",
        ingest_backend: str = "auto",
        query_batch_max: int = 32,
        query_batch_window_ms: float = 0.0,
        query_threads: int | None = None,
        encoder_precision: str = "auto",
    ):
        self.cache = cache
        self.batch_size = batch_size
        self.configured_backends = {"query": query_backend, "ingest": ingest_backend}
        # The first choices of the fidelity guard's candidates (select_field_encoder).
        self.query_backend = resolve_backend(query_backend, "query")
        self.ingest_backend = resolve_backend(ingest_backend, "ingest")
        self.encoder_precision = encoder_precision
        self.choices: dict[tuple[str, str], EncoderChoice] = {}  # (model, purpose): for /health
        # Cores a query's forward pass uses: each gunicorn worker's share (webapp/gunicorn_conf.py).
        self.query_threads = query_threads or os.cpu_count() or 1
        self.state = LoadState()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.encoders: dict[str, Encoder] = {}
        self._ingest_encoders: dict[tuple[str, str], dict[str, Encoder]] = {}
        self.batchers = {
            name: QueryBatcher(
                functools.partial(self._encode_batch, name),
                max_batch=query_batch_max,
                window_s=query_batch_window_ms / 1000,
            )
            for name in ENCODED_FIELDS
        }
        self.sentiment: LexiconSentiment | FinBertSentiment | ExportedFinBertSentiment | None = None
        self._sentiment_runner: OnnxRuntimeEncoder | None = None  # FinBERT's export, when it runs
        # gunicorn's master's folder of compiled models for its workers (before_fork).
        self.compiled_cache: Path | None = None
        self.identities: dict[str, str] = {}
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
        for field_name, model_name in ENCODED_FIELDS.items():
            started = time.perf_counter()
            encoder, identity, choice = select_field_encoder(
                self.cache,
                model_name,
                self.configured_backends["query"],
                "query",
                self.encoder_precision,
                threads=self.query_threads,
            )
            self.choices[(model_name, "query")] = choice
            if encoder.dims != FIELD_DIMS[field_name]:
                raise ModelCacheError(f"{model_name} gives {encoder.dims}-d vectors")
            self.encoders[field_name] = encoder
            self.identities[field_name] = identity
            self.state.load_seconds[model_name] = time.perf_counter() - started
            log.info(
                "loaded %s for queries in %.2f s: %s",
                model_name,
                self.state.load_seconds[model_name],
                encoder.describe(),
            )
        started = time.perf_counter()
        self.sentiment, name = self._load_sentiment()
        self.identities[SENTIMENT] = self.sentiment.identity
        self.state.load_seconds[name] = time.perf_counter() - started
        log.info("sentiment model: %s (%s)", name, self.sentiment.identity)

    def _load_sentiment(self):
        """FinBERT when cached (its export on ONNX Runtime when cached, else torch), else the lexicon."""
        if self.cache.has(export_name("finbert")):
            cached = self.cache.verify(export_name("finbert"))
            runner = OnnxRuntimeEncoder(cached.path, threads=self.query_threads)
            config = json.loads((cached.path / "config.json").read_text())
            logits = functools.partial(runner.outputs, batch_size=32)
            self._sentiment_runner = runner
            return ExportedFinBertSentiment(config, cached.identity, logits, cached.path), "finbert"
        if self.cache.has("finbert"):
            cached = self.cache.verify("finbert")
            return FinBertSentiment(cached.path, identity=cached.identity), "finbert"
        return LexiconSentiment(), "loughran-mcdonald"

    def before_fork(self) -> None:
        """In gunicorn's master, before each fork: runtimes with threads are let go
        (webapp.encoders), and those that compile leave their compiled models in this server's
        own folder (made at the first fork, removed by :meth:`remove_compiled_cache`)."""
        self.wait_until_loaded()
        if self.compiled_cache is None:
            self.compiled_cache = Path(tempfile.mkdtemp(prefix="finnews-compiled-"))
        for encoder in self.encoders.values():
            encoder.before_fork(self.compiled_cache)
        if self._sentiment_runner is not None:
            self._sentiment_runner.before_fork(self.compiled_cache)

    def remove_compiled_cache(self) -> None:
        """In gunicorn's master, as it exits: nobody reads the compiled models of a stopped server."""
        if self.compiled_cache is not None:
            shutil.rmtree(self.compiled_cache, ignore_errors=True)
            self.compiled_cache = None

    def for_worker(self, threads: int) -> None:
        """In a forked gunicorn worker, before it accepts a connection: every runtime gets
        `threads` cores, and one of its own where a runtime's threads did not survive the fork
        (imported from the master's compiled models: well within gunicorn's worker timeout).
        A worker therefore never holds a request it cannot answer; a failure is reported as a
        failed load is (/health, readiness and searches 503), and logged."""
        started = time.perf_counter()
        try:
            for encoder in self.encoders.values():
                encoder.for_worker(threads)
            if self._sentiment_runner is not None:
                self._sentiment_runner.for_worker(threads)
        except Exception as exc:
            self.state.error = f"{type(exc).__name__}: {exc}"
            log.error("worker runtimes failed: %s", self.state.error)
            return
        log.info("%s in %.2f s (%d threads)", WORKER_READY, time.perf_counter() - started, threads)

    def ingest_encoders(self, device: str = "cpu") -> dict[str, Encoder]:
        """The encoders ingest uses: the ingest backend's (torch on a GPU device) with every
        core, loaded on first use (a serving process never loads them)."""
        backend = "torch" if device != "cpu" else self.configured_backends["ingest"]
        key = (backend, device)
        with self._lock:
            if key not in self._ingest_encoders:
                encoders = {}
                for field_name, model_name in ENCODED_FIELDS.items():
                    encoder, identity, choice = select_field_encoder(
                        self.cache, model_name, backend, "ingest", self.encoder_precision, device
                    )
                    self.choices[(model_name, "ingest")] = choice
                    if identity != self.identities[field_name]:
                        raise ModelCacheError(
                            f"{model_name}: the {backend} ingest model is {identity}, the query model "
                            f"{self.identities[field_name]}"
                        )
                    encoders[field_name] = encoder
                self._ingest_encoders[key] = encoders
                log.info("ingest encoders: %s", ", ".join(f"{f} {e.describe()}" for f, e in encoders.items()))
            return self._ingest_encoders[key]

    def loaded_models(self) -> list[str]:
        if not self.ready:
            return []
        return [
            *ENCODED_FIELDS.values(),
            "loughran-mcdonald" if isinstance(self.sentiment, LexiconSentiment) else "finbert",
        ]

    def sentiment_identity(self) -> str | None:
        return self.identities.get(SENTIMENT)

    def index_meta(self) -> dict:
        """What an index records about the models its vectors were made with: the vectors of an
        index and of a query can be compared when these agree (webapp.store.check_compatible)."""
        return {"composition": COMPOSITION, "models": dict(self.identities)}

    def ingest_meta(self, device: str = "cpu") -> dict:
        """index_meta, and how this ingest runs each encoded model (backend and precision)."""
        encoders = self.ingest_encoders(device)
        return {**self.index_meta(), "precision": {name: [e.describe()] for name, e in encoders.items()}}

    # -- encoding -----------------------------------------------------------------------
    def _encode_batch(self, field_name: str, texts: list[str]) -> np.ndarray:
        return self.encoders[field_name].encode(texts, batch_size=self.batch_size)

    def encode_documents(
        self, texts: list[str], device: str = "cpu", batch_size: int | None = None
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Vectors of every field for documents, and their sentiment distributions (the
        encoders sort the texts by length into batches of `batch_size`)."""
        vectors = {name: self.encode_field(name, texts, device, batch_size) for name in ENCODED_FIELDS}
        sentiment = self.predict_sentiment(texts)
        return compose_fields(vectors, sentiment), sentiment

    def encode_field(
        self, field_name: str, texts: list[str], device: str = "cpu", batch_size: int | None = None
    ) -> np.ndarray:
        """Unit vectors of one encoded field (an import that reuses the other field's vectors)."""
        return self.ingest_encoders(device)[field_name].encode(texts, batch_size=batch_size or self.batch_size)

    def predict_sentiment(self, texts: list[str]) -> np.ndarray:
        """Sentiment distributions [positive, negative, neutral], one row per text."""
        return self.sentiment.predict(texts)

    def _encode_query(self, field_name: str, text: str, caller: str = "") -> np.ndarray:
        # `caller` only keys the cache: each caller hits its own entries alone, so a fast answer
        # tells it nothing of what others searched (webapp.service.SearchService.search).
        search_field: SearchField = FIELD_BY_NAME[field_name]
        if search_field.parts:
            parts = [self.batchers[part].encode(text)[None, :] for part in search_field.parts]
            vector = compose(parts, self.sentiment.predict([text]))[0]
        else:
            vector = self.batchers[field_name].encode(text).copy()
        vector.flags.writeable = False  # shared by every later cache hit
        return vector

    def query_cache_info(self) -> dict[str, int]:
        info = self.encode_query.cache_info()
        return {"hits": info.hits, "misses": info.misses, "size": info.currsize, "max_size": info.maxsize}
