"""The repository's elbv2_listener_rules module (plugins/modules), run as Ansible runs a module
against moto's ELBv2: the sign-in rules the release puts on a listener, what is sent (the client
secret with each authenticate-oidc action it writes, never compared), a re-run that changes
nothing whether the describe answer carries the secret (moto) or not (AWS), a switch of the
forwarded target group, check mode and removal."""

from __future__ import annotations

import copy

import pytest

from tests.helpers import ROOT
from tests.runbook_runs import ansible_module_runner, aws_client

pytestmark = pytest.mark.slow

MODULE = ROOT / "plugins" / "modules" / "elbv2_listener_rules.py"
OIDC = {
    "Issuer": "https://sign-in.example.test",
    "AuthorizationEndpoint": "https://sign-in.example.test/authorize",
    "TokenEndpoint": "https://sign-in.example.test/token",
    "UserInfoEndpoint": "https://sign-in.example.test/userinfo",
    "ClientId": "search-page",
}
SECRET = "client-secret-0123456789"


def sign_in_rules(group: str) -> list[dict]:
    """As roles/load_balancer writes them: the page's paths sign in, everything else may."""

    def actions(unauthenticated: str) -> list[dict]:
        return [
            {
                "Type": "authenticate-oidc",
                "Order": 1,
                "AuthenticateOidcConfig": {**OIDC, "OnUnauthenticatedRequest": unauthenticated},
            },
            {"Type": "forward", "Order": 2, "TargetGroupArn": group},
        ]

    return [
        {
            "Priority": 10,
            "Conditions": [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/", "/static/*"]}}],
            "Actions": actions("authenticate"),
        },
        {
            "Priority": 20,
            "Conditions": [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}],
            "Actions": actions("allow"),
        },
    ]


@pytest.fixture
def listener(moto_url):
    elbv2, ec2 = aws_client("elbv2", moto_url), aws_client("ec2", moto_url)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for i, zone in enumerate(("ap-south-1a", "ap-south-1b"))
    ]
    balancer = elbv2.create_load_balancer(Name="rules", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    blue, green = (
        elbv2.create_target_group(Name=name, Protocol="HTTP", Port=8000, VpcId=vpc, TargetType="ip")["TargetGroups"][0][
            "TargetGroupArn"
        ]
        for name in ("blue", "green")
    )
    arn = elbv2.create_listener(
        LoadBalancerArn=balancer, Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": blue}]
    )["Listeners"][0]["ListenerArn"]
    return type("Listener", (), {"arn": arn, "blue": blue, "green": green, "elbv2": elbv2})


@pytest.fixture
def run(moto_url, tmp_path):
    return ansible_module_runner(MODULE, moto_url, tmp_path)


def stored(listener) -> dict[int, dict]:
    rules = listener.elbv2.describe_rules(ListenerArn=listener.arn)["Rules"]
    return {int(rule["Priority"]): rule for rule in rules if not rule["IsDefault"]}


def test_creates_the_sign_in_rules_with_the_secret_then_changes_nothing(listener, run):
    first = run(listener_arn=listener.arn, rules=sign_in_rules(listener.blue), client_secret=SECRET)
    assert first["changed"] and first["created"] == [10, 20]
    rules = stored(listener)
    assert sorted(rules) == [10, 20]
    page = rules[10]
    assert page["Conditions"][0]["PathPatternConfig"]["Values"] == ["/", "/static/*"]
    oidc, forward = sorted(page["Actions"], key=lambda action: action["Order"])
    # moto keeps what it was sent, the secret included (AWS keeps it and never returns it).
    assert oidc["AuthenticateOidcConfig"]["ClientSecret"] == SECRET
    assert oidc["AuthenticateOidcConfig"]["OnUnauthenticatedRequest"] == "authenticate"
    assert rules[20]["Actions"][0]["AuthenticateOidcConfig"]["OnUnauthenticatedRequest"] == "allow"
    assert forward == {"Type": "forward", "Order": 2, "TargetGroupArn": listener.blue}
    # The secret never appears in the result.
    assert SECRET not in repr(first)

    again = run(listener_arn=listener.arn, rules=sign_in_rules(listener.blue), client_secret=SECRET)
    assert not again["changed"] and (again["created"], again["modified"], again["deleted"]) == ([], [], [])


def test_a_switch_moves_both_rules_and_keeps_the_secret(listener, run):
    run(listener_arn=listener.arn, rules=sign_in_rules(listener.blue), client_secret=SECRET)
    switched = run(listener_arn=listener.arn, rules=sign_in_rules(listener.green), client_secret=SECRET, diff=True)
    assert switched["changed"] and switched["modified"] == [10, 20]
    assert listener.blue in repr(switched["diff"]["before"]) and listener.green in repr(switched["diff"]["after"])
    for rule in stored(listener).values():
        oidc, forward = sorted(rule["Actions"], key=lambda action: action["Order"])
        assert forward["TargetGroupArn"] == listener.green
        assert oidc["AuthenticateOidcConfig"]["ClientSecret"] == SECRET


def test_check_mode_changes_nothing(listener, run):
    result = run(listener_arn=listener.arn, rules=sign_in_rules(listener.blue), client_secret=SECRET, check_mode=True)
    assert result["changed"] and result["created"] == [10, 20]
    assert stored(listener) == {}


def test_no_rules_removes_them_and_a_rule_needs_the_secret(listener, run):
    refused = run(listener_arn=listener.arn, rules=sign_in_rules(listener.blue))
    assert refused["failed"] and "client_secret" in refused["msg"]
    run(listener_arn=listener.arn, rules=sign_in_rules(listener.blue), client_secret=SECRET)
    removed = run(listener_arn=listener.arn, rules=[])
    assert removed["changed"] and removed["deleted"] == [10, 20]
    assert stored(listener) == {}
    assert not run(listener_arn=listener.arn, rules=[])["changed"]


def test_a_rotated_secret_is_sent_when_asked(listener, run):
    run(listener_arn=listener.arn, rules=sign_in_rules(listener.blue), client_secret=SECRET)
    rotated = run(
        listener_arn=listener.arn, rules=sign_in_rules(listener.blue), client_secret="rotated-secret-98765",
        update_client_secret=True,
    )  # fmt: skip
    assert rotated["changed"] and rotated["modified"] == [10, 20]
    for rule in stored(listener).values():
        assert rule["Actions"][0]["AuthenticateOidcConfig"]["ClientSecret"] == "rotated-secret-98765"


def test_rules_as_aws_answers_them_compare_equal(listener, run):
    """AWS returns neither the secret nor UseExistingClientSecret, reports the defaults it filled
    in, and gives a forward action a ForwardConfig of its one group: rules stored that way (as
    moto keeps what it is sent) are the release's, unchanged."""
    for rule in sign_in_rules(listener.blue):
        oidc, forward = copy.deepcopy(rule["Actions"])
        oidc["AuthenticateOidcConfig"].update(
            Scope="openid", SessionTimeout=604800, SessionCookieName="AWSELBAuthSessionCookie"
        )
        forward["ForwardConfig"] = {"TargetGroups": [{"TargetGroupArn": listener.blue, "Weight": 1}]}
        values = list(reversed(rule["Conditions"][0]["PathPatternConfig"]["Values"]))
        conditions = [{"Field": "path-pattern", "PathPatternConfig": {"Values": values}}]
        listener.elbv2.create_rule(
            ListenerArn=listener.arn, Priority=rule["Priority"], Conditions=conditions, Actions=[oidc, forward]
        )
    assert "ClientSecret" not in repr(stored(listener))
    assert not run(listener_arn=listener.arn, rules=sign_in_rules(listener.blue), client_secret=SECRET)["changed"]
    changed = sign_in_rules(listener.blue)
    changed[1]["Actions"][0]["AuthenticateOidcConfig"]["ClientId"] = "another"
    assert run(listener_arn=listener.arn, rules=changed, client_secret=SECRET)["modified"] == [20]
