"""The fidelity guard: an encoder backend may serve only if its vectors are, for every practical
purpose, those of torch float32 on the published weights.

On the sample corpus and its judged queries, each backend's vectors are compared with torch
float32's, field by field (the 1155-d field composed from both, with the same sentiment):

* cosine to torch float32 >= 0.999 for every sample document and every judged query;
* top-10 overlap >= 0.95: the share of the 10 nearest documents of each judged query (exact
  search over the sample) that both rankings have, averaged over the queries;
* nDCG@10 on the judged queries within 0.005 of torch float32's.

The first two thresholds are the service's own (webapp/fidelity.py, MIN_COSINE and MIN_TOP10_OVERLAP), which it applies at start
to a small probe set to choose each backend's precision on the CPU it runs on. Here, documents
are embedded the way ingest runs the backend and queries the way the service does (one text),
with the precision that choice gives: so the whole sample shows whether the probe chooses well. Run by
tests/test_fidelity.py for every backend this CPU runs, and by ``python -m tools evaluate
--fidelity`` for the configured ones. Dynamic int8 quantisation fails it (mpnet min cosine 0.79,
top-10 overlap 0.65; PLATFORM_FACTS), so no quantised model is offered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tools.evaluate import ndcg_at_k
from webapp.embedding import compose, select_field_encoder
from webapp.encoders import Encoder, TorchEncoder
from webapp.fidelity import K, top_k
from webapp.fidelity import failures as guard_failures
from webapp.fields import ENCODED_FIELDS, FIELD_NAMES, FIELDS
from webapp.modelcache import ModelCache
from webapp.schemas import NewsRecord
from webapp.sentiment import LexiconSentiment

MAX_NDCG_DELTA = 0.005


@dataclass(frozen=True)
class Sample:
    ids: list[str]
    texts: list[str]
    queries: list[str]
    relevant: list[set[str]]

    @classmethod
    def load(cls, corpus: Path, judgements: Path, limit: int | None = None) -> Sample:
        records = [NewsRecord.model_validate_json(line) for line in corpus.read_text().splitlines() if line.strip()]
        records = records[:limit]
        judged = [json.loads(line) for line in judgements.read_text().splitlines() if line.strip()]
        return cls(
            ids=[r.id for r in records],
            texts=[r.embedding_text() for r in records],
            queries=[j["query"] for j in judged],
            relevant=[set(j["relevant_ids"]) for j in judged],
        )


@dataclass(frozen=True)
class FieldFidelity:
    field: str
    min_cosine_documents: float
    min_cosine_queries: float
    top10_overlap: float
    ndcg_reference: float
    ndcg: float

    @property
    def ndcg_delta(self) -> float:
        return abs(self.ndcg - self.ndcg_reference)

    @property
    def failures(self) -> list[str]:
        found = guard_failures(min(self.min_cosine_documents, self.min_cosine_queries), self.top10_overlap)
        if self.ndcg_delta > MAX_NDCG_DELTA:
            found.append(f"nDCG@10 differs by {self.ndcg_delta:.4f} > {MAX_NDCG_DELTA}")
        return found


@dataclass(frozen=True)
class Embedded:
    """Every field's vectors of the sample's documents and of its judged queries."""

    documents: dict[str, np.ndarray]
    queries: dict[str, np.ndarray]

    def save(self, path: Path) -> None:
        with path.open("wb") as handle:
            np.savez(
                handle,
                **{f"d:{k}": v for k, v in self.documents.items()},
                **{f"q:{k}": v for k, v in self.queries.items()},
            )

    @classmethod
    def load(cls, path: Path) -> Embedded:
        with np.load(path) as data:
            return cls(
                documents={k[2:]: data[k] for k in data.files if k.startswith("d:")},
                queries={k[2:]: data[k] for k in data.files if k.startswith("q:")},
            )


def embed(sample: Sample, document_encoders: dict[str, Encoder], query_encoders: dict[str, Encoder]) -> Embedded:
    """The sample through the given encoders; the 1155-d field composed with the lexicon's
    sentiment (a sentiment model is not what is being compared)."""
    lexicon = LexiconSentiment()
    documents = {f: document_encoders[f].encode(sample.texts) for f in ENCODED_FIELDS}
    queries = {f: np.stack([query_encoders[f].encode([q])[0] for q in sample.queries]) for f in ENCODED_FIELDS}
    for composed in FIELDS:
        if composed.parts:
            documents[composed.name] = compose([documents[p] for p in composed.parts], lexicon.predict(sample.texts))
            queries[composed.name] = compose([queries[p] for p in composed.parts], lexicon.predict(sample.queries))
    return Embedded(documents, queries)


def reference(cache: ModelCache, sample: Sample) -> Embedded:
    """torch float32 on the published weights: what every backend is compared with."""
    encoders = {f: TorchEncoder(cache.verify(model).path, batches_in_bf16=False) for f, model in ENCODED_FIELDS.items()}
    return embed(sample, encoders, encoders)


def candidate(cache: ModelCache, backend: str, sample: Sample, precision: str = "auto") -> tuple[Embedded, str]:
    """BACKEND's vectors of the sample (documents as ingest, queries as the service runs it, each
    with the encoder the service's fidelity guard chooses), and how it ran."""
    ingest = {f: select_field_encoder(cache, m, backend, "ingest", precision)[0] for f, m in ENCODED_FIELDS.items()}
    query = {f: select_field_encoder(cache, m, backend, "query", precision)[0] for f, m in ENCODED_FIELDS.items()}
    described = ", ".join(sorted({e.describe() for e in (*ingest.values(), *query.values())}))
    return embed(sample, ingest, query), described


def compare(sample: Sample, reference: Embedded, candidate: Embedded) -> list[FieldFidelity]:
    results = []
    for field in FIELD_NAMES:
        ref_docs, docs = reference.documents[field], candidate.documents[field]
        ref_queries, queries = reference.queries[field], candidate.queries[field]
        overlaps, ndcg_ref, ndcg = [], [], []
        for i, relevant in enumerate(sample.relevant):
            expected, got = top_k(ref_docs, ref_queries[i]), top_k(docs, queries[i])
            overlaps.append(len(set(expected) & set(got)) / K)
            ndcg_ref.append(ndcg_at_k([sample.ids[j] for j in expected], relevant, K))
            ndcg.append(ndcg_at_k([sample.ids[j] for j in got], relevant, K))
        results.append(
            FieldFidelity(
                field=field,
                min_cosine_documents=float((ref_docs * docs).sum(axis=1).min()),
                min_cosine_queries=float((ref_queries * queries).sum(axis=1).min()),
                top10_overlap=float(np.mean(overlaps)),
                ndcg_reference=float(np.mean(ndcg_ref)),
                ndcg=float(np.mean(ndcg)),
            )
        )
    return results


def report_lines(backend: str, described: str, results: list[FieldFidelity]) -> list[str]:
    lines = []
    for r in results:
        verdict = "pass" if not r.failures else "FAIL: " + "; ".join(r.failures)
        lines.append(
            f"{backend:9} {r.field:15} min cosine docs {r.min_cosine_documents:.6f} queries "
            f"{r.min_cosine_queries:.6f}  top-10 overlap {r.top10_overlap:.3f}  nDCG@10 {r.ndcg:.4f} "
            f"(torch float32 {r.ndcg_reference:.4f})  {verdict}  [{described}]"
        )
    return lines
