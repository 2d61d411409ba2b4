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
replaces those tasks, and the rehearsal has no ECS to do it); only a listener's default action
is followed (and its first target group when it forwards to several), not its rules.

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
import http.client
import http.server
import itertools
import json
import logging
import threading
import time
from dataclasses import dataclass, field

import boto3

LOG = logging.getLogger("rehearsal-edge")
ROUTE_PATH = "/.rehearsal-edge/route"
ALIVE_PATH = "/.rehearsal-edge/alive"
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
class Route:
    load_balancer: str  # its DNS name
    group: TargetGroup  # the one the listener forwards to
    groups: list[TargetGroup]  # every one the load balancer's listeners forward to (health-checked)


def _forwarded_group(listener: dict) -> str | None:
    """The target group a listener's default action forwards to, if it forwards."""
    for action in listener.get("DefaultActions", []):
        if action["Type"] == "forward":
            return action.get("TargetGroupArn") or action["ForwardConfig"]["TargetGroups"][0]["TargetGroupArn"]
    return None


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
    group_arn = _forwarded_group(listener)
    if group_arn is None:
        raise NoRoute(
            503,
            f"{domain}: the HTTPS listener on port {listener_port} of the load balancer"
            f" {balancer['LoadBalancerName']} does not forward",
        )
    # Every group a listener forwards to: the load balancer health-checks them all.
    arns = list(dict.fromkeys([group_arn, *filter(None, map(_forwarded_group, listeners))]))
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
    return Route(load_balancer=balancer["DNSName"], group=group, groups=groups)


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

    def pick(self) -> tuple[str, int]:
        """A healthy target, in turn; NoRoute when there is none."""
        self.refresh()
        with self.lock:
            if self.problem:
                raise self.problem
            states = self._states()
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
            try:
                host, port = edge.pick()
            except NoRoute as exc:
                self._json(exc.status, {"error": "no_route", "detail": exc.detail})
                return
            headers = {name: value for name, value in self.headers.items() if name.lower() not in HOP_BY_HOP}
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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    edge = Edge(
        domain=args.domain,
        interval=args.interval,
        listener_port=args.listener_port,
        route53=boto3.client("route53"),
        elbv2=boto3.client("elbv2"),
    )
    threading.Thread(target=edge.run_health_checks, name="health-checks", daemon=True).start()
    server = EdgeServer(("127.0.0.1", args.port), handler_for(edge))
    LOG.info("serving %s (listener port %d) on http://127.0.0.1:%d", args.domain, args.listener_port, args.port)
    server.serve_forever()


if __name__ == "__main__":
    main()
