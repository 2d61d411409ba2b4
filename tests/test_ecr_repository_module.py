"""The repository's ecr_repository module (plugins/modules), run as Ansible runs a module against
moto's ECR: creation with every setting, idempotence,
policies compared as documents, check mode, updates, a refused encryption change, deletion, and
the point of IMMUTABLE_WITH_EXCLUSION: a version tag cannot be pushed twice while prod and latest
move with each release."""

from __future__ import annotations

import hashlib
import json

import pytest
from botocore.exceptions import ClientError

from tests.helpers import ROOT
from tests.runbook_runs import ansible_module_runner, aws_client

# Each test runs Ansible or its modules in processes of their own, against moto.
pytestmark = pytest.mark.slow

MODULE = ROOT / "plugins" / "modules" / "ecr_repository.py"
NAME = "finbert-rag/api"
LIFECYCLE = {
    "rules": [
        {
            "rulePriority": 1,
            "description": "Expire untagged images after a day",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 1,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "description": "Keep the newest 30 images",
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 30},
            "action": {"type": "expire"},
        },
    ]
}
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "PullByTheAccount",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
        }
    ],
}
EVERY_SETTING = {
    "name": NAME,
    "scan_on_push": True,
    "tag_mutability": "immutable_with_exclusion",
    "tag_mutability_exclusions": ["prod", "latest"],
    "encryption": "AES256",
    "lifecycle_policy": LIFECYCLE,
    "repository_policy": POLICY,
}


@pytest.fixture
def ecr(moto_url):
    return aws_client("ecr", moto_url)


@pytest.fixture
def run(moto_url, tmp_path):
    return ansible_module_runner(MODULE, moto_url, tmp_path)


def described(ecr, name=NAME):
    return ecr.describe_repositories(repositoryNames=[name])["repositories"][0]


def stored_lifecycle(ecr):
    return json.loads(ecr.get_lifecycle_policy(repositoryName=NAME)["lifecyclePolicyText"])


def stored_policy(ecr):
    return json.loads(ecr.get_repository_policy(repositoryName=NAME)["policyText"])


