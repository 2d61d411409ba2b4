"""The rehearsal's edge: the way a request takes to the service in AWS - the service's name in
Route 53, the load balancer that name is an alias of, its HTTPS listener on one port (--listener-
port: 443 for users, the blue/green test listener's port for a release under validation), that
listener's target group and the group's healthy targets - followed on loopback through the state
moto holds. One edge plays one listener: the rehearsal runs one per listener it reaches.

moto records a load balancer, its listeners, target groups and targets, and a Route 53 record,
but routes nothing. This process does: a request to it is forwarded to a target registered in
the target group the listener forwards to, as the load balancer would forward it, once the
target has passed the target group's own health check (its path, timeout, thresholds and success
codes). Anything broken on the way - no record, a record pointing elsewhere, no HTTPS listener on
the port, a listener not forwarding, no registered or no healthy target - is answered 502 or 503
with a JSON body naming it, as a user would meet it. So a release that deregisters the service's
tasks, leaves the name unmanaged or checks the wrong path fails in the rehearsal as it would in
production.

As a load balancer does, the edge health-checks the targets of every target group its listeners
forward to, not only its own listener's: a listener switched to the group another listener
forwards to (a blue/green release's switch) finds that group's targets already healthy and
loses no request.

Differences from AWS, all on purpose: plain HTTP on loopback (the listener's TLS is not played);
the route is followed again at most every --interval seconds, when a request comes (AWS's DNS
caching and health-check intervals are longer: a rehearsal takes seconds, not minutes); no
fail-open (a real load balancer sends traffic to every target when none is healthy: ECS then
replaces those tasks, and the rehearsal has no ECS to do it); a forward goes to its first target
group when it names several; rule conditions other than path patterns are not played (a rule
with one never matches).

The listener's rules are followed as an ALB does: by priority, the first whose path patterns
match the request's path, else the default action. An authenticate-oidc action is played
without an identity provider: the rehearsal's one person (--person-sub, --person-email) signs in
at /.rehearsal-edge/sign-in, which sets the session cookie (<SessionCookieName>-0) and redirects
back. A request with that session is forwarded with x-amzn-oidc-data (an ES256 JWT as the ALB
makes it: header with kid, signer = the load balancer's ARN, iss, client, exp; claims sub, email,
exp, iss; padded base64 segments), x-amzn-oidc-identity and x-amzn-oidc-accesstoken; the key is
a P-256 key the edge makes at start (or reads from --key-file, so that both listeners' edges
sign alike), its public key served as PEM at /.rehearsal-edge/public-keys/<kid> (the service's
FINNEWS_ALB_PUBLIC_KEY_URL in the rehearsal). Without a session: OnUnauthenticatedRequest
authenticate redirects to the sign-in, allow forwards without identity, deny answers 401.
x-amzn-oidc-* headers a client sends are replaced when the edge signs in a request and passed on
untouched otherwise: the service must not trust them for anything but a valid signature (the
rehearsal can show a forged header refused). The sign-in cookie is not Secure (plain HTTP).

The route is read from moto only while a request waits for it, never in the background: moto
draws its ids from one seeded generator, and the rehearsal replays the requests it recorded to
rebuild its state, so requests must reach moto one at a time, in the order they are recorded.
The targets' health checks, which do not touch moto, run in the background.

AWS is reached through boto3's usual environment (AWS_ENDPOINT_URL: moto). GET
/.rehearsal-edge/route answers the current route (200), for a person or a test to read; the
rehearsal waits on /.rehearsal-edge/alive, which reads nothing (it says the listener port the edge
plays, so that a rehearsal can tell two edges apart).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import http.cookies
import http.server
import itertools
import json
import logging
import os
import re
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

LOG = logging.getLogger("rehearsal-edge")
ROUTE_PATH = "/.rehearsal-edge/route"
ALIVE_PATH = "/.rehearsal-edge/alive"
SIGN_IN_PATH = "/.rehearsal-edge/sign-in"
PUBLIC_KEYS_PATH = "/.rehearsal-edge/public-keys/"
# Seconds an identity header is valid (the ALB's are short-lived too).
IDENTITY_SECONDS = 120
# Headers that belong to one connection, not to the request or answer passed on (RFC 9110 7.6.1).
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}


class NoRoute(Exception):
    """The request cannot reach a target: the status a user would get, and why."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


