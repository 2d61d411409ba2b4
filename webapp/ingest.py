"""Ingest news from JSONL or CSV into the store: validate, embed in batches, upsert by id; and
import the earlier system's news from its live Elasticsearch index.

A bad row is reported (file, line, field, reason) and skipped; it never aborts the batch or
touches the index. A document the store refuses (Elasticsearch answers per document) is
reported by id, and the others are kept. Records whose content is unchanged since the last
ingest are not embedded again, so re-running an ingest is idempotent and cheap, and an
interrupted one resumes where its last commit ended. Commits happen every ``commit_every``
documents, each one atomic in the embedded store.

Records of the earlier system's shapes (webapp.earlier) are recognised row by row, or read as
the format given, and mapped by its one declared mapping; our own records are validated as
strictly as ever. :func:`import_earlier` reads an earlier index (a scan) through the same
mapping and writer; it reuses the earlier 384-d and 768-d vectors only where
:func:`check_earlier_vectors` found a random sample of them equal to ours. Each
commit's texts are embedded sorted by length (a batch pads to its longest text), on the ingest
backend (FINNEWS_INGEST_BACKEND) or a GPU.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import statistics
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from pydantic import ValidationError
from tqdm import tqdm

from webapp import earlier
from webapp.embedding import ModelRegistry, compose_fields
from webapp.fields import ALL_PARTS, ENCODED_FIELDS, FIELD_DIMS, SENTIMENT_LABELS
from webapp.schemas import NewsRecord
from webapp.store import DocumentFailure, SearchStore, check_compatible

# `flask ingest --format`: recognise each row's shape, or read every row as the one given.
AUTO = "auto"
INPUT_FORMATS = (AUTO, *earlier.FORMATS)
# The earlier vectors are reused only when, in a random sample, at least REUSE_MIN_SHARE of them
# have a cosine of at least REUSE_MIN_COSINE to ours for the same text.
REUSE_MIN_COSINE = 0.999
REUSE_MIN_SHARE = 0.99
# Documents of an earlier index mapped, checked against the store and embedded together.
IMPORT_PAGE_DOCUMENTS = 500
# Batches handed to the encoders at once: enough for a length-sorted group to fill its batches
# with texts of similar length, few enough for the progress bar to move.
GROUP_BATCHES = 16


@dataclass(frozen=True)
class Rejection:
    source: str
    line: int | None  # None: the source names one document (an earlier index's index/_id)
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}" if self.line is not None else f"{self.source}: {self.reason}"


@dataclass
class FormatSeen:
    """How many records of one input were read as one format, and what showed it."""

    records: int = 0
    evidence: tuple[str, ...] = ()  # the field names that showed it, in the first such record
    given: bool = False  # --format named it


@dataclass(frozen=True)
class VectorCheck:
    """Whether the earlier vectors of one field are ours: a random sample re-embedded and compared."""

    field: str
    earlier_name: str
    sampled: int  # mappable documents in the sample
    compared: int  # of those, the ones with a usable earlier vector
    matched: int  # of those, cosine >= REUSE_MIN_COSINE
    lowest: float | None = None
    median: float | None = None

    @property
    def reuse(self) -> bool:
        return self.compared > 0 and self.matched >= REUSE_MIN_SHARE * self.compared

    def __str__(self) -> str:
        if not self.compared:
            return (
                f"{self.field}: none of the {self.sampled} sampled documents has a usable {self.earlier_name} "
                f"(missing, not {FIELD_DIMS[self.field]} numbers, or zero): every document is embedded with our model"
            )
        found = (
            f"{self.field} from {self.earlier_name}: {self.matched} of {self.compared} sampled vectors have cosine "
            f">= {REUSE_MIN_COSINE} to ours (lowest {self.lowest:.5f}, median {self.median:.5f})"
        )
        if self.reuse:
            return f"{found}: reused (documents without a usable {self.earlier_name} are embedded)"
        return (
            f"{found}, fewer than {REUSE_MIN_SHARE:.0%}: re-embedding every document with {ENCODED_FIELDS[self.field]}"
            " (the earlier system embedded other text, or with another model)"
        )


@dataclass
class IngestReport:
    read: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    failed: list[DocumentFailure] = field(default_factory=list)
    embed_seconds: float = 0.0
    commit_seconds: float = 0.0
    # input (a file, or an earlier index) -> format -> how many of its records were read as it
    formats: dict[str, dict[str, FormatSeen]] = field(default_factory=dict)
    # fields an earlier-shape record held beyond its shape: ignored; how many records had each
    ignored_fields: Counter = field(default_factory=Counter)
    # what our schema could not keep of records it accepted (themes beyond 50, ...)
    notes: list[Rejection] = field(default_factory=list)
    # encoded field -> documents whose vector was reused from the earlier index / encoded by our model
    reused: Counter = field(default_factory=Counter)
    encoded: Counter = field(default_factory=Counter)
    vector_checks: list[VectorCheck] = field(default_factory=list)
    seconds: float = 0.0  # from the first record read to the last commit

    @property
    def embedded(self) -> int:
        return self.added + self.updated

    @property
    def documents_per_second(self) -> float:
        busy = self.embed_seconds + self.commit_seconds
        return self.embedded / busy if busy else 0.0

    def seen(self, source: str, fmt: str, evidence: tuple[str, ...] = (), given: bool = False) -> None:
        formats = self.formats.setdefault(source, {})
        if fmt not in formats:
            formats[fmt] = FormatSeen(evidence=evidence, given=given)
        formats[fmt].records += 1


def content_sha256(record: NewsRecord) -> str:
    """Identifies a record's content: an unchanged record is not embedded again on re-ingest."""
    canonical = record.model_dump_json(exclude_none=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def stored_document(record: NewsRecord, sentiment: np.ndarray) -> dict:
    """The fields a store keeps beside the vectors, identical for every backend."""
    doc = json.loads(record.model_dump_json())
    doc["sentiment"] = {label: round(float(p), 6) for label, p in zip(SENTIMENT_LABELS, sentiment, strict=True)}
    doc["content_sha256"] = content_sha256(record)
    return doc


def _describe(error: ValidationError, origin: dict[str, str] | None = None) -> str:
    """The validation errors, each naming the field; for a mapped earlier record, also the
    earlier name the value came from (``body (from full_text): ...``)."""
    problems = []
    for e in error.errors(include_url=False):
        location = ".".join(str(p) for p in e["loc"]) or "record"
        came_from = (origin or {}).get(str(e["loc"][0])) if e["loc"] else None
        if came_from and came_from != e["loc"][0]:
            location += f" (from {came_from})"
        problems.append(f"{location}: {e['msg'].removeprefix('Value error, ')}")
    return "; ".join(problems)


# csv's own limit (131,072 characters a field) would stop the reading of a file at the first
# longer field. The schema's longest field (body) is 100,000 characters, so a field up to this
# size is read whole and refused by validation with the field named; a longer one is reported
# as unreadable, and the reading goes on with the next line.
CSV_FIELD_LIMIT = 16 * 2**20


@contextlib.contextmanager
def _csv_field_limit(limit: int) -> Iterator[None]:
    previous = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _decoded_lines(path: Path, undecodable: set[int]) -> Iterator[str]:
    """The file's lines as text; the number of each line that is not UTF-8 goes to `undecodable`
    (the line itself is passed on with replacement characters, so that row boundaries hold)."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                undecodable.add(number)
                yield raw.decode("utf-8", errors="replace")


def read_rows(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    """(line number, raw row or None, error or None) for each row of a JSONL or CSV file.

    Every row is read on its own: one that cannot be read (not UTF-8, not JSON, nested too
    deeply, a field csv cannot read) is reported with its line number and the rest is read.
    """
    undecodable: set[int] = set()
    lines = _decoded_lines(path, undecodable)
    if path.suffix.lower() == ".csv":
        with _csv_field_limit(CSV_FIELD_LIMIT):
            yield from _csv_rows(lines, undecodable)
        return
    for number, line in enumerate(lines, start=1):
        if number in undecodable:
            yield number, None, "not UTF-8 text"
            continue
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, None, f"not valid JSON ({exc.msg} at column {exc.colno})"
            continue
        except RecursionError:
            yield number, None, "not readable: arrays or objects nested too deeply"
            continue
        except ValueError as exc:  # e.g. an integer of more digits than Python converts
            yield number, None, f"not readable JSON ({exc})"
            continue
        if not isinstance(row, dict):
            yield number, None, "not a JSON object"
            continue
        yield number, row, None


def _csv_rows(lines: Iterator[str], undecodable: set[int]) -> Iterator[tuple[int, dict | None, str | None]]:
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        yield 1, None, f"unreadable CSV header ({exc})"
        return
    unknown = set(header) - set(NewsRecord.model_fields)
    if 1 in undecodable:
        yield 1, None, "the CSV header is not UTF-8 text"
        return
    if unknown:
        yield 1, None, f"unknown CSV columns {sorted(unknown)}; expected {list(NewsRecord.model_fields)}"
        return
    last = reader.line_num
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, None, f"not readable as CSV ({exc})"
            last = reader.line_num
            continue
        first, last = last + 1, reader.line_num
        if not cells:
            continue
        if any(first <= number <= last for number in undecodable):
            yield last, None, "not UTF-8 text"
        elif len(cells) > len(header):
            yield last, None, "more cells than header columns"
        else:
            yield last, dict(zip(header, cells, strict=False)), None


def to_record(row: dict, fmt: str) -> tuple[NewsRecord, earlier.MappedRecord | None]:
    """Our record from a row of format ``fmt`` (native, or an earlier shape mapped); ValueError
    (UnmappableRecord, or the validation errors described) when it cannot be one."""
    try:
        if fmt == earlier.NATIVE:
            try:
                return NewsRecord.model_validate(row), None
            except ValidationError as exc:
                raise ValueError(_describe(exc)) from None
        mapped = earlier.map_record(row, fmt)
        try:
            return NewsRecord.model_validate(mapped.values), mapped
        except ValidationError as exc:
            raise ValueError(_describe(exc, mapped.origin)) from None
    except RecursionError:
        raise ValueError("a value nests arrays or objects too deeply") from None


def read_records(paths: list[Path], report: IngestReport, fmt: str = AUTO) -> list[NewsRecord]:
    """Valid records of every file, in order; a later row with the same id replaces an earlier one.

    ``fmt`` auto recognises each JSON row's shape (webapp.earlier.detect; CSV files hold our own
    records); another value reads every row as that format."""
    by_id: dict[str, NewsRecord] = {}
    for path in paths:
        is_csv = path.suffix.lower() == ".csv"
        if is_csv and fmt not in (AUTO, earlier.NATIVE):
            report.rejected.append(Rejection(str(path), None, f"{fmt} records are read from JSON Lines, not CSV"))
            continue
        for number, row, problem in read_rows(path):
            report.read += 1
            if problem is None:
                if fmt != AUTO:
                    row_format, evidence = fmt, ()
                else:
                    row_format, evidence = (earlier.NATIVE, ()) if is_csv else earlier.detect(row)
                report.seen(str(path), row_format, evidence, given=fmt != AUTO)
                try:
                    record, mapped = to_record(row, row_format)
                except ValueError as exc:
                    problem = str(exc)
                else:
                    if mapped is not None:
                        report.ignored_fields.update(mapped.ignored)
                        report.notes.extend(Rejection(str(path), number, f"{record.id}: {n}") for n in mapped.notes)
                    by_id.pop(record.id, None)  # keep input order of the winning row
                    by_id[record.id] = record
                    continue
            report.rejected.append(Rejection(str(path), number, problem))
    return list(by_id.values())


class _Writer:
    """Embeds what changed and commits it, ``commit_every`` documents at a time.

    A record whose content_sha256 the store already holds is skipped. Encoded fields named in
    ``reuse`` take the record's earlier vector where it has one; everything else is embedded
    with our models, and the composed field is always composed with our sentiment model."""

    def __init__(
        self, registry, store, report, bar, commit_every: int, batch_size: int, reuse=frozenset(), device: str = "cpu"
    ):
        self.registry, self.store, self.report, self.bar = registry, store, report, bar
        self.commit_every, self.batch_size, self.reuse, self.device = commit_every, batch_size, reuse, device
        self.meta = registry.ingest_meta(device)  # loads the ingest encoders
        self.documents: list[dict] = []
        self.vectors: list[dict[str, np.ndarray]] = []
        self.known: set[str] = set()  # ids of pending documents the store holds already

    def write(self, records: list[NewsRecord], earlier_vectors: list[dict[str, np.ndarray]] | None = None) -> None:
        known = self.store.content_hashes([r.id for r in records])
        todo = [i for i, r in enumerate(records) if known.get(r.id) != content_sha256(r)]
        self.report.unchanged += len(records) - len(todo)
        self.bar.update(len(records) - len(todo))
        if not todo:
            return
        vectors, sentiment = self._embed_by_length(
            [records[i] for i in todo], [earlier_vectors[i] for i in todo] if earlier_vectors else None
        )
        # Stored in the order read: of two records with one id, the later one is kept.
        start = 0
        while start < len(todo):
            end = start + min(len(todo) - start, self.commit_every - len(self.documents))
            batch = [records[i] for i in todo[start:end]]
            self.documents.extend(stored_document(r, p) for r, p in zip(batch, sentiment[start:end], strict=True))
            self.vectors.append({name: rows[start:end] for name, rows in vectors.items()})
            self.known.update(r.id for r in batch if r.id in known)
            start = end
            if len(self.documents) >= self.commit_every:
                self.commit()

    def _embed_by_length(self, records: list[NewsRecord], given: list[dict[str, np.ndarray]] | None):
        """Vectors and sentiment of ``records``, in their order, embedded longest text first (by
        characters: tokens follow them closely and need no tokenizer here)."""
        texts = [r.embedding_text() for r in records]
        order = np.argsort([-len(text) for text in texts], kind="stable")
        vectors = {name: np.empty((len(texts), dims), dtype=np.float32) for name, dims in FIELD_DIMS.items()}
        sentiment = np.empty((len(texts), len(SENTIMENT_LABELS)), dtype=np.float32)
        group = self.batch_size * GROUP_BATCHES
        for start in range(0, len(order), group):
            positions = order[start : start + group]
            began = time.perf_counter()
            part, part_sentiment = self._embed(
                [texts[i] for i in positions], [given[i] for i in positions] if given else None
            )
            self.report.embed_seconds += time.perf_counter() - began
            for name, rows in part.items():
                vectors[name][positions] = rows
            sentiment[positions] = part_sentiment
            self.bar.update(len(positions))
        return vectors, sentiment

    def _embed(self, texts: list[str], given: list[dict[str, np.ndarray]] | None):
        options = {"device": self.device, "batch_size": self.batch_size}
        reusable = {f: [g.get(f) for g in given] for f in self.reuse} if given else {}
        if not any(v is not None for rows in reusable.values() for v in rows):
            vectors, sentiment = self.registry.encode_documents(texts, **options)
            self.report.encoded.update(dict.fromkeys(ENCODED_FIELDS, len(texts)))
            return vectors, sentiment
        encoded = {}
        for name in ENCODED_FIELDS:
            rows = reusable.get(name, [None] * len(texts))
            missing = [i for i, vector in enumerate(rows) if vector is None]
            matrix = np.empty((len(texts), FIELD_DIMS[name]), dtype=np.float32)
            for i, vector in enumerate(rows):
                if vector is not None:
                    matrix[i] = vector
            if missing:
                matrix[missing] = self.registry.encode_field(name, [texts[i] for i in missing], **options)
            encoded[name] = matrix
            self.report.reused[name] += len(texts) - len(missing)
            self.report.encoded[name] += len(missing)
        sentiment = self.registry.predict_sentiment(texts)
        return compose_fields(encoded, sentiment), sentiment

    def commit(self) -> None:
        if not self.documents:
            return
        began = time.perf_counter()
        joined = {f: np.concatenate([v[f] for v in self.vectors]) for f in self.vectors[0]}
        failures = self.store.upsert(self.documents, joined, self.meta)
        self.report.commit_seconds += time.perf_counter() - began
        self.report.failed.extend(failures)
        refused = {failure.id for failure in failures}
        stored = [d["id"] for d in self.documents if d["id"] not in refused]
        updated = sum(1 for doc_id in stored if doc_id in self.known)
        self.report.updated += updated
        self.report.added += len(stored) - updated
        self.documents, self.vectors, self.known = [], [], set()


def ingest(
    paths: list[Path],
    registry: ModelRegistry,
    store: SearchStore,
    commit_every: int = 20_000,
    batch_size: int = 64,
    progress: bool = True,
    fmt: str = AUTO,
    device: str = "cpu",
) -> IngestReport:
    """Embed and upsert the records of PATHS. Each commit's texts are sorted by length and
    embedded in groups of similar length, so a batch pads to its own longest text; `device`
    "cuda" embeds on a GPU (torch, float16)."""
    report = IngestReport()
    began = time.perf_counter()
    # Fail before hours of embedding, not at the first commit.
    check_compatible(store.index_meta(), registry.index_meta(), ALL_PARTS)
    records = read_records(paths, report, fmt)
    with tqdm(total=len(records), unit="doc", desc="ingest", disable=not progress) as bar:
        writer = _Writer(registry, store, report, bar, commit_every, batch_size, device=device)
        for start in range(0, len(records), commit_every):
            writer.write(records[start : start + commit_every])
        writer.commit()
    report.seconds = time.perf_counter() - began
    return report


def _map_hit(hit: dict, report: IngestReport, source: str) -> tuple[NewsRecord, earlier.MappedRecord] | None:
    """One document of an earlier index as our record, or None (its rejection recorded)."""
    report.read += 1
    report.seen(source, earlier.EARLIER_ES)
    try:
        record, mapped = to_record(hit, earlier.EARLIER_ES)
    except ValueError as exc:
        report.rejected.append(Rejection(f"{hit.get('_index')}/{hit.get('_id')}", None, str(exc)))
        return None
    report.ignored_fields.update(mapped.ignored)
    report.notes.extend(Rejection(f"{hit.get('_index')}/{hit.get('_id')}", None, n) for n in mapped.notes)
    return record, mapped


class EarlierSource(Protocol):
    """An earlier index to import (webapp.store.elasticsearch.EarlierIndex)."""

    index: str

    def count(self) -> int: ...

    def sample(self, size: int, seed: int, exclude: list[str]) -> list[dict]: ...

    def scan(self, exclude: list[str]) -> Iterator[dict]: ...


def _vector_fields_not_read(reused: Iterable[str] = ()) -> list[str]:
    """The earlier vector fields an import leaves on the cluster: all but those it reuses."""
    names = [name for rule in earlier.MAPPING if rule.kind == "vector" for name in rule.es]
    return [name for name in names if earlier.EARLIER_VECTORS.get(name) not in set(reused)]


def check_earlier_vectors(
    source: EarlierSource, registry: ModelRegistry, sample_size: int, seed: int
) -> list[VectorCheck]:
    """For each earlier vector our models could have made: draw ``sample_size`` documents at
    random, embed their text with our model and compare (cosine) with the earlier vector."""
    mapped = []
    for hit in source.sample(sample_size, seed, _vector_fields_not_read(earlier.EARLIER_VECTORS.values())):
        try:
            mapped.append(to_record(hit, earlier.EARLIER_ES))
        except ValueError:
            continue  # the import reports it
    checks = []
    for earlier_name, name in earlier.EARLIER_VECTORS.items():
        pairs = [(record, m.vectors[name]) for record, m in mapped if name in m.vectors]
        if not pairs:
            checks.append(VectorCheck(name, earlier_name, len(mapped), 0, 0))
            continue
        ours = registry.encode_field(name, [record.embedding_text() for record, _ in pairs])
        cosines = np.einsum("ij,ij->i", ours, np.stack([vector for _, vector in pairs]))
        checks.append(
            VectorCheck(
                name,
                earlier_name,
                sampled=len(mapped),
                compared=len(pairs),
                matched=int(np.sum(cosines >= REUSE_MIN_COSINE)),
                lowest=float(cosines.min()),
                median=float(statistics.median(cosines.tolist())),
            )
        )
    return checks


def import_earlier(
    source: EarlierSource,
    registry: ModelRegistry,
    store: SearchStore,
    checks: list[VectorCheck],
    commit_every: int = 20_000,
    batch_size: int = 64,
    progress: bool = True,
) -> IngestReport:
    """Scan every document of an earlier index, map it, and write it into ``store``, reusing the
    earlier vectors of the fields whose check passed (``checks``; none: every document is
    embedded). A re-run skips what is unchanged, so an interrupted import resumes."""
    report = IngestReport(vector_checks=checks)
    began = time.perf_counter()
    check_compatible(store.index_meta(), registry.index_meta(), ALL_PARTS)
    reuse = frozenset(check.field for check in checks if check.reuse)
    total = source.count()
    with (
        tqdm(total=total, unit="doc", desc="import", disable=not progress) as bar,
        contextlib.closing(source.scan(_vector_fields_not_read(reuse))) as hits,
    ):
        writer = _Writer(registry, store, report, bar, commit_every, batch_size, reuse)
        page: list[dict] = []
        for hit in hits:
            page.append(hit)
            if len(page) == IMPORT_PAGE_DOCUMENTS:
                _write_page(page, writer, report, source.index, bar)
                page = []
        _write_page(page, writer, report, source.index, bar)
        writer.commit()
    report.seconds = time.perf_counter() - began
    return report


def _write_page(page: list[dict], writer: _Writer, report: IngestReport, source: str, bar) -> None:
    mapped = [m for m in (_map_hit(hit, report, source) for hit in page) if m is not None]
    bar.update(len(page) - len(mapped))
    if mapped:
        writer.write([record for record, _ in mapped], [m.vectors for _, m in mapped])
