#!/usr/bin/python
"""Ansible module: an ECR repository, with the tag mutability community.aws.ecs_ecr cannot set
(IMMUTABLE_WITH_EXCLUSION) and explicit AES256 encryption."""

DOCUMENTATION = r"""
---
module: ecr_repository
short_description: Create, update or delete an ECR repository
description:
  - Manages one ECR repository by name, with its image scanning on push, tag mutability
    (including IMMUTABLE_WITH_EXCLUSION, where tags are immutable except those matching
    exclusion filters), encryption at rest, lifecycle policy and repository policy.
  - An option left out leaves that setting as it is (on creation, ECR's default applies), so that
    another task may manage it without the two undoing each other.
  - Policies are compared as documents, not as text; the repository policy is compared as an IAM
    policy (one action or a list of one, statements or lists in any order, an account root ARN or
    the account id), as ECR may return it in another form than the one it was given.
  - Encryption can only be chosen when ECR creates the repository. When an existing repository's
    encryption differs from O(encryption) and O(kms_key), the module fails before changing
    anything, rather than report success on a repository that is not as asked.
  - Supports check mode and diff mode (the settings before and after).
options:
  name:
    description: Name of the repository, such as C(finbert-rag/api).
    required: true
    type: str
  state:
    description: Whether the repository should exist. V(absent) fails on a repository that still holds images.
    choices: [present, absent]
    default: present
    type: str
  scan_on_push:
    description: Scan each image for vulnerabilities when it is pushed.
    type: bool
  tag_mutability:
    description:
      - V(mutable) lets a push move any tag; V(immutable) refuses a push under a tag that names
        another image.
      - V(immutable_with_exclusion) is V(immutable) except for the tags matching
        O(tag_mutability_exclusions), which can move, such as C(prod) and C(latest) beside
        immutable version tags.
    choices: [mutable, immutable, immutable_with_exclusion]
    type: str
  tag_mutability_exclusions:
    description:
      - Wildcard filters (C(*) matches any characters) of the tags that stay mutable.
      - Required with O(tag_mutability=immutable_with_exclusion), and only allowed with it.
    type: list
    elements: str
  encryption:
    description:
      - How ECR encrypts the images at rest. Only set when the repository is created; see above.
    choices: [AES256, KMS]
    default: AES256
    type: str
  kms_key:
    description:
      - The KMS key (ARN or key id) with O(encryption=KMS); ECR's managed key when left out.
    type: str
  lifecycle_policy:
    description: The lifecycle policy document (C(rules)).
    type: dict
  repository_policy:
    description: The repository policy document (C(Version), C(Statement)).
    type: dict
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Repository whose version tags are immutable while prod and latest follow the release
  ecr_repository:
    name: finbert-rag/api
    scan_on_push: true
    tag_mutability: immutable_with_exclusion
    tag_mutability_exclusions: [prod, latest]
    encryption: AES256
    lifecycle_policy:
      rules:
        - rulePriority: 1
          description: Keep the newest 30 images
          selection: {tagStatus: any, countType: imageCountMoreThan, countNumber: 30}
          action: {type: expire}

- name: Remove it
  ecr_repository:
    name: finbert-rag/api
    state: absent
"""

RETURN = r"""
repository:
  description:
    - The repository after the task (empty when it is absent). In check mode, the settings it
      would have; a repository that would be created has no C(arn), C(uri) or C(registry_id).
  returned: always
  type: dict
  contains:
    name:
      description: Name of the repository.
      returned: when the repository exists
      type: str
      sample: finbert-rag/production/api
    arn:
      description: ARN of the repository.
      returned: when the repository exists, except in check mode for a new one
      type: str
      sample: arn:aws:ecr:ap-south-1:123456789012:repository/finbert-rag/production/api
    uri:
      description: The URI images are pushed to, C(<registry>/<name>).
      returned: when the repository exists, except in check mode for a new one
      type: str
      sample: 123456789012.dkr.ecr.ap-south-1.amazonaws.com/finbert-rag/production/api
    registry_id:
      description: The registry's account id.
      returned: when the repository exists, except in check mode for a new one
      type: str
      sample: "123456789012"
    scan_on_push:
      description: Whether images are scanned on push.
      returned: when the repository exists
      type: bool
      sample: true
    tag_mutability:
      description: V(mutable), V(immutable), V(immutable_with_exclusion) (or V(mutable_with_exclusion), set elsewhere).
      returned: when the repository exists
      type: str
      sample: immutable_with_exclusion
    tag_mutability_exclusions:
      description: Wildcard filters of the tags excluded from the tag mutability, sorted.
      returned: when the repository exists
      type: list
      elements: str
      sample: [latest, prod]
    encryption:
      description: V(AES256) or V(KMS).
      returned: when the repository exists
      type: str
      sample: AES256
    kms_key:
      description: ARN of the KMS key with KMS encryption, else null.
      returned: when the repository exists
      type: str
      sample: null
    lifecycle_policy:
      description: The lifecycle policy, or null.
      returned: when the repository exists
      type: dict
      sample: {"rules": [{"rulePriority": 1, "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
               "countUnit": "days", "countNumber": 14}, "action": {"type": "expire"}}]}
    repository_policy:
      description: The repository policy, or null.
      returned: when the repository exists
      type: dict
      sample: {"Version": "2012-10-17", "Statement": [{"Sid": "ReleasePush", "Effect": "Allow",
               "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": ["ecr:PutImage"]}]}
"""

