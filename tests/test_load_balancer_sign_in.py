"""roles/load_balancer's sign-in rules and WAF rate limit, run by ansible-playbook against moto
(recording every request): what is sent to AWS for the listeners, what moto keeps, a re-run that
changes nothing, a switch that moves the rules with the default action, and sign-in turned off."""

from __future__ import annotations

import json

import pytest

from tests.helpers import ARTIFACTS, ROOT
from tests.runbook_runs import (
    BIN,
    RecordedAccount,
    aws_client_factory,
    is_read,
    moto_server,
    playbook_environment,
    self_signed_certificate,
)
from tools.benchmark import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

DOMAIN = "search.sign-in.test"
NAME = "sign-in-test"
SLOTS = {"blue": "sign-in-test-api", "green": "sign-in-test-api-green"}
TEST_PORT = 8443
OIDC = {
    "issuer": "https://sign-in.example.test",
    "authorization_endpoint": "https://sign-in.example.test/authorize",
    "token_endpoint": "https://sign-in.example.test/token",
    "user_info_endpoint": "https://sign-in.example.test/userinfo",
    "client_id": "search-page",
}
SECRET = "oidc-client-secret-0123456789"
PLAYBOOK = """
- name: Load balancer
  hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: load_balancer
      vars:
        load_balancer_name: {name}
        load_balancer_slots: {slots}
        load_balancer_test_port: {test_port}
        load_balancer_vpc_id: "{{{{ vpc }}}}"
        load_balancer_subnets: "{{{{ subnets }}}}"
        load_balancer_security_group: "{{{{ security_group }}}}"
        load_balancer_target_port: 8000
        load_balancer_health_check_path: /health/ready
        load_balancer_health_check_timeout: 5
        load_balancer_domain: {domain}
        load_balancer_dns_zone: sign-in.test
        load_balancer_drop_invalid_header_fields: null
        load_balancer_switch_to: "{{{{ switch_to | default('') }}}}"
"""


@pytest.fixture(scope="module")
def account(tmp_path_factory):
    base = tmp_path_factory.mktemp("sign-in")
    recording = base / "moto-recording.jsonl"
    logs = ARTIFACTS / "load-balancer-sign-in"
    with moto_server(
        free_port(), base / "moto.log", MOTO_ENABLE_RECORDING="true", MOTO_RECORDER_FILEPATH=str(recording)
    ) as url:
        aws = aws_client_factory(url)
        ec2 = aws("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.8.{i}.0/24", AvailabilityZone=f"ap-south-1{z}")["Subnet"][
                "SubnetId"
            ]
            for i, z in enumerate("ab")
        ]
        group = ec2.create_security_group(GroupName="lb", Description="lb", VpcId=vpc)["GroupId"]
        certificate, key = self_signed_certificate(DOMAIN)
        aws("acm").import_certificate(Certificate=certificate, PrivateKey=key)
        aws("route53").create_hosted_zone(Name="sign-in.test", CallerReference="sign-in")
        playbook = base / "load_balancer.yml"
        playbook.write_text(PLAYBOOK.format(name=NAME, slots=json.dumps(SLOTS), test_port=TEST_PORT, domain=DOMAIN))
        network = base / "network.json"
        network.write_text(
            json.dumps(
                {
                    "vpc": vpc,
                    "subnets": subnets,
                    "security_group": group,
                    "ansible_python_interpreter": str(BIN / "python"),
                }
            )
        )
        environment = {**playbook_environment(url), "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}

        class Account(RecordedAccount):
            def run(self, name, **variables):
                extra = base / f"{name}.json"
                extra.write_text(json.dumps(variables))
                command = [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)]
                command += [f"-e@{network}", f"-e@{extra}"]
                return self.playbook(name, command, timeout=600)

        account = Account(aws, recording, logs, environment)
        yield account


def listeners(aws) -> dict[int, dict]:
    balancer = aws("elbv2").describe_load_balancers(Names=[NAME])["LoadBalancers"][0]
    found = aws("elbv2").describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    return {listener["Port"]: listener for listener in found}


def rules(aws, port: int) -> dict[int, dict]:
    found = aws("elbv2").describe_rules(ListenerArn=listeners(aws)[port]["ListenerArn"])["Rules"]
    return {int(rule["Priority"]): rule for rule in found if not rule["IsDefault"]}


def group_name(aws, arn: str) -> str:
    return aws("elbv2").describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]["TargetGroupName"]


def sent_form(requests, operation: str) -> list[dict]:
    return [request["form"] for request in requests if request["operation"] == operation]


@pytest.fixture(scope="module")
def signed_in(account):
    """The first run with sign-in and the rate limit on, then a re-run."""
    on = {"load_balancer_oidc": OIDC, "load_balancer_oidc_client_secret": SECRET, "load_balancer_waf_rate_limit": 1200}
    first = account.run("sign-in-on", **on)
    first_requests = account.requests()
    again = account.run("sign-in-rerun", **on)
    return first, first_requests, again, account.requests(), on


