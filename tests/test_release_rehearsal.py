"""The release runbook (release.yml), rehearsed end to end with inventories/local against emulated
AWS, as the README runs it: a first release, a re-run that changes nothing, a re-run after a
secret changed (a new revision), a second release, a broken release that also changed a secret, rolled back automatically (the
revision served again reads the secret's version it was released with), a rollback by hand, and
a release of the second version into another environment (production) promoted from the
rehearsal's (which plays staging): the same digest, built nothing. Check mode is tested on the production inventory (tests/test_production_plan.py:
every AWS request a read) and on the images phase (tests/test_images_role.py), not with a run of
its own here: each rehearsal run takes minutes. Each run is a real ansible-playbook
process on a fresh commit of this tree; the emulated AWS state it leaves is then inspected through
moto, independently of the playbook's own output.

One moto server holds the emulated account for the whole sequence, recording every request as
the rehearsal's own does (rehearsal_aws_server=running): each run and each inspection uses it as
it is, instead of replaying the growing recording into a new server, twice per run. The last run
(a rollback by hand) starts its own and replays the recording, as `make release-local` does
between runs. The registry is the session's (rehearsal_registry_server=running), where the images
role's tests pushed the same layers before: the first release pushes its config and manifest.

The service is reached as users reach it: through the rehearsal's edge, which resolves the
service's name in moto's Route 53 and forwards to the healthy targets of the load balancer's
target group, where the stand-in for the ECS tasks registers itself when it starts. A phase that
deregisters the tasks, or leaves the name unmanaged, fails the release here as in production."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from tests.helpers import ARTIFACTS, ROOT
from tests.runbook_runs import SHARED_HOST_LIMITS, aws_client_factory, moto_server, run_playbook
from tools.benchmark import free_port

# Each test is one or more whole releases; the first also waits for the session's sample index.
pytestmark = [pytest.mark.timeout(1800), pytest.mark.rehearsal]

FAMILY = "finbert-rag-local-api"
CLUSTER = "finbert-rag-local"
# Blue/green: each slot's ECS service and target group (playbooks/vars/service.yml).
SLOTS = {
    "blue": ("finbert-rag-api", "finbert-rag-local-api"),
    "green": ("finbert-rag-api-green", "finbert-rag-local-api-green"),
}
REPOSITORY = "finbert-rag/local/api"
BIN = Path(sys.executable).parent
# Phases that must change nothing on a second run with nothing changed: every one that reaches AWS.
STEADY_PHASES = (
    "Registry",
    "Secrets",
    "IAM",
    "Images",
    "Infrastructure",
    "Monitoring",
    "Deploy",
    "Switch",
    "Autoscaling",
    "Retire",
)
# A stand-in per slot, and an edge per listener (users' HTTPS, and the test listener).
PORTS = (
    "rehearsal_aws_port",
    "rehearsal_ecs_tasks_blue_port",
    "rehearsal_ecs_tasks_green_port",
    "rehearsal_edge_port",
    "rehearsal_edge_test_port",
)


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory, model_cache_dir, sample_index, oci_registry):
    """A fresh commit of this working tree with its own bare remote, the model cache and an index
    of the sample corpus, and free loopback ports for the emulators and the stand-in."""
    base = tmp_path_factory.mktemp("rehearsal")
    repo = base / "repo"
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name, follow_symlinks=False)
    # As in a checkout where `make venv` ran (docker/build-offline.sh fills its wheelhouse with it).
    (repo / ".venv").symlink_to(ROOT / ".venv")
    (repo / "instance").mkdir()
    (repo / "instance" / "models").symlink_to(model_cache_dir)
    shutil.copytree(sample_index, repo / "instance" / "index")
    # A fixed date makes the commit of an unchanged tree the same from one session to the next,
    # so its images are the ones built before (docker/build-offline.sh reuses an image built
    # from the same inputs, the revision among them).
    fixed_date = "2026-01-01T00:00:00Z"
    git = {
        "cwd": repo,
        "check": True,
        "capture_output": True,
        "env": {**os.environ, "GIT_AUTHOR_DATE": fixed_date, "GIT_COMMITTER_DATE": fixed_date},
    }
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main"], **git)
    subprocess.run(["git", "config", "user.name", "Release Rehearsal"], **git)
    subprocess.run(["git", "config", "user.email", "rehearsal@example.invalid"], **git)
    subprocess.run(["git", "add", "--all"], **git)
    subprocess.run(["git", "commit", "--quiet", "--message=Rehearsed tree"], **git)
    subprocess.run(["git", "init", "--quiet", "--bare", str(base / "remote.git")], **git)
    subprocess.run(["git", "remote", "add", "origin", str(base / "remote.git")], **git)
    ports = {name: free_port() for name in PORTS}
    ports["rehearsal_registry_port"] = int(oci_registry.rsplit(":", 1)[1])
    logs = ARTIFACTS / "rehearsal"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    state = repo / "instance" / "rehearsal"
    state.mkdir(mode=0o700)
    # The environment a release is promoted into (test_a_release_promoted_from_another_environment...).
    promoted_state = base / "promoted-state"
    promoted_state.mkdir(mode=0o700)
    attributes = {"base": base, "repo": repo, "remote": base / "remote.git", "ports": ports, "logs": logs}
    # Secret values replaced during the rehearsal: they must stay out of every output too.
    rehearsal = type(
        "Rehearsal", (), {**attributes, "state": state, "promoted_state": promoted_state, "replaced_secrets": []}
    )
    with contextlib.ExitStack() as running:
        rehearsal.aws_url = running.enter_context(running_emulator(ports["rehearsal_aws_port"], state))
        rehearsal.stop_emulator = running.close
        yield rehearsal


@contextlib.contextmanager
def running_emulator(port: int, state: Path):
    """moto as the rehearsal_aws role starts it (its settings, its seed, the same recording), kept
    up across the runs that pass rehearsal_aws_server=running."""
    role = yaml.safe_load((ROOT / "roles/rehearsal_aws/defaults/main.yml").read_text())
    local = yaml.safe_load((ROOT / "inventories/local/group_vars/all/main.yml").read_text())
    with moto_server(
        port,
        state / "moto.log",
        MOTO_IAM_LOAD_MANAGED_POLICIES="true",
        MOTO_ECS_SERVICE_RUNNING=str(local["ecs_deploy_min_count"]),
        MOTO_ENABLE_RECORDING="true",
        MOTO_RECORDER_FILEPATH=str(state / "moto-recording.jsonl"),
    ) as url:
        requests.post(f"{url}/moto-api/seed?a={role['rehearsal_aws_seed']}", timeout=30).raise_for_status()
        yield url


@pytest.fixture(scope="module")
def release(rehearsal):
    def release(name: str, *args: str, timeout: int = 1200):
        command = [str(BIN / "ansible-playbook"), "release.yml", "-i", "inventories/local"]
        command += [f"-e{key}={value}" for key, value in rehearsal.ports.items()]
        command.append("-erehearsal_registry_server=running")
        # The validation's timing limits of a host `make test` shares (the rehearsal's own are the plan's).
        command.append("-e" + json.dumps({"release_validation_overrides": SHARED_HOST_LIMITS}))
        if rehearsal.aws_url:
            command.append("-erehearsal_aws_server=running")
        return run_playbook(name, command + list(args), rehearsal.repo, rehearsal.logs, timeout=timeout)

    return release


@contextlib.contextmanager
def emulated_aws(rehearsal):
    """The emulated account: the running moto, or (once it is stopped) the state the rehearsal
    recorded, replayed into a server of our own."""
    if rehearsal.aws_url:
        yield aws_client_factory(rehearsal.aws_url)
        return
    recording = rehearsal.state / "moto-recording.jsonl"
    with moto_server(
        free_port(),
        rehearsal.base / "inspect-moto.log",
        MOTO_IAM_LOAD_MANAGED_POLICIES="true",
        MOTO_ECS_SERVICE_RUNNING="1",
        MOTO_RECORDER_FILEPATH=str(recording),
    ) as url:
        requests.post(f"{url}/moto-api/recorder/replay-recording", timeout=300).raise_for_status()
        yield aws_client_factory(url)


def live_slot(aws) -> str:
    """The slot the load balancer's HTTPS listener forwards to: the one users reach."""
    balancer = aws("elbv2").describe_load_balancers(Names=["finbert-rag-local"])["LoadBalancers"][0]
    listeners = aws("elbv2").describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    (https,) = [listener for listener in listeners if listener["Port"] == 443]
    group = aws("elbv2").describe_target_groups(TargetGroupArns=[https["DefaultActions"][0]["TargetGroupArn"]])
    name = group["TargetGroups"][0]["TargetGroupName"]
    return next(slot for slot, (_, group_name) in SLOTS.items() if group_name == name)


