#!/usr/bin/python
"""Ansible module: a CloudWatch dashboard, which neither amazon.aws nor community.aws manages."""

DOCUMENTATION = r"""
---
module: cloudwatch_dashboard
short_description: Create, update or delete a CloudWatch dashboard
description:
  - Manages one CloudWatch dashboard by name. Its body is the dashboard's JSON document
    (C(widgets), C(start), ...), as in the CloudWatch API's PutDashboard.
  - The dashboard is written only when its body differs from the one CloudWatch holds, compared as
    JSON documents rather than as text, so that a second run with the same body changes nothing.
  - Supports check mode and diff mode (the bodies before and after, as indented JSON).
options:
  name:
    description: Name of the dashboard.
    required: true
    type: str
  body:
    description:
      - The dashboard body, as a dict or a JSON string.
      - Required when O(state=present).
    type: json
  state:
    description: Whether the dashboard should exist.
    choices: [present, absent]
    default: present
    type: str
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Dashboard of the service
  cloudwatch_dashboard:
    name: finbert-rag-production
    body:
      widgets:
        - type: metric
          x: 0
          y: 0
          width: 12
          height: 6
          properties:
            title: Requests
            region: ap-south-1
            metrics:
              - [AWS/ApplicationELB, RequestCount, LoadBalancer, app/finbert-rag-production/0123456789abcdef]
            stat: Sum
            period: 60

- name: Remove it
  cloudwatch_dashboard:
    name: finbert-rag-production
    state: absent
"""

RETURN = r"""
dashboard:
  description: The dashboard after the task (empty when it is absent).
  returned: always
  type: dict
  contains:
    name:
      description: Name of the dashboard.
      returned: when the dashboard exists
      type: str
      sample: finbert-rag-production
    arn:
      description: ARN of the dashboard.
      returned: when the dashboard exists, except in check mode for a new one
      type: str
      sample: arn:aws:cloudwatch::123456789012:dashboard/finbert-rag-production
    body:
      description: The dashboard body.
      returned: when the dashboard exists
      type: dict
      sample: {"widgets": [{"type": "metric", "x": 0, "y": 0, "width": 12, "height": 6, "properties": {}}]}
validation_messages:
  description: Warnings CloudWatch returned about the body it accepted.
  returned: when the dashboard was written
  type: list
  elements: dict
  sample: [{"DataPath": "/widgets/0/properties", "Message": "Should have required property 'region'"}]
"""

import contextlib
import json

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    import botocore

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def read_dashboard(client, module, name):
    """The dashboard as {name, arn, body}, or None when CloudWatch has none by that name."""
    try:
        response = client.get_dashboard(aws_retry=True, DashboardName=name)
    except is_boto3_error_code("ResourceNotFound"):
        return None
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f"Could not read dashboard {name}")
    return {"name": name, "arn": response["DashboardArn"], "body": json.loads(response["DashboardBody"])}


def as_text(body):
    return json.dumps(body, indent=2, sort_keys=True) + "\n" if body is not None else ""


def ensure_present(client, module, name, body, current):
    result = {"changed": current is None or current["body"] != body}
    result["diff"] = {
        "before": as_text(current["body"] if current else None),
        "after": as_text(body),
        "before_header": f"dashboard {name}",
        "after_header": f"dashboard {name}",
    }
    result["dashboard"] = {"name": name, "body": body, **({"arn": current["arn"]} if current else {})}
    if result["changed"] and not module.check_mode:
        try:
            response = client.put_dashboard(aws_retry=True, DashboardName=name, DashboardBody=json.dumps(body))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            module.fail_json_aws(e, msg=f"Could not write dashboard {name}")
        result["validation_messages"] = response.get("DashboardValidationMessages", [])
        result["dashboard"] = read_dashboard(client, module, name)
    return result


def ensure_absent(client, module, name, current):
    result = {"changed": current is not None, "dashboard": {}}
    result["diff"] = {"before": as_text(current["body"] if current else None), "after": ""}
    if result["changed"] and not module.check_mode:
        try:
            client.delete_dashboards(aws_retry=True, DashboardNames=[name])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            module.fail_json_aws(e, msg=f"Could not delete dashboard {name}")
    return result


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "body": {"type": "json"},
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        },
        required_if=[("state", "present", ["body"])],
        supports_check_mode=True,
    )
    client = module.client("cloudwatch", retry_decorator=AWSRetry.jittered_backoff())
    name = module.params["name"]
    current = read_dashboard(client, module, name)
    if module.params["state"] == "present":
        # The json type hands the body over as text, whether it was given as a dict or a string.
        result = ensure_present(client, module, name, json.loads(module.params["body"]), current)
    else:
        result = ensure_absent(client, module, name, current)
    if not module._diff:
        result.pop("diff")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