def test_the_listeners_get_the_sign_in_rules_as_sent(account, signed_in):
    first, sent, _, _, _ = signed_in
    assert first.returncode == 0, first.explain()
    # What AWS receives: per listener, the page's rule (sign in) and the catch-all (let through),
    # each authenticate-oidc with the client secret, then a forward to the listener's slot.
    created = sent_form(sent, "CreateRule")
    assert len(created) == 4
    for form in created:
        assert form["Actions.member.1.Type"] == ["authenticate-oidc"]
        assert form["Actions.member.1.AuthenticateOidcConfig.ClientSecret"] == [SECRET]
        assert form["Actions.member.1.AuthenticateOidcConfig.Issuer"] == [OIDC["issuer"]]
        assert form["Actions.member.1.AuthenticateOidcConfig.ClientId"] == [OIDC["client_id"]]
        assert form["Actions.member.1.AuthenticateOidcConfig.Scope"] == ["openid"]
        assert form["Actions.member.2.Type"] == ["forward"]
    unauthenticated = {
        (form["Priority"][0], form["Actions.member.1.AuthenticateOidcConfig.OnUnauthenticatedRequest"][0])
        for form in created
    }
    assert unauthenticated == {("10", "authenticate"), ("20", "allow")}
    # The default actions stay a single forward (the live slot's record).
    https = [form for form in sent_form(sent, "CreateListener") if form["Protocol"] == ["HTTPS"]]
    assert len(https) == 2
    for form in https:
        assert form["DefaultActions.member.1.Type"] == ["forward"] and "DefaultActions.member.2.Type" not in form
    # The secret never reaches the run's output.
    assert SECRET not in first.output

    aws = account.aws
    for port, slot in ((443, "blue"), (TEST_PORT, "green")):
        found = rules(aws, port)
        assert sorted(found) == [10, 20]
        assert found[10]["Conditions"][0]["PathPatternConfig"]["Values"] == ["/", "/static/*"]
        assert found[20]["Conditions"][0]["PathPatternConfig"]["Values"] == ["/*"]
        for rule in found.values():
            forward = next(action for action in rule["Actions"] if action["Type"] == "forward")
            assert group_name(aws, forward["TargetGroupArn"]) == SLOTS[slot]


def test_the_rate_limit_is_a_web_acl_on_the_load_balancer(account, signed_in):
    wafv2 = account.aws("wafv2")
    acl = next(acl for acl in wafv2.list_web_acls(Scope="REGIONAL")["WebACLs"] if acl["Name"] == NAME)
    rule = wafv2.get_web_acl(Name=NAME, Scope="REGIONAL", Id=acl["Id"])["WebACL"]["Rules"][0]
    assert rule["Statement"]["RateBasedStatement"] == {"Limit": 1200, "AggregateKeyType": "IP"}
    assert rule["Action"] == {"Block": {}}
    balancer = account.aws("elbv2").describe_load_balancers(Names=[NAME])["LoadBalancers"][0]["LoadBalancerArn"]
    assert wafv2.get_web_acl_for_resource(ResourceArn=balancer)["WebACL"]["Name"] == NAME


def test_a_rerun_changes_nothing(signed_in):
    _, _, again, requests, _ = signed_in
    assert again.returncode == 0, again.explain()
    # Not even where moto's describe answers carry it (AWS's never do).
    assert SECRET not in again.output
    assert again.changed_tasks("Load balancer") == []
    writes = {request["operation"] for request in requests if not is_read(request["operation"] or "")}
    assert writes == set(), writes


def test_a_switch_moves_the_rules_with_the_default_action(account, signed_in):
    *_, on = signed_in
    switched = account.run("sign-in-switch", switch_to="green", **on)
    assert switched.returncode == 0, switched.explain()
    aws = account.aws
    for port, slot in ((443, "green"), (TEST_PORT, "blue")):
        default = listeners(aws)[port]["DefaultActions"][0]
        assert group_name(aws, default["TargetGroupArn"]) == SLOTS[slot]
        for rule in rules(aws, port).values():
            forward = next(action for action in rule["Actions"] if action["Type"] == "forward")
            assert group_name(aws, forward["TargetGroupArn"]) == SLOTS[slot]
    # A changed rule carries the secret again (AWS takes a modified authenticate-oidc action with one).
    modified = sent_form(account.requests(), "ModifyRule")
    assert len(modified) == 4
    assert all(form["Actions.member.1.AuthenticateOidcConfig.ClientSecret"] == [SECRET] for form in modified)
    # The slot lookup still reads the live slot from the HTTPS listener: a re-run keeps it.
    kept = account.run("sign-in-after-switch", **on)
    assert kept.returncode == 0, kept.explain()
    assert kept.changed_tasks("Load balancer") == []


def test_sign_in_off_removes_the_rules_and_leaves_the_web_acl(account, signed_in):
    off = account.run("sign-in-off")
    assert off.returncode == 0, off.explain()
    assert rules(account.aws, 443) == {} and rules(account.aws, TEST_PORT) == {}
    assert "removed the rules of priority 10, 20 (sign-in is off)" in off.output
    assert "the web ACL sign-in-test exists: it stays" in off.output
    assert not {r["operation"] for r in account.requests()} & {"DeleteWebACL", "DisassociateWebACL"}
