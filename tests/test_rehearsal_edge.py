"""The rehearsal's edge (roles/rehearsal_edge/files/rehearsal_edge.py) against moto: a request
reaches a target only by the way it would in AWS - the name's Route 53 record, the load balancer
it is an alias of, its HTTPS listener on the edge's port, that listener's target group, a
registered target passing that group's health check - and each broken link is answered 502 or
503 naming it. Two edges play blue/green's two listeners: users' (443) and the test listener."""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.alb_identity_headers import alb_header
from tests.helpers import API_TOKEN, FLOAT32, ROOT, SCREENSHOTS, serve_sample
from tests.runbook_runs import JsonAnswers, aws_client_factory, moto_server, self_signed_certificate, serve_on_loopback
from tools.benchmark import free_port
from webapp import alb_identity

pytestmark = pytest.mark.slow

EDGE = ROOT / "roles" / "rehearsal_edge" / "files" / "rehearsal_edge.py"
DOMAIN = "search.edge.test"
TEST_PORT = 8443  # the test listener's (service_test_port)
INTERVAL = 0.5  # the edges' --interval


class Target:
    """A task: answers /health/ready as told, and any other path with its path, its own identity,
    the listener port the request came through and the identity headers it got."""

    def __init__(self, identity: str = "task"):
        self.ready = True
        target = self

        class Handler(JsonAnswers):
            def do_GET(self):
                status = 200 if self.path != "/health/ready" or target.ready else 503
                self.answer(
                    status,
                    {
                        "path": self.path,
                        "host": self.headers["Host"],
                        "target": identity,
                        "forwarded_port": self.headers["X-Forwarded-Port"],
                        "oidc_data": self.headers["x-amzn-oidc-data"],
                        "oidc_identity": self.headers["x-amzn-oidc-identity"],
                        "oidc_accesstoken": self.headers["x-amzn-oidc-accesstoken"],
                    },
                )

        self.server = serve_on_loopback(Handler)
        self.port = self.server.server_port


def start_edge(environment: dict, log, *arguments: str) -> tuple[subprocess.Popen, str]:
    """An edge process on a free port, and its URL."""
    port = free_port()
    edge = subprocess.Popen(
        [sys.executable, str(EDGE), f"--domain={DOMAIN}", f"--port={port}", f"--interval={INTERVAL}", *arguments],
        env={**environment, "AWS_DEFAULT_REGION": "ap-south-1", "PATH": ""},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return edge, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """moto with a zone, a load balancer whose HTTPS listener (443) forwards to a target group and
    whose test listener (8443) forwards to another (blue/green's slots), and an edge for each."""
    base = tmp_path_factory.mktemp("edge")
    with moto_server(free_port(), base / "moto.log") as url:
        aws = aws_client_factory(url)
        ec2, elbv2 = aws("ec2"), aws("elbv2")
        vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.7.{i}.0/24", AvailabilityZone=f"ap-south-1{z}")["Subnet"][
                "SubnetId"
            ]
            for i, z in enumerate("ab")
        ]
        balancer = elbv2.create_load_balancer(Name="edge", Subnets=subnets)["LoadBalancers"][0]
        group, test_group = (
            elbv2.create_target_group(
                Name=name,
                Protocol="HTTP",
                Port=8000,
                VpcId=vpc,
                TargetType="ip",
                HealthCheckPath="/health/ready",
                HealthCheckTimeoutSeconds=2,
                HealthyThresholdCount=2,
                UnhealthyThresholdCount=2,
            )["TargetGroups"][0]["TargetGroupArn"]  # fmt: skip
            for name in ("edge-api", "edge-api-green")
        )
        certificate, key = self_signed_certificate(DOMAIN)
        certificate_arn = aws("acm").import_certificate(Certificate=certificate, PrivateKey=key)["CertificateArn"]
        listener, test_listener = (
            elbv2.create_listener(
                LoadBalancerArn=balancer["LoadBalancerArn"],
                Protocol="HTTPS",
                Port=port,
                Certificates=[{"CertificateArn": certificate_arn}],
                DefaultActions=[{"Type": "forward", "TargetGroupArn": forwarded}],
            )["Listeners"][0]["ListenerArn"]  # fmt: skip
            for port, forwarded in ((443, group), (TEST_PORT, test_group))
        )
        zone = aws("route53").create_hosted_zone(Name="edge.test", CallerReference="edge")["HostedZone"]["Id"]
        environment = {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        with (base / "edge.log").open("w") as log, (base / "edge-test.log").open("w") as test_log:
            # Both edges sign with one key, as the rehearsal's do (the first one makes it).
            key_file = f"--key-file={base / 'edge-key.pem'}"
            edge, edge_url = start_edge(environment, log, key_file)
            test_edge, test_edge_url = start_edge(environment, test_log, f"--listener-port={TEST_PORT}", key_file)
        world = type("World", (), {"aws": aws, "group": group, "zone": zone, "balancer": balancer})
        world.key_file = base / "edge-key.pem"
        world.url, world.listener = edge_url, listener
        world.test_url, world.test_group, world.test_listener = test_edge_url, test_group, test_listener
        for edge_url in (world.url, world.test_url):
            for _ in range(100):
                try:
                    requests.get(f"{edge_url}/.rehearsal-edge/alive", timeout=2)
                    break
                except requests.ConnectionError:
                    time.sleep(0.2)
        yield world
        for process in (edge, test_edge):
            process.terminate()
        for process in (edge, test_edge):
            process.wait(timeout=30)


def alias(world, target: str) -> None:
    world.aws("route53").change_resource_record_sets(
        HostedZoneId=world.zone,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": DOMAIN,
                        "Type": "A",
                        "AliasTarget": {
                            "HostedZoneId": "ZP97RAFLXTNZK",
                            "DNSName": target,
                            "EvaluateTargetHealth": True,
                        },
                    },
                }
            ]
        },
    )


