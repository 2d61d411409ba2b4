"""The repository's cloudwatch_dashboard module (plugins/modules), run as Ansible runs a module
against moto's CloudWatch: creation, idempotence, update with diff, check mode and deletion."""

from __future__ import annotations

import json

import pytest

from tests.helpers import ROOT
from tests.runbook_runs import ansible_module_runner, aws_client

# Each test runs Ansible or its modules in processes of their own, against moto.
pytestmark = pytest.mark.slow

MODULE = ROOT / "plugins" / "modules" / "cloudwatch_dashboard.py"
BODY = {"widgets": [{"type": "text", "x": 0, "y": 0, "width": 6, "height": 2, "properties": {"markdown": "v1"}}]}


@pytest.fixture
def cloudwatch(moto_url):
    return aws_client("cloudwatch", moto_url)


@pytest.fixture
def run(moto_url, tmp_path):
    return ansible_module_runner(MODULE, moto_url, tmp_path)


def stored(cloudwatch, name="svc"):
    return json.loads(cloudwatch.get_dashboard(DashboardName=name)["DashboardBody"])


def test_creates_then_changes_nothing(cloudwatch, run):
    first = run(name="svc", body=BODY)
    assert first["changed"] and stored(cloudwatch) == BODY
    assert first["dashboard"]["arn"].endswith(":dashboard/svc")

    second = run(name="svc", body=BODY)
    assert not second["changed"]


def test_body_given_as_text_compares_as_json(cloudwatch, run):
    run(name="svc", body=BODY)
    # Same document, other key order and spacing.
    text = json.dumps({"widgets": [dict(reversed(list(BODY["widgets"][0].items())))]}, indent=4)
    assert not run(name="svc", body=text)["changed"]


def test_update_reports_a_diff(cloudwatch, run):
    run(name="svc", body=BODY)
    updated = {"widgets": [{**BODY["widgets"][0], "properties": {"markdown": "v2"}}]}
    result = run(name="svc", body=updated, diff=True)
    assert result["changed"] and stored(cloudwatch) == updated
    assert '"markdown": "v1"' in result["diff"]["before"] and '"markdown": "v2"' in result["diff"]["after"]


def test_check_mode_changes_nothing(cloudwatch, run):
    result = run(name="svc", body=BODY, check_mode=True, diff=True)
    assert result["changed"] and result["diff"]["before"] == ""
    assert cloudwatch.list_dashboards()["DashboardEntries"] == []

    run(name="svc", body=BODY)
    updated = {"widgets": []}
    assert run(name="svc", body=updated, check_mode=True)["changed"]
    assert stored(cloudwatch) == BODY

    assert run(name="svc", state="absent", check_mode=True)["changed"]
    assert stored(cloudwatch) == BODY


def test_absent_deletes_once(cloudwatch, run):
    run(name="svc", body=BODY)
    assert run(name="svc", state="absent")["changed"]
    assert cloudwatch.list_dashboards()["DashboardEntries"] == []
    assert not run(name="svc", state="absent")["changed"]


def test_present_needs_a_body(cloudwatch, run):
    result = run(name="svc")
    assert result["failed"] and "body" in result["msg"]
