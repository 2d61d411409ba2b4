"""The release's preflight against the production plan's emulated account: each prerequisite of a
first release missing in turn gets its own refusal, naming the fix, and nothing is written.

moto plays the production account as tests/test_production_plan.py sets it up (its VPC, subnets,
NAT gateway, certificates and hosted zone), plus what an operator of this test's organisation
has: its own hosted zone and wildcard certificate, the role it releases as (under a path, as an
IAM Identity Center role is), and an alarm topic with a subscription added by hand. The
release_prerequisites module runs as Ansible runs it, once per case (seconds each); two
`ansible-playbook release.yml --tags preflight` runs of the production inventory check the role
around it: with the inventory's placeholders left in, every refusal comes in one failure; with
everything set but an Elasticsearch key that lacks the cluster privilege `monitor`, the service's
own `flask es status` refuses it. moto records every request: a preflight sends reads only.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import jinja2
import pytest
import yaml

from tests.fake_elasticsearch import FakeElasticsearch
from tests.helpers import ARTIFACTS, ROOT
from tests.runbook_runs import (
    BIN,
    PRODUCTION_ACCOUNT,
    aws_client_factory,
    is_read,
    moto_server,
    production_prerequisites,
    recorded_requests,
    run_playbook,
    runnable,
    self_signed_certificate,
)
from tools.benchmark import free_port

ACCOUNT = PRODUCTION_ACCOUNT

# Each test runs Ansible or its modules in processes of their own, against moto.
pytestmark = pytest.mark.slow

MODULE = ROOT / "plugins" / "modules" / "release_prerequisites.py"
PREFLIGHT_DEFAULTS = yaml.safe_load((ROOT / "roles" / "release_preflight" / "defaults" / "main.yml").read_text())
IMAGE_TOOLS = yaml.safe_load((ROOT / "roles" / "images" / "vars" / "main.yml").read_text())["images_tools"]
TASK_ENDPOINTS = yaml.safe_load((ROOT / "roles" / "network" / "defaults" / "main.yml").read_text())[
    "network_task_endpoints"
]
# The operator's own names: none of them a placeholder.
ZONE = "finbert-rag.acme-markets.in"
DOMAIN = f"search.{ZONE}"
RELEASE_ROLE = "release"  # under /operators/, as an SSO role is under /aws-reserved/...
ALARM_TOPIC = "finbert-rag-production-alarms"
SUBSCRIPTIONS = [{"endpoint": "oncall@acme-markets.in", "protocol": "email"}]
PUSH_ROLES = [RELEASE_ROLE]


def repository_policy(push_roles: list[str]) -> str:
    """The registry phase's repository policy (roles/ecr_repositories' template, as it renders it)."""
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(ROOT / "roles" / "ecr_repositories" / "templates"))
    environment.filters.update(to_json=json.dumps, from_json=json.loads)
    return environment.get_template("repository-policy.json.j2").render(
        ecr_repositories_account_id=ACCOUNT,
        ecr_repositories_pull_roles=["finbert-rag-production-task-execution"],
        ecr_repositories_push_roles=push_roles,
    )


@pytest.fixture(scope="module")
def account(tmp_path_factory):
    """moto as the production account with the prerequisites, and the release role's credentials."""
    base = tmp_path_factory.mktemp("preflight")
    recording = base / "moto-recording.jsonl"
    with moto_server(
        free_port(),
        base / "moto.log",
        MOTO_ACCOUNT_ID=ACCOUNT,
        MOTO_ENABLE_RECORDING="true",
        MOTO_RECORDER_FILEPATH=str(recording),
        # A requested certificate stays PENDING_VALIDATION (ACM waits for its DNS record).
        MOTO_ACM_VALIDATION_WAIT="86400",
    ) as url:
        aws = aws_client_factory(url)
        network = production_prerequisites(aws)
        ec2 = aws("ec2")
        # Subnets without a default route (no NAT, no endpoints), and a subnet of another VPC.
        isolated = [
            ec2.create_subnet(
                VpcId=network["vpc"], CidrBlock=f"10.40.{20 + i}.0/24", AvailabilityZone=f"ap-south-1{z}"
            )["Subnet"]["SubnetId"]
            for i, z in enumerate("ab")
        ]
        isolated_routes = ec2.create_route_table(VpcId=network["vpc"])["RouteTable"]["RouteTableId"]
        for subnet in isolated:
            ec2.associate_route_table(RouteTableId=isolated_routes, SubnetId=subnet)
        other_vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
        elsewhere = ec2.create_subnet(VpcId=other_vpc, CidrBlock="10.50.0.0/24", AvailabilityZone="ap-south-1b")[
            "Subnet"
        ]["SubnetId"]
        certificate, key = self_signed_certificate(f"*.{ZONE}")
        aws("acm").import_certificate(Certificate=certificate, PrivateKey=key)
        aws("acm").request_certificate(DomainName=f"search.ap.{ZONE}", ValidationMethod="DNS")
        aws("route53").create_hosted_zone(Name=ZONE, CallerReference="operator")
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
            ],
        }
        iam = aws("iam")
        role = iam.create_role(RoleName=RELEASE_ROLE, Path="/operators/", AssumeRolePolicyDocument=json.dumps(trust))
        iam.create_role(RoleName="someone-else", AssumeRolePolicyDocument=json.dumps(trust))
        assumed = aws("sts").assume_role(RoleArn=role["Role"]["Arn"], RoleSessionName="operator")["Credentials"]
        sns = aws("sns")
        by_hand = sns.create_topic(Name="finbert-rag-staging-alarms")["TopicArn"]
        sns.subscribe(TopicArn=by_hand, Protocol="email", Endpoint="oncall@acme-markets.in")
        sns.create_topic(Name="finbert-rag-nobody-alarms")

        class Account:
            def requests_since(self, start: int) -> list[dict]:
                return recorded_requests(recording, start)

            def recorded(self) -> int:
                return recording.read_text().count("\n")

        account = Account()
        account.url, account.aws, account.base = url, aws, base
        account.network = {**network, "isolated": isolated, "elsewhere": elsewhere}
        account.role_arn = role["Role"]["Arn"]
        account.credentials = {
            "access_key": assumed["AccessKeyId"],
            "secret_key": assumed["SecretAccessKey"],
            "session_token": assumed["SessionToken"],
        }
        yield account


