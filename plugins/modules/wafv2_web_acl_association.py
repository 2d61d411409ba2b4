#!/usr/bin/python
"""Associate a regional WAF web ACL with a resource (wafv2:GetWebACLForResource, AssociateWebACL)."""

DOCUMENTATION = r"""
---
module: wafv2_web_acl_association
short_description: Associate a regional WAF web ACL with a resource, such as a load balancer
description:
  - Makes the named regional web ACL the one of the resource. Reads the resource's web ACL
    (C(wafv2:GetWebACLForResource)) and associates only when it is another or none.
  - community.aws's wafv2_resources lists the web ACL's resources first
    (C(wafv2:ListResourcesForWebACL)), which moto does not answer, so the release could not be
    rehearsed with it; this module asks about the one resource instead.
  - Never disassociates.
options:
  name:
    description: The web ACL's name (scope REGIONAL).
    type: str
    required: true
  resource_arn:
    description: The resource's ARN, e.g. an application load balancer's.
    type: str
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Put the rate limit in front of the load balancer
  wafv2_web_acl_association:
    name: finbert-rag-production
    resource_arn: "{{ load_balancer_arn }}"
"""

RETURN = r"""
web_acl_arn:
  description: The web ACL's ARN.
  returned: always
  type: str
  sample: arn:aws:wafv2:ap-south-1:123456789012:regional/webacl/finbert-rag-production/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111
previous_web_acl_arn:
  description: The resource's web ACL before the run; empty when it had none.
  returned: always
  type: str
  sample: ""
"""

import contextlib

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    from botocore.exceptions import BotoCoreError, ClientError

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def main():
    module = AnsibleAWSModule(
        argument_spec={"name": {"type": "str", "required": True}, "resource_arn": {"type": "str", "required": True}},
        supports_check_mode=True,
    )
    client = module.client("wafv2", retry_decorator=AWSRetry.jittered_backoff())
    name, resource = module.params["name"], module.params["resource_arn"]
    try:
        acls = [acl for page in paginate_web_acls(client) for acl in page if acl["Name"] == name]
        if not acls:
            module.fail_json(msg=f"no regional web ACL named {name}")
        acl_arn = acls[0]["ARN"]
        previous = (
            client.get_web_acl_for_resource(aws_retry=True, ResourceArn=resource).get("WebACL", {}).get("ARN", "")
        )
        changed = previous != acl_arn
        if changed and not module.check_mode:
            client.associate_web_acl(aws_retry=True, WebACLArn=acl_arn, ResourceArn=resource)
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(exc, msg=f"could not associate the web ACL {name} with {resource}")
    result = {"changed": changed, "web_acl_arn": acl_arn, "previous_web_acl_arn": previous}
    if module._diff:
        result["diff"] = {"before": {"web_acl_arn": previous}, "after": {"web_acl_arn": acl_arn}}
    module.exit_json(**result)


def paginate_web_acls(client):
    """Pages of the region's web ACLs (ListWebACLs has no paginator in botocore)."""
    marker = None
    while True:
        answer = client.list_web_acls(aws_retry=True, Scope="REGIONAL", **({"NextMarker": marker} if marker else {}))
        yield answer.get("WebACLs", [])
        marker = answer.get("NextMarker")
        if not marker or not answer.get("WebACLs"):
            return


if __name__ == "__main__":
    main()
