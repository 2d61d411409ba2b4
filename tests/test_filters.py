"""The runbook's filters (plugins/filter). task_definition_revision: a task definition ARN, or a
family:revision, becomes family:revision; anything else is an error. secret_value_from: a
container secret's valueFrom in its parts, as ECS reads it. certificate_covering: the ACM
certificate the load balancer's listeners use. service_configuration_changed: whether a live ECS
service's network or circuit breaker differs from the release's. Called as a function, and
through Ansible as the roles call it (found by ansible.cfg's filter_plugins, mapped over a list)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT

BIN = Path(sys.executable).parent
FILTERS = ROOT / "plugins" / "filter"
ARN = "arn:aws:ecs:ap-south-1:123456789012:task-definition/finbert-rag-production-api:41"


# The plugin imports ansible, and Ansible must stay out of the test process (its module utilities
# patch the interpreter in ways torch's compiler does not accept): the filter runs in a process of
# its own, called with each value in turn.
CALLER = """
import importlib.util, json, sys
from ansible.errors import AnsibleFilterError
spec = importlib.util.spec_from_file_location(sys.argv[2] + "_filter", sys.argv[1])
plugin = importlib.util.module_from_spec(spec)
spec.loader.exec_module(plugin)
function = plugin.FilterModule().filters()[sys.argv[2]]
for line in sys.stdin:
    try:
        print(json.dumps({"value": function(json.loads(line))}))
    except Exception as exc:
        kind = "AnsibleFilterError" if isinstance(exc, AnsibleFilterError) else type(exc).__name__
        print(json.dumps({"error": kind, "message": str(exc)}))
"""


def filter_function(name: str, caller: str = CALLER):
    """The filter NAME as a function of a value: what it returns, or the exception's type and message."""

    def call(value):
        process = subprocess.run(
            [sys.executable, "-c", caller, str(FILTERS / f"{name}.py"), name],
            input=json.dumps(value) + "\n",
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return json.loads(process.stdout)

    return call


def filter_of_arguments(name: str):
    """The filter NAME as a function of its input and its arguments."""
    call = filter_function(name, CALLER.replace("function(json.loads(line))", "function(*json.loads(line))"))
    return lambda *arguments: call(list(arguments))


@pytest.fixture(scope="module")
def task_definition_revision():
    return filter_function("task_definition_revision")


@pytest.mark.parametrize(
    "name",
    [
        ARN,
        # Other partitions' ARNs.
        "arn:aws-cn:ecs:cn-north-1:123456789012:task-definition/finbert-rag-production-api:41",
        "arn:aws-us-gov:ecs:us-gov-west-1:123456789012:task-definition/finbert-rag-production-api:41",
        # What moto stores after UpdateService, and what the roles pass around.
        "finbert-rag-production-api:41",
    ],
)
def test_arn_or_revision_gives_the_revision(task_definition_revision, name):
    assert task_definition_revision(name) == {"value": "finbert-rag-production-api:41"}


def test_family_may_hold_underscores_and_capitals(task_definition_revision):
    assert task_definition_revision("arn:aws:ecs:eu-west-1:000000000000:task-definition/My_Task-2:1") == {
        "value": "My_Task-2:1"
    }


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "finbert-rag-production-api",  # a family without its revision
        "finbert-rag-production-api:latest",
        "finbert-rag-production-api:0",  # revisions count from 1
        "arn:aws:ecs:ap-south-1:123456789012:service/finbert-rag-production/finbert-rag-api",
        "arn:aws:ecs:ap-south-1:123456789012:task-definition/finbert-rag-production-api",
        "arn:aws:ecs:ap-south-1:12345:task-definition/finbert-rag-production-api:41",  # not an account id
        ARN + "\n",
        " " + ARN,
        "family with spaces:1",
        None,
        41,
        ["finbert-rag-production-api:41"],
    ],
)
def test_anything_else_is_an_error(task_definition_revision, garbage):
    result = task_definition_revision(garbage)
    assert result["error"] == "AnsibleFilterError", result
    assert "neither a task definition ARN nor a family:revision" in result["message"]


