"""roles/ecs_rollout_wait against a fake ECS that answers DescribeServices as a script says: a
rollout ECS's deployment circuit breaker failed and rolled back stops the wait on the first
answer that shows it (not at the timeout), and a rollout that completes still passes.

With the breaker's rollback on, ECS answers a failed deployment by starting a new PRIMARY
deployment of the previous revision; the failed one (our revision) turns ACTIVE with
rolloutState FAILED, then disappears. All scenarios run in one ansible-playbook run, each in a
block whose rescue notes the role's failure message; the fake counts the DescribeServices calls
each scenario's service received (one per poll)."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.helpers import ROOT
from tests.runbook_runs import BIN, REGION, JsonAnswers, run_playbook, serve_on_loopback

# One ansible-playbook run (several seconds), and a server of its own.
pytestmark = pytest.mark.slow

ACCOUNT = "000000000000"
CLUSTER = "finbert-rag-production"
FAMILY = "finbert-rag-production-api"
OURS, OLD = f"{FAMILY}:42", f"{FAMILY}:41"
TARGET = "AmazonEC2ContainerServiceV20141113.DescribeServices"
# What of the shell's AWS settings must not reach the run (the fake stands for the account).
OPERATOR_AWS = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_URL", "EC2_URL")
# Generous: a scenario that stops early stops on its first poll or two, whatever the machine.
TIMEOUT, POLL = 60, 1


def arn(revision: str) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{revision}"


def deployment(status: str, revision: str, state: str, running: int, reason: str = "", **extra) -> dict:
    return {
        "id": f"ecs-svc/{abs(hash((status, revision, state))) % 10**12}",
        "status": status,
        # ECS names a deployment's revision by its ARN (the role is given family:revision).
        "taskDefinition": arn(revision),
        "desiredCount": 2,
        "runningCount": running,
        "pendingCount": 2 - running,
        "failedTasks": 0,
        "rolloutState": state,
        "rolloutStateReason": reason or f"ECS deployment {state.lower()}.",
        "createdAt": 1_700_000_000,
        "updatedAt": 1_700_000_100,
        **extra,
    }


def service(name: str, revision: str, deployments: list[dict], running: int, events: list[str]) -> dict:
    return {
        "serviceName": name,
        "serviceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/{name}",
        "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}",
        "status": "ACTIVE",
        "taskDefinition": arn(revision),
        "desiredCount": 2,
        "runningCount": running,
        "pendingCount": 2 - running,
        "deployments": deployments,
        "events": [
            {"id": str(i), "createdAt": 1_700_000_100 - i, "message": message} for i, message in enumerate(events)
        ],
    }


BREAKER_REASON = "ECS deployment circuit breaker: tasks failed to start."
FAILED_EVENT = "(service rolling-back) (deployment ecs-svc/42) deployment failed: tasks failed to start."
ROLLBACK_EVENT = "(service rolled-back) rolling back to deployment ecs-svc/41."

# What DescribeServices answers for each scenario's service, poll after poll (the last answer
# repeats), and how the wait must end.
SCENARIOS = {
    # The breaker failed our deployment and rolls back: PRIMARY runs the old revision again.
    "rolling-back": [
        service(
            "rolling-back",
            OLD,
            [
                deployment("PRIMARY", OLD, "IN_PROGRESS", 1),
                deployment("ACTIVE", OURS, "FAILED", 0, BREAKER_REASON, failedTasks=3),
            ],
            1,
            [FAILED_EVENT, "(service rolling-back) has started 1 tasks: (task 1)."],
        )
    ],
    # The rollback is over: our deployment is gone, the old revision's is the only one.
    "rolled-back": [
        service(
            "rolled-back",
            OLD,
            [deployment("PRIMARY", OLD, "COMPLETED", 2)],
            2,
            ["(service rolled-back) has reached a steady state.", ROLLBACK_EVENT],
        )
    ],
    # The breaker failed our deployment without a rollback: it stays PRIMARY, FAILED.
    "failed-in-place": [
        service(
            "failed-in-place",
            OURS,
            [
                deployment("PRIMARY", OURS, "FAILED", 0, BREAKER_REASON),
                deployment("ACTIVE", OLD, "COMPLETED", 2),
            ],
            2,
            [FAILED_EVENT],
        )
    ],
    # A rollout that completes on the second poll.
    "completes": [
        service(
            "completes",
            OURS,
            [deployment("PRIMARY", OURS, "IN_PROGRESS", 1), deployment("ACTIVE", OLD, "COMPLETED", 1)],
            2,
            ["(service completes) has started 1 tasks: (task 2)."],
        ),
        service(
            "completes",
            OURS,
            [deployment("PRIMARY", OURS, "COMPLETED", 2)],
            2,
            ["(service completes) has reached a steady state."],
        ),
    ],
    # No such service (DescribeServices names it among its failures): nothing to wait for.
    "missing": [None],
    # Credentials that expired (or lack the right): ECS refuses the call.
    "denied": ["ExpiredTokenException"],
    # moto (the rehearsal's ECS) points the service at the new revision but leaves its one
    # deployment naming the revision it was created with: that is no rollback.
    "emulated": [
        service("emulated", OURS, [deployment("PRIMARY", OLD, "COMPLETED", 2)], 2, []),
    ],
}


class FakeEcs:
    """DescribeServices on loopback (the JSON protocol), answering from SCENARIOS; counts calls."""

    def __init__(self):
        self.calls: dict[str, int] = {}
        self.refused: list[str] = []
        fake = self

        class Handler(JsonAnswers):
            content_type = "application/x-amz-json-1.1"  # ECS's JSON protocol

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                target = self.headers.get("X-Amz-Target", "")
                name = (body.get("services") or [""])[0].rsplit("/", 1)[-1]
                if target != TARGET or body.get("cluster") != CLUSTER or name not in SCENARIOS:
                    fake.refused.append(f"{target} {body}")
                    self.answer(400, {"__type": "InvalidParameterException", "message": "not in the fake's script"})
                    return
                fake.calls[name] = fake.calls.get(name, 0) + 1
                answers = SCENARIOS[name]
                found = answers[min(fake.calls[name], len(answers)) - 1]
                if isinstance(found, str):  # an error of the JSON protocol
                    self.answer(
                        400, {"__type": found, "message": "The security token included in the request is expired"}
                    )
                    return
                missing = [{"arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/{name}", "reason": "MISSING"}]
                self.answer(
                    200, {"services": [found], "failures": []} if found else {"services": [], "failures": missing}
                )

        self.server = serve_on_loopback(Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"


def scenario_block(name: str) -> dict:
    note = "{{ outcomes | combine({" + json.dumps(name) + ": %s}) }}"
    return {
        "name": f"Scenario {name}",
        "block": [
            {
                "name": f"Wait for the rollout of {name}",
                "ansible.builtin.include_role": {"name": "ecs_rollout_wait"},
                "vars": {
                    "ecs_rollout_wait_cluster": CLUSTER,
                    "ecs_rollout_wait_service": name,
                    "ecs_rollout_wait_task_definition": OURS,
                    "ecs_rollout_wait_timeout": TIMEOUT,
                    "ecs_rollout_wait_poll": POLL,
                },
            },
            {
                "name": f"Note that {name} completed",
                "ansible.builtin.set_fact": {"outcomes": note % "{'failed': false, 'msg': ''}"},
            },
        ],
        "rescue": [
            {
                "name": f"Note that {name} failed",
                "ansible.builtin.set_fact": {
                    "outcomes": note % "{'failed': true, 'msg': ansible_failed_result.msg | default('') | string}"
                },
            }
        ],
    }


@pytest.fixture(scope="module")
def waited(tmp_path_factory) -> tuple[dict, dict]:
    """Each scenario's outcome ({failed, msg}) and the DescribeServices calls its service got."""
    tmp_path = tmp_path_factory.mktemp("ecs-rollout-wait")
    ecs = FakeEcs()
    output = tmp_path / "outcomes.json"
    tasks = [{"name": "Start", "ansible.builtin.set_fact": {"outcomes": {}}}]
    tasks += [scenario_block(name) for name in SCENARIOS]
    tasks.append(
        {
            "name": "Write the outcomes",
            "ansible.builtin.copy": {"content": "{{ outcomes | to_json }}", "dest": str(output), "mode": "0600"},
        }
    )
    playbook = tmp_path / "wait.yml"
    playbook.write_text(
        yaml.safe_dump([{"name": "Wait", "hosts": "release", "gather_facts": False, "tasks": tasks}], sort_keys=False)
    )
    env = {
        "AWS_ENDPOINT_URL": ecs.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        # Nothing of the operator's AWS configuration, and nothing through a proxy.
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "NO_PROXY": "127.0.0.1",
        "no_proxy": "127.0.0.1",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name in OPERATOR_AWS:
            patch.delenv(name, raising=False)
        run = run_playbook(
            "ecs-rollout-wait",
            [str(BIN / "ansible-playbook"), str(playbook), "-i", "inventories/production"],
            ROOT,
            tmp_path / "logs",
            env=env,
            timeout=len(SCENARIOS) * TIMEOUT * 3,
        )
    ecs.server.shutdown()
    assert run.returncode == 0 and output.is_file(), run.explain()
    assert not ecs.refused, ecs.refused
    return json.loads(output.read_text()), ecs.calls


@pytest.mark.parametrize("name", ["rolling-back", "rolled-back", "failed-in-place"])
def test_a_deployment_the_circuit_breaker_failed_stops_the_wait_at_once(waited, name):
    outcomes, calls = waited
    assert outcomes[name]["failed"], outcomes[name]
    message = outcomes[name]["msg"]
    # Stopped on the first answer that showed it, not at the timeout.
    assert calls[name] == 1, (calls, message)
    assert "circuit breaker" in message and OURS in message, message
    assert f"within {TIMEOUT} s" not in message, message
    # It quotes why ECS failed the deployment, when ECS still says, and the service's latest events,
    # on one line.
    assert "\n" not in message, message
    if name != "rolled-back":
        assert BREAKER_REASON in message, message
    events = SCENARIOS[name][-1]["events"]
    assert events[0]["message"] in message, message


def test_a_rollback_that_is_over_names_the_revision_the_service_runs_again(waited):
    outcomes, _ = waited
    assert OLD in outcomes["rolled-back"]["msg"], outcomes["rolled-back"]
    assert OLD in outcomes["rolling-back"]["msg"], outcomes["rolling-back"]


def test_a_rollout_that_completes_passes(waited):
    outcomes, calls = waited
    assert not outcomes["completes"]["failed"], outcomes["completes"]
    assert calls["completes"] == 2, calls


def test_the_rehearsal_s_ecs_is_no_rollback(waited):
    """moto leaves the deployment naming the revision the service was created with."""
    outcomes, calls = waited
    assert not outcomes["emulated"]["failed"], outcomes["emulated"]
    assert calls["emulated"] == 1, calls


@pytest.mark.parametrize(("name", "why"), [("missing", "MISSING"), ("denied", "ExpiredTokenException")])
def test_a_service_that_cannot_be_read_stops_the_wait_at_once(waited, name, why):
    outcomes, calls = waited
    assert outcomes[name]["failed"], outcomes[name]
    assert calls[name] == 1, calls
    assert f"could not read the service {name}" in outcomes[name]["msg"], outcomes[name]
    assert why in outcomes[name]["msg"], outcomes[name]
