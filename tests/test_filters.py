"""The runbook's filters (plugins/filter). task_definition_revision: a task definition ARN, or a
family:revision, becomes family:revision; anything else is an error. secret_value_from: a
container secret's valueFrom in its parts, as ECS reads it. Called as a function, and
through Ansible as the roles call it (found by ansible.cfg's filter_plugins, mapped over a list)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

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


def filter_function(name: str):
    """The filter NAME as a function of a value: what it returns, or the exception's type and message."""

    def call(value):
        process = subprocess.run(
            [sys.executable, "-c", CALLER, str(FILTERS / f"{name}.py"), name],
            input=json.dumps(value) + "\n",
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return json.loads(process.stdout)

    return call


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
