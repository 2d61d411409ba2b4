#!/usr/bin/python
"""What a release needs before it changes anything, read only: every failing prerequisite at once."""

DOCUMENTATION = r"""
---
module: release_prerequisites
short_description: Check a release's prerequisites in the AWS account and on this machine, read only
description:
  - Checks what a first release would otherwise find missing midway, after it created resources,
    and returns every failing prerequisite with its fix (RV(problems)), so that an operator fixes
    them in one go. It never fails by itself and writes nothing (only C(Describe*), C(List*) and
    C(Get*) calls); the caller decides to fail.
  - Placeholders left in the inventory (O(settings) matched against O(placeholders)). A check whose
    input is a placeholder is skipped (the placeholder's own line names the fix).
  - The network (O(network)). The VPC and subnets exist, the subnets are the VPC's, in two zones at
    least each; the public subnets route 0.0.0.0/0 to an internet gateway; the tasks' subnets to an
    available NAT gateway, a transit gateway or a network interface (the tasks have no public
    address), or have no default route and the VPC has the endpoints of O(network.task_endpoints).
  - The public hosted zone O(dns_zone) exists and holds O(domain_name); an issued ACM certificate
    covers O(domain_name) by its own name or a wildcard of its parent (as the load balancer role
    chooses it).
  - With O(cut_over), the earlier system's name the release is to take over - its public hosted zone
    is in this account and holds it, its address records are the one record O(cut_over.expected)
    describes, unweighted, as route53_record_swap replaces it only then (or already the alias of
    the load balancer O(cut_over.load_balancer)), it is not O(domain_name) itself, and one issued
    ACM certificate covers both names (the HTTPS listener has one).
  - The caller may push images under O(repository_policy). It is a role (the policy matches
    C(aws:PrincipalArn) of roles only), whose ARN an C(Allow) of C(ecr:PutImage) matches and no
    C(Deny) does. Each role O(push_roles) names without an ARN exists.
  - Somebody hears the alarms. O(alarm_subscriptions) is not empty, or the SNS topic O(alarm_topic)
    has a subscription already.
  - This machine's architecture is O(architecture), and the tools of one image builder of
    O(build_tools) are on its PATH.
options:
  settings:
    description: Inventory values by variable name, scanned (strings, and those in lists and dicts) for placeholders.
    type: dict
    default: {}
  placeholders:
    description: Regular expressions (searched) of values that are placeholders, not an environment's own.
    type: list
    elements: str
    default: []
  network:
    description: The existing VPC the service runs in; left out when the release creates its own.
    type: dict
    suboptions:
      vpc_id:
        description: The VPC.
        type: str
        required: true
      public_subnet_ids:
        description: The load balancer's subnets.
        type: list
        elements: str
        required: true
      private_subnet_ids:
        description: The tasks' subnets.
        type: list
        elements: str
        required: true
      task_endpoints:
        description: The VPC endpoints (service names after C(com.amazonaws.REGION.)) tasks without a default route need.
        type: list
        elements: str
        default: []
  dns_zone:
    description: The public hosted zone the service's record goes in; empty skips the zone check.
    type: str
    default: ""
  domain_name:
    description: The name users reach the service by; empty skips the zone and certificate checks.
    type: str
    default: ""
  cut_over:
    description: The earlier system's name the release moves to its load balancer after the switch; left out when none.
    type: dict
    suboptions:
      name:
        description: The name.
        type: str
        required: true
      zone:
        description: The public hosted zone it is in; empty - O(dns_zone).
        type: str
        default: ""
      expected:
        description: What its record holds now, exactly one of cname, alias and addresses.
        type: dict
        required: true
        suboptions:
          cname:
            description: The target of its C(CNAME) record.
            type: str
          alias:
            description: The DNS name its alias C(A) record points at.
            type: str
          addresses:
            description: The addresses of its C(A) record, all of them.
            type: list
            elements: str
      load_balancer:
        description: The release's load balancer (its name); a name that is already its alias is met.
        type: str
        default: ""
  repository_policy:
    description: The ECR repository policy the release sets (a JSON document); empty skips the push check.
    type: json
  push_roles:
    description: The roles the policy lets push (names, or ARNs), as the inventory gives them.
    type: list
    elements: str
    default: []
  alarm_topic:
    description: The SNS topic's name the alarms notify.
    type: str
    default: ""
  alarm_subscriptions:
    description: The subscriptions the release adds to O(alarm_topic).
    type: list
    elements: dict
    default: []
  require_alarm_subscription:
    description: Whether an alarm subscription is a prerequisite.
    type: bool
    default: true
  architecture:
    description:
      - The machine architecture the images are built for, as Python's C(platform.machine) names it, e.g. V(x86_64).
      - Empty skips the check.
    type: str
    default: ""
  build_tools:
    description: Per image builder, the tools it needs on PATH; one builder's being complete is enough. Empty skips.
    type: dict
    default: {}
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Check the release's prerequisites
  release_prerequisites:
    settings: {network_vpc_id: vpc-0123456789abcdef0, service_domain_name: search.example.org}
    placeholders: ['^vpc-0+$', 'example[.](com|net|org)']
    network:
      vpc_id: vpc-0123456789abcdef0
      public_subnet_ids: [subnet-0a, subnet-0b]
      private_subnet_ids: [subnet-0c, subnet-0d]
    dns_zone: example.org
    domain_name: search.example.org
    cut_over:
      name: search-api.example.org
      expected: {cname: search-api.earlier-hosting.example.net}
      load_balancer: finbert-rag-production
    repository_policy: "{{ lookup('template', 'repository-policy.json.j2') }}"
    push_roles: [release]
    alarm_topic: finbert-rag-production-alarms
    alarm_subscriptions: [{endpoint: oncall@example.org, protocol: email}]
    architecture: x86_64
    build_tools: {docker: [docker, skopeo], buildah: [buildah, skopeo, debootstrap]}
  register: prerequisites
"""

