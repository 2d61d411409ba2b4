"""The repository's cloudwatch_dashboard module (plugins/modules), run as Ansible runs a module (its
own process, arguments from a file) against moto's CloudWatch: creation, idempotence, update with
diff, check mode and deletion. Ansible is kept out of the test process: importing its module
utilities patches the interpreter in ways torch's compiler does not accept."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
import requests

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
MODULE = ROOT / "plugins" / "modules" / "cloudwatch_dashboard.py"
REGION = "ap-south-1"
BODY = {"widgets": [{"type": "text", "x": 0, "y": 0, "width": 6, "height": 2, "properties": {"markdown": "v1"}}]}


@pytest.fixture(scope="module")
def moto_url():
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "--host=127.0.0.1", f"--port={port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"{url}/moto-api/", timeout=2)
            break
        except requests.ConnectionError:
            assert time.monotonic() < deadline and server.poll() is None, "moto did not start"
            time.sleep(0.2)
    yield url
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture
def cloudwatch(moto_url):
    requests.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()
    return boto3.client(
        "cloudwatch",
        endpoint_url=moto_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def run(moto_url, tmp_path):
    def run(check_mode=False, diff=False, **args):
        connection = {"region": REGION, "endpoint_url": moto_url, "access_key": "testing", "secret_key": "testing"}
        arguments = {**connection, "_ansible_check_mode": check_mode, "_ansible_diff": diff, **args}
        (tmp_path / "args.json").write_text(json.dumps({"ANSIBLE_MODULE_ARGS": arguments}))
        process = subprocess.run(
            [sys.executable, str(MODULE), str(tmp_path / "args.json")], capture_output=True, text=True, timeout=120
        )
        result = json.loads(process.stdout)
        assert process.returncode == (1 if result.get("failed") else 0), process.stderr
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