@dataclass
class TargetGroup:
    arn: str
    path: str
    timeout: float
    healthy_threshold: int
    unhealthy_threshold: int
    success_codes: str
    targets: list[tuple[str, int]]


@dataclass
class TargetHealth:
    healthy: bool = False
    successes: int = 0
    failures: int = 0
    reason: str = "not checked yet"


def _codes_match(status: int, codes: str) -> bool:
    """An ALB matcher: "200", "200,204" or "200-299"."""
    for part in codes.split(","):
        low, _, high = part.strip().partition("-")
        if int(low) <= status <= int(high or low):
            return True
    return False


@dataclass
class Rule:
    """What the listener does with a request: a rule's (by priority) or its default action."""

    priority: float  # the default action's is infinite
    patterns: list[re.Pattern] | None  # None: the default action (every path)
    group: str | None  # the target group it forwards to
    oidc: dict | None  # the AuthenticateOidcConfig before the forward, if any

    def matches(self, path: str) -> bool:
        path = path.split("?", 1)[0]
        return self.patterns is None or any(pattern.fullmatch(path) for pattern in self.patterns)


@dataclass
class Route:
    load_balancer: str  # its DNS name
    group: TargetGroup  # the one the listener's default action forwards to
    groups: list[TargetGroup]  # every one the load balancer's listeners forward to (health-checked)
    load_balancer_arn: str = ""
    rules: list[Rule] = field(default_factory=list)  # by priority, the default action last


def _path_pattern(pattern: str) -> re.Pattern:
    """An ALB path pattern: case-sensitive, * any characters (/ too), ? one."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern))


def _forward_of(actions: list[dict]) -> str | None:
    """The target group an action list forwards to, if it forwards."""
    for action in sorted(actions, key=lambda action: int(action.get("Order", 1))):
        if action["Type"] == "forward":
            return action.get("TargetGroupArn") or action["ForwardConfig"]["TargetGroups"][0]["TargetGroupArn"]
    return None


def _forwarded_group(listener: dict) -> str | None:
    """The target group a listener's default action forwards to, if it forwards."""
    return _forward_of(listener.get("DefaultActions", []))


def _rule(priority: float, conditions: list[dict] | None, actions: list[dict]) -> Rule:
    patterns = None
    if conditions is not None:
        patterns = []
        for condition in conditions:
            if condition["Field"] != "path-pattern":
                return Rule(priority, [], None, None)  # not played: never matches
            values = condition.get("PathPatternConfig", {}).get("Values") or condition.get("Values", [])
            patterns += [_path_pattern(value) for value in values]
    oidc = next((a["AuthenticateOidcConfig"] for a in actions if a["Type"] == "authenticate-oidc"), None)
    return Rule(priority, patterns, _forward_of(actions), oidc)


def _listener_rules(elbv2, listener: dict) -> list[Rule]:
    """A listener's rules by priority, its default action last."""
    found = elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
    rules = sorted(
        (_rule(int(rule["Priority"]), rule["Conditions"], rule["Actions"]) for rule in found if not rule["IsDefault"]),
        key=lambda rule: rule.priority,
    )
    return [*rules, _rule(float("inf"), None, listener.get("DefaultActions", []))]


