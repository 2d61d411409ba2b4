"""Synthetic financial news: a seeded generator, a judged relevance set and load-test queries.

The service needs news to ingest, search and benchmark against, and real articles cannot be
shipped with the repository. Everything produced here is invented: the companies, tickers,
executives, analysts, brokers, rating agencies, regulators, central banks and news outlets are
fictional, and every headline and sentence comes from templates written for this package. Any
resemblance to a real organisation or person is accidental.

The invented world lives in the YAML files of ``data/``: sectors and their companies
(sectors.yaml), outlets, people and institutions (world.yaml), what stories are about and the
templates they are written from (company_events.yaml, macro_events.yaml, prose.yaml), how every
figure a story quotes is drawn (figures.yaml), the judged queries (relevance_queries.yaml, the
calibration set the relevance gate's thresholds were measured on, and
relevance_holdout_queries.yaml, a held-out set they were not derived from) and the pieces of the
benchmark's queries (benchmark_queries.yaml). The Python reads them: ``world`` loads them,
``figures`` draws a story's figures, ``news`` plans stories and writes records, ``queries``
judges and builds query sets, ``writer`` writes JSONL, ``cli`` is the command.

Each generated record is a plain dict that validates as :class:`webapp.schemas.NewsRecord`.
Alongside it the generator yields the hidden :class:`~tools.corpus.news.Labels` it was written
from (sector, company, event, tone, macro topic). The labels are never written into the
records; they exist so that :data:`~tools.corpus.queries.RELEVANCE_QUERIES` and
:data:`~tools.corpus.queries.HOLDOUT_QUERIES` can be judged exactly: a query is a predicate over
labels, and its relevant documents are the ones whose labels satisfy it.

Output is a pure function of ``(count, seed)``: the same arguments give the same bytes on every
run (tests/test_corpus.py pins them). Regenerate the committed sample and its two judged query
sets with::

    .venv/bin/python -m tools.corpus generate --count 1200 --seed 20241101 \\
        --output data/news_sample.jsonl --relevance data/relevance.jsonl \\
        --holdout data/relevance_holdout.jsonl

(``flask --app webapp corpus generate`` takes the same options: the app registers
:data:`corpus_cli` when this package is there, which it is in a checkout and not in the
production image.) Both relevance sets are tuned to that sample: each query has 3-60 relevant
documents there. For other counts or seeds the same predicates are judged, but the counts are
whatever they turn out to be.
"""

from tools.corpus.cli import corpus_cli
from tools.corpus.news import generate_news
from tools.corpus.queries import benchmark_queries
from tools.corpus.writer import write_corpus, write_relevance

__all__ = ["benchmark_queries", "corpus_cli", "generate_news", "write_corpus", "write_relevance"]
