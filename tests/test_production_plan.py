"""The production inventory's release against an emulated production account: what a real account
is asked to do, read from the requests the runbook really sends.

moto plays the account (inventories/production's account id) holding what docs/operating.md's "First
production release" lists as prerequisites: a VPC with public subnets and private ones behind a
NAT gateway, a wildcard ACM certificate, the public hosted zone. Each run is `ansible-playbook
release.yml -i inventories/production` with only what an operator fills in given on the command
line (the VPC's ids, an alarm subscription, the secrets in the environment), from a shell whose
AWS_REGION names another region (as CloudShell's and CI's do) and, since nothing answers at
https://search.finbert-rag.example.com here, a stand-in for the service's health answers on
loopback at users' URL and the test listener's, each as the slot its listener forwards to in
moto would (blue/green). The images, validation and preflight phases are not run (they build
images, run notebooks against the service, and check the operator's git tree), except one
validation that finds no service: a run that switches users stands for a passed validation by
naming the revision it would have validated (release_validated_revision).

What moto does not enforce - a module option it ignores, a request field it drops - is read from
moto's recording of every request, i.e. what AWS would receive. Runs, in order: a first release
that fails (scaled to 0), the first release, staging's registry phase in the same account, a
re-run after ECS, autoscaling and an operator changed things, a re-run whose service does not
turn ready and a validate-only run that fails (both change nothing), a --check run, a re-run with
one environment value and one secret changed, the secrets under a KMS key and another secret
rotated by hand, and a release that changes a secret, fails and is rolled back.
"""

from __future__ import annotations

import functools
import hashlib
import json
import xml.etree.ElementTree as ElementTree

import pytest

from tests.helpers import ARTIFACTS, ROOT
from tests.runbook_runs import (
    BIN,
    PRODUCTION_ACCOUNT,
    PRODUCTION_ZONE,
    JsonAnswers,
    RecordedAccount,
    aws_client_factory,
    gunicorn_config,
    is_read,
    moto_server,
    playbook_environment,
    production_prerequisites,
    serve_on_loopback,
    writes_of,
)
from tools.benchmark import free_port
from webapp.settings import Settings

# slow, not rehearsal: it shares nothing with the local rehearsal (its own moto and stand-in, no
# image build), so `make test` runs it in the lane beside the image and rehearsal tests.
pytestmark = [pytest.mark.timeout(3600), pytest.mark.slow]

ACCOUNT = PRODUCTION_ACCOUNT
DOMAIN = "search.finbert-rag.example.com"
ZONE = PRODUCTION_ZONE
FAMILY = "finbert-rag-production-api"
CLUSTER = "finbert-rag-production"
LOAD_BALANCER = "finbert-rag-production"
# Blue/green: each slot's ECS service and target group (playbooks/vars/service.yml).
SLOTS = {
    "blue": ("finbert-rag-api", "finbert-rag-production-api"),
    "green": ("finbert-rag-api-green", "finbert-rag-production-api-green"),
}
REPOSITORY = "finbert-rag/production/api"
AWS_PHASES = ("Registry", "Secrets", "IAM", "Infrastructure", "Monitoring", "Deploy", "Switch", "Autoscaling", "Retire")
ALL_TAGS = "registry,secrets,iam,infrastructure,monitoring,deploy,switch,autoscaling,retire"
# Tokens with an "s" in them: a pattern that splits tokens on whitespace must not split on "s".
TOKENS = "as" * 20 + "," + "b" * 40
SHELL_REGION = "us-east-1"
# The commit each release's image is built from (release_commit: here given, since the images phase
# does not run and the checkout's HEAD may move during the runs), and the commit of a first release
# that fails, retried under the same version from the fixed one.
COMMIT = "c0ffee" * 6 + "c0ff"
FAILED_COMMIT = "badc0de" * 5 + "badc0"


class ServiceHealth:
    """Stands in for the service at users' URL (the HTTPS listener, 443) and the test listener's
    (8443): /health answers as the tasks of the slot that listener forwards to in moto would -
    the release version tagged on the revision its service runs, ready unless nothing runs, the
    version is `broken`, the whole service is `down` (a slow start, a yellow cluster) or the
    version is one users' listener does not reach (`unreachable_by_users`: a rule or a firewall
    of the users' path that the test listener does not share)."""

    def __init__(self, aws):
        self.aws, self.broken, self.down, self.unreachable_by_users = aws, set(), False, set()
        health = self

        def handler(port: int):
            class Handler(JsonAnswers):
                def do_GET(self):
                    version = health.version_behind(port)
                    ready = version is not None and version not in health.broken and not health.down
                    ready = ready and not (port == 443 and version in health.unreachable_by_users)
                    self.answer(200 if ready else 503, {"status": "ok" if ready else "loading", "version": version})

            return Handler

        self.servers = [serve_on_loopback(handler(port)) for port in (443, 8443)]
        self.url, self.test_url = (f"http://127.0.0.1:{server.server_port}" for server in self.servers)

    def version_behind(self, port: int) -> str | None:
        """The release the listener on `port` reaches: its slot's service's revision's, if it has tasks."""
        elbv2, ecs = self.aws("elbv2"), self.aws("ecs")
        balancers = [
            b for b in elbv2.describe_load_balancers()["LoadBalancers"] if b["LoadBalancerName"] == LOAD_BALANCER
        ]
        listeners = (
            elbv2.describe_listeners(LoadBalancerArn=balancers[0]["LoadBalancerArn"])["Listeners"] if balancers else []
        )
        forward = [listener["DefaultActions"][0] for listener in listeners if listener["Port"] == port]
        if not forward or forward[0]["Type"] != "forward":
            return None
        group = elbv2.describe_target_groups(TargetGroupArns=[forward[0]["TargetGroupArn"]])["TargetGroups"][0]
        (service_name,) = [name for name, group_name in SLOTS.values() if group_name == group["TargetGroupName"]]
        services = ecs.describe_services(cluster=CLUSTER, services=[service_name])["services"]
        if not services or services[0]["status"] != "ACTIVE" or services[0]["desiredCount"] == 0:
            return None
        tags = ecs.describe_task_definition(taskDefinition=services[0]["taskDefinition"], include=["TAGS"])["tags"]
        return {tag["key"]: tag["value"] for tag in tags}.get("release-version")

    def shutdown(self):
        for server in self.servers:
            server.shutdown()


@pytest.fixture(scope="module")
def account(tmp_path_factory):
    """moto as the production account, with the prerequisites, and what an operator fills in."""
    base = tmp_path_factory.mktemp("production")
    recording = base / "moto-recording.jsonl"
    logs = ARTIFACTS / "production-plan"
    if logs.exists():
        for old in logs.iterdir():
            old.unlink()
    with moto_server(
        free_port(),
        base / "moto.log",
        MOTO_ACCOUNT_ID=ACCOUNT,
        MOTO_IAM_LOAD_MANAGED_POLICIES="true",
        MOTO_ECS_SERVICE_RUNNING="2",
        MOTO_ENABLE_RECORDING="true",
        MOTO_RECORDER_FILEPATH=str(recording),
    ) as url:
        aws = aws_client_factory(url)
        network = production_prerequisites(aws)
        health = ServiceHealth(aws)
        operator = {
            "network_vpc_id": network["vpc"],
            "network_public_subnet_ids": network["public"],
            "network_private_subnet_ids": network["private"],
            "service_monitoring_alarm_subscriptions": [{"endpoint": "oncall@example.com", "protocol": "email"}],
            # Where this test reaches the service (nothing answers at the production URL here).
            "release_service_url": health.url,
            "release_test_url": health.test_url,
            # The slot users leave is scaled in at once (production keeps it 600 s).
            "release_bake_seconds": 0,
            # The stand-in answers at once: the timeout is what a release that never turns ready
            # waits before it is rolled back (two runs here).
            "service_readiness_timeout": 6,
            "service_readiness_poll": 1,
            "ecs_rollout_wait_poll": 2,
            # moto: the load balancer has no such attribute until one is set, and the module reads
            # it first (inventories/local says the same).
            "load_balancer_drop_invalid_header_fields": None,
            "release_commit": COMMIT,
        }
        (base / "operator.json").write_text(json.dumps(operator))
        environment = {
            # The operator's shell is in another region; the AWS modules read AWS_REGION first.
            **playbook_environment(url, region=SHELL_REGION),
            "FINNEWS_ES_API_KEY": "production-es-api-key-0123456789abcdef",
            "FINNEWS_API_TOKENS": TOKENS,
        }

        class Account(RecordedAccount):
            def release(self, name, version, *args, tags=ALL_TAGS, env=None, inventory="production"):
                command = [str(BIN / "ansible-playbook"), "release.yml", "-i", f"inventories/{inventory}"]
                command += [f"--tags={tags}", f"-erelease_version={version}", f"-e@{base / 'operator.json'}", *args]
                return self.playbook(name, command, env=env)

        account = Account(aws, recording, logs, environment)
        account.network, account.health = network, health
        yield account
        health.shutdown()
        write_plan(logs)


