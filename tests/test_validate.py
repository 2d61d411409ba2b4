"""The release validation notebooks and their runner (python -m notebooks.validate).

The first part checks the pieces: checks and their sources, what the readings and the edge
checks conclude (against real local HTTP and TLS servers, and moto for AWS), the runner's options,
the history and the baseline. The whole runs at the end execute every notebook with papermill
against the service under gunicorn with API tokens, the load balancer's target group in moto and
the service's own log file:

* on the embedded store with the sample corpus: a first release passes (its regression rows say
  "not applicable": nothing earlier), a second one with one threshold out of reach fails naming that
  check alone, compared with the first;
* on the Elasticsearch backend (the fake) with a corpus generated from another seed than the
  sample, with its own judged queries and production's validation profile: it passes.

Request counts are small, and latency, throughput and regression bounds are this machine's
(runbook_runs.SHARED_HOST_LIMITS): the release's timing thresholds are about the release's
hardware, not a test's.
"""

from __future__ import annotations

import ast
import contextlib
import datetime as dt
import html
import http.server
import io
import json
import math
import os
import re
import shutil
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import boto3
import jsonschema
import nbformat
import papermill
import pytest
import trustme
import yaml
from jupyter_client import KernelManager
from moto import mock_aws

from notebooks import edge, history, readings, validate
from notebooks.checks import MIME_TYPE, NOT_APPLICABLE, Checks, parameter_sources, recorded
from notebooks.client import SECRETS_ENV, TOKEN_ENV, secret_values, session
from notebooks.execution import KERNEL, RUN_GROUPS, NotebookRun, check_kernel, not_run_reason, read_back
from notebooks.parameters import (
    COMMON_PARAMETERS,
    NOTEBOOKS,
    RUNNER_PARAMETERS,
    SHARED,
    SHARED_BY_NAME,
    UsageError,
    notebook_parameters,
    overrides_of,
    parse_json_parameters,
    parse_overrides,
)
from notebooks.publishing import banner, new_attempt
from notebooks.redaction import REDACTED, redact
from tests import runbook_runs
from tests.helpers import ROOT, cache_entry, copy_into_elasticsearch, sample_index_key
from tests.runbook_runs import AWS_ENV, aws_client
from tools.benchmark import free_port, start_server
from tools.corpus import write_corpus
from tools.evaluate import JudgementsError, load_judgements
from webapp.fields import FIELD_NAMES
from webapp.ingest import ingest
from webapp.store.embedded import EmbeddedStore

pytestmark = [pytest.mark.slow, pytest.mark.validation]

SCHEMA = json.loads((ROOT / "notebooks" / "summary.schema.json").read_text())
# Stands for a real token (as long as the release requires): it must reach the service and no
# file the run writes.
TOKEN = "tok-3f9c2a7e-validation-secret-5d81c0b4e6a2"
# Stands for another secret of the deployment (the store's password): never in a log or a report.
OTHER_SECRET = "es-password-7c1e9a44b2d0f6"
# The environments the runs stand for: the local rehearsal (the sample corpus on this machine)
# and production, their validation profiles as the inventories write them.
LOCAL_PROFILE, PRODUCTION_PROFILE = (
    yaml.safe_load((ROOT / "inventories" / name / "group_vars/all/main.yml").read_text())["release_validation_profile"]
    for name in ("local", "production")
)
# This machine's timing limits (one home, with the figures that require them).
SHARED_HOST_LIMITS = tuple(f"{name}={json.dumps(value)}" for name, value in runbook_runs.SHARED_HOST_LIMITS.items())
SHORT_RUN = (
    "requests_per_endpoint=20",
    "throughput_duration_s=2",
    "concurrent_clients=4",
    "cache_probe_queries=3",
)
# On a quiet machine, FINNEWS_VALIDATION_AS_RELEASED=1 runs the Elasticsearch validation with
# production's profile exactly as written: its request counts and the release plan's bounds.
AS_RELEASED = os.environ.get("FINNEWS_VALIDATION_AS_RELEASED") == "1"
NO_LOAD_BALANCER = "the service under test answers on loopback over plain HTTP, with no load balancer in front"
# The corpus of the Elasticsearch run: generated from another seed than the sample's.
GENERATED_SEED, GENERATED_COUNT = 11, 400


# -- the notebooks as committed -------------------------------------------------------------
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_committed_clean_and_parameterised(name):
    notebook = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code), "commit notebooks without outputs"
    tagged = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged parameters"
    assert notebook.metadata.kernelspec.name == KERNEL
    assert "checks.record()" in code[-2].source and "checks.raise_if_failed()" in code[-1].source


def test_every_notebook_runs_once_and_the_measuring_ones_run_alone():
    """The run groups cover each notebook exactly once; performance (latency and throughput)
    shares its group with nothing, and regression, which reads what the others recorded, is last."""
    ran = [name for group in RUN_GROUPS for name in group]
    assert sorted(ran) == sorted(NOTEBOOKS) and len(ran) == len(set(ran))
    assert ("performance",) in RUN_GROUPS
    assert RUN_GROUPS[-1] == ("regression",)


def test_parameters_are_typed_and_agree_across_notebooks():
    declared = notebook_parameters()
    assert set(RUNNER_PARAMETERS) <= set(declared), "every runner parameter is declared by a notebook"
    assert all(declared[name].notebooks == NOTEBOOKS for name in COMMON_PARAMETERS)
    untyped = [p.name for p in declared.values() if p.annotation in ("", "None")]
    assert not untyped, f"annotate every parameter (--set checks values against it): {untyped}"
    for name in NOTEBOOKS:
        defaults = papermill.inspect_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"))
        for parameter, spec in defaults.items():
            assert spec["inferred_type_name"] == declared[parameter].annotation, (name, parameter)
            declared[parameter].default_value  # noqa: B018 - a default the runner cannot read would break overrides


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_each_notebook_declares_the_shared_parameters_it_takes_as_they_are_declared_once(name):
    """The parameters the notebooks share are declared once (notebooks/parameters.py: the runner's
    options and what it passes to papermill come from there). Each notebook's `parameters` cell
    keeps papermill's literal defaults, so it must declare exactly the shared parameters it takes,
    with the same type, default and comment: a drift fails here."""
    cell = papermill.inspect_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"))
    shared = {parameter.name: parameter for parameter in SHARED if name in parameter.notebooks}
    assert {parameter for parameter in cell if parameter in SHARED_BY_NAME} == set(shared)
    for parameter in shared.values():
        spec = cell[parameter.name]
        default = ast.literal_eval(spec["default"])
        assert spec["inferred_type_name"] == parameter.annotation, (name, parameter.name)
        assert (default, type(default)) == (parameter.default, type(parameter.default)), (name, parameter.name)
        assert spec["help"] == parameter.help, (name, parameter.name)


def test_every_threshold_parameter_names_its_source():
    """A check's threshold parameter carries its source in its comment, the one place it is written."""
    for name in NOTEBOOKS:
        notebook = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
        source = "".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
        used = set(re.findall(r'parameter="(\w+)"', source))
        sources = parameter_sources(name)
        assert used <= set(sources), f"{name}: parameters without 'source:' in their comment: {used - set(sources)}"


