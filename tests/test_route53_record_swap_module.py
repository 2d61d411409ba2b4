"""The repository's route53_record_swap module (plugins/modules), run as Ansible runs a module
against moto's Route 53: the earlier system's name moved to the load balancer in one change that
deletes the old record and creates the alias, only while the name holds the value expected; a
re-run that changes nothing; check mode; and the record put back with what the swap returned."""

from __future__ import annotations

import importlib.util

import pytest

from tests.helpers import ROOT
from tests.runbook_runs import MODULE_UTILS, ansible_module_runner, aws_client

pytestmark = pytest.mark.slow

MODULE = ROOT / "plugins" / "modules" / "route53_record_swap.py"
ZONE = "earlier.example.org"
NAME = f"search.{ZONE}"
EARLIER = "search-api.earlier-hosting.example.net"
BALANCER = "finbert-rag-production-1234567890.ap-south-1.elb.amazonaws.com"
ALIAS = {
    "Type": "A",
    "AliasTarget": {"HostedZoneId": "ZP97RAFLXTNZK", "DNSName": f"{BALANCER}.", "EvaluateTargetHealth": True},
}


@pytest.fixture
def zone(moto_url):
    route53 = aws_client("route53", moto_url)
    zone_id = route53.create_hosted_zone(Name=ZONE, CallerReference="earlier")["HostedZone"]["Id"]

    def put(record_set: dict) -> None:
        change = {"Action": "CREATE", "ResourceRecordSet": {"Name": NAME, **record_set}}
        route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [change]})

    def records() -> list[dict]:
        found = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
        return [record for record in found if record["Name"] == f"{NAME}."]

    return type("Zone", (), {"put": staticmethod(put), "records": staticmethod(records)})


@pytest.fixture
def run(moto_url, tmp_path):
    return ansible_module_runner(MODULE, moto_url, tmp_path)


CNAME = {"Type": "CNAME", "TTL": 300, "ResourceRecords": [{"Value": EARLIER}]}


def test_a_cname_holding_the_expected_value_becomes_the_alias_and_a_rerun_changes_nothing(zone, run):
    zone.put(CNAME)
    swapped = run(zone=ZONE, name=NAME, expected={"cname": f"{EARLIER.upper()}."}, record=ALIAS, diff=True)
    assert swapped["changed"] and swapped["change_id"], swapped
    assert swapped["replaced"] == CNAME
    assert swapped["found"] == [f"CNAME {EARLIER} (TTL 300)"]
    assert EARLIER in repr(swapped["diff"]["before"]) and BALANCER in repr(swapped["diff"]["after"])
    (record,) = zone.records()
    assert record["Type"] == "A" and record["AliasTarget"]["DNSName"].rstrip(".") == BALANCER
    again = run(zone=ZONE, name=NAME, expected={"cname": EARLIER}, record=ALIAS)
    assert not again["changed"] and again["replaced"] == {} and again["record"]["Type"] == "A", again

    # Put back with what the swap returned: the CNAME as it was, TTL included.
    restored = run(zone=ZONE, name=NAME, expected={"alias": BALANCER}, record=swapped["replaced"])
    assert restored["changed"] and restored["replaced"]["AliasTarget"]["DNSName"].rstrip(".") == BALANCER
    (record,) = zone.records()
    assert record["Type"] == "CNAME" and record["TTL"] == 300 and record["ResourceRecords"] == [{"Value": EARLIER}]


@pytest.mark.parametrize(
    ("earlier", "expected", "found"),
    [
        (CNAME, {"cname": "another.example.net"}, f"CNAME {EARLIER} (TTL 300)"),
        (
            {"Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.10"}, {"Value": "192.0.2.11"}]},
            {"addresses": ["192.0.2.10"]},
            "A 192.0.2.10, 192.0.2.11 (TTL 60)",
        ),
        (None, {"cname": EARLIER}, "nothing"),
    ],
    ids=["another CNAME target", "another address list", "no record"],
)
def test_a_name_holding_another_value_is_refused_and_left_alone(zone, run, earlier, expected, found):
    if earlier:
        zone.put(earlier)
    before = zone.records()
    for check_mode in (True, False):
        refused = run(zone=ZONE, name=NAME, expected=expected, record=ALIAS, check_mode=check_mode)
        assert refused["failed"] and not refused["changed"]
        assert refused["msg"].startswith(f"{NAME} holds {found}, not the "), refused["msg"]
        assert refused["msg"].endswith("expected: nothing was changed")
    assert zone.records() == before


