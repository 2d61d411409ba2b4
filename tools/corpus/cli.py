"""``corpus generate``: the command line of the generator, as a Flask command group."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup
from tqdm import tqdm

from tools.corpus.writer import SAMPLE_COUNT, SAMPLE_PATH, SAMPLE_SEED, write_corpus

corpus_cli = AppGroup(
    "corpus",
    help="Generate synthetic financial news (fictional companies, invented text) for tests and benchmarks.",
)


@corpus_cli.command("generate", with_appcontext=False)
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=SAMPLE_COUNT,
    show_default=True,
    help="Number of news records to write.",
)
@click.option(
    "--seed",
    type=int,
    default=SAMPLE_SEED,
    show_default=True,
    help="Random seed; the same count and seed always produce the same bytes.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=SAMPLE_PATH,
    show_default=True,
    help="JSONL file to write (replaced if it exists).",
)
@click.option(
    "--relevance",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the judged relevance queries (the calibration set, which the relevance gate's "
    "thresholds were measured on) for this corpus to this JSONL file.",
)
@click.option(
    "--holdout",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the held-out judged relevance queries (never used to set the thresholds) for "
    "this corpus to this JSONL file.",
)
def generate_command(count: int, seed: int, output: Path, relevance: Path | None, holdout: Path | None) -> None:
    """Write COUNT synthetic news records as JSONL (one NewsRecord per line).

    The defaults regenerate the committed sample; add --relevance data/relevance.jsonl
    --holdout data/relevance_holdout.jsonl to regenerate its two judged query sets as well.
    """
    with tqdm(total=count, unit="doc", desc="generating", disable=None) as bar:
        last = 0

        def advance(done: int) -> None:
            nonlocal last
            if done - last >= 500 or done == count:
                bar.update(done - last)
                last = done

        stats = write_corpus(output, count, seed, relevance_path=relevance, holdout_path=holdout, progress=advance)
    rate = stats.documents / stats.seconds if stats.seconds else float("inf")
    click.echo(f"Wrote {stats.documents:,} documents to {stats.path} in {stats.seconds:.2f} s ({rate:,.0f} docs/s).")
    for judged in stats.judged:
        sizes = judged.relevant_per_query
        click.echo(
            f"Wrote {judged.queries} judged queries ({judged.query_set}) to {judged.path} "
            f"(relevant documents per query: min {sizes['min']}, median {sizes['median']}, max {sizes['max']})."
        )
