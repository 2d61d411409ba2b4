"""The fidelity guard, a rule of the service: an encoder serves only vectors that are, for every
practical purpose, torch float32's on the published weights. Its thresholds live here, once:
tools/fidelity.py applies them to the whole sample corpus, the service to the probe set below.

Arithmetic depends on the CPU: OpenVINO compiles bfloat16 where the CPU multiplies it natively
(AMX or AVX512-BF16), and there mpnet's vectors fall to cosine 0.998 of torch float32's, below
the guard; elsewhere it compiles float32. So the service checks the encoder it is about to use,
on the CPU that runs it: the probe set (sample news and judged queries, fixed here) is encoded
and compared with the vectors torch float32 made of it when the model was exported
(:data:`PROBE_FILE` in the export, hashed in its manifest like every export file, so an image
without torch has them). The encoder is accepted only at min cosine >= MIN_COSINE over every probe
text and top-10 overlap >= MIN_TOP10_OVERLAP (each probe query's 10 nearest probe documents);
otherwise the next candidate is tried (webapp.embedding.select_field_encoder).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MIN_COSINE = 0.999
MIN_TOP10_OVERLAP = 0.95
K = 10
# The torch float32 vectors of the probe set, beside the graph in an export (webapp.modelcache).
PROBE_FILE = "probe.npz"

# Headlines of the sample corpus (every 37th record) and judged queries (every 10th). Short, to
# keep the probe a fraction of a second: mpnet costs about 3 ms a token on two AVX2 cores, and
# whole articles made the probe 3 s. That a precision the probe accepts also holds on whole
# articles is what tests/test_fidelity.py checks, on the whole sample, on each CPU it runs on.
PROBE_DOCUMENTS = (
    "What Hollowmere Assurance's dividend cut means for investors",
    "Coppergrove Resources closing gold mine in Quebec as losses mount",
    "Strong online sales sales drive Brookmere Stores to third-quarter earnings beat",
    "Filing: Brightwafer Technologies Q4 EPS of $0.53 misses $0.73 forecast",
    "Keystrand Telecom earnings exceed expectations on strong enterprise connectivity demand",
    "Analysis: Harrowgate Petroleum plans initial public offering of retail fuel business",
    "Fernleigh Brands will publish quarterly results on April 15",
    "Ironvale Mining settles case over hidden fees and misleading marketing of its nickel for $232 million",
    "Bond yields jump to 3.4%, pressuring real estate companies",
    "Movers: Brightmoor Household will publish quarterly results on June 21",
    "Caravel Airlines to pay $73.9 million to resolve Aviation Safety Directorate charges",
    "Marlowe Vehicles vehicle deliveries fall 11.2% as demand weakens",
    "Quartzline Micro to host investor day on August 14",
    "Brambleworks Q2 filing details segment results",
    "Signalbridge Telecom secures major 5G network contract",
    "Fiberhollow lifts payout to $0.59 a share",
    # Two whole articles (title and summary, as ingest embeds them) whose mpnet vectors moved
    # most at bfloat16 on an AMD EPYC with AVX512-BF16 (cosine 0.9980 and 0.9988 to torch
    # float32's) while every headline above held at 0.9999: without them that CPU's probe
    # accepted a precision the sample refuses (tests/test_fidelity.py).
    "Amberhall Residential beats first-quarter estimates as higher rents lifts revenue\nAmberhall Residential beat "
    "profit forecasts for the first quarter of 2025, helped by improved margins and higher rents. Free cash flow was "
    "$26.4 million for the quarter, up from $22.0 million a year ago.",
    "Filing: Harrowgate Petroleum faces $1.8 billion lawsuit over the use of trade secrets\nCorrigan Petroleum filed "
    "a lawsuit against Harrowgate Petroleum seeking $1.8 billion in damages over the use of trade secrets. Harrowgate "
    "Petroleum said the claims are without merit and it will defend itself vigorously.",
)
PROBE_QUERIES = (
    "chipmakers beating earnings forecasts",
    "drug trial failure",
    "credit rating downgrades",
    "new chief executive appointed",
    "central bank keeps rates on hold",
    "cheaper oil helps airlines",
    "Kestrel Bank Holdings regulatory problems and lawsuits",
    "positive developments at Hollowmere Assurance",
)


@dataclass(frozen=True)
class Probe:
    """The probe texts and their reference vectors (torch float32, unit length)."""

    documents: tuple[str, ...]
    queries: tuple[str, ...]
    document_vectors: np.ndarray
    query_vectors: np.ndarray

    @classmethod
    def made_by(cls, encode: Callable[[list[str]], np.ndarray]) -> Probe:
        return cls(PROBE_DOCUMENTS, PROBE_QUERIES, encode(list(PROBE_DOCUMENTS)), encode(list(PROBE_QUERIES)))

    def save(self, path: Path) -> None:
        with path.open("wb") as handle:
            np.savez(
                handle,
                documents=np.array(self.documents),
                queries=np.array(self.queries),
                document_vectors=self.document_vectors,
                query_vectors=self.query_vectors,
            )

    @classmethod
    def load(cls, path: Path) -> Probe:
        # The texts are kept with their vectors: a later change of the probe set in the code does
        # not pair new texts with an older export's vectors.
        with np.load(path, allow_pickle=False) as data:
            return cls(
                tuple(str(t) for t in data["documents"]),
                tuple(str(t) for t in data["queries"]),
                data["document_vectors"],
                data["query_vectors"],
            )


def top_k(documents: np.ndarray, query: np.ndarray, k: int = K) -> np.ndarray:
    """Positions of the k rows of DOCUMENTS nearest QUERY, nearest first."""
    scores = documents @ query
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.argsort(-scores[top], kind="stable")]


def top_k_overlap(
    ref_documents: np.ndarray, ref_queries: np.ndarray, documents: np.ndarray, queries: np.ndarray
) -> float:
    """The share of each query's k nearest documents that both rankings have, averaged."""
    k = min(K, len(documents))
    return float(
        np.mean(
            [
                len(set(top_k(ref_documents, r, k)) & set(top_k(documents, q, k))) / k
                for r, q in zip(ref_queries, queries, strict=True)
            ]
        )
    )