import contextlib
import json

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    from botocore.exceptions import BotoCoreError, ClientError

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.policy import compare_policies
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def read_repository(ecr, module, name):
    """The repository as {name, arn, uri, registry_id, <settings>}, or None when ECR has none by that name."""
    try:
        described = ecr.describe_repositories(aws_retry=True, repositoryNames=[name])["repositories"][0]
    except is_boto3_error_code("RepositoryNotFoundException"):
        return None
    except (BotoCoreError, ClientError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f"Could not read ECR repository {name}")
    encryption = described.get("encryptionConfiguration", {"encryptionType": "AES256"})
    return {
        "name": name,
        "arn": described["repositoryArn"],
        "uri": described["repositoryUri"],
        "registry_id": described["registryId"],
        "scan_on_push": described.get("imageScanningConfiguration", {}).get("scanOnPush", False),
        "tag_mutability": described["imageTagMutability"].lower(),
        "tag_mutability_exclusions": sorted(
            f["filter"] for f in described.get("imageTagMutabilityExclusionFilters", [])
        ),
        "encryption": encryption["encryptionType"],
        "kms_key": encryption.get("kmsKey"),
        "lifecycle_policy": read_document(
            module, name, ecr.get_lifecycle_policy, "lifecyclePolicyText", "LifecyclePolicyNotFoundException"
        ),
        "repository_policy": read_document(
            module, name, ecr.get_repository_policy, "policyText", "RepositoryPolicyNotFoundException"
        ),
    }


def read_document(module, name, get, text_key, not_found_code):
    """A policy of the repository as a dict, or None when it has none."""
    try:
        return json.loads(get(aws_retry=True, repositoryName=name)[text_key])
    except is_boto3_error_code(not_found_code):
        return None
    except (BotoCoreError, ClientError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f"Could not read the {text_key} of ECR repository {name}")


def same_kms_key(current, wanted):
    """ECR reports a key's ARN; the task may name the key by its id."""
    return wanted is None or current == wanted or (current or "").endswith(f"/{wanted}")


def refuse_other_encryption(module, current):
    params = module.params
    if current["encryption"] == params["encryption"] and same_kms_key(current["kms_key"], params["kms_key"]):
        return
    held = current["encryption"] + (f" (key {current['kms_key']})" if current["kms_key"] else "")
    asked = params["encryption"] + (f" (key {params['kms_key']})" if params["kms_key"] else "")
    module.fail_json(
        msg=f"ECR repository {current['name']} is encrypted with {held}, not {asked}: ECR sets a repository's "
        "encryption only when it creates it. Nothing was changed; to change the encryption, create a new "
        "repository and move the images to it.",
        repository=current,
    )


def wanted_settings(params, current):
    """The settings the repository should have: those given, the current ones (or ECR's defaults) for the rest."""
    wanted = dict(current) if current else {"name": params["name"], "scan_on_push": False, "tag_mutability": "mutable"}
    for option in ("scan_on_push", "tag_mutability", "lifecycle_policy", "repository_policy"):
        if params[option] is not None:
            wanted[option] = params[option]
    wanted.setdefault("lifecycle_policy", None)
    wanted.setdefault("repository_policy", None)
    if params["tag_mutability"] is not None:
        wanted["tag_mutability_exclusions"] = sorted(set(params["tag_mutability_exclusions"] or []))
    wanted.setdefault("tag_mutability_exclusions", [])
    if not current:
        wanted.update(encryption=params["encryption"], kms_key=params["kms_key"])
    return wanted


def lifecycle_policies_differ(current, wanted):
    """ECR applies a lifecycle policy's rules by priority: their order in the list does not matter."""

    def by_priority(policy):
        return {**policy, "rules": sorted(policy.get("rules", []), key=lambda rule: rule.get("rulePriority", 0))}

    return by_priority(current) != by_priority(wanted)


def documents_differ(current, wanted, differ):
    if current is None or wanted is None:
        return current is not wanted
    return differ(current, wanted)


