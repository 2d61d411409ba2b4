"""Sentence encoders behind one interface, one class per backend, and the query batcher.

Backends (FINNEWS_QUERY_BACKEND for queries, FINNEWS_INGEST_BACKEND for ingest):

* ``torch``: sentence-transformers on the published float32 weights. On a CPU that multiplies
  bfloat16 natively (AVX512-BF16 or AMX) batches run under bfloat16 autocast, which makes them
  about 3x faster there; single queries stay float32, which autocast makes slower. On a GPU
  (``flask ingest --device cuda``) the weights run in float16.
* ``onnx``: the model's exported graph (``flask models export``; webapp.modelcache) on ONNX
  Runtime, float32: the same vectors as torch float32 (cosine 1.0 to 6 decimals), a single
  query 2-3.5x faster than torch on one thread, on CPUs with or without AVX-512.
* ``openvino``: the same graph compiled by OpenVINO's CPU plugin at its default inference
  precision: bfloat16 where the CPU has AMX or AVX512-BF16 (there it halves mpnet's query time
  again and embeds batches fastest), float32 elsewhere (it ignores a bfloat16 hint there).
* ``auto``: openvino where the CPU multiplies bfloat16 natively, onnx elsewhere, for queries;
  openvino for ingest (fastest for batches on both kinds of CPU, see docs/search.md's figures).

Which backend and precision actually run is the fidelity guard's choice (webapp/fidelity.py,
:func:`candidates`, webapp.embedding.select_field_encoder): a precision that moves the vectors
on this CPU is refused for the same runtime at float32, then ONNX float32, then torch float32.
The onnx and openvino encoders need neither torch nor transformers: the tokenizer is the model's
own tokenizer.json run by the ``tokenizers`` library, so an image that serves only exported
models ships no torch.

Texts are tokenised once, sorted by length and cut into batches, so a batch pads to its own
longest text instead of the longest of all; vectors come back in the order of the texts.

ONNX Runtime's and OpenVINO's thread pools do not survive a fork, and a child that destroys a
runtime it inherited waits forever for threads it does not have. gunicorn's master loads the
query encoders with each worker's share of the cores (so a broken model fails the start, not the
first request) and, before each fork, lets go of the runtimes that own threads
(:meth:`Encoder.before_fork`: OpenVINO's always, ONNX Runtime's when it runs more than one
thread); each worker then loads its own (:meth:`Encoder.for_worker`) before it accepts a
connection. An ONNX Runtime session with one thread has no pool: the workers share the
master's, and its weights' pages. OpenVINO would compile each worker's model again (mpnet: 1.8 s
on an idle AVX2 core, 5 s under load); instead the master compiles it once more into a
compiled-model cache folder of this server's (OpenVINO's CACHE_DIR, made fresh at each start, so
no blob of another CPU, version or model is ever read), and each worker imports the blob (0.4 s).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from webapp.modelcache import EXPORT_CONFIG, EXPORT_GRAPH

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx", "openvino")


def cpu_has_native_bf16() -> bool:
    """True where the CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX): read from the
    kernel's CPU flags, so that no runtime need be imported to know."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def resolve_backend(backend: str, purpose: str) -> str:
    """The backend ``auto`` stands for on this CPU, for "query" or "ingest"."""
    if backend != "auto":
        return backend
    if purpose == "ingest" or cpu_has_native_bf16():
        return "openvino"
    return "onnx"


@dataclass(frozen=True)
class Candidate:
    """A backend at its fastest precision on this CPU, or held to float32."""

    backend: str
    float32: bool


def candidates(backend: str, purpose: str, precision: str) -> list[Candidate]:
    """What the fidelity guard tries, in order, for FINNEWS_*_BACKEND=BACKEND and
    FINNEWS_ENCODER_PRECISION=PRECISION: the backend at its fastest precision, then at float32;
    for ``auto`` then ONNX float32 and torch float32. A named backend is kept to its own runtime."""
    first = resolve_backend(backend, purpose)
    # ONNX Runtime runs the float32 graph as it is: it has no faster precision to try.
    chain = [] if precision == "float32" or first == "onnx" else [Candidate(first, float32=False)]
    chain.append(Candidate(first, float32=True))
    if backend == "auto":
        chain.extend(Candidate(other, float32=True) for other in ("onnx", "torch") if other != first)
    return chain


