"""The release validation notebooks and their runner (python -m notebooks.validate).

The two runs at the end execute every notebook with papermill against the service under
gunicorn on the sample corpus: once with the default request counts and thresholds (latency
and throughput bounds widened for a shared host, see SHARED_HOST_LIMITS): it must pass; once
with one threshold set out of reach: it must fail, naming that check and no other.
"""

from __future__ import annotations

import http.server
import io
import json
import math
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import jsonschema
import nbformat
import pytest
from jupyter_client import KernelManager

from notebooks import validate
from notebooks.checks import MIME_TYPE, Checks, recorded_checks
from notebooks.client import TOKEN_ENV, session
from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.slow

SCHEMA = json.loads((ROOT / "notebooks" / "summary.schema.json").read_text())
# Stands for a real token: it must reach the service and no file the run writes.
TOKEN = "tok-3f9c2a7e-validation-secret"
# The release plan's latency and throughput criteria are about the release's hardware. Here the
# service, the notebooks' load generator and pytest share two cores, and on a developer's machine
# other jobs too: at a load average of 9, p99 reached 0.82 s and throughput 5.5 requests/s, so
# the release values would fail the code for its host. These bounds still fail a service an
# order of magnitude slower than designed; every other threshold stays at its release default.
SHARED_HOST_LIMITS = (
    'max_mean_latency_s={"embedding384d": 1.0, "embedding768d": 1.0, "embedding1155d": 1.0}',
    "max_p99_latency_s=2.0",
    "min_throughput_rps=1.0",
)


# -- the notebooks as committed -------------------------------------------------------------
@pytest.mark.parametrize("name", validate.NOTEBOOKS)
def test_notebook_is_committed_clean_and_parameterised(name):
    notebook = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code), "commit notebooks without outputs"
    tagged = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged parameters"
    assert notebook.metadata.kernelspec.name == validate.KERNEL


def test_parameters_are_typed_and_agree_across_notebooks():
    declared = validate.notebook_parameters()
    assert set(validate.RUNNER_PARAMETERS) <= set(declared)
    assert all(declared[name].notebooks == validate.NOTEBOOKS for name in validate.RUNNER_PARAMETERS)
    untyped = [p.name for p in declared.values() if p.annotation in ("", "None")]
    assert not untyped, f"annotate every parameter (--set checks values against it): {untyped}"
    for name in validate.NOTEBOOKS:
        defaults = validate.papermill.inspect_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"))
        for parameter, spec in defaults.items():
            assert spec["inferred_type_name"] == declared[parameter].annotation, (name, parameter)


# -- checks ---------------------------------------------------------------------------------
def test_checks_compute_pass_or_fail_from_the_measurement():
    checks = Checks("example")
    assert checks.check("latency", 0.2, "<", 0.25, unit="s")
    assert not checks.check("latency at the threshold", 0.25, "<", 0.25, unit="s")
    assert checks.check("throughput", 4.5, ">", 4)
    assert checks.check("nDCG", 0.62, ">=", 0.62)
    assert not checks.check("status", "starting", "==", "ok")
    assert not checks.check("unmeasured", math.nan, "<", 1.0)
    assert [c.name for c in checks.failed] == ["latency at the threshold", "status", "unmeasured"]
    assert checks.checks[-1].value is None  # JSON has no NaN
    with pytest.raises(AssertionError, match="3 of 6 checks failed") as failure:
        checks.raise_if_failed()
    assert "example: status = starting (needs == ok)" in str(failure.value)
    with pytest.raises(ValueError, match="unknown comparison"):
        checks.check("bad", 1, "!=", 2)


def test_recorded_checks_are_read_back_from_an_executed_notebook():
    checks = Checks("example")
    checks.check("documents", 1200, ">=", 1000, detail="embedded")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("checks.record()")])
    notebook.cells[0].outputs = [
        nbformat.v4.new_output(
            "display_data", data={"text/plain": "table", MIME_TYPE: [vars(c) for c in checks.checks]}
        )
    ]
    assert recorded_checks(notebook) == checks.checks
    assert recorded_checks(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])) is None


