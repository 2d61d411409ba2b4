"""A first release's plan: `ansible-playbook release.yml -i inventories/production --check --diff`
on an account that holds only the prerequisites (docs/operating.md, First production release).

Check mode asks AWS for reads only (moto's recording of every request), every phase completes,
and plugins/callback/release_plan.py prints the plan at the end, phase by phase: what would
change, and the new task definition's image, environment and secrets - their names and versions,
never their values. Then the same after the secrets phase ran once and one secret was changed by
hand: the plan names the version a secret's tasks would read, or says a new one would be written.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.helpers import ROOT
from tests.runbook_runs import (
    BIN,
    PRODUCTION_ACCOUNT,
    RecordedAccount,
    aws_client_factory,
    moto_server,
    playbook_environment,
    production_prerequisites,
    run_playbook,
    writes_of,
)
from tools.benchmark import free_port

pytestmark = [pytest.mark.timeout(1800), pytest.mark.slow]

PHASES = (
    "Registry",
    "Secrets",
    "IAM",
    "Infrastructure",
    "Monitoring",
    "Deploy",
    "Validate",
    "Switch",
    "Autoscaling",
    "Retire",
)
TAGS = ",".join(phase.lower() for phase in PHASES)
COMMIT = "c0ffee" * 6 + "c0ff"
IMAGE = f"{PRODUCTION_ACCOUNT}.dkr.ecr.ap-south-1.amazonaws.com/finbert-rag/production/api:build-v2.0.0-{COMMIT}"
SECRETS = {"FINNEWS_ES_API_KEY": "plan-es-api-key-0123456789abcdef", "FINNEWS_API_TOKENS": "plan" * 10 + "," + "x" * 40}
ES_SECRET = "finbert-rag/production/elasticsearch"
TOKENS_SECRET = "finbert-rag/production/api-tokens"


@pytest.fixture(scope="module")
def account(tmp_path_factory):
    """moto as the production account with the prerequisites only; release() runs the runbook."""
    base = tmp_path_factory.mktemp("release-plan")
    recording = base / "moto-recording.jsonl"
    with moto_server(
        free_port(),
        base / "moto.log",
        MOTO_ACCOUNT_ID=PRODUCTION_ACCOUNT,
        MOTO_IAM_LOAD_MANAGED_POLICIES="true",
        MOTO_ENABLE_RECORDING="true",
        MOTO_RECORDER_FILEPATH=str(recording),
    ) as url:
        aws = aws_client_factory(url)
        network = production_prerequisites(aws)
        operator = {
            "network_vpc_id": network["vpc"],
            "network_public_subnet_ids": network["public"],
            "network_private_subnet_ids": network["private"],
            "service_monitoring_alarm_subscriptions": [{"endpoint": "oncall@example.com", "protocol": "email"}],
            # moto: the load balancer has no such attribute until one is set (inventories/local).
            "load_balancer_drop_invalid_header_fields": None,
            "release_commit": COMMIT,
        }
        (base / "operator.json").write_text(json.dumps(operator))
        # The operator's shell is in another region; the inventory names the release's.
        environment = {**playbook_environment(url, region="us-east-1"), **SECRETS}

        class Account(RecordedAccount):
            def release(self, name, *args, tags=TAGS):
                command = [str(BIN / "ansible-playbook"), "release.yml", "-i", "inventories/production"]
                command += [f"--tags={tags}", "-erelease_version=v2.0.0", f"-e@{base / 'operator.json'}", *args]
                plan_file = base / f"{name}-plan.md"
                run = self.playbook(name, command, env={"RELEASE_PLAN_FILE": str(plan_file)})
                run.plan_file = plan_file
                return run

        account = Account(aws, recording, base, environment)
        yield account


def printed_plan(output: str) -> dict[str, list[str]]:
    """The plan the callback printed: each phase's lines, by the phase's name."""
    assert output.count("RELEASE PLAN (check mode)") == 1, output[-3000:]
    block = output.split("RELEASE PLAN (check mode)", 1)[1].split("\n", 1)[1]
    plan: dict[str, list[str]] = {}
    lines: list[str] = []
    for line in block.splitlines():
        if not line.strip():
            break
        if line.startswith(" "):
            lines.append(line.strip())
        else:
            lines = plan[line.split(" |")[0]] = []
    return plan


@pytest.fixture(scope="module")
def first_plan(account):
    run = account.release("check-empty-account", "--check", "--diff")
    return run, account.requests()


def test_check_mode_on_an_empty_account_completes_and_writes_nothing(first_plan):
    run, requests = first_plan
    assert run.returncode == 0, run.explain()
    # Each phase read what it would change (the recording holds them), and wrote nothing.
    assert {"DescribeSecret", "GetRole", "DescribeLoadBalancers", "DescribeServices"} <= {
        r["operation"] for r in requests
    }
    assert not writes_of(requests)


def test_the_plan_says_per_phase_what_a_first_release_would_create(first_plan):
    run, _ = first_plan
    plan = printed_plan(run.output)
    assert tuple(plan) == PHASES
    assert "would change: Create and configure the ECR repositories" in plan["Registry"]
    assert "would change: Store the secrets in Secrets Manager" in plan["Secrets"]
    assert "would change: Create the task execution role finbert-rag-production-task-execution" in plan["IAM"]
    assert "would change: Create the ECS cluster finbert-rag-production" in plan["Infrastructure"]
    assert "would point search.finbert-rag.example.com at" in "\n".join(plan["Infrastructure"])
    assert "would change: Create the alarms" in plan["Monitoring"]
    assert "would change: Register the task definition of v2.0.0" in plan["Deploy"]
    assert "would validate v2.0.0" in "\n".join(plan["Validate"])
    # Users would reach the slot the deploy would deploy to, and autoscaling would follow them.
    assert (
        "would switch users to v2.0.0 on finbert-rag-api-green once it passed its validation, "
        "then give its image the tags v2.0.0, prod, latest" in plan["Switch"]
    )
    assert "would keep finbert-rag-api-green between 2 and 6 tasks" in "\n".join(plan["Autoscaling"])
    assert plan["Retire"] == ["nothing to change"]


def test_the_plan_shows_the_new_task_definition(first_plan):
    run, _ = first_plan
    deploy = printed_plan(run.output)["Deploy"]
    assert "task definition: a new revision of finbert-rag-production-api" in deploy
    assert f"image: {IMAGE}" in deploy
    assert "FINNEWS_ES_HOSTS: https://search-es.finbert-rag.example.com:9200" in deploy
    assert "FINNEWS_APP_VERSION: v2.0.0" in deploy
    assert f"FINNEWS_ES_API_KEY: {ES_SECRET} key api_key, a new secret" in deploy
    assert f"FINNEWS_API_TOKENS: {TOKENS_SECRET} key tokens, a new secret" in deploy


def test_no_secret_value_in_the_output_or_the_plan_file(first_plan):
    run, _ = first_plan
    written = run.plan_file.read_text()
    for value in [*SECRETS.values(), *SECRETS["FINNEWS_API_TOKENS"].split(",")]:
        assert value not in run.output
        assert value not in written


def test_the_plan_file_is_the_printed_plan_in_markdown(first_plan):
    run, _ = first_plan
    written = run.plan_file.read_text()
    assert written.startswith("# RELEASE PLAN (check mode)\n")
    for phase, lines in printed_plan(run.output).items():
        assert f"\n## {phase} |" in written
        for line in lines:
            assert f"- {line}\n" in written


def test_the_plan_names_the_secret_versions_tasks_would_read(account, first_plan):
    """After the secrets phase stored both secrets and someone changed one by hand, the plan names
    the version the unchanged one's tasks would read and says the other would get a new one."""
    stored = account.release("store-secrets", tags="secrets")
    assert stored.returncode == 0, stored.explain()
    secrets = account.aws("secretsmanager")
    secrets.put_secret_value(SecretId=ES_SECRET, SecretString=json.dumps({"api_key": "changed-by-hand-" + "z" * 24}))
    current = secrets.describe_secret(SecretId=TOKENS_SECRET)["VersionIdsToStages"]
    (tokens_version,) = [version for version, stages in current.items() if "AWSCURRENT" in stages]

    run = account.release("check-stored-secrets", "--check", "--diff")
    assert run.returncode == 0, run.explain()
    assert not writes_of(account.requests())
    deploy = printed_plan(run.output)["Deploy"]
    assert f"FINNEWS_API_TOKENS: {TOKENS_SECRET} key tokens, version {tokens_version}" in deploy
    assert f"FINNEWS_ES_API_KEY: {ES_SECRET} key api_key, a new version" in deploy
    assert "would change: Store the secrets in Secrets Manager" in printed_plan(run.output)["Secrets"]
    assert "changed-by-hand" not in run.output


def test_a_run_outside_check_mode_prints_no_plan(tmp_path):
    """The plan is check mode's: a run that changes things prints none (and writes no file)."""
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - name: Change something\n      ansible.builtin.debug:\n        msg: changed\n      changed_when: true\n"
    )
    plan_file = tmp_path / "plan.md"
    env = {"RELEASE_PLAN_FILE": str(plan_file)}
    command = [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)]
    run = run_playbook("not-check-mode", command, ROOT, tmp_path, env=env)
    assert run.returncode == 0, run.explain()
    assert "RELEASE PLAN" not in run.output and not plan_file.exists()
    checked = run_playbook("check-mode", [*command, "--check"], ROOT, tmp_path, env=env)
    assert printed_plan(checked.output) == {"localhost": ["would change: Change something"]}


def test_the_callback_is_found_through_ansible_cfg_with_its_documentation():
    result = subprocess.run(
        [str(BIN / "ansible-doc"), "--json", "-t", "callback", "release_plan"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)["release_plan"]["doc"]
    assert doc["filename"] == str(ROOT / "plugins" / "callback" / "release_plan.py")
    assert doc["options"]["file"]["env"] == [{"name": "RELEASE_PLAN_FILE"}]