RETURN = r"""
problems:
  description: Each failing prerequisite, in the order checked; empty when all are met.
  returned: always
  type: list
  elements: dict
  contains:
    prerequisite:
      description: >-
        Which prerequisite (placeholder, network, hosted zone, certificate, cut-over, push, alarms, architecture,
        build tools).
      returned: always
      type: str
      sample: certificate
    problem:
      description: What is wrong.
      returned: always
      type: str
      sample: no issued ACM certificate covers search.example.org
    fix:
      description: What to do about it.
      returned: always
      type: str
      sample: request one in ACM (DNS validation) for search.example.org or *.example.org
checked:
  description: The prerequisites checked (those skipped as placeholders or not asked for left out).
  returned: always
  type: list
  elements: str
  sample: [placeholder, network, hosted zone, certificate, cut-over, push, alarms, architecture, build tools]
placeholders:
  description: The values of O(settings) found to be placeholders.
  returned: always
  type: list
  elements: str
  sample: [vpc-00000000000000000]
push_principal:
  description: The ARN the repository policy sees for the caller (aws:PrincipalArn), when the push was checked.
  returned: when the push was checked
  type: str
  sample: arn:aws:iam::123456789012:role/release
"""

import contextlib
import fnmatch
import json
import platform
import re
import shutil

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    from botocore.exceptions import BotoCoreError, ClientError

from ansible.module_utils.route53_records import (
    EXPECTED_OPTION,
    address_records,
    describe,
    describe_expected,
    dns_name,
    holds_expected,
    zone_id,
)
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

INVENTORY = "the inventory's group_vars"
# The service's tasks run without a public address: these reach the internet for them.
TASK_ROUTE_TARGETS = ("nat-", "tgw-", "eni-")
PUSH_ACTION = "ecr:PutImage"


class Problems(list):
    def add(self, prerequisite: str, problem: str, fix: str) -> None:
        self.append({"prerequisite": prerequisite, "problem": problem, "fix": fix})


