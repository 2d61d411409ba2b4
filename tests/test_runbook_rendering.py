"""What the runbook renders before it reaches AWS, templated by Ansible itself with the production
inventory: the task definition and its hash, the release's secret checks, and what the images
phase and `make release-local` do on a machine that lacks the image tools."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT
from tests.runbook_runs import gunicorn_config
from webapp.settings import Settings

pytestmark = pytest.mark.slow

IMAGE_TOOLS = {"buildah", "skopeo", "debootstrap", "docker", "podman"}

BIN = Path(sys.executable).parent

# The deploy phase's inputs to the task definition, as the production inventory sees them.
BASE = {
    "ecs_deploy_family": "finbert-rag-production-api",
    "ecs_deploy_container": "api",
    "ecs_deploy_container_port": 8000,
    "ecs_deploy_image": "000000000000.dkr.ecr.ap-south-1.amazonaws.com/finbert-rag/api:v2.0.0",
    "ecs_deploy_environment": {"FINNEWS_APP_VERSION": "v2.0.0", "FINNEWS_ES_REQUEST_TIMEOUT": "3"},
    "ecs_deploy_secrets": [
        {
            "name": "FINNEWS_API_TOKENS",
            "valueFrom": "arn:aws:secretsmanager:ap-south-1:0:secret:api-tokens-AbCdEf:tokens::v-1",
        },
        {
            "name": "FINNEWS_ES_API_KEY",
            "valueFrom": "arn:aws:secretsmanager:ap-south-1:0:secret:es-GhIjKl:api_key::v-1",
        },
    ],
    "ecs_deploy_live_path": "{{ service_live_path }}",
    "ecs_deploy_health_check_timeout": "{{ service_health_check_timeout }}",
    "ecs_deploy_execution_role_arn": "arn:aws:iam::0:role/finbert-rag-production-task-execution",
    "ecs_deploy_task_role_arn": "arn:aws:iam::0:role/finbert-rag-production-task",
    "ecs_deploy_log_group": "/ecs/finbert-rag-production",
    "ecs_deploy_log_region": "ap-south-1",
    "ecs_deploy_writable_paths": "{{ service_writable_paths }}",
}
# One change each, of what the collection's own comparison overlooks; each must register anew.
VARIANTS = {
    "same": {},
    "same, rendered again": {},
    "environment value": {"ecs_deploy_extra_environment": {"FINNEWS_WORKERS": "3"}},
    "secret ARN (a recreated secret)": {
        "ecs_deploy_secrets": [
            BASE["ecs_deploy_secrets"][0],
            {
                "name": "FINNEWS_ES_API_KEY",
                "valueFrom": "arn:aws:secretsmanager:ap-south-1:0:secret:es-ZzZzZz:api_key::v-1",
            },
        ]
    },
    "secret value (a new version)": {
        "ecs_deploy_secrets": [
            {
                "name": "FINNEWS_API_TOKENS",
                "valueFrom": "arn:aws:secretsmanager:ap-south-1:0:secret:api-tokens-AbCdEf:tokens::v-2",
            },
            BASE["ecs_deploy_secrets"][1],
        ]
    },
    "cpu": {"ecs_deploy_cpu": 4096},
    "memory": {"ecs_deploy_memory": 8192},
    "execution role": {"ecs_deploy_execution_role_arn": "arn:aws:iam::0:role/other"},
    "task role": {"ecs_deploy_task_role_arn": "arn:aws:iam::0:role/other"},
    "image": {"ecs_deploy_image": BASE["ecs_deploy_image"].replace("v2.0.0", "v2.0.1")},
}


def playbook(tmp_path: Path, tasks: list[dict], name: str = "render") -> Path:
    path = tmp_path / f"{name}.yml"
    path.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Render",
                    "hosts": "release",
                    "gather_facts": False,
                    "vars_files": [str(ROOT / "playbooks/vars/service.yml")],
                    "tasks": tasks,
                }
            ],
            sort_keys=False,
        )
    )
    return path


def ansible_playbook(path: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "ansible-playbook"), str(path), "-i", "inventories/production", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict:
    """The ecs_deploy role's task definition and hash for the base inputs and each variant."""
    tmp_path = tmp_path_factory.mktemp("rendered")
    output = tmp_path / "rendered.json"
    tasks = [{"name": "Start", "ansible.builtin.set_fact": {"rendered": {}}}]
    for name, change in VARIANTS.items():
        tasks += [
            {
                "name": f"Render {name}",
                "ansible.builtin.include_role": {"name": "ecs_deploy", "tasks_from": "definition"},
                "vars": {**BASE, **change},
            },
            {
                "name": f"Keep {name}",
                "ansible.builtin.set_fact": {
                    "rendered": "{{ rendered | combine({" + json.dumps(name) + ": {'definition': ecs_deploy_definition,"
                    " 'hash': ecs_deploy_definition_hash}}) }}"
                },
            },
        ]
    tasks.append(
        {
            "name": "Write",
            "ansible.builtin.copy": {"content": "{{ rendered | to_json }}", "dest": str(output), "mode": "0600"},
        }
    )
    result = ansible_playbook(playbook(tmp_path, tasks))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(output.read_text())