SECRET = "arn:aws:secretsmanager:ap-south-1:123456789012:secret:finbert-rag/production/api-tokens-AbCdEf"


@pytest.mark.parametrize(
    ("value_from", "parts"),
    [
        (f"{SECRET}:tokens::0b5f8c1e-version", ("tokens", "", "0b5f8c1e-version")),
        (f"{SECRET}:api_key:AWSCURRENT:", ("api_key", "AWSCURRENT", "")),
        (SECRET, ("", "", "")),
    ],
)
def test_a_value_from_splits_as_ecs_reads_it(value_from, parts):
    json_key, version_stage, version_id = parts
    assert filter_function("secret_value_from")(value_from) == {
        "value": {"secret": SECRET, "json_key": json_key, "version_stage": version_stage, "version_id": version_id}
    }


@pytest.mark.parametrize(
    "garbage", ["", "finbert-rag/production/api-tokens", "arn:aws:ssm:ap-south-1:123456789012:parameter/x:y", None]
)
def test_a_value_from_of_no_secret_is_an_error(garbage):
    result = filter_function("secret_value_from")(garbage)
    assert (
        result["error"] == "AnsibleFilterError" and "is not a Secrets Manager secret's valueFrom" in result["message"]
    )


def ansible_debug(expression: str) -> subprocess.CompletedProcess:
    """`expression` templated by ansible from the repository root, where ansible.cfg is."""
    return subprocess.run(
        [str(BIN / "ansible"), "localhost", "-c", "local", "-i", "localhost,", "-o",
         "-e", f"ansible_python_interpreter={sys.executable}",
         "-m", "ansible.builtin.debug", "-a", f"msg={{{{ {expression} }}}}"],
        cwd=ROOT, env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.slow
def test_roles_find_it_through_ansible_cfg():
    services = [{"taskDefinition": ARN}, {"taskDefinition": "finbert-rag-production-api:40"}]
    result = ansible_debug(
        f"{json.dumps(services)} | map(attribute='taskDefinition') | map('task_definition_revision')"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout.split("=>", 1)[1])["msg"] == [
        "finbert-rag-production-api:41",
        "finbert-rag-production-api:40",
    ]

    failed = ansible_debug("'finbert-rag-production-api' | task_definition_revision")
    assert failed.returncode != 0
    assert "'finbert-rag-production-api' is neither a task definition ARN nor a family:revision" in failed.stdout


# ACM's certificates as community.aws.acm_certificate_info returns them (the fields the filter reads).
def certificate(arn: str, domain_name: str, *alternative_names: str, not_after: str = "2027-06-01T00:00:00+00:00"):
    return {
        "certificate_arn": f"arn:aws:acm:ap-south-1:123456789012:certificate/{arn}",
        "domain_name": domain_name,
        "subject_alternative_names": [domain_name, *alternative_names],
        "not_after": not_after,
        "status": "ISSUED",
    }


def covering(certificates: list[dict], names: list[str]) -> dict:
    """certificate_covering's answer for CERTIFICATES and NAMES."""
    return filter_of_arguments("certificate_covering")(certificates, names)


def chosen(certificates: list[dict], names: list[str]) -> str:
    """The end of the chosen certificate's ARN; '' for none."""
    result = covering(certificates, names)
    assert "value" in result, result
    return result["value"].get("arn", "").rsplit("/", 1)[-1]


SERVICE = "search.example.com"


@pytest.mark.parametrize(
    ("certificates", "names", "arn"),
    [
        ([certificate("exact", SERVICE)], [SERVICE], "exact"),
        ([certificate("alternative", "www.example.com", SERVICE)], [SERVICE], "alternative"),
        ([certificate("wildcard", "*.example.com")], [SERVICE], "wildcard"),
        # A wildcard stands for one label: *.example.com does not cover a.search.example.com.
        ([certificate("wildcard", "*.example.com")], ["a.search.example.com"], ""),
        ([certificate("apex", "example.com")], [SERVICE], ""),
        # DNS names ignore case; ACM keeps them as requested.
        ([certificate("upper", "*.Example.COM")], ["Search.Example.com"], "upper"),
        ([certificate("other", "search.example.org")], [SERVICE], ""),
        ([], [SERVICE], ""),
    ],
    ids=["exact", "alternative name", "wildcard", "wildcard-two-labels", "apex", "case", "other", "none"],
)
def test_a_certificate_covers_a_name_by_itself_or_a_wildcard_of_its_parent(certificates, names, arn):
    assert chosen(certificates, names) == arn


def test_a_certificate_covers_every_name_or_none():
    earlier = "search.earlier.example.net"
    names = [SERVICE, earlier]
    assert chosen([certificate("service", SERVICE), certificate("earlier", earlier)], names) == ""
    both = certificate("both", SERVICE, "*.earlier.example.net")
    assert chosen([certificate("service", SERVICE), both], names) == "both"
    assert covering([both], names)["value"]["names"] == [SERVICE, SERVICE, "*.earlier.example.net"]


def test_the_certificate_valid_longest_wins_and_the_service_s_own_name_before_a_wildcard():
    older = certificate("older", SERVICE, not_after="2027-01-01T00:00:00+00:00")
    newer = certificate("newer", SERVICE, not_after="2027-09-01T00:00:00+00:00")
    assert chosen([older, newer], [SERVICE]) == "newer"
    assert chosen([newer, older], [SERVICE]) == "newer"
    # A wildcard valid longer still comes after a certificate naming the service itself.
    wildcard = certificate("wildcard", "*.example.com", not_after="2028-01-01T00:00:00+00:00")
    assert chosen([wildcard, older], [SERVICE]) == "older"
    assert chosen([wildcard, certificate("elsewhere", "search.example.org")], [SERVICE]) == "wildcard"


@pytest.mark.parametrize(
    ("certificates", "names", "message"),
    [
        ([{"certificate_arn": "arn:x", "domain_name": SERVICE}], [SERVICE], "the certificate 'arn:x' has no not_after"),
        (None, [SERVICE], "expects a list of ACM certificates"),
        ([certificate("exact", SERVICE)], [], "expects a non-empty list of names to cover"),
        ([certificate("exact", SERVICE)], SERVICE, "expects a non-empty list of names to cover"),
    ],
    ids=["no-not_after", "no-list", "no-names", "a-string"],
)
def test_a_malformed_certificate_or_name_list_is_an_error(certificates, names, message):
    result = covering(certificates, names)
    assert result["error"] == "AnsibleFilterError" and message in result["message"], result


@pytest.mark.slow
def test_none_covering_fails_the_load_balancer_s_check_with_its_message(tmp_path):
    """The load balancer role's own two tasks, as it runs them, on certificates covering neither
    name: the check fails with the message the operator knows (docs/troubleshooting.md)."""
    tasks = yaml.safe_load((ROOT / "roles/load_balancer/tasks/main.yml").read_text())
    choose, check = (next(task for task in tasks if task["name"].startswith(start)) for start in ("Choose", "Check a"))
    playbook = tmp_path / "certificate.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Choose",
                    "hosts": "localhost",
                    "gather_facts": False,
                    "vars": {
                        "load_balancer_certificates": {
                            "certificates": [
                                certificate("wildcard", "*.example.com"),
                                certificate("x", "x.example.org"),
                            ]
                        },
                        "load_balancer_names": ["search.example.com", "a.search.earlier.example.com"],
                    },
                    "tasks": [choose, check],
                }
            ]
        )
    )
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), str(playbook), "-i", "localhost,", "-c", "local",
         "-e", f"ansible_python_interpreter={sys.executable}"],
        cwd=ROOT, env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode != 0
    assert (
        "no issued ACM certificate in this account and region covers search.example.com and"
        " a.search.earlier.example.com (by its own name or a wildcard of its parent): request one in ACM"
        " (DNS validation) before the first release"
    ) in result.stdout, result.stdout[-3000:]


