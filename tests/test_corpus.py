"""The synthetic news generator (tools/corpus), its judged relevance set and the committed sample data."""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import json
import random
import re
import string
import subprocess
import sys
from pathlib import Path

import flask
import pytest
from click.testing import CliRunner

from tools.corpus import benchmark_queries, corpus_cli, generate_news, write_corpus, write_relevance
from tools.corpus.figures import COMPUTED, company_figures, macro_figures
from tools.corpus.news import END, START, TONES, Labels
from tools.corpus.queries import HOLDOUT_QUERIES, RELEVANCE_QUERIES
from tools.corpus.world import (
    COMPANIES,
    COMPANY_EVENTS,
    DOC_TYPES,
    FIGURES,
    MACRO_EVENTS,
    SECTOR_BY_KEY,
    SECTORS,
    SOURCES,
)
from tools.corpus.writer import HOLDOUT_PATH, RELEVANCE_PATH, SAMPLE_COUNT, SAMPLE_PATH, SAMPLE_SEED
from webapp import create_app
from webapp.schemas import NewsRecord

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / SAMPLE_PATH
RELEVANCE = ROOT / RELEVANCE_PATH
HOLDOUT = ROOT / HOLDOUT_PATH
SENTENCE_BREAK = re.compile(r'(?<=[.!?])"?\s+(?=[A-Z"])')


@pytest.fixture(scope="module")
def sample_records() -> list[dict]:
    with SAMPLE.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


@pytest.fixture(scope="module")
def sample_labelled() -> list[tuple[dict, Labels]]:
    return list(generate_news(SAMPLE_COUNT, SAMPLE_SEED))


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


@pytest.fixture(scope="module")
def judged() -> list[dict]:
    return _read_jsonl(RELEVANCE)


@pytest.fixture(scope="module")
def holdout_judged() -> list[dict]:
    return _read_jsonl(HOLDOUT)


def test_committed_files_are_exactly_what_the_generator_writes(tmp_path: Path) -> None:
    stats = write_corpus(
        tmp_path / "news.jsonl",
        SAMPLE_COUNT,
        SAMPLE_SEED,
        relevance_path=tmp_path / "rel.jsonl",
        holdout_path=tmp_path / "holdout.jsonl",
    )
    assert stats.documents == SAMPLE_COUNT
    assert [(j.query_set, j.queries) for j in stats.judged] == [
        ("calibration", len(RELEVANCE_QUERIES)),
        ("holdout", len(HOLDOUT_QUERIES)),
    ]
    assert (tmp_path / "news.jsonl").read_bytes() == SAMPLE.read_bytes()
    assert (tmp_path / "rel.jsonl").read_bytes() == RELEVANCE.read_bytes()
    assert (tmp_path / "holdout.jsonl").read_bytes() == HOLDOUT.read_bytes()
    # write_relevance alone judges the same corpus the same way.
    write_relevance(tmp_path / "rel2.jsonl")
    assert (tmp_path / "rel2.jsonl").read_bytes() == RELEVANCE.read_bytes()
    write_relevance(tmp_path / "holdout2.jsonl", query_set="holdout")
    assert (tmp_path / "holdout2.jsonl").read_bytes() == HOLDOUT.read_bytes()