def test_failure_3_every_change_of_the_definition_or_its_secrets_changes_its_hash(rendered):
    base = rendered["same"]["hash"]
    assert len(base) == 64
    # Rendered again from the same inputs, the same hash: a re-run registers nothing.
    assert rendered["same, rendered again"]["hash"] == base
    changed = {name: rendered[name]["hash"] != base for name in VARIANTS if not name.startswith("same")}
    assert all(changed.values()), changed


# What ECS reports of a live service, and what the release wants of it (roles/ecs_deploy/tasks/compare.yml).
RELEASE_NETWORK = {"subnets": ["subnet-a", "subnet-b"], "securityGroups": ["sg-1"], "assignPublicIp": "DISABLED"}
LIVE_CONFIGURATIONS = {
    "as released": ({"enable": True, "rollback": True}, RELEASE_NETWORK, False),
    # A field a later ECS API (and botocore) reports beside the two the release sets.
    "a field ECS added": ({"enable": True, "rollback": True, "monitoringWindowSeconds": 300}, RELEASE_NETWORK, False),
    "subnets in another order": (
        {"enable": True, "rollback": True},
        {**RELEASE_NETWORK, "subnets": ["subnet-b", "subnet-a"]},
        False,
    ),
    "rollback turned off by hand": ({"enable": True, "rollback": False}, RELEASE_NETWORK, True),
    "no circuit breaker": ({}, RELEASE_NETWORK, True),
    "another subnet": ({"enable": True, "rollback": True}, {**RELEASE_NETWORK, "subnets": ["subnet-c"]}, True),
}


def test_only_a_real_change_of_the_service_s_configuration_forces_a_deployment(tmp_path):
    """ecs_deploy forces a new deployment when the live service's network or circuit breaker
    differs from the release's. Before, the circuit breaker was compared as a whole dict: a field
    a later ECS API reports would have forced a deployment (every task restarted) on every run."""
    output = tmp_path / "compared.json"
    tasks = [{"name": "Start", "ansible.builtin.set_fact": {"compared": {}}}]
    for name, (breaker, network, _) in LIVE_CONFIGURATIONS.items():
        live = {
            "networkConfiguration": {"awsvpcConfiguration": network},
            "deploymentConfiguration": {"deploymentCircuitBreaker": breaker},
        }
        tasks += [
            {
                "name": f"Compare {name}",
                "ansible.builtin.include_role": {"name": "ecs_deploy", "tasks_from": "compare"},
                "vars": {"ecs_deploy_existing_service": live, "ecs_deploy_network": RELEASE_NETWORK},
            },
            {
                "name": f"Keep {name}",
                "ansible.builtin.set_fact": {
                    "compared": "{{ compared | combine({"
                    + json.dumps(name)
                    + ": ecs_deploy_configuration_changed | bool}) }}"
                },
            },
        ]
    tasks.append(
        {
            "name": "Write",
            "ansible.builtin.copy": {"content": "{{ compared | to_json }}", "dest": str(output), "mode": "0600"},
        }
    )
    result = ansible_playbook(playbook(tmp_path, tasks))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert json.loads(output.read_text()) == {name: changed for name, (*_, changed) in LIVE_CONFIGURATIONS.items()}