def answer(
    world, path: str = "/search", status: int = 200, saying: str = "", within: float = 15, edge: str = ""
) -> requests.Response:
    """The answer of the edge at `edge` (users': world.url by default) to `path` once it has `status`
    and says `saying` (the edge follows the route again every half second, and health-checks as
    often): the last answer after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        response = requests.get((edge or world.url) + path, timeout=10)
        if (response.status_code == status and saying in response.text) or time.monotonic() > deadline:
            return response
        time.sleep(0.3)


def test_a_name_without_a_record_does_not_resolve(world):
    response = answer(world, status=502, saying="no A record")
    assert response.status_code == 502 and "no A record" in response.json()["detail"]


def test_a_record_pointing_elsewhere_reaches_nothing(world):
    alias(world, "somewhere-else.ap-south-1.elb.amazonaws.com")
    response = answer(world, status=502, saying="which is no load balancer")
    assert response.status_code == 502 and "which is no load balancer" in response.json()["detail"]


def test_an_empty_target_group_answers_503(world):
    alias(world, world.balancer["DNSName"] + ".")
    response = answer(world, status=503, saying="no registered targets")
    assert response.status_code == 503 and "no registered targets" in response.json()["detail"]


def test_a_registered_healthy_target_gets_the_request(world):
    target = Target()
    world.target = target
    world.aws("elbv2").register_targets(TargetGroupArn=world.group, Targets=[{"Id": "127.0.0.1", "Port": target.port}])
    response = answer(world, "/search/cosine")
    assert response.status_code == 200
    assert response.json()["path"] == "/search/cosine"
    route = requests.get(world.url + "/.rehearsal-edge/route", timeout=10).json()
    assert route["health_check"]["path"] == "/health/ready"
    assert route["targets"] == [
        {"target": f"127.0.0.1:{target.port}", "healthy": True, "reason": "/health/ready answered 200"}
    ]


def test_a_target_failing_the_group_s_health_check_gets_nothing(world):
    world.target.ready = False
    response = answer(world, status=503, saying="no healthy target")
    assert response.status_code == 503 and "no healthy target" in response.json()["detail"]
    assert "/health/ready answered 503" in response.json()["detail"]
    world.target.ready = True
    assert answer(world).status_code == 200


def test_a_deregistered_target_gets_nothing(world):
    world.aws("elbv2").deregister_targets(
        TargetGroupArn=world.group, Targets=[{"Id": "127.0.0.1", "Port": world.target.port}]
    )
    response = answer(world, status=503, saying="no registered targets")
    assert response.status_code == 503 and "no registered targets" in response.json()["detail"]


def route(edge: str) -> dict:
    return requests.get(edge + "/.rehearsal-edge/route", timeout=10).json()


def test_each_edge_reaches_its_own_listener_s_target(world):
    """Blue/green: users' listener forwards to the live slot's group, the test listener to the other's."""
    world.blue, world.green = Target("blue"), Target("green")
    elbv2 = world.aws("elbv2")
    for group, target in ((world.group, world.blue), (world.test_group, world.green)):
        elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": "127.0.0.1", "Port": target.port}])
    users = answer(world, saying='"blue"')
    testers = answer(world, saying='"green"', edge=world.test_url)
    assert users.status_code == 200 and users.json()["target"] == "blue"
    assert testers.status_code == 200 and testers.json()["target"] == "green"
    # Each says which listener the request came through, as the load balancer does.
    assert users.json()["forwarded_port"] == "443" and testers.json()["forwarded_port"] == str(TEST_PORT)
    alive = requests.get(world.test_url + "/.rehearsal-edge/alive", timeout=10).json()
    assert alive == {"status": "alive", "listener_port": TEST_PORT}
    assert (route(world.url)["listener_port"], route(world.url)["target_group"]) == (443, world.group)
    assert (route(world.test_url)["listener_port"], route(world.test_url)["target_group"]) == (
        TEST_PORT,
        world.test_group,
    )


