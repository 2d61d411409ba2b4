"""Ingest news from JSONL or CSV into the store: validate, embed in batches, upsert by id.

A bad row is reported (file, line, field, reason) and skipped; it never aborts the batch or
touches the index. A document the store refuses (Elasticsearch answers per document) is
reported by id, and the others are kept. Records whose content is unchanged since the last
ingest are not embedded again, so re-running an ingest is idempotent and cheap, and an
interrupted one resumes where its last commit ended. Commits happen every ``commit_every``
documents, each one atomic in the embedded store. Each commit's texts are embedded sorted by
length (a batch pads to its longest text), on the ingest backend (FINNEWS_INGEST_BACKEND) or a GPU.
"""

from __future__ import annotations

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
from webapp.fields import ALL_PARTS, FIELD_DIMS, SENTIMENT_LABELS
from webapp.schemas import NewsRecord
from webapp.store import DocumentFailure, SearchStore, check_compatible

# Batches handed to the encoders at once: enough for a length-sorted group to fill its batches
# with texts of similar length, few enough for the progress bar to move.
GROUP_BATCHES = 16


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


def read_rows(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    """(line number, raw row or None, error or None) for each row of a JSONL or CSV file."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            unknown = set(reader.fieldnames or ()) - set(NewsRecord.model_fields)
            if unknown:
                yield 1, None, f"unknown CSV columns {sorted(unknown)}; expected {list(NewsRecord.model_fields)}"
                return
            for row in reader:
                if None in row:
                    yield reader.line_num, None, "more cells than header columns"
                    continue
                yield reader.line_num, row, None
        return
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, None, f"not valid JSON ({exc.msg} at column {exc.colno})"
                continue
            if not isinstance(row, dict):
                yield number, None, "not a JSON object"
                continue
            yield number, row, None


def read_records(paths: list[Path], report: IngestReport) -> list[NewsRecord]:
    """Valid records of every file, in order; a later row with the same id replaces an earlier one."""
    by_id: dict[str, NewsRecord] = {}
    for path in paths:
        try:
            rows = list(read_rows(path))
        except UnicodeDecodeError as exc:
            report.rejected.append(Rejection(str(path), 0, f"not UTF-8 text ({exc.reason})"))
            continue
        for number, row, problem in rows:
            report.read += 1
            if problem is None:
                try:
                    record = NewsRecord.model_validate(row)
                except ValidationError as exc:
                    problem = _describe(exc)
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
    device: str = "cpu",
) -> IngestReport:
    """Embed and upsert the records of PATHS. Each commit's texts are sorted by length and
    embedded in groups of similar length, so a batch pads to its own longest text; `device`
    "cuda" embeds on a GPU (torch, float16)."""
    report = IngestReport()
    # Fail before hours of embedding, not at the first commit; loads the ingest encoders.
    check_compatible(store.index_meta(), registry.index_meta(), ALL_PARTS)
    meta = registry.ingest_meta(device)
    records = read_records(paths, report)
    group = batch_size * GROUP_BATCHES
    with tqdm(total=len(records), unit="doc", desc="ingest", disable=not progress) as bar:
        for start in range(0, len(records), commit_every):
            chunk = records[start : start + commit_every]
            known = store.content_hashes([r.id for r in chunk])
            todo = [r for r in chunk if known.get(r.id) != content_sha256(r)]
            report.unchanged += len(chunk) - len(todo)
            bar.update(len(chunk) - len(todo))
            if not todo:
                continue
            began = time.perf_counter()
            texts = [r.embedding_text() for r in todo]
            # Longest first, by characters (tokens follow them closely, and need no tokenizer here).
            order = np.argsort([-len(text) for text in texts], kind="stable")
            vectors = {name: np.empty((len(todo), dims), dtype=np.float32) for name, dims in FIELD_DIMS.items()}
            sentiment = np.empty((len(todo), len(SENTIMENT_LABELS)), dtype=np.float32)
            for g in range(0, len(order), group):
                positions = order[g : g + group]
                part, part_sentiment = registry.encode_documents(
                    [texts[i] for i in positions], device=device, batch_size=batch_size
                )
                for name, rows in part.items():
                    vectors[name][positions] = rows
                sentiment[positions] = part_sentiment
                bar.update(len(positions))
            documents = [stored_document(r, s) for r, s in zip(todo, sentiment, strict=True)]
            report.embed_seconds += time.perf_counter() - began
            began = time.perf_counter()
            failures = store.upsert(documents, vectors, meta)
            report.commit_seconds += time.perf_counter() - began
            report.failed.extend(failures)
            refused = {failure.id for failure in failures}
            stored = [r for r in todo if r.id not in refused]
            updated = sum(1 for r in stored if r.id in known)
            report.updated += updated
            report.added += len(stored) - updated
    return report