def test_failure_4_the_container_checks_liveness_within_the_timeout(rendered):
    [container] = rendered["same"]["definition"]["containers"]
    check = container["healthCheck"]
    command = " ".join(check["command"])
    assert "http://127.0.0.1:8000/health/live" in command and "/health/ready" not in command
    assert check["timeout"] == 5 and "timeout=4" in command  # the request gives up before ECS does
    assert container["logConfiguration"]["options"]["mode"] == "non-blocking"


def test_the_container_health_check_s_settings_reach_ecs_as_numbers(rendered):
    """The role's defaults (roles/ecs_deploy/defaults/main.yml), as ECS's API takes them: integers,
    so that the definition's hash, and the revision it finds, stay those of the literals they were."""
    [container] = rendered["same"]["definition"]["containers"]
    check = container["healthCheck"]
    assert {key: check[key] for key in ("interval", "timeout", "retries", "startPeriod")} == {
        "interval": 15,
        "timeout": 5,
        "retries": 3,
        "startPeriod": 120,
    }
    assert all(type(check[key]) is int for key in ("interval", "timeout", "retries", "startPeriod"))


# Fargate's most for a container's stop timeout; and the time gunicorn's master needs after its
# graceful_timeout: it kills the workers left, then its on_exit removes the server's temporary
# folders (the compiled models among them, hundreds of MB).
FARGATE_MAX_STOP_TIMEOUT = 120
GUNICORN_EXIT_MARGIN = 10


def test_the_container_is_killed_only_after_gunicorn_s_graceful_shutdown(rendered):
    """ECS sends SIGTERM, then SIGKILL once the container's stopTimeout has passed (30 s unless
    set: gunicorn's own graceful_timeout, so a drain that takes it all would race the kill)."""
    [container] = rendered["same"]["definition"]["containers"]
    graceful_timeout = gunicorn_config(ROOT)["graceful_timeout"]
    assert graceful_timeout + GUNICORN_EXIT_MARGIN <= container["stopTimeout"] <= FARGATE_MAX_STOP_TIMEOUT


def image_instructions(name: str) -> list[str]:
    """The arguments of each NAME instruction of the image that runs: the final stage of
    docker/Dockerfile.api and the stages it is built on, in order, continuation lines joined."""
    lines = [line for line in (ROOT / "docker/Dockerfile.api").read_text().splitlines() if not line.startswith("#")]
    instructions = [line.split(None, 1) for line in "\n".join(lines).replace("\\\n", " ").splitlines() if line.strip()]
    stages: list[tuple[str, str, list[list[str]]]] = []  # (name, built on, instructions)
    for instruction in instructions:
        if instruction[0].upper() == "FROM":
            image, *alias = instruction[1].split()
            stages.append((alias[-1] if alias else "", image, []))
        elif stages:
            stages[-1][2].append(instruction)
    chain, parent = [], stages[-1]
    while parent:
        chain.insert(0, parent)
        parent = next((stage for stage in stages if stage[0] == parent[1]), None)
    return [arguments for *_, body in chain for keyword, arguments in body if keyword.upper() == name.upper()]


def under(path: str, folders: set[str]) -> bool:
    return any(path == folder or path.startswith(folder.rstrip("/") + "/") for folder in folders)