def strings(value):
    """Every string in a value of the inventory (lists and dicts walked)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from strings(item)


def find_placeholders(settings: dict, patterns: list[str], problems: Problems) -> set[str]:
    found = set()
    compiled = [re.compile(pattern) for pattern in patterns]
    for name, value in settings.items():
        matched = sorted({text for text in strings(value) if any(p.search(text) for p in compiled)})
        if matched:
            found.update(matched)
            problems.add(
                "placeholder",
                f"{name} is still the placeholder {', '.join(matched)}",
                f"set this environment's own value in {INVENTORY} (docs/operating.md, Prerequisites)",
            )
    return found


def default_route(route_tables: list[dict], subnet: str) -> dict:
    """The 0.0.0.0/0 route of a subnet's route table (its own, else the VPC's main one)."""
    own = [t for t in route_tables if any(a.get("SubnetId") == subnet for a in t.get("Associations", []))]
    main = [t for t in route_tables if any(a.get("Main") for a in t.get("Associations", []))]
    for table in own or main:
        for route in table.get("Routes", []):
            if route.get("DestinationCidrBlock") == "0.0.0.0/0":
                return route
    return {}


def route_target(route: dict) -> str:
    for key in ("NatGatewayId", "TransitGatewayId", "NetworkInterfaceId", "GatewayId", "InstanceId"):
        if route.get(key):
            return route[key]
    return ""


def check_network(ec2, network: dict, problems: Problems) -> None:
    vpc, public, private = network["vpc_id"], network["public_subnet_ids"], network["private_subnet_ids"]
    if not ec2.describe_vpcs(aws_retry=True, Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Vpcs"]:
        problems.add(
            "network",
            f"no VPC {vpc} in this account and region",
            "set network_vpc_id to the VPC the service runs in (aws ec2 describe-vpcs)",
        )
        return
    subnets = {
        s["SubnetId"]: s
        for s in ec2.describe_subnets(aws_retry=True, Filters=[{"Name": "subnet-id", "Values": public + private}])[
            "Subnets"
        ]
    }
    missing = [s for s in public + private if s not in subnets]
    if missing:
        problems.add(
            "network",
            f"no subnet {', '.join(missing)} in this account and region",
            "set network_public_subnet_ids and network_private_subnet_ids to subnets of network_vpc_id "
            f"(aws ec2 describe-subnets --filters Name=vpc-id,Values={vpc})",
        )
    elsewhere = [s for s, found in subnets.items() if found["VpcId"] != vpc]
    if elsewhere:
        problems.add(
            "network",
            f"subnet {', '.join(elsewhere)} is not in {vpc}",
            f"give subnets of {vpc} only (or set network_vpc_id to their VPC)",
        )
    for name, ids in (("network_public_subnet_ids", public), ("network_private_subnet_ids", private)):
        zones = {subnets[s]["AvailabilityZone"] for s in ids if s in subnets}
        if len(zones) < 2 and all(s in subnets for s in ids):  # a missing subnet's line comes first
            problems.add(
                "network",
                f"{name} span {len(zones)} availability zone(s)",
                "give subnets in two zones at least (the load balancer needs two; the tasks survive a zone's loss)",
            )
    # Only the VPC's own subnets have routes worth reading (its route tables).
    subnets = {s: found for s, found in subnets.items() if found["VpcId"] == vpc}
    tables = ec2.describe_route_tables(aws_retry=True, Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"]
    # One line per wrong route, however many subnets share it.
    wrong_public: dict[str, list[str]] = {}
    for subnet in [s for s in public if s in subnets]:
        route = default_route(tables, subnet)
        target = route_target(route)
        if not target.startswith("igw-") or route.get("State") == "blackhole":
            where = (target or "nothing") + (" (blackhole)" if route.get("State") == "blackhole" else "")
            wrong_public.setdefault(where, []).append(subnet)
    for where, wrong in wrong_public.items():
        problems.add(
            "network",
            f"the load balancer's subnet {', '.join(wrong)} routes 0.0.0.0/0 to {where}",
            "route the load balancer's subnets' 0.0.0.0/0 to the VPC's internet gateway",
        )
    routes = {s: default_route(tables, s) for s in private if s in subnets}
    nat_ids = sorted({r["NatGatewayId"] for r in routes.values() if r.get("NatGatewayId")})
    nat_states = {}
    if nat_ids:
        found = ec2.describe_nat_gateways(aws_retry=True, Filters=[{"Name": "nat-gateway-id", "Values": nat_ids}])
        nat_states = {g["NatGatewayId"]: g["State"] for g in found["NatGateways"]}
    without_route, wrong_private = [], {}
    for subnet, route in routes.items():
        target = route_target(route)
        state = nat_states.get(target, "deleted") if target.startswith("nat-") else route.get("State")
        if not target:
            without_route.append(subnet)
        elif not target.startswith(TASK_ROUTE_TARGETS) or state in ("blackhole", "deleted", "deleting", "failed"):
            wrong_private.setdefault(target + (f" ({state})" if state else ""), []).append(subnet)
    for where, wrong in wrong_private.items():
        problems.add(
            "network",
            f"the tasks' subnet {', '.join(wrong)} routes 0.0.0.0/0 to {where}",
            "route the tasks' subnets' 0.0.0.0/0 to an available NAT gateway (or a transit gateway or NAT "
            "instance): the tasks have no public address, and pull images, read secrets, log and reach "
            "Elasticsearch that way; allow-list the NAT gateway's address at Elasticsearch",
        )
    if without_route and network["task_endpoints"]:
        endpoints = ec2.describe_vpc_endpoints(aws_retry=True, Filters=[{"Name": "vpc-id", "Values": [vpc]}])
        present = {
            e["ServiceName"].split(".", 3)[-1]
            for e in endpoints["VpcEndpoints"]
            if e["State"].lower() in ("available", "pending")
        }
        lacking = [e for e in network["task_endpoints"] if e not in present]
        if lacking:
            problems.add(
                "network",
                f"the tasks' subnet {', '.join(without_route)} has no default route, and {vpc} lacks the endpoints "
                f"of {', '.join(lacking)}",
                "route the tasks' subnets' 0.0.0.0/0 to a NAT gateway, or create those VPC endpoints (Elasticsearch "
                "must then be reachable privately)",
            )


def check_zone(route53, zone: str, domain: str, problems: Problems) -> None:
    if not zone_id(route53, zone):
        problems.add(
            "hosted zone",
            f"no public Route 53 hosted zone {zone} in this account",
            f"create it and delegate {zone} to its name servers, or set service_dns_zone to the account's zone",
        )
    if domain and not dns_name(domain).endswith("." + dns_name(zone)):
        problems.add(
            "hosted zone",
            f"{domain} is not a name in {zone}",
            "set service_domain_name to a name in service_dns_zone",
        )


def covers(names: list[str], domain: str) -> bool:
    domain = domain.lower()
    wildcard = "*." + domain.split(".", 1)[-1]
    return any(name.lower() in (domain, wildcard) for name in names)


def check_certificate(acm, domain: str, problems: Problems) -> None:
    covering = []
    for page in acm.get_paginator("list_certificates").paginate():
        for summary in page["CertificateSummaryList"]:
            certificate = acm.describe_certificate(aws_retry=True, CertificateArn=summary["CertificateArn"])
            certificate = certificate["Certificate"]
            names = [certificate["DomainName"], *certificate.get("SubjectAlternativeNames", [])]
            if covers(names, domain):
                covering.append(certificate)
    if any(c["Status"] == "ISSUED" for c in covering):
        return
    parent = domain.split(".", 1)[-1]
    if covering:
        states = ", ".join(f"{c['CertificateArn']} is {c['Status']}" for c in covering)
        problems.add(
            "certificate",
            f"no issued ACM certificate covers {domain}: {states}",
            "complete its DNS validation (the CNAME ACM asks for, in the hosted zone), or request a new one",
        )
    else:
        problems.add(
            "certificate",
            f"no ACM certificate in this account and region covers {domain}",
            f"request one for {domain} or *.{parent} in ACM (DNS validation) before the first release",
        )


def check_cut_over(route53, elbv2, acm, cut_over: dict, domain: str, zone: str, problems: Problems) -> None:
    """The earlier system's name: in a zone of this account, holding what the operator expects
    (route53_record_swap replaces it only then) or already the load balancer's alias, and covered
    with the service's own name by one certificate."""
    name, zone = dns_name(cut_over["name"]), dns_name(cut_over["zone"] or zone)
    if domain and name == dns_name(domain):
        problems.add(
            "cut-over",
            f"service_cut_over names {name}, which is service_domain_name itself",
            "release on a new service_domain_name; service_cut_over names the earlier system's name, moved to it",
        )
        return
    hosted_zone = zone_id(route53, zone)
    if not hosted_zone:
        problems.add(
            "cut-over",
            f"no public Route 53 hosted zone {zone} in this account holds {name}",
            "set service_cut_over.zone to this account's public hosted zone of the name (the release changes "
            "records in this account only), or move the zone here first",
        )
        return
    if name != zone and not name.endswith("." + zone):
        problems.add(
            "cut-over",
            f"{name} is not a name in {zone}",
            "set service_cut_over.zone to the hosted zone the name is in",
        )
        return
    found = address_records(route53, hosted_zone, name)
    expected = cut_over["expected"]
    moved = None  # what the name holds once an earlier run moved it: the load balancer's alias
    if cut_over["load_balancer"]:
        try:
            balancers = elbv2.describe_load_balancers(aws_retry=True, Names=[cut_over["load_balancer"]])
            moved = {"cname": None, "alias": balancers["LoadBalancers"][0]["DNSName"], "addresses": None}
        except is_boto3_error_code("LoadBalancerNotFound"):
            moved = None
    if not holds_expected(found, expected) and not (moved and holds_expected(found, moved)):
        lines = [describe(record_set, brief=True) for record_set in found]
        problems.add(
            "cut-over",
            f"{name} holds {'; '.join(lines) or 'nothing'}, not the {describe_expected(expected)} "
            "service_cut_over expects",
            "check that what it holds is the earlier system's, then set service_cut_over.expected to it "
            f"(aws route53 list-resource-record-sets --hosted-zone-id {hosted_zone.split('/')[-1]} "
            f"--start-record-name {name} --max-items 3); an AAAA record beside it must go first",
        )
    covering = []
    for page in acm.get_paginator("list_certificates").paginate(CertificateStatuses=["ISSUED"]):
        for summary in page["CertificateSummaryList"]:
            certificate = acm.describe_certificate(aws_retry=True, CertificateArn=summary["CertificateArn"])
            certificate = certificate["Certificate"]
            names = [certificate["DomainName"], *certificate.get("SubjectAlternativeNames", [])]
            if certificate["Status"] == "ISSUED" and covers(names, name) and (not domain or covers(names, domain)):
                covering.append(certificate["CertificateArn"])
    if not covering:
        both = f"{domain} and {name}" if domain else name
        problems.add(
            "cut-over",
            f"no issued ACM certificate covers both {both}",
            "request one in ACM naming both (or wildcards of their parents), validated by DNS: the load balancer's "
            "HTTPS listener has one certificate, and the earlier system's clients reach it by that name",
        )


