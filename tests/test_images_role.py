"""The release runbook's images role (roles/images), called as the runbook calls it, against a
docker-registry on loopback and a moto server standing in for ECR, as in the local rehearsal:
it builds the API image (offline, with buildah; layers cached by test_image.py are reused),
pushes it under its build tag only (build-<version>-<commit>: the version's tag, prod and latest
name it once the release passed its validation), records the manifest in the emulated ECR, and
reports images_pushed. A second run changes nothing; check mode builds and pushes nothing; a
version already released from another commit is refused; move_tags, as the switch phase calls it,
gives a validated release's image its version, prod and latest, and moves them on at the next. A
release promoted from another environment's repository copies the digest validated there and
builds nothing; one not released there, or from another commit, is refused.

Needs root and Debian's buildah, skopeo, debootstrap and docker-registry (`make system-deps`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.runbook_runs import AWS_ENV, aws_client

VENV_BIN = Path(sys.executable).parent
VERSION = "v0.0.0-test"  # the version test_image.py builds: the role reuses its layers
REPOSITORY = "finbert-rag/api"
# Run alone, the first run builds the image from scratch: minutes on 2 cores.
pytestmark = [pytest.mark.timeout(1800), pytest.mark.image]
PLAYBOOK = """
- name: Build and push the release images
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: images
  post_tasks:
    - name: Tag the image as the switch phase does, once the release passed its validation
      ansible.builtin.include_role:
        name: images
        tasks_from: move_tags
      vars:
        images_source_tag: "{{ images_pushed[0].tags[0] }}"
        images_extra_tags: "{{ [images_version, 'prod', 'latest'] }}"
      when: validated | default(false) | bool

    - name: Hand images_pushed to the test
      ansible.builtin.copy:
        content: "{{ images_pushed | to_json }}"
        dest: "{{ pushed_file }}"
        mode: "0644"
      changed_when: false
      check_mode: false
"""


@pytest.fixture(scope="module")
def ecr(moto_url):
    """The release's ECR repository: version tags immutable, prod and latest free to follow releases."""
    client = aws_client("ecr", moto_url)
    client.create_repository(
        repositoryName=REPOSITORY,
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": tag} for tag in ("prod", "latest")],
    )
    return client