def write_plan(logs) -> None:
    """What each run changed, phase by phase (test-artifacts/production-plan/plan.md): the plan an
    operator reads before a first production release."""
    lines = []
    for report in sorted(logs.glob("*.json"), key=lambda path: path.stat().st_mtime):
        text = report.read_text()
        start = text.find('{\n    "custom_stats"')
        if start < 0:
            continue
        lines.append(f"## {report.stem}")
        for play in json.JSONDecoder().raw_decode(text[start:])[0]["plays"]:
            changed = [t["task"]["name"] for t in play["tasks"] if t["hosts"].get("localhost", {}).get("changed")]
            lines.append(f"- {play['play']['name']}: " + ("; ".join(changed) if changed else "nothing changed"))
    (logs / "plan.md").write_text("\n".join(lines) + "\n")


def sent(requests, operation: str) -> list[dict]:
    return [request["json"] or request["form"] for request in requests if request["operation"] == operation]


def revision_status(aws, revision: int) -> str:
    return aws("ecs").describe_task_definition(taskDefinition=f"{FAMILY}:{revision}")["taskDefinition"]["status"]


def live_slot(aws) -> str:
    """The slot the load balancer's HTTPS listener forwards to: the one users reach."""
    balancer = aws("elbv2").describe_load_balancers(Names=[LOAD_BALANCER])["LoadBalancers"][0]
    listeners = aws("elbv2").describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    (https,) = [listener for listener in listeners if listener["Port"] == 443]
    group = aws("elbv2").describe_target_groups(TargetGroupArns=[https["DefaultActions"][0]["TargetGroupArn"]])
    name = group["TargetGroups"][0]["TargetGroupName"]
    return next(slot for slot, (_, group_name) in SLOTS.items() if group_name == name)


def service(aws, slot: str | None = None) -> dict:
    """The ECS service of `slot`, by default the one users reach."""
    name = SLOTS[slot or live_slot(aws)][0]
    return aws("ecs").describe_services(cluster=CLUSTER, services=[name])["services"][0]


def validated(aws) -> str:
    """Stands for a validation that passed the revision the run registers next (the production
    plan runs no notebooks): the switch moves users only to a revision validated in its run."""
    revisions = [
        arn
        for status in ("ACTIVE", "INACTIVE")  # moto lists none for ALL
        for arn in aws("ecs").list_task_definitions(familyPrefix=FAMILY, status=status)["taskDefinitionArns"]
    ]
    return f"-erelease_validated_revision={FAMILY}:{len(revisions) + 1}"


def build_tag(version: str, commit: str = COMMIT) -> str:
    """The tag the images phase pushes a release's image under (roles/images' images_build_tag)."""
    return f"build-{version}-{commit}"


def image_manifest(version: str, commit: str = COMMIT) -> str:
    """A manifest of its own for each version and commit, as an image build makes one."""
    config = hashlib.sha256(f"{version} {commit}".encode()).hexdigest()
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 7,
                "digest": f"sha256:{config}",
            },
            "layers": [],
        }
    )


def push_build(aws, version: str, commit: str = COMMIT) -> None:
    """What the images phase (not run here) leaves in ECR: the image under its build tag only."""
    aws("ecr").put_image(
        repositoryName=REPOSITORY, imageManifest=image_manifest(version, commit), imageTag=build_tag(version, commit)
    )


def image_tags(aws) -> set[str]:
    images = aws("ecr").describe_images(repositoryName=REPOSITORY)["imageDetails"]
    return {tag for image in images for tag in image.get("imageTags", [])}


def named(aws, tag: str) -> str:
    """The manifest a tag names in ECR (moto's digests do not tell manifests apart)."""
    images = aws("ecr").batch_get_image(repositoryName=REPOSITORY, imageIds=[{"imageTag": tag}])["images"]
    return images[0]["imageManifest"]


def deployed_images(requests) -> list[str]:
    return [definition["containerDefinitions"][0]["image"] for definition in sent(requests, "RegisterTaskDefinition")]