def arn_like(pattern: str, arn: str) -> bool:
    """IAM's ArnLike: each of the six colon-separated parts matched with * and ? wildcards."""
    pattern_parts, arn_parts = pattern.split(":", 5), arn.split(":", 5)
    if len(pattern_parts) != 6 or len(arn_parts) != 6:
        return False
    return all(
        fnmatch.fnmatchcase(part, wanted.replace("[", "[[]"))
        for wanted, part in zip(pattern_parts, arn_parts, strict=True)
    )


def listed(value) -> list:
    return value if isinstance(value, list) else [value]


def statement_applies(statement: dict, principal: str) -> bool:
    """Whether a policy statement's Action covers a push and its conditions match the caller (an
    IAM principal, never an AWS service)."""
    if not any(fnmatch.fnmatchcase(PUSH_ACTION, action) for action in listed(statement.get("Action", []))):
        return False
    for operator, keys in statement.get("Condition", {}).items():
        for key, values in keys.items():
            if key == "aws:PrincipalArn" and operator in ("ArnLike", "ArnNotLike"):
                matched = any(arn_like(pattern, principal) for pattern in listed(values))
                if matched != (operator == "ArnLike"):
                    return False
            elif key == "aws:PrincipalIsAWSService" and operator in ("Bool", "BoolIfExists"):
                if "false" not in [str(v).lower() for v in listed(values)]:
                    return False
            else:  # a condition this check cannot judge: assume it does not hold
                return False
    return True


