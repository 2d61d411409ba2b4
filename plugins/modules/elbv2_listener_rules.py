#!/usr/bin/python
"""A load balancer listener's rules, compared as AWS reports them (elbv2:DescribeRules,
CreateRule, ModifyRule, DeleteRule)."""

DOCUMENTATION = r"""
---
module: elbv2_listener_rules
short_description: Make an application load balancer listener's rules exactly these
description:
  - Creates, modifies and deletes the non-default rules of one listener so that they are exactly
    O(rules), by priority. The listener's default action is not touched.
  - An C(authenticate-oidc) action is compared without its client secret, which AWS never
    returns, and with the defaults AWS reports (C(Scope) openid, C(SessionTimeout) 604800,
    C(SessionCookieName) AWSELBAuthSessionCookie, C(OnUnauthenticatedRequest) authenticate).
    O(client_secret) is sent with each such action the module creates or modifies, and with every
    one of them when O(update_client_secret) is true (a rotated secret). amazon.aws's
    elb_application_lb compares the secret it is given with what the describe call returns, so it
    never finds such a rule unchanged where the answer carries the secret (moto), and it cannot
    compare a listener whose default actions include one (amazon.aws 10.1.2).
  - A C(forward) action is compared by its target group, given as C(TargetGroupArn) or a
    C(ForwardConfig) of one group.
options:
  listener_arn:
    description: The listener's ARN.
    type: str
    required: true
  rules:
    description:
      - The rules, as the elbv2 API takes them - C(Priority) (an integer), C(Conditions) and
        C(Actions) (each action with its C(Order) when there are several). An empty list removes
        every rule but the default.
    type: list
    elements: dict
    required: true
  client_secret:
    description: The OIDC client secret sent with the C(authenticate-oidc) actions created or modified.
    type: str
  update_client_secret:
    description: Send O(client_secret) to every C(authenticate-oidc) rule even when nothing else changed.
    type: bool
    default: false
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Sign-in in front of the page, then the service
  elbv2_listener_rules:
    listener_arn: "{{ listener_arn }}"
    client_secret: "{{ oidc_client_secret }}"
    rules:
      - Priority: 10
        Conditions: [{Field: path-pattern, PathPatternConfig: {Values: [/, /static/*]}}]
        Actions:
          - Type: authenticate-oidc
            Order: 1
            AuthenticateOidcConfig: {Issuer: "https://sign-in.example.com", ClientId: search, ...}
          - {Type: forward, Order: 2, TargetGroupArn: "{{ target_group_arn }}"}
  no_log: false  # the client secret is masked by the module's argument spec
"""

RETURN = r"""
rules:
  description: The listener's non-default rules after the run, as compared (no client secret).
  returned: always
  type: list
  elements: dict
  sample: [{"Priority": 10, "Conditions": [], "Actions": []}]
created:
  description: Priorities of the rules created.
  returned: always
  type: list
  elements: int
  sample: [20]
modified:
  description: Priorities of the rules modified.
  returned: always
  type: list
  elements: int
  sample: [10]
deleted:
  description: Priorities of the rules deleted (not in O(rules)).
  returned: always
  type: list
  elements: int
  sample: []
"""

import contextlib
import copy

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    from botocore.exceptions import BotoCoreError, ClientError

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

# What AWS reports for an authenticate-oidc action's settings left out of the request.
OIDC_DEFAULTS = {
    "Scope": "openid",
    "SessionTimeout": 604800,
    "SessionCookieName": "AWSELBAuthSessionCookie",
    "OnUnauthenticatedRequest": "authenticate",
}
# Never returned by AWS (moto returns what it was sent): not part of the comparison.
OIDC_WRITE_ONLY = ("ClientSecret", "UseExistingClientSecret")


def comparable_action(action: dict) -> dict:
    action = copy.deepcopy(action)
    if action["Type"] == "forward" and "ForwardConfig" in action:
        groups = action["ForwardConfig"].get("TargetGroups", [])
        stickiness = action["ForwardConfig"].get("TargetGroupStickinessConfig", {}).get("Enabled", False)
        if len(groups) == 1 and not stickiness:
            action.pop("ForwardConfig")
            action["TargetGroupArn"] = groups[0]["TargetGroupArn"]
    if action["Type"] == "authenticate-oidc":
        config = {**OIDC_DEFAULTS, **action["AuthenticateOidcConfig"]}
        for key in OIDC_WRITE_ONLY:
            config.pop(key, None)
        if not config.get("AuthenticationRequestExtraParams"):
            config.pop("AuthenticationRequestExtraParams", None)
        config["SessionTimeout"] = int(config["SessionTimeout"])
        action["AuthenticateOidcConfig"] = config
    action["Order"] = int(action.get("Order", 1))
    return action


