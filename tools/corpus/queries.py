"""Query sets: the judged relevance queries, judged by the hidden labels (the calibration set of
data/relevance_queries.yaml and the held-out set of data/relevance_holdout_queries.yaml), and the
load benchmark's search phrases (data/benchmark_queries.yaml)."""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterable, Mapping

from tools.corpus.news import Labels
from tools.corpus.world import COMPANIES, SECTOR_BY_KEY, SECTORS, load

JudgedQueries = tuple[tuple[str, dict[str, object]], ...]


def _judged_queries(name: str) -> JudgedQueries:
    return tuple((entry["query"], entry["criteria"]) for entry in load(name))


# (query text, criteria over Labels), in query-id order. The calibration set is the one the
# relevance gate's thresholds were measured on; the held-out set never was, so measuring it says
# whether those thresholds hold for queries they were not derived from.
RELEVANCE_QUERIES = _judged_queries("relevance_queries")
HOLDOUT_QUERIES = _judged_queries("relevance_holdout_queries")
# Each judged set by name: its queries and the prefix of its query ids (q01, q02, ...; h01, ...).
QUERY_SETS: dict[str, tuple[JudgedQueries, str]] = {
    "calibration": (RELEVANCE_QUERIES, "q"),
    "holdout": (HOLDOUT_QUERIES, "h"),
}
BENCHMARK_PIECES = load("benchmark_queries")


class Judge:
    """Collects relevant ids per query of one of :data:`QUERY_SETS` while documents stream past,
    so judging a large corpus keeps only the matching ids, never the documents or their labels."""

    def __init__(self, query_set: str = "calibration") -> None:
        queries, self.id_prefix = QUERY_SETS[query_set]
        self.queries = list(queries)
        self.hits: list[list[str]] = [[] for _ in self.queries]

    def add(self, doc_id: str, labels: Labels) -> None:
        for slot, (_, criteria) in enumerate(self.queries):
            if labels.matches(criteria):
                self.hits[slot].append(doc_id)

    def rows(self) -> list[dict]:
        return [
            {
                "query_id": f"{self.id_prefix}{number:02d}",
                "query": text,
                "relevant_ids": ids,
                "criteria": dict(criteria),
            }
            for number, ((text, criteria), ids) in enumerate(zip(self.queries, self.hits, strict=True), start=1)
        ]


def relevance_summary(judged: Iterable[Mapping[str, object]]) -> dict[str, float]:
    """Min/median/max relevant documents per query: handy when tuning the query set."""
    sizes = [len(row["relevant_ids"]) for row in judged]  # type: ignore[arg-type]
    return {"queries": len(sizes), "min": min(sizes), "median": statistics.median(sizes), "max": max(sizes)}


def benchmark_queries(count: int, seed: int = 0) -> list[str]:
    """``count`` distinct search phrases for load tests, so that no two hit the same cache
    entry. Built from templates x companies x topics x time phrases; up to about 100,000 come
    quickly, and ValueError is raised when ``count`` is more than the combinations allow."""
    rng = random.Random(seed)
    pieces = BENCHMARK_PIECES
    seen: dict[str, None] = {}
    attempts = 0
    while len(seen) < count:
        attempts += 1
        if attempts > 50 * count + 1000:
            raise ValueError(f"could only build {len(seen)} distinct queries, asked for {count}")
        company = rng.choice(COMPANIES)
        sector = SECTOR_BY_KEY[company.sector] if rng.random() < 0.5 else rng.choice(SECTORS)
        text = rng.choice(pieces["templates"]).format(
            co=company.name,
            topic=rng.choice(pieces["topics"]),
            macro=rng.choice(pieces["macro"]),
            time=rng.choice(pieces["times"]),
            nouns=sector.nouns,
            adj=sector.adj,
        )
        seen.setdefault(" ".join(text.split()), None)
    return list(seen)
