"""Writing a corpus and its judged queries as JSONL, streaming: a 100,000-record corpus never
sits in memory."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tools.corpus.news import generate_news
from tools.corpus.queries import Judge, relevance_summary

# The committed sample and its judged queries.
SAMPLE_COUNT = 1200
SAMPLE_SEED = 20241101
SAMPLE_PATH = Path("data/news_sample.jsonl")
RELEVANCE_PATH = Path("data/relevance.jsonl")


def _write_jsonl(path: Path, rows: Iterable[dict]) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    written = 0
    # Written beside the target and renamed, so an interrupted run never leaves half a file.
    with partial.open("w", encoding="utf-8", newline="\n") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False))
            out.write("\n")
            written += 1
    os.replace(partial, path)
    return written


def write_relevance(path: Path | str, count: int = SAMPLE_COUNT, seed: int = SAMPLE_SEED) -> list[dict]:
    """Judge the relevance queries against the corpus ``(count, seed)`` and write JSONL."""
    judgement = Judge()
    for record, labels in generate_news(count, seed):
        judgement.add(record["id"], labels)
    judged = judgement.rows()
    _write_jsonl(Path(path), judged)
    return judged


@dataclass(frozen=True)
class CorpusStats:
    path: Path
    documents: int
    seconds: float
    relevance_path: Path | None = None
    queries: int = 0
    relevant_per_query: dict[str, float] | None = None  # queries, min, median, max


def write_corpus(
    path: Path | str,
    count: int = SAMPLE_COUNT,
    seed: int = SAMPLE_SEED,
    *,
    relevance_path: Path | str | None = None,
    progress: Callable[[int], None] | None = None,
) -> CorpusStats:
    """Write ``count`` records as JSONL, one at a time. With ``relevance_path`` the judged query
    set for the same corpus is written too, judged on the way (only matching ids are kept).
    ``progress`` is called with the number of records written so far."""
    started = time.perf_counter()
    judgement = Judge() if relevance_path is not None else None

    def rows() -> Iterator[dict]:
        for done, (record, labels) in enumerate(generate_news(count, seed), start=1):
            if judgement is not None:
                judgement.add(record["id"], labels)
            yield record
            if progress is not None:
                progress(done)

    written = _write_jsonl(Path(path), rows())
    queries, summary = 0, None
    if relevance_path is not None and judgement is not None:
        judged = judgement.rows()
        queries = _write_jsonl(Path(relevance_path), judged)
        summary = relevance_summary(judged)
    return CorpusStats(
        Path(path),
        written,
        time.perf_counter() - started,
        Path(relevance_path) if relevance_path is not None else None,
        queries,
        summary,
    )