# A live service as DescribeServices answers it, and the release's network and circuit breaker.
RELEASE_NETWORK = {"subnets": ["subnet-a", "subnet-b"], "securityGroups": ["sg-1"], "assignPublicIp": "DISABLED"}
RELEASE_BREAKER = {"enable": True, "rollback": True}


def live_service(network: dict | None = None, breaker: dict | None = None, **configuration) -> dict:
    service = {"serviceName": "finbert-rag-api", "networkConfiguration": {"awsvpcConfiguration": network or {}}}
    if breaker is not None:
        service["deploymentConfiguration"] = {"deploymentCircuitBreaker": breaker, **configuration}
    return service


def configuration_changed(service, network=RELEASE_NETWORK, breaker=RELEASE_BREAKER) -> dict:
    return filter_of_arguments("service_configuration_changed")(service, network, breaker)


@pytest.mark.parametrize(
    ("service", "changed"),
    [
        # Before the service's first release there is nothing to compare.
        ({}, False),
        (live_service(RELEASE_NETWORK, RELEASE_BREAKER), False),
        (live_service({**RELEASE_NETWORK, "subnets": ["subnet-b", "subnet-a"]}, RELEASE_BREAKER), False),
        (live_service({"subnets": ["subnet-a", "subnet-b"], "securityGroups": ["sg-1"]}, RELEASE_BREAKER), False),
        (live_service({**RELEASE_NETWORK, "subnets": ["subnet-c"]}, RELEASE_BREAKER), True),
        (live_service({**RELEASE_NETWORK, "securityGroups": ["sg-2"]}, RELEASE_BREAKER), True),
        (live_service({**RELEASE_NETWORK, "assignPublicIp": "ENABLED"}, RELEASE_BREAKER), True),
        (live_service(None, RELEASE_BREAKER), True),
        # A field a later ECS API reports beside the two the release sets.
        (live_service(RELEASE_NETWORK, {**RELEASE_BREAKER, "monitoringWindowSeconds": 300}), False),
        (live_service(RELEASE_NETWORK, RELEASE_BREAKER, maximumPercent=200, minimumHealthyPercent=100), False),
        (live_service(RELEASE_NETWORK, {"enable": True, "rollback": False}), True),
        (live_service(RELEASE_NETWORK, {"enable": False, "rollback": True}), True),
        (live_service(RELEASE_NETWORK, {"enable": True}), True),
        (live_service(RELEASE_NETWORK, {}), True),
        # An answer without a deployment configuration says nothing of the circuit breaker.
        (live_service(RELEASE_NETWORK), False),
    ],
    ids=[
        "no-service",
        "as-released",
        "subnets-reordered",
        "assign-public-ip-by-default",
        "another-subnet",
        "another-security-group",
        "public-ip",
        "no-network",
        "a-field-ecs-added",
        "other-deployment-settings",
        "rollback-off",
        "breaker-off",
        "rollback-missing",
        "no-breaker",
        "no-deployment-configuration",
    ],
)
def test_a_service_s_configuration_changes_only_by_its_network_or_circuit_breaker(service, changed):
    assert configuration_changed(service) == {"value": changed}


def test_the_release_s_own_settings_decide_too():
    service = live_service(RELEASE_NETWORK, {"enable": True, "rollback": False})
    assert configuration_changed(service, breaker={"enable": True, "rollback": False}) == {"value": False}
    network = {**RELEASE_NETWORK, "subnets": ["subnet-b", "subnet-a"]}
    assert configuration_changed(live_service(RELEASE_NETWORK, RELEASE_BREAKER), network=network) == {"value": False}


@pytest.mark.parametrize(
    ("service", "network", "breaker", "message"),
    [
        (None, RELEASE_NETWORK, RELEASE_BREAKER, "expects a service (a dict), got None"),
        ({}, {"subnets": []}, RELEASE_BREAKER, "the release's network needs subnets, securityGroups, assignPublicIp"),
        ({}, RELEASE_NETWORK, {"enable": True}, "the release's circuit breaker needs enable, rollback"),
    ],
    ids=["no-service", "network", "breaker"],
)
def test_a_malformed_configuration_is_an_error(service, network, breaker, message):
    result = configuration_changed(service, network, breaker)
    assert result["error"] == "AnsibleFilterError" and message in result["message"], result
