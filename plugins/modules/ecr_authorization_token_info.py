#!/usr/bin/python
"""An ECR authorization token as registry credentials (ecr:GetAuthorizationToken)."""

DOCUMENTATION = r"""
---
module: ecr_authorization_token_info
short_description: Registry credentials for an ECR registry, from an ECR authorization token
description:
  - Returns the user name and password that C(docker login), C(buildah login) or C(skopeo login)
    take for an ECR registry, as C(aws ecr get-login-password) does. The password is a secret,
    so set C(no_log) on the task.
options:
  registry_id:
    description: The AWS account id of the registry; the caller's by default.
    type: str
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: ECR registry credentials
  ecr_authorization_token_info:
  register: ecr_credentials
  no_log: true
"""

RETURN = r"""
username:
  description: The user name to log in with (V(AWS)).
  returned: success
  type: str
  sample: AWS
password:
  description: The password to log in with; valid until RV(expires_at).
  returned: success
  type: str
  sample: eyJwYXlsb2FkIjoiLi4uIn0=
proxy_endpoint:
  description: The registry's address, C(https://ACCOUNT.dkr.ecr.REGION.amazonaws.com).
  returned: success
  type: str
  sample: https://123456789012.dkr.ecr.ap-south-1.amazonaws.com
expires_at:
  description: When the password expires (ISO 8601).
  returned: success
  type: str
  sample: "2026-12-07T21:00:00+00:00"
"""

import base64
import contextlib

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    from botocore.exceptions import BotoCoreError, ClientError

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule


def main():
    module = AnsibleAWSModule(argument_spec={"registry_id": {"type": "str"}}, supports_check_mode=True)
    kwargs = {"registryIds": [module.params["registry_id"]]} if module.params["registry_id"] else {}
    try:
        data = module.client("ecr").get_authorization_token(**kwargs)["authorizationData"][0]
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(exc, msg="could not get an ECR authorization token")
    username, password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)
    module.exit_json(
        changed=False,
        username=username,
        password=password,
        proxy_endpoint=data["proxyEndpoint"],
        expires_at=data["expiresAt"].isoformat(),
    )


if __name__ == "__main__":
    main()
