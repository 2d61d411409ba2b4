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
@click.option(
    "--fidelity",
    is_flag=True,
    help="Instead: the fidelity guard (tools/fidelity.py) of the configured query and ingest backends against "
    "torch float32, on --corpus and the judged queries; exit 1 when one fails.",
)
@click.option(
    "--corpus",
    default="data/news_sample.jsonl",
    show_default=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --fidelity: the documents the judged queries were judged on.",
)
def evaluate_command(judgements: Path, k: int, output: Path | None, fidelity: bool, corpus: Path) -> None:
    """Report nDCG@k and recall@k of each endpoint on the judged query set, searching the
    app's store (FINNEWS_* settings) in this process; or, with --fidelity, check that the
    configured encoder backends give torch float32's vectors."""
    if fidelity:
        fidelity_guard(corpus, judgements)
        return
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


def fidelity_guard(corpus: Path, judgements: Path) -> None:
    from tools import fidelity
    from webapp import current_settings
    from webapp.encoders import resolve_backend
    from webapp.modelcache import ModelCache

    settings = current_settings()
    cache = ModelCache(settings.model_cache_dir)
    backends = sorted(
        {resolve_backend(settings.query_backend, "query"), resolve_backend(settings.ingest_backend, "ingest")}
    )
    sample = fidelity.Sample.load(corpus, judgements)
    click.echo(f"fidelity of {', '.join(backends)} against torch float32: {len(sample.texts)} documents, "
               f"{len(sample.queries)} judged queries")  # fmt: skip
    reference = fidelity.reference(cache, sample)
    failed = []
    for backend in backends:
        embedded, described = fidelity.candidate(cache, backend, sample)
        results = fidelity.compare(sample, reference, embedded)
        for line in fidelity.report_lines(backend, described, results):
            click.echo(line)
        failed += [f"{backend} {r.field}" for r in results if r.failures]
    if failed:
        raise click.ClickException(f"fidelity guard failed: {', '.join(failed)}")