def complete(account) -> dict:
    """The module's arguments with every prerequisite met, as preflight passes them."""
    network = account.network
    return {
        "settings": {
            "aws_account_id": "210987654321",
            "network_vpc_id": network["vpc"],
            "network_public_subnet_ids": network["public"],
            "network_private_subnet_ids": network["private"],
            "service_domain_name": DOMAIN,
            "service_dns_zone": ZONE,
            "FINNEWS_ES_HOSTS (ecs_deploy_extra_environment)": "https://es.acme-markets.in:9200",
            "service_monitoring_alarm_subscriptions": SUBSCRIPTIONS,
        },
        "placeholders": PREFLIGHT_DEFAULTS["release_preflight_placeholders"],
        "network": {
            "vpc_id": network["vpc"],
            "public_subnet_ids": network["public"],
            "private_subnet_ids": network["private"],
            "task_endpoints": TASK_ENDPOINTS,
        },
        "dns_zone": ZONE,
        "domain_name": DOMAIN,
        "repository_policy": repository_policy(PUSH_ROLES),
        "push_roles": PUSH_ROLES,
        "alarm_topic": ALARM_TOPIC,
        "alarm_subscriptions": SUBSCRIPTIONS,
        "require_alarm_subscription": True,
        "architecture": "x86_64",
        "build_tools": IMAGE_TOOLS,
    }


