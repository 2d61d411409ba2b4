"""Query sets: the judged relevance queries (data/relevance_queries.yaml), judged by the hidden
labels, and the load benchmark's search phrases (data/benchmark_queries.yaml)."""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterable, Mapping

from tools.corpus.news import Labels
from tools.corpus.world import COMPANIES, SECTOR_BY_KEY, SECTORS, load

# (query text, criteria over Labels), in query-id order.
RELEVANCE_QUERIES: tuple[tuple[str, dict[str, object]], ...] = tuple(
    (entry["query"], entry["criteria"]) for entry in load("relevance_queries")
)
BENCHMARK_PIECES = load("benchmark_queries")


class Judge:
    """Collects relevant ids per query while documents stream past, so judging a large corpus
    keeps only the matching ids, never the documents or their labels."""

    def __init__(self, queries: Iterable[tuple[str, Mapping[str, object]]] = RELEVANCE_QUERIES) -> None:
        self.queries = list(queries)
        self.hits: list[list[str]] = [[] for _ in self.queries]

    def add(self, doc_id: str, labels: Labels) -> None:
        for slot, (_, criteria) in enumerate(self.queries):
            if labels.matches(criteria):
                self.hits[slot].append(doc_id)

    def rows(self) -> list[dict]:
        return [
            {"query_id": f"q{number:02d}", "query": text, "relevant_ids": ids, "criteria": dict(criteria)}
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