def service_state(aws, slot: str) -> dict:
    return aws("ecs").describe_services(cluster=CLUSTER, services=[SLOTS[slot][0]])["services"][0]


def service_revision(aws) -> str:
    """The revision users reach: the live slot's."""
    service = service_state(aws, live_slot(aws))
    return service["taskDefinition"].split("/")[-1]


def revision_status(aws, revision: int) -> str:
    return aws("ecs").describe_task_definition(taskDefinition=f"{FAMILY}:{revision}")["taskDefinition"]["status"]


def registered_targets(aws, slot: str) -> list[tuple[str, int]]:
    group = aws("elbv2").describe_target_groups(Names=[SLOTS[slot][1]])["TargetGroups"][0]["TargetGroupArn"]
    targets = aws("elbv2").describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
    return [(target["Target"]["Id"], target["Target"]["Port"]) for target in targets]


def image_manifest(aws, tag: str) -> str:
    """The manifest a tag names in ECR (moto's digests do not tell manifests apart)."""
    images = aws("ecr").batch_get_image(repositoryName=REPOSITORY, imageIds=[{"imageTag": tag}])["images"]
    return images[0]["imageManifest"]


def build_tag(rehearsal, version: str) -> str:
    """The tag the images phase pushes a release's image under, until it passed its validation its
    only one (roles/images' images_build_tag)."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=rehearsal.repo, capture_output=True, text=True, check=True)
    return f"build-{version}-{head.stdout.strip()}"


def image_tags(aws) -> set[str]:
    images = aws("ecr").describe_images(repositoryName=REPOSITORY)["imageDetails"]
    return {tag for image in images for tag in image.get("imageTags", [])}


def assert_stopped(rehearsal, within: float = 60):
    """Nothing the rehearsal started outlives its run (each process stops, gracefully, once the
    ansible-playbook process is gone); the registry and the moto kept up across runs are the tests'."""
    deadline = time.monotonic() + within
    ours = {rehearsal.ports["rehearsal_registry_port"]}
    ours |= {rehearsal.ports["rehearsal_aws_port"]} if rehearsal.aws_url else set()
    for port in set(rehearsal.ports.values()) - ours:
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/", timeout=2)
            except requests.ConnectionError:
                break
            except requests.Timeout:
                pass  # still listening, too busy stopping to answer
            assert time.monotonic() < deadline, f"something still answers on port {port}"
            time.sleep(1)