def failures(min_cosine: float, top10_overlap: float) -> list[str]:
    """Why vectors with these figures fail the guard (empty: they pass)."""
    found = []
    if min_cosine < MIN_COSINE:
        found.append(f"min cosine {min_cosine:.5f} < {MIN_COSINE}")
    if top10_overlap < MIN_TOP10_OVERLAP:
        found.append(f"top-10 overlap {top10_overlap:.3f} < {MIN_TOP10_OVERLAP}")
    return found


@dataclass(frozen=True)
class ProbeResult:
    """How one candidate encoder did on the probe set."""

    candidate: str  # backend/precision, as an index records it
    min_cosine: float
    top10_overlap: float
    seconds: float

    @property
    def failures(self) -> list[str]:
        return failures(self.min_cosine, self.top10_overlap)

    @property
    def accepted(self) -> bool:
        return not self.failures

    def describe(self) -> str:
        verdict = "accepted" if self.accepted else "rejected: " + "; ".join(self.failures)
        return (
            f"{self.candidate} {verdict} (probe min cosine {self.min_cosine:.5f}, "
            f"top-10 overlap {self.top10_overlap:.3f}, {self.seconds:.2f} s)"
        )


def run_probe(candidate: str, encode: Callable[[list[str]], np.ndarray], probe: Probe) -> ProbeResult:
    """ENCODE (a candidate encoder's batch encoding) on the probe set, against its reference.
    Queries go through as one batch: padding is masked, so a query's vector is its vector alone."""
    started = time.perf_counter()
    documents, queries = encode(list(probe.documents)), encode(list(probe.queries))
    seconds = time.perf_counter() - started
    cosines = np.concatenate(
        [(documents * probe.document_vectors).sum(axis=1), (queries * probe.query_vectors).sum(axis=1)]
    )
    overlap = top_k_overlap(probe.document_vectors, probe.query_vectors, documents, queries)
    return ProbeResult(candidate, float(cosines.min()), overlap, seconds)