def sorted_batches(lengths: list[int], batch_size: int) -> Iterator[np.ndarray]:
    """Positions of the texts, longest first, cut into batches of at most batch_size."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


class Encoder:
    """Texts in, float32 unit vectors out (one row per text, in order)."""

    backend: str
    precision: str
    dims: int

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        raise NotImplementedError

    def before_fork(self, compiled_cache: Path) -> None:
        """Called in gunicorn's master before each fork (webapp/gunicorn_conf.py); a runtime that
        compiles may leave its compiled model in `compiled_cache` for the workers."""

    def for_worker(self, threads: int) -> None:
        """Called in each forked worker: take `threads` cores, load what before_fork let go."""

    def describe(self) -> str:
        """What an index records of how its vectors were made."""
        return f"{self.backend}/{self.precision}"


class TorchEncoder(Encoder):
    backend = "torch"

    def __init__(self, path: Path, device: str = "cpu", batches_in_bf16: bool = False, half: bool | None = None):
        import torch
        from sentence_transformers import SentenceTransformer

        self._torch = torch
        self.device = torch.device(device)
        self.model = SentenceTransformer(str(path), device=str(self.device), local_files_only=True)
        self.dims = self.model.get_embedding_dimension()
        # float16 on a GPU, where it is 3-6x faster than float32 (see PLATFORM_FACTS); `half` is
        # given by tests, to run this code path on a CPU.
        self.half = self.device.type == "cuda" if half is None else half
        if self.half:
            self.model.half()
        self.batches_in_bf16 = batches_in_bf16 and not self.half and self.device.type == "cpu"
        self.precision = "float16" if self.half else "bfloat16-autocast" if self.batches_in_bf16 else "float32"
        self._lock = threading.Lock()  # a fast tokenizer must not be called from two threads at once

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        autocast = len(texts) > 1 and self.batches_in_bf16
        precision = self._torch.autocast("cpu", dtype=self._torch.bfloat16) if autocast else contextlib.nullcontext()
        with self._lock, precision:
            vectors = self.model.encode(
                texts,
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return vectors.astype(np.float32, copy=False)

    def for_worker(self, threads: int) -> None:
        self._torch.set_num_threads(threads)


class TokenizedGraph:
    """An exported graph's tokenizer and inputs: texts in, padded arrays per sorted batch."""

    def __init__(self, folder: Path):
        from tokenizers import Tokenizer

        self.config = json.loads((folder / EXPORT_CONFIG).read_text())
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        # Truncation as sentence-transformers does it; padding is done per batch below. Set once
        # and never changed, so the tokenizer can be called from several threads.
        self.tokenizer.enable_truncation(self.config["max_length"])
        self.tokenizer.no_padding()
        self.pad_id = self.config["pad_token_id"]

    def batches(self, texts: list[str], batch_size: int) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
        """(positions of the texts, the graph's inputs) per batch, longest texts first."""
        encoded = self.tokenizer.encode_batch(texts, add_special_tokens=True) if len(texts) > 1 else [
            self.tokenizer.encode(texts[0])
        ]  # fmt: skip
        ids = [e.ids for e in encoded]
        for positions in sorted_batches([len(i) for i in ids], batch_size):
            width = len(ids[positions[0]])
            input_ids = np.full((len(positions), width), self.pad_id, dtype=np.int64)
            attention_mask = np.zeros((len(positions), width), dtype=np.int64)
            for row, position in enumerate(positions):
                input_ids[row, : len(ids[position])] = ids[position]
                attention_mask[row, : len(ids[position])] = 1
            feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
            yield positions, {name: feeds[name] for name in self.config["inputs"]}