def secret_values(rehearsal) -> list[str]:
    """Every secret the rehearsal's environments were released with (the promoted one's too, once made)."""
    stores = [rehearsal.state / "secrets", rehearsal.promoted_state / "secrets"]
    found = [path.read_text().strip() for store in stores if store.is_dir() for path in store.iterdir()]
    return found + rehearsal.replaced_secrets


def test_first_release(rehearsal, release):
    run = release("first-release", "-erelease_version=v1.0.0", "-erelease_tag_push=true")
    assert run.returncode == 0, run.explain()
    assert set(STEADY_PHASES) <= set(run.changed_by_play())
    assert_stopped(rehearsal)

    tag = subprocess.run(["git", "cat-file", "-p", "v1.0.0"], cwd=rehearsal.repo, capture_output=True, text=True)
    assert (
        "finbert-rag v1.0.0" in tag.stdout and "Rehearsed tree" in tag.stdout and f"{REPOSITORY}:v1.0.0" in tag.stdout
    )
    pushed = subprocess.run(["git", "ls-remote", "--tags", str(rehearsal.remote)], capture_output=True, text=True)
    assert "refs/tags/v1.0.0" in pushed.stdout
    # Nothing served before: the release went to green (blue is the first live slot), was
    # validated through the test listener's edge, then users were switched to it. It answered
    # through each edge: the name's record, the load balancer, the listener, the stand-in's target.
    stand_in = ("127.0.0.1", rehearsal.ports["rehearsal_ecs_tasks_green_port"])
    healthy = f"target {stand_in[0]}:{stand_in[1]} is healthy (/health/ready answered 200)"
    assert healthy in (rehearsal.state / "edge-test.log").read_text()
    assert healthy in (rehearsal.state / "edge.log").read_text()
    assert "SWITCHED: users reach finbert-rag-api-green" in run.messages(), run.explain()

    with emulated_aws(rehearsal) as aws:
        assert live_slot(aws) == "green" and service_revision(aws) == f"{FAMILY}:1"
        # The stand-in registered itself as ECS registers a task; nothing deregistered it.
        assert registered_targets(aws, "green") == [stand_in] and registered_targets(aws, "blue") == []
        balancer = aws("elbv2").describe_load_balancers(Names=["finbert-rag-local"])["LoadBalancers"][0]
        zone = aws("route53").list_hosted_zones_by_name(DNSName="finbert-rag.rehearsal.test")["HostedZones"][0]["Id"]
        records = aws("route53").list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
        record = next(r for r in records if r["Name"] == "search.finbert-rag.rehearsal.test." and r["Type"] == "A")
        assert record["AliasTarget"]["DNSName"].rstrip(".") == balancer["DNSName"].lower()
        # Tasks in the private subnets (routed to the NAT gateway), the load balancer in the public ones.
        subnets = {s["SubnetId"]: s["Tags"] for s in aws("ec2").describe_subnets()["Subnets"] if "Tags" in s}
        names = {subnet: {t["Key"]: t["Value"] for t in tags}.get("Name", "") for subnet, tags in subnets.items()}
        network = service_state(aws, "green")["networkConfiguration"]["awsvpcConfiguration"]
        assert all("-private-" in names[subnet] for subnet in network["subnets"])
        assert network["assignPublicIp"] == "DISABLED"
        assert all("-public-" in names[az["SubnetId"]] for az in balancer["AvailabilityZones"])
        repository = aws("ecr").describe_repositories(repositoryNames=[REPOSITORY])["repositories"][0]
        assert repository["imageScanningConfiguration"]["scanOnPush"]
        # Version tags never move; the tags that follow releases do.
        assert repository["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
        assert {f["filter"] for f in repository["imageTagMutabilityExclusionFilters"]} == {"prod", "latest"}
        assert repository["encryptionConfiguration"]["encryptionType"] == "AES256"
        lifecycle = json.loads(aws("ecr").get_lifecycle_policy(repositoryName=REPOSITORY)["lifecyclePolicyText"])
        assert lifecycle["rules"][-1]["selection"]["countNumber"] == 10  # inventories/local keeps the newest 10
        statements = json.loads(aws("ecr").get_repository_policy(repositoryName=REPOSITORY)["policyText"])
        named_roles = {
            f"arn:aws:iam::123456789012:role/{path}{name}"
            for name in ("finbert-rag-local-task-execution", "finbert-rag-release")
            for path in ("", "*/")
        }
        deny = next(s for s in statements["Statement"] if s["Effect"] == "Deny")
        # ...and AWS services acting for the account (Inspector's scans, by its service-linked role).
        service_linked = "arn:aws:iam::123456789012:role/aws-service-role/*"
        assert set(deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"]) == named_roles | {service_linked}
        policy = aws("iam").get_role_policy(
            RoleName="finbert-rag-local-task-execution", PolicyName="read-release-secrets"
        )["PolicyDocument"]
        arns = {secret["ARN"] for secret in aws("secretsmanager").list_secrets()["SecretList"]}
        assert (
            set(policy["Statement"][0]["Resource"]) == arns
            and policy["Statement"][0]["Action"] == "secretsmanager:GetSecretValue"
        )
        assert aws("iam").list_instance_profiles()["InstanceProfiles"] == []
        definition = aws("ecs").describe_task_definition(taskDefinition=f"{FAMILY}:1")["taskDefinition"]
        container = definition["containerDefinitions"][0]
        # The image by its build tag; once users were answered by it, it took its version, prod and latest.
        assert container["image"].endswith(f"/{REPOSITORY}:{build_tag(rehearsal, 'v1.0.0')}")
        assert {image_manifest(aws, tag) for tag in ("v1.0.0", "prod", "latest")} == {
            image_manifest(aws, build_tag(rehearsal, "v1.0.0"))
        }
        assert {secret["valueFrom"].rsplit(":", 3)[0] for secret in container["secrets"]} == arns
        assert {secret["name"] for secret in container["secrets"]} == {"FINNEWS_ES_API_KEY", "FINNEWS_API_TOKENS"}
        assert container["logConfiguration"]["logDriver"] == "awslogs"
        assert "/health/live" in " ".join(container["healthCheck"]["command"])
        listeners = aws("elbv2").describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
        assert {(listener["Port"], listener["DefaultActions"][0]["Type"]) for listener in listeners} == {
            (80, "redirect"),
            (443, "forward"),
            (8443, "forward"),  # the test listener, to the slot users do not reach
        }
        assert aws("cloudwatch").get_dashboard(DashboardName="finbert-rag-local")["DashboardBody"]
        alarms = {alarm["AlarmName"] for alarm in aws("cloudwatch").describe_alarms()["MetricAlarms"]}
        assert {
            f"finbert-rag-local-{name}"
            for name in (
                "targets-5xx-rate",
                "load-balancer-5xx-rate",
                "targets-4xx-rate",
                "load-balancer-4xx-rate",
                "target-response-time",
                "unhealthy-hosts",
                "healthy-hosts-below-minimum",
                "ecs-cpu",
                "ecs-memory",
            )
        } <= alarms
        targets = aws("application-autoscaling").describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
        assert [(t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in targets] == [
            (f"service/{CLUSTER}/finbert-rag-api-green", 1, 2)
        ]


def test_rerun_changes_nothing(rehearsal, release):
    run = release("re-run", "-erelease_version=v1.0.0")
    assert run.returncode == 0, run.explain()
    changed = run.changed_by_play()
    assert {phase: changed[phase] for phase in STEADY_PHASES} == dict.fromkeys(STEADY_PHASES, 0), {
        phase: run.changed_tasks(phase) for phase in STEADY_PHASES
    }
    with emulated_aws(rehearsal) as aws:
        # The release already served: nothing was deployed or switched, and it was validated as users reach it.
        assert live_slot(aws) == "green" and service_revision(aws) == f"{FAMILY}:1"
        assert len(aws("ecs").list_task_definitions(familyPrefix=FAMILY)["taskDefinitionArns"]) == 1
        # The infrastructure phase left the running task in the load balancer.
        assert registered_targets(aws, "green") == [("127.0.0.1", rehearsal.ports["rehearsal_ecs_tasks_green_port"])]
    assert "v1.0.0 already serves: nothing to switch" in run.output


def test_rerun_with_a_changed_secret_registers_a_revision(rehearsal, release):
    """A secret's new value reaches the service only through a new revision: ECS reads secrets
    when it starts a task. The validation then signs in with the new API token."""
    token_file = rehearsal.state / "secrets" / "api-token"
    rehearsal.replaced_secrets.append(token_file.read_text().strip())
    token_file.write_text("N3wT0ken" * 5)
    # Only the phases a changed secret reaches, as an operator resumes a release in part: a
    # partial run (--tags) must be as safe as a whole one.
    run = release(
        "re-run-changed-secret",
        "-erelease_version=v1.0.0",
        "--tags=secrets,iam,infrastructure,deploy,validate,switch,autoscaling,retire",
    )
    assert run.returncode == 0, run.explain()
    with emulated_aws(rehearsal) as aws:
        # To blue, then users switched to it; green (the revision before) kept warm, then scaled in.
        assert live_slot(aws) == "blue" and service_revision(aws) == f"{FAMILY}:2"
        assert service_state(aws, "green")["desiredCount"] == 0
        tags = aws("ecs").describe_task_definition(taskDefinition=f"{FAMILY}:2", include=["TAGS"])["tags"]
        tags = {tag["key"]: tag["value"] for tag in tags}
        assert tags["release-version"] == "v1.0.0" and tags["previous-task-definition"] == f"{FAMILY}:1"


def test_second_release(rehearsal, release):
    # At -vvv, which shows each module's command line and environment: secrets must stay out.
    run = release("second-release", "-erelease_version=v1.1.0", "-vvv")
    assert run.returncode == 0, run.explain()
    # Validated through the test listener while users were still answered by v1.0.0, then switched.
    before = run.results("service_readiness : Wait until the service is ready with v1.0.0")
    assert before and before[-1]["json"]["version"] == "v1.0.0", run.explain()
    after = run.results("service_readiness : Wait until the service is ready with v1.1.0")
    assert after and after[-1]["json"]["version"] == "v1.1.0"
    with emulated_aws(rehearsal) as aws:
        assert live_slot(aws) == "green" and service_revision(aws) == f"{FAMILY}:3"
        assert service_state(aws, "blue")["desiredCount"] == 0


# A validation check no store can pass (the corpus size), beside the shared host's limits.
A_CHECK_NOTHING_PASSES = "-e" + json.dumps(
    {"release_validation_overrides": {**SHARED_HOST_LIMITS, "min_documents": 10**9}}
)


def assert_green_serves_revision_3(rehearsal) -> None:
    """Users still reach green's revision 3 (v1.1.0), with its one task, as the failed run found it."""
    with emulated_aws(rehearsal) as aws:
        assert live_slot(aws) == "green" and service_revision(aws) == f"{FAMILY}:3"
        assert revision_status(aws, 3) == "ACTIVE" and service_state(aws, "green")["desiredCount"] == 1


def test_a_validate_only_run_that_fails_changes_nothing(rehearsal, release):
    """--tags validate alone validates what users reach; when a check fails (here a corpus size
    the store cannot have), nothing is rolled back or scaled in: the run deployed nothing."""
    run = release(
        "validate-only-fails",
        "-erelease_version=v1.1.0",
        "--tags=validate",
        A_CHECK_NOTHING_PASSES,
    )
    assert run.returncode != 0
    assert "NOTHING ROLLED BACK: v1.1.0 failed validation" in run.messages(), run.explain()
    assert "health: documents in the store" in run.output
    # Failed in its first group of notebooks: the load measurement after it is not run (--fail-fast).
    assert "performance: not run" in run.output
    assert_green_serves_revision_3(rehearsal)


def test_a_failing_rerun_of_the_serving_release_changes_nothing(rehearsal, release):
    """The release that serves run again, as the README's way to resume, while a check fails for
    a reason of the day (here a corpus size the store cannot have): it deploys nothing, so it
    switches, rolls back and scales in nothing. Before, a re-run rolled the serving release back
    to the one before, or scaled a first release to 0."""
    run = release(
        "re-run-fails",
        "-erelease_version=v1.1.0",
        A_CHECK_NOTHING_PASSES,
    )
    assert run.returncode != 0
    assert "NOTHING ROLLED BACK: v1.1.0 failed validation" in run.messages(), run.explain()
    assert "v1.1.0 already serves" in run.output
    assert_green_serves_revision_3(rehearsal)
    with emulated_aws(rehearsal) as aws:
        assert service_state(aws, "blue")["desiredCount"] == 0


def test_broken_release_is_scaled_in(rehearsal, release):
    # The new revision's service never turns ready: its model cache is not where it says. It
    # cannot turn ready later, so the release gives up after 20 s instead of waiting out more.
    # The release also stores a new API token: the revision served again reads the version of
    # the secret it was released with (before, every task read the current one, so a release's
    # bad secret broke its rollback too).
    token_file = rehearsal.state / "secrets" / "api-token"
    served_token = token_file.read_text().strip()
    rehearsal.replaced_secrets.append(served_token)
    token_file.write_text("Br0kenT0ken" * 4)
    run = release(
        "broken-release",
        "-erelease_version=v1.2.0",
        '-e{"ecs_deploy_extra_environment": {"FINNEWS_MODEL_CACHE_DIR": "/nonexistent/models"}}',
        "-eservice_readiness_timeout=20",
    )
    assert run.returncode != 0
    assert "SCALED IN: v1.2.0 failed to deploy" in run.messages(), run.failures()
    assert "RELEASE FAILED" in run.messages()
    assert "Users reached finbert-rag-api-green (finbert-rag-local-api:3, v1.1.0) throughout" in run.messages()
    assert_stopped(rehearsal)
    # The serving revision's stand-in was never restarted: it reads the secret's version it was
    # released with, not the one this release stored.
    started_with = dict(
        line.split("=", 1) for line in (rehearsal.state / "ecs-task-green.env").read_text().splitlines() if "=" in line
    )
    assert shlex.split(started_with["FINNEWS_API_TOKENS"]) == [served_token]
    with emulated_aws(rehearsal) as aws:
        assert live_slot(aws) == "green" and service_revision(aws) == f"{FAMILY}:3"
        assert service_state(aws, "blue")["desiredCount"] == 0
        assert revision_status(aws, 4) == "INACTIVE"
        # Whoever pulls prod or latest gets v1.1.0 again.
        assert image_manifest(aws, "prod") == image_manifest(aws, "latest") == image_manifest(aws, "v1.1.0")
        # v1.2.0 never passed its validation: its image has its build tag only, and no git tag
        # names it, so v1.2.0 can be released again from a fixed commit.
        assert "v1.2.0" not in image_tags(aws) and build_tag(rehearsal, "v1.2.0") in image_tags(aws)
        assert image_manifest(aws, build_tag(rehearsal, "v1.2.0")) != image_manifest(aws, "v1.1.0")
    tag = subprocess.run(["git", "rev-parse", "--verify", "--quiet", "refs/tags/v1.2.0"], cwd=rehearsal.repo)
    assert tag.returncode != 0
    assert (
        "v1.2.0"
        not in subprocess.run(
            ["git", "ls-remote", "--tags", str(rehearsal.remote)], capture_output=True, text=True
        ).stdout
    )


PROMOTED_ENVIRONMENT = "production"


def registry_digest(rehearsal, repository: str, tag: str) -> str:
    """The digest a tag names in the rehearsal's registry (its own, not moto's)."""
    answer = requests.get(
        f"http://127.0.0.1:{rehearsal.ports['rehearsal_registry_port']}/v2/{repository}/manifests/{tag}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        timeout=30,
    )
    answer.raise_for_status()
    return answer.headers["Docker-Content-Digest"]


def test_a_release_promoted_from_another_environment_runs_the_image_validated_there(rehearsal, release):
    """Build once, promote the digest: another environment in the same account (production, here
    beside the rehearsal's, which plays staging) releases v1.1.0 - validated and tagged by the
    rehearsal's environment above - with release_promote_from: nothing is built, the image is
    copied by digest, and production's task definition, tags and validation report name the bytes
    staging validated."""
    registry = f"127.0.0.1:{rehearsal.ports['rehearsal_registry_port']}"
    promoted = {"release_promote_from": {"registry": registry, "environment": "local"}}
    staging_digest = registry_digest(rehearsal, REPOSITORY, "v1.1.0")
    # Its own state (the stand-ins of its slots, its edges' sessions, its secrets), beside the
    # rehearsal's emulated account and registry, which both environments share.
    run = release(
        "promoted-release",
        "-erelease_version=v1.1.0",
        f"-erelease_environment={PROMOTED_ENVIRONMENT}",
        f"-erehearsal_state_dir={rehearsal.promoted_state}",
        f"-eservice_domain_name=search-{PROMOTED_ENVIRONMENT}.finbert-rag.rehearsal.test",
        "-e" + json.dumps(promoted),
    )
    assert run.returncode == 0, run.explain()
    assert f"promoted from {registry}/{REPOSITORY}:v1.1.0 by this run" in run.output, run.explain()
    builds = run.results("images : Build with buildah, offline")
    assert builds and all(build.get("skipped") for build in builds), "a promoted release builds nothing"
    production_repository = f"finbert-rag/{PROMOTED_ENVIRONMENT}/api"
    tag = build_tag(rehearsal, "v1.1.0")
    for production_tag in (tag, "v1.1.0", "prod", "latest"):
        assert registry_digest(rehearsal, production_repository, production_tag) == staging_digest, production_tag
    with emulated_aws(rehearsal) as aws:
        # Its first release, deployed to green (the slot nobody reached) and switched to.
        service = aws("ecs").describe_services(
            cluster=f"finbert-rag-{PROMOTED_ENVIRONMENT}", services=[SLOTS["green"][0]]
        )["services"][0]
        assert service["desiredCount"] == 1
        definition = aws("ecs").describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
        assert definition["containerDefinitions"][0]["image"] == f"{registry}/{production_repository}:{tag}"
    # The validation's provenance, in both environments' reports: the same digest.
    # (The attempts that validated what users reach, without an images phase, record no digest.)
    summaries = [json.loads(path.read_text()) for path in (rehearsal.repo / "reports").glob("v1.1.0/*/summary.json")]
    digests: dict[str, set[str]] = {}
    for summary in summaries:
        if summary["provenance"]["image_digest"]:
            digests.setdefault(summary["provenance"]["environment"], set()).add(summary["provenance"]["image_digest"])
    assert digests == {"local": {staging_digest}, PROMOTED_ENVIRONMENT: {staging_digest}}, digests


def test_rollback_by_hand(rehearsal, release):
    # This run starts moto itself and replays everything recorded so far, as a new run of
    # `make release-local` does.
    rehearsal.stop_emulator()
    rehearsal.aws_url = None
    run = release("rollback-by-hand", "--tags=rollback")
    assert run.returncode == 0, run.explain()
    assert f"{FAMILY}:2 (v1.0.0) again" in run.messages()
    with emulated_aws(rehearsal) as aws:
        # Blue was scaled in after the second release's bake time: the serving slot is rolled back.
        assert live_slot(aws) == "green" and service_revision(aws) == f"{FAMILY}:2"
        assert revision_status(aws, 3) == "INACTIVE"
        assert image_manifest(aws, "prod") == image_manifest(aws, "v1.0.0")


def test_secrets_never_in_the_output(rehearsal):
    values = secret_values(rehearsal)
    assert values and all(len(value) >= 32 for value in values)
    outputs = [path.read_text() for path in rehearsal.logs.iterdir()]
    # The nine runs above, each with its JSON output and its stderr.
    assert len([path for path in rehearsal.logs.iterdir() if path.suffix in (".json", ".stderr")]) == 18
    for value in values:
        assert not any(value in output for output in outputs)


def test_validation_reports_keep_history_provenance_and_edge_checks(rehearsal):
    """What the validate phase published across the releases above (issue #12)."""
    import yaml

    reports = rehearsal.repo / "reports"
    summaries = [json.loads(path.read_text()) for path in sorted(reports.glob("*/*/summary.json"))]
    attempts = {}
    for summary in summaries:
        attempts.setdefault(summary["release"], []).append(summary)
    # Every attempt kept: v1.0.0 validated three times (the first release, its re-run and the
    # re-run with a changed secret), v1.1.0 four times (its release, then the validate-only run
    # and the re-run that failed, then in production, promoted); v1.2.0 never answered, so never
    # validated.
    assert {release: len(found) for release, found in attempts.items()} == {"v1.0.0": 3, "v1.1.0": 4}
    second = attempts["v1.1.0"][0]
    # Validated through the test listener, before users were switched to it.
    assert second["base_url"] == f"http://127.0.0.1:{rehearsal.ports['rehearsal_edge_test_port']}"
    assert attempts["v1.1.0"][1]["base_url"] == f"http://127.0.0.1:{rehearsal.ports['rehearsal_edge_port']}"
    assert second["passed"], second["failed"]
    provenance = second["provenance"]
    assert provenance["environment"] == "local" and provenance["backend"] == "embedded"
    assert provenance["service_version"] == "v1.1.0" and len(provenance["commit"]) == 40
    assert (
        provenance["image"].endswith(f"/{REPOSITORY}:{build_tag(rehearsal, 'v1.1.0')}") and provenance["image_digest"]
    )
    assert (provenance["tasks"], provenance["workers"]) == (1, 2)
    # Compared with the last passing release of the environment: every regression gate ran.
    assert second["baseline"]["release"] == "v1.0.0"
    regression = [c for c in second["checks"] if c["notebook"] == "regression"]
    assert regression and all(c["status"] == "pass" for c in regression)
    assert all(
        c["status"] == "not applicable" for c in attempts["v1.0.0"][0]["checks"] if c["notebook"] == "regression"
    )
    # The edge checks: tokens and the stand-in's log ran; what cannot run here says why.
    edge = {c["name"]: c for c in second["checks"] if c["notebook"] == "edge"}
    for name in ("search without a token refused with 401", "log lines read", "secrets in the service's logs"):
        assert edge[name]["status"] == "pass", edge[name]
    profile = yaml.safe_load((ROOT / "inventories/local/group_vars/all/main.yml").read_text())[
        "release_validation_profile"
    ]
    assert edge["certificate valid for the domain"]["detail"] == profile["not_applicable"]["https"]
    # The stand-in is registered in moto's target group, which reports a registered target healthy.
    assert edge["registered targets healthy"]["status"] == "pass", edge["registered targets healthy"]
    assert second["overrides"]["requests_per_endpoint"]["origin"] == "profile"
    index = (reports / "index.html").read_text()
    assert all(f"{s['release']}/{s['attempt']}/summary.json" in index for s in summaries) and "Trend: local" in index
    # The profile's values as written: the reason's apostrophe is one, not a JSON escape.
    assert "the rehearsal&#39;s traffic" in index and "\\u0027" not in index
    for value in secret_values(rehearsal):
        assert not [path for path in reports.rglob("*") if path.is_file() and value.encode() in path.read_bytes()]
