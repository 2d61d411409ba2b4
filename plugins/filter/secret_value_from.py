"""Ansible filter: an ECS container secret's valueFrom, in its parts."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: secret_value_from
short_description: The parts of an ECS container secret's valueFrom
description:
  - ECS reads a container's secret from Secrets Manager by its C(valueFrom),
    C(SECRET_ARN:JSON_KEY:VERSION_STAGE:VERSION_ID), where the last three may be empty (the
    whole secret, at AWSCURRENT). This filter splits it as ECS reads it, for a lookup of the
    same value (C(amazon.aws.secretsmanager_secret) with C(version_id) and C(version_stage)).
  - Anything but a Secrets Manager secret's ARN is an error.
options:
  _input:
    description: A container secret's valueFrom.
    type: string
    required: true
"""

EXAMPLES = r"""
- name: The API tokens a revision reads
  ansible.builtin.set_fact:
    tokens: >-
      {{ (lookup('amazon.aws.secretsmanager_secret', source.secret, version_id=source.version_id,
                 version_stage=source.version_stage) | from_json)[source.json_key] }}
  vars:
    source: "{{ secret.value_from | secret_value_from }}"
"""

RETURN = r"""
_value:
  description: The secret's ARN (C(secret)), and C(json_key), C(version_stage), C(version_id), each '' when not given.
  type: dict
"""


def secret_value_from(value_from):
    """{secret, json_key, version_stage, version_id} of a valueFrom; AnsibleFilterError otherwise."""
    parts = value_from.split(":") if isinstance(value_from, str) else []
    # arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME, then up to three parts.
    if len(parts) < 7 or parts[2] != "secretsmanager" or parts[5] != "secret" or len(parts) > 10:
        raise AnsibleFilterError(f"secret_value_from: {value_from!r} is not a Secrets Manager secret's valueFrom")
    json_key, version_stage, version_id = (parts[7:] + ["", "", ""])[:3]
    return {
        "secret": ":".join(parts[:7]),
        "json_key": json_key,
        "version_stage": version_stage,
        "version_id": version_id,
    }


class FilterModule:
    def filters(self):
        return {"secret_value_from": secret_value_from}