class GraphEncoder(Encoder):
    """An exported graph run by a CPU runtime; subclasses say how it loads, unloads and runs."""

    # Whether a runtime loaded with one thread works in a forked child (it has no thread pool).
    single_thread_survives_fork = False

    def __init__(self, folder: Path, threads: int):
        self.folder = folder
        self.graph = TokenizedGraph(folder)
        self._threads = threads
        self._lock = threading.Lock()
        self._load(threads)
        self._loaded = True
        self.dims = int(self.run(next(self.graph.batches(["dimension probe"], 1))[1]).shape[1])

    def _load(self, threads: int) -> None:
        raise NotImplementedError

    def _unload(self) -> None:
        raise NotImplementedError

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def outputs(self, texts: list[str], batch_size: int) -> np.ndarray:
        out: np.ndarray | None = None
        for positions, feeds in self.graph.batches(texts, batch_size):
            with self._lock:
                if not self._loaded:  # released before a fork, used again in this process
                    self._load(self._threads)
                    self._loaded = True
                result = self.run(feeds)
            if out is None:
                out = np.empty((len(texts), result.shape[1]), dtype=np.float32)
            out[positions] = result
        return out

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        return self.outputs(texts, batch_size)

    def before_fork(self, compiled_cache: Path) -> None:
        """In the parent, before it forks: let go of a runtime whose threads a child would
        inherit as dead (destroying it in the child would wait for them forever)."""
        with self._lock:
            if self._loaded and not (self.single_thread_survives_fork and self._threads == 1):
                self._unload()
                self._loaded = False

    def for_worker(self, threads: int) -> None:
        with self._lock:
            if not self._loaded or threads != self._threads:
                self._load(threads)
                self._loaded, self._threads = True, threads


class OnnxRuntimeEncoder(GraphEncoder):
    backend = "onnx"
    precision = "float32"
    # With one intra-op thread ONNX Runtime runs on the caller's thread: a session the master
    # made serves the workers it forks, its weights' pages shared between them.
    single_thread_survives_fork = True

    def _load(self, threads: int) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Threads that spin after a forward pass take a core from the other worker on a small host.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(
            str(self.folder / EXPORT_GRAPH), options, providers=["CPUExecutionProvider"]
        )

    def _unload(self) -> None:
        self.session = None

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run([self.graph.config["output"]], feeds)[0]


OPENVINO_PRECISIONS = {"f32": "float32", "bf16": "bfloat16", "f16": "float16"}


class OpenVinoEncoder(GraphEncoder):
    backend = "openvino"

    def __init__(self, folder: Path, threads: int, float32: bool = False):
        # Without a hint the plugin compiles its fastest precision for this CPU; a worker's
        # runtime (for_worker) is compiled with the same choice the guard accepted.
        self._precision_config = {"INFERENCE_PRECISION_HINT": "f32"} if float32 else {}
        self.compiled_cache: Path | None = None  # set in gunicorn's master (before_fork)
        self.loaded_from_cache = False
        super().__init__(folder, threads)

    def _load(self, threads: int) -> None:
        import openvino

        core = openvino.Core()
        compiled = core.compile_model(
            str(self.folder / EXPORT_GRAPH),
            "CPU",
            {
                "INFERENCE_NUM_THREADS": threads,
                "NUM_STREAMS": 1,
                "PERFORMANCE_HINT": "LATENCY",
                **self._precision_config,
                **({"CACHE_DIR": str(self.compiled_cache)} if self.compiled_cache else {}),
            },
        )
        hint = compiled.get_property("INFERENCE_PRECISION_HINT").to_string()  # "f32", "bf16", "f16"
        self.precision = OPENVINO_PRECISIONS.get(hint, hint)
        self.loaded_from_cache = bool(compiled.get_property("LOADED_FROM_CACHE"))
        self.request = compiled.create_infer_request()

    def before_fork(self, compiled_cache: Path) -> None:
        with self._lock:
            if self.compiled_cache is None:
                # Once, in the master: the same compilation again, now kept in the server's
                # cache, so that every worker imports it instead of compiling (module docstring).
                self.compiled_cache = compiled_cache
                self._load(self._threads)
        super().before_fork(compiled_cache)

    def _unload(self) -> None:
        self.request = None

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.request.infer(feeds)[0].astype(np.float32, copy=True)