def comparable_condition(condition: dict) -> dict:
    field = condition["Field"]
    config_key = {"path-pattern": "PathPatternConfig", "host-header": "HostHeaderConfig"}.get(field)
    if config_key:
        values = condition.get(config_key, {}).get("Values") or condition.get("Values", [])
        return {"Field": field, config_key: {"Values": sorted(values)}}
    return condition


def comparable_rule(rule: dict) -> dict:
    return {
        "Priority": int(rule["Priority"]),
        "Conditions": sorted((comparable_condition(c) for c in rule["Conditions"]), key=repr),
        "Actions": sorted((comparable_action(a) for a in rule["Actions"]), key=lambda a: a["Order"]),
    }


def with_secret(actions: list[dict], secret: str | None) -> list[dict]:
    """The actions to send: each authenticate-oidc one with the client secret, or told to keep AWS's."""
    sent = []
    for action in actions:
        action = copy.deepcopy(action)
        if action["Type"] == "authenticate-oidc":
            config = action["AuthenticateOidcConfig"]
            for key in OIDC_WRITE_ONLY:
                config.pop(key, None)
            if secret:
                config["ClientSecret"] = secret
            else:
                config["UseExistingClientSecret"] = True
        sent.append(action)
    return sent


def has_oidc(rule: dict) -> bool:
    return any(action["Type"] == "authenticate-oidc" for action in rule["Actions"])


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "listener_arn": {"type": "str", "required": True},
            "rules": {"type": "list", "elements": "dict", "required": True},
            "client_secret": {"type": "str", "no_log": True},
            "update_client_secret": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    client = module.client("elbv2", retry_decorator=AWSRetry.jittered_backoff())
    listener, secret = module.params["listener_arn"], module.params["client_secret"]
    wanted = {int(rule["Priority"]): rule for rule in module.params["rules"]}
    try:
        found = client.describe_rules(aws_retry=True, ListenerArn=listener)["Rules"]
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(exc, msg=f"could not describe the rules of {listener}")
    current = {int(rule["Priority"]): rule for rule in found if not rule.get("IsDefault")}
    before = [comparable_rule(current[priority]) for priority in sorted(current)]
    after = [comparable_rule(wanted[priority]) for priority in sorted(wanted)]

    created = [priority for priority in sorted(wanted) if priority not in current]
    deleted = [priority for priority in sorted(current) if priority not in wanted]
    modified = [
        priority
        for priority in sorted(wanted)
        if priority in current
        and (
            comparable_rule(current[priority]) != comparable_rule(wanted[priority])
            or (module.params["update_client_secret"] and has_oidc(wanted[priority]))
        )
    ]
    for priority in created:
        if has_oidc(wanted[priority]) and not secret:
            module.fail_json(msg=f"the rule of priority {priority} authenticates: give client_secret to create it")

    changed = bool(created or modified or deleted)
    if changed and not module.check_mode:
        try:
            for priority in deleted:
                client.delete_rule(aws_retry=True, RuleArn=current[priority]["RuleArn"])
            for priority in modified:
                client.modify_rule(
                    aws_retry=True,
                    RuleArn=current[priority]["RuleArn"],
                    Conditions=wanted[priority]["Conditions"],
                    Actions=with_secret(wanted[priority]["Actions"], secret),
                )
            for priority in created:
                client.create_rule(
                    aws_retry=True,
                    ListenerArn=listener,
                    Priority=priority,
                    Conditions=wanted[priority]["Conditions"],
                    Actions=with_secret(wanted[priority]["Actions"], secret),
                )
        except (BotoCoreError, ClientError) as exc:
            module.fail_json_aws(exc, msg=f"could not change the rules of {listener}")
    result = {
        "changed": changed,
        "rules": after if changed else before,
        "created": created,
        "modified": modified,
        "deleted": deleted,
    }
    if module._diff:
        result["diff"] = {"before": {"rules": before}, "after": {"rules": after}}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