def test_switching_the_listener_moves_users_traffic_losing_no_request(world):
    """The switch a release makes: users' listener forwards to the other slot's group. The users'
    edge already health-checks that group (the test listener forwards to it, and the load balancer
    checks every group its listeners forward to), so it moves at its next walk of the route."""
    green = f"127.0.0.1:{world.green.port}"
    deadline = time.monotonic() + 15
    while not any(
        target["target"] == green and target["healthy"]
        for target in route(world.url)["target_groups"].get(world.test_group, [])
    ):
        assert time.monotonic() < deadline, route(world.url)
        time.sleep(0.1)
    elbv2 = world.aws("elbv2")
    elbv2.modify_listener(
        ListenerArn=world.listener, DefaultActions=[{"Type": "forward", "TargetGroupArn": world.test_group}]
    )
    switched_at, answers = time.monotonic(), []
    while not answers or answers[-1] != (200, "green") and time.monotonic() - switched_at < 10:
        response = requests.get(world.url + "/search", timeout=10)
        answers.append((response.status_code, response.json().get("target")))
        time.sleep(0.05)
    moved_after = time.monotonic() - switched_at
    assert answers[-1] == (200, "green"), answers
    assert {status for status, _ in answers} == {200}, answers
    # Within the edge's interval (and a request's time): it walks the route again at most that late.
    assert moved_after < INTERVAL + 1, (moved_after, answers)
    assert route(world.url)["target_group"] == world.test_group
    # And back, as a rollback's switch.
    elbv2.modify_listener(
        ListenerArn=world.listener, DefaultActions=[{"Type": "forward", "TargetGroupArn": world.group}]
    )
    assert answer(world, saying='"blue"').json()["target"] == "blue"


def test_an_edge_whose_listener_is_gone_answers_503_naming_its_port(world):
    world.aws("elbv2").delete_listener(ListenerArn=world.test_listener)
    response = answer(world, status=503, saying=f"no HTTPS listener on port {TEST_PORT}", edge=world.test_url)
    assert response.status_code == 503
    assert f"no HTTPS listener on port {TEST_PORT}" in response.json()["detail"]
    # Users' listener still forwards.
    assert answer(world).json()["target"] == "blue"


OIDC = {
    "Issuer": "https://sign-in.rehearsal.test",
    "AuthorizationEndpoint": "https://sign-in.rehearsal.test/authorize",
    "TokenEndpoint": "https://sign-in.rehearsal.test/token",
    "UserInfoEndpoint": "https://sign-in.rehearsal.test/userinfo",
    "ClientId": "search-page",
    "ClientSecret": "rehearsal-client-secret",
}


