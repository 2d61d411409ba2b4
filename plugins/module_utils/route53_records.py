"""A Route 53 name's address records, read and matched in one place: route53_record_swap replaces
a name's record only when it holds what its `expected` option describes, and the preflight's cut-over check
(release_prerequisites) refuses, before the release changes anything, what the swap would refuse."""

# The records that say where a name's clients go: the swap replaces them all or refuses.
ADDRESS_TYPES = ("A", "AAAA", "CNAME")

# What a name must hold now, as both modules take it: exactly one of a CNAME's target, an alias
# A record's target and an A record's addresses.
EXPECTED_OPTION = {
    "type": "dict",
    "required": True,
    "options": {
        "cname": {"type": "str"},
        "alias": {"type": "str"},
        "addresses": {"type": "list", "elements": "str"},
    },
    "mutually_exclusive": [["cname", "alias", "addresses"]],
    "required_one_of": [["cname", "alias", "addresses"]],
}


def dns_name(value: str) -> str:
    """A name as compared: lower case, without the root's dot."""
    return value.lower().rstrip(".")


def alias_name(value: str) -> str:
    """An alias's target as compared: Route 53 answers for an ELB alias with or without dualstack."""
    return dns_name(value).removeprefix("dualstack.")


def values(record_set: dict) -> list[str]:
    return sorted(dns_name(record["Value"]) for record in record_set.get("ResourceRecords", []))


def describe(record_set: dict, brief: bool = False) -> str:
    """A record set in one line: its type and target, a weighted set's identifier and, unless
    brief, its TTL or its alias's hosted zone."""
    alias = record_set.get("AliasTarget")
    if alias:
        line, detail = f"{record_set['Type']} alias of {dns_name(alias['DNSName'])}", f"zone {alias['HostedZoneId']}"
    else:
        line, detail = f"{record_set['Type']} {', '.join(values(record_set))}", f"TTL {record_set.get('TTL')}"
    notes = [] if brief else [detail]
    if record_set.get("SetIdentifier"):
        notes.append(f"set {record_set['SetIdentifier']}")
    return f"{line} ({', '.join(notes)})" if notes else line


def describe_expected(expected: dict) -> str:
    if expected["cname"]:
        return f"CNAME {dns_name(expected['cname'])}"
    if expected["alias"]:
        return f"A alias of {dns_name(expected['alias'])}"
    return f"A {', '.join(sorted(dns_name(a) for a in expected['addresses']))}"


def holds_expected(found: list[dict], expected: dict) -> bool:
    """Whether a name's address records are exactly the one, unweighted, record EXPECTED describes."""
    if len(found) != 1 or found[0].get("SetIdentifier"):
        return False
    (record_set,) = found
    alias = record_set.get("AliasTarget")
    if expected["cname"]:
        return record_set["Type"] == "CNAME" and values(record_set) == [dns_name(expected["cname"])]
    if expected["alias"]:
        return (
            record_set["Type"] == "A" and bool(alias) and alias_name(alias["DNSName"]) == alias_name(expected["alias"])
        )
    return (
        record_set["Type"] == "A"
        and not alias
        and values(record_set) == sorted(dns_name(a) for a in expected["addresses"])
    )


def holds_record(found: list[dict], record: dict) -> bool:
    """Whether a name's address records are exactly RECORD (a record set as Route 53's API takes one)."""
    if len(found) != 1 or found[0].get("SetIdentifier") or found[0]["Type"] != record["Type"]:
        return False
    (record_set,) = found
    if record.get("AliasTarget") or record_set.get("AliasTarget"):
        have, want = record_set.get("AliasTarget") or {}, record.get("AliasTarget") or {}
        return (
            bool(have)
            and bool(want)
            and alias_name(have["DNSName"]) == alias_name(want["DNSName"])
            and have["HostedZoneId"] == want["HostedZoneId"]
            and bool(have.get("EvaluateTargetHealth")) == bool(want.get("EvaluateTargetHealth"))
        )
    return values(record_set) == values(record) and int(record_set.get("TTL", 0)) == int(record.get("TTL", 0))


def zone_id(client, zone: str) -> str:
    """The id of the account's public hosted zone ZONE, or '' when it has none (a route53 client
    made with a retry decorator)."""
    name = dns_name(zone) + "."
    found = client.list_hosted_zones_by_name(aws_retry=True, DNSName=name)["HostedZones"]
    public = [z["Id"] for z in found if z["Name"].lower() == name and not z.get("Config", {}).get("PrivateZone")]
    return public[0] if public else ""


def address_records(client, hosted_zone: str, name: str) -> list[dict]:
    """The name's A, AAAA and CNAME record sets, as Route 53 lists them (sorted by name, then type),
    from every page they span."""
    wanted, found = dns_name(name) + ".", []
    page = {"StartRecordName": wanted}
    while True:
        answer = client.list_resource_record_sets(aws_retry=True, HostedZoneId=hosted_zone, **page)
        own = [r for r in answer["ResourceRecordSets"] if r["Name"].lower() == wanted]
        found += [r for r in own if r["Type"] in ADDRESS_TYPES]
        if not answer.get("IsTruncated") or len(own) < len(answer["ResourceRecordSets"]):
            return found
        page = {"StartRecordName": answer["NextRecordName"], "StartRecordType": answer["NextRecordType"]}
        if answer.get("NextRecordIdentifier"):
            page["StartRecordIdentifier"] = answer["NextRecordIdentifier"]
