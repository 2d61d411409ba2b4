"""The rehearsal's edge (roles/rehearsal_edge/files/rehearsal_edge.py) against moto: a request
reaches a target only by the way it would in AWS - the name's Route 53 record, the load balancer
it is an alias of, its HTTPS listener's target group, a registered target passing that group's
health check - and each broken link is answered 502 or 503 naming it."""

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


class Target:
    """A task: answers /health/ready as told, and any other path with its own name."""

    def __init__(self):
        self.ready = True
        target = self

        class Handler(JsonAnswers):
            def do_GET(self):
                status = 200 if self.path != "/health/ready" or target.ready else 503
                self.answer(status, {"path": self.path, "host": self.headers["Host"]})

        self.server = serve_on_loopback(Handler)
        self.port = self.server.server_port


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """moto with a zone, a load balancer forwarding HTTPS to a target group, and the edge."""
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
        group = elbv2.create_target_group(
            Name="edge-api", Protocol="HTTP", Port=8000, VpcId=vpc, TargetType="ip", HealthCheckPath="/health/ready",
            HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2, UnhealthyThresholdCount=2,
        )["TargetGroups"][0]["TargetGroupArn"]  # fmt: skip
        certificate, key = self_signed_certificate(DOMAIN)
        certificate_arn = aws("acm").import_certificate(Certificate=certificate, PrivateKey=key)["CertificateArn"]
        elbv2.create_listener(
            LoadBalancerArn=balancer["LoadBalancerArn"], Protocol="HTTPS", Port=443,
            Certificates=[{"CertificateArn": certificate_arn}],
            DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
        )  # fmt: skip
        zone = aws("route53").create_hosted_zone(Name="edge.test", CallerReference="edge")["HostedZone"]["Id"]
        port = free_port()
        environment = {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        log = (base / "edge.log").open("w")
        edge = subprocess.Popen(
            [sys.executable, str(EDGE), f"--domain={DOMAIN}", f"--port={port}", "--interval=0.5"],
            env={**environment, "AWS_DEFAULT_REGION": "ap-south-1", "PATH": ""},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        world = type("World", (), {"aws": aws, "group": group, "zone": zone, "balancer": balancer})
        world.url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                requests.get(f"{world.url}/.rehearsal-edge/alive", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        yield world
        edge.terminate()
        edge.wait(timeout=30)


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


def answer(world, path: str = "/search", status: int = 200, saying: str = "", within: float = 15) -> requests.Response:
    """The edge's answer to `path` once it has `status` and says `saying` (the edge follows the route
    again every half second, and health-checks as often): the last answer after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        response = requests.get(world.url + path, timeout=10)
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
