"""Retrieval quality on a judged query set: nDCG@k and recall@k with binary relevance.

Used by ``python -m tools evaluate`` (in-process) and by the relevance validation notebook (over
HTTP): both pass a function that returns the ranked ids for a query.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from statistics import fmean

import click
from flask.cli import with_appcontext
from pydantic import BaseModel, ConfigDict, Field, ValidationError


def ndcg_at_k(ranked_ids: list[str], relevant: set[str], k: int = 10) -> float:
    dcg = sum(1.0 / math.log2(rank + 2) for rank, doc_id in enumerate(ranked_ids[:k]) if doc_id in relevant)
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(k, len(relevant))))
    return dcg / ideal if ideal else 0.0


def recall_at_k(ranked_ids: list[str], relevant: set[str], k: int = 10) -> float:
    """Share of all relevant documents found in the top k (so at most k / len(relevant))."""
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked_ids[:k])) / len(relevant)


class JudgedQuery(BaseModel):
    """One line of a judged query set (JSONL): a query and the ids of the documents a person (or,
    for a generated corpus, the generator) judged relevant to it. Other keys (the generator's
    `criteria`, an operator's notes) are kept and ignored."""

    model_config = ConfigDict(extra="allow")

    query_id: str = Field(min_length=1)
    query: str = Field(min_length=1)
    relevant_ids: list[str]


class JudgementsError(ValueError):
    """A judged query set that cannot be used, with the line that says why."""


def load_judgements(path: str | Path) -> list[dict]:
    """Every judged query of a JSONL file, checked: each line a :class:`JudgedQuery`, ids unique."""
    judged, seen = [], set()
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = JudgedQuery.model_validate_json(line)
            except ValidationError as exc:
                error = exc.errors()[0]
                where = ".".join(str(part) for part in error["loc"]) or "line"
                raise JudgementsError(f"{path}:{number}: {where}: {error['msg']}") from None
            if row.query_id in seen:
                raise JudgementsError(f"{path}:{number}: query_id {row.query_id!r} appears twice")
            seen.add(row.query_id)
            judged.append(row.model_dump())
    return judged


def evaluate(search: Callable[[str], list[str]], judgements: list[dict], k: int = 10) -> dict:
    """Mean nDCG@k and recall@k of one search function over a judged query set."""
    per_query = []
    for judged in judgements:
        ranked = search(judged["query"])
        relevant = set(judged["relevant_ids"])
        per_query.append(
            {
                "query_id": judged["query_id"],
                "query": judged["query"],
                f"ndcg@{k}": ndcg_at_k(ranked, relevant, k),
                f"recall@{k}": recall_at_k(ranked, relevant, k),
            }
        )
    return {
        f"ndcg@{k}": fmean(q[f"ndcg@{k}"] for q in per_query) if per_query else 0.0,
        f"recall@{k}": fmean(q[f"recall@{k}"] for q in per_query) if per_query else 0.0,
        "queries": per_query,
    }


@click.command("evaluate")
@with_appcontext
@click.option(
    "--judgements",
    default="data/relevance.jsonl",
    show_default=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Judged query set (JSONL: query_id, query, relevant_ids).",
)
@click.option("-k", default=10, show_default=True, help="Rank cut-off.")
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), help="Also write the per-query results (JSON)."
)
def evaluate_command(judgements: Path, k: int, output: Path | None) -> None:
    """Report nDCG@k and recall@k of each endpoint on the judged query set, searching the
    app's store (FINNEWS_* settings) in this process."""
    from webapp.cli import loaded_service
    from webapp.fields import FIELD_NAMES
    from webapp.schemas import SearchRequest

    service = loaded_service()
    judged = load_judgements(judgements)
    results = {}
    for field in FIELD_NAMES:

        def ranked(query: str, field: str = field) -> list[str]:
            return [hit.id for hit in service.search(field, SearchRequest(query=query, size=k)).results]

        results[field] = evaluate(ranked, judged, k)
    click.echo(f"{len(judged)} judged queries, {service.store.health().documents} documents")
    click.echo(f"{'endpoint':16} {f'nDCG@{k}':>8} {f'recall@{k}':>10}")
    for field, result in results.items():
        click.echo(f"{field:16} {result[f'ndcg@{k}']:8.3f} {result[f'recall@{k}']:10.3f}")
    if output:
        output.write_text(json.dumps(results, indent=2) + "\n")
