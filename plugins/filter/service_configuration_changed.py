"""Ansible filter: whether a live ECS service's network or circuit breaker differs from the release's."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: service_configuration_changed
short_description: Whether a live ECS service's network or circuit breaker differs from the release's
description:
  - community.aws.ecs_service compares an existing service's revision, count and load balancers
    only; a changed network or circuit breaker alone would never reach ECS. This filter tells
    whether one differs, so that the release forces a new deployment that carries it.
  - The network (C(awsvpcConfiguration)) compares its subnets and security groups in any order;
    a missing C(assignPublicIp) is ECS's default, C(DISABLED).
  - Of the circuit breaker only C(enable) and C(rollback), the two settings the release sets, are
    compared (missing, false), so that a field a later ECS API reports beside them does not force
    a new deployment on every run. A service whose answer has no C(deploymentConfiguration) at all is
    not compared on it.
  - No service (an empty dict, before its first release) has nothing to change - false.
options:
  _input:
    description: The live service, as DescribeServices answers it (C(community.aws.ecs_service_info) with details).
    type: dict
    required: true
  network:
    description: The release's network, C(subnets), C(securityGroups) and C(assignPublicIp) (ENABLED or DISABLED).
    type: dict
    required: true
  circuit_breaker:
    description: The release's deployment circuit breaker, C(enable) and C(rollback).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Compare the service's configuration with the release's
  ansible.builtin.set_fact:
    changed: >-
      {{ service | service_configuration_changed(
           {'subnets': ['subnet-a', 'subnet-b'], 'securityGroups': ['sg-1'], 'assignPublicIp': 'DISABLED'},
           {'enable': true, 'rollback': true}) }}
"""

RETURN = r"""
_value:
  description: True when the network or the circuit breaker differs; false for no service.
  type: bool
"""


def _settings(value, keys: tuple[str, ...], what: str) -> dict:
    if not isinstance(value, dict) or not all(key in value for key in keys):
        raise AnsibleFilterError(f"service_configuration_changed: {what} needs {', '.join(keys)}, got {value!r}")
    return value


def service_configuration_changed(service, network, circuit_breaker):
    """Whether SERVICE's network or circuit breaker (enable, rollback) differs from the release's."""
    if not isinstance(service, dict):
        raise AnsibleFilterError(f"service_configuration_changed: expects a service (a dict), got {service!r}")
    _settings(network, ("subnets", "securityGroups", "assignPublicIp"), "the release's network")
    _settings(circuit_breaker, ("enable", "rollback"), "the release's circuit breaker")
    if not service:
        return False
    live_network = service.get("networkConfiguration", {}).get("awsvpcConfiguration", {})
    if (
        sorted(live_network.get("subnets", [])) != sorted(network["subnets"])
        or sorted(live_network.get("securityGroups", [])) != sorted(network["securityGroups"])
        or live_network.get("assignPublicIp", "DISABLED") != network["assignPublicIp"]
    ):
        return True
    if "deploymentConfiguration" not in service:
        return False
    live_breaker = service["deploymentConfiguration"].get("deploymentCircuitBreaker", {})
    return (live_breaker.get("enable", False), live_breaker.get("rollback", False)) != (
        circuit_breaker["enable"],
        circuit_breaker["rollback"],
    )


class FilterModule:
    def filters(self):
        return {"service_configuration_changed": service_configuration_changed}
