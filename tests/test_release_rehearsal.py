"""The release runbook (release.yml), rehearsed end to end with inventories/local against emulated
AWS, as the README runs it: a first release, a re-run that changes nothing, a --check run that
changes nothing, a second release, a broken release rolled back automatically, and a rollback
by hand. Each run is a real ansible-playbook process on a fresh commit of this tree; the
emulated AWS state it leaves is then inspected through moto, independently of the playbook's
own output."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import boto3
import pytest
import requests

from tests.conftest import ARTIFACTS, ROOT, free_port

# Each test is one or more whole releases; the first also waits for the session's sample index.
pytestmark = [pytest.mark.timeout(1800), pytest.mark.rehearsal]

FAMILY = "finbert-rag-local-api"
CLUSTER = "finbert-rag-local"
SERVICE = "finbert-rag-api"
BIN = Path(sys.executable).parent
# Phases that must change nothing on a second run with nothing changed.
STEADY_PHASES = ("Registry", "Secrets", "IAM", "Infrastructure", "Monitoring")


class Run:
    """One ansible-playbook run: its exit status, JSON report (ansible.posix.json) and timing."""

    def __init__(self, name: str, process: subprocess.CompletedProcess, seconds: float):
        self.name, self.returncode, self.seconds = name, process.returncode, seconds
        self.output = process.stdout + process.stderr
        # The JSON report (after the connection's lines at -vvv, before the timer's last line).
        start = process.stdout.find('{\n    "custom_stats"')
        self.report = json.JSONDecoder().raw_decode(process.stdout[start:])[0] if start >= 0 else {"plays": []}

    def changed_by_play(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for play in self.report["plays"]:
            phase = play["play"]["name"].split(" |")[0]
            changed = sum(bool(task["hosts"].get("localhost", {}).get("changed")) for task in play["tasks"])
            counts[phase] = counts.get(phase, 0) + changed
        return counts

    def results(self, task_name: str) -> list[dict]:
        return [
            task["hosts"]["localhost"]
            for play in self.report["plays"]
            for task in play["tasks"]
            if task["task"]["name"] == task_name and "localhost" in task["hosts"]
        ]

    def failures(self) -> list[str]:
        return [
            f"{task['task']['name']}: {str(task['hosts']['localhost'].get('msg'))[:800]}"
            for play in self.report["plays"]
            for task in play["tasks"]
            if task["hosts"].get("localhost", {}).get("failed") and not task["hosts"]["localhost"].get("ignore_errors")
        ]

    def messages(self) -> str:
        return json.dumps(
            [r.get("msg") for r in self.results("Report the rollback") + self.results("Fail the release")]
        )


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory, model_cache_dir, sample_index):
    """A fresh commit of this working tree with its own bare remote, the model cache and an index
    of the sample corpus, and free loopback ports for the emulators and the stand-in."""
    base = tmp_path_factory.mktemp("rehearsal")
    repo = base / "repo"
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name, follow_symlinks=False)
    (repo / "instance").mkdir()
    (repo / "instance" / "models").symlink_to(model_cache_dir)
    shutil.copytree(sample_index, repo / "instance" / "index")
    git = {"cwd": repo, "check": True, "capture_output": True}
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main"], **git)
    subprocess.run(["git", "config", "user.name", "Release Rehearsal"], **git)
    subprocess.run(["git", "config", "user.email", "rehearsal@example.invalid"], **git)
    subprocess.run(["git", "add", "--all"], **git)
    subprocess.run(["git", "commit", "--quiet", "--message=Rehearsed tree"], **git)
    subprocess.run(["git", "init", "--quiet", "--bare", str(base / "remote.git")], **git)
    subprocess.run(["git", "remote", "add", "origin", str(base / "remote.git")], **git)
    ports = {
        name: free_port() for name in ("rehearsal_aws_port", "rehearsal_registry_port", "rehearsal_ecs_tasks_port")
    }
    logs = ARTIFACTS / "rehearsal"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    state = repo / "instance" / "rehearsal"
    return type(
        "Rehearsal", (), {"repo": repo, "remote": base / "remote.git", "ports": ports, "logs": logs, "state": state}
    )


@pytest.fixture(scope="module")
def release(rehearsal):
    def release(name: str, *args: str, timeout: int = 1200) -> Run:
        command = [str(BIN / "ansible-playbook"), "release.yml", "-i", "inventories/local"]
        command += [f"-e{key}={value}" for key, value in rehearsal.ports.items()]
        command += list(args)
        env = {**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_FORCE_COLOR": "0"}
        started = time.monotonic()
        process = subprocess.run(command, cwd=rehearsal.repo, env=env, capture_output=True, text=True, timeout=timeout)
        run = Run(name, process, time.monotonic() - started)
        (rehearsal.logs / f"{name}.json").write_text(process.stdout)
        (rehearsal.logs / f"{name}.stderr").write_text(process.stderr)
        with (rehearsal.logs / "timings.txt").open("a") as timings:
            timings.write(f"{name}: {run.seconds:.0f} s, exit {run.returncode}, changed {run.changed_by_play()}\n")
        print(f"\n{name}: {run.seconds:.0f} s, exit {run.returncode}, changed by phase {run.changed_by_play()}")
        return run

    return release


@contextlib.contextmanager
def emulated_aws(rehearsal):
    """moto with the state the rehearsal recorded, replayed into a server of our own."""
    port = free_port()
    env = {
        **os.environ,
        "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
        "MOTO_ECS_SERVICE_RUNNING": "1",
        "MOTO_RECORDER_FILEPATH": str(rehearsal.state / "moto-recording.jsonl"),
    }
    env.pop("MOTO_ENABLE_RECORDING", None)
    server = subprocess.Popen(
        [str(BIN / "moto_server"), "--host=127.0.0.1", f"--port={port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"{url}/moto-api/", timeout=2).ok:
                    break
            time.sleep(0.2)
        requests.post(f"{url}/moto-api/recorder/replay-recording", timeout=300).raise_for_status()
        yield lambda service: boto3.client(
            service,
            endpoint_url=url,
            region_name="ap-south-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def aws_operation(request: dict) -> str | None:
    """The AWS API operation of a request moto recorded (None for moto's own API)."""
    url = request["url"]
    if "/moto-api/" in url:
        return None
    if target := request["headers"].get("X-Amz-Target"):  # JSON protocols
        return target.rsplit(".", 1)[-1]
    if "/operation/" in url:  # Smithy RPC v2 (CBOR)
        return url.rsplit("/", 1)[-1]
    body = (
        base64.b64decode(request["body"]).decode(errors="replace") if request.get("body_encoded") else request["body"]
    )
    return parse_qs(body or "").get("Action", [""])[0] or f"{request['method']} {urlparse(url).path}"


def service_revision(aws) -> str:
    service = aws("ecs").describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
    return service["taskDefinition"].split("/")[-1]


def revision_status(aws, revision: int) -> str:
    return aws("ecs").describe_task_definition(taskDefinition=f"{FAMILY}:{revision}")["taskDefinition"]["status"]


def assert_stopped(rehearsal, within: float = 60):
    """Nothing the rehearsal started outlives its run (each process stops, gracefully, once the
    ansible-playbook process is gone)."""
    deadline = time.monotonic() + within
    for port in rehearsal.ports.values():
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/", timeout=2)
            except requests.ConnectionError:
                break
            assert time.monotonic() < deadline, f"something still answers on port {port}"
            time.sleep(1)


def secret_values(rehearsal) -> list[str]:
    return [path.read_text().strip() for path in (rehearsal.state / "secrets").iterdir()]


def test_first_release(rehearsal, release):
    run = release("first-release", "-erelease_version=v1.0.0", "-erelease_tag_push=true")
    assert run.returncode == 0, run.failures() or run.output[-3000:]
    assert set(STEADY_PHASES) <= set(run.changed_by_play())
    assert_stopped(rehearsal)

    tag = subprocess.run(["git", "cat-file", "-p", "v1.0.0"], cwd=rehearsal.repo, capture_output=True, text=True)
    assert (
        "finbert-rag v1.0.0" in tag.stdout and "Rehearsed tree" in tag.stdout and "finbert-rag/api:v1.0.0" in tag.stdout
    )
    pushed = subprocess.run(["git", "ls-remote", "--tags", str(rehearsal.remote)], capture_output=True, text=True)
    assert "refs/tags/v1.0.0" in pushed.stdout

    with emulated_aws(rehearsal) as aws:
        assert service_revision(aws) == f"{FAMILY}:1"
        repository = aws("ecr").describe_repositories(repositoryNames=["finbert-rag/api"])["repositories"][0]
        assert repository["imageScanningConfiguration"]["scanOnPush"]
        # Version tags never move; the tags that follow releases do.
        assert repository["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
        assert {f["filter"] for f in repository["imageTagMutabilityExclusionFilters"]} == {"prod", "latest"}
        assert repository["encryptionConfiguration"]["encryptionType"] == "AES256"
        lifecycle = json.loads(aws("ecr").get_lifecycle_policy(repositoryName="finbert-rag/api")["lifecyclePolicyText"])
        assert lifecycle["rules"][-1]["selection"]["countNumber"] == 10  # inventories/local keeps the newest 10
        statements = json.loads(aws("ecr").get_repository_policy(repositoryName="finbert-rag/api")["policyText"])
        named_roles = {
            "arn:aws:iam::123456789012:role/finbert-rag-local-task-execution",
            "arn:aws:iam::123456789012:role/finbert-rag-release",
        }
        deny = next(s for s in statements["Statement"] if s["Effect"] == "Deny")
        assert set(deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"]) == named_roles
        policy = aws("iam").get_role_policy(
            RoleName="finbert-rag-local-task-execution", PolicyName="read-release-secrets"
        )["PolicyDocument"]
        arns = {secret["ARN"] for secret in aws("secretsmanager").list_secrets()["SecretList"]}
        assert (
            set(policy["Statement"][0]["Resource"]) == arns
            and policy["Statement"][0]["Action"] == "secretsmanager:GetSecretValue"
        )
        definition = aws("ecs").describe_task_definition(taskDefinition=f"{FAMILY}:1")["taskDefinition"]
        container = definition["containerDefinitions"][0]
        assert container["image"].endswith("/finbert-rag/api:v1.0.0")
        assert {secret["valueFrom"].rsplit(":", 3)[0] for secret in container["secrets"]} == arns
        assert container["logConfiguration"]["logDriver"] == "awslogs" and container["healthCheck"]["command"]
        listeners = aws("elbv2").describe_listeners(
            LoadBalancerArn=aws("elbv2").describe_load_balancers(Names=["finbert-rag-local"])["LoadBalancers"][0][
                "LoadBalancerArn"
            ]
        )["Listeners"]
        assert {(listener["Port"], listener["DefaultActions"][0]["Type"]) for listener in listeners} == {
            (80, "redirect"),
            (443, "forward"),
        }
        assert aws("cloudwatch").get_dashboard(DashboardName="finbert-rag-local")["DashboardBody"]
        alarms = {alarm["AlarmName"] for alarm in aws("cloudwatch").describe_alarms()["MetricAlarms"]}
        assert {
            f"finbert-rag-local-{name}"
            for name in (
                "targets-5xx-rate",
                "load-balancer-5xx-rate",
                "target-response-time",
                "unhealthy-hosts",
                "ecs-cpu",
                "ecs-memory",
            )
        } <= alarms


def test_rerun_changes_nothing(rehearsal, release):
    run = release("re-run", "-erelease_version=v1.0.0")
    assert run.returncode == 0, run.failures() or run.output[-3000:]
    changed = run.changed_by_play()
    assert {phase: changed[phase] for phase in STEADY_PHASES} == dict.fromkeys(STEADY_PHASES, 0), changed
    with emulated_aws(rehearsal) as aws:
        assert service_revision(aws) == f"{FAMILY}:1"
        assert len(aws("ecs").list_task_definitions(familyPrefix=FAMILY)["taskDefinitionArns"]) == 1


def test_check_mode_changes_nothing(rehearsal, release):
    recording = rehearsal.state / "moto-recording.jsonl"
    before = recording.read_text().count("\n")
    run = release("check", "-erelease_version=v1.0.0", "--check")
    assert run.returncode == 0, run.failures() or run.output[-3000:]
    changed = run.changed_by_play()
    assert all(count == 0 for phase, count in changed.items() if phase != "Rehearsal"), changed
    # Independently of what the playbook reports: every AWS request of the check run was a read.
    operations = {aws_operation(json.loads(line)) for line in recording.read_text().splitlines()[before:]} - {None}
    assert {"DescribeServices", "DescribeTaskDefinition", "GetDashboard"} <= operations
    assert not {
        operation for operation in operations if not operation.startswith(("Describe", "List", "Get", "BatchGet"))
    }


def test_second_release(rehearsal, release):
    # At -vvv, which shows each module's command line and environment: secrets must stay out.
    run = release("second-release", "-erelease_version=v1.1.0", "-vvv")
    assert run.returncode == 0, run.failures() or run.output[-3000:]
    with emulated_aws(rehearsal) as aws:
        assert service_revision(aws) == f"{FAMILY}:2"


def test_broken_release_is_rolled_back(rehearsal, release):
    # The new revision's service never turns ready: its model cache is not where it says.
    run = release(
        "broken-release",
        "-erelease_version=v1.2.0",
        '-e{"ecs_deploy_extra_environment": {"FINNEWS_MODEL_CACHE_DIR": "/nonexistent/models"}}',
        "-eservice_readiness_timeout=120",
    )
    assert run.returncode != 0
    assert "ROLLED BACK: v1.2.0 failed to deploy" in run.messages(), run.failures()
    assert "RELEASE FAILED" in run.messages()
    assert f"{FAMILY}:2 (v1.1.0) again, stable and ready" in run.messages()
    # The restored stand-in really served v1.1.0 again.
    served = run.results("service_readiness : Wait until the service is ready with v1.1.0")
    assert served and served[-1]["status"] == 200 and served[-1]["json"]["version"] == "v1.1.0"
    assert_stopped(rehearsal)
    with emulated_aws(rehearsal) as aws:
        assert service_revision(aws) == f"{FAMILY}:2"
        assert revision_status(aws, 3) == "INACTIVE"


def test_rollback_by_hand(rehearsal, release):
    run = release("rollback-by-hand", "--tags=rollback")
    assert run.returncode == 0, run.failures() or run.output[-3000:]
    assert f"{FAMILY}:1 (v1.0.0) again" in run.messages()
    with emulated_aws(rehearsal) as aws:
        assert service_revision(aws) == f"{FAMILY}:1"
        assert revision_status(aws, 2) == "INACTIVE"


def test_secrets_never_in_the_output(rehearsal):
    values = secret_values(rehearsal)
    assert values and all(len(value) >= 32 for value in values)
    outputs = [path.read_text() for path in rehearsal.logs.iterdir()]
    assert len(outputs) >= 12
    for value in values:
        assert not any(value in output for output in outputs)


def test_validation_reports_keep_history_provenance_and_edge_checks(rehearsal):
    """What the validate phase published across the releases above (issue #12)."""
    import yaml

    reports = rehearsal.repo / "reports"
    summaries = [json.loads(path.read_text()) for path in sorted(reports.glob("*/*/summary.json"))]
    attempts = {}
    for summary in summaries:
        attempts.setdefault(summary["release"], []).append(summary)
    # Every attempt kept: v1.0.0 validated twice (the first release and its re-run), v1.1.0 once;
    # v1.2.0 never deployed, so never validated; check mode validates nothing.
    assert {release: len(found) for release, found in attempts.items()} == {"v1.0.0": 2, "v1.1.0": 1}
    second = attempts["v1.1.0"][0]
    assert second["passed"], second["failed"]
    provenance = second["provenance"]
    assert provenance["environment"] == "local" and provenance["backend"] == "embedded"
    assert provenance["service_version"] == "v1.1.0" and len(provenance["commit"]) == 40
    assert provenance["image"].endswith("/finbert-rag/api:v1.1.0") and provenance["image_digest"]
    assert (provenance["tasks"], provenance["workers"]) == (1, 1)
    # Compared with the last passing release of the environment: every regression gate ran.
    assert second["baseline"]["release"] == "v1.0.0"
    regression = [c for c in second["checks"] if c["notebook"] == "regression"]
    assert regression and all(c["status"] == "pass" for c in regression)
    assert all(
        c["status"] == "not applicable" for c in attempts["v1.0.0"][0]["checks"] if c["notebook"] == "regression"
    )
    # The edge checks: tokens and the stand-in's log ran; what cannot run here says why.
    edge = {c["name"]: c for c in second["checks"] if c["notebook"] == "edge"}
    for name in ("search without a token refused with 401", "log lines read", "secrets in the service's logs"):
        assert edge[name]["status"] == "pass", edge[name]
    profile = yaml.safe_load((ROOT / "inventories/local/group_vars/all/main.yml").read_text())[
        "release_validation_profile"
    ]
    assert edge["certificate valid for the domain"]["detail"] == profile["not_applicable"]["https"]
    targets = edge["registered targets healthy"]
    assert targets["status"] == "pass" or targets["detail"] == profile["not_applicable"].get("targets")
    assert second["overrides"]["requests_per_endpoint"]["origin"] == "profile"
    index = (reports / "index.html").read_text()
    assert all(f"{s['release']}/{s['attempt']}/summary.json" in index for s in summaries) and "Trend: local" in index
    for value in secret_values(rehearsal):
        assert not [path for path in reports.rglob("*") if path.is_file() and value.encode() in path.read_bytes()]
