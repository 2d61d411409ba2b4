"""The repository's cloudwatch_dashboard module (plugins/modules), run in-process against moto's
CloudWatch: creation, idempotence, update with diff, check mode and deletion."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import boto3
import pytest
from ansible.module_utils.testing import patch_module_args
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[1]
REGION = "ap-south-1"
BODY = {"widgets": [{"type": "text", "x": 0, "y": 0, "width": 6, "height": 2, "properties": {"markdown": "v1"}}]}


@pytest.fixture(scope="module")
def module():
    spec = importlib.util.spec_from_file_location(
        "cloudwatch_dashboard", ROOT / "plugins/modules/cloudwatch_dashboard.py"
    )
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


@pytest.fixture
def cloudwatch(monkeypatch):
    for variable in ("AWS_ENDPOINT_URL", "AWS_URL", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("cloudwatch", region_name=REGION)


@pytest.fixture
def run(module, capsys):
    def run(check_mode=False, diff=False, **args):
        args = {"region": REGION, "_ansible_check_mode": check_mode, "_ansible_diff": diff, **args}
        with patch_module_args(args), pytest.raises(SystemExit) as exit_:
            module.main()
        result = json.loads(capsys.readouterr().out)
        assert exit_.value.code == (1 if result.get("failed") else 0)
        return result

    return run


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