def play(
    tmp_path: Path, oci_registry: str, moto_url: str, version: str, *options: str
) -> tuple[int, str, list | None, float]:
    """Run the role as the runbook does; returns (rc, output, images_pushed, seconds)."""
    playbook = tmp_path / "images.yml"
    playbook.write_text(PLAYBOOK)
    pushed_file = tmp_path / f"pushed-{version}.json"
    pushed_file.unlink(missing_ok=True)
    extra_vars = {
        "images_version": version,
        "images_registry": oci_registry,
        "images_registry_tls_verify": False,
        "images_ecr_put_image": True,
        "pushed_file": str(pushed_file),
        "ansible_python_interpreter": sys.executable,
    }
    env = {
        **os.environ,
        **AWS_ENV,
        "AWS_URL": moto_url,
        "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
        "ANSIBLE_NOCOLOR": "1",
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
    }
    start = time.monotonic()
    result = subprocess.run(
        [VENV_BIN / "ansible-playbook", "-i", "localhost,", str(playbook), "-e", json.dumps(extra_vars), *options],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    seconds = time.monotonic() - start
    output = result.stdout + result.stderr
    pushed = json.loads(pushed_file.read_text()) if pushed_file.exists() else None
    return result.returncode, output, pushed, seconds


HEAD = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()


def build_tag(version: str) -> str:
    return f"build-{version}-{HEAD}"


def changed(output: str) -> int:
    return int(re.search(r"localhost\s*:\s*ok=\d+\s+changed=(\d+)", output).group(1))


def skopeo(*argv: str) -> str:
    """skopeo against the loopback registry (plain HTTP)."""
    tls = ["--dest-tls-verify=false"] if argv[0] == "copy" else ["--tls-verify=false"]
    result = subprocess.run(["skopeo", argv[0], *tls, *argv[1:]], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def ecr_tags(ecr) -> dict[str, str]:
    """tag -> image digest, as describe-images lists them."""
    return {
        tag: image["imageDigest"]
        for image in ecr.describe_images(repositoryName=REPOSITORY)["imageDetails"]
        for tag in image.get("imageTags", [])
    }


@pytest.fixture(scope="module")
def first_release(tmp_path_factory, oci_registry, moto_url, ecr):
    rc, output, pushed, seconds = play(tmp_path_factory.mktemp("release"), oci_registry, moto_url, VERSION)
    assert rc == 0, output[-6000:]
    return output, pushed, seconds


def test_release_is_pushed_under_its_build_tag_only_and_recorded_in_ecr(first_release, oci_registry, ecr, measured):
    output, pushed, seconds = first_release
    assert changed(output) > 0
    digest = pushed[0]["digest"]
    build = build_tag(VERSION)
    assert pushed == [
        {"repository": REPOSITORY, "uri": f"{oci_registry}/{REPOSITORY}:{build}", "tags": [build], "digest": digest}
    ]
    # Not validated yet: no version tag (immutable, it would use the version up), no prod or latest.
    image = f"docker://{oci_registry}/{REPOSITORY}"
    assert set(json.loads(skopeo("list-tags", image))["Tags"]) == {build}
    assert skopeo("inspect", "--format", "{{.Digest}}", f"{image}:{build}").strip() == digest
    labels = json.loads(skopeo("inspect", f"{image}:{build}"))["Labels"]
    assert labels["org.opencontainers.image.revision"] == HEAD
    assert labels["org.opencontainers.image.version"] == VERSION
    assert set(ecr_tags(ecr)) == {build}
    manifest = ecr.batch_get_image(repositoryName=REPOSITORY, imageIds=[{"imageTag": build}])["images"][0]
    assert json.loads(manifest["imageManifest"]) == json.loads(skopeo("inspect", "--raw", f"{image}:{build}"))
    pushed_bytes = sum(layer["size"] for layer in json.loads(skopeo("inspect", "--raw", f"{image}:{build}"))["layers"])
    measured(
        f"images role, first run (cached build, push of the build tag, ECR put_image): {seconds:.0f} s; "
        f"the image is {pushed_bytes / 1e6:.0f} MB compressed in the registry"
    )


def test_second_run_of_the_same_version_changes_nothing(first_release, tmp_path, oci_registry, moto_url, ecr, measured):
    before = ecr_tags(ecr)
    rc, output, pushed, seconds = play(tmp_path, oci_registry, moto_url, VERSION)
    assert rc == 0, output[-6000:]
    assert changed(output) == 0, output[-6000:]
    assert "already built from this commit" in output
    assert pushed == first_release[1]
    assert ecr_tags(ecr) == before
    measured(f"images role, second run (nothing to do): {seconds:.0f} s")


def test_check_mode_reports_the_build_and_pushes_nothing(first_release, tmp_path, oci_registry, moto_url, ecr):
    version = "v0.0.1-check"
    rc, output, pushed, _ = play(tmp_path, oci_registry, moto_url, version, "--check")
    assert rc == 0, output[-6000:]
    assert f"would build {REPOSITORY}:{version}" in output and changed(output) > 0
    build = build_tag(version)
    assert pushed == [
        {"repository": REPOSITORY, "uri": f"{oci_registry}/{REPOSITORY}:{build}", "tags": [build], "digest": None}
    ]
    assert not {version, build} & set(json.loads(skopeo("list-tags", f"docker://{oci_registry}/{REPOSITORY}"))["Tags"])
    assert not {version, build} & set(ecr_tags(ecr))


def test_a_version_released_from_another_commit_is_refused(first_release, tmp_path, oci_registry, moto_url, ecr):
    version = "v0.0.2-other"
    # Any image without this checkout's revision stands for an earlier release of that version.
    skopeo(
        "copy", "--format=v2s2", "containers-storage:localhost/finnews/python-base:3.11-bookworm",
        f"docker://{oci_registry}/{REPOSITORY}:{version}",
    )  # fmt: skip
    rc, output, _, _ = play(tmp_path, oci_registry, moto_url, version)
    assert rc != 0
    assert f"{REPOSITORY}:{version} is already in the registry, built from commit unknown" in output
    assert not {version, build_tag(version)} & set(ecr_tags(ecr))


def test_a_validated_release_takes_its_version_and_the_moving_tags(
    first_release, tmp_path, oci_registry, moto_url, ecr
):
    """What the switch phase does once users reach the release: move_tags from its build tag."""
    rc, output, pushed, _ = play(tmp_path, oci_registry, moto_url, VERSION, "-evalidated=true")
    assert rc == 0, output[-6000:]
    image = f"docker://{oci_registry}/{REPOSITORY}"
    digest = first_release[1][0]["digest"]
    for tag in (VERSION, "prod", "latest"):
        assert skopeo("inspect", "--format", "{{.Digest}}", f"{image}:{tag}").strip() == digest
    tags = ecr_tags(ecr)
    assert {VERSION, "prod", "latest", build_tag(VERSION)} <= set(tags)
    assert len({tags[tag] for tag in (VERSION, "prod", "latest", build_tag(VERSION))}) == 1
    # Tagged once: again, nothing changes (a re-run of a release that serves).
    rc, output, _, _ = play(tmp_path, oci_registry, moto_url, VERSION, "-evalidated=true")
    assert rc == 0 and changed(output) == 0, output[-6000:]
    assert ecr_tags(ecr) == tags


def test_next_release_moves_prod_and_latest_once_validated(first_release, tmp_path, oci_registry, moto_url, ecr):
    version = "v0.0.3-next"
    rc, output, pushed, _ = play(tmp_path, oci_registry, moto_url, version)
    assert rc == 0, output[-6000:]
    image = f"docker://{oci_registry}/{REPOSITORY}"
    digest = pushed[0]["digest"]
    assert digest != first_release[1][0]["digest"]
    # Pushed, not validated: prod and latest stay on the release before, the version is unused.
    assert version not in json.loads(skopeo("list-tags", image))["Tags"] and version not in ecr_tags(ecr)
    assert skopeo("inspect", "--format", "{{.Digest}}", f"{image}:prod").strip() != digest
    rc, output, _, _ = play(tmp_path, oci_registry, moto_url, version, "-evalidated=true")
    assert rc == 0, output[-6000:]
    for tag in (version, "prod", "latest"):
        assert skopeo("inspect", "--format", "{{.Digest}}", f"{image}:{tag}").strip() == digest
    # The manifests the tags name: moto's digests hash the layers alone, and a new version of the
    # same tree differs from the last in its config (the release's metadata), not in a layer.
    manifests = {
        tag: image["imageManifest"]
        for tag in (version, "prod", "latest", VERSION)
        for image in ecr.batch_get_image(repositoryName=REPOSITORY, imageIds=[{"imageTag": tag}])["images"]
    }
    assert manifests[version] == manifests["prod"] == manifests["latest"] != manifests[VERSION]


PROMOTED_REPOSITORY = "finbert-rag/production/api"


def promote(tmp_path, oci_registry, moto_url, version, *options):
    """The images role as production's release runs it with release_promote_from: REPOSITORY plays
    staging's repository, where the version is tagged once it passed staging's validation."""
    repositories = [
        {
            "name": PROMOTED_REPOSITORY,
            "dockerfile": "docker/Dockerfile.api",
            "promote_from": f"{oci_registry}/{REPOSITORY}",
        }
    ]
    return play(
        tmp_path, oci_registry, moto_url, version, "-e", json.dumps({"images_repositories": repositories}), *options
    )


def test_a_promoted_release_copies_the_validated_digest_and_builds_nothing(
    first_release, tmp_path, oci_registry, moto_url, ecr
):
    """Build once, promote the digest: the image staging's VERSION tag names (validated there,
    test above), copied by digest under production's build tag, and recorded in its ECR."""
    ecr.create_repository(repositoryName=PROMOTED_REPOSITORY)
    digest = first_release[1][0]["digest"]
    rc, output, pushed, _ = promote(tmp_path, oci_registry, moto_url, VERSION, "--check")
    assert rc == 0, output[-6000:]
    assert f"would copy {oci_registry}/{REPOSITORY}:{VERSION} ({digest})" in output
    rc, output, pushed, _ = promote(tmp_path, oci_registry, moto_url, VERSION)
    assert rc == 0, output[-6000:]
    build = build_tag(VERSION)
    assert pushed == [
        {
            "repository": PROMOTED_REPOSITORY,
            "uri": f"{oci_registry}/{PROMOTED_REPOSITORY}:{build}",
            "tags": [build],
            "digest": digest,
            "promoted_from": f"{oci_registry}/{REPOSITORY}:{VERSION}",
        }
    ]
    # Copied and recorded in ECR, nothing else: no build, no push of a local image.
    assert changed(output) == 2, output[-6000:]
    assert f"promoted from {oci_registry}/{REPOSITORY}:{VERSION} by this run" in output
    image = f"docker://{oci_registry}/{PROMOTED_REPOSITORY}"
    assert skopeo("inspect", "--format", "{{.Digest}}", f"{image}:{build}").strip() == digest
    recorded = ecr.batch_get_image(repositoryName=PROMOTED_REPOSITORY, imageIds=[{"imageTag": build}])["images"]
    assert json.loads(recorded[0]["imageManifest"]) == json.loads(skopeo("inspect", "--raw", f"{image}:{build}"))
    # Again: already there, nothing changes.
    rc, output, again, _ = promote(tmp_path, oci_registry, moto_url, VERSION)
    assert rc == 0 and changed(output) == 0, output[-6000:]
    assert again == pushed


def test_a_promotion_of_an_image_not_validated_there_or_of_another_commit_is_refused(
    first_release, tmp_path, oci_registry, moto_url, ecr
):
    # Never released where it is promoted from (its version tag is given once validated there).
    rc, output, _, _ = promote(tmp_path, oci_registry, moto_url, "v0.0.9-unreleased")
    assert rc != 0
    assert f"cannot promote {oci_registry}/{REPOSITORY}:v0.0.9-unreleased: it cannot be read" in output, output[-3000:]
    assert "Release v0.0.9-unreleased there first" in output
    # Released there from another commit (test_a_version_released_from_another_commit_is_refused's image).
    rc, output, _, _ = promote(tmp_path, oci_registry, moto_url, "v0.0.2-other")
    assert rc != 0
    assert f"cannot promote {oci_registry}/{REPOSITORY}:v0.0.2-other: it was built from commit unknown" in output
    tags = json.loads(skopeo("list-tags", f"docker://{oci_registry}/{PROMOTED_REPOSITORY}"))["Tags"]
    assert not [tag for tag in tags if "v0.0.9-unreleased" in tag or "v0.0.2-other" in tag], tags


def test_ecr_registry_credentials_come_from_an_authorization_token(moto_url):
    """The module the role logs in to a real ECR registry with (plugins/modules, found through
    ansible.cfg as the role finds it), against the emulated ECR."""
    result = subprocess.run(
        [VENV_BIN / "ansible", "localhost", "-c", "local", "-i", "localhost,", "-m", "ecr_authorization_token_info",
         "-e", f"ansible_python_interpreter={sys.executable}", "-o"],
        cwd=ROOT, env={**os.environ, **AWS_ENV, "AWS_URL": moto_url},
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    credentials = json.loads(result.stdout.split("=>", 1)[1])
    assert credentials["username"] == "AWS" and credentials["password"]
    assert re.fullmatch(r"https://\d{12}\.dkr\.ecr\.ap-south-1\.amazonaws\.com", credentials["proxy_endpoint"])
