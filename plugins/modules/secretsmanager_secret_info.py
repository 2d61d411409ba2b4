#!/usr/bin/python
"""What Secrets Manager holds of some secrets, without their values (secretsmanager:DescribeSecret)."""

DOCUMENTATION = r"""
---
module: secretsmanager_secret_info
short_description: Describe Secrets Manager secrets by name, without reading their values
description:
  - Returns, for each named secret, its ARN, its versions and their staging labels, its rotation
    and the KMS key it is encrypted under. A secret that does not exist is returned with
    RV(secrets[].exists=false); one scheduled for deletion counts as existing.
  - Reads no secret value (C(secretsmanager:DescribeSecret) only). community.aws has no info
    module for secrets, and its C(secretsmanager_secret) module cancels a rotation it is not
    given and overwrites the value a rotation set, so the release reads first what it must
    leave alone.
options:
  names:
    description: The secrets' names (or ARNs).
    type: list
    elements: str
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Read the secrets' rotation and versions
  secretsmanager_secret_info:
    names: [finbert-rag/production/elasticsearch]
  register: described
"""

RETURN = r"""
secrets:
  description: One entry per name, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The name asked for.
      type: str
      returned: always
      sample: finbert-rag/production/elasticsearch
    exists:
      description: Whether Secrets Manager has the secret.
      type: bool
      returned: always
      sample: true
    arn:
      description: The secret's ARN.
      type: str
      returned: when the secret exists
      sample: arn:aws:secretsmanager:ap-south-1:123456789012:secret:finbert-rag/production/elasticsearch-AbCdEf
    rotation_enabled:
      description: Whether automatic rotation is on.
      type: bool
      returned: when the secret exists
      sample: false
    kms_key_id:
      description: The KMS key the secret is encrypted under, as Secrets Manager names it; empty for the AWS managed key.
      type: str
      returned: when the secret exists
      sample: ""
    current_version:
      description: The id of the version labelled AWSCURRENT.
      type: str
      returned: when the secret exists
      sample: 0f7b1d2e-3c4a-4b5c-8d6e-7f8091a2b3c4
    version_ids_to_stages:
      description: Each version's id and its staging labels.
      type: dict
      returned: when the secret exists
      sample: {"0f7b1d2e-3c4a-4b5c-8d6e-7f8091a2b3c4": ["AWSCURRENT"]}
"""

import contextlib

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    from botocore.exceptions import BotoCoreError, ClientError

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def describe(client, name: str) -> dict:
    try:
        found = client.describe_secret(aws_retry=True, SecretId=name)
    except client.exceptions.ResourceNotFoundException:
        return {"name": name, "exists": False}
    stages = found.get("VersionIdsToStages", {})
    return {
        "name": name,
        "exists": True,
        "arn": found["ARN"],
        "rotation_enabled": bool(found.get("RotationEnabled", False)),
        "kms_key_id": found.get("KmsKeyId", ""),
        "current_version": next((version for version, labels in stages.items() if "AWSCURRENT" in labels), ""),
        "version_ids_to_stages": stages,
    }


def main():
    module = AnsibleAWSModule(
        argument_spec={"names": {"type": "list", "elements": "str", "required": True}},
        supports_check_mode=True,
    )
    client = module.client("secretsmanager", retry_decorator=AWSRetry.jittered_backoff())
    try:
        secrets = [describe(client, name) for name in module.params["names"]]
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(exc, msg="could not describe the secrets")
    module.exit_json(changed=False, secrets=secrets)


if __name__ == "__main__":
    main()