def push_principal(iam, caller_arn: str) -> tuple[str, str]:
    """The ARN aws:PrincipalArn holds for the caller (a role's, with its path), or '' and what the caller is."""
    parts = caller_arn.split(":", 5)
    resource = parts[5] if len(parts) == 6 else ""
    if resource.startswith("assumed-role/"):
        role = resource.split("/")[1]
        try:
            return iam.get_role(aws_retry=True, RoleName=role)["Role"]["Arn"], ""
        except is_boto3_error_code(["AccessDenied", "AccessDeniedException"]):
            # The role's path is unknown without iam:GetRole: as if it had none.
            return f"arn:aws:iam::{parts[4]}:role/{role}", ""
    kind = "the account's root user" if resource == "root" else resource.split("/")[0].replace("-", " ")
    return "", kind


def check_push(sts, iam, policy: dict, push_roles: list[str], problems: Problems) -> str:
    for role in push_roles:
        if role.startswith("arn:") or "*" in role or "?" in role:
            continue
        try:
            iam.get_role(aws_retry=True, RoleName=role)
        except is_boto3_error_code("NoSuchEntity"):
            problems.add(
                "push",
                f"ecr_repositories_push_roles names the role {role}, which this account does not have",
                "set ecr_repositories_push_roles to the role you release as (its name, or its ARN: "
                "aws sts get-caller-identity shows it)",
            )
    caller = sts.get_caller_identity(aws_retry=True)["Arn"]
    principal, kind = push_principal(iam, caller)
    if not principal:
        problems.add(
            "push",
            f"you call AWS as {kind} {caller}: the ECR repository policy lets roles push, nobody else",
            "release as a role named in ecr_repositories_push_roles: assume it (a profile with role_arn, "
            "or an IAM Identity Center permission set), then check with aws sts get-caller-identity",
        )
        return caller
    statements = policy.get("Statement", [])
    allowed = any(s["Effect"] == "Allow" and statement_applies(s, principal) for s in statements)
    denied = any(s["Effect"] == "Deny" and statement_applies(s, principal) for s in statements)
    if denied or not allowed:
        problems.add(
            "push",
            f"the ECR repository policy would not let {principal} push",
            "add this role to ecr_repositories_push_roles (its name, or its ARN), or release as a role listed there",
        )
    return principal