def follow(route53, elbv2, domain: str, listener_port: int = 443) -> Route:
    """The load balancer and target group that requests to `domain` on `listener_port` reach."""
    name = domain.lower().rstrip(".") + "."
    zones = [
        zone
        for page in route53.get_paginator("list_hosted_zones").paginate()
        for zone in page["HostedZones"]
        if not zone.get("Config", {}).get("PrivateZone") and name.endswith("." + zone["Name"].lower())
    ]
    if not zones:
        raise NoRoute(502, f"{domain}: no public Route 53 hosted zone holds this name")
    zone = max(zones, key=lambda zone: len(zone["Name"]))
    records = route53.list_resource_record_sets(
        HostedZoneId=zone["Id"], StartRecordName=name, StartRecordType="A", MaxItems="1"
    )["ResourceRecordSets"]
    record = next((r for r in records if r["Name"].lower() == name and r["Type"] == "A"), None)
    if record is None:
        raise NoRoute(502, f"{domain}: no A record in the Route 53 zone {zone['Name']} (the name does not resolve)")
    alias = record.get("AliasTarget", {}).get("DNSName", "").lower().rstrip(".").removeprefix("dualstack.")
    if not alias:
        raise NoRoute(502, f"{domain}: its A record is not an alias of a load balancer: {record}")
    balancers = [
        balancer
        for page in elbv2.get_paginator("describe_load_balancers").paginate()
        for balancer in page["LoadBalancers"]
        if balancer["DNSName"].lower() == alias
    ]
    if not balancers:
        raise NoRoute(502, f"{domain}: its record points at {alias}, which is no load balancer of this account")
    balancer = balancers[0]
    listeners = elbv2.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    listener = next(
        (listener for listener in listeners if listener["Protocol"] == "HTTPS" and listener["Port"] == listener_port),
        None,
    )
    if listener is None:
        raise NoRoute(
            503,
            f"{domain}: the load balancer {balancer['LoadBalancerName']} has no HTTPS listener on port {listener_port}",
        )
    rules_of = {other["ListenerArn"]: _listener_rules(elbv2, other) for other in listeners}
    rules = rules_of[listener["ListenerArn"]]
    group_arn = rules[-1].group
    if group_arn is None:
        raise NoRoute(
            503,
            f"{domain}: the HTTPS listener on port {listener_port} of the load balancer"
            f" {balancer['LoadBalancerName']} does not forward",
        )
    # Every group a listener or rule forwards to: the load balancer health-checks them all.
    every = [rule.group for others in rules_of.values() for rule in others]
    arns = list(dict.fromkeys([group_arn, *(rule.group for rule in rules), *every]))
    arns = [arn for arn in arns if arn]
    groups = []
    for group in elbv2.describe_target_groups(TargetGroupArns=arns)["TargetGroups"]:
        registered = elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])["TargetHealthDescriptions"]
        groups.append(
            TargetGroup(
                arn=group["TargetGroupArn"],
                path=group.get("HealthCheckPath", "/"),
                timeout=float(group.get("HealthCheckTimeoutSeconds", 5)),
                healthy_threshold=int(group.get("HealthyThresholdCount", 5)),
                unhealthy_threshold=int(group.get("UnhealthyThresholdCount", 2)),
                success_codes=group.get("Matcher", {}).get("HttpCode", "200"),
                targets=[
                    (target["Target"]["Id"], int(target["Target"]["Port"]))
                    for target in registered
                    if target.get("TargetHealth", {}).get("State") not in ("unused", "draining")
                ],
            )
        )
    group = next(group for group in groups if group.arn == group_arn)
    return Route(
        load_balancer=balancer["DNSName"],
        group=group,
        groups=groups,
        load_balancer_arn=balancer["LoadBalancerArn"],
        rules=rules,
    )


def _b64(data: bytes) -> str:
    """base64url with its padding, as the ALB writes a header's segments."""
    return base64.urlsafe_b64encode(data).decode()