def load_encoder(
    path: Path, backend: str, purpose: str, device: str = "cpu", threads: int | None = None, float32: bool = False
) -> Encoder:
    """The encoder of the model at PATH (a model folder for torch, an export for the others),
    for "query" (one text at a time, mostly) or "ingest" (batches); FLOAT32 holds it to float32
    where it would otherwise choose a faster precision for this CPU or device."""
    if backend == "torch":
        try:
            return TorchEncoder(
                path,
                device=device,
                batches_in_bf16=purpose == "ingest" and cpu_has_native_bf16() and not float32,
                half=False if float32 else None,
            )
        except ImportError as exc:  # the torch-less image
            raise ValueError(f"the torch backend needs torch, which this installation lacks ({exc})") from None
    if device != "cpu":
        raise ValueError(f"the {backend} backend runs on the CPU; device {device!r} needs the torch backend")
    threads = threads or os.cpu_count() or 1
    if backend == "openvino":
        return OpenVinoEncoder(path, threads, float32=float32)
    return OnnxRuntimeEncoder(path, threads)


# -- batched queries ----------------------------------------------------------------------------
@dataclass
class _Pending:
    text: str
    vector: np.ndarray | None = None
    error: BaseException | None = None
    done: bool = False


@dataclass
class BatcherStats:
    batches: int = 0
    texts: int = 0
    largest: int = 0


@dataclass
class QueryBatcher:
    """Concurrent queries in a process encoded together, in one forward pass.

    No thread of its own: the first caller that finds the encoder idle runs a batch of every
    query waiting at that moment (at most ``max_batch``; after waiting ``window_s`` for more,
    when set). Queries that arrive while a batch runs wait for it to end and form the next one.
    A query that arrives alone runs at once, so single-request latency is that of the encoder
    (plus a lock), while under load a forward pass serves many requests.
    """

    encode_many: Callable[[list[str]], np.ndarray]
    max_batch: int = 32
    window_s: float = 0.0
    stats: BatcherStats = field(default_factory=BatcherStats)
    _condition: threading.Condition = field(default_factory=threading.Condition)
    _queue: list[_Pending] = field(default_factory=list)
    _busy: bool = False

    def pending(self) -> int:
        with self._condition:
            return len(self._queue)

    def encode(self, text: str) -> np.ndarray:
        request = _Pending(text)
        with self._condition:
            self._queue.append(request)
            self._condition.notify_all()
            while not request.done:
                if self._busy:
                    self._condition.wait()
                    continue
                self._busy = True
                self._collect()
                batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
                self._condition.release()
                try:
                    self._run(batch)
                finally:
                    self._condition.acquire()
                    self._busy = False
                    self._condition.notify_all()
        if request.error is not None:
            raise request.error
        return request.vector

    def _collect(self) -> None:
        """Wait up to window_s for the batch to fill (the lock is released while waiting)."""
        deadline = time.monotonic() + self.window_s
        while len(self._queue) < self.max_batch and (left := deadline - time.monotonic()) > 0:
            self._condition.wait(left)

    def _run(self, batch: list[_Pending]) -> None:
        try:
            vectors = self.encode_many([r.text for r in batch])
        except BaseException as exc:  # every waiting request gets the error, none hangs
            for r in batch:
                r.error, r.done = exc, True
            return
        for r, vector in zip(batch, vectors, strict=True):
            r.vector, r.done = vector, True
        self.stats.batches += 1
        self.stats.texts += len(batch)
        self.stats.largest = max(self.stats.largest, len(batch))