def run_module(account, folder, arguments: dict, check_mode=False, credentials=None, env=None, prefix=()) -> dict:
    """The module as Ansible runs it (its own process, arguments from a file), with the release
    role's credentials unless others are given; asserts that it sent moto nothing but reads."""
    connection = {"region": "ap-south-1", "endpoint_url": account.url, **(credentials or account.credentials)}
    (folder / "args.json").write_text(
        json.dumps({"ANSIBLE_MODULE_ARGS": {**connection, "_ansible_check_mode": check_mode, **arguments}})
    )
    start = account.recorded()
    process = subprocess.run(
        [*prefix, sys.executable, str(runnable(MODULE, folder)), str(folder / "args.json")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    assert process.returncode == 0, process.stdout[-2000:] + process.stderr[-2000:]
    result = json.loads(process.stdout)
    writes = [r["operation"] for r in account.requests_since(start) if r["operation"] and not is_read(r["operation"])]
    assert writes == [], f"preflight wrote: {writes}"
    assert result["changed"] is False
    return result


def lines(result: dict) -> list[str]:
    return [f"{p['prerequisite']}: {p['problem']}. Fix: {p['fix']}" for p in result["problems"]]


def test_every_prerequisite_met_passes_read_only_in_check_mode_too(account, tmp_path):
    for check_mode in (False, True):
        result = run_module(account, tmp_path, complete(account), check_mode=check_mode)
        assert result["problems"] == [], lines(result)
        assert result["checked"] == [
            "placeholder",
            "network",
            "hosted zone",
            "certificate",
            "push",
            "alarms",
            "architecture",
            "build tools",
        ]
        # The policy sees the role with its path, which the role's name matches under any path.
        assert result["push_principal"] == account.role_arn == f"arn:aws:iam::{ACCOUNT}:role/operators/{RELEASE_ROLE}"


def network_with(account, **subnets) -> dict:
    return {**complete(account)["network"], **subnets}


# Each case: what is missing (the module's arguments changed from complete()), and the refusal
# (prerequisite, words of its problem, words of its fix).
CASES = {
    "a placeholder VPC": (
        lambda a: {
            "settings": {**complete(a)["settings"], "network_vpc_id": "vpc-00000000000000000"},
            "network": network_with(a, vpc_id="vpc-00000000000000000"),
        },
        [
            (
                "placeholder",
                "network_vpc_id is still the placeholder vpc-00000000000000000",
                "set this environment's own value",
            )
        ],
    ),
    "a placeholder domain and alarm address": (
        lambda a: {
            "settings": {
                **complete(a)["settings"],
                "service_domain_name": "search.finbert-rag.example.com",
                "service_monitoring_alarm_subscriptions": [{"endpoint": "oncall@example.com", "protocol": "email"}],
            },
            "domain_name": "search.finbert-rag.example.com",
        },
        [
            (
                "placeholder",
                "service_domain_name is still the placeholder search.finbert-rag.example.com",
                "group_vars",
            ),
            (
                "placeholder",
                "service_monitoring_alarm_subscriptions is still the placeholder oncall@example.com",
                "group_vars",
            ),
        ],
    ),
    "no such VPC": (
        lambda a: {"network": network_with(a, vpc_id="vpc-0123456789abcdef0")},
        [("network", "no VPC vpc-0123456789abcdef0 in this account and region", "set network_vpc_id")],
    ),
    "no such subnet": (
        lambda a: {
            "network": network_with(a, private_subnet_ids=[a.network["private"][0], "subnet-0123456789abcdef0"])
        },
        [("network", "no subnet subnet-0123456789abcdef0 in this account and region", "network_private_subnet_ids")],
    ),
    "a subnet of another VPC": (
        lambda a: {"network": network_with(a, private_subnet_ids=[a.network["private"][0], a.network["elsewhere"]])},
        [("network", "subnet {elsewhere} is not in {vpc}", "give subnets of")],
    ),
    "the tasks' subnets in one zone": (
        lambda a: {"network": network_with(a, private_subnet_ids=a.network["private"][:1])},
        [("network", "network_private_subnet_ids span 1 availability zone(s)", "two zones at least")],
    ),
    "the tasks' subnets routed to the internet gateway, not a NAT": (
        lambda a: {"network": network_with(a, private_subnet_ids=a.network["public"])},
        [("network", "the tasks' subnet {public0}, {public1} routes 0.0.0.0/0 to igw-", "to an available NAT gateway")],
    ),
    "the tasks' subnets without a default route or endpoints": (
        lambda a: {"network": network_with(a, private_subnet_ids=a.network["isolated"])},
        [
            (
                "network",
                "has no default route, and {vpc} lacks the endpoints of ecr.api, ecr.dkr, s3, logs",
                "NAT gateway",
            )
        ],
    ),
    "the load balancer's subnets routed to the NAT": (
        lambda a: {"network": network_with(a, public_subnet_ids=a.network["private"])},
        [("network", "the load balancer's subnet {private0}, {private1} routes 0.0.0.0/0 to nat-", "internet gateway")],
    ),
    "no hosted zone": (
        lambda a: {"dns_zone": "acme-markets.in"},
        [("hosted zone", "no public Route 53 hosted zone acme-markets.in in this account", "delegate")],
    ),
    "a name outside the zone": (
        lambda a: {"domain_name": "search.finbert-rag.acme-markets.net", "dns_zone": ZONE},
        [
            ("hosted zone", f"search.finbert-rag.acme-markets.net is not a name in {ZONE}", "service_domain_name"),
            ("certificate", "no ACM certificate in this account and region covers search.finbert-rag", "request one"),
        ],
    ),
    "no certificate covering the name": (
        lambda a: {"domain_name": f"search.eu.{ZONE}"},
        [("certificate", f"no ACM certificate in this account and region covers search.eu.{ZONE}", "*.eu.")],
    ),
    "a certificate not yet validated": (
        lambda a: {"domain_name": f"search.ap.{ZONE}"},
        [("certificate", "is PENDING_VALIDATION", "complete its DNS validation")],
    ),
    "the push role is the inventory's default, absent from the account": (
        lambda a: {
            "push_roles": ["finbert-rag-release"],
            "repository_policy": repository_policy(["finbert-rag-release"]),
        },
        [
            (
                "push",
                "names the role finbert-rag-release, which this account does not have",
                "set ecr_repositories_push_roles",
            ),
            ("push", "would not let arn:aws:iam::{account}:role/operators/release push", "add this role"),
        ],
    ),
    "the caller's role is not a pusher": (
        lambda a: {"push_roles": ["someone-else"], "repository_policy": repository_policy(["someone-else"])},
        [("push", "would not let arn:aws:iam::{account}:role/operators/release push", "ecr_repositories_push_roles")],
    ),
    "no alarm subscription, and a topic nobody listens to": (
        lambda a: {"alarm_subscriptions": [], "alarm_topic": "finbert-rag-nobody-alarms"},
        [
            (
                "alarms",
                "the topic finbert-rag-nobody-alarms has no subscription",
                "service_monitoring_alarm_subscriptions",
            )
        ],
    ),
    "no alarm subscription, and no topic yet": (
        lambda a: {"alarm_subscriptions": []},
        [("alarms", f"the topic {ALARM_TOPIC} does not exist yet", "service_monitoring_alarm_subscriptions")],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_each_missing_prerequisite_gets_its_own_refusal(account, tmp_path, case):
    change, expected = CASES[case]
    result = run_module(account, tmp_path, {**complete(account), **change(account)})
    names = {
        "elsewhere": account.network["elsewhere"],
        "public0": account.network["public"][0],
        "private0": account.network["private"][0],
        "private1": account.network["private"][1],
        "public1": account.network["public"][1],
        "vpc": account.network["vpc"],
        "account": ACCOUNT,
    }
    wanted = [(p, problem.format(**names), fix.format(**names)) for p, problem, fix in expected]
    found = [(p["prerequisite"], p["problem"], p["fix"]) for p in result["problems"]]
    assert len(found) == len(wanted), lines(result)
    for (prerequisite, problem, fix), got in zip(wanted, found, strict=True):
        assert got[0] == prerequisite and problem in got[1] and fix in got[2], lines(result)


def test_a_placeholder_skips_the_checks_it_feeds(account, tmp_path):
    """A placeholder's own line names the fix: the network it names is not looked up as well."""
    result = run_module(account, tmp_path, {**complete(account), **CASES["a placeholder VPC"][0](account)})
    assert "network" not in result["checked"]


def test_a_topic_with_a_subscription_added_by_hand_is_enough(account, tmp_path):
    result = run_module(
        account, tmp_path, {**complete(account), "alarm_subscriptions": [], "alarm_topic": "finbert-rag-staging-alarms"}
    )
    assert result["problems"] == [], lines(result)


def test_an_iam_user_is_told_to_release_as_a_role(account, tmp_path):
    """The repository policy matches roles' ARNs only: an IAM user (moto's own caller) never pushes."""
    user = {"access_key": "testing", "secret_key": "testing"}
    result = run_module(account, tmp_path, complete(account), credentials=user)
    assert [p["prerequisite"] for p in result["problems"]] == ["push"], lines(result)
    (problem,) = result["problems"]
    # moto names the user arn:aws:sts::...:user/moto where AWS says arn:aws:iam::...
    assert problem["problem"].startswith("you call AWS as user arn:aws:"), problem
    assert f"::{ACCOUNT}:user/moto:" in problem["problem"], problem
    assert "ECR repository policy lets roles push" in problem["problem"]
    assert "release as a role named in ecr_repositories_push_roles" in problem["fix"]


def test_another_architecture_is_refused(account, tmp_path):
    """32-bit personality: the machine reports i686, as an arm64 one reports aarch64."""
    result = run_module(account, tmp_path, complete(account), prefix=["setarch", "i686"])
    assert lines(result) == [
        "architecture: this machine is i686; the images are built for x86_64 (the build runs their programs: "
        "no emulation). Fix: release from an x86_64 machine"
    ]


def test_a_machine_without_an_image_builder_is_refused(account, tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    result = run_module(account, tmp_path, complete(account), env={"PATH": str(empty)})
    (problem,) = result["problems"]
    assert problem["prerequisite"] == "build tools"
    assert "buildah needs buildah, skopeo, debootstrap; docker needs docker, skopeo" in problem["problem"]
    assert "make image-deps" in problem["fix"]


# -- the role, in the release's preflight phase -------------------------------------------------


def preflight(account, name: str, *args: str, env: dict) -> object:
    command = [str(BIN / "ansible-playbook"), "release.yml", "-i", "inventories/production", "--tags=preflight"]
    command += ["-erelease_version=v9.9.9", *args]
    environment = {
        "AWS_ENDPOINT_URL": account.url,
        "AWS_REGION": "ap-south-1",
        "AWS_DEFAULT_REGION": "ap-south-1",
        **env,
    }
    return run_playbook(name, command, ROOT, ARTIFACTS / "preflight", env=environment, timeout=600)


def failure(run) -> str:
    (result,) = run.results("release_preflight : Fail on the prerequisites the release lacks")
    assert result.get("failed"), run.explain()
    return result["msg"]


def test_the_production_inventory_as_shipped_is_refused_all_at_once(account, monkeypatch):
    """Placeholders left in: one failure lists every refusal, each with its fix, before any write."""
    for name in ("FINNEWS_ES_API_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    start = account.recorded()
    run = preflight(account, "placeholders", env={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    assert run.returncode != 0
    message = failure(run)
    assert message.startswith("the release lacks 11 prerequisite(s); fix them all, then run it again:"), message
    for line in (
        "- placeholder: aws_account_id is still the placeholder 000000000000.",
        "- placeholder: network_vpc_id is still the placeholder vpc-00000000000000000.",
        "- placeholder: network_public_subnet_ids is still the placeholder subnet-0000000000000000a, "
        "subnet-0000000000000000b.",
        "- placeholder: service_domain_name is still the placeholder search.finbert-rag.example.com.",
        "- placeholder: service_dns_zone is still the placeholder finbert-rag.example.com.",
        "- placeholder: FINNEWS_ES_HOSTS (ecs_deploy_extra_environment) is still the placeholder "
        "https://search-es.finbert-rag.example.com:9200.",
        "- push: ecr_repositories_push_roles names the role finbert-rag-release, which this account does not have.",
        "- push: you call AWS as user arn:aws:",
        "- alarms: nobody would hear an alarm: service_monitoring_alarm_subscriptions is empty",
        "- elasticsearch: no value for FINNEWS_ES_API_KEY. Fix: give the service's Elasticsearch credential",
    ):
        assert line in message, message
    assert "network_private_subnet_ids is still the placeholder" in message
    assert "Fix: set this environment's own value in the inventory's group_vars" in message
    # The checks a placeholder feeds were skipped, and nothing after the failure ran.
    assert "hosted zone:" not in message and "certificate:" not in message
    assert not run.results("release_preflight : Check the git tree is clean")
    writes = [r["operation"] for r in account.requests_since(start) if r["operation"] and not is_read(r["operation"])]
    assert writes == [], writes


def test_everything_set_passes_and_a_key_without_monitor_is_refused_by_the_service_s_own_check(account, tmp_path):
    """Every prerequisite set, the alias made by `flask es create-index` with this commit's models:
    the prerequisites pass. Then the key loses the cluster privilege `monitor`: `flask es status`,
    run with the release's key, fails on the cluster health that the service's readiness reads."""
    key = "release-es-api-key-0123456789abcdef"
    server = FakeElasticsearch(api_key=key).start()
    elasticsearch = {
        "FINNEWS_WORKERS": "2",
        "FINNEWS_STORE_BACKEND": "elasticsearch",
        "FINNEWS_ES_HOSTS": server.url,
        "FINNEWS_ES_INDEX": "finnews",
    }
    operator = {
        "aws_account_id": ACCOUNT,
        # moto plays the production account under the inventory's placeholder id (all zeros).
        "release_preflight_placeholders": [
            p for p in PREFLIGHT_DEFAULTS["release_preflight_placeholders"] if not re.search(p, ACCOUNT)
        ],
        "network_vpc_id": account.network["vpc"],
        "network_public_subnet_ids": account.network["public"],
        "network_private_subnet_ids": account.network["private"],
        "service_domain_name": DOMAIN,
        "service_dns_zone": ZONE,
        "ecr_repositories_push_roles": PUSH_ROLES,
        "service_monitoring_alarm_subscriptions": SUBSCRIPTIONS,
        "ecs_deploy_extra_environment": elasticsearch,
    }
    (tmp_path / "operator.json").write_text(json.dumps(operator))
    credentials = account.credentials
    environment = {
        "AWS_ACCESS_KEY_ID": credentials["access_key"],
        "AWS_SECRET_ACCESS_KEY": credentials["secret_key"],
        "AWS_SESSION_TOKEN": credentials["session_token"],
        "FINNEWS_ES_API_KEY": key,
    }
    try:
        created = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "webapp", "es", "create-index", "--replicas", "0"],
            cwd=ROOT,
            env={**os.environ, **elasticsearch, "FINNEWS_ES_API_KEY": key},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert created.returncode == 0, created.stderr[-2000:]
        start, health_checks_before = account.recorded(), len(server.requests_to("/_cluster/health"))
        met = preflight(account, "everything-set", f"-e@{tmp_path / 'operator.json'}", env=environment)
        (result,) = met.results("release_preflight : Fail on the prerequisites the release lacks")
        assert not result.get("failed"), result["msg"]
        assert result["msg"] == (
            "prerequisites met: placeholder, network, hosted zone, certificate, push, alarms, architecture, build tools, "
            "elasticsearch"
        )
        # The service's own check ran (its result is not shown: its environment holds the key).
        assert len(server.requests_to("/_cluster/health")) > health_checks_before

        server.fail_requests("cluster_health", 403, times=100, error_type="security_exception")
        refused = preflight(
            account, "elasticsearch-key-without-monitor", f"-e@{tmp_path / 'operator.json'}", env=environment
        )
    finally:
        server.close()
    message = failure(refused)
    assert message.startswith("the release lacks 1 prerequisite(s)"), message
    assert (
        "- elasticsearch: flask es status with the release's key: the Elasticsearch user lacks a privilege" in message
    )
    assert "Fix: give the service's key the cluster privilege monitor" in message
    assert key not in met.output + refused.output
    writes = [r["operation"] for r in account.requests_since(start) if r["operation"] and not is_read(r["operation"])]
    assert writes == [], writes


def test_the_rehearsal_meets_its_own_prerequisites(moto_url, tmp_path):
    """inventories/local, as the rehearsal leaves moto before preflight (its hosted zone and wildcard
    certificate; it creates its own network, its store is the embedded one, and moto's IAM user
    pushes unbound by any policy): every check that applies passes."""
    aws = aws_client_factory(moto_url)
    certificate, key = self_signed_certificate("*.finbert-rag.rehearsal.test")
    aws("acm").import_certificate(Certificate=certificate, PrivateKey=key)
    aws("route53").create_hosted_zone(Name="finbert-rag.rehearsal.test", CallerReference="rehearsal")
    command = [str(BIN / "ansible-playbook"), "playbooks/preflight.yml", "-i", "inventories/local"]
    command += [f"-erehearsal_aws_port={moto_url.rsplit(':', 1)[1]}", "-erelease_version=v9.9.9"]
    run = run_playbook("rehearsal", command, ROOT, ARTIFACTS / "preflight")
    (result,) = run.results("release_preflight : Fail on the prerequisites the release lacks")
    assert not result.get("failed"), result["msg"]
    assert result["msg"] == "prerequisites met: placeholder, hosted zone, certificate, architecture, build tools"


def test_a_cut_over_needs_the_expected_record_a_zone_of_the_account_and_a_certificate_for_both_names(account, tmp_path):
    """service_cut_over (the earlier system's name the switch moves to the load balancer): met
    while its record holds the value the operator expects, refused - each with its fix, before
    any write - when it holds another, when its zone is not one of this account's, when no one
    certificate covers it and the service's own name (the HTTPS listener has one), or when it is
    the service's own name."""
    route53 = account.aws("route53")
    earlier_target = "search-api.earlier-hosting.acme-markets.net"

    def cname(zone: str, name: str) -> None:
        hosted = next(z["Id"] for z in route53.list_hosted_zones_by_name(DNSName=zone)["HostedZones"])
        record = {"Name": name, "Type": "CNAME", "TTL": 300, "ResourceRecords": [{"Value": earlier_target}]}
        change = {"Action": "CREATE", "ResourceRecordSet": record}
        route53.change_resource_record_sets(HostedZoneId=hosted, ChangeBatch={"Changes": [change]})

    earlier = f"legacy.{ZONE}"
    cname(ZONE, earlier)
    # The earlier system's own zone, moved into this account, whose names no certificate covers.
    route53.create_hosted_zone(Name="earlier-markets.in", CallerReference="earlier")
    cname("earlier-markets.in", "search.earlier-markets.in")

    def cut_over(**changed) -> dict:
        wanted = {"name": earlier, "expected": {"cname": earlier_target}, "load_balancer": "finbert-rag-production"}
        return {**complete(account), "cut_over": {**wanted, **changed}}

    met = run_module(account, tmp_path, cut_over())
    assert met["problems"] == [] and "cut-over" in met["checked"], lines(met)
    # A name an earlier run moved already is the load balancer's alias: met as well (a re-run).
    balancer = account.aws("elbv2").create_load_balancer(
        Name="finbert-rag-production", Subnets=account.network["public"]
    )["LoadBalancers"][0]
    moved = f"moved.{ZONE}"
    alias = {
        "Name": moved,
        "Type": "A",
        "AliasTarget": {
            "HostedZoneId": balancer["CanonicalHostedZoneId"],
            "DNSName": f"{balancer['DNSName']}.",
            "EvaluateTargetHealth": True,
        },
    }
    hosted = route53.list_hosted_zones_by_name(DNSName=ZONE)["HostedZones"][0]["Id"]
    route53.change_resource_record_sets(
        HostedZoneId=hosted, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": alias}]}
    )
    already = run_module(account, tmp_path, cut_over(name=moved))
    assert already["problems"] == [], lines(already)
    (other_alias,) = lines(run_module(account, tmp_path, cut_over(name=moved, load_balancer="another")))
    assert other_alias.startswith(f"cut-over: {moved} holds A alias of {balancer['DNSName'].lower()}, not the CNAME")
    cases = [
        (
            cut_over(expected={"cname": "search-api.elsewhere.acme-markets.net"}),
            f"cut-over: {earlier} holds CNAME {earlier_target}, not the CNAME search-api.elsewhere.acme-markets.net "
            "service_cut_over expects. Fix: check that what it holds is the earlier system's",
        ),
        (
            cut_over(name="search.earlier-markets.acme.net", zone="earlier-markets.acme.net"),
            "cut-over: no public Route 53 hosted zone earlier-markets.acme.net in this account holds "
            "search.earlier-markets.acme.net. Fix: set service_cut_over.zone",
        ),
        (
            cut_over(name="search.earlier-markets.in", zone="earlier-markets.in"),
            f"cut-over: no issued ACM certificate covers both {DOMAIN} and search.earlier-markets.in. Fix: request one",
        ),
        (
            cut_over(name=DOMAIN),
            f"cut-over: service_cut_over names {DOMAIN}, which is service_domain_name itself. Fix: release on a new",
        ),
    ]
    for arguments, refusal in cases:
        result = run_module(account, tmp_path, arguments)
        (line,) = lines(result)
        assert line.startswith(refusal), line


def test_a_cut_over_of_weighted_records_is_refused_as_the_swap_refuses_it(account, tmp_path):
    """Weighted records of the name, even all with the target expected, are not the one record
    route53_record_swap replaces: refused before the release changes anything, not at the switch."""
    route53 = account.aws("route53")
    target = "search-api.earlier-hosting.acme-markets.net"
    weighted = f"weighted.{ZONE}"
    hosted = route53.list_hosted_zones_by_name(DNSName=ZONE)["HostedZones"][0]["Id"]
    changes = [
        {
            "Action": "CREATE",
            "ResourceRecordSet": {
                "Name": weighted,
                "Type": "CNAME",
                "TTL": 300,
                "SetIdentifier": identifier,
                "Weight": weight,
                "ResourceRecords": [{"Value": target}],
            },
        }
        for identifier, weight in (("earlier", 90), ("canary", 10))
    ]
    route53.change_resource_record_sets(HostedZoneId=hosted, ChangeBatch={"Changes": changes})
    cut_over = {"name": weighted, "expected": {"cname": target}}
    (line,) = lines(run_module(account, tmp_path, {**complete(account), "cut_over": cut_over}))
    held = line.removeprefix(f"cut-over: {weighted} holds ").split(f", not the CNAME {target} service_cut_over")[0]
    assert sorted(held.split("; ")) == [f"CNAME {target} (set canary)", f"CNAME {target} (set earlier)"], line
