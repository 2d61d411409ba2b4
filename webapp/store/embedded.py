"""The embedded store: an on-disk index that needs no server.

Why exact numpy search by default: on the project's 2-core build machines (the alternatives were
measured there, and by our own benchmark) a float32 matrix-vector product over 100,000
memory-mapped rows takes about 5 ms at 384 dimensions and 13 ms at 1,155, with recall 1.0, no build step, and a filter is
just a boolean mask, so k results come back whenever k documents match. A memory map also lets
every gunicorn worker read the same pages of the OS page cache instead of holding a private copy,
which faiss's HNSW (graph per process, 106 s build at 100k), usearch (post-filtering returns
fewer than k) and single-process stores (qdrant local, milvus-lite) do not. For large corpora an
inverted-file index, built when an index reaches ``ann_min_documents``, scans only the clusters
nearest the query (recall@10 >= 0.95 against exact, tests/test_store_embedded.py): faiss's
IndexIVFFlat, whose lists lie contiguously and are scanned by BLAS in place, with the filter
applied inside the search (an IDSelectorBitmap), memory-mapped so that workers share it. It
replaced an IVF of our own that gathered each query's candidate rows out of the memory map: on
the same synthetic index (`python -m tools store-benchmark`) faiss answered 30-100x faster at
equal recall. A search falls back to the exact scan when a filter leaves fewer than k hits.
Vectors stay float32: numpy has no half-precision matrix-vector product, and a float16 scan
was 2-13x slower than float32 there, not twice as fast.

On-disk layout, one immutable folder per committed generation::

    <path>/CURRENT                 "gen-000007": the generation readers use
    <path>/.lock                   held by a writer while it commits
    <path>/gen-000007/manifest.json
    <path>/gen-000007/<field>.f32   float32 rows, unit length, row i = document i
    <path>/gen-000007/published.i64 seconds since the epoch, UTC
    <path>/gen-000007/doc_type.i32, source.i32   codes into the manifest's vocabularies
    <path>/gen-000007/documents.jsonl + offsets.i64   the stored fields of row i
    <path>/gen-000007/ids.txt       row order, for writers
    <path>/gen-000007/ivf-<field>.faiss  optional IVF index (faiss IndexIVFFlat)

A commit writes a complete new generation into a temporary folder, fsyncs it, renames it into
place and only then replaces CURRENT (rename is atomic), so a crash mid-ingest leaves the previous
generation as it was. Readers check CURRENT (one stat) on each search and switch to a new
generation without a restart; a generation they still map stays readable after it is deleted.

Recovery. A writer killed at any point leaves at worst a ``.staging-*`` folder, or a complete
``gen-N`` that CURRENT never named (killed between the rename and the replacement of CURRENT).
Neither was ever visible to a reader, so the next commit, holding the commit lock (no other
writer can be running), removes both before it starts, and numbers its generation after the
highest one on disk: a leftover never blocks an ingest.

Lifetime. Each process holds one generation open: its memory maps and the descriptor of its
documents. A search holds a reference to the generation it started on; when CURRENT moves, the
old generation is retired and closed as soon as its last search ends, so its files' disk space
is released once the writer deletes them, however many commits a worker lives through.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import itertools
import json
import logging
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from webapp.fields import FIELD_DIMS
from webapp.store import (
    DocumentFailure,
    Hit,
    SearchFilters,
    StoreError,
    StoreHealth,
    StoreUnavailable,
    min_cosine,
    same_models,
    score_from_cosine,
)

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CURRENT = "CURRENT"
GENERATION_PREFIX = "gen-"
STAGING_PREFIX = ".staging-"
# Above this share of matching rows a masked full scan beats gathering the matching rows.
GATHER_BELOW = 0.25
COPY_CHUNK_ROWS = 16_384


def _epoch_seconds(value: str | dt.datetime) -> int:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return int(value.timestamp())


def merged_precision(recorded: dict, meta: dict) -> dict:
    """meta, its "precision" (how each model's vectors were made) joined with what the index
    recorded: an index built in parts by several backends lists them all."""
    precision = {
        name: sorted({*recorded.get("precision", {}).get(name, []), *made})
        for name, made in meta.get("precision", {}).items()
    }
    return {**meta, "precision": precision} if precision else meta


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


IVF_FORMAT = "faiss-ivf-flat"


class IvfIndex:
    """Inverted file over one field: faiss's IndexIVFFlat, inner product (the rows are unit
    vectors: the cosine), ``4 * sqrt(n)`` lists of which a twelfth is scanned per query. On
    clustered data (tests/test_store_embedded.py) that gave recall@10 0.97 scanning 8% of the
    rows, where ``sqrt(n)`` lists needed 12.5% for 0.955."""

    def __init__(self, index, nprobe: int | None = None):
        self.index = index
        self.nprobe = nprobe or max(16, index.nlist // 12)

    @classmethod
    def build(cls, vectors: np.ndarray, seed: int = 0) -> IvfIndex:
        import faiss

        n, dims = vectors.shape
        nlist = int(np.clip(4 * np.sqrt(n), 16, 65_536))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dims), dims, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        index.train(np.asarray(vectors[np.sort(rng.choice(n, size=min(n, 64 * nlist), replace=False))]))
        for start in range(0, n, COPY_CHUNK_ROWS):
            index.add(np.ascontiguousarray(vectors[start : start + COPY_CHUNK_ROWS], dtype=np.float32))
        return cls(index)

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path) -> IvfIndex:
        import faiss

        # Memory-mapped: the lists stay in the page cache, shared by every worker.
        return cls(faiss.read_index(str(path), faiss.IO_FLAG_MMAP))

    def search(self, query: np.ndarray, k: int, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Rows and cosines of the k nearest rows among those `mask` allows (fewer when the
        probed lists hold fewer)."""
        import faiss

        params = faiss.SearchParametersIVF(nprobe=self.nprobe)
        if mask is not None:
            bitmap = np.packbits(mask, bitorder="little")
            params.sel = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap))
        scores, rows = self.index.search(np.ascontiguousarray(query[None, :], dtype=np.float32), k, params=params)
        found = rows[0] >= 0
        return rows[0][found], scores[0][found]


