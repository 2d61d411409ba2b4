"""roles/load_balancer's cut-over entry points, run by ansible-playbook against moto (recording
every request) as the switch and the retire phase's rescue include them: the earlier system's
name moved to the load balancer's alias in one change; put back by cut_over_undo with the record
the cut-over replaced, as a failed bake time does; and nothing put back when this run replaced
nothing. (The cut-over inside a whole release: tests/test_production_plan.py.)"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree

import pytest

from tests.helpers import ARTIFACTS, ROOT
from tests.runbook_runs import (
    BIN,
    RecordedAccount,
    aws_client_factory,
    is_read,
    moto_server,
    playbook_environment,
)
from tools.benchmark import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ZONE = "cut-over.test"
EARLIER_NAME = f"search.{ZONE}"
EARLIER_TARGET = "search-api.earlier-hosting.test"
OTHER_NAME = f"api.{ZONE}"
BALANCER = "cut-over-test-1234567890.ap-south-1.elb.amazonaws.com"
BALANCER_ZONE = "ZP97RAFLXTNZK"
ROUTE53 = "{https://route53.amazonaws.com/doc/2013-04-01/}"
# The switch's include, then (with undo) the retire phase rescue's, as the playbooks write them.
PLAYBOOK = """
- name: Cut-over
  hosts: localhost
  gather_facts: false
  vars:
    service_cut_over: {cut_over}
  tasks:
    - name: Move the earlier system's name to the release
      ansible.builtin.include_role:
        name: load_balancer
        tasks_from: cut_over
      vars:
        load_balancer_cut_over: "{{{{ service_cut_over }}}}"
        load_balancer_dns_zone: {zone}
        load_balancer_dns_name: {balancer}
        load_balancer_zone_id: {balancer_zone}

    - name: Put back the earlier system's name this run moved
      ansible.builtin.include_role:
        name: load_balancer
        tasks_from: cut_over_undo
      vars:
        load_balancer_cut_over: "{{{{ service_cut_over }}}}"
        load_balancer_dns_zone: {zone}
        load_balancer_dns_name: {balancer}
      when: undo | default(false) and load_balancer_cut_over_replaced | default({{}}) | length > 0
"""


@pytest.fixture(scope="module")
def account(tmp_path_factory):
    base = tmp_path_factory.mktemp("cut-over")
    recording = base / "moto-recording.jsonl"
    logs = ARTIFACTS / "load-balancer-cut-over"
    with moto_server(
        free_port(), base / "moto.log", MOTO_ENABLE_RECORDING="true", MOTO_RECORDER_FILEPATH=str(recording)
    ) as url:
        aws = aws_client_factory(url)
        zone_id = aws("route53").create_hosted_zone(Name=ZONE, CallerReference="cut-over")["HostedZone"]["Id"]
        playbook = base / "cut_over.yml"
        cut_over = {"name": EARLIER_NAME, "expected": {"cname": EARLIER_TARGET}}
        playbook.write_text(
            PLAYBOOK.format(cut_over=json.dumps(cut_over), zone=ZONE, balancer=BALANCER, balancer_zone=BALANCER_ZONE)
        )
        environment = {**playbook_environment(url), "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}

        class Account(RecordedAccount):
            def run(self, name, **variables):
                extra = base / f"{name}.json"
                extra.write_text(json.dumps({"ansible_python_interpreter": str(BIN / "python"), **variables}))
                command = [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)]
                command += [f"-e@{extra}"]
                return self.playbook(name, command, timeout=300)

            def records(self, name: str = EARLIER_NAME) -> list[dict]:
                found = aws("route53").list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
                return [record for record in found if record["Name"] == f"{name}."]

        account = Account(aws, recording, logs, environment)
        # moto refuses to create again a record set it once created while any record follows its
        # name (AWS does not): the second test moves a name of its own.
        for name in (EARLIER_NAME, OTHER_NAME):
            earlier = {"Name": name, "Type": "CNAME", "TTL": 60, "ResourceRecords": [{"Value": EARLIER_TARGET}]}
            aws("route53").change_resource_record_sets(
                HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": earlier}]}
            )
        yield account


def changes(requests) -> list[list[tuple[str, str]]]:
    """Each Route 53 change request, as its (action, type) pairs, read from the XML sent."""
    return [
        [
            (change.findtext(f"{ROUTE53}Action"), change.findtext(f"{ROUTE53}ResourceRecordSet/{ROUTE53}Type"))
            for change in ElementTree.fromstring(request["text"]).iter(f"{ROUTE53}Change")
        ]
        for request in requests
        if (request["operation"] or "").startswith("POST /2013-04-01/hostedzone/")
    ]


def test_a_cut_over_undone_in_the_same_run_puts_the_earlier_record_back(account):
    run = account.run("cut-over-then-undone", undo=True)
    assert run.returncode == 0, run.explain()
    assert f"CUT OVER: {EARLIER_NAME} points at the load balancer ({BALANCER}) instead of CNAME" in run.output
    assert f"CUT OVER UNDONE: {EARLIER_NAME} points again at CNAME {EARLIER_TARGET} (TTL 60)" in run.output
    # Moved, then put back: each one atomic change of both records.
    assert changes(account.requests()) == [
        [("DELETE", "CNAME"), ("CREATE", "A")],
        [("DELETE", "A"), ("CREATE", "CNAME")],
    ]
    (record,) = account.records()
    assert record == {
        "Name": f"{EARLIER_NAME}.",
        "Type": "CNAME",
        "TTL": 60,
        "ResourceRecords": [{"Value": EARLIER_TARGET}],
    }


def test_a_name_moved_by_an_earlier_run_is_left_and_not_put_back(account):
    """Moved, then the same again with undo: the second run replaced nothing, so it puts nothing back."""
    other = {"service_cut_over": {"name": OTHER_NAME, "expected": {"cname": EARLIER_TARGET}}}
    moved = account.run("cut-over", **other)
    assert moved.returncode == 0, moved.explain()
    again = account.run("cut-over-again", undo=True, **other)
    assert again.returncode == 0, again.explain()
    assert f"{OTHER_NAME} already points at the load balancer: nothing to cut over" in again.output
    assert "CUT OVER UNDONE" not in again.output
    assert not [request["operation"] for request in account.requests() if not is_read(request["operation"] or "GET ")]
    (record,) = account.records(OTHER_NAME)
    assert record["Type"] == "A" and record["AliasTarget"]["DNSName"].rstrip(".") == BALANCER
