"""Ingest news from JSONL or CSV into the store: validate, embed in batches, upsert by id.

A bad row is reported (file, line, field, reason) and skipped; it never aborts the batch or
touches the index. A document the store refuses (Elasticsearch answers per document) is
reported by id, and the others are kept. Records whose content is unchanged since the last
ingest are not embedded again, so re-running an ingest is idempotent and cheap, and an
interrupted one resumes where its last commit ended. Commits happen every ``commit_every``
documents, each one atomic in the embedded store.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import ValidationError
from tqdm import tqdm

from webapp.embedding import ModelRegistry
from webapp.fields import ALL_PARTS, SENTIMENT_LABELS
from webapp.schemas import NewsRecord
from webapp.store import DocumentFailure, SearchStore, check_compatible


@dataclass(frozen=True)
class Rejection:
    source: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}"


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

    @property
    def embedded(self) -> int:
        return self.added + self.updated

    @property
    def documents_per_second(self) -> float:
        busy = self.embed_seconds + self.commit_seconds
        return self.embedded / busy if busy else 0.0


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


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'record'}: {e['msg'].removeprefix('Value error, ')}"
        for e in error.errors(include_url=False)
    )


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


def read_records(paths: list[Path], report: IngestReport) -> list[NewsRecord]:
    """Valid records of every file, in order; a later row with the same id replaces an earlier one."""
    by_id: dict[str, NewsRecord] = {}
    for path in paths:
        for number, row, problem in read_rows(path):
            report.read += 1
            if problem is None:
                try:
                    record = NewsRecord.model_validate(row)
                except ValidationError as exc:
                    problem = _describe(exc)
                except RecursionError:
                    problem = "a value nests arrays or objects too deeply"
                else:
                    by_id.pop(record.id, None)  # keep input order of the winning row
                    by_id[record.id] = record
                    continue
            report.rejected.append(Rejection(str(path), number, problem))
    return list(by_id.values())


def ingest(
    paths: list[Path],
    registry: ModelRegistry,
    store: SearchStore,
    commit_every: int = 20_000,
    batch_size: int = 64,
    progress: bool = True,
) -> IngestReport:
    report = IngestReport()
    meta = registry.index_meta()
    # Fail before hours of embedding, not at the first commit.
    check_compatible(store.index_meta(), meta, ALL_PARTS)
    records = read_records(paths, report)
    with tqdm(total=len(records), unit="doc", desc="ingest", disable=not progress) as bar:
        for start in range(0, len(records), commit_every):
            chunk = records[start : start + commit_every]
            known = store.content_hashes([r.id for r in chunk])
            todo = [r for r in chunk if known.get(r.id) != content_sha256(r)]
            report.unchanged += len(chunk) - len(todo)
            bar.update(len(chunk) - len(todo))
            if not todo:
                continue
            documents, parts = [], []
            began = time.perf_counter()
            for b in range(0, len(todo), batch_size):
                batch = todo[b : b + batch_size]
                vectors, sentiment = registry.encode_documents([r.embedding_text() for r in batch])
                parts.append(vectors)
                documents.extend(stored_document(r, s) for r, s in zip(batch, sentiment, strict=True))
                bar.update(len(batch))
            report.embed_seconds += time.perf_counter() - began
            began = time.perf_counter()
            joined = {f: np.concatenate([p[f] for p in parts]) for f in parts[0]}
            failures = store.upsert(documents, joined, meta)
            report.commit_seconds += time.perf_counter() - began
            report.failed.extend(failures)
            refused = {failure.id for failure in failures}
            stored = [r for r in todo if r.id not in refused]
            updated = sum(1 for r in stored if r.id in known)
            report.updated += updated
            report.added += len(stored) - updated
    return report
