"""The rehearsal's edge (roles/rehearsal_edge/files/rehearsal_edge.py) against moto: a request
reaches a target only by the way it would in AWS - the name's Route 53 record, the load balancer
it is an alias of, its HTTPS listener on the edge's port, that listener's target group, a
registered target passing that group's health check - and each broken link is answered 502 or
503 naming it. Two edges play blue/green's two listeners: users' (443) and the test listener."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import requests

from tests.conftest import ROOT, free_port
from tests.runbook_runs import JsonAnswers, aws_client_factory, moto_server, self_signed_certificate, serve_on_loopback

pytestmark = pytest.mark.slow

EDGE = ROOT / "roles" / "rehearsal_edge" / "files" / "rehearsal_edge.py"
DOMAIN = "search.edge.test"
TEST_PORT = 8443  # the test listener's (service_test_port)
INTERVAL = 0.5  # the edges' --interval


class Target:
    """A task: answers /health/ready as told, and any other path with its path, its own identity
    and the listener port the request came through."""

    def __init__(self, identity: str = "task"):
        self.ready = True
        target = self

        class Handler(JsonAnswers):
            def do_GET(self):
                status = 200 if self.path != "/health/ready" or target.ready else 503
                self.answer(
                    status,
                    {
                        "path": self.path,
                        "host": self.headers["Host"],
                        "target": identity,
                        "forwarded_port": self.headers["X-Forwarded-Port"],
                    },
                )

        self.server = serve_on_loopback(Handler)
        self.port = self.server.server_port


def start_edge(environment: dict, log, *arguments: str) -> tuple[subprocess.Popen, str]:
    """An edge process on a free port, and its URL."""
    port = free_port()
    edge = subprocess.Popen(
        [sys.executable, str(EDGE), f"--domain={DOMAIN}", f"--port={port}", f"--interval={INTERVAL}", *arguments],
        env={**environment, "AWS_DEFAULT_REGION": "ap-south-1", "PATH": ""},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return edge, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """moto with a zone, a load balancer whose HTTPS listener (443) forwards to a target group and
    whose test listener (8443) forwards to another (blue/green's slots), and an edge for each."""
    base = tmp_path_factory.mktemp("edge")
    with moto_server(free_port(), base / "moto.log") as url:
        aws = aws_client_factory(url)
        ec2, elbv2 = aws("ec2"), aws("elbv2")
        vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.7.{i}.0/24", AvailabilityZone=f"ap-south-1{z}")["Subnet"][
                "SubnetId"
            ]
            for i, z in enumerate("ab")
        ]
        balancer = elbv2.create_load_balancer(Name="edge", Subnets=subnets)["LoadBalancers"][0]
        group, test_group = (
            elbv2.create_target_group(
                Name=name,
                Protocol="HTTP",
                Port=8000,
                VpcId=vpc,
                TargetType="ip",
                HealthCheckPath="/health/ready",
                HealthCheckTimeoutSeconds=2,
                HealthyThresholdCount=2,
                UnhealthyThresholdCount=2,
            )["TargetGroups"][0]["TargetGroupArn"]  # fmt: skip
            for name in ("edge-api", "edge-api-green")
        )
        certificate, key = self_signed_certificate(DOMAIN)
        certificate_arn = aws("acm").import_certificate(Certificate=certificate, PrivateKey=key)["CertificateArn"]
        listener, test_listener = (
            elbv2.create_listener(
                LoadBalancerArn=balancer["LoadBalancerArn"],
                Protocol="HTTPS",
                Port=port,
                Certificates=[{"CertificateArn": certificate_arn}],
                DefaultActions=[{"Type": "forward", "TargetGroupArn": forwarded}],
            )["Listeners"][0]["ListenerArn"]  # fmt: skip
            for port, forwarded in ((443, group), (TEST_PORT, test_group))
        )
        zone = aws("route53").create_hosted_zone(Name="edge.test", CallerReference="edge")["HostedZone"]["Id"]
        environment = {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        with (base / "edge.log").open("w") as log, (base / "edge-test.log").open("w") as test_log:
            edge, edge_url = start_edge(environment, log)
            test_edge, test_edge_url = start_edge(environment, test_log, f"--listener-port={TEST_PORT}")
        world = type("World", (), {"aws": aws, "group": group, "zone": zone, "balancer": balancer})
        world.url, world.listener = edge_url, listener
        world.test_url, world.test_group, world.test_listener = test_edge_url, test_group, test_listener
        for edge_url in (world.url, world.test_url):
            for _ in range(100):
                try:
                    requests.get(f"{edge_url}/.rehearsal-edge/alive", timeout=2)
                    break
                except requests.ConnectionError:
                    time.sleep(0.2)
        yield world
        for process in (edge, test_edge):
            process.terminate()
        for process in (edge, test_edge):
            process.wait(timeout=30)


def alias(world, target: str) -> None:
    world.aws("route53").change_resource_record_sets(
        HostedZoneId=world.zone,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": DOMAIN,
                        "Type": "A",
                        "AliasTarget": {
                            "HostedZoneId": "ZP97RAFLXTNZK",
                            "DNSName": target,
                            "EvaluateTargetHealth": True,
                        },
                    },
                }
            ]
        },
    )