def sign_in_rule(priority: int, paths: list[str], unauthenticated: str | None, group: str) -> dict:
    actions = [{"Type": "forward", "Order": 2, "TargetGroupArn": group}]
    if unauthenticated:
        config = {**OIDC, "OnUnauthenticatedRequest": unauthenticated}
        actions.insert(0, {"Type": "authenticate-oidc", "Order": 1, "AuthenticateOidcConfig": config})
    return {
        "Priority": priority,
        "Conditions": [{"Field": "path-pattern", "PathPatternConfig": {"Values": paths}}],
        "Actions": actions,
    }


@pytest.fixture(scope="module")
def signing_in(world):
    """Users' listener as roles/load_balancer makes it with sign-in on (the page's paths sign in,
    the rest may), and a rule of its own before them sending /green/* to the other group."""
    elbv2 = world.aws("elbv2")
    for rule in (
        sign_in_rule(10, ["/", "/static/*"], "authenticate", world.group),
        sign_in_rule(20, ["/*"], "allow", world.group),
        sign_in_rule(5, ["/green/*"], None, world.test_group),
    ):
        elbv2.create_rule(ListenerArn=world.listener, **rule)
    # Followed once the edge has walked the route again.
    deadline = time.monotonic() + 15
    while len(route(world.url).get("rules", [])) < 4:
        assert time.monotonic() < deadline, route(world.url)
        time.sleep(0.2)
    return world


def verified(edge: str, token: str) -> tuple[dict, dict]:
    """The identity header's JWT header and claims, its signature checked with the key the edge serves."""
    header = jwt.get_unverified_header(token)
    key = requests.get(f"{edge}/.rehearsal-edge/public-keys/{header['kid']}", timeout=10)
    assert key.status_code == 200
    claims = jwt.decode(token, load_pem_public_key(key.content), algorithms=["ES256"])
    return header, claims


def test_rules_are_followed_by_priority(signing_in):
    world = signing_in
    assert answer(world, "/green/search", saying='"green"').json()["target"] == "green"
    assert answer(world, "/search", saying='"blue"').json()["target"] == "blue"
    priorities = [rule["priority"] for rule in route(world.url)["rules"]]
    assert priorities == [5, 10, 20, None]


def test_the_page_s_path_sends_a_person_to_sign_in(signing_in):
    response = requests.get(signing_in.url + "/", allow_redirects=False, timeout=10)
    assert response.status_code == 302
    assert response.headers["Location"] == "/.rehearsal-edge/sign-in?redirect=%2F"
    static = requests.get(signing_in.url + "/static/search.js", allow_redirects=False, timeout=10)
    assert static.status_code == 302 and "redirect=%2Fstatic%2Fsearch.js" in static.headers["Location"]


def test_after_sign_in_the_target_gets_an_identity_the_served_key_verifies(signing_in):
    world = signing_in
    person = requests.Session()
    page = person.get(world.url + "/?query=rates", timeout=10)
    assert page.status_code == 200 and page.json()["path"] == "/?query=rates"
    assert [r.status_code for r in page.history] == [302, 302]
    assert person.cookies.get("AWSELBAuthSessionCookie-0")
    token = page.json()["oidc_data"]
    header, claims = verified(world.url, token)
    balancer = world.balancer["LoadBalancerArn"]
    assert header["alg"] == "ES256" and header["signer"] == balancer
    assert (header["iss"], header["client"]) == (OIDC["Issuer"], OIDC["ClientId"])
    assert claims["sub"] == "rehearsal-person" and claims["email"] == "person@rehearsal.test"
    assert claims["iss"] == OIDC["Issuer"] and 0 < claims["exp"] - time.time() <= 120
    # Padded base64 segments, as the ALB writes them.
    assert token.split(".")[2].endswith("=")
    # The service accepts it as the load balancer's, with its key from the edge (the rehearsal's
    # FINNEWS_ALB_PUBLIC_KEY_URL), and refuses it from any other signer.
    keys = alb_identity.PublicKeys(world.url + "/.rehearsal-edge/public-keys/{kid}")
    assert alb_identity.verify(token, (balancer,), keys).sub == "rehearsal-person"
    with pytest.raises(alb_identity.IdentityRefused):
        alb_identity.verify(token, (balancer.replace(balancer.rsplit("/", 1)[1], "0" * 16),), keys)
    assert page.json()["oidc_identity"] == "rehearsal-person" and page.json()["oidc_accesstoken"]
    # The signed-in person's searches (the catch-all rule) carry the identity too; a header the
    # client sends is replaced by the edge's own.
    search = person.get(world.url + "/search", headers={"x-amzn-oidc-data": "forged"}, timeout=10).json()
    assert search["oidc_data"] not in (None, "forged") and verified(world.url, search["oidc_data"])[1]["sub"]


