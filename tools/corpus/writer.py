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
RELEVANCE_PATH = Path("data/relevance.jsonl")  # the calibration set
HOLDOUT_PATH = Path("data/relevance_holdout.jsonl")  # the held-out set


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


def write_relevance(
    path: Path | str, count: int = SAMPLE_COUNT, seed: int = SAMPLE_SEED, query_set: str = "calibration"
) -> list[dict]:
    """Judge a relevance query set (a name in :data:`~tools.corpus.queries.QUERY_SETS`) against
    the corpus ``(count, seed)`` and write JSONL."""
    judgement = Judge(query_set)
    for record, labels in generate_news(count, seed):
        judgement.add(record["id"], labels)
    judged = judgement.rows()
    _write_jsonl(Path(path), judged)
    return judged


@dataclass(frozen=True)
class JudgedStats:
    query_set: str  # a name in QUERY_SETS
    path: Path
    queries: int
    relevant_per_query: dict[str, float]  # queries, min, median, max


@dataclass(frozen=True)
class CorpusStats:
    path: Path
    documents: int
    seconds: float
    judged: tuple[JudgedStats, ...] = ()  # the judged query sets written with the corpus


def write_corpus(
    path: Path | str,
    count: int = SAMPLE_COUNT,
    seed: int = SAMPLE_SEED,
    *,
    relevance_path: Path | str | None = None,
    holdout_path: Path | str | None = None,
    progress: Callable[[int], None] | None = None,
) -> CorpusStats:
    """Write ``count`` records as JSONL, one at a time. With ``relevance_path`` the judged
    calibration query set for the same corpus is written too, and with ``holdout_path`` the
    held-out one, judged on the way (only matching ids are kept). ``progress`` is called with the
    number of records written so far."""
    started = time.perf_counter()
    targets = {"calibration": relevance_path, "holdout": holdout_path}
    judges = {name: (Judge(name), Path(target)) for name, target in targets.items() if target is not None}

    def rows() -> Iterator[dict]:
        for done, (record, labels) in enumerate(generate_news(count, seed), start=1):
            for judgement, _ in judges.values():
                judgement.add(record["id"], labels)
            yield record
            if progress is not None:
                progress(done)

    written = _write_jsonl(Path(path), rows())
    judged_stats = []
    for name, (judgement, target) in judges.items():
        judged = judgement.rows()
        judged_stats.append(JudgedStats(name, target, _write_jsonl(target, judged), relevance_summary(judged)))
    return CorpusStats(Path(path), written, time.perf_counter() - started, tuple(judged_stats))