def answer(
    world, path: str = "/search", status: int = 200, saying: str = "", within: float = 15, edge: str = ""
) -> requests.Response:
    """The answer of the edge at `edge` (users': world.url by default) to `path` once it has `status`
    and says `saying` (the edge follows the route again every half second, and health-checks as
    often): the last answer after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        response = requests.get((edge or world.url) + path, timeout=10)
        if (response.status_code == status and saying in response.text) or time.monotonic() > deadline:
            return response
        time.sleep(0.3)


def test_a_name_without_a_record_does_not_resolve(world):
    response = answer(world, status=502, saying="no A record")
    assert response.status_code == 502 and "no A record" in response.json()["detail"]


def test_a_record_pointing_elsewhere_reaches_nothing(world):
    alias(world, "somewhere-else.ap-south-1.elb.amazonaws.com")
    response = answer(world, status=502, saying="which is no load balancer")
    assert response.status_code == 502 and "which is no load balancer" in response.json()["detail"]


def test_an_empty_target_group_answers_503(world):
    alias(world, world.balancer["DNSName"] + ".")
    response = answer(world, status=503, saying="no registered targets")
    assert response.status_code == 503 and "no registered targets" in response.json()["detail"]


def test_a_registered_healthy_target_gets_the_request(world):
    target = Target()
    world.target = target
    world.aws("elbv2").register_targets(TargetGroupArn=world.group, Targets=[{"Id": "127.0.0.1", "Port": target.port}])
    response = answer(world, "/search/cosine")
    assert response.status_code == 200
    assert response.json()["path"] == "/search/cosine"
    route = requests.get(world.url + "/.rehearsal-edge/route", timeout=10).json()
    assert route["health_check"]["path"] == "/health/ready"
    assert route["targets"] == [
        {"target": f"127.0.0.1:{target.port}", "healthy": True, "reason": "/health/ready answered 200"}
    ]


def test_a_target_failing_the_group_s_health_check_gets_nothing(world):
    world.target.ready = False
    response = answer(world, status=503, saying="no healthy target")
    assert response.status_code == 503 and "no healthy target" in response.json()["detail"]
    assert "/health/ready answered 503" in response.json()["detail"]
    world.target.ready = True
    assert answer(world).status_code == 200


def test_a_deregistered_target_gets_nothing(world):
    world.aws("elbv2").deregister_targets(
        TargetGroupArn=world.group, Targets=[{"Id": "127.0.0.1", "Port": world.target.port}]
    )
    response = answer(world, status=503, saying="no registered targets")
    assert response.status_code == 503 and "no registered targets" in response.json()["detail"]


def route(edge: str) -> dict:
    return requests.get(edge + "/.rehearsal-edge/route", timeout=10).json()


def test_each_edge_reaches_its_own_listener_s_target(world):
    """Blue/green: users' listener forwards to the live slot's group, the test listener to the other's."""
    world.blue, world.green = Target("blue"), Target("green")
    elbv2 = world.aws("elbv2")
    for group, target in ((world.group, world.blue), (world.test_group, world.green)):
        elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": "127.0.0.1", "Port": target.port}])
    users = answer(world, saying='"blue"')
    testers = answer(world, saying='"green"', edge=world.test_url)
    assert users.status_code == 200 and users.json()["target"] == "blue"
    assert testers.status_code == 200 and testers.json()["target"] == "green"
    # Each says which listener the request came through, as the load balancer does.
    assert users.json()["forwarded_port"] == "443" and testers.json()["forwarded_port"] == str(TEST_PORT)
    alive = requests.get(world.test_url + "/.rehearsal-edge/alive", timeout=10).json()
    assert alive == {"status": "alive", "listener_port": TEST_PORT}
    assert (route(world.url)["listener_port"], route(world.url)["target_group"]) == (443, world.group)
    assert (route(world.test_url)["listener_port"], route(world.test_url)["target_group"]) == (
        TEST_PORT,
        world.test_group,
    )


def test_switching_the_listener_moves_users_traffic_losing_no_request(world):
    """The switch a release makes: users' listener forwards to the other slot's group. The users'
    edge already health-checks that group (the test listener forwards to it, and the load balancer
    checks every group its listeners forward to), so it moves at its next walk of the route."""
    green = f"127.0.0.1:{world.green.port}"
    deadline = time.monotonic() + 15
    while not any(
        target["target"] == green and target["healthy"]
        for target in route(world.url)["target_groups"].get(world.test_group, [])
    ):
        assert time.monotonic() < deadline, route(world.url)
        time.sleep(0.1)
    elbv2 = world.aws("elbv2")
    elbv2.modify_listener(
        ListenerArn=world.listener, DefaultActions=[{"Type": "forward", "TargetGroupArn": world.test_group}]
    )
    switched_at, answers = time.monotonic(), []
    while not answers or answers[-1] != (200, "green") and time.monotonic() - switched_at < 10:
        response = requests.get(world.url + "/search", timeout=10)
        answers.append((response.status_code, response.json().get("target")))
        time.sleep(0.05)
    moved_after = time.monotonic() - switched_at
    assert answers[-1] == (200, "green"), answers
    assert {status for status, _ in answers} == {200}, answers
    # Within the edge's interval (and a request's time): it walks the route again at most that late.
    assert moved_after < INTERVAL + 1, (moved_after, answers)
    assert route(world.url)["target_group"] == world.test_group
    # And back, as a rollback's switch.
    elbv2.modify_listener(
        ListenerArn=world.listener, DefaultActions=[{"Type": "forward", "TargetGroupArn": world.group}]
    )
    assert answer(world, saying='"blue"').json()["target"] == "blue"


def test_an_edge_whose_listener_is_gone_answers_503_naming_its_port(world):
    world.aws("elbv2").delete_listener(ListenerArn=world.test_listener)
    response = answer(world, status=503, saying=f"no HTTPS listener on port {TEST_PORT}", edge=world.test_url)
    assert response.status_code == 503
    assert f"no HTTPS listener on port {TEST_PORT}" in response.json()["detail"]
    # Users' listener still forwards.
    assert answer(world).json()["target"] == "blue"