def test_an_aaaa_record_beside_the_expected_one_is_refused(zone, run):
    """An IPv6 client would stay on the earlier system: the swap replaces all of the name's addresses or none."""
    addresses = {"Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.10"}]}
    zone.put(addresses)
    zone.put({"Type": "AAAA", "TTL": 60, "ResourceRecords": [{"Value": "2001:db8::10"}]})
    refused = run(zone=ZONE, name=NAME, expected={"addresses": ["192.0.2.10"]}, record=ALIAS)
    assert refused["failed"] and "AAAA 2001:db8::10" in refused["msg"], refused["msg"]
    assert len(zone.records()) == 2


def test_check_mode_and_an_alias_of_the_earlier_load_balancer(zone, run):
    earlier = {
        "Type": "A",
        "AliasTarget": {
            "HostedZoneId": "Z35SXDOTRQ7X7K",
            "DNSName": "dualstack.earlier-lb-1.us-east-1.elb.amazonaws.com.",
            "EvaluateTargetHealth": False,
        },
    }
    zone.put(earlier)
    expected = {"alias": "earlier-lb-1.us-east-1.elb.amazonaws.com"}
    planned = run(zone=ZONE, name=NAME, expected=expected, record=ALIAS, check_mode=True)
    assert planned["changed"] and "change_id" not in planned
    (record,) = zone.records()
    assert record["AliasTarget"]["HostedZoneId"] == "Z35SXDOTRQ7X7K"
    swapped = run(zone=ZONE, name=NAME, expected=expected, record=ALIAS)
    assert swapped["changed"]
    (record,) = zone.records()
    assert record["AliasTarget"]["DNSName"].rstrip(".") == BALANCER


def test_a_name_outside_the_zone_is_refused(zone, run):
    refused = run(zone=ZONE, name="search.elsewhere.example.org", expected={"cname": EARLIER}, record=ALIAS)
    assert (
        refused["failed"] and refused["msg"] == f"search.elsewhere.example.org is not a name in the hosted zone {ZONE}"
    )


WEIGHTED = [
    {
        "Type": "CNAME",
        "TTL": 300,
        "SetIdentifier": identifier,
        "Weight": weight,
        "ResourceRecords": [{"Value": EARLIER}],
    }
    for identifier, weight in (("earlier", 90), ("canary", 10))
]


def test_weighted_records_are_refused_even_with_the_expected_target(zone, run):
    """Several weighted records are not the one record the swap replaces (the preflight refuses
    them alike: tests/test_preflight.py)."""
    for record_set in WEIGHTED:
        zone.put(record_set)
    refused = run(zone=ZONE, name=NAME, expected={"cname": EARLIER}, record=ALIAS)
    assert refused["failed"] and not refused["changed"]
    assert sorted(refused["found"]) == [
        f"CNAME {EARLIER} (TTL 300, set canary)",
        f"CNAME {EARLIER} (TTL 300, set earlier)",
    ]
    assert len(zone.records()) == 2


def route53_records():
    """plugins/module_utils/route53_records.py, which imports nothing of Ansible's."""
    spec = importlib.util.spec_from_file_location("route53_records", MODULE_UTILS / "route53_records.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class PagedRoute53:
    """A Route 53 client that lists a zone's record sets a page at a time, as Route 53 does past
    its page size (300)."""

    def __init__(self, pages: list[list[dict]]):
        self.pages, self.asked = pages, []

    def list_resource_record_sets(self, aws_retry, HostedZoneId, **start):  # noqa: N803 - boto3's names
        self.asked.append(start)
        page = self.pages[len(self.asked) - 1]
        if len(self.asked) == len(self.pages):
            return {"ResourceRecordSets": page, "IsTruncated": False}
        following = self.pages[len(self.asked)][0]
        return {
            "ResourceRecordSets": page,
            "IsTruncated": True,
            "NextRecordName": following["Name"],
            "NextRecordType": following["Type"],
            "NextRecordIdentifier": following["SetIdentifier"],
        }


def test_a_name_s_records_are_read_from_every_page_they_span():
    records = route53_records()
    first, second = ({"Name": f"{NAME}.", **record_set} for record_set in WEIGHTED)
    after = {"Name": f"www.{ZONE}.", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.1"}]}
    client = PagedRoute53([[first], [second, after]])
    found = records.address_records(client, "/hostedzone/Z1", NAME)
    assert found == [first, second]
    assert client.asked[1] == {
        "StartRecordName": f"{NAME}.",
        "StartRecordType": "CNAME",
        "StartRecordIdentifier": "canary",
    }
    expected = {"cname": EARLIER, "alias": None, "addresses": None}
    assert records.holds_expected([first], expected) is False  # weighted, even alone
    assert records.holds_expected(found, expected) is False