@dataclass
class Signer:
    """The edge's ES256 key: signs identity headers as an ALB does, and serves its public key."""

    key: ec.EllipticCurvePrivateKey
    kid: str

    @classmethod
    def load_or_make(cls, key_file: Path | None) -> Signer:
        if key_file is None:
            key = ec.generate_private_key(ec.SECP256R1())
        else:
            # Made once, by whichever edge comes first, and published whole: written beside the
            # key file, then linked to its name, which fails if another edge published first
            # (the edges start together; one once read the other's half-written key).
            key = ec.generate_private_key(ec.SECP256R1())
            staging = key_file.with_name(f".{key_file.name}.{os.getpid()}.{threading.get_ident()}")
            with os.fdopen(os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
                out.write(
                    key.private_bytes(
                        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                    )
                )
            try:
                os.link(staging, key_file)
            except FileExistsError:
                key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
            finally:
                staging.unlink()
        kid = hashlib.sha256(cls._public_der(key)).hexdigest()[:32]
        return cls(key=key, kid=kid)

    @staticmethod
    def _public_der(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def identity(self, signer: str, oidc: dict, sub: str, email: str) -> str:
        expires = int(time.time()) + IDENTITY_SECONDS
        header = {
            "alg": "ES256",
            "kid": self.kid,
            "signer": signer,
            "iss": oidc.get("Issuer", ""),
            "client": oidc.get("ClientId", ""),
            "exp": expires,
        }
        claims = {"sub": sub, "email": email, "exp": expires, "iss": oidc.get("Issuer", "")}
        signed = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self.key.sign(signed.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signed}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


@dataclass
class Edge:
    domain: str
    interval: float
    listener_port: int = 443
    route53: object = None
    elbv2: object = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    refreshing: threading.Lock = field(default_factory=threading.Lock)
    refreshed_at: float = float("-inf")
    load_balancer: str = ""
    group: TargetGroup | None = None
    groups: dict[str, TargetGroup] = field(default_factory=dict)
    problem: NoRoute | None = NoRoute(503, "the route has not been followed yet")
    load_balancer_arn: str = ""
    rules: list[Rule] = field(default_factory=list)
    # Sign-in: the key identity headers are signed with, the rehearsal's person, open sessions.
    signer: Signer | None = None
    person_sub: str = "rehearsal-person"
    person_email: str = "person@rehearsal.test"
    sessions: set[str] = field(default_factory=set)
    # Per target group and target, as a load balancer keeps it.
    health: dict[tuple[str, tuple[str, int]], TargetHealth] = field(default_factory=dict)
    _turn: itertools.count = field(default_factory=itertools.count)

    def refresh(self) -> None:
        """Follow the route again when it is older than the interval (one request at a time)."""
        with self.refreshing:
            if time.monotonic() - self.refreshed_at < self.interval:
                return
            try:
                route = follow(self.route53, self.elbv2, self.domain, self.listener_port)
                problem = None
            except NoRoute as exc:
                route, problem = None, exc
            except Exception as exc:  # AWS (moto) unreachable for a moment: keep the last route
                LOG.warning("could not follow the route of %s:%d: %s", self.domain, self.listener_port, exc)
                return
            self.refreshed_at = time.monotonic()
            group = route.group if route else None
            with self.lock:
                changed = (problem and problem.detail) != (self.problem and self.problem.detail) or (
                    group and self.group and (group.arn, group.targets) != (self.group.arn, self.group.targets)
                )
                self.load_balancer, self.group, self.problem = route.load_balancer if route else "", group, problem
                self.load_balancer_arn = route.load_balancer_arn if route else ""
                self.rules = route.rules if route else []
                self.groups = {group.arn: group for group in route.groups} if route else {}
                self.health = {
                    (group.arn, target): self.health.get((group.arn, target)) or TargetHealth()
                    for group in self.groups.values()
                    for target in group.targets
                }
            if changed:
                LOG.info(
                    "route of %s:%d: %s",
                    self.domain,
                    self.listener_port,
                    problem.detail if problem else f"{route.load_balancer} -> {group}",
                )

    def check_targets(self) -> None:
        """One round of the target groups' health checks on their targets, as of the last route."""
        with self.lock:
            groups, targets = self.groups, list(self.health.items())
        for (arn, target), state in targets:
            self._check(target, groups[arn], state)

    def _check(self, target: tuple[str, int], group: TargetGroup, state: TargetHealth) -> None:
        """One health check of the target group's, counted against its thresholds."""
        host, port = target
        try:
            connection = http.client.HTTPConnection(host, port, timeout=group.timeout)
            connection.request("GET", group.path, headers={"User-Agent": "ELB-HealthChecker/2.0"})
            status = connection.getresponse().status
            connection.close()
            ok, reason = _codes_match(status, group.success_codes), f"{group.path} answered {status}"
        except OSError as exc:
            ok, reason = False, f"{group.path}: {exc}"
        with self.lock:
            if ok:
                state.successes, state.failures = state.successes + 1, 0
            else:
                state.successes, state.failures = 0, state.failures + 1
            was = state.healthy
            if ok and state.successes >= group.healthy_threshold:
                state.healthy = True
            elif not ok and (state.failures >= group.unhealthy_threshold or not state.healthy):
                state.healthy = False
            state.reason = reason
        if state.healthy != was:
            LOG.info(
                "target %s:%d is %s (%s), in %s",
                host,
                port,
                "healthy" if state.healthy else "unhealthy",
                reason,
                group.arn,
            )

    def rule_for(self, path: str) -> Rule:
        """What the listener does with a request for `path`: the first rule matching it, by priority."""
        self.refresh()
        with self.lock:
            if self.problem:
                raise self.problem
            return next(rule for rule in self.rules if rule.matches(path))

    def pick(self, group_arn: str | None = None) -> tuple[str, int]:
        """A healthy target of the group (the default action's unless named), in turn; NoRoute when there is none."""
        self.refresh()
        with self.lock:
            if self.problem:
                raise self.problem
            if group_arn is not None and group_arn not in self.groups:
                raise NoRoute(503, f"{self.domain}: the rule's target group {group_arn} is not known yet")
            states = self._states(group_arn)
            healthy = [target for target, state in states if state.healthy]
            if not healthy:
                if not states:
                    raise NoRoute(503, f"{self.domain}: the target group has no registered targets")
                reasons = "; ".join(f"{host}:{port} {state.reason}" for (host, port), state in states)
                raise NoRoute(503, f"{self.domain}: no healthy target ({reasons})")
            return healthy[next(self._turn) % len(healthy)]

    def _states(self, arn: str | None = None) -> list[tuple[tuple[str, int], TargetHealth]]:
        """The targets of a target group (the listener's by default) and their health; hold the lock."""
        arn = arn or (self.group.arn if self.group else None)
        return [(target, state) for (group, target), state in self.health.items() if group == arn]

    def describe(self) -> dict:
        self.refresh()
        with self.lock:

            def targets(arn: str | None = None) -> list[dict]:
                return [
                    {"target": f"{host}:{port}", "healthy": state.healthy, "reason": state.reason}
                    for (host, port), state in self._states(arn)
                ]

            return {
                "domain": self.domain,
                "listener_port": self.listener_port,
                "rules": [
                    {
                        "priority": None if rule.patterns is None else rule.priority,
                        "paths": None if rule.patterns is None else [p.pattern for p in rule.patterns],
                        "target_group": rule.group,
                        "sign_in": rule.oidc.get("OnUnauthenticatedRequest", "authenticate") if rule.oidc else None,
                    }
                    for rule in self.rules
                ],
                "problem": self.problem.detail if self.problem else None,
                "load_balancer": self.load_balancer,
                "target_group": self.group.arn if self.group else None,
                "health_check": {"path": self.group.path, "timeout": self.group.timeout} if self.group else None,
                "targets": targets(),
                # Every group the load balancer's listeners forward to, this listener's included.
                "target_groups": {arn: targets(arn) for arn in self.groups},
            }

    def run_health_checks(self) -> None:
        while True:
            self.check_targets()
            time.sleep(self.interval)


def handler_for(edge: Edge) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # noqa: A002 - the base class's signature
            pass  # the service logs its requests; the edge logs route changes only

        def _answer(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, document: dict) -> None:
            self._answer(status, json.dumps(document).encode(), [("Content-Type", "application/json")])

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            path = self.path
            if path.startswith(("http://", "https://")):  # absolute form: keep the path only
                path = "/" + path.split("/", 3)[3] if path.count("/") >= 3 else "/"
            if path == ROUTE_PATH:
                self._json(200, edge.describe())
                return
            if path == ALIVE_PATH:
                self._json(200, {"status": "alive", "listener_port": edge.listener_port})
                return
            if path.startswith(PUBLIC_KEYS_PATH):
                if edge.signer and path[len(PUBLIC_KEYS_PATH) :] == edge.signer.kid:
                    self._answer(200, edge.signer.public_pem(), [("Content-Type", "application/x-pem-file")])
                else:
                    self._json(404, {"error": "not_found", "detail": "no such key id"})
                return
            if path.split("?", 1)[0] == SIGN_IN_PATH:
                self._sign_in(path)
                return
            try:
                rule = edge.rule_for(path)
                identity = self._identity(rule, path)
                if identity is None:
                    return  # answered: the way to sign in, or refused
                host, port = edge.pick(rule.group)
            except NoRoute as exc:
                self._json(exc.status, {"error": "no_route", "detail": exc.detail})
                return
            headers = {name: value for name, value in self.headers.items() if name.lower() not in HOP_BY_HOP}
            if identity:  # the edge's own, never the client's
                headers = {
                    name: value for name, value in headers.items() if not name.lower().startswith("x-amzn-oidc-")
                }
                headers.update(identity)
            headers["X-Forwarded-For"] = self.client_address[0]
            headers["X-Forwarded-Proto"] = "https"
            headers["X-Forwarded-Port"] = str(edge.listener_port)
            try:
                connection = http.client.HTTPConnection(host, port, timeout=60)
                connection.request(self.command, path, body=body, headers=headers)
                response = connection.getresponse()
                answer = response.read()
                kept = [(name, value) for name, value in response.getheaders() if name.lower() not in HOP_BY_HOP]
                kept = [(name, value) for name, value in kept if name.lower() != "content-length"]
                connection.close()
            except OSError as exc:
                self._json(502, {"error": "target_unreachable", "detail": f"{host}:{port}: {exc}"})
                return
            self._answer(response.status, answer, kept)

        def _session(self, oidc: dict) -> str | None:
            cookies = http.cookies.SimpleCookie()
            try:
                cookies.load(self.headers.get("Cookie", ""))
            except http.cookies.CookieError:
                return None
            morsel = cookies.get(oidc.get("SessionCookieName", "AWSELBAuthSessionCookie") + "-0")
            return morsel.value if morsel and morsel.value in edge.sessions else None

        def _identity(self, rule: Rule, path: str) -> dict[str, str] | None:
            """The identity headers to add ({} for none), or None once the request is answered
            (sent to sign in, or refused), as the rule's authenticate-oidc action would."""
            if rule.oidc is None:
                return {}
            if self._session(rule.oidc):
                return {
                    "x-amzn-oidc-data": edge.signer.identity(
                        edge.load_balancer_arn, rule.oidc, edge.person_sub, edge.person_email
                    ),
                    "x-amzn-oidc-identity": edge.person_sub,
                    "x-amzn-oidc-accesstoken": secrets.token_urlsafe(32),
                }
            unauthenticated = rule.oidc.get("OnUnauthenticatedRequest", "authenticate")
            if unauthenticated == "allow":
                return {}
            if unauthenticated == "deny":
                self._json(401, {"error": "unauthenticated", "detail": "sign in first"})
                return None
            location = f"{SIGN_IN_PATH}?{urllib.parse.urlencode({'redirect': path})}"
            self._answer(302, b"", [("Location", location), ("Cache-Control", "no-store")])
            return None

        def _sign_in(self, path: str) -> None:
            """The identity provider's part, for the rehearsal's one person: a session, then back."""
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
            back = query.get("redirect", ["/"])[0]
            if not back.startswith("/") or back.startswith("//"):  # never off this site
                back = "/"
            session = secrets.token_urlsafe(32)
            edge.sessions.add(session)
            oidc = next((rule.oidc for rule in edge.rules if rule.oidc), {})
            name = oidc.get("SessionCookieName", "AWSELBAuthSessionCookie") + "-0"
            cookie = f"{name}={session}; Path=/; HttpOnly; SameSite=Lax"
            self._answer(302, b"", [("Location", back), ("Set-Cookie", cookie), ("Cache-Control", "no-store")])

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _forward

    return Handler


class EdgeServer(http.server.ThreadingHTTPServer):
    # A load balancer takes bursts of new connections: with socketserver's default listen queue
    # of 5, the kernel drops the rest of a burst and those clients wait a second to retry.
    request_queue_size = 128
    daemon_threads = True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--domain", required=True, help="the service's name, as users reach it")
    parser.add_argument("--port", type=int, required=True, help="loopback port to serve on")
    parser.add_argument(
        "--listener-port",
        type=int,
        default=443,
        help="port of the load balancer's HTTPS listener whose requests this edge plays (default 443)",
    )
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between route and health checks")
    parser.add_argument("--person-sub", default="rehearsal-person", help="the signed-in person's sub")
    parser.add_argument("--person-email", default="person@rehearsal.test", help="the signed-in person's email")
    parser.add_argument(
        "--key-file",
        type=Path,
        help="PEM file of the key identity headers are signed with: made when missing, so that edges sharing it"
        " sign alike (default: a key of this process's own)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    edge = Edge(
        domain=args.domain,
        interval=args.interval,
        listener_port=args.listener_port,
        route53=boto3.client("route53"),
        elbv2=boto3.client("elbv2"),
        signer=Signer.load_or_make(args.key_file),
        person_sub=args.person_sub,
        person_email=args.person_email,
    )
    threading.Thread(target=edge.run_health_checks, name="health-checks", daemon=True).start()
    server = EdgeServer(("127.0.0.1", args.port), handler_for(edge))
    LOG.info("serving %s (listener port %d) on http://127.0.0.1:%d", args.domain, args.listener_port, args.port)
    server.serve_forever()


if __name__ == "__main__":
    main()