def live_revision(aws) -> int:
    """The revision number the service points at (ECS gives an ARN, moto sometimes family:revision)."""
    return int(service(aws)["taskDefinition"].rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def first_releases(account):
    """A first release whose service never turns ready, then the same version again from another
    commit (the fix), which does."""
    account.health.broken = {"v2.0.0"}
    failed = account.release("first-release-fails", "v2.0.0", f"-erelease_commit={FAILED_COMMIT}")
    failed_requests = account.requests()
    # Its image, which its images phase pushed (the registry phase made the repository), and the fix's.
    push_build(account.aws, "v2.0.0", FAILED_COMMIT)
    account.failed_first_release_tags = image_tags(account.aws)
    push_build(account.aws, "v2.0.0")
    account.health.broken = set()
    passed = account.release("first-release", "v2.0.0", validated(account.aws))
    return failed, failed_requests, passed, account.requests(0)


def test_failure_2_a_failed_first_release_is_scaled_to_zero(account, first_releases):
    failed, _, _, _ = first_releases
    assert failed.returncode != 0
    assert "FIRST RELEASE FAILED" in failed.messages() and "scaled to 0 tasks" in failed.messages(), failed.explain()
    assert "ROLLBACK FAILED" not in failed.output
    assert "RELEASE FAILED: v2.0.0 did not deploy (a first release: scaled to 0 tasks" in failed.messages()
    # The revision it registered is gone; the next release registered its own and serves.
    assert revision_status(account.aws, 1) == "INACTIVE"


def test_a_failed_first_release_leaves_its_version_for_a_fixed_commit(account, first_releases):
    """The failed first release ran its image by its build tag and gave it neither its version's
    tag nor prod or latest (a version tag is immutable: given to a failed image, the version would
    be used up); the same version from a fixed commit then released, and its image took them."""
    failed, failed_requests, passed, requests = first_releases
    assert failed.returncode != 0 and passed.returncode == 0, passed.explain()
    registry = f"{ACCOUNT}.dkr.ecr.ap-south-1.amazonaws.com"
    assert deployed_images(failed_requests) == [f"{registry}/{REPOSITORY}:{build_tag('v2.0.0', FAILED_COMMIT)}"]
    assert account.failed_first_release_tags == {build_tag("v2.0.0", FAILED_COMMIT)}
    assert deployed_images(requests)[-1] == f"{registry}/{REPOSITORY}:{build_tag('v2.0.0')}"
    tags = ("v2.0.0", "prod", "latest")
    assert {named(account.aws, tag) for tag in tags} == {image_manifest("v2.0.0")}
    assert image_manifest("v2.0.0") != image_manifest("v2.0.0", FAILED_COMMIT)


def test_failure_2_the_first_release_passes_through_the_domain_record(account, first_releases):
    _, _, passed, requests = first_releases
    assert passed.returncode == 0, passed.explain()
    live = service(account.aws)
    # Nothing served: the release went to green (blue is the first live slot), then users to it.
    assert live_slot(account.aws) == "green" and live_revision(account.aws) == 2 and live["desiredCount"] == 2
    # The domain is an alias of the load balancer, created (and waited for) by the infrastructure phase.
    balancer = account.aws("elbv2").describe_load_balancers(Names=["finbert-rag-production"])["LoadBalancers"][0]
    zone = account.aws("route53").list_hosted_zones_by_name(DNSName=ZONE)["HostedZones"][0]["Id"]
    records = account.aws("route53").list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    record = next(r for r in records if r["Name"] == f"{DOMAIN}." and r["Type"] == "A")
    assert record["AliasTarget"]["DNSName"].rstrip(".").lower() == balancer["DNSName"].lower()
    assert record["AliasTarget"]["HostedZoneId"] == balancer["CanonicalHostedZoneId"]
    operations = [request["operation"] or "" for request in requests]
    change = next(
        i
        for i, op in enumerate(operations)
        if op.startswith(f"POST /2013-04-01/hostedzone/{zone.split('/')[-1]}/rrset")
    )
    assert any(op.startswith("GET /2013-04-01/change/") for op in operations[change:]), "the record is waited for"
    # ...before anything of the deploy.
    assert change < operations.index("RegisterTaskDefinition")


def test_a_shell_in_another_region_releases_into_the_environment_s_region(account, first_releases):
    """The operator's shell names another region in AWS_REGION (CloudShell's, a CI credential
    action's): everything is made in the inventory's region, nothing in the shell's. Before, the
    AWS modules read AWS_REGION before the inventory's AWS_DEFAULT_REGION, and a re-release from
    such a shell made the secrets there and pointed the execution role's policy at them."""
    elsewhere = functools.partial(account.aws, region=SHELL_REGION)
    assert elsewhere("secretsmanager").list_secrets()["SecretList"] == []
    assert elsewhere("ecs").list_clusters()["clusterArns"] == []
    assert elsewhere("ecr").describe_repositories()["repositories"] == []
    assert elsewhere("elbv2").describe_load_balancers()["LoadBalancers"] == []
    assert elsewhere("logs").describe_log_groups()["logGroups"] == []
    assert {secret["Name"] for secret in account.aws("secretsmanager").list_secrets()["SecretList"]} == {
        "finbert-rag/production/elasticsearch",
        "finbert-rag/production/api-tokens",
    }


def pullers_of(aws, repository: str) -> list[str]:
    policy = json.loads(aws("ecr").get_repository_policy(repositoryName=repository)["policyText"])
    return next(s for s in policy["Statement"] if s["Sid"] == "PullByNamedRoles")["Condition"]["ArnLike"][
        "aws:PrincipalArn"
    ]


def test_staging_in_the_same_account_leaves_production_s_images_alone(account, first_releases):
    """Staging released into production's account (vars/service.yml allows it) has a repository
    of its own. Before, both used finbert-rag/api: staging's registry phase rewrote its policy
    with staging's execution role as the only puller (production's next task could not pull its
    image) and its lifecycle to keep 10 images (expiring those a production rollback needs)."""
    ecr = account.aws("ecr")
    policy = ecr.get_repository_policy(repositoryName=REPOSITORY)["policyText"]
    lifecycle = ecr.get_lifecycle_policy(repositoryName=REPOSITORY)["lifecyclePolicyText"]
    # Production in another account promotes staging's images (ecr_repositories_promotion_pull_roles).
    promoter = "arn:aws:iam::444455556666:role/finbert-rag-release"
    promoters = "-e" + json.dumps({"ecr_repositories_promotion_pull_roles": [promoter]})
    run = account.release("staging-registry", "v2.0.0", promoters, tags="registry", inventory="staging")
    assert run.returncode == 0, run.explain()
    assert ecr.get_repository_policy(repositoryName=REPOSITORY)["policyText"] == policy
    assert ecr.get_lifecycle_policy(repositoryName=REPOSITORY)["lifecyclePolicyText"] == lifecycle
    assert f"arn:aws:iam::{ACCOUNT}:role/finbert-rag-production-task-execution" in pullers_of(account.aws, REPOSITORY)
    staging = pullers_of(account.aws, "finbert-rag/staging/api")
    assert f"arn:aws:iam::{ACCOUNT}:role/finbert-rag-staging-task-execution" in staging
    assert not [puller for puller in staging if "production" in puller]
    # The other account's role may pull staging's images, and nothing else; the deny spares it.
    statements = {
        s["Sid"]: s
        for s in json.loads(ecr.get_repository_policy(repositoryName="finbert-rag/staging/api")["policyText"])[
            "Statement"
        ]
    }
    promoting = statements["PullByPromotingRoles"]
    assert promoting["Principal"] == {"AWS": ["arn:aws:iam::444455556666:root"]}
    assert promoting["Condition"] == {"ArnLike": {"aws:PrincipalArn": [promoter]}}
    assert set(promoting["Action"]) == {
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
    }
    assert promoter in statements["DenyImagesToOthers"]["Condition"]["ArnNotLike"]["aws:PrincipalArn"]


def test_failure_4_health_checks_and_timeouts(first_releases):
    *_, requests = first_releases
    groups = sent(requests, "CreateTargetGroup")
    assert sorted(group["Name"][0] for group in groups) == sorted(group for _, group in SLOTS.values())
    assert {group["HealthCheckPath"][0] for group in groups} == {"/health/ready"}
    check_timeout = min(int(group["HealthCheckTimeoutSeconds"][0]) for group in groups)
    for definition in sent(requests, "RegisterTaskDefinition"):
        [container] = definition["containerDefinitions"]
        command = " ".join(container["healthCheck"]["command"])
        assert "/health/live" in command and "/health/ready" not in command
        assert container["healthCheck"]["timeout"] <= check_timeout
        environment = {variable["name"]: variable["value"] for variable in container["environment"]}
        # /health/ready waits for the store's health call: that call gives up before the check does.
        assert float(environment["FINNEWS_ES_REQUEST_TIMEOUT"]) < check_timeout


def test_failure_5_ecs_rolls_back_by_itself(first_releases):
    *_, requests = first_releases
    configurations = [request["deploymentConfiguration"] for request in sent(requests, "CreateService")]
    configurations += [
        request["deploymentConfiguration"] for request in sent(requests, "UpdateService") if request.get("desiredCount")
    ]
    assert configurations
    for configuration in configurations:
        assert configuration["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}


def test_failure_6_alarms_before_the_deploy_and_someone_hears_them(account, first_releases):
    _, failed_requests, _, requests = first_releases
    # Created although the deploy failed: the monitoring phase runs before it.
    operations = [request["operation"] or "" for request in failed_requests]
    assert operations.index("PutMetricAlarm") < operations.index("RegisterTaskDefinition")
    alarms = {alarm["AlarmName"]: alarm for alarm in account.aws("cloudwatch").describe_alarms()["MetricAlarms"]}
    below = alarms["finbert-rag-production-healthy-hosts-below-minimum"]
    assert below["MetricName"] == "HealthyHostCount" and below["Namespace"] == "AWS/ApplicationELB"
    assert below["ComparisonOperator"] == "LessThanThreshold" and below["Threshold"] == 2
    assert below["TreatMissingData"] == "breaching"
    # Five minutes in breach, minute by minute (roles/service_monitoring/defaults), as CloudWatch got
    # it; the autoscaling policies' own alarms (TargetTracking-...) are Application Auto Scaling's.
    monitoring = [alarm for name, alarm in alarms.items() if name.startswith("finbert-rag-production-")]
    assert len(monitoring) >= 8 and {(alarm["Period"], alarm["EvaluationPeriods"]) for alarm in monitoring} == {(60, 5)}
    assert {dimension["Name"] for dimension in below["Dimensions"]} == {"LoadBalancer", "TargetGroup"}
    for source, metric in (("targets", "HTTPCode_Target_4XX_Count"), ("load-balancer", "HTTPCode_ELB_4XX_Count")):
        alarm = alarms[f"finbert-rag-production-{source}-4xx-rate"]
        assert alarm["MetricName"] == metric and alarm["Namespace"] == "AWS/ApplicationELB"
    topic = next(t["TopicArn"] for t in account.aws("sns").list_topics()["Topics"] if t["TopicArn"].endswith("-alarms"))
    endpoints = {s["Endpoint"] for s in account.aws("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]}
    assert endpoints == {"oncall@example.com"}
    assert not [request for request in requests if request["operation"] == "Unsubscribe"]


def test_failure_7_network_shape_and_autoscaling(account, first_releases):
    *_, requests = first_releases
    [balancer] = sent(requests, "CreateLoadBalancer")
    assert sorted(value for key, [value] in balancer.items() if key.startswith("Subnets.member.")) == sorted(
        account.network["public"]
    )
    [created] = sent(requests, "CreateService")
    network = created["networkConfiguration"]["awsvpcConfiguration"]
    assert sorted(network["subnets"]) == sorted(account.network["private"]) and network["assignPublicIp"] == "DISABLED"
    autoscaling = account.aws("application-autoscaling")
    [target] = autoscaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert target["ResourceId"] == f"service/{CLUSTER}/{SLOTS['green'][0]}" and (
        target["MinCapacity"],
        target["MaxCapacity"],
    ) == (
        2,
        6,
    )
    [policy] = autoscaling.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
    configuration = policy["TargetTrackingScalingPolicyConfiguration"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert configuration["PredefinedMetricSpecification"]["PredefinedMetricType"] == "ECSServiceAverageCPUUtilization"


def test_failure_8_smaller_things(account, first_releases):
    *_, requests = first_releases
    # No instance profile beside the ECS roles (iam_role's deprecated default would make one).
    assert account.aws("iam").list_instance_profiles()["InstanceProfiles"] == []
    # awslogs does not block the service when CloudWatch Logs cannot take its output.
    definition = sent(requests, "RegisterTaskDefinition")[-1]
    [container] = definition["containerDefinitions"]
    assert container["logConfiguration"]["options"]["mode"] == "non-blocking"
    # The wildcard certificate was found for the domain, not the other one.
    https = [listener for listener in sent(requests, "CreateListener") if listener["Protocol"] == ["HTTPS"]]
    assert https and https[0]["Certificates.member.1.CertificateArn"] == [account.network["certificate"]]
    # Roles with a path (IAM Identity Center's) may push.
    policy = json.loads(account.aws("ecr").get_repository_policy(repositoryName=REPOSITORY)["policyText"])
    pushers = next(s for s in policy["Statement"] if s["Sid"] == "PushByNamedRoles")["Condition"]["ArnLike"]
    assert f"arn:aws:iam::{ACCOUNT}:role/*/finbert-rag-release" in pushers["aws:PrincipalArn"]
    # Elasticsearch's credential is an API key from Secrets Manager.
    secrets = {secret["name"]: secret["valueFrom"] for secret in container["secrets"]}
    assert set(secrets) == {"FINNEWS_ES_API_KEY", "FINNEWS_API_TOKENS"}
    stored = account.aws("secretsmanager").get_secret_value(SecretId="finbert-rag/production/elasticsearch")
    assert json.loads(stored["SecretString"]) == {"api_key": "production-es-api-key-0123456789abcdef"}
    # The version the release stored is pinned: a later value reaches only a later revision.
    assert secrets["FINNEWS_ES_API_KEY"] == stored["ARN"] + ":api_key::" + stored["VersionId"]
    # AWS services reading images for the account (Inspector's scans) are not denied.
    deny = next(s for s in policy["Statement"] if s["Sid"] == "DenyImagesToOthers")["Condition"]
    assert f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/*" in deny["ArnNotLike"]["aws:PrincipalArn"]
    assert deny["BoolIfExists"] == {"aws:PrincipalIsAWSService": "false"}


def test_the_task_stops_after_draining_and_writes_to_its_volumes_only(first_releases):
    *_, requests = first_releases
    # ECS takes a stopping task out of the target group and waits until the load balancer has
    # drained it - at most the deregistration delay - before it sends SIGTERM; SIGKILL follows
    # once the container's stopTimeout has passed. The two come one after the other: the delay
    # need not fit in the stop timeout, it must outlast the longest request the balancer can
    # have in flight there (the service answers 503 at its request deadline), so that none is
    # cut; gunicorn's graceful_timeout then has the stop timeout to itself.
    attributes = {
        request[key][0]: request[key.removesuffix("Key") + "Value"][0]
        for request in sent(requests, "ModifyTargetGroupAttributes")
        for key in request
        if key.endswith(".Key")
    }
    graceful_timeout = gunicorn_config(ROOT)["graceful_timeout"]
    definitions = sent(requests, "RegisterTaskDefinition")
    assert definitions
    for definition in definitions:
        [container] = definition["containerDefinitions"]
        environment = {variable["name"]: variable["value"] for variable in container["environment"]}
        deadline = float(environment.get("FINNEWS_REQUEST_TIMEOUT", Settings.model_fields["request_timeout"].default))
        assert deadline < int(attributes["deregistration_delay.timeout_seconds"])
        assert graceful_timeout < container["stopTimeout"] <= 120
        # What the module passed on to AWS: the read-only root and the task's own empty volumes.
        assert container["readonlyRootFilesystem"] is True
        assert definition["volumes"] and all(set(volume) == {"name"} for volume in definition["volumes"])
        assert sorted(mount["sourceVolume"] for mount in container["mountPoints"]) == sorted(
            volume["name"] for volume in definition["volumes"]
        )


@pytest.fixture(scope="module")
def rerun(account, first_releases):
    """ECS registers a task, autoscaling sets 4 tasks and an operator subscribes by hand; then
    the same release again."""
    aws = account.aws
    slot = live_slot(aws)
    group = aws("elbv2").describe_target_groups(Names=[SLOTS[slot][1]])["TargetGroups"][0]["TargetGroupArn"]
    aws("elbv2").register_targets(TargetGroupArn=group, Targets=[{"Id": "10.40.10.25", "Port": 8000}])
    aws("ecs").update_service(cluster=CLUSTER, service=SLOTS[slot][0], desiredCount=4)
    topic = next(t["TopicArn"] for t in aws("sns").list_topics()["Topics"] if t["TopicArn"].endswith("-alarms"))
    aws("sns").subscribe(TopicArn=topic, Protocol="email", Endpoint="added-by-hand@example.com")
    run = account.release("re-run", "v2.0.0")
    return run, account.requests(), group, topic


def test_rerun_changes_nothing(rerun):
    run, requests, _, _ = rerun
    assert run.returncode == 0, run.explain()
    changed = run.changed_by_play()
    assert {phase: changed.get(phase) for phase in AWS_PHASES} == dict.fromkeys(AWS_PHASES, 0), {
        phase: run.changed_tasks(phase) for phase in AWS_PHASES
    }
    assert not [request["operation"] for request in requests if not is_read(request["operation"] or "GET ")]


def test_failure_1_the_infrastructure_phase_leaves_the_targets_alone(account, rerun):
    _, requests, group, _ = rerun
    targets = account.aws("elbv2").describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
    assert [(t["Target"]["Id"], t["Target"]["Port"]) for t in targets] == [("10.40.10.25", 8000)]
    assert "DeregisterTargets" not in {request["operation"] for request in requests}


def test_failure_6_a_subscription_added_by_hand_stays(account, rerun):
    *_, topic = rerun
    endpoints = {s["Endpoint"] for s in account.aws("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]}
    assert endpoints == {"oncall@example.com", "added-by-hand@example.com"}


def test_failure_7_a_release_keeps_autoscaling_s_count(account, rerun):
    assert service(account.aws)["desiredCount"] == 4


def assert_left_as_found(account, serving: int, count: int) -> None:
    """The service runs the revision and task count it ran before the run, still ACTIVE, and the
    run asked AWS to write nothing."""
    assert live_revision(account.aws) == serving and service(account.aws)["desiredCount"] == count
    assert revision_status(account.aws, serving) == "ACTIVE"
    assert not writes_of(account.requests())


def test_a_rerun_whose_service_does_not_turn_ready_rolls_nothing_back(account, rerun):
    """The release that serves, run again while the service does not answer ready (a slow start,
    a yellow cluster): the run fails and changes nothing. It changed no revision, so it has
    nothing of its own to roll back; before, it rolled back along the revision's tags, and a
    revision without one (this release followed a failed first release) was scaled to 0."""
    serving, count = live_revision(account.aws), service(account.aws)["desiredCount"]
    account.health.down = True
    try:
        run = account.release("rerun-not-ready", "v2.0.0")
    finally:
        account.health.down = False
    assert run.returncode != 0
    assert "NOTHING ROLLED BACK: v2.0.0 failed to deploy" in run.messages(), run.explain()
    assert "RELEASE FAILED: v2.0.0 did not deploy (nothing rolled back" in run.messages()
    assert_left_as_found(account, serving, count)


def test_a_validate_only_run_that_fails_rolls_nothing_back(account, rerun, tmp_path):
    """--tags validate alone (a phase run on its own, as an operator resumes a release) validates
    what serves. When that fails - here nothing answers where the service should - nothing is
    rolled back: the run deployed nothing. Before, the validate phase read the deploy phase's
    task count, failed on it without validating, and rolled the serving revision back."""
    serving, count = live_revision(account.aws), service(account.aws)["desiredCount"]
    run = account.release(
        "validate-only-fails",
        "v2.0.0",
        f"-erelease_service_url=http://127.0.0.1:{free_port()}",
        f"-erelease_validation_reports_dir={tmp_path}",
        tags="validate",
    )
    assert run.returncode != 0
    assert "v2.0.0 failed validation (validation could not run" in run.messages(), run.explain()
    assert "RELEASE FAILED: v2.0.0 failed validation (nothing rolled back" in run.messages()
    assert_left_as_found(account, serving, count)


def test_check_mode_asks_for_reads_only(account, rerun):
    run = account.release("check", "v2.0.0", "--check")
    assert run.returncode == 0, run.explain()
    assert all(count == 0 for count in run.changed_by_play().values()), run.changed_by_play()
    assert not writes_of(account.requests())


KMS_ALIAS = "alias/finbert-rag-secrets"
SECRET_WRITES = {"CreateSecret", "UpdateSecret", "PutSecretValue", "CancelRotateSecret", "RotateSecret"}


def secret_writes(requests) -> list[tuple[str, str]]:
    return [
        (request["operation"], (request["json"] or {}).get("SecretId", (request["json"] or {}).get("Name")))
        for request in requests
        if request["operation"] in SECRET_WRITES
    ]


def secret_of(aws, definition: str, variable: str) -> str:
    """The valueFrom of VARIABLE in the task definition DEFINITION."""
    [container] = aws("ecs").describe_task_definition(taskDefinition=definition)["taskDefinition"][
        "containerDefinitions"
    ]
    return next(secret["valueFrom"] for secret in container["secrets"] if secret["name"] == variable)


@pytest.fixture(scope="module")
def kms_key(account):
    key = account.aws("kms").create_key(Description="the service's secrets")["KeyMetadata"]["Arn"]
    account.aws("kms").create_alias(AliasName=KMS_ALIAS, TargetKeyId=key)
    return key


def test_failure_3_a_changed_environment_value_and_secret_make_a_new_revision(account, rerun, kms_key):
    """One environment value and one secret changed, and the secrets put under a KMS key named by
    its alias: a new revision, which reads the version of each secret this run stored, and an
    execution role that may decrypt with that key through Secrets Manager only."""
    before, slot = live_revision(account.aws), live_slot(account.aws)
    # Autoscaling scaled in again: moto starts MOTO_ECS_SERVICE_RUNNING (2) tasks in a service it
    # creates, whatever its count, and the slot the release goes to is created with users' count.
    account.aws("ecs").update_service(cluster=CLUSTER, service=SLOTS[slot][0], desiredCount=2)
    run = account.release(
        "changed-environment-and-secret",
        "v2.0.0",
        validated(account.aws),
        '-e{"ecs_deploy_extra_environment": {"FINNEWS_WORKERS": "2", "FINNEWS_STORE_BACKEND": "elasticsearch",'
        ' "FINNEWS_ES_HOSTS": "https://search-es.finbert-rag.example.com:9200", "FINNEWS_ES_INDEX": "finnews-2"}}',
        f"-erelease_secrets_kms_key={KMS_ALIAS}",
        tags="secrets,iam,infrastructure,deploy,switch,autoscaling,retire",
        env={"FINNEWS_API_TOKENS": "cs" * 20},
    )
    assert run.returncode == 0, run.explain()
    live = live_revision(account.aws)
    # To the other slot, then users switched to it; the slot they left scaled in after its bake time.
    assert live == before + 1 and live_slot(account.aws) != slot and service(account.aws, slot)["desiredCount"] == 0
    definition = account.aws("ecs").describe_task_definition(taskDefinition=f"{FAMILY}:{live}", include=["TAGS"])
    [container] = definition["taskDefinition"]["containerDefinitions"]
    assert {"name": "FINNEWS_ES_INDEX", "value": "finnews-2"} in container["environment"]
    tags = {tag["key"]: tag["value"] for tag in definition["tags"]}
    assert tags["release-version"] == "v2.0.0" and tags["previous-task-definition"] == f"{FAMILY}:{before}"
    secretsmanager = account.aws("secretsmanager")
    for name, variable in (("api-tokens", "FINNEWS_API_TOKENS"), ("elasticsearch", "FINNEWS_ES_API_KEY")):
        stored = secretsmanager.get_secret_value(SecretId=f"finbert-rag/production/{name}")
        assert secret_of(account.aws, f"{FAMILY}:{live}", variable).endswith("::" + stored["VersionId"])
        # Secrets Manager names the key by its ARN: an alias passed on would never match it again.
        assert secretsmanager.describe_secret(SecretId=stored["ARN"])["KmsKeyId"] == kms_key
    assert "cs" * 20 in secretsmanager.get_secret_value(SecretId="finbert-rag/production/api-tokens")["SecretString"]
    policy = account.aws("iam").get_role_policy(
        RoleName="finbert-rag-production-task-execution", PolicyName="read-release-secrets"
    )["PolicyDocument"]
    decrypt = next(s for s in policy["Statement"] if s["Sid"] == "DecryptReleaseSecrets")
    assert decrypt["Action"] == "kms:Decrypt" and decrypt["Resource"] == kms_key
    assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": "secretsmanager.ap-south-1.amazonaws.com"}}


def test_a_rerun_under_a_kms_key_writes_no_secret(account, rerun, kms_key):
    """The same secrets and key again: nothing written, so no new version and no new revision.
    (A key passed on as its alias never matches what Secrets Manager reports, the key's ARN.)"""
    run = account.release(
        "secrets-under-a-kms-key-again",
        "v2.0.0",
        f"-erelease_secrets_kms_key={KMS_ALIAS}",
        tags="secrets,iam",
        env={"FINNEWS_API_TOKENS": "cs" * 20},
    )
    assert run.returncode == 0, run.explain()
    assert secret_writes(account.requests()) == []
    assert run.changed_by_play().get("Secrets") == 0 and run.changed_by_play().get("IAM") == 0


def test_failure_5_a_failed_release_is_rolled_back_and_leaves_its_version_untagged(account, rerun, kms_key):
    push_build(account.aws, "v2.1.0")
    serving = f"{FAMILY}:{live_revision(account.aws)}"
    serving_tokens = secret_of(account.aws, serving, "FINNEWS_API_TOKENS")
    # Elasticsearch's key is rotated by a rotation of the operators' own, which has just
    # replaced the value the release stored (moto: a schedule without a function, then the
    # function's work done by hand).
    secretsmanager = account.aws("secretsmanager")
    elasticsearch = "finbert-rag/production/elasticsearch"
    secretsmanager.rotate_secret(
        SecretId=elasticsearch, RotationRules={"AutomaticallyAfterDays": 30}, RotateImmediately=False
    )
    secretsmanager.put_secret_value(SecretId=elasticsearch, SecretString='{"api_key": "rotated-0123456789abcdef"}')
    account.health.broken = {"v2.1.0"}  # v2.1.0 never turns ready
    run = account.release(
        "failed-release",
        "v2.1.0",
        f"-erelease_secrets_kms_key={KMS_ALIAS}",
        tags="secrets,iam,infrastructure,deploy",
        env={"FINNEWS_API_TOKENS": "d" * 40},
    )
    assert run.returncode != 0
    assert "SCALED IN: v2.1.0 failed to deploy" in run.messages(), run.explain()
    # Users never reached v2.1.0: it ran behind the test listener only, then was scaled in.
    assert f"({serving}, v2.0.0) throughout" in run.messages()
    assert f"{FAMILY}:{live_revision(account.aws)}" == serving
    failed = f"{FAMILY}:{live_revision(account.aws) + 1}"
    assert revision_status(account.aws, live_revision(account.aws) + 1) == "INACTIVE"
    # The release stored its new token, and the revision it failed with read that version; the
    # revision serving again reads its own, as before the run, whatever the secret's current value.
    assert secret_of(account.aws, serving, "FINNEWS_API_TOKENS") == serving_tokens
    arn, version = serving_tokens.split(":tokens::")
    assert "cs" * 20 in secretsmanager.get_secret_value(SecretId=arn, VersionId=version)["SecretString"]
    assert "d" * 40 in secretsmanager.get_secret_value(SecretId=arn)["SecretString"]
    assert secret_of(account.aws, failed, "FINNEWS_API_TOKENS") != serving_tokens
    # The rotated secret was left to its rotation: neither written nor its rotation cancelled, and
    # the release's revision read it at AWSCURRENT (a pinned version would go stale at the next
    # rotation).
    assert [target for _, target in secret_writes(account.requests())] == ["finbert-rag/production/api-tokens"]
    assert secretsmanager.describe_secret(SecretId=elasticsearch)["RotationEnabled"] is True
    assert "rotated-0123456789abcdef" in secretsmanager.get_secret_value(SecretId=elasticsearch)["SecretString"]
    assert secret_of(account.aws, failed, "FINNEWS_ES_API_KEY").endswith(":api_key:AWSCURRENT:")

    # v2.1.0 never passed its validation: its image keeps its build tag only, whoever pulls prod or
    # latest gets v2.0.0 throughout, and v2.1.0 can be released again from a fixed commit.
    tags = image_tags(account.aws)
    assert "v2.1.0" not in tags and build_tag("v2.1.0") in tags
    assert named(account.aws, "prod") == named(account.aws, "latest") == named(account.aws, "v2.0.0")
    assert not sent(account.requests(), "PutImage")


def test_a_validate_only_run_after_a_failed_release_signs_in_with_the_serving_revision_s_token(
    account, rerun, kms_key, tmp_path
):
    """After a release that stored new API tokens failed (failure 5), the revision serving again
    reads the tokens before it: the version its task definition pins. A validate-only run signs
    in with those, not with the new ones the operator's source now holds. Before, it sent the new
    ones, and every check of the revision that serves got 401."""
    presented = []

    class RefusesEveryone(JsonAnswers):
        def do_GET(self):
            presented.append(self.headers.get("Authorization", ""))
            self.answer(401, {"error": "unauthorized"})

    server = serve_on_loopback(RefusesEveryone)
    try:
        run = account.release(
            "validate-only-after-a-failed-release",
            "v2.0.0",
            f"-erelease_service_url=http://127.0.0.1:{server.server_port}",
            f"-erelease_validation_reports_dir={tmp_path}",
            tags="validate",
            env={"FINNEWS_API_TOKENS": "d" * 40},
        )
    finally:
        server.shutdown()
    assert run.returncode != 0  # the stand-in refuses every token
    pinned = secret_of(account.aws, f"{FAMILY}:{live_revision(account.aws)}", "FINNEWS_API_TOKENS")
    arn, version = pinned.split(":tokens::")
    secret = account.aws("secretsmanager").get_secret_value(SecretId=arn, VersionId=version)["SecretString"]
    serving_token = json.loads(secret)["tokens"].split(",")[0]
    assert serving_token != "d" * 40
    assert presented and set(presented) == {f"Bearer {serving_token}"}, run.explain()


def test_a_release_users_are_not_answered_by_is_switched_back(account, rerun, kms_key):
    """Validated through the test listener, switched to, and then users' own listener does not get
    answers from it: users are switched back at once to the tasks they left, which never stopped,
    and the release is scaled in."""
    slot, serving = live_slot(account.aws), live_revision(account.aws)
    count = service(account.aws)["desiredCount"]
    push_build(account.aws, "v2.2.0")
    account.health.unreachable_by_users = {"v2.2.0"}
    try:
        run = account.release(
            "switched-back",
            "v2.2.0",
            validated(account.aws),
            f"-erelease_secrets_kms_key={KMS_ALIAS}",
            "-erelease_switch_check_timeout=5",
            tags="secrets,iam,infrastructure,deploy,switch,autoscaling,retire",
            env={"FINNEWS_API_TOKENS": "d" * 40},
        )
    finally:
        account.health.unreachable_by_users = set()
    assert run.returncode != 0
    assert "SWITCHED BACK: users reach" in run.messages() and "no task was started" in run.messages(), run.explain()
    assert "RELEASE FAILED: v2.2.0 failed its switch (scaled in; users stayed on v2.0.0" in run.messages()
    assert live_slot(account.aws) == slot and live_revision(account.aws) == serving
    assert service(account.aws)["desiredCount"] == count
    other = "green" if slot == "blue" else "blue"
    assert service(account.aws, other)["desiredCount"] == 0 and revision_status(account.aws, serving + 2) == "INACTIVE"
    # Validated, but users were not answered by it: no tag names its image but its build tag.
    assert "v2.2.0" not in image_tags(account.aws) and named(account.aws, "prod") == named(account.aws, "v2.0.0")
    # The serving slot's service was never touched: its tasks served throughout.
    assert not [
        request for request in sent(account.requests(), "UpdateService") if request["service"] == SLOTS[slot][0]
    ]


def test_a_rollback_by_hand_in_the_bake_time_switches_back_without_a_task(account, rerun, kms_key):
    """A release whose retire phase has not run yet (its bake time): --tags rollback points users'
    listener back at the slot they left, whose tasks still run, and starts no task."""
    slot, serving = live_slot(account.aws), live_revision(account.aws)
    push_build(account.aws, "v2.3.0")
    run = account.release(
        "release-in-its-bake-time",
        "v2.3.0",
        validated(account.aws),
        f"-erelease_secrets_kms_key={KMS_ALIAS}",
        tags="secrets,iam,infrastructure,deploy,switch,autoscaling",
        env={"FINNEWS_API_TOKENS": "d" * 40},
    )
    assert run.returncode == 0, run.explain()
    assert live_slot(account.aws) != slot and service(account.aws, slot)["desiredCount"] > 0
    # Users reach it: its image took its version's tag and the tags that follow releases.
    assert {named(account.aws, tag) for tag in ("v2.3.0", "prod", "latest")} == {image_manifest("v2.3.0")}
    rollback = account.release("rollback-by-switch", "v2.3.0", tags="rollback")
    assert rollback.returncode == 0, rollback.explain()
    assert "SWITCHED BACK: users reach" in rollback.messages() and "v2.0.0) again" in rollback.messages()
    assert live_slot(account.aws) == slot and live_revision(account.aws) == serving
    assert named(account.aws, "prod") == named(account.aws, "latest") == named(account.aws, "v2.0.0")
    writes = writes_of(account.requests())
    assert not writes & {"CreateService", "UpdateService", "RunTask", "StartTask"}, writes


def test_a_name_that_is_a_cname_is_refused_before_anything_changes(account, rerun):
    """Moving the earlier system's name, which is a CNAME: the infrastructure phase stops saying
    so and changes nothing. Before, only an A record was looked for, and Route 53 would have
    refused the alias with an error of its own (a CNAME excludes every other record of its name)."""
    route53 = account.aws("route53")
    zone = route53.list_hosted_zones_by_name(DNSName=ZONE)["HostedZones"][0]["Id"]
    legacy = f"legacy.{ZONE}"
    route53.change_resource_record_sets(
        HostedZoneId=zone,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": legacy,
                        "Type": "CNAME",
                        "TTL": 300,
                        "ResourceRecords": [{"Value": "search.earlier.example.net"}],
                    },
                }
            ]
        },
    )
    run = account.release("name-is-a-cname", "v2.0.0", f"-eservice_domain_name={legacy}", tags="infrastructure")
    assert run.returncode != 0
    assert f"{legacy} is a CNAME in {ZONE} (to search.earlier.example.net)" in run.output, run.explain()
    assert not writes_of(account.requests())


def test_tasks_behind_a_transit_gateway_or_the_vpc_s_endpoints_are_accepted(account, rerun):
    """The tasks' subnets egress through a transit gateway, or have no default route and reach AWS
    through the VPC's endpoints: the infrastructure phase accepts both and changes nothing, and
    refuses the latter while an endpoint is missing, naming them. Before, only subnets routed to
    a NAT gateway passed."""
    ec2, vpc = account.aws("ec2"), account.network["vpc"]

    def private_subnets(block: int, **route) -> list[str]:
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.40.{block + i}.0/24", AvailabilityZone=f"ap-south-1{zone}")[
                "Subnet"
            ]["SubnetId"]
            for i, zone in enumerate("ab")
        ]
        table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        if route:
            ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", **route)
        for subnet in subnets:
            ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
        return subnets

    def infrastructure(name: str, subnets: list[str]):
        return account.release(
            name, "v2.0.0", "-e" + json.dumps({"network_private_subnet_ids": subnets}), tags="infrastructure"
        )

    transit = ec2.create_transit_gateway()["TransitGateway"]["TransitGatewayId"]
    behind_transit = private_subnets(20, TransitGatewayId=transit)
    without_route = private_subnets(30)
    refused = infrastructure("tasks-without-a-route-or-endpoints", without_route)
    assert refused.returncode != 0
    assert "endpoints missing: ecr.api, ecr.dkr, s3, logs, secretsmanager" in refused.output, refused.explain()
    for service in ("ecr.api", "ecr.dkr", "logs", "secretsmanager"):
        ec2.create_vpc_endpoint(
            VpcId=vpc, ServiceName=f"com.amazonaws.ap-south-1.{service}", VpcEndpointType="Interface"
        )
    ec2.create_vpc_endpoint(VpcId=vpc, ServiceName="com.amazonaws.ap-south-1.s3", VpcEndpointType="Gateway")
    for name, subnets in (
        ("tasks-behind-a-transit-gateway", behind_transit),
        ("tasks-behind-endpoints", without_route),
    ):
        run = infrastructure(name, subnets)
        assert run.returncode == 0, run.explain()
        assert not writes_of(account.requests())


SIGN_IN_SECRET = "sign-in-client-secret-0123456789abcdef"


def test_sign_in_and_the_rate_limit_reach_the_load_balancer_and_the_service(account, rerun, kms_key, tmp_path):
    """An operator turns on sign-in (the inventory's load_balancer_oidc, the client secret in
    FINNEWS_SIGN_IN_CLIENT_SECRET as inventories/production/group_vars/all/secrets.yml reads it)
    and the rate limit: each HTTPS listener gets the sign-in rules with the client secret,
    forwarding to its slot and moved by the switch; the service is told to accept the identity
    header of this load balancer; a WAF web ACL blocks a client IP above the limit. The secret
    is in no output. (That a re-run changes nothing is tests/test_load_balancer_sign_in.py's.)"""
    operator = tmp_path / "sign-in.json"
    operator.write_text(
        json.dumps(
            {
                "load_balancer_oidc": {
                    "issuer": "https://sign-in.example.com",
                    "authorization_endpoint": "https://sign-in.example.com/oauth2/authorize",
                    "token_endpoint": "https://sign-in.example.com/oauth2/token",
                    "user_info_endpoint": "https://sign-in.example.com/oauth2/userinfo",
                    "client_id": "finbert-rag-search",
                },
                "load_balancer_waf_rate_limit": 2000,
            }
        )
    )
    arguments = (f"-e@{operator}", f"-erelease_secrets_kms_key={KMS_ALIAS}")
    # moto starts MOTO_ECS_SERVICE_RUNNING (2) tasks in a service it creates, whatever its count,
    # and the slot the release goes to gets users' count (4 after the re-run's autoscaling).
    account.aws("ecs").update_service(cluster=CLUSTER, service=SLOTS[live_slot(account.aws)][0], desiredCount=2)
    environment = {"FINNEWS_SIGN_IN_CLIENT_SECRET": SIGN_IN_SECRET}
    push_build(account.aws, "v2.5.0")  # the images phase's image, which the switch tags
    run = account.release("sign-in-on", "v2.5.0", validated(account.aws), *arguments, env=environment)
    assert run.returncode == 0, run.explain()
    requests = account.requests()
    assert SIGN_IN_SECRET not in run.output

    # The rules as sent: created on both listeners, then moved by the switch, each time with the secret.
    written = sent(requests, "CreateRule") + sent(requests, "ModifyRule")
    assert len(sent(requests, "CreateRule")) == 4 and len(sent(requests, "ModifyRule")) == 4
    for form in written:
        assert form["Actions.member.1.Type"] == ["authenticate-oidc"]
        assert form["Actions.member.1.AuthenticateOidcConfig.ClientSecret"] == [SIGN_IN_SECRET]
        assert form["Actions.member.1.AuthenticateOidcConfig.Issuer"] == ["https://sign-in.example.com"]
        assert form["Actions.member.2.Type"] == ["forward"]
    balancer = account.aws("elbv2").describe_load_balancers(Names=[LOAD_BALANCER])["LoadBalancers"][0]
    listeners = account.aws("elbv2").describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    for listener in listeners:
        if listener["Port"] not in (443, 8443):
            continue
        default = listener["DefaultActions"][0]["TargetGroupArn"]
        rules = account.aws("elbv2").describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
        forwards = {
            action["TargetGroupArn"] for rule in rules for action in rule["Actions"] if action["Type"] == "forward"
        }
        assert forwards == {default} and len(rules) == 3, rules

    # The service accepts this load balancer's identity header (and fetches AWS's keys).
    (definition,) = sent(requests, "RegisterTaskDefinition")
    environment_of = {item["name"]: item["value"] for item in definition["containerDefinitions"][0]["environment"]}
    assert environment_of["FINNEWS_ALB_SIGNERS"] == balancer["LoadBalancerArn"]
    assert "FINNEWS_ALB_PUBLIC_KEY_URL" not in environment_of

    (acl,) = sent(requests, "CreateWebACL")
    assert acl["Rules"][0]["Statement"]["RateBasedStatement"] == {"Limit": 2000, "AggregateKeyType": "IP"}
    assert acl["Rules"][0]["Action"] == {"Block": {}}
    (association,) = sent(requests, "AssociateWebACL")
    assert association["ResourceArn"] == balancer["LoadBalancerArn"]


# -- the cut-over from the earlier system's name (service_cut_over) ------------------------------

EARLIER_NAME = f"earlier.{ZONE}"  # the wildcard certificate covers it, as the service's own name
EARLIER_TARGET = "search-api.earlier-hosting.example.net"
ROUTE53 = "{https://route53.amazonaws.com/doc/2013-04-01/}"


def zone_id(aws) -> str:
    return aws("route53").list_hosted_zones_by_name(DNSName=ZONE)["HostedZones"][0]["Id"].split("/")[-1]


def record_changes(requests, name: str) -> list[list[tuple[str, str]]]:
    """Each ChangeResourceRecordSets request sent for NAME, as its (action, record type) pairs, read
    from the XML body Route 53 receives."""
    batches = []
    for request in requests:
        if not (request["operation"] or "").startswith("POST /2013-04-01/hostedzone/"):
            continue
        changes = ElementTree.fromstring(request["text"]).iter(f"{ROUTE53}Change")
        pairs = [
            (change.findtext(f"{ROUTE53}Action"), change.findtext(f"{ROUTE53}ResourceRecordSet/{ROUTE53}Type"))
            for change in changes
            if change.findtext(f"{ROUTE53}ResourceRecordSet/{ROUTE53}Name").rstrip(".") == name
        ]
        if pairs:
            batches.append(pairs)
    return batches


def records_of(aws, name: str) -> list[dict]:
    found = aws("route53").list_resource_record_sets(HostedZoneId=zone_id(aws))["ResourceRecordSets"]
    return [record for record in found if record["Name"] == f"{name}."]


# The re-runs of the release that serves stop after the switch: moto matches a scaling policy's
# resource id by substring, so the autoscaling phase, stopping the idle green slot's tracking,
# would find blue's policy (finbert-rag-api is the start of finbert-rag-api-green) and fail.
RERUN_TAGS = "secrets,iam,infrastructure,deploy,switch"


def cut_over_release(account, name: str, tmp_path, cut_over: dict, *args: str, tags: str = RERUN_TAGS):
    """The release v2.6.0 with service_cut_over (given as an operator's file), through the switch."""
    settings = tmp_path / "cut-over.json"
    settings.write_text(json.dumps({"service_cut_over": cut_over}))
    return account.release(name, "v2.6.0", f"-e@{settings}", f"-erelease_secrets_kms_key={KMS_ALIAS}", *args, tags=tags)


def test_the_earlier_name_moves_to_the_release_in_one_change_after_the_switch(account, rerun, kms_key, tmp_path):
    """The earlier system's name is a CNAME; with service_cut_over expecting that value, the
    release is validated, users are switched to it on its own name, and then one Route 53 change
    deletes the CNAME and creates the alias of the load balancer (never a moment without a record,
    which resolvers would cache as missing), waited for until in sync."""
    route53 = account.aws("route53")
    earlier = {"Name": EARLIER_NAME, "Type": "CNAME", "TTL": 300, "ResourceRecords": [{"Value": EARLIER_TARGET}]}
    route53.change_resource_record_sets(
        HostedZoneId=zone_id(account.aws),
        ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": earlier}]},
    )
    # moto starts MOTO_ECS_SERVICE_RUNNING (2) tasks in a service it creates, whatever its count.
    account.aws("ecs").update_service(cluster=CLUSTER, service=SLOTS[live_slot(account.aws)][0], desiredCount=2)
    push_build(account.aws, "v2.6.0")
    run = cut_over_release(
        account,
        "cut-over",
        tmp_path,
        {"name": EARLIER_NAME, "expected": {"cname": EARLIER_TARGET}},
        validated(account.aws),
        tags="secrets,iam,infrastructure,deploy,switch,autoscaling,retire",
    )
    assert run.returncode == 0, run.explain()
    assert f"CUT OVER: {EARLIER_NAME} points at the load balancer" in run.output, run.explain()
    balancer = account.aws("elbv2").describe_load_balancers(Names=[LOAD_BALANCER])["LoadBalancers"][0]
    (record,) = records_of(account.aws, EARLIER_NAME)
    assert record["Type"] == "A" and record["AliasTarget"]["DNSName"].rstrip(".").lower() == balancer["DNSName"].lower()
    assert record["AliasTarget"]["HostedZoneId"] == balancer["CanonicalHostedZoneId"]
    # As sent: one change request, the CNAME's deletion and the alias's creation together...
    requests = account.requests()
    assert record_changes(requests, EARLIER_NAME) == [[("DELETE", "CNAME"), ("CREATE", "A")]]
    operations = [request["operation"] or "" for request in requests]
    change = next(i for i, op in enumerate(operations) if op.startswith("POST /2013-04-01/hostedzone/"))
    # ...after users' listener moved to the validated release, and waited for.
    assert max(i for i, op in enumerate(operations) if op == "ModifyListener") < change
    assert any(op.startswith("GET /2013-04-01/change/") for op in operations[change:])
    assert named(account.aws, "v2.6.0") == image_manifest("v2.6.0")


def test_a_cut_over_run_again_changes_nothing(account, rerun, kms_key, tmp_path):
    """The same release again (it serves, validated in this run): the name is already the load
    balancer's alias, and nothing is written."""
    run = cut_over_release(
        account,
        "cut-over-again",
        tmp_path,
        {"name": EARLIER_NAME, "expected": {"cname": EARLIER_TARGET}},
        f"-erelease_validated_revision={FAMILY}:{live_revision(account.aws)}",
    )
    assert run.returncode == 0, run.explain()
    assert f"{EARLIER_NAME} already points at the load balancer: nothing to cut over" in run.output, run.explain()
    assert not writes_of(account.requests())


def test_a_name_that_holds_another_value_than_expected_is_not_cut_over(account, rerun, kms_key, tmp_path):
    """The record is not what the operator expects (someone changed it since): the cut-over is
    refused, naming what it holds, and nothing is written; users stay on the release."""
    other = f"earlier-api.{ZONE}"
    record = {"Name": other, "Type": "CNAME", "TTL": 60, "ResourceRecords": [{"Value": "search-api.dr.example.net"}]}
    account.aws("route53").change_resource_record_sets(
        HostedZoneId=zone_id(account.aws),
        ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": record}]},
    )
    serving = live_revision(account.aws)
    run = cut_over_release(
        account,
        "cut-over-refused",
        tmp_path,
        {"name": other, "expected": {"cname": EARLIER_TARGET}},
        f"-erelease_validated_revision={FAMILY}:{serving}",
    )
    assert run.returncode != 0
    refusal = (
        f"{other} holds CNAME search-api.dr.example.net (TTL 60), not the CNAME {EARLIER_TARGET} expected: "
        "nothing was changed"
    )
    assert refusal in run.output, run.explain()
    assert not writes_of(account.requests())
    assert [r["Type"] for r in records_of(account.aws, other)] == ["CNAME"] and live_revision(account.aws) == serving
