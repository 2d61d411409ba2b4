#!/usr/bin/python
"""Replace a Route 53 name's record with another, of another type if need be, in one change
(route53:ChangeResourceRecordSets), only if the name still holds the value expected."""

DOCUMENTATION = r"""
---
module: route53_record_swap
short_description: Replace the record of a Route 53 name in one atomic change, if it holds the value expected
description:
  - Reads the address records (C(A), C(AAAA), C(CNAME)) of O(name) in the public hosted zone O(zone)
    and, when they are exactly the one record O(expected) describes, sends one change batch that
    deletes it and creates O(record) - a compare-and-swap. Route 53 applies a batch all or nothing;
    the name answers with the old record or the new one, never with none (no outage, nothing for
    resolvers to cache as missing). amazon.aws's route53 changes one record per request, so it
    cannot replace a C(CNAME) by an alias C(A) record without a moment between the two.
  - When the name already holds O(record) nothing is sent (a re-run). When it holds anything else -
    another value, another record beside it (an C(AAAA)), several weighted records, nothing - the
    module fails, naming what it found, and sends nothing.
  - With O(wait), waits until Route 53 reports the change C(INSYNC) (its servers all answer with it).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
options:
  zone:
    description: The public hosted zone the name is in, e.g. example.com.
    type: str
    required: true
  name:
    description: The name whose record is replaced, e.g. search.example.com.
    type: str
    required: true
  expected:
    description:
      - What the name must hold now, exactly one of the options below. Compared without case and
        without the root's dot; an alias's C(dualstack.) prefix is ignored; TTLs are not compared.
    type: dict
    required: true
    suboptions:
      cname:
        description: The target of the name's C(CNAME) record.
        type: str
      alias:
        description: The DNS name an alias C(A) record of the name points at (a load balancer's, a CloudFront distribution's).
        type: str
      addresses:
        description: The addresses of the name's C(A) record (all of them, in any order).
        type: list
        elements: str
  record:
    description:
      - The record set to put in its place, as Route 53's API takes one, without its C(Name) - C(Type)
        and either C(AliasTarget) (C(HostedZoneId), C(DNSName), C(EvaluateTargetHealth)) or C(TTL)
        and C(ResourceRecords). RV(replaced) has this shape - a later run puts it back with it.
    type: dict
    required: true
  wait:
    description: Wait until Route 53 reports the change C(INSYNC).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for C(INSYNC).
    type: int
    default: 300
"""

EXAMPLES = r"""
- name: Move the earlier system's name to the load balancer, if it still points at the earlier system
  route53_record_swap:
    zone: example.com
    name: search.example.com
    expected:
      cname: search-api.earlier-hosting.example.net
    record:
      Type: A
      AliasTarget:
        HostedZoneId: "{{ load_balancer_zone_id }}"
        DNSName: "{{ load_balancer_dns_name }}"
        EvaluateTargetHealth: true
  register: swapped

- name: Put the earlier record back
  route53_record_swap:
    zone: example.com
    name: search.example.com
    expected:
      alias: "{{ load_balancer_dns_name }}"
    record: "{{ swapped.replaced }}"
  when: swapped.replaced
"""

RETURN = r"""
replaced:
  description: The record set deleted, as Route 53 held it (without its Name); empty when nothing changed.
  returned: always
  type: dict
  sample: {"Type": "CNAME", "TTL": 300, "ResourceRecords": [{"Value": "search-api.earlier-hosting.example.net"}]}
record:
  description: The record set the name holds after the run (without its Name).
  returned: success
  type: dict
  sample: {"Type": "A", "AliasTarget": {"HostedZoneId": "ZP97RAFLXTNZK", "DNSName": "lb-1.ap-south-1.elb.amazonaws.com.",
           "EvaluateTargetHealth": true}}
found:
  description: What the name held before the run, one line per record set.
  returned: always
  type: list
  elements: str
  sample: ["CNAME search-api.earlier-hosting.example.net (TTL 300)"]
change_id:
  description: The Route 53 change's id, when a change was sent.
  returned: when changed and not in check mode
  type: str
  sample: /change/C2682N5HXP0BZ4
"""

import contextlib

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from ansible.module_utils.route53_records import (
    EXPECTED_OPTION,
    address_records,
    describe,
    describe_expected,
    dns_name,
    holds_expected,
    holds_record,
    zone_id,
)
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.waiters import get_waiter

# Seconds between two reads of the change's state (amazon.aws's route53 waits the same).
WAIT_DELAY = 5


def without_name(record_set: dict) -> dict:
    return {key: value for key, value in record_set.items() if key != "Name"}


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "zone": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "expected": EXPECTED_OPTION,
            "record": {"type": "dict", "required": True},
            "wait": {"type": "bool", "default": True},
            "wait_timeout": {"type": "int", "default": 300},
        },
        supports_check_mode=True,
    )
    params = module.params
    name, zone, expected, record = (
        dns_name(params["name"]),
        dns_name(params["zone"]),
        params["expected"],
        params["record"],
    )
    if name != zone and not name.endswith("." + zone):
        module.fail_json(msg=f"{name} is not a name in the hosted zone {zone}")
    client = module.client(
        "route53", retry_decorator=AWSRetry.jittered_backoff(catch_extra_error_codes=["PriorRequestNotComplete"])
    )
    try:
        hosted_zone = zone_id(client, zone)
        if not hosted_zone:
            module.fail_json(msg=f"no public Route 53 hosted zone {zone} in this account")
        found = address_records(client, hosted_zone, name)
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(exc, msg=f"could not read the records of {name} in {zone}")
    lines = [describe(record_set) for record_set in found] or ["nothing"]
    wanted = {"Name": name + ".", **without_name(record)}
    result = {"changed": False, "replaced": {}, "found": lines}
    if module._diff:
        result["diff"] = {"before": {name: lines}, "after": {name: [describe(wanted)]}}

    if holds_record(found, record):
        module.exit_json(**result, record=without_name(found[0]))
    if not holds_expected(found, expected):
        module.fail_json(
            msg=(
                f"{name} holds {'; '.join(lines)}, not the {describe_expected(expected)} expected: nothing was changed"
            ),
            **result,
        )

    (replaced,) = found
    result.update(changed=True, replaced=without_name(replaced), record=without_name(wanted))
    if module.check_mode:
        module.exit_json(**result)
    batch = {
        "Comment": f"{name}: {describe(replaced)} replaced by {describe(wanted)}",
        "Changes": [
            {"Action": "DELETE", "ResourceRecordSet": replaced},
            {"Action": "CREATE", "ResourceRecordSet": wanted},
        ],
    }
    try:
        change = client.change_resource_record_sets(aws_retry=True, HostedZoneId=hosted_zone, ChangeBatch=batch)
    except (BotoCoreError, ClientError) as exc:
        result["changed"] = False
        module.fail_json_aws(exc, msg=f"Route 53 refused to replace the record of {name}", **result)
    result["change_id"] = change["ChangeInfo"]["Id"]
    if params["wait"]:
        try:
            get_waiter(client, "resource_record_sets_changed").wait(
                Id=result["change_id"],
                WaiterConfig={"Delay": WAIT_DELAY, "MaxAttempts": max(1, params["wait_timeout"] // WAIT_DELAY)},
            )
        except (BotoCoreError, WaiterError) as exc:
            # The change was made: RV(replaced) goes back to the caller, which may put it back.
            module.fail_json_aws(
                exc, msg=f"the new record of {name} was not INSYNC within {params['wait_timeout']} s", **result
            )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