def changed_settings(current, wanted):
    """The names of the settings that differ, each compared the way ECR treats it."""
    changed = []
    if current["scan_on_push"] != wanted["scan_on_push"]:
        changed.append("scan_on_push")
    mutability = ("tag_mutability", "tag_mutability_exclusions")
    if [current[key] for key in mutability] != [wanted[key] for key in mutability]:
        changed.append("tag_mutability")
    if documents_differ(current["lifecycle_policy"], wanted["lifecycle_policy"], lifecycle_policies_differ):
        changed.append("lifecycle_policy")
    # compare_policies knows the forms IAM policies take: ECR may return the policy in another one.
    if documents_differ(current["repository_policy"], wanted["repository_policy"], compare_policies):
        changed.append("repository_policy")
    return changed


def mutability_arguments(settings):
    arguments = {"imageTagMutability": settings["tag_mutability"].upper()}
    if settings["tag_mutability_exclusions"]:
        arguments["imageTagMutabilityExclusionFilters"] = [
            {"filterType": "WILDCARD", "filter": tag} for tag in settings["tag_mutability_exclusions"]
        ]
    return arguments


def write(ecr, name, wanted, changed):
    """Create the repository (when `changed` is None) or update the settings named in `changed`."""
    if changed is None:
        encryption = {"encryptionType": wanted["encryption"]}
        if wanted["kms_key"]:
            encryption["kmsKey"] = wanted["kms_key"]
        ecr.create_repository(
            aws_retry=True,
            repositoryName=name,
            imageScanningConfiguration={"scanOnPush": wanted["scan_on_push"]},
            encryptionConfiguration=encryption,
            **mutability_arguments(wanted),
        )
        changed = [setting for setting in ("lifecycle_policy", "repository_policy") if wanted[setting] is not None]
    if "scan_on_push" in changed:
        ecr.put_image_scanning_configuration(
            aws_retry=True, repositoryName=name, imageScanningConfiguration={"scanOnPush": wanted["scan_on_push"]}
        )
    if "tag_mutability" in changed:
        ecr.put_image_tag_mutability(aws_retry=True, repositoryName=name, **mutability_arguments(wanted))
    if "lifecycle_policy" in changed:
        ecr.put_lifecycle_policy(
            aws_retry=True, repositoryName=name, lifecyclePolicyText=json.dumps(wanted["lifecycle_policy"])
        )
    if "repository_policy" in changed:
        ecr.set_repository_policy(
            aws_retry=True, repositoryName=name, policyText=json.dumps(wanted["repository_policy"])
        )


def as_text(settings):
    if settings is None:
        return ""
    shown = {key: value for key, value in settings.items() if key not in ("name", "arn", "uri", "registry_id")}
    return json.dumps(shown, indent=2, sort_keys=True) + "\n"


def ensure_present(ecr, module, name, current):
    if current:
        refuse_other_encryption(module, current)
    wanted = wanted_settings(module.params, current)
    changed = changed_settings(current, wanted) if current else None
    result = {
        "changed": changed is None or bool(changed),
        "repository": wanted,
        "diff": {"before": as_text(current), "after": as_text(wanted), "before_header": name, "after_header": name},
    }
    if result["changed"] and not module.check_mode:
        try:
            write(ecr, name, wanted, changed)
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg=f"Could not write ECR repository {name}")
        result["repository"] = read_repository(ecr, module, name)
    return result


def ensure_absent(ecr, module, name, current):
    result = {"changed": current is not None, "repository": {}, "diff": {"before": as_text(current), "after": ""}}
    if result["changed"] and not module.check_mode:
        try:
            ecr.delete_repository(aws_retry=True, repositoryName=name)
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg=f"Could not delete ECR repository {name}")
    return result


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
            "scan_on_push": {"type": "bool"},
            "tag_mutability": {"type": "str", "choices": ["mutable", "immutable", "immutable_with_exclusion"]},
            "tag_mutability_exclusions": {"type": "list", "elements": "str"},
            "encryption": {"type": "str", "default": "AES256", "choices": ["AES256", "KMS"]},
            "kms_key": {"type": "str", "no_log": False},
            "lifecycle_policy": {"type": "dict"},
            "repository_policy": {"type": "dict"},
        },
        supports_check_mode=True,
    )
    params = module.params
    if (params["tag_mutability"] == "immutable_with_exclusion") != bool(params["tag_mutability_exclusions"]):
        module.fail_json(
            msg="tag_mutability_exclusions is required with tag_mutability=immutable_with_exclusion, and only allowed with it"
        )
    if params["kms_key"] and params["encryption"] != "KMS":
        module.fail_json(msg="kms_key is only allowed with encryption=KMS")
    ecr = module.client("ecr", retry_decorator=AWSRetry.jittered_backoff())
    name = params["name"]
    current = read_repository(ecr, module, name)
    if params["state"] == "present":
        result = ensure_present(ecr, module, name, current)
    else:
        result = ensure_absent(ecr, module, name, current)
    if not module._diff:
        result.pop("diff")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
