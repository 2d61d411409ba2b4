"""The release runbook's static checks: yamllint, ansible-lint (production profile), a syntax check
against every inventory, the phases and their tags, and inventories that keep environments apart."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT

# Each test runs Ansible or its modules in processes of their own, against moto.
pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
INVENTORIES = ("production", "staging", "local")
PHASES = (
    "preflight",
    "registry",
    "secrets",
    "iam",
    "images",
    "infrastructure",
    "monitoring",
    "deploy",
    "validate",
    "switch",
    "git",  # after the switch: a release is tagged once it passed its validation
    "autoscaling",
    "retire",
    "rollback",
)


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True)


def test_yamllint():
    result = run(str(BIN / "yamllint"), "--strict", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ansible_lint_production_profile():
    result = run(str(BIN / "ansible-lint"), "--offline", "--profile=production", "--nocolor")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    # It linted the runbook, against the production profile.
    assert "Profile 'production' was required, and it passed" in result.stderr, result.stderr[-2000:]
    assert int(re.search(r"in (\d+) files processed", result.stderr).group(1)) >= 100
    # It passes a module whose documentation is not YAML, printing only an [ERROR].
    assert "[ERROR]" not in result.stdout + result.stderr, result.stderr[-3000:]


MODULES = sorted(ROOT.glob("plugins/modules/*.py"))
FILTERS = sorted(ROOT.glob("plugins/filter/*.py"))


def test_our_plugins_live_in_plugins():
    """One home for our modules and filters, the folders ansible.cfg names; none inside a role or
    beside a playbook, where ansible would find them for that role or playbook only."""
    stray = [
        path.relative_to(ROOT)
        for pattern in (
            "roles/*/library",
            "roles/*/*_plugins",
            "library",
            "*_plugins",
            "playbooks/library",
            "playbooks/*_plugins",
        )
        for path in ROOT.glob(pattern)
    ]
    assert not stray
    assert MODULES and FILTERS


@pytest.mark.parametrize("plugin", FILTERS, ids=lambda path: path.stem)
def test_filter_is_documented(plugin):
    """Each of our filters is found through ansible.cfg, under its file's name, with its documentation."""
    result = run(str(BIN / "ansible-doc"), "--json", "-t", "filter", plugin.stem)
    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stdout)[plugin.stem]
    assert entry["doc"]["name"] == plugin.stem and entry["doc"]["filename"] == str(plugin)
    assert entry["doc"]["options"]["_input"]["description"] and entry["examples"] and entry["return"]["_value"]


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_syntax(inventory):
    result = run(str(BIN / "ansible-playbook"), "--syntax-check", "release.yml", "-i", f"inventories/{inventory}")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_phase_is_a_tagged_playbook_with_roles_that_declare_their_arguments():
    imported = [step["ansible.builtin.import_playbook"] for step in yaml.safe_load((ROOT / "release.yml").read_text())]
    assert imported == ["playbooks/rehearsal.yml"] + [f"playbooks/{phase}.yml" for phase in PHASES]
    for phase in PHASES:
        plays = yaml.safe_load((ROOT / "playbooks" / f"{phase}.yml").read_text())
        assert all(phase in play["tags"] for play in plays), phase
    for role in (ROOT / "roles").iterdir():
        if role.name == "images":  # built on its own branch, with its own checks
            continue
        defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}
        specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
        assert "main" in specs, role.name
        # Every default is a declared argument, and the declaration states the same default.
        declared = {name: option for spec in specs.values() for name, option in spec.get("options", {}).items()}
        for name, value in defaults.items():
            assert name in declared, f"{role.name}: {name} has a default but no argument spec"
            if "default" in declared[name]:
                assert declared[name]["default"] == value, f"{role.name}: {name} defaults differ"