def test_the_api_without_a_session_passes_without_identity(signing_in):
    world = signing_in
    plain = requests.get(world.url + "/search", headers={"Authorization": "Bearer t"}, timeout=10).json()
    assert plain["target"] == "blue" and plain["oidc_data"] is None and plain["oidc_identity"] is None
    # What a client sends itself reaches the service untouched: the service must refuse it.
    forged = requests.get(world.url + "/search", headers={"x-amzn-oidc-data": "forged"}, timeout=10).json()
    assert forged["oidc_data"] == "forged"


def test_an_unknown_key_id_and_an_outside_redirect_are_refused(signing_in):
    assert requests.get(signing_in.url + "/.rehearsal-edge/public-keys/nope", timeout=10).status_code == 404
    away = requests.get(
        signing_in.url + "/.rehearsal-edge/sign-in?redirect=//elsewhere.test/", allow_redirects=False, timeout=10
    )
    assert away.status_code == 302 and away.headers["Location"] == "/"


@pytest.fixture(scope="module")
def signed_in_service(signing_in, model_cache_dir, sample_index, tmp_path_factory):
    """The service under gunicorn as a task of the rehearsal runs it with sign-in on - API clients
    need a token; a person is whoever the load balancer (moto's, played by the edge) signs in, its
    key fetched from users' edge - in place of the stand-ins in users' target group."""
    world = signing_in
    server = serve_sample(
        model_cache_dir,
        sample_index,
        tmp_path_factory.mktemp("signed-in"),
        FINNEWS_API_TOKENS=API_TOKEN,
        FINNEWS_ALB_SIGNERS=world.balancer["LoadBalancerArn"],
        FINNEWS_ALB_PUBLIC_KEY_URL=world.url + "/.rehearsal-edge/public-keys/{kid}",
        **{f"FINNEWS_{name}": value for name, value in FLOAT32.items()},
    )
    elbv2 = world.aws("elbv2")
    stand_ins = elbv2.describe_target_health(TargetGroupArn=world.group)["TargetHealthDescriptions"]
    if stand_ins:
        elbv2.deregister_targets(TargetGroupArn=world.group, Targets=[t["Target"] for t in stand_ins])
    port = int(server.url.rsplit(":", 1)[1])
    elbv2.register_targets(TargetGroupArn=world.group, Targets=[{"Id": "127.0.0.1", "Port": port}])
    assert answer(world, "/openapi.json", saying='"openapi"').status_code == 200
    yield world
    server.stop()


def search_through_the_edge(world, headers: dict) -> requests.Response:
    return requests.post(
        world.url + "/search/cosine/embedding384d/", json={"query": "dividend cut"}, headers=headers, timeout=60
    )