@dataclass
class Generation:
    """One committed, immutable generation, memory-mapped."""

    name: str
    folder: Path
    manifest: dict
    vectors: dict[str, np.ndarray]
    published: np.ndarray
    doc_type: np.ndarray
    source: np.ndarray
    offsets: np.ndarray
    documents_fd: int
    ivf: dict[str, IvfIndex]
    # Searches reading this generation now, and whether a newer one replaced it (EmbeddedStore).
    users: int = field(default=0, compare=False)
    retired: bool = field(default=False, compare=False)

    @classmethod
    def open(cls, folder: Path) -> Generation:
        manifest = json.loads((folder / "manifest.json").read_text())
        if manifest.get("format") != FORMAT_VERSION:
            raise StoreError(f"{folder}: index format {manifest.get('format')}, this service reads {FORMAT_VERSION}")
        n = manifest["documents"]

        def mapped(name: str, dtype, shape) -> np.ndarray:
            if n == 0:
                return np.empty(shape, dtype=dtype)
            return np.memmap(folder / name, dtype=dtype, mode="r", shape=shape)

        # The maps close when their arrays are dropped; the descriptor is ours to close.
        documents_fd = os.open(folder / "documents.jsonl", os.O_RDONLY)
        try:
            return cls(
                name=folder.name,
                folder=folder,
                manifest=manifest,
                vectors={f: mapped(f"{f}.f32", np.float32, (n, d)) for f, d in FIELD_DIMS.items()},
                published=mapped("published.i64", np.int64, (n,)),
                doc_type=mapped("doc_type.i32", np.int32, (n,)),
                source=mapped("source.i32", np.int32, (n,)),
                offsets=np.fromfile(folder / "offsets.i64", dtype=np.int64),
                documents_fd=documents_fd,
                # An index from before faiss (no ivf_format) is searched exactly until rewritten.
                ivf={
                    f: IvfIndex.load(folder / f"ivf-{f}.faiss")
                    for f in manifest.get("ivf_fields", [])
                    if manifest.get("ivf_format") == IVF_FORMAT
                },
            )
        except BaseException:
            os.close(documents_fd)
            raise

    def close(self) -> None:
        """Release the descriptor and the memory maps (unmapped once no array refers to them)."""
        if self.documents_fd >= 0:
            os.close(self.documents_fd)
            self.documents_fd = -1
        empty = np.empty(0)
        self.vectors = {}
        self.published = self.doc_type = self.source = self.offsets = empty
        self.ivf = {}

    @property
    def size(self) -> int:
        return self.manifest["documents"]

    def document(self, row: int) -> dict:
        start, end = int(self.offsets[row]), int(self.offsets[row + 1])
        return json.loads(os.pread(self.documents_fd, end - start, start))

    def ids(self) -> list[str]:
        return (self.folder / "ids.txt").read_text().splitlines()

    def filter_mask(self, filters: SearchFilters) -> np.ndarray | None:
        if not filters.restricts_documents:
            return None
        mask = np.ones(self.size, dtype=bool)
        if filters.published_from is not None:
            mask &= self.published >= _epoch_seconds(filters.published_from)
        if filters.published_to is not None:
            mask &= self.published <= _epoch_seconds(filters.published_to)
        for values, column, vocabulary in (
            (filters.doc_types, self.doc_type, self.manifest["doc_types"]),
            (filters.sources, self.source, self.manifest["sources"]),
        ):
            if values is not None:
                codes = [vocabulary.index(v) for v in values if v in vocabulary]
                mask &= np.isin(column, codes)
        return mask

    def search(self, field: str, query: np.ndarray, size: int, filters: SearchFilters) -> list[Hit]:
        if self.size == 0:
            return []
        matrix = self.vectors[field]
        mask = self.filter_mask(filters)
        rows: np.ndarray | None = None  # None: scores cover every row
        if mask is not None:
            matching = np.flatnonzero(mask)
            if len(matching) == 0:
                return []
            if len(matching) < GATHER_BELOW * self.size:
                rows = matching
        if rows is None and field in self.ivf:
            found, cosines = self.ivf[field].search(query, size, mask)
            if len(found) >= size:
                return self._hits(found, cosines, filters)
        if rows is None:
            scores = matrix @ query
            if mask is not None:
                scores[~mask] = -np.inf
        else:
            scores = matrix[rows] @ query
        k = min(size, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return self._hits(top if rows is None else rows[top], scores[top], filters)

    def _hits(self, rows: np.ndarray, cosines: np.ndarray, filters: SearchFilters) -> list[Hit]:
        """Hits of the ranked rows, without those below min_score (or filtered out: -inf)."""
        keep = np.isfinite(cosines)
        if filters.min_score is not None:
            keep &= cosines >= min_cosine(filters.min_score)
        hits = []
        for row, cosine in zip(rows[keep], cosines[keep], strict=True):
            document = self.document(int(row))
            hits.append(Hit(id=document["id"], score=float(score_from_cosine(cosine)), document=document))
        return hits


class EmbeddedStore:
    backend = "embedded"

    def __init__(self, path: str | os.PathLike, ann_min_documents: int = 200_000):
        self.path = Path(path)
        self.ann_min_documents = ann_min_documents
        self._generation: Generation | None = None
        self._current_stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()

    # -- reading ------------------------------------------------------------------------
    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path / CURRENT)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns)

    def _open_current(self) -> tuple[Generation | None, tuple[int, int] | None]:
        """The generation CURRENT names, with the stamp it was read under.

        A writer may replace CURRENT and delete the generation it named between our reading
        CURRENT and opening that folder: then CURRENT has moved on, and reading it again finds
        a generation that exists. Anything else that cannot be opened is StoreUnavailable.
        """
        for attempt in itertools.count(1):
            stamp = self._stamp()
            if stamp is None:
                return None, None
            name = "?"
            try:
                name = (self.path / CURRENT).read_text().strip()
                return Generation.open(self.path / name), stamp
            except FileNotFoundError as exc:
                if attempt < 3 and self._stamp() != stamp:
                    continue  # CURRENT moved on meanwhile: read it again
                raise StoreUnavailable(f"cannot open the index's current generation {name}: {exc}") from exc
            except (OSError, ValueError, KeyError) as exc:
                raise StoreUnavailable(f"cannot open the index's current generation {name}: {exc}") from exc

    @contextlib.contextmanager
    def reading(self) -> Iterator[Generation | None]:
        """The newest committed generation (reopened when CURRENT changed), held open until the
        block ends; None for an empty store."""
        stamp = self._stamp()
        with self._lock:
            if stamp != self._current_stamp:
                generation, stamp = self._open_current()
                previous, self._generation, self._current_stamp = self._generation, generation, stamp
                if previous is not None:
                    previous.retired = True
                    if previous.users == 0:
                        previous.close()
                if generation:
                    log.info("opened %s: %d documents", generation.name, generation.size)
            generation = self._generation
            if generation is not None:
                generation.users += 1
        try:
            yield generation
        finally:
            if generation is not None:
                with self._lock:
                    generation.users -= 1
                    if generation.retired and generation.users == 0:
                        generation.close()

    def search(self, field: str, vector: np.ndarray, size: int, filters: SearchFilters) -> list[Hit]:
        with self.reading() as generation:
            try:
                return generation.search(field, vector, size, filters) if generation else []
            except OSError as exc:
                raise StoreUnavailable(f"cannot read the index's generation {generation.name}: {exc}") from exc

    def health(self) -> StoreHealth:
        try:
            with self.reading() as generation:
                return StoreHealth(self.backend, "ok", generation.size if generation else 0)
        except (OSError, ValueError, StoreError) as exc:
            return StoreHealth(self.backend, "unavailable", None, f"cannot open the index at {self.path}: {exc}")

    def index_meta(self) -> dict | None:
        with self.reading() as generation:
            return generation.manifest["meta"] if generation else None

    def filter_values(self) -> dict[str, list[str]]:
        with self.reading() as generation:
            if generation is None:
                return {"doc_types": [], "sources": []}
            return {
                "doc_types": list(generation.manifest["doc_types"]),
                "sources": list(generation.manifest["sources"]),
            }

    def content_hashes(self, ids: list[str]) -> dict[str, str]:
        with self.reading() as generation:
            if generation is None:
                return {}
            wanted = set(ids)
            row_of = {doc_id: row for row, doc_id in enumerate(generation.ids()) if doc_id in wanted}
            return {doc_id: generation.document(row)["content_sha256"] for doc_id, row in row_of.items()}

    def close(self) -> None:
        with self._lock:
            if self._generation:
                self._generation.retired = True
                if self._generation.users == 0:
                    self._generation.close()
            self._generation, self._current_stamp = None, None

    # -- writing ------------------------------------------------------------------------
    def upsert(self, documents: list[dict], vectors: dict[str, np.ndarray], meta: dict) -> list[DocumentFailure]:
        """Commit all or nothing: a failure raises, so no document is ever refused on its own."""
        if not documents:
            return []
        self.path.mkdir(parents=True, exist_ok=True)
        with (self.path / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            current = self._recover()
            with self.reading() as previous:
                self._commit(documents, vectors, meta, previous, current)
        return []

    def _recover(self) -> int:
        """Remove what killed writers left, under the commit lock; the highest generation number
        still on disk (0 for none). Readers never saw any of it: CURRENT never named it."""
        current = (self.path / CURRENT).read_text().strip() if (self.path / CURRENT).is_file() else None
        current_number = _generation_number(current) if current else 0
        for leftover in self.path.glob(f"{STAGING_PREFIX}*"):
            log.warning("removing %s, left by an interrupted commit", leftover.name)
            shutil.rmtree(leftover, ignore_errors=True)
        (self.path / f".{CURRENT}.tmp").unlink(missing_ok=True)
        highest = current_number
        for folder in self.path.glob(f"{GENERATION_PREFIX}*"):
            number = _generation_number(folder.name)
            if number > current_number:
                log.warning("removing %s: an interrupted commit wrote it but never made it current", folder.name)
                shutil.rmtree(folder, ignore_errors=True)
            if folder.exists():
                highest = max(highest, number)
        return highest

    def _commit(
        self,
        documents: list[dict],
        vectors: dict[str, np.ndarray],
        meta: dict,
        previous: Generation | None,
        highest: int,
    ) -> None:
        if previous is not None:
            if not same_models(previous.manifest["meta"], meta):
                raise StoreError(
                    f"the index at {self.path} was built with {previous.manifest['meta']['models']}, "
                    f"not with this ingest's {meta['models']}: ingest into a new index (STORE_PATH)"
                )
            meta = merged_precision(previous.manifest["meta"], meta)
        new_row = {doc["id"]: i for i, doc in enumerate(documents)}  # last duplicate wins
        new_order = sorted(new_row.values())
        old_ids = previous.ids() if previous else []
        kept = np.array([row for row, doc_id in enumerate(old_ids) if doc_id not in new_row], dtype=np.int64)
        n = len(kept) + len(new_order)
        number = highest + 1
        name = f"{GENERATION_PREFIX}{number:06d}"
        staging = self.path / f"{STAGING_PREFIX}{name}-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            for field, dims in FIELD_DIMS.items():
                target = np.memmap(staging / f"{field}.f32", dtype=np.float32, mode="w+", shape=(n, dims))
                if previous is not None:
                    for start in range(0, len(kept), COPY_CHUNK_ROWS):
                        chunk = kept[start : start + COPY_CHUNK_ROWS]
                        target[start : start + len(chunk)] = previous.vectors[field][chunk]
                target[len(kept) :] = vectors[field][new_order]
                target.flush()
                del target
            new_docs = [documents[i] for i in new_order]
            doc_types = sorted(
                {*(previous.manifest["doc_types"] if previous else []), *(d["doc_type"] for d in new_docs)}
            )
            sources = sorted({*(previous.manifest["sources"] if previous else []), *(d["source"] for d in new_docs)})
            self._write_columns(staging, previous, kept, new_docs, doc_types, sources)
            ids = [old_ids[row] for row in kept] + [d["id"] for d in new_docs]
            (staging / "ids.txt").write_text("".join(f"{i}\n" for i in ids))
            ivf_fields = []
            if n >= self.ann_min_documents:
                for field, dims in FIELD_DIMS.items():
                    matrix = np.memmap(staging / f"{field}.f32", dtype=np.float32, mode="r", shape=(n, dims))
                    IvfIndex.build(matrix).save(staging / f"ivf-{field}.faiss")
                    ivf_fields.append(field)
            manifest = {
                "format": FORMAT_VERSION,
                "generation": number,
                "documents": n,
                "meta": meta,
                "doc_types": doc_types,
                "sources": sources,
                "ivf_fields": ivf_fields,
                "ivf_format": IVF_FORMAT,
                "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
            (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
            for file in staging.iterdir():
                with file.open("rb") as handle:
                    os.fsync(handle.fileno())
            _fsync_dir(staging)
            staging.rename(self.path / name)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        pointer = self.path / f".{CURRENT}.tmp"
        pointer.write_text(name + "\n")
        with pointer.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(pointer, self.path / CURRENT)
        _fsync_dir(self.path)
        log.info("committed %s: %d documents (%d new or replaced)", name, n, len(new_docs))
        self._remove_old_generations(keep={name, previous.name if previous else name})

    def _write_columns(self, staging, previous, kept, new_docs, doc_types, sources) -> None:
        code_type = {v: i for i, v in enumerate(doc_types)}
        code_source = {v: i for i, v in enumerate(sources)}
        published = [_epoch_seconds(d["published_dt"]) for d in new_docs]
        type_codes = [code_type[d["doc_type"]] for d in new_docs]
        source_codes = [code_source[d["source"]] for d in new_docs]
        if previous is not None and len(kept):
            remap_type = np.array([code_type[v] for v in previous.manifest["doc_types"]], dtype=np.int32)
            remap_source = np.array([code_source[v] for v in previous.manifest["sources"]], dtype=np.int32)
            published = np.concatenate([previous.published[kept], published])
            type_codes = np.concatenate([remap_type[previous.doc_type[kept]], type_codes])
            source_codes = np.concatenate([remap_source[previous.source[kept]], source_codes])
        np.asarray(published, dtype=np.int64).tofile(staging / "published.i64")
        np.asarray(type_codes, dtype=np.int32).tofile(staging / "doc_type.i32")
        np.asarray(source_codes, dtype=np.int32).tofile(staging / "source.i32")
        offsets = [0]
        with (staging / "documents.jsonl").open("wb") as out:
            if previous is not None:
                for row in kept:
                    start, end = int(previous.offsets[row]), int(previous.offsets[row + 1])
                    out.write(os.pread(previous.documents_fd, end - start, start))
                    offsets.append(offsets[-1] + end - start)
            for doc in new_docs:
                line = (json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
                out.write(line)
                offsets.append(offsets[-1] + len(line))
        np.asarray(offsets, dtype=np.int64).tofile(staging / "offsets.i64")

    def _remove_old_generations(self, keep: set[str]) -> None:
        for folder in self.path.glob(f"{GENERATION_PREFIX}*"):
            if folder.name not in keep:
                shutil.rmtree(folder, ignore_errors=True)


def _generation_number(name: str) -> int:
    """gen-000007 -> 7; -1 for a name that is no generation's (gen-foo is left alone)."""
    digits = name.removeprefix(GENERATION_PREFIX)
    return int(digits) if digits.isdigit() else -1