# -- the runner's options and preconditions -------------------------------------------------
def test_set_values_are_parsed_by_the_parameters_annotation():
    declared = validate.notebook_parameters()
    overrides = validate.parse_overrides(
        ["max_p99_latency_s=0.4", "requests_per_endpoint=200", 'queries=["bank earnings"]', "doc_type=news"], declared
    )
    assert overrides == {
        "max_p99_latency_s": 0.4,
        "requests_per_endpoint": 200,
        "queries": ["bank earnings"],
        "doc_type": "news",
    }
    for bad, message in (
        ("requests_per_endpoint=many", "not a valid int"),
        ("min_ndcg", "use NAME=VALUE"),
        ('min_ndcg={"embedding384d": "high"}', "not a valid dict[str, float]"),
        ("no_such_parameter=1", "no notebook has this parameter"),
        ("base_url=http://elsewhere", "use --base-url"),
    ):
        with pytest.raises(validate.UsageError, match=re.escape(message)):
            validate.parse_overrides([bad], declared)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--base-url", "http://127.0.0.1:1", "--release", "../etc"], "--release"),
        (["--base-url", "localhost:8000", "--release", "r1"], "http:// or https://"),
        (["--base-url", "http://127.0.0.1:1", "--release", "r1", "--set", "nope=1"], "no notebook has this parameter"),
    ],
)
def test_usage_errors_exit_2(arguments, message, tmp_path, capsys):
    assert validate.main([*arguments, "--reports-dir", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir()), "nothing is written on a usage error"


def test_unreachable_service_exits_2(tmp_path, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    assert validate.main(["--base-url", url, "--release", "r1", "--reports-dir", str(tmp_path)]) == 2
    assert f"cannot reach the service at {url}" in capsys.readouterr().err


@pytest.mark.parametrize("given_by", ["environment", "stdin"])
def test_a_refused_token_is_a_usage_error(tmp_path, capsys, monkeypatch, given_by):
    seen = []

    class Refusing(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers.get("Authorization"))
            self.send_response(401)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    options = []
    if given_by == "environment":
        monkeypatch.setenv(TOKEN_ENV, TOKEN)
    else:
        # As the runbook's validate phase gives it; it wins over the environment.
        monkeypatch.setenv(TOKEN_ENV, "another-token")
        monkeypatch.setattr(sys, "stdin", io.StringIO(f"{TOKEN}\n"))
        options = ["--token-stdin"]
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        assert validate.main(["--base-url", url, "--release", "r1", "--reports-dir", str(tmp_path), *options]) == 2
    finally:
        server.shutdown()
    assert seen == [f"Bearer {TOKEN}"]
    err = capsys.readouterr().err
    assert TOKEN_ENV in err and TOKEN not in err


def test_session_takes_the_token_from_the_environment(monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert "Authorization" not in session().headers
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    assert session().headers["Authorization"] == f"Bearer {TOKEN}"


def test_kernel_is_this_environments_python():
    validate.check_kernel()
    assert KernelManager(kernel_name=validate.KERNEL).format_kernel_cmd()[0] == sys.executable


def test_a_leaked_token_is_redacted(tmp_path):
    executed = tmp_path / "health.ipynb"
    executed.write_text(f'{{"outputs": "Authorization: Bearer {TOKEN}"}}')
    assert validate.redact(executed, TOKEN)
    assert TOKEN not in executed.read_text() and validate.REDACTED in executed.read_text()
    assert not validate.redact(executed, TOKEN)


# -- whole runs against the service ---------------------------------------------------------
def run_validation(url: str, release: str, reports: Path, *settings: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "notebooks.validate", "--base-url", url, "--release", release]
    command += ["--reports-dir", str(reports)]
    for setting in settings:
        command += ["--set", setting]
    environment = {**os.environ, TOKEN_ENV: TOKEN}
    return subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("reports")


@pytest.fixture(scope="module")
def passing_run(gunicorn_server, reports):
    """Every notebook with its default request counts and thresholds, but SHARED_HOST_LIMITS."""
    # The fixture's service reports version test-1.2.3: the release id it is validated as.
    return run_validation(gunicorn_server.url, "test-1.2.3", reports, *SHARED_HOST_LIMITS)


@pytest.fixture(scope="module")
def failing_run(gunicorn_server, reports, passing_run):
    """An nDCG threshold no endpoint reaches; fewer requests to keep it short."""
    return run_validation(
        gunicorn_server.url,
        "test-1.2.4",
        reports,
        "expected_version=test-1.2.3",
        'min_ndcg={"embedding384d": 0.99, "embedding768d": 0.68, "embedding1155d": 0.69}',
        "requests_per_endpoint=10",
        "throughput_duration_s=3",
        "concurrent_clients=4",
        "cache_probe_queries=5",
        *SHARED_HOST_LIMITS,
    )


def test_release_passes_on_the_sample_corpus(passing_run, reports):
    assert passing_run.returncode == 0, passing_run.stdout + passing_run.stderr[-5000:]
    assert "release test-1.2.3: PASSED" in passing_run.stdout
    summary = json.loads((reports / "test-1.2.3" / "summary.json").read_text())
    jsonschema.validate(summary, SCHEMA)
    assert summary["passed"] and not summary["failed"]
    assert summary["overrides"] == validate.parse_overrides(list(SHARED_HOST_LIMITS), validate.notebook_parameters())
    assert [n["name"] for n in summary["notebooks"]] == list(validate.NOTEBOOKS)
    by_notebook = {name: [c for c in summary["checks"] if c["notebook"] == name] for name in validate.NOTEBOOKS}
    assert all(by_notebook.values()), "every notebook recorded checks"
    names = {c["name"] for c in summary["checks"]}
    for field in ("embedding384d", "embedding768d", "embedding1155d"):
        assert {f"{field}: mean latency", f"{field}: p99 latency", f"{field}: throughput", f"{field}: nDCG@10"} <= names
    assert "no token in the executed notebooks" in names


def test_reports_open_without_jupyter_with_their_plots(passing_run, reports, gunicorn_server):
    folder = reports / "test-1.2.3"
    plots = {
        name: (folder / f"{name}.html").read_text().count('src="data:image/png;base64,') for name in validate.NOTEBOOKS
    }
    assert plots["performance"] == 3  # latency distribution, throughput over time, cold versus warm
    assert plots["relevance"] == 1
    # Each notebook gets the --set values it declares, and nothing else.
    runner = {"base_url": gunicorn_server.url, "release": "test-1.2.3"}
    limits = validate.parse_overrides(list(SHARED_HOST_LIMITS), validate.notebook_parameters())
    parameters = {
        name: nbformat.read(folder / f"{name}.ipynb", as_version=4).metadata.papermill.parameters
        for name in validate.NOTEBOOKS
    }
    assert parameters["performance"] == {**runner, **limits}
    assert parameters["relevance"] == runner


def test_no_output_file_contains_the_token(passing_run, failing_run, reports):
    files = [path for path in reports.rglob("*") if path.is_file()]
    assert len(files) >= 2 * (2 * len(validate.NOTEBOOKS) + 1) + 1
    assert [path for path in files if TOKEN.encode() in path.read_bytes()] == []
    assert TOKEN not in passing_run.stdout + passing_run.stderr + failing_run.stdout + failing_run.stderr


def test_a_failing_threshold_fails_the_run(failing_run, reports):
    assert failing_run.returncode == 1, failing_run.stdout + failing_run.stderr[-5000:]
    summary = json.loads((reports / "test-1.2.4" / "summary.json").read_text())
    jsonschema.validate(summary, SCHEMA)
    failed = [c for c in summary["checks"] if not c["passed"]]
    assert [(c["notebook"], c["name"], c["threshold"]) for c in failed] == [
        ("relevance", "embedding384d: nDCG@10", 0.99)
    ]
    assert "release test-1.2.4: FAILED, 1 of" in failing_run.stdout
    assert "relevance: embedding384d: nDCG@10 = " in failing_run.stdout
    assert summary["overrides"]["min_ndcg"]["embedding384d"] == 0.99
    relevance = next(n for n in summary["notebooks"] if n["name"] == "relevance")
    assert not relevance["passed"] and relevance["error"].startswith("AssertionError")
    # The notebook failed after recording its summary: the report shows both.
    report = (reports / "test-1.2.4" / "relevance.html").read_text()
    assert "AssertionError" in report and "FAIL" in report


def test_index_lists_releases_newest_first(passing_run, failing_run, reports):
    index = (reports / "index.html").read_text()
    assert index.index("test-1.2.4") < index.index("test-1.2.3")
    assert 'href="test-1.2.3/performance.html"' in index and 'href="test-1.2.4/summary.json"' in index
    assert index.count("PASSED") == 1 and index.count("FAILED") == 1