@pytest.mark.parametrize("inventory", ("production", "staging"))
def test_aws_inventories_reach_aws_and_nothing_of_the_rehearsal(inventory):
    result = run(str(BIN / "ansible-inventory"), "-i", f"inventories/{inventory}", "--list")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert "rehearsal" not in listing
    variables = listing["_meta"]["hostvars"]["localhost"]
    assert variables["aws_region"] == "ap-south-1" and variables["release_environment"] == inventory
    assert not {"AWS_ENDPOINT_URL", "AWS_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(
        variables["aws_environment"]
    )
    # Nothing the rehearsal works around leaks into the real environments.
    assert not any(name.startswith("rehearsal_") for name in variables)
    assert variables.get("load_balancer_drop_invalid_header_fields", True) is not None
    assert variables.get("ecs_deploy_health_check_grace_period", 120) > 0
    # Someone must hear the alarms; tasks stay private; Elasticsearch's credential is an API key.
    assert variables.get("service_monitoring_require_subscription", True) is True
    assert variables.get("ecs_deploy_assign_public_ip", False) is False
    assert variables["release_elasticsearch_auth"] == "api_key"


def test_local_inventory_points_every_aws_call_at_loopback():
    result = run(str(BIN / "ansible-inventory"), "-i", "inventories/local", "--host", "localhost")
    assert result.returncode == 0, result.stderr
    environment = json.loads(result.stdout)["aws_environment"]
    assert environment["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert environment["AWS_ACCESS_KEY_ID"] == "testing"


# What the resources of each environment are called. A name that changes makes the next release
# create a new resource beside the old one (and lose what the old one held: secrets, logs), so a
# change here must be deliberate.
def expected_names(environment: str) -> dict:
    return {
        "service_environment_name": f"finbert-rag-{environment}",
        "service_cluster": f"finbert-rag-{environment}",
        # Blue keeps the single service's and target group's names of the releases before blue/green.
        "service_slots": {
            "blue": {"service": "finbert-rag-api", "target_group": f"finbert-rag-{environment}-api"},
            "green": {"service": "finbert-rag-api-green", "target_group": f"finbert-rag-{environment}-api-green"},
        },
        "service_task_family": f"finbert-rag-{environment}-api",
        "service_execution_role": f"finbert-rag-{environment}-task-execution",
        "service_task_role": f"finbert-rag-{environment}-task",
        "service_log_group": f"/ecs/finbert-rag-{environment}",
        "service_load_balancer": f"finbert-rag-{environment}",
        "service_api_repository": f"finbert-rag/{environment}/api",
        "service_images": [f"finbert-rag/{environment}/api"],
        "service_secrets": [f"finbert-rag/{environment}/elasticsearch", f"finbert-rag/{environment}/api-tokens"],
    }


RENDER_NAMES = """
- name: Render the resource names
  hosts: release
  gather_facts: false
  vars_files: [{service_vars}]
  tasks:
    - name: Write them
      ansible.builtin.copy:
        content: "{{{{ names | to_json }}}}"
        dest: "{output}"
        mode: "0600"
      vars:
        names: {names}
"""


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_resource_names(inventory, tmp_path):
    """playbooks/vars/service.yml as the playbooks read it, with each inventory: the names AWS will
    see, each within AWS's length limits."""
    expected = expected_names(inventory)
    names = {name: f"{{{{ {name} }}}}" for name in expected}
    names["service_images"] = "{{ service_images | map(attribute='name') }}"
    names["service_secrets"] = "{{ service_secrets | map(attribute='name') }}"
    playbook = tmp_path / "names.yml"
    output = tmp_path / "names.json"
    playbook.write_text(
        RENDER_NAMES.format(service_vars=ROOT / "playbooks/vars/service.yml", output=output, names=json.dumps(names))
    )
    result = run(str(BIN / "ansible-playbook"), str(playbook), "-i", f"inventories/{inventory}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rendered = json.loads(output.read_text())
    assert rendered == expected
    groups = [slot["target_group"] for slot in rendered["service_slots"].values()]
    assert max(len(name) for name in [rendered["service_load_balancer"], *groups]) <= 32
    assert max(len(rendered["service_execution_role"]), len(rendered["service_task_role"])) <= 64