def test_the_container_writes_only_to_volumes_of_its_own(rendered):
    definition = rendered["same"]["definition"]
    [container] = definition["containers"]
    assert container["readonlyRootFilesystem"] is True
    # On Fargate a volume without host or configuration is an empty folder of the task's own
    # storage, made for the task and gone with it.
    assert all(set(volume) == {"name"} for volume in definition["volumes"])
    mounts = container["mountPoints"]
    assert sorted(mount["sourceVolume"] for mount in mounts) == sorted(
        volume["name"] for volume in definition["volumes"]
    )
    assert not any(mount["readOnly"] for mount in mounts)
    writable = {mount["containerPath"] for mount in mounts}

    # The environment the container runs with: the image's, then the task definition's.
    environment = {}
    for arguments in image_instructions("ENV"):
        environment.update(pair.split("=", 1) for pair in shlex.split(arguments))
    environment.update({variable["name"]: variable["value"] for variable in container["environment"]})
    # What the service writes while it runs: Python's temporary directory (the workers' metric
    # samples, webapp/settings.py configure_process; the compiled models; any library's temporary
    # file), gunicorn's worker heartbeat files and its control socket ($XDG_RUNTIME_DIR).
    temporary = environment.get("TMPDIR", "/tmp")
    gunicorn = gunicorn_config(ROOT)
    written = {
        temporary,
        environment.get("PROMETHEUS_MULTIPROC_DIR", temporary),
        gunicorn["worker_tmp_dir"] or temporary,
        environment["XDG_RUNTIME_DIR"],
    }
    assert all(under(path, writable) for path in written), (written, writable)
    # ...and never the model cache or the service's code, which a volume would hide.
    assert not any(under(path, writable) for path in (environment["FINNEWS_MODEL_CACHE_DIR"], "/opt/finnews/webapp"))

    # Fargate gives a volume's folder the owner and mode the image's folder has only where the image
    # declares that path a VOLUME; elsewhere it is root's, 0755, and the service's user (10001)
    # could not write to it.
    declared = set()
    for arguments in image_instructions("VOLUME"):
        declared.update(json.loads(arguments) if arguments.startswith("[") else arguments.split())
    assert writable <= declared, writable - declared


def release_secrets_play(tmp_path: Path, secrets: list[dict]) -> subprocess.CompletedProcess:
    tasks = [
        {
            "name": "Check and store",
            "ansible.builtin.include_role": {"name": "release_secrets"},
            "vars": {"release_secrets_secrets": secrets},
        }
    ]
    # Nothing may reach AWS: a refused value fails before the secrets are stored.
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    return ansible_playbook(playbook(tmp_path, tasks, "secrets"), env={**os.environ, **env})


@pytest.mark.parametrize(
    ("tokens", "refusal"),
    [
        ("", "no value for finbert-rag/production/api-tokens:tokens"),
        ("   ", "no value for finbert-rag/production/api-tokens:tokens"),
        (" , ,, ", "finbert-rag/production/api-tokens:tokens holds no token"),
        ("x" * 40 + ", short-token-31-characters-long", "api-tokens:tokens token 2 is shorter than 32 characters"),
        ("y" * 31, "api-tokens:tokens token 1 is shorter than 32 characters"),
    ],
    ids=["empty", "blank", "commas", "one-short", "31-characters"],
)
def test_api_tokens_the_service_would_refuse_stop_the_release(tmp_path, tokens, refusal):
    secrets = [
        {
            "name": "finbert-rag/production/api-tokens",
            "description": "Bearer tokens",
            "value": {"tokens": tokens},
            "token_keys": ["tokens"],
        }
    ]
    result = release_secrets_play(tmp_path, secrets)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert refusal in output, output[-3000:]
    assert "Store the secrets in Secrets Manager" not in output
    for token in filter(None, (t.strip() for t in tokens.split(","))):
        assert token not in output