# The runner's modules, each with the runner's modules it may import: execution, redaction,
# provenance and publishing lie below the command line (notebooks/validate.py, which nothing
# imports). The notebooks' own modules (checks, client, readings, edge, history) import none of them.
RUNNER_MODULES = {
    "parameters": set(),
    "redaction": set(),
    "execution": {"parameters"},
    "provenance": {"parameters"},
    "publishing": {"execution", "parameters"},
    "validate": {"execution", "parameters", "provenance", "publishing", "redaction"},
}


def notebooks_modules_imported(path: Path) -> set[str]:
    """The modules of notebooks/ a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "notebooks":
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("notebooks."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[1] for alias in node.names if alias.name.startswith("notebooks."))
    return found


def test_the_runners_modules_import_only_what_lies_below():
    for path in sorted((ROOT / "notebooks").glob("*.py")):
        allowed = RUNNER_MODULES.get(path.stem, set())
        runner = notebooks_modules_imported(path) & set(RUNNER_MODULES)
        assert runner - {path.stem} <= allowed, f"notebooks/{path.name} imports {sorted(runner - allowed)}"


# -- checks ---------------------------------------------------------------------------------
def test_checks_compute_pass_or_fail_from_the_measurement():
    checks = Checks("example")
    contract = "a contract"
    assert checks.check("latency", 0.2, "<", 0.25, unit="s", source=contract)
    assert not checks.check("latency at the threshold", 0.25, "<", 0.25, unit="s", source=contract)
    assert checks.check("throughput", 4.5, ">", 4, source=contract)
    assert checks.check("nDCG", 0.62, ">=", 0.62, source=contract)
    assert not checks.check("status", "starting", "==", "ok", source=contract)
    assert not checks.check("unmeasured", math.nan, "<", 1.0, source=contract)
    assert [c.name for c in checks.failed] == ["latency at the threshold", "status", "unmeasured"]
    assert checks.checks[-1].value is None  # JSON has no NaN
    assert {c.source for c in checks.checks} == {contract}
    with pytest.raises(AssertionError, match="3 of 6 checks failed") as failure:
        checks.raise_if_failed()
    assert "example: status = starting (needs == ok)" in str(failure.value)
    with pytest.raises(ValueError, match="unknown comparison"):
        checks.check("bad", 1, "!=", 2, source=contract)
    with pytest.raises(ValueError, match="name the threshold's source"):
        checks.check("sourceless", 1, "==", 1)


def test_a_threshold_parameter_gives_its_source_and_says_when_it_was_overridden():
    checks = Checks("performance", {"max_tail_latency_s": "profile"})
    checks.check("tail", 0.3, "<", 0.5, unit="s", parameter="max_tail_latency_s")
    checks.check("throughput", 9.0, ">", 4.0, parameter="min_throughput_rps")
    tail, throughput = checks.checks
    assert tail.source.startswith("the release plan") and tail.override == "profile"
    assert tail.parameter == "max_tail_latency_s"
    assert throughput.override is None and "4 requests/s" in throughput.source
    assert "threshold from the profile" in tail.describe()
    with pytest.raises(ValueError, match="must end with 'source: ...'"):
        checks.check("count", 1, "==", 1, parameter="requests_per_endpoint")


def test_a_moved_threshold_gates_and_the_verdict_at_the_planned_one_is_kept_beside_it():
    checks = Checks("performance", {"max_tail_latency_s": "set", "max_mean_latency_s": "profile"})
    checks.check("tail", 0.7, "<", 4.0, unit="s", parameter="max_tail_latency_s")
    checks.check("mean", 0.1, "<", 2.0, unit="s", parameter="max_mean_latency_s", key="embedding384d")
    checks.check("throughput", 9.0, ">", 4.0, parameter="min_throughput_rps")
    tail, mean, throughput = checks.checks
    # The tail passes only because its limit was moved from the plan's 0.5 s.
    assert (tail.status, tail.plan_threshold, tail.plan_status) == ("pass", 0.5, "fail") and tail.fails_the_plan
    assert (mean.plan_threshold, mean.plan_status) == (0.25, "pass") and not mean.fails_the_plan
    assert (throughput.plan_threshold, throughput.plan_status) == (None, None)  # gated at its default
    assert checks.failing_the_plan == [tail] and not checks.failed
    assert tail.describe().endswith("at the planned < 0.5 s: fail")
    assert checks.table()["at the planned threshold"].tolist() == ["FAIL (< 0.5)", "pass (< 0.25)", ""]
    with pytest.raises(ValueError, match="name the check's key"):
        checks.check("mean", 0.1, "<", 2.0, parameter="max_mean_latency_s")
    # The report's verdict says the notebook passed only at moved thresholds, and which check.
    page = banner(NotebookRun("performance", 1.0, None, checks.checks))
    assert "1 of them only at moved thresholds (they fail as planned)" in page and "#8a5a00" in page
    assert html.escape(tail.describe()) in page
    # Where no threshold moved, the column is left out.
    assert "at the planned threshold" not in Checks("performance").table().columns


def test_a_check_that_does_not_apply_is_shown_and_does_not_fail():
    checks = Checks("example")
    checks.not_applicable("certificate", "==", True, "no TLS on loopback", source="a browser's check")
    assert checks.checks[0].status == NOT_APPLICABLE and checks.checks[0].passed and checks.checks[0].value is None
    checks.raise_if_failed()
    assert "not applicable (no TLS on loopback)" in checks.checks[0].describe()
    table = checks.table()
    assert table.loc[0, "result"] == NOT_APPLICABLE and table.loc[0, "detail"] == "no TLS on loopback"
    with pytest.raises(ValueError, match="say why"):
        checks.not_applicable("silent", "==", 1, "", source="x")


def test_recorded_checks_and_figures_are_read_back_from_an_executed_notebook():
    checks = Checks("example")
    checks.check("documents", 1200, ">=", 1000, detail="embedded", source="a corpus")
    checks.measure("embedding384d: server p50", 12.5, "ms")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("checks.record()")])
    payload = {"checks": [vars(c) for c in checks.checks], "metrics": [vars(m) for m in checks.metrics]}
    notebook.cells[0].outputs = [
        nbformat.v4.new_output("display_data", data={"text/plain": "table", MIME_TYPE: payload})
    ]
    found = recorded(notebook)
    assert found.checks == checks.checks and found.metrics == checks.metrics
    assert recorded(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])) is None


# -- readings -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "single_node", "ready"),
    [
        ("ok", False, True),  # the embedded store, index open
        ("green", False, True),
        ("yellow", True, True),  # one node: replicas can never be assigned
        ("yellow", False, False),  # several nodes: a replica is missing
        ("red", True, False),
        ("unavailable", True, False),
        (None, False, False),
    ],
)
def test_store_health_by_meaning(status, single_node, ready):
    assert readings.store_ready(status, single_node) is ready


def test_store_health_is_read_from_either_health_format():
    current = {"status": "healthy", "store": {"backend": "elasticsearch", "status": "yellow", "documents": 3}}
    earlier_tools = {"status": "healthy", "api": "operational", "elasticsearch": "green", "timestamp": "..."}
    assert readings.store_health(current) == ("elasticsearch", "yellow")
    assert readings.store_health(earlier_tools) == ("unknown", "green")
    assert readings.HEALTHY_SERVICE_STATUSES == ("healthy",)


def test_the_tail_percentile_is_one_the_sample_bounds():
    assert readings.tail_percentile(100) == 99 and readings.tail_percentile(400) == 99
    assert readings.tail_percentile(99) == 95 and readings.tail_percentile(40) == 95  # not the maximum
    assert readings.tail_percentile(10) == 90 and readings.tail_percentile(9) is None


def test_filters_are_discovered_from_what_the_index_answers():
    hits = [
        {"doc_type": "news" if i % 3 else "analysis", "published_dt": f"2031-{1 + i % 12:02d}-15T09:00:00+00:00"}
        for i in range(48)
    ]
    found = readings.discover_filters(hits)
    assert found.doc_type == "news" and found.seen == 48
    assert dt.date(2031, 1, 15) < found.date_from < found.date_to < dt.date(2031, 12, 15)
    with pytest.raises(ValueError, match="looks empty"):
        readings.discover_filters([])


def test_judged_queries_are_checked_line_by_line(tmp_path):
    good = tmp_path / "judged.jsonl"
    good.write_text('{"query_id": "p1", "query": "rates", "relevant_ids": ["a"], "note": "kept"}\n\n')
    assert load_judgements(good) == [{"query_id": "p1", "query": "rates", "relevant_ids": ["a"], "note": "kept"}]
    for text, message in (
        ('{"query_id": "p1", "query": "rates"}\n', "judged.jsonl:1: relevant_ids: Field required"),
        ('{"query_id": "p1", "query": "", "relevant_ids": []}\n', "judged.jsonl:1: query:"),
        ('{"query_id": "p1", "query": "a", "relevant_ids": []}\n' * 2, "judged.jsonl:2: query_id 'p1' appears twice"),
        ("not json\n", "judged.jsonl:1:"),
    ):
        good.write_text(text)
        with pytest.raises(JudgementsError, match=re.escape(message)):
            load_judgements(good)


# -- edge checks, against real local servers ------------------------------------------------
class _Redirecting(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(301)
        self.send_header("Location", f"https://search.example.test{self.path}")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_plain_http_redirect_is_read_without_following_it():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Redirecting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        answer = edge.redirect(f"http://127.0.0.1:{server.server_port}/health/live", timeout=10)
    finally:
        server.shutdown()
    assert (answer.status, answer.location) == (301, "https://search.example.test/health/live")
    assert edge.redirect(f"http://127.0.0.1:{free_port()}/", timeout=5).problem.startswith("no answer")
    assert edge.http_twin("https://search.example.com/health/live") == "http://search.example.com/health/live"
    assert edge.http_twin("https://search.example.com:8443/x") == "http://search.example.com:8443/x"


@pytest.fixture
def tls_server(tmp_path):
    """An HTTPS server whose certificate a test issues, with the CA that signed it."""
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    servers = []

    def serve(*names: str, not_after: dt.datetime | None = None) -> str:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert(*names, not_after=not_after).configure_cert(context)
        server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"https://localhost:{server.server_port}"

    yield serve, str(ca_file)
    for server in servers:
        server.shutdown()


def test_certificate_is_verified_for_the_domain_as_a_browser_would(tls_server):
    serve, ca_file = tls_server
    valid = edge.certificate(serve("localhost"), timeout=10, ca_file=ca_file)
    assert valid.verified and "localhost" in valid.names and valid.tls_version.startswith("TLSv1.")
    assert valid.days_left() > 300  # trustme issues them until the year 3000
    other_name = edge.certificate(serve("search.example.test"), timeout=10, ca_file=ca_file)
    assert not other_name.verified and "not valid for localhost" in other_name.problem
    untrusted = edge.certificate(serve("localhost"), timeout=10)  # the system's store knows no test CA
    assert not untrusted.verified and "not valid for localhost" in untrusted.problem
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=5)
    expiring = edge.certificate(serve("localhost", not_after=soon), timeout=10, ca_file=ca_file)
    assert expiring.verified and 4 < expiring.days_left() < 5.01
    refused = edge.certificate(f"https://localhost:{free_port()}", timeout=5, ca_file=ca_file)
    assert not refused.verified and refused.problem.startswith("no TLS connection")


@mock_aws
def test_target_health_is_what_the_load_balancer_reports():
    region = AWS_ENV["AWS_REGION"]
    vpc = boto3.client("ec2", region_name=region).create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    elbv2 = boto3.client("elbv2", region_name=region)
    arn = elbv2.create_target_group(Name="api", Protocol="HTTP", Port=8000, VpcId=vpc, TargetType="ip")["TargetGroups"][
        0
    ]["TargetGroupArn"]
    assert edge.target_health(elbv2, arn) == []
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": "10.99.0.5", "Port": 8000}])
    assert edge.target_health(elbv2, arn) == [
        {"target": "10.99.0.5:8000", "state": "healthy", "reason": "", "description": ""}
    ]


# Shaped like an AWS access key id (AKIA and 16 more), put together here so that no key-like
# literal sits in the repository for secret scanners to flag.
ACCESS_KEY_SHAPED = "AKIA" + "TESTONLY" * 2


def test_log_scan_finds_secrets_and_downloads_without_repeating_them(tmp_path):
    log = tmp_path / "service.log"
    log.write_text(
        "\n".join(
            [
                "[INFO] models loaded from the verified cache",
                f"[DEBUG] headers: {{'Authorization': 'Bearer {TOKEN}'}}",
                f"[INFO] connecting with password {OTHER_SECRET}",
                f"[WARN] key {ACCESS_KEY_SHAPED} in the environment",
                f"Downloading model.safetensors from the hub for {TOKEN}",
                "[INFO] refused POST /search/cosine/embedding384d/: no valid bearer token",
            ]
        )
    )
    scan = edge.scan_logs(edge.file_log_lines(log), [TOKEN, OTHER_SECRET, "short"])
    assert scan.lines == 6
    assert scan.secrets == {
        "secret value #1": [2, 5],
        "an Authorization header value": [2],
        "secret value #2": [3],
        "an AWS access key id": [4],
    }
    assert scan.downloading == [(5, "Downloading model.safetensors from the hub for [secret]")]
    clean = edge.scan_logs(["[INFO] ready", "[INFO] refused: no valid bearer token"], [TOKEN])
    assert clean.lines == 2 and not clean.secrets and not clean.downloading


@mock_aws
def test_cloudwatch_logs_are_read_from_every_stream_in_the_window():
    logs = boto3.client("logs", region_name=AWS_ENV["AWS_REGION"])
    logs.create_log_group(logGroupName="/ecs/finbert-rag-test")
    now = dt.datetime.now(dt.UTC)
    for stream, minutes_ago, message in (
        ("api/api/1", 5, "ready"),
        ("api/api/2", 3, "Downloading x"),
        ("api/api/1", 300, "old"),
    ):
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_stream(logGroupName="/ecs/finbert-rag-test", logStreamName=stream)
        stamp = int((now - dt.timedelta(minutes=minutes_ago)).timestamp() * 1000)
        logs.put_log_events(
            logGroupName="/ecs/finbert-rag-test",
            logStreamName=stream,
            logEvents=[{"timestamp": stamp, "message": message}],
        )
    lines = list(edge.cloudwatch_log_lines(logs, "/ecs/finbert-rag-test", now - dt.timedelta(minutes=60), now))
    assert sorted(lines) == ["api/api/1: ready", "api/api/2: Downloading x"]


# -- the runner's options, overrides and history --------------------------------------------
def test_set_values_are_parsed_by_the_parameters_annotation():
    declared = notebook_parameters()
    overrides = parse_overrides(
        ["max_tail_latency_s=0.4", "requests_per_endpoint=200", 'queries=["bank earnings"]', "doc_type=news"], declared
    )
    assert overrides == {
        "max_tail_latency_s": 0.4,
        "requests_per_endpoint": 200,
        "queries": ["bank earnings"],
        "doc_type": "news",
    }
    for bad, message in (
        ("requests_per_endpoint=many", "not a valid int"),
        ("min_ndcg", "use NAME=VALUE"),
        ('min_ndcg={"embedding384d": "high"}', "not a valid dict[str, float]"),
        ("no_such_parameter=1", "no notebook has this parameter"),
        ("base_url=http://elsewhere", "set by the runner"),
        ("attempt_dir=/tmp", "set by the runner"),
    ):
        with pytest.raises(UsageError, match=re.escape(message)):
            parse_overrides([bad], declared)


def test_profiles_and_overrides_are_flagged_where_they_differ_from_the_defaults():
    declared = notebook_parameters()
    profile = parse_json_parameters(
        '{"requests_per_endpoint": 40, "min_documents": 1, "throughput_duration_s": 5}', declared, "--profile"
    )
    assert profile["throughput_duration_s"] == 5.0
    overrides = parse_overrides(["requests_per_endpoint=20", "max_p50_ratio=3"], declared)
    assert overrides_of(profile, overrides, declared) == {
        "requests_per_endpoint": {"value": 20, "default": 100, "origin": "set"},  # --set wins
        "throughput_duration_s": {"value": 5.0, "default": 10.0, "origin": "profile"},
        "max_p50_ratio": {"value": 3.0, "default": 1.5, "origin": "set"},
    }  # min_documents = 1 is its default: not an override
    for text, message in (
        ("[1]", "give a JSON object"),
        ("{", "not JSON"),
        ('{"min_documents": "many"}', "not a valid int"),
        ('{"release": "x"}', "set by the runner"),
    ):
        with pytest.raises(UsageError, match=re.escape(message)):
            parse_json_parameters(text, declared, "--profile")


@pytest.mark.parametrize("environment", ["local", "staging", "production"])
def test_every_inventory_gives_a_valid_validation_profile(environment):
    group_vars = yaml.safe_load((ROOT / "inventories" / environment / "group_vars" / "all" / "main.yml").read_text())
    profile = group_vars["release_validation_profile"]
    assert "{{" not in json.dumps(profile), "plain values: the runner and the tests read the profile as written"
    parsed = parse_json_parameters(json.dumps(profile), notebook_parameters(), "--profile")
    if parsed.get("judgements_path"):
        assert load_judgements(ROOT / parsed["judgements_path"])
    # Where the service logs, so the log check has something to read.
    assert bool(group_vars.get("release_validation_log_group")) != bool(group_vars.get("release_validation_log_file"))
    if environment != "local":
        assert not parsed.get("not_applicable"), "edge checks are skipped only in the local rehearsal"
        assert parsed["requests_per_endpoint"] >= 100, "a release's p99 needs 100 requests"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--base-url", "http://127.0.0.1:1", "--release", "../etc", "--environment", "ci"], "--release"),
        (["--base-url", "http://127.0.0.1:1", "--release", "r1", "--environment", "a/b"], "--environment"),
        (["--base-url", "localhost:8000", "--release", "r1", "--environment", "ci"], "http:// or https://"),
        (
            ["--base-url", "http://127.0.0.1:1", "--release", "r1", "--environment", "ci", "--set", "nope=1"],
            "no notebook has this parameter",
        ),
        (
            ["--base-url", "http://127.0.0.1:1", "--release", "r1", "--environment", "ci", "--profile", "[]"],
            "--profile: give a JSON object",
        ),
    ],
)
def test_usage_errors_exit_2(arguments, message, tmp_path, capsys):
    assert validate.main([*arguments, "--reports-dir", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir()), "nothing is written on a usage error"


def test_unreachable_service_exits_2(tmp_path, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    assert (
        validate.main(["--base-url", url, "--release", "r1", "--environment", "ci", "--reports-dir", str(tmp_path)])
        == 2
    )
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
    monkeypatch.setenv(SECRETS_ENV, "")  # main() sets it from standard input: restored after the test
    if given_by == "environment":
        monkeypatch.setenv(TOKEN_ENV, TOKEN)
    else:
        # As the runbook's validate phase gives them; the token wins over the environment's.
        monkeypatch.setenv(TOKEN_ENV, "another-token")
        monkeypatch.setattr(sys, "stdin", io.StringIO(f"{TOKEN}\n{OTHER_SECRET}\n\n"))
        options = ["--token-stdin"]
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        arguments = ["--base-url", url, "--release", "r1", "--environment", "ci", "--reports-dir", str(tmp_path)]
        assert validate.main([*arguments, *options]) == 2
    finally:
        server.shutdown()
    assert seen == [f"Bearer {TOKEN}"]
    err = capsys.readouterr().err
    assert TOKEN_ENV in err and TOKEN not in err
    assert secret_values() == ([TOKEN, OTHER_SECRET] if given_by == "stdin" else [TOKEN])


def test_the_release_stops_at_the_first_failed_group_unless_told_otherwise(tmp_path):
    """roles/release_validation gives the runner --fail-fast (release_validation_fail_fast, true by
    default): a release that failed rolls back without waiting for the load and the regression.
    Run against a service that is not there, so the runner exits at once (2) with its command line
    in the report."""
    service = f"http://127.0.0.1:{free_port()}"
    arguments = {
        "release_validation_url": service,
        "release_validation_release": "r1",
        "release_validation_environment": "ci",
        "release_validation_repo_dir": str(ROOT),
        "release_validation_reports_dir": str(tmp_path / "reports"),
    }
    given = {"by default": {}, "told otherwise": {"release_validation_fail_fast": False}}
    tasks = [
        {
            "name": f"Validate, {label}",
            "block": [{"ansible.builtin.include_role": {"name": "release_validation"}, "vars": {**arguments, **extra}}],
            "rescue": [{"name": "Go on to the next", "ansible.builtin.meta": "noop"}],
        }
        for label, extra in given.items()
    ]
    playbook = tmp_path / "validate.yml"
    playbook.write_text(
        yaml.safe_dump([{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": tasks}])
    )
    command = [str(runbook_runs.BIN / "ansible-playbook"), "-i", "localhost,", str(playbook)]
    command.append(f"-eansible_python_interpreter={sys.executable}")
    run = runbook_runs.run_playbook("release-validation-fail-fast", command, ROOT, tmp_path / "logs", timeout=600)
    results = run.results(f"release_validation : Validate the release at {service}")
    assert [result["rc"] for result in results] == [2, 2], run.explain()
    assert ["--fail-fast" in result["cmd"] for result in results] == [True, False]
    assert not (tmp_path / "reports").exists(), "nothing validated, nothing written"


def test_session_takes_the_token_from_the_environment(monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert "Authorization" not in session().headers
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    assert session().headers["Authorization"] == f"Bearer {TOKEN}"
    assert "Authorization" not in session(token=False).headers


def test_kernel_is_this_environments_python():
    check_kernel()
    assert KernelManager(kernel_name=KERNEL).format_kernel_cmd()[0] == sys.executable


def test_a_leaked_secret_is_redacted(tmp_path):
    executed = tmp_path / "health.ipynb"
    executed.write_text(f'{{"outputs": "Authorization: Bearer {TOKEN}, password {OTHER_SECRET}"}}')
    assert redact(executed, [TOKEN, OTHER_SECRET])
    text = executed.read_text()
    assert TOKEN not in text and OTHER_SECRET not in text and text.count(REDACTED) == 2
    assert not redact(executed, [TOKEN])


def test_a_notebook_that_stopped_before_writing_its_output_fails(tmp_path):
    """A notebook whose kernel never started leaves no executed notebook and no checks: it still
    fails the run, saying why (before, it passed for want of a failed check, and --fail-fast would
    have gone on past it)."""
    run = NotebookRun("health", 300.0, "RuntimeError: Kernel didn't respond in 300 seconds")
    read_back(run, tmp_path)
    assert not run.passed
    (stopped,) = run.checks
    assert (stopped.name, stopped.status, stopped.detail) == ("notebook ran to the end", "fail", run.error)


def test_a_notebook_left_out_by_fail_fast_says_which_failed_first_on_every_page():
    assert not_run_reason(["health"]) == "health failed first (--fail-fast)"
    assert not_run_reason(["health", "endpoints", "edge"]) == ("health, endpoints and edge failed first (--fail-fast)")
    reason = not_run_reason(["health", "edge"])
    left_out = tuple(NotebookRun(name, 0.0, None, not_run=reason) for name in ("performance", "regression"))
    page = banner(NotebookRun("relevance", 1.0, None), not_run=left_out)
    assert "Not run in this attempt: performance, regression; health and edge failed first (--fail-fast)." in page
    assert "Not run" not in banner(NotebookRun("relevance", 1.0, None))


def _summary(release: str, attempt: str, environment: str, passed: bool) -> dict:
    return {
        "release": release,
        "attempt": attempt,
        "passed": passed,
        "started_at": f"{attempt[:4]}-{attempt[4:6]}-{attempt[6:8]}T{attempt[9:11]}:{attempt[11:13]}:00+00:00",
        "provenance": {"environment": environment},
        "metrics": [{"notebook": "performance", "name": "embedding384d: server p50", "value": 10.0, "unit": "ms"}],
    }


def test_the_baseline_is_the_last_passing_release_of_the_same_environment(tmp_path):
    for summary in (
        _summary("v1.0.0", "20260101T100000Z", "production", True),
        _summary("v1.1.0", "20260102T100000Z", "production", False),
        _summary("v1.1.0", "20260102T110000Z", "production", True),
        _summary("v1.2.0", "20260103T100000Z", "staging", True),
        _summary("v1.2.0", "20260104T100000Z", "production", True),
    ):
        folder = tmp_path / summary["release"] / summary["attempt"]
        folder.mkdir(parents=True)
        (folder / "summary.json").write_text(json.dumps(summary))
    (tmp_path / "v0.9.0").mkdir()
    (tmp_path / "v0.9.0" / "summary.json").write_text("{}")  # an earlier runner's layout: not in the history
    found = history.attempts(tmp_path)
    assert [s["folder"] for s in found] == [
        "v1.0.0/20260101T100000Z",
        "v1.1.0/20260102T100000Z",
        "v1.1.0/20260102T110000Z",
        "v1.2.0/20260103T100000Z",
        "v1.2.0/20260104T100000Z",
    ]
    assert history.baseline(found, "production", "v1.3.0")["folder"] == "v1.2.0/20260104T100000Z"
    # Validating v1.2.0 again compares it with the release before it, not with itself.
    assert history.baseline(found, "production", "v1.2.0")["folder"] == "v1.1.0/20260102T110000Z"
    assert history.baseline(found, "staging", "v1.2.0") is None
    assert history.baseline(found, "local", "v1.0.0") is None
    assert history.trend_figure(found, "production", ("embedding384d",)) is not None
    assert history.trend_figure(found, "local", ("embedding384d",)) is None


def test_an_attempt_never_replaces_another(tmp_path):
    started = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    first = new_attempt(tmp_path, "v1.0.0", started)
    second = new_attempt(tmp_path, "v1.0.0", started)
    assert (first.name, second.name) == ("20260101T120000Z", "20260101T120000Z-2")


# -- whole runs against the service ---------------------------------------------------------
def run_validation(
    url: str,
    release: str,
    environment: str,
    reports: Path,
    profile: dict,
    aws_url: str,
    *settings: str,
    **options: str | bool,
) -> subprocess.CompletedProcess:
    """The runner as the runbook starts it: the token and another secret on standard input, every
    AWS call to moto. An option given True is a flag (fail_fast=True: --fail-fast)."""
    command = [sys.executable, "-m", "notebooks.validate", "--base-url", url, "--release", release]
    command += ["--environment", environment, "--reports-dir", str(reports), "--profile", json.dumps(profile)]
    command += ["--token-stdin", "--client-location", "pytest, on the service's host"]
    for name, value in options.items():
        option = f"--{name.replace('_', '-')}"
        command += [option] if value is True else [option, value]
    for setting in settings:
        command += ["--set", setting]
    environment_variables = {
        **{name: value for name, value in os.environ.items() if name not in (TOKEN_ENV, SECRETS_ENV)},
        **AWS_ENV,
        "AWS_DEFAULT_REGION": AWS_ENV["AWS_REGION"],
        "AWS_ENDPOINT_URL": aws_url,
    }
    return subprocess.run(
        command,
        cwd=ROOT,
        env=environment_variables,
        input=f"{TOKEN}\n{OTHER_SECRET}\n",
        capture_output=True,
        text=True,
        timeout=1500,
    )


@pytest.fixture(scope="module")
def target_group(moto_url) -> str:
    """The service's target group in moto, with the service registered (healthy, as moto says)."""
    ec2 = aws_client("ec2", moto_url)
    vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    elbv2 = boto3.client(
        "elbv2",
        endpoint_url=moto_url,
        region_name=AWS_ENV["AWS_REGION"],
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )  # aws_client() would wipe the VPC made above
    arn = elbv2.create_target_group(Name="finbert-rag-ci-api", Protocol="HTTP", Port=8000, VpcId=vpc, TargetType="ip")[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": "10.99.0.5", "Port": 8000}])
    return arn


def serve(settings: dict[str, str], folder: Path):
    """gunicorn as a release runs it, asking for the token, logging to a file of its own."""
    log = folder / "service.log"
    server = start_server({**settings, "FINNEWS_API_TOKENS": TOKEN}, free_port(), workers=1, log=log, timeout=600)
    server.log_file = log
    return server


@pytest.fixture(scope="module")
def embedded_service(model_cache_dir, sample_index, tmp_path_factory):
    folder = tmp_path_factory.mktemp("embedded-service")
    shutil.copytree(sample_index, folder / "index")
    settings = {
        "FINNEWS_MODEL_CACHE_DIR": str(model_cache_dir),
        "FINNEWS_STORE_PATH": str(folder / "index"),
        "FINNEWS_APP_VERSION": "test-1.2.3",
    }
    server = serve(settings, folder)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("reports")


# The local profile's HTTPS reason holds here too; the targets are in this test's moto.
CHECKED_HERE = f"not_applicable={json.dumps({'https': NO_LOAD_BALANCER})}"


@pytest.fixture(scope="module")
def passing_run(embedded_service, reports, target_group, moto_url):
    """The first release of the environment: the local rehearsal's profile (the sample corpus, this
    machine's bounds), a short run."""
    return run_validation(
        embedded_service.url,
        "test-1.2.3",
        "ci-embedded",
        reports,
        LOCAL_PROFILE,
        moto_url,
        *SHORT_RUN,
        *SHARED_HOST_LIMITS,
        CHECKED_HERE,
        target_group_arn=target_group,
        log_file=str(embedded_service.log_file),
        tasks="1",
        workers="1",
    )


@pytest.fixture(scope="module")
def failing_run(embedded_service, reports, target_group, moto_url, passing_run):
    """The next release: an nDCG threshold no endpoint reaches."""
    return run_validation(
        embedded_service.url,
        "test-1.2.4",
        "ci-embedded",
        reports,
        LOCAL_PROFILE,
        moto_url,
        "expected_version=test-1.2.3",
        'min_ndcg={"embedding384d": 0.99, "embedding768d": 0.68, "embedding1155d": 0.69}',
        *SHORT_RUN,
        *SHARED_HOST_LIMITS,
        CHECKED_HERE,
        target_group_arn=target_group,
        log_file=str(embedded_service.log_file),
    )


def attempt_of(reports: Path, release: str) -> Path:
    (folder,) = (reports / release).iterdir()
    return folder


def test_release_passes_on_the_sample_corpus(passing_run, reports, target_group):
    assert passing_run.returncode == 0, passing_run.stdout + passing_run.stderr[-5000:]
    assert "release test-1.2.3: PASSED" in passing_run.stdout
    summary = json.loads((attempt_of(reports, "test-1.2.3") / "summary.json").read_text())
    jsonschema.validate(summary, SCHEMA)
    assert summary["passed"] and not summary["failed"]
    assert [n["name"] for n in summary["notebooks"]] == list(NOTEBOOKS)
    provenance = summary["provenance"]
    assert provenance["environment"] == "ci-embedded" and provenance["backend"] == "embedded"
    assert provenance["documents"] == 1200 and provenance["service_version"] == "test-1.2.3"
    assert len(provenance["commit"]) == 40 and (provenance["tasks"], provenance["workers"]) == (1, 1)
    assert provenance["client_location"] == "pytest, on the service's host"
    assert summary["baseline"] is None
    by_name = {(c["notebook"], c["name"]): c for c in summary["checks"]}
    for field in FIELD_NAMES:
        mean = by_name["performance", f"{field}: server-side mean latency"]
        # Moved for this shared host, with the verdict at the plan's limit beside it.
        assert mean["override"] == "set" and mean["plan_threshold"] in (250, 300, 400) and mean["plan_status"]
        assert by_name["performance", f"{field}: p95 latency with 4 clients"]["status"] == "pass"
        assert by_name["performance", f"{field}: server-side p95 latency"]["status"] == "pass"  # 20 requests: p95
        assert by_name["relevance", f"{field}: nDCG@10"]["override"] is None
        assert by_name["regression", f"{field}: server p50 / baseline"]["status"] == NOT_APPLICABLE
    assert by_name["health", "store ready and serving"]["status"] == "pass"
    # The edge checks: tokens, targets in moto and the service's own log ran; HTTPS did not apply.
    edge_rows = {name: check for (notebook, name), check in by_name.items() if notebook == "edge"}
    for name in (
        "search without a token refused with 401",
        "search with a wrong token refused with 401",
        "/metrics without a token refused with 401",
        "targets registered in the target group",
        "registered targets healthy",
        "log lines read",
        "secrets in the service's logs",
        "model downloads in the service's logs",
    ):
        assert edge_rows[name]["status"] == "pass", edge_rows[name]
    assert edge_rows["targets registered in the target group"]["value"] == 1
    assert edge_rows["log lines read"]["value"] > 0
    for name in ("plain HTTP answers 301 to HTTPS", "certificate valid for the domain", "certificate days left"):
        assert edge_rows[name]["status"] == NOT_APPLICABLE and edge_rows[name]["detail"] == NO_LOAD_BALANCER
    assert "edge: plain HTTP answers 301 to HTTPS: not applicable" in passing_run.stdout
    assert summary["overrides"]["judgements_path"] == {
        "value": "data/relevance_holdout.jsonl",
        "default": "",
        "origin": "profile",
    }
    assert summary["overrides"]["requests_per_endpoint"]["origin"] == "set"
    assert all(check["source"] for check in summary["checks"])
    metrics = {(m["notebook"], m["name"]) for m in summary["metrics"]}
    assert {("performance", f"{f}: server p50") for f in FIELD_NAMES} <= metrics
    assert {("relevance", f"{f}: nDCG@10") for f in FIELD_NAMES} <= metrics


def test_reports_open_without_jupyter_with_their_verdict_and_plots(passing_run, reports, embedded_service):
    folder = attempt_of(reports, "test-1.2.3")
    pages = {name: (folder / f"{name}.html").read_text() for name in NOTEBOOKS}
    plots = {name: page.count('src="data:image/png;base64,') for name, page in pages.items()}
    assert plots["performance"] == 3  # cache, latency distribution, throughput over time
    assert plots["relevance"] == 1 and plots["regression"] == 1  # the trend
    for name, page in pages.items():
        # First on the page: the verdict (three states: a notebook whose every check could not
        # run here, the regression of a first release, passed nothing), a way back to the index
        # and the table of checks; the code that measured stays in the executed notebook.
        verdict = "NOT APPLICABLE: none of its" if name == "regression" else "PASSED"
        top = page[: page.index("Summary of checks")]
        assert (
            f"{name}: {verdict}" in top and 'href="../../index.html"' in top and "<th>threshold source</th>" in top
        ), name
        # What was validated: the release, its commit and the store it served from.
        assert "release test-1.2.3 in ci-embedded, serving test-1.2.3; commit " in top, name
        assert "embedded store, 1,200 documents; tasks x workers: 1 x 1" in top, name
        # No code cell (nbconvert highlights each one's source) and no In[]/Out[] prompt.
        assert 'class="highlight hl-ipython3"' not in page and not re.search(r">(In|Out)(&nbsp;| )?\[\d", page), name
    # A row that could not run says why: result, threshold source, detail.
    assert re.search(
        rf"<td>not applicable</td>\s*<td>[^<]*</td>\s*<td>{re.escape(NO_LOAD_BALANCER)}</td>", pages["edge"]
    )
    # Each notebook gets the runner's values and the parameters it declares, and nothing else.
    parameters = {
        name: nbformat.read(folder / f"{name}.ipynb", as_version=4).metadata.papermill.parameters for name in NOTEBOOKS
    }
    assert parameters["relevance"] == {
        "base_url": embedded_service.url,
        "release": "test-1.2.3",
        "environment": "ci-embedded",
        "overridden": {"judgements_path": "profile"},
        "judgements_path": "data/relevance_holdout.jsonl",
    }
    assert parameters["regression"]["baseline_dir"] == "" and parameters["regression"]["attempt_dir"] == str(folder)
    assert "target_group_arn" in parameters["edge"] and "target_group_arn" not in parameters["health"]


def test_no_output_file_contains_a_secret(passing_run, failing_run, reports):
    files = [path for path in reports.rglob("*") if path.is_file()]
    assert len(files) >= 2 * (2 * len(NOTEBOOKS) + 1) + 1
    for secret in (TOKEN, OTHER_SECRET):
        assert [path for path in files if secret.encode() in path.read_bytes()] == []
        assert secret not in passing_run.stdout + passing_run.stderr + failing_run.stdout + failing_run.stderr


def test_a_failing_threshold_fails_the_run_compared_with_the_last_release(failing_run, reports):
    assert failing_run.returncode == 1, failing_run.stdout + failing_run.stderr[-5000:]
    summary = json.loads((attempt_of(reports, "test-1.2.4") / "summary.json").read_text())
    jsonschema.validate(summary, SCHEMA)
    failed = [c for c in summary["checks"] if not c["passed"]]
    assert [(c["notebook"], c["name"], c["threshold"], c["override"]) for c in failed] == [
        ("relevance", "embedding384d: nDCG@10", 0.99, "set")
    ]
    assert "release test-1.2.4: FAILED, 1 of" in failing_run.stdout
    assert "relevance: embedding384d: nDCG@10 = " in failing_run.stdout
    # Compared with the first release: its attempt is the baseline, and every gate ran.
    first = attempt_of(reports, "test-1.2.3")
    assert summary["baseline"] == {"release": "test-1.2.3", "attempt": first.name, "folder": f"test-1.2.3/{first.name}"}
    regression = [c for c in summary["checks"] if c["notebook"] == "regression"]
    assert len(regression) == 3 * len(FIELD_NAMES) and all(c["status"] == "pass" for c in regression)
    assert all("test-1.2.3" in c["detail"] for c in regression)
    relevance = next(n for n in summary["notebooks"] if n["name"] == "relevance")
    assert not relevance["passed"] and relevance["error"].startswith("AssertionError")
    # Without --fail-fast (make validate), a failure in the first group stops nothing.
    assert [n["not_run"] for n in summary["notebooks"]] == [None] * len(NOTEBOOKS)
    # The verdict at the top names the check; the notebook's own summary and error follow.
    report = (attempt_of(reports, "test-1.2.4") / "relevance.html").read_text()
    top = report[: report.index("Summary of checks")]
    assert "relevance: FAILED: 1 of 6 checks failed" in top and "embedding384d: nDCG@10 = " in top
    assert "AssertionError" in report
    # Query by query against the baseline: the same service scored every judged query the same.
    page = (attempt_of(reports, "test-1.2.4") / "regression.html").read_text()
    compared = re.search(r"Of (\d+) query-endpoint pairs, 0 scored lower than in test-1.2.3 and 0 higher", page)
    judged = [q for q in load_judgements(ROOT / LOCAL_PROFILE["judgements_path"]) if q["relevant_ids"]]
    assert compared and int(compared[1]) == len(FIELD_NAMES) * len(judged)


def test_index_keeps_every_attempt_with_overrides_and_trends(passing_run, failing_run, reports):
    assert (attempt_of(reports, "test-1.2.3") / "summary.json").exists(), "an attempt is never deleted"
    index = (reports / "index.html").read_text()
    table = index[index.index("<h2>Attempts</h2>") :]
    assert table.index("test-1.2.4") < table.index("test-1.2.3")
    first, second = attempt_of(reports, "test-1.2.3").name, attempt_of(reports, "test-1.2.4").name
    assert (
        f'href="test-1.2.3/{first}/performance.html"' in index and f'href="test-1.2.4/{second}/summary.json"' in index
    )
    assert index.count('class="passed">PASSED') == 1 and index.count('class="failed">FAILED') == 1
    # Each attempt's checks in three states, none counted as another.
    summaries = [
        json.loads((attempt_of(reports, r) / "summary.json").read_text()) for r in ("test-1.2.3", "test-1.2.4")
    ]
    for summary in summaries:
        states = [check["status"] for check in summary["checks"]]
        counts = (states.count("pass"), states.count("fail"), states.count("not applicable"))
        assert '{} passed<br>{} failed<br><span class="muted">{} not applicable</span>'.format(*counts) in index
    assert 'name="viewport"' in index
    assert "with overrides" in index and "judgements_path" in index and "(profile; default" in index
    assert "judgements_path = &#34;data/relevance_holdout.jsonl&#34;" in index
    assert "Trend: ci-embedded" in index and index.count("<svg") == len(history.TREND_FIGURES)


def test_with_fail_fast_a_failed_first_group_stops_the_run_and_says_what_was_not_run(
    embedded_service, passing_run, reports, target_group, moto_url, tmp_path
):
    """As a release runs it (--fail-fast): a check of the first group no store can pass (the
    corpus size) fails the attempt, so the load measurement and the regression, which cannot change
    the verdict, are not run, and every report says so. In reports of its own holding the first
    release's attempt: the regression had a baseline to compare with, and the index and the
    history read both attempts."""
    first = attempt_of(reports, "test-1.2.3")
    shutil.copytree(first, tmp_path / "test-1.2.3" / first.name)
    run = run_validation(
        embedded_service.url,
        "test-1.2.5",
        "ci-embedded",
        tmp_path,
        LOCAL_PROFILE,
        moto_url,
        "expected_version=test-1.2.3",
        "min_documents=1000000000",
        *SHORT_RUN,
        *SHARED_HOST_LIMITS,
        CHECKED_HERE,
        target_group_arn=target_group,
        log_file=str(embedded_service.log_file),
        fail_fast=True,
    )
    assert run.returncode == 1, run.stdout + run.stderr[-5000:]
    folder = attempt_of(tmp_path, "test-1.2.5")
    summary = json.loads((folder / "summary.json").read_text())
    jsonschema.validate(summary, SCHEMA)
    assert not summary["passed"]
    assert [line.split(" = ")[0] for line in summary["failed"]] == ["health: documents in the store"]
    reason = "health failed first (--fail-fast)"
    notebooks = {n["name"]: n for n in summary["notebooks"]}
    assert list(notebooks) == list(NOTEBOOKS), "a notebook not run is still listed"
    for name in ("performance", "regression"):
        assert notebooks[name] == {
            "name": name,
            "passed": None,
            "not_run": reason,
            "error": None,
            "duration_s": 0.0,
            "notebook": None,
            "html": None,
        }
        assert not list(folder.glob(f"{name}.*"))
        assert not [c for c in summary["checks"] if c["notebook"] == name]
        position = NOTEBOOKS.index(name) + 1
        assert f"[{position}/{len(NOTEBOOKS)}] {name}: not run, {reason}" in run.stderr
        assert f"  {name}: not run, {reason}" in run.stdout
    # The first group ran whole: its notebooks run side by side, so none was cut short.
    for name in ("health", "endpoints", "relevance", "edge"):
        assert notebooks[name]["not_run"] is None and notebooks[name]["html"] == f"{name}.html", name
    assert notebooks["health"]["passed"] is False and notebooks["relevance"]["passed"] is True
    assert summary["baseline"]["release"] == "test-1.2.3"  # what the regression would have compared with
    # Each published page's verdict names what was not run.
    for name in ("health", "relevance"):
        page = (folder / f"{name}.html").read_text()
        top = page[: page.index("Summary of checks")]
        assert f"Not run in this attempt: performance, regression; {reason}." in top, name
    assert "health: FAILED: 1 of" in (folder / "health.html").read_text()
    # The index lists the attempt with what was not run; its trends still plot both attempts.
    index = (tmp_path / "index.html").read_text()
    rows = index[index.index("<h2>Attempts</h2>") :].split("<tr>")
    (row,) = [row for row in rows if f"test-1.2.5/{folder.name}/summary.json" in row]
    assert 'class="failed">FAILED' in row and "2 notebooks not run" in row
    assert f'performance <span class="muted">not run: {reason}</span>' in row
    assert f'href="test-1.2.5/{folder.name}/health.html"' in row and "performance.html" not in row
    assert index.count("<svg") == len(history.TREND_FIGURES)
    # A failed attempt is never a baseline: the next release is still compared with the first.
    attempts = history.attempts(tmp_path)
    assert [a["release"] for a in attempts] == ["test-1.2.3", "test-1.2.5"]
    assert history.baseline(attempts, "ci-embedded", "test-1.2.6")["release"] == "test-1.2.3"
    for secret in (TOKEN, OTHER_SECRET):
        assert secret not in run.stdout + run.stderr
        assert not [path for path in tmp_path.rglob("*") if path.is_file() and secret.encode() in path.read_bytes()]


# -- the Elasticsearch backend, a corpus from another seed, production's profile ------------
@pytest.fixture(scope="module")
def generated_corpus(registry, tmp_path_factory) -> tuple[Path, Path]:
    """A corpus generated from another seed than the sample, its judged queries, and its index,
    kept in the test cache (tests.helpers.TEST_CACHE) by what it is made from (embedding it takes minutes)."""
    key = f"generated-index-{GENERATED_COUNT}-seed{GENERATED_SEED}-{sample_index_key(registry)}"

    def build(folder: Path) -> None:
        folder.mkdir()
        corpus = folder / "corpus.jsonl"
        write_corpus(corpus, GENERATED_COUNT, GENERATED_SEED, relevance_path=folder / "relevance.jsonl")
        report = ingest([corpus], registry, EmbeddedStore(folder / "index"), progress=False)
        assert not report.rejected, report.rejected[:3]

    cached = cache_entry(key, build, stale=f"generated-index-{GENERATED_COUNT}-seed{GENERATED_SEED}-*")
    folder = tmp_path_factory.mktemp("generated")
    shutil.copytree(cached, folder, dirs_exist_ok=True)
    return folder / "index", folder / "relevance.jsonl"


@pytest.fixture(scope="module")
def elasticsearch_service(fake_elasticsearch, generated_corpus, registry, model_cache_dir, tmp_path_factory):
    """The service on the fake Elasticsearch, holding the generated corpus behind its own alias."""
    index, _ = generated_corpus
    alias = copy_into_elasticsearch(index, fake_elasticsearch, "generated", registry, model_cache_dir)
    settings = {
        "FINNEWS_MODEL_CACHE_DIR": str(model_cache_dir),
        "FINNEWS_STORE_BACKEND": "elasticsearch",
        "FINNEWS_ES_HOSTS": fake_elasticsearch.url,
        "FINNEWS_ES_INDEX": alias,
        "FINNEWS_APP_VERSION": "v2.0.0",
    }
    server = serve(settings, tmp_path_factory.mktemp("elasticsearch-service"))
    yield server
    server.stop()


def test_release_passes_on_elasticsearch_with_another_corpus_and_the_production_profile(
    elasticsearch_service, generated_corpus, target_group, moto_url, tmp_path
):
    _, judged = generated_corpus
    profile = PRODUCTION_PROFILE
    settings = (
        *(() if AS_RELEASED else (*SHORT_RUN, *SHARED_HOST_LIMITS)),
        # Production names no judged queries yet; this corpus has its own.
        f"judgements_path={judged}",
        # Production's profile knows no reason to skip the HTTPS checks: this run gives the one
        # it has (there is no load balancer here), flagged as this run's override.
        CHECKED_HERE,
    )
    run = run_validation(
        elasticsearch_service.url,
        "v2.0.0",
        "ci-elasticsearch",
        tmp_path,
        profile,
        moto_url,
        *settings,
        target_group_arn=target_group,
        log_file=str(elasticsearch_service.log_file),
    )
    assert run.returncode == 0, run.stdout + run.stderr[-5000:]
    summary = json.loads((attempt_of(tmp_path, "v2.0.0") / "summary.json").read_text())
    jsonschema.validate(summary, SCHEMA)
    assert summary["provenance"]["backend"] == "elasticsearch"
    assert summary["provenance"]["documents"] == GENERATED_COUNT
    by_name = {(c["notebook"], c["name"]): c for c in summary["checks"]}
    store = by_name["health", "store ready and serving"]
    assert store["status"] == "pass" and "elasticsearch reports 'green'" in store["detail"]
    # Production's own profile, as written: what it sets apart from the defaults is flagged as the
    # profile's, unless this run's shorter counts replaced it.
    declared = notebook_parameters()
    set_here = {setting.split("=")[0] for setting in settings}
    from_profile = {
        name for name, value in profile.items() if value != declared[name].default_value and name not in set_here
    }
    assert {name for name, entry in summary["overrides"].items() if entry["origin"] == "profile"} == from_profile
    assert summary["overrides"]["judgements_path"] == {"value": str(judged), "default": "", "origin": "set"}
    # Judged queries of this corpus, not the sample's: their ids come from the generated documents.
    sample_ids = {i for q in load_judgements(ROOT / "data" / "relevance.jsonl") for i in q["relevant_ids"]}
    generated_ids = {i for q in load_judgements(judged) for i in q["relevant_ids"]}
    assert generated_ids and not generated_ids <= sample_ids
    for field in FIELD_NAMES:
        assert by_name["relevance", f"{field}: nDCG@10"]["status"] == "pass"
    skipped = {name for (notebook, name), check in by_name.items() if check["status"] == NOT_APPLICABLE}
    assert {name for name in skipped if not name.startswith("embedding")} == {
        "plain HTTP answers 301 to HTTPS",
        "certificate valid for the domain",
        "certificate days left",
    }  # and the regression rows: the environment's first release
    assert summary["overrides"]["not_applicable"]["origin"] == "set"
    # The endpoints notebook discovered its filters from this index.
    endpoints = nbformat.read(attempt_of(tmp_path, "v2.0.0") / "endpoints.ipynb", as_version=4)
    assert any("discovered" in str(output) for cell in endpoints.cells for output in cell.get("outputs", []))