def check_alarms(sns, topic: str, subscriptions: list, problems: Problems) -> None:
    if subscriptions:
        return
    arns = [
        t["TopicArn"]
        for page in sns.get_paginator("list_topics").paginate()
        for t in page["Topics"]
        if t["TopicArn"].rsplit(":", 1)[-1] == topic
    ]
    for arn in arns:
        if sns.list_subscriptions_by_topic(aws_retry=True, TopicArn=arn)["Subscriptions"]:
            return
    problems.add(
        "alarms",
        f"nobody would hear an alarm: service_monitoring_alarm_subscriptions is empty and the topic {topic} "
        + ("has no subscription" if arns else "does not exist yet"),
        "give one in service_monitoring_alarm_subscriptions, e.g. [{endpoint: oncall@your-domain, protocol: email}] "
        "(confirm the e-mail AWS sends)",
    )


def check_machine(architecture: str, build_tools: dict, problems: Problems) -> list[str]:
    checked = []
    if architecture:
        checked.append("architecture")
        machine = platform.machine()
        if machine != architecture:
            problems.add(
                "architecture",
                f"this machine is {machine}; the images are built for {architecture} (the build runs their "
                "programs: no emulation)",
                f"release from an {architecture} machine",
            )
    if build_tools:
        checked.append("build tools")
        missing = {builder: [t for t in tools if not shutil.which(t)] for builder, tools in build_tools.items()}
        if all(missing.values()):
            needs = "; ".join(f"{builder} needs {', '.join(tools)}" for builder, tools in missing.items())
            problems.add(
                "build tools",
                f"no image builder is complete on this machine's PATH ({needs})",
                "install one: `make image-deps` (buildah, skopeo, debootstrap; the build then runs as root), "
                "or Docker and skopeo",
            )
    return checked


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "settings": {"type": "dict", "default": {}},
            "placeholders": {"type": "list", "elements": "str", "default": []},
            "network": {
                "type": "dict",
                "options": {
                    "vpc_id": {"type": "str", "required": True},
                    "public_subnet_ids": {"type": "list", "elements": "str", "required": True},
                    "private_subnet_ids": {"type": "list", "elements": "str", "required": True},
                    "task_endpoints": {"type": "list", "elements": "str", "default": []},
                },
            },
            "dns_zone": {"type": "str", "default": ""},
            "domain_name": {"type": "str", "default": ""},
            "cut_over": {
                "type": "dict",
                "options": {
                    "name": {"type": "str", "required": True},
                    "zone": {"type": "str", "default": ""},
                    "expected": EXPECTED_OPTION,
                    "load_balancer": {"type": "str", "default": ""},
                },
            },
            "repository_policy": {"type": "json"},
            "push_roles": {"type": "list", "elements": "str", "default": []},
            "alarm_topic": {"type": "str", "default": ""},
            "alarm_subscriptions": {"type": "list", "elements": "dict", "default": []},
            "require_alarm_subscription": {"type": "bool", "default": True},
            "architecture": {"type": "str", "default": ""},
            "build_tools": {"type": "dict", "default": {}},
        },
        supports_check_mode=True,
    )
    params = module.params
    retry = AWSRetry.jittered_backoff()
    problems, checked, result = Problems(), ["placeholder"], {}
    placeholders = find_placeholders(params["settings"], params["placeholders"], problems)

    def free_of_placeholders(*values) -> bool:
        return not any(text in placeholders for text in strings(list(values)))

    def check(prerequisite: str, run) -> None:
        checked.append(prerequisite)
        try:
            run()
        except (BotoCoreError, ClientError) as exc:
            problems.add(
                prerequisite,
                f"could not read it: {exc}",
                "allow these reads to the credentials you release with (docs/operator-policy.json)",
            )

    network = params["network"]
    if network and free_of_placeholders(network["vpc_id"], network["public_subnet_ids"], network["private_subnet_ids"]):
        check("network", lambda: check_network(module.client("ec2", retry_decorator=retry), network, problems))
    domain, zone = params["domain_name"], params["dns_zone"]
    if zone and free_of_placeholders(zone, domain):
        check(
            "hosted zone", lambda: check_zone(module.client("route53", retry_decorator=retry), zone, domain, problems)
        )
    if domain and free_of_placeholders(domain):
        check("certificate", lambda: check_certificate(module.client("acm", retry_decorator=retry), domain, problems))
    cut_over = params["cut_over"]
    if cut_over and free_of_placeholders(cut_over["name"], cut_over["zone"] or zone, domain):
        check(
            "cut-over",
            lambda: check_cut_over(
                module.client("route53", retry_decorator=retry),
                module.client("elbv2", retry_decorator=retry),
                module.client("acm", retry_decorator=retry),
                cut_over,
                domain,
                zone,
                problems,
            ),
        )
    if params["repository_policy"]:

        def push() -> None:
            sts, iam = module.client("sts", retry_decorator=retry), module.client("iam", retry_decorator=retry)
            policy = json.loads(params["repository_policy"])
            result["push_principal"] = check_push(sts, iam, policy, params["push_roles"], problems)

        check("push", push)
    if params["require_alarm_subscription"]:
        sns = module.client("sns", retry_decorator=retry)
        check("alarms", lambda: check_alarms(sns, params["alarm_topic"], params["alarm_subscriptions"], problems))
    checked += check_machine(params["architecture"], params["build_tools"], problems)
    module.exit_json(changed=False, problems=problems, checked=checked, placeholders=sorted(placeholders), **result)


if __name__ == "__main__":
    main()