def test_creates_with_every_setting_then_changes_nothing(ecr, run):
    first = run(**EVERY_SETTING)
    assert first["changed"]
    repository = described(ecr)
    assert repository["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert sorted(f["filter"] for f in repository["imageTagMutabilityExclusionFilters"]) == ["latest", "prod"]
    assert {f["filterType"] for f in repository["imageTagMutabilityExclusionFilters"]} == {"WILDCARD"}
    assert repository["imageScanningConfiguration"]["scanOnPush"] is True
    assert repository["encryptionConfiguration"] == {"encryptionType": "AES256"}
    assert stored_lifecycle(ecr) == LIFECYCLE and stored_policy(ecr) == POLICY
    returned = first["repository"]
    assert (returned["arn"], returned["uri"], returned["registry_id"]) == (
        repository["repositoryArn"],
        repository["repositoryUri"],
        repository["registryId"],
    )
    assert returned["tag_mutability"] == "immutable_with_exclusion"
    assert returned["tag_mutability_exclusions"] == ["latest", "prod"]
    assert returned["lifecycle_policy"] == LIFECYCLE and returned["repository_policy"] == POLICY

    second = run(**EVERY_SETTING)
    assert not second["changed"] and second["repository"] == returned


def test_policies_compare_as_documents_not_text(ecr, run):
    run(**EVERY_SETTING)
    # The forms ECR may return a policy in: another layout, a one-element list as a plain value,
    # the account id for its root ARN, lists in another order.
    statement = {
        **POLICY["Statement"][0],
        "Principal": {"AWS": "123456789012"},
        "Action": list(reversed(POLICY["Statement"][0]["Action"])),
    }
    ecr.set_repository_policy(repositoryName=NAME, policyText=json.dumps({**POLICY, "Statement": statement}, indent=4))
    ecr.put_lifecycle_policy(
        repositoryName=NAME, lifecyclePolicyText=json.dumps({"rules": list(reversed(LIFECYCLE["rules"]))}, indent=2)
    )
    assert not run(**EVERY_SETTING)["changed"]

    # A real difference still counts.
    assert run(**{**EVERY_SETTING, "tag_mutability_exclusions": ["prod"]})["changed"]


def test_check_mode_changes_nothing_and_predicts_the_change(ecr, run):
    created = run(check_mode=True, diff=True, **EVERY_SETTING)
    assert created["changed"] and created["diff"]["before"] == ""
    assert json.loads(created["diff"]["after"])["tag_mutability"] == "immutable_with_exclusion"
    assert ecr.describe_repositories()["repositories"] == []

    run(**EVERY_SETTING)
    update = {**EVERY_SETTING, "scan_on_push": False, "tag_mutability": "immutable", "tag_mutability_exclusions": None}
    predicted = run(check_mode=True, diff=True, **update)
    assert predicted["changed"]
    assert (predicted["repository"]["scan_on_push"], predicted["repository"]["tag_mutability"]) == (False, "immutable")
    assert json.loads(predicted["diff"]["before"])["scan_on_push"] is True
    assert json.loads(predicted["diff"]["after"])["scan_on_push"] is False
    repository = described(ecr)
    assert repository["imageScanningConfiguration"]["scanOnPush"] is True
    assert repository["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"

    assert not run(check_mode=True, **EVERY_SETTING)["changed"]
    assert run(check_mode=True, name=NAME, state="absent")["changed"]
    assert described(ecr)


def test_updates_each_setting_that_differs(ecr, run):
    run(**EVERY_SETTING)
    lifecycle = {"rules": [{**LIFECYCLE["rules"][1], "rulePriority": 1}]}
    policy = {"Version": "2012-10-17", "Statement": [{**POLICY["Statement"][0], "Action": ["ecr:BatchGetImage"]}]}
    update = {
        "name": NAME,
        "scan_on_push": False,
        "tag_mutability": "immutable",
        "lifecycle_policy": lifecycle,
        "repository_policy": policy,
    }
    result = run(diff=True, **update)
    assert result["changed"]
    repository = described(ecr)
    assert repository["imageScanningConfiguration"]["scanOnPush"] is False
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert not repository.get("imageTagMutabilityExclusionFilters")
    assert stored_lifecycle(ecr) == lifecycle and stored_policy(ecr) == policy
    assert json.loads(result["diff"]["after"])["repository_policy"] == policy
    assert not run(**update)["changed"]

    # An option left out leaves its setting alone.
    assert not run(name=NAME)["changed"]
    assert run(name=NAME, tag_mutability="mutable")["changed"]
    assert described(ecr)["imageTagMutability"] == "MUTABLE" and stored_policy(ecr) == policy


def test_an_encryption_change_is_refused_before_anything_changes(ecr, run):
    run(**EVERY_SETTING)
    refused = run(**{**EVERY_SETTING, "scan_on_push": False, "encryption": "KMS"})
    assert refused["failed"]
    assert "encrypted with AES256, not KMS" in refused["msg"] and "only when it creates" in refused["msg"]
    assert described(ecr)["imageScanningConfiguration"]["scanOnPush"] is True

    key = "arn:aws:kms:ap-south-1:123456789012:key/0b6c3a3e-0000-4000-8000-000000000001"
    kms = {"name": "kms-encrypted", "encryption": "KMS", "kms_key": key}
    assert run(**kms)["changed"]
    assert described(ecr, "kms-encrypted")["encryptionConfiguration"] == {"encryptionType": "KMS", "kmsKey": key}
    # The key by its id is the same key; another key, or AES256 (the default), is not.
    assert not run(**{**kms, "kms_key": key.rsplit("/", 1)[1]})["changed"]
    assert run(**{**kms, "kms_key": key.replace("0001", "0002")})["failed"]
    assert "not AES256" in run(name="kms-encrypted", check_mode=True)["msg"]


def test_absent_deletes_once(ecr, run):
    run(**EVERY_SETTING)
    deleted = run(name=NAME, state="absent", diff=True)
    assert deleted["changed"] and deleted["repository"] == {}
    assert json.loads(deleted["diff"]["before"])["scan_on_push"] is True
    assert ecr.describe_repositories()["repositories"] == []
    assert not run(name=NAME, state="absent")["changed"]


@pytest.mark.parametrize(
    "arguments",
    [
        {"tag_mutability": "immutable_with_exclusion"},
        {"tag_mutability": "immutable", "tag_mutability_exclusions": ["prod"]},
        {"kms_key": "0b6c3a3e-0000-4000-8000-000000000001"},
    ],
)
def test_inconsistent_options_are_refused(ecr, run, arguments):
    result = run(name=NAME, **arguments)
    assert result["failed"] and "only allowed with" in result["msg"]
    assert ecr.describe_repositories()["repositories"] == []


def manifest(build: str) -> str:
    """A small Docker v2 image manifest, different for each build."""

    def digest(text):
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 100,
                "digest": digest(f"config of {build}"),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 1000,
                    "digest": digest(f"layer of {build}"),
                }
            ],
        }
    )


def push(ecr, build, *tags):
    for tag in tags:
        ecr.put_image(repositoryName=NAME, imageManifest=manifest(build), imageTag=tag)


def tagged(ecr) -> dict[str, str]:
    """Each tag of the repository and the build whose manifest it names."""
    tags = [
        tag for image in ecr.describe_images(repositoryName=NAME)["imageDetails"] for tag in image.get("imageTags", [])
    ]
    builds = {manifest(build): build for build in ("first", "second")}
    return {
        tag: builds[
            ecr.batch_get_image(repositoryName=NAME, imageIds=[{"imageTag": tag}])["images"][0]["imageManifest"]
        ]
        for tag in tags
    }


IMMUTABLE_TAG_CODES = {"ImageTagAlreadyExistsException", "ImageAlreadyExistsException"}


def test_version_tags_are_pushed_once_while_prod_and_latest_move(ecr, run):
    run(**EVERY_SETTING)
    push(ecr, "first", "v1.0.0", "prod", "latest")

    # A second build under a released version is refused.
    with pytest.raises(ClientError) as refused:
        push(ecr, "second", "v1.0.0")
    assert refused.value.response["Error"]["Code"] in IMMUTABLE_TAG_CODES

    # The next release moves the tags that follow releases.
    push(ecr, "second", "v1.1.0", "prod", "latest")
    assert tagged(ecr) == {"v1.0.0": "first", "v1.1.0": "second", "prod": "second", "latest": "second"}


def test_with_every_tag_immutable_the_next_release_cannot_move_prod(ecr, run):
    # The setting the release had before: why it needs the exclusions.
    run(**{**EVERY_SETTING, "tag_mutability": "immutable", "tag_mutability_exclusions": None})
    push(ecr, "first", "v1.0.0", "prod", "latest")
    push(ecr, "second", "v1.1.0")
    with pytest.raises(ClientError) as refused:
        push(ecr, "second", "prod")
    assert refused.value.response["Error"]["Code"] in IMMUTABLE_TAG_CODES
    assert tagged(ecr)["prod"] == "first"
