#!/usr/bin/python
"""Record an image manifest in an ECR repository under tags, idempotently (ecr:PutImage): a given
manifest, or the one another tag names (ECR's way to retag an image without pulling it)."""

DOCUMENTATION = r"""
---
module: ecr_image_manifest
short_description: Record an image manifest in an ECR repository under one or more tags
description:
  - Calls ECR's PutImage for each tag that does not yet name this manifest, so that
    C(describe-images) lists the image under every tag.
  - A tag that already names the same manifest is left alone (not changed), which makes a
    re-run succeed on repositories with IMMUTABLE tags.
  - A tag that names another manifest is moved where the repository lets it (MUTABLE, or a tag
    excluded from IMMUTABLE); otherwise the module fails, naming the tag, after recording the
    tags before it.
  - With O(manifest), used where the registry's data plane is not ECR's own, as in a rehearsal
    against an emulated ECR, whose layers live in another registry while ECR only records the
    manifest.
  - With O(source_tag), the manifest is the one that tag names in the repository, so the tags move
    to that image without pulling or pushing anything (how a rollback points C(prod) back).
options:
  repository:
    description: The ECR repository name.
    required: true
    type: str
  registry_id:
    description: The AWS account id of the registry; the caller's by default.
    type: str
  manifest:
    description:
      - The image manifest, exactly as the registry serves it (a JSON string).
      - Exactly one of O(manifest) and O(source_tag) is given.
    type: str
  source_tag:
    description:
      - A tag of the repository whose manifest the O(tags) must name.
      - Exactly one of O(manifest) and O(source_tag) is given.
    type: str
  tags:
    description: The tags that must name the manifest.
    required: true
    type: list
    elements: str
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Record the release's manifest under its tags
  ecr_image_manifest:
    repository: finbert-rag/api
    manifest: "{{ manifest_json }}"
    tags: [v2.0.0, prod, latest]

- name: Point prod and latest back at v1.9.0
  ecr_image_manifest:
    repository: finbert-rag/api
    source_tag: v1.9.0
    tags: [prod, latest]
"""

RETURN = r"""
tags:
  description: The tags the manifest was recorded under by this run (empty when none changed).
  returned: always
  type: list
  elements: str
  sample: [v1.4.0, prod]
image_digest:
  description: The image digest ECR reports for the manifest (an emulator may differ from sha256).
  returned: unless in check mode and nothing was recorded before
  type: str
  sample: sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270
"""

import contextlib
import json

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    from botocore.exceptions import BotoCoreError, ClientError

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule


def manifest_under_tag(ecr, params, tag):
    """The manifest that `tag` names now, or None when the tag does not exist."""
    kwargs = {"repositoryName": params["repository"], "imageIds": [{"imageTag": tag}]}
    if params["registry_id"]:
        kwargs["registryId"] = params["registry_id"]
    images = ecr.batch_get_image(**kwargs).get("images", [])
    return images[0] if images else None


def same_manifest(recorded, wanted):
    try:
        return json.loads(recorded) == json.loads(wanted)
    except ValueError:
        return recorded == wanted


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "repository": {"type": "str", "required": True},
            "registry_id": {"type": "str"},
            "manifest": {"type": "str"},
            "source_tag": {"type": "str"},
            "tags": {"type": "list", "elements": "str", "required": True},
        },
        mutually_exclusive=[("manifest", "source_tag")],
        required_one_of=[("manifest", "source_tag")],
        supports_check_mode=True,
    )
    params = module.params
    ecr = module.client("ecr")
    recorded, digest = [], None
    try:
        if params["source_tag"]:
            source = manifest_under_tag(ecr, params, params["source_tag"])
            if source is None:
                module.fail_json(msg=f"{params['repository']} has no image tagged {params['source_tag']!r}")
            params["manifest"] = source["imageManifest"]
        media_type = json.loads(params["manifest"]).get("mediaType")
        for tag in params["tags"]:
            current = manifest_under_tag(ecr, params, tag)
            if current and same_manifest(current["imageManifest"], params["manifest"]):
                digest = current["imageId"].get("imageDigest")
                continue
            recorded.append(tag)
            if module.check_mode:
                continue
            kwargs = {"repositoryName": params["repository"], "imageManifest": params["manifest"], "imageTag": tag}
            if media_type:
                kwargs["imageManifestMediaType"] = media_type
            if params["registry_id"]:
                kwargs["registryId"] = params["registry_id"]
            try:
                digest = ecr.put_image(**kwargs)["image"]["imageId"]["imageDigest"]
            # ECR says ImageTagAlreadyExists for an immutable tag; emulators may say ImageAlreadyExists.
            except is_boto3_error_code(["ImageTagAlreadyExistsException", "ImageAlreadyExistsException"]):
                module.fail_json(
                    msg=f"tag {tag!r} of {params['repository']} is immutable and names another image: a version "
                    "is pushed once, and a tag that follows releases (prod, latest) can only move where the "
                    "repository's tag mutability excludes it (IMMUTABLE_WITH_EXCLUSION)",
                    tags=recorded[:-1],
                )
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(exc, msg=f"could not record the manifest in ECR repository {params['repository']}")
    module.exit_json(changed=bool(recorded), tags=recorded, image_digest=digest)


if __name__ == "__main__":
    main()
