"""``python -m tools.corpus generate ...``: the same command as ``flask corpus generate``."""

from tools.corpus.cli import corpus_cli

corpus_cli.main(prog_name="python -m tools.corpus")