def test_make_release_local_installs_the_image_tools_first():
    """On a fresh machine the images phase finds buildah and friends: make installs them first."""
    result = subprocess.run(["make", "-n", "release-local"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    install = next(i for i, line in enumerate(lines) if "apt-get install" in line and "buildah" in line)
    for tool in ("buildah", "skopeo", "debootstrap", "docker-registry"):
        assert tool in lines[install]
    assert install < next(i for i, line in enumerate(lines) if "ansible-playbook release.yml" in line)


def test_images_phase_names_the_missing_tools_and_the_command(tmp_path):
    """Without buildah, skopeo and debootstrap, the images phase says which and how to install them."""
    # This machine's programs, less the image tools: a fresh machine's PATH.
    bare = tmp_path / "bin"
    bare.mkdir()
    for folder in ("/usr/local/bin", "/usr/bin", "/bin"):
        for program in Path(folder).iterdir():
            if program.name not in IMAGE_TOOLS and not (bare / program.name).exists():
                (bare / program.name).symlink_to(program)
    tasks = [
        {
            "name": "Images",
            "ansible.builtin.include_role": {"name": "images"},
            "vars": {"images_version": "v2.0.0", "images_registry": "127.0.0.1:9"},
        }
    ]
    env = {"PATH": str(bare), "HOME": str(tmp_path)}
    result = ansible_playbook(
        playbook(tmp_path, tasks, "images"), f"-eansible_python_interpreter={sys.executable}", env=env
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "building with buildah needs buildah, skopeo, debootstrap" in output, output[-3000:]
    assert "make image-deps" in output and "apt-get install buildah skopeo debootstrap" in output


SIGN_IN = {
    "issuer": "https://sign-in.example.com",
    "authorization_endpoint": "https://sign-in.example.com/authorize",
    "token_endpoint": "https://sign-in.example.com/token",
    "user_info_endpoint": "https://sign-in.example.com/userinfo",
    "client_id": "finbert-rag-search",
}
LOAD_BALANCER_ARN = (
    "arn:aws:elasticloadbalancing:ap-south-1:000000000000:loadbalancer/app/finbert-rag-production/50dc6c495c0c9188"
)


def sign_in_environment(tmp_path: Path, inventory: str, **extra) -> dict:
    """The task definition's sign-in environment (playbooks/vars/service.yml) as the deploy renders it."""
    output = tmp_path / f"sign-in-{inventory}.json"
    tasks = [
        {
            "name": "Write",
            "ansible.builtin.copy": {
                "content": "{{ service_sign_in_environment | to_json }}",
                "dest": str(output),
                "mode": "0600",
            },
        }
    ]
    variables = tmp_path / f"extra-{inventory}.json"
    variables.write_text(json.dumps({"load_balancer_arn": LOAD_BALANCER_ARN, **extra}))
    path = playbook(tmp_path, tasks, f"sign-in-{inventory}")
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), str(path), "-i", f"inventories/{inventory}", f"-e@{variables}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(output.read_text())


def test_the_service_accepts_the_identity_header_of_its_load_balancer_only_with_sign_in_on(tmp_path):
    """Sign-in off (production's and staging's default): the service is given no signer and
    ignores the header. On: the load balancer's ARN, which the service's settings accept;
    production keeps AWS's key URL. The rehearsal signs in, and fetches the keys from users' edge."""
    assert sign_in_environment(tmp_path, "production") == {}
    on = sign_in_environment(tmp_path, "production", load_balancer_oidc=SIGN_IN)
    assert on == {"FINNEWS_ALB_SIGNERS": LOAD_BALANCER_ARN}
    settings = Settings(alb_signers=on["FINNEWS_ALB_SIGNERS"], api_tokens="t" * 40)
    assert settings.alb_signers == (LOAD_BALANCER_ARN,)

    rehearsal = sign_in_environment(tmp_path, "local")
    assert rehearsal == {
        "FINNEWS_ALB_SIGNERS": LOAD_BALANCER_ARN,
        "FINNEWS_ALB_PUBLIC_KEY_URL": "http://127.0.0.1:8311/.rehearsal-edge/public-keys/{kid}",
    }
    assert Settings(alb_public_key_url=rehearsal["FINNEWS_ALB_PUBLIC_KEY_URL"], api_tokens="t" * 40)