def test_the_documented_command_regenerates_the_committed_files(tmp_path: Path) -> None:
    # The command of tools/corpus/__init__.py's docstring and docs/search.md, run as written
    # (into tmp_path instead of data/).
    news, relevance = tmp_path / "news_sample.jsonl", tmp_path / "relevance.jsonl"
    holdout = tmp_path / "relevance_holdout.jsonl"
    command = [sys.executable, "-m", "tools.corpus", "generate", "--count", "1200", "--seed", "20241101"]
    result = subprocess.run(
        [*command, "--output", str(news), "--relevance", str(relevance), "--holdout", str(holdout)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Wrote 1,200 documents" in result.stdout
    assert news.read_bytes() == SAMPLE.read_bytes()
    assert relevance.read_bytes() == RELEVANCE.read_bytes()
    assert holdout.read_bytes() == HOLDOUT.read_bytes()


# sha256 of what webapp/corpus.py wrote at commit 2e2e899, the last one before the generator moved
# to tools/corpus and its tables to YAML (recorded with that code before anything changed). They
# prove the move changed no byte of any corpus, not only of the committed sample; a deliberate
# change to the generator changes them, and the committed sample with them.
CORPUS_SHA256 = {
    (3000, 7): (
        "3f364965eb4d28d9675685ab778fe3f28f91c6e41477ec0683cc257f57f80446",
        "435ad94089d00c3324ca2b3c3504d02dc1229b8807ac6c68241e62afad140c67",  # its judged queries
    ),
    (500, 11): (
        "c2282f9fc37ee0b2c1d6fbae3fb56e02bb55ed1016118cb9c5d1e4df66212657",
        "4cd0c39eebcd503632a536baf20219a6200b87dff2219b3678999fd16e3ff4e8",
    ),
}
BENCHMARK_QUERIES_SHA256 = {  # of json.dumps(benchmark_queries(count, seed)), recorded the same way
    (2000, 8): "e72c90b430e6143b97a8ceae3d623e5bbc06b1a51806dce89c299b53fce64388",
    (20000, 3): "2479a6b116ae4137839ee0290505f80eb689315b123e636c550247f155af094c",
}


@pytest.mark.parametrize(("count", "seed"), sorted(CORPUS_SHA256))
def test_corpora_are_byte_for_byte_what_they_were(tmp_path: Path, count: int, seed: int) -> None:
    news, relevance = tmp_path / "news.jsonl", tmp_path / "relevance.jsonl"
    write_corpus(news, count, seed, relevance_path=relevance)
    digests = (hashlib.sha256(news.read_bytes()).hexdigest(), hashlib.sha256(relevance.read_bytes()).hexdigest())
    assert digests == CORPUS_SHA256[count, seed]


@pytest.mark.parametrize(("count", "seed"), sorted(BENCHMARK_QUERIES_SHA256))
def test_benchmark_queries_are_what_they_were(count: int, seed: int) -> None:
    digest = hashlib.sha256(json.dumps(benchmark_queries(count, seed)).encode()).hexdigest()
    assert digest == BENCHMARK_QUERIES_SHA256[count, seed]


def test_every_sample_record_validates(sample_records: list[dict]) -> None:
    assert len(sample_records) == SAMPLE_COUNT
    fields = set(NewsRecord.model_fields)
    slugs = {name: slug for name, slug, _ in SOURCES}
    for record in sample_records:
        assert set(record) == fields  # labels never leak into records
        parsed = NewsRecord.model_validate(record)
        assert parsed.summary and parsed.body and parsed.url
        assert len(parsed.body) > len(parsed.summary) * 0.8
        assert str(parsed.url) == f"https://news.example/{slugs[record['source']]}/{record['id']}"
        assert re.fullmatch(r"nw-\d{6}", record["id"])
        assert record["doc_type"] in DOC_TYPES
        assert 0.0 <= record["quality_score"] <= 1.0 and round(record["quality_score"], 2) == record["quality_score"]
        assert record["themes"]  # organizations may be empty: a macro piece need not name anyone
        assert "{" not in record["title"] + record["summary"] + record["body"]  # no unfilled template slot
        assert 1 <= len(SENTENCE_BREAK.split(record["summary"])) <= 2
        assert 3 <= len(SENTENCE_BREAK.split(record["body"])) <= 6
    assert len({r["id"] for r in sample_records}) == len(sample_records)


def test_same_seed_same_output_different_seed_different_output() -> None:
    first = [json.dumps(r) for r, _ in generate_news(300, 11)]
    again = [json.dumps(r) for r, _ in generate_news(300, 11)]
    other = [json.dumps(r) for r, _ in generate_news(300, 12)]
    assert first == again
    assert first != other
    assert sum(a != b for a, b in zip(first, other, strict=True)) > 250


def test_dates_cover_two_years(sample_records: list[dict]) -> None:
    dates = [dt.datetime.fromisoformat(r["published_dt"].replace("Z", "+00:00")) for r in sample_records]
    assert all(START <= d < END for d in dates)
    assert min(dates) < dt.datetime(2024, 11, 15, tzinfo=dt.UTC)
    assert max(dates) > dt.datetime(2026, 10, 15, tzinfo=dt.UTC)
    months = {(d.year, d.month) for d in dates}
    assert len(months) == 24
    # ids run in date order, so a prefix of the file is a time window.
    assert dates == sorted(dates)


def test_tone_balance_and_tone_carrying_words(sample_labelled: list[tuple[dict, Labels]]) -> None:
    tones = collections.Counter(labels.tone for _, labels in sample_labelled)
    shares = {tone: tones[tone] / len(sample_labelled) for tone in TONES}
    assert all(0.25 <= share <= 0.42 for share in shares.values()), shares
    # The tone has to be in the words, for a finance sentiment lexicon to find it.
    positive = {"gain", "gained", "strong", "improved", "exceeding", "record", "boost", "boosts", "rose", "success"}
    negative = {"loss", "losses", "decline", "declined", "weak", "lawsuit", "default", "impairment", "layoffs", "fell"}
    totals = collections.defaultdict(lambda: [0, 0, 0])
    for record, labels in sample_labelled:
        words = re.findall(r"[a-z]+", f"{record['title']} {record['summary']} {record['body']}".lower())
        total = totals[labels.tone]
        total[0] += 1
        total[1] += sum(w in positive for w in words)
        total[2] += sum(w in negative for w in words)
    per_doc = {tone: (p / n, q / n) for tone, (n, p, q) in totals.items()}
    assert per_doc["positive"][0] > 3 * per_doc["positive"][1]
    assert per_doc["negative"][1] > 3 * per_doc["negative"][0]
    assert per_doc["neutral"][0] < per_doc["positive"][0] / 3
    assert per_doc["neutral"][1] < per_doc["negative"][1] / 3


def test_variety(sample_records: list[dict], sample_labelled: list[tuple[dict, Labels]]) -> None:
    assert len(SECTORS) >= 14 and 80 <= len(COMPANIES) <= 120
    assert len({c.name for c in COMPANIES}) == len(COMPANIES)
    assert len({c.ticker for c in COMPANIES}) == len(COMPANIES)
    assert 8 <= len(SOURCES) <= 10
    assert len({labels.sector for _, labels in sample_labelled}) == len(SECTORS)
    assert len({labels.company for _, labels in sample_labelled if labels.company}) >= 85
    assert len({labels.event for _, labels in sample_labelled}) >= 50
    kinds = collections.Counter(labels.kind for _, labels in sample_labelled)
    assert 0.12 < kinds["macro"] / len(sample_labelled) < 0.3
    assert set(collections.Counter(r["doc_type"] for r in sample_records)) == set(DOC_TYPES)
    assert {r["source"] for r in sample_records} == {name for name, _, _ in SOURCES}
    titles = [r["title"] for r in sample_records]
    assert len(set(titles)) / len(titles) > 0.95


def test_labels_agree_with_the_text(sample_labelled: list[tuple[dict, Labels]]) -> None:
    for record, labels in sample_labelled:
        text = f"{record['title']} {record['summary']} {record['body']}"
        if labels.kind == "company":
            assert labels.company in record["title"]
            assert labels.company == record["organizations"][0] == labels.mentions[0]
            assert SECTOR_BY_KEY[labels.sector].theme in record["themes"]
        else:
            assert labels.macro and labels.company is None
        assert all(name in text for name in labels.mentions)
        assert all(name in text for name in record["organizations"])


def test_every_template_fills_from_its_context() -> None:
    # Rare event/sector pairs may never come up in the sample; a missing slot would only show
    # as a KeyError in somebody's 100,000-record run.
    rng = random.Random(0)
    when = dt.datetime(2025, 5, 3, tzinfo=dt.UTC)

    def slots(template: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name}

    for event in COMPANY_EVENTS:
        assert len(event.titles) >= 4 and len(event.leads) >= 3 and len(event.details) >= 3, event.key
        assert all("{co}" in title for title in event.titles), event.key
        for sector in SECTORS:
            if event.sectors is not None and sector.key not in event.sectors:
                continue
            company = next(c for c in COMPANIES if c.sector == sector.key)
            ctx = company_figures(rng, company, sector, when, event.tone)
            for template in event.titles + event.leads + event.details:
                assert slots(template) <= set(ctx), (event.key, template)
                template.format_map(ctx)
    for event in MACRO_EVENTS:
        assert len(event.titles) >= 4 and len(event.leads) >= 3 and len(event.details) >= 3, event.key
        for key in set(event.sectors or ()):
            ctx, _ = macro_figures(rng, event, SECTOR_BY_KEY[key], when)
            for template in event.titles + event.leads + event.details:
                template.format_map(ctx)


def test_every_computed_figure_is_drawn_by_a_table() -> None:
    # A figure computed in Python but named by no table of data/figures.yaml would be dead code.
    tables = [FIGURES[name] for name in ("common", "company", "macro")]
    computed = {slot for table in tables for entry in table for slot, how in entry.items() if how == "computed"}
    assert computed == set(COMPUTED)


def _check_judged_set(judged: list[dict], queries: tuple, id_prefix: str, sample_records: list[dict]) -> None:
    ids = {r["id"] for r in sample_records}
    assert [row["query_id"] for row in judged] == [f"{id_prefix}{n:02d}" for n in range(1, len(queries) + 1)]
    assert [(row["query"], row["criteria"]) for row in judged] == [
        (text, json.loads(json.dumps(c))) for text, c in queries
    ]
    assert len({row["query"].lower() for row in judged}) == len(judged)
    for row in judged:
        relevant = row["relevant_ids"]
        assert 3 <= len(relevant) <= 60, (row["query"], len(relevant))
        assert set(relevant) <= ids
        assert relevant == sorted(set(relevant))
        assert row["criteria"]
    # The queries are phrased as searches, not copied from the headline templates.
    templates = {t.split("{")[0].strip().lower() for e in COMPANY_EVENTS + MACRO_EVENTS for t in e.titles}
    assert not any(row["query"].lower() in templates for row in judged)


def test_relevance_set(judged: list[dict], sample_records: list[dict]) -> None:
    assert len(judged) >= 45
    _check_judged_set(judged, RELEVANCE_QUERIES, "q", sample_records)


def test_holdout_relevance_set(holdout_judged: list[dict], sample_records: list[dict]) -> None:
    assert len(holdout_judged) >= 35
    _check_judged_set(holdout_judged, HOLDOUT_QUERIES, "h", sample_records)


def _words(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"[a-z0-9]+", text.lower()))


def test_holdout_set_is_new_queries_not_the_calibration_set_again(
    judged: list[dict], holdout_judged: list[dict]
) -> None:
    # The relevance gate's thresholds were measured on the calibration set; the held-out set is
    # only worth having if it asks other things: no query repeated or reworded (the same words,
    # or mostly the same words), and few predicates shared. Its ids never collide either, so the
    # two files' per-query results can be told apart.
    assert not {row["query_id"] for row in judged} & {row["query_id"] for row in holdout_judged}
    calibration = [text for text, _ in RELEVANCE_QUERIES]
    assert not {t.lower() for t, _ in HOLDOUT_QUERIES} & {t.lower() for t in calibration}
    for text, _ in HOLDOUT_QUERIES:
        for other in calibration:
            a, b = _words(text), _words(other)
            assert len(a & b) / len(a | b) < 0.5, (text, other)

    def predicate(criteria: dict) -> frozenset:
        return frozenset((k, tuple(sorted(v)) if isinstance(v, (list, tuple)) else (v,)) for k, v in criteria.items())

    calibration_predicates = {predicate(c) for _, c in RELEVANCE_QUERIES}
    shared = [text for text, c in HOLDOUT_QUERIES if predicate(c) in calibration_predicates]
    assert len(shared) <= len(HOLDOUT_QUERIES) // 10, shared


@pytest.mark.parametrize(
    ("queries", "minimum"),
    [
        (RELEVANCE_QUERIES, {"company": 8, "tone": 8, "macro": 10, "sector and event": 8, "event only": 8}),
        (HOLDOUT_QUERIES, {"company": 5, "tone": 5, "macro": 5, "sector and event": 5, "event only": 5}),
    ],
    ids=["calibration", "holdout"],
)
def test_relevance_mixes_query_kinds(queries: tuple, minimum: dict[str, int]) -> None:
    criteria = [c for _, c in queries]
    macro_events = {e.key for e in MACRO_EVENTS}
    kinds = {
        "company": sum(1 for c in criteria if "company" in c or "mentions" in c),
        "tone": sum(1 for c in criteria if "tone" in c),
        "macro": sum(1 for c in criteria if "macro" in c or set(c.get("event", [])) & macro_events),
        "sector and event": sum(1 for c in criteria if "sector" in c and "event" in c),
        "event only": sum(1 for c in criteria if set(c) == {"event"} and not set(c["event"]) & macro_events),
    }
    assert all(kinds[kind] >= least for kind, least in minimum.items()), kinds


def test_benchmark_queries_are_unique_and_repeatable() -> None:
    queries = benchmark_queries(20_000, seed=3)
    assert len(queries) == len(set(queries)) == 20_000
    assert all(q == q.strip() and "  " not in q and "{" not in q for q in queries)
    assert benchmark_queries(500, seed=3) == benchmark_queries(500, seed=3)
    assert benchmark_queries(500, seed=3) != benchmark_queries(500, seed=4)


def test_generation_streams_to_a_file(tmp_path: Path) -> None:
    stats = write_corpus(tmp_path / "big.jsonl", 5_000, 99)
    assert stats.documents == 5_000 and stats.seconds > 0  # about 0.5 s; 100,000 records take about 10 s
    with (tmp_path / "big.jsonl").open(encoding="utf-8") as handle:
        assert sum(1 for _ in handle) == 5_000


def test_cli_generate_writes_the_files(tmp_path: Path) -> None:
    app = flask.Flask(__name__)
    app.cli.add_command(corpus_cli)
    runner = app.test_cli_runner()
    output, relevance, holdout = tmp_path / "out" / "news.jsonl", tmp_path / "rel.jsonl", tmp_path / "holdout.jsonl"
    args = ["corpus", "generate", "--count", "120", "--seed", "5", "--output", str(output)]
    result = runner.invoke(args=[*args, "--relevance", str(relevance), "--holdout", str(holdout)])
    assert result.exit_code == 0, result.output
    assert "Wrote 120 documents" in result.output
    lines = output.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 120
    NewsRecord.model_validate_json(lines[0])
    assert len(relevance.read_text(encoding="utf-8").splitlines()) == len(RELEVANCE_QUERIES)
    assert len(holdout.read_text(encoding="utf-8").splitlines()) == len(HOLDOUT_QUERIES)
    assert "judged queries (holdout)" in result.output
    assert not list(tmp_path.rglob("*.partial"))

    help_text = CliRunner().invoke(corpus_cli, ["generate", "--help"]).output
    for option in ("--count", "--seed", "--output", "--relevance", "--holdout"):
        assert option in help_text


def test_the_tools_commands_run_from_the_checkout_and_the_app_has_none_of_them(tmp_path: Path) -> None:
    # The production image ships webapp/ alone: the service's app must not need tools/.
    config = {"STORE_PATH": str(tmp_path / "index"), "MODEL_CACHE_DIR": str(tmp_path / "models")}
    assert not {"corpus", "evaluate", "benchmark"} & set(create_app(config).cli.commands)
    listed = subprocess.run(
        [sys.executable, "-m", "tools", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    for command in ("corpus", "evaluate", "benchmark"):
        assert f"  {command}" in listed.stdout, listed.stdout