@pytest.mark.browser
def test_a_person_signs_in_at_the_edge_and_searches_from_a_shared_address(signed_in_service, browser):
    """Issue 21's whole path: a shared address with filters and a page, opened by a person who has
    no token - the edge (the load balancer) signs them in, signs their page and searches, and the
    service verifies the header with the key the edge serves."""
    world = signed_in_service
    shared = "/?query=dividend+cut&field=embedding768d&type=filing_summary&sentiment=negative&size=10&page=2"
    browser.delete_all_cookies()
    browser.get(world.url + shared)
    WebDriverWait(browser, 60).until(lambda b: b.find_element(By.ID, "status").text.startswith("Results"))
    # Sent to sign in and back to the address shared, with nothing typed.
    shared_query = parse_qs(urlsplit(shared).query)
    address = parse_qs(urlsplit(browser.current_url).query)
    assert browser.current_url.startswith(world.url + "/?")
    assert {name: address.get(name) for name in shared_query} == shared_query
    assert browser.find_element(By.ID, "identity").text == "Signed in as person@rehearsal.test"
    assert browser.find_elements(By.ID, "token") == []
    body = {
        "query": "dividend cut",
        "size": 10,
        "offset": 10,
        "doc_types": ["filing_summary"],
        "sentiments": ["negative"],
    }
    expected = requests.post(
        world.url + "/search/cosine/embedding768d/",
        json=body,
        headers={"Authorization": f"Bearer {API_TOKEN}"},
        timeout=60,
    ).json()
    shown = [e.get_attribute("data-id") for e in browser.find_elements(By.CSS_SELECTOR, ".result, .similar-item")]
    assert sorted(shown) == sorted(hit["id"] for hit in expected["results"]) and shown
    total = expected["total"]["value"]
    assert browser.find_element(By.ID, "range").text == f"11-{min(20, total)} of {total}"
    browser.save_screenshot(str(SCREENSHOTS / "search-signed-in-through-the-edge.png"))


def test_an_identity_header_the_edge_did_not_sign_now_is_refused(signed_in_service):
    """Without a session the edge passes what a client sends on (the service must not rely on the
    load balancer stripping it): a forged header, and one the edge's own key signed but expired,
    are 401, and so is a header of another load balancer; the person signed in is not."""
    world = signed_in_service
    key = serialization.load_pem_private_key(world.key_file.read_bytes(), password=None)
    kid = hashlib.sha256(
        key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).hexdigest()[:32]
    balancer = world.balancer["LoadBalancerArn"]
    refused = {
        "forged": alb_header(signer=balancer, kid=kid),  # the tests' key, not the edge's
        "expired": alb_header(key, signer=balancer, kid=kid, expires_in=-120),
        "another load balancer's": alb_header(key, signer=balancer[:-4] + "0000", kid=kid),
    }
    for case, header in refused.items():
        answer = search_through_the_edge(world, {"x-amzn-oidc-data": header})
        assert answer.status_code == 401, (case, answer.text)
        assert answer.json()["error"] == "unauthorized"
    # The same key, unexpired, from this load balancer: accepted (so the refusals above are the checks').
    assert search_through_the_edge(world, {"x-amzn-oidc-data": alb_header(key, signer=balancer, kid=kid)}).ok
    # A person the edge signed in searches without a token.
    person = requests.Session()
    assert person.get(world.url + "/", timeout=60).status_code == 200
    assert search_through_the_edge(world, {}).status_code == 401
    assert person.post(world.url + "/search/cosine/embedding384d/", json={"query": "dividend cut"}, timeout=60).ok


def test_edges_started_together_share_one_whole_signing_key(tmp_path, monkeypatch):
    """The rehearsal starts its edges at once with one key file: the second must never read the
    first one's half-written key (it did: an empty file, MalformedFraming, and no test edge)."""
    spec = importlib.util.spec_from_file_location("rehearsal_edge", EDGE)
    edge = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, edge)  # its dataclasses look their module up
    spec.loader.exec_module(edge)
    generate = edge.ec.generate_private_key

    def slow_generate(curve):
        time.sleep(0.5)  # the first edge is still making its key when the second starts
        return generate(curve)

    monkeypatch.setattr(edge.ec, "generate_private_key", slow_generate)
    key_file, signers, errors = tmp_path / "edge-key.pem", [], []

    def start():
        try:
            signers.append(edge.Signer.load_or_make(key_file))
        except Exception as error:  # noqa: BLE001 - the test reports whatever an edge died of
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
        time.sleep(0.1)
    for thread in threads:
        thread.join()
    assert not errors and len({signer.kid for signer in signers}) == 1
    assert [path.name for path in tmp_path.iterdir()] == ["edge-key.pem"]
