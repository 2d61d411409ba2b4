"""Ansible filter: an ECS task definition's ARN (or its family:revision) as family:revision."""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: task_definition_revision
short_description: An ECS task definition revision as family:revision
description:
  - ECS names a task definition revision either by its ARN
    (C(arn:aws:ecs:REGION:ACCOUNT:task-definition/FAMILY:REVISION)) or as C(FAMILY:REVISION); the
    DescribeServices answer gives the ARN, an emulated ECS sometimes the short form. This filter
    returns the short form for either, so that revisions compare equal however they were named.
  - Anything else (an empty string, another resource's ARN, a family without a revision) is an
    error rather than passed through, so that a comparison never silently fails on a malformed name.
options:
  _input:
    description: A task definition ARN, or a family:revision.
    type: string
    required: true
"""

EXAMPLES = r"""
- name: The revision the service runs
  ansible.builtin.debug:
    msg: "{{ service.taskDefinition | task_definition_revision }}"
    # arn:aws:ecs:ap-south-1:123456789012:task-definition/finbert-rag-production-api:41
    # gives finbert-rag-production-api:41, and so does finbert-rag-production-api:41
"""

RETURN = r"""
_value:
  description: The revision as C(FAMILY:REVISION).
  type: string
"""

# A family is up to 255 letters, digits, underscores and hyphens; revisions count from 1.
_REVISION = r"(?P<revision>[A-Za-z0-9_-]{1,255}:[1-9][0-9]*)"
_NAMES = re.compile(rf"(?:arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{{12}}:task-definition/)?{_REVISION}")


def task_definition_revision(name):
    """family:revision of a task definition ARN or family:revision; AnsibleFilterError otherwise."""
    match = _NAMES.fullmatch(name) if isinstance(name, str) else None
    if match is None:
        raise AnsibleFilterError(
            f"task_definition_revision: {name!r} is neither a task definition ARN nor a family:revision"
        )
    return match.group("revision")


class FilterModule:
    def filters(self):
        return {"task_definition_revision": task_definition_revision}
