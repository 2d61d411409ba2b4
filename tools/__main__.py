"""``python -m tools``: the tools' commands, run against the service's app (FINNEWS_* settings).

python -m tools evaluate            nDCG@10 and recall@10 per endpoint on the judged queries
python -m tools benchmark           load test under gunicorn on a generated corpus (torch path and new path)
python -m tools store-benchmark     the embedded store at 1,000,000 synthetic documents: exact and IVF search
python -m tools corpus generate     the synthetic corpus and its judged queries
python -m tools import-earlier-benchmark   import rate from an earlier index, reusing its vectors and not
"""

from flask.cli import FlaskGroup

from tools.benchmark import benchmark_command
from tools.corpus import corpus_cli
from tools.earlier_import import import_earlier_benchmark_command
from tools.evaluate import evaluate_command
from tools.storebench import store_benchmark_command
from webapp import create_app

cli = FlaskGroup(name="tools", create_app=create_app, help=__doc__, add_default_commands=False)
cli.add_command(evaluate_command)
cli.add_command(benchmark_command)
cli.add_command(store_benchmark_command)
cli.add_command(corpus_cli)
cli.add_command(import_earlier_benchmark_command)

if __name__ == "__main__":
    cli()
