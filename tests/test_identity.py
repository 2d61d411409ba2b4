"""A person signed in at the load balancer (issue 21): the identity header an ALB listener rule
with authenticate-oidc forwards, signed here the way the ALB signs it (ES256, base64 padding
kept in every segment and signed as it stands), its public key served as PEM from loopback as
the regional key endpoint serves it. Whatever is wrong with the header, the answer is 401."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import logging
import time

import pytest
import requests

from tests.alb_identity_headers import (
    EMAIL,
    KID,
    OTHER_SIGNER,
    REGION,
    SIGNER,
    SIGNING_KEY,
    STRANGER_KEY,
    SUB,
    KeyServer,
    alb_header,
    padded,
    pem,
)
from tests.helpers import API_TOKEN, OTHER_API_TOKEN, serve_sample
from webapp import SEARCH_SERVICE
from webapp.auth import Identity, request_identity, token_fingerprint
from webapp.settings import SettingsError, load_settings

SEARCH = "/search/cosine/embedding384d/"
BEARER = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture(scope="module")
def key_server():
    server = KeyServer()
    yield server
    server.server.shutdown()


@pytest.fixture
def signed_in_app(make_app, sample_index, key_server):
    """A closed service (API tokens) that also admits people signed in at SIGNER."""
    key_server.fetches.clear()
    return make_app(
        sample_index,
        API_TOKENS=f"{API_TOKEN}, {OTHER_API_TOKEN}",
        ALB_SIGNERS=f"{OTHER_SIGNER}, {SIGNER}",
        ALB_PUBLIC_KEY_URL=key_server.url_template,
    )


def as_person(header: str | None = None) -> dict:
    return {"X-Amzn-Oidc-Data": header or alb_header()}


def identity_of(app, headers: dict) -> Identity:
    with app.test_request_context(SEARCH, method="POST", headers=headers):
        return request_identity()


def test_a_signed_in_person_searches_without_a_token(signed_in_app, key_server):
    client = signed_in_app.test_client()
    answer = client.post(SEARCH, json={"query": "bank profits"}, headers=as_person())
    assert answer.status_code == 200, answer.get_json()
    assert client.get("/metrics", headers=as_person()).status_code == 200
    assert identity_of(signed_in_app, as_person()) == Identity(
        kind="person", key=f"person:{SUB}", label=SUB, display=EMAIL
    )
    # The key came from the signer's region, fetched once for every request above.
    assert key_server.fetches == {f"/{REGION}/{KID}": 1}


def test_the_page_names_a_person_by_name_without_an_email(signed_in_app):
    header = alb_header(claims={"sub": SUB, "name": "Ada Lovelace", "exp": int(time.time() + 60)})
    assert identity_of(signed_in_app, as_person(header)).display == "Ada Lovelace"
    assert identity_of(signed_in_app, as_person(alb_header(claims={"sub": SUB, "exp": int(time.time() + 60)}))) == (
        Identity(kind="person", key=f"person:{SUB}", label=SUB, display=None)
    )


REFUSED = {
    "expired": lambda: alb_header(expires_in=-120),
    "signed with another key": lambda: alb_header(STRANGER_KEY),
    "signed by a load balancer not configured": lambda: alb_header(signer=OTHER_SIGNER.replace("elsewhere", "theirs")),
    "an unknown key id": lambda: alb_header(kid="00000000-dead-beef-0000-000000000000"),
    "a key id that is no id": lambda: alb_header(kid="../../etc/passwd"),
    "a payload without a subject": lambda: alb_header(claims={"email": EMAIL, "exp": int(time.time() + 60)}),
    "a payload without exp": lambda: alb_header(claims={"sub": SUB}),
    "alg none": lambda: unsigned_header(),
    "HS256 keyed with the public key": lambda: hs256_header(),
    "another person's claims on a valid signature": lambda: swapped_payload(),
    "not a token": lambda: "not-a-token",
    "three segments of junk": lambda: "a.b.c",
}


def unsigned_header() -> str:
    header, payload, _ = alb_header().split(".")
    forged = json.loads(base64.urlsafe_b64decode(header))
    forged["alg"] = "none"
    return f"{padded(json.dumps(forged).encode())}.{payload}."


def hs256_header() -> str:
    """The algorithm-confusion forgery: HMAC keyed with the (public) PEM."""
    header, payload, _ = alb_header().split(".")
    forged = json.loads(base64.urlsafe_b64decode(header))
    forged["alg"] = "HS256"
    signing_input = f"{padded(json.dumps(forged).encode())}.{payload}"
    signature = hmac.new(pem(SIGNING_KEY), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{padded(signature)}"


def swapped_payload() -> str:
    header, _, signature = alb_header().split(".")
    other = {"sub": "someone-else", "exp": int(time.time() + 60)}
    return f"{header}.{padded(json.dumps(other).encode())}.{signature}"


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_an_identity_header_that_proves_nothing_is_refused_with_401(signed_in_app, case):
    client = signed_in_app.test_client()
    header = REFUSED[case]()
    for method, path, body in (("POST", SEARCH, {"query": "bank profits"}), ("GET", "/metrics", None)):
        answer = client.open(path, method=method, json=body, headers=as_person(header))
        assert answer.status_code == 401, (case, answer.get_json())
        assert answer.get_json()["error"] == "unauthorized"
        assert "sign in again" in answer.get_json()["message"]
    assert identity_of(signed_in_app, as_person(header)).kind == "anonymous"
    # A token beside a refused header still serves its holder.
    with_token = {**as_person(header), **BEARER}
    assert client.post(SEARCH, json={"query": "bank profits"}, headers=with_token).status_code == 200


def test_a_key_server_that_is_down_leaves_the_request_unauthenticated(make_app, sample_index, key_server, caplog):
    down = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    port = down.server_port
    down.server_close()  # nothing listens there any more: the connection is refused
    app = make_app(
        sample_index,
        API_TOKENS=API_TOKEN,
        ALB_SIGNERS=SIGNER,
        ALB_PUBLIC_KEY_URL=f"http://127.0.0.1:{port}/{{region}}/{{kid}}",
    )
    header = alb_header()
    with caplog.at_level(logging.INFO):
        answer = app.test_client().post(SEARCH, json={"query": "banks"}, headers=as_person(header))
    assert answer.status_code == 401 and answer.get_json()["error"] == "unauthorized"
    reasons = [r.getMessage() for r in caplog.records if "identity header" in r.getMessage()]
    assert any(f"the public key {KID} could not be fetched" in reason for reason in reasons), reasons
    assert not any(header in r.getMessage() for r in caplog.records)


def test_an_unknown_key_is_asked_for_again_and_a_known_one_never(signed_in_app, key_server):
    client = signed_in_app.test_client()
    unknown = alb_header(kid="11111111-2222-3333-4444-555555555555")
    for _ in range(2):
        assert client.get("/metrics", headers=as_person(unknown)).status_code == 401
        assert client.get("/metrics", headers=as_person()).status_code == 200
    assert key_server.fetches == {f"/{REGION}/11111111-2222-3333-4444-555555555555": 2, f"/{REGION}/{KID}": 1}


def test_identity_headers_are_ignored_unless_signers_are_configured(make_app, sample_index, key_server):
    app = make_app(sample_index, API_TOKENS=API_TOKEN, ALB_PUBLIC_KEY_URL=key_server.url_template)
    key_server.fetches.clear()
    assert app.test_client().get("/metrics", headers=as_person()).status_code == 401
    assert key_server.fetches == {}


def test_a_bearer_token_still_serves_and_is_named_by_its_fingerprint(signed_in_app):
    client = signed_in_app.test_client()
    assert client.post(SEARCH, json={"query": "bank profits"}, headers=BEARER).status_code == 200
    other = {"Authorization": f"Bearer {OTHER_API_TOKEN}"}
    assert identity_of(signed_in_app, other) == Identity(
        kind="token", key="token-1", label=f"token:{token_fingerprint(OTHER_API_TOKEN)}", display=None
    )
    assert API_TOKEN not in identity_of(signed_in_app, BEARER).label
    assert identity_of(signed_in_app, {}).kind == "anonymous"
    assert client.get("/metrics").status_code == 401


def test_people_are_kept_apart_in_the_query_cache(signed_in_app):
    client, registry = signed_in_app.test_client(), signed_in_app.extensions[SEARCH_SERVICE].registry
    query = {"query": "a text only the people of this test searched"}
    someone_else = alb_header(claims={"sub": "someone-else", "exp": int(time.time() + 60)})
    assert client.post(SEARCH, json=query, headers=as_person()).status_code == 200
    before = registry.query_cache_info()
    assert client.post(SEARCH, json=query, headers=as_person(someone_else)).status_code == 200
    after = registry.query_cache_info()
    assert (after["misses"] - before["misses"], after["hits"] - before["hits"]) == (1, 0)


@pytest.mark.parametrize(
    "settings, variable",
    [
        ({"ALB_SIGNERS": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/x/1"}, "ALB_SIGNERS"),
        ({"ALB_SIGNERS": f"{SIGNER}, finnews-alb"}, "ALB_SIGNERS"),
        ({"ALB_PUBLIC_KEY_URL": "https://keys.example.com/{region}"}, "ALB_PUBLIC_KEY_URL"),
        ({"ALB_PUBLIC_KEY_URL": "https://keys.example.com/{kid}/{secret}"}, "ALB_PUBLIC_KEY_URL"),
        ({"ALB_PUBLIC_KEY_URL": "file:///etc/{kid}"}, "ALB_PUBLIC_KEY_URL"),
    ],
)
def test_signer_and_key_url_settings_are_checked_at_start(settings, variable):
    with pytest.raises(SettingsError, match=f"FINNEWS_{variable}"):
        load_settings(settings)


def test_signers_are_read_from_a_list():
    assert load_settings({"ALB_SIGNERS": f" {SIGNER},{OTHER_SIGNER} "}).alb_signers == (SIGNER, OTHER_SIGNER)
    assert load_settings({}).alb_signers == ()


@pytest.mark.slow
def test_the_access_log_names_the_caller_and_never_a_token(model_cache_dir, sample_index, key_server, tmp_path):
    """gunicorn writes the caller's label from the environ the app filled: a person's sub, a
    token's fingerprint, never the token nor the identity header."""
    server = serve_sample(
        model_cache_dir,
        sample_index,
        tmp_path,
        workers=1,
        access_log=True,
        FINNEWS_API_TOKENS=API_TOKEN,
        FINNEWS_ALB_SIGNERS=SIGNER,
        FINNEWS_ALB_PUBLIC_KEY_URL=key_server.url_template,
    )
    try:
        header = alb_header()
        calls = {
            "as-person": as_person(header),
            "as-token": BEARER,
            "as-nobody": {},
        }
        for request_id, headers in calls.items():
            requests.get(f"{server.url}/metrics", headers={**headers, "X-Request-ID": request_id}, timeout=30)
        deadline = time.monotonic() + 30
        while True:
            log = server.log.read_text()
            lines = {rid: [ln for ln in log.splitlines() if ln.endswith(f" {rid}")] for rid in calls}
            if all(lines.values()):
                break
            assert time.monotonic() < deadline, f"no access log lines for every request: {lines}"
            time.sleep(0.05)
    finally:
        server.stop()
    assert '" 200 ' in lines["as-person"][0] and lines["as-person"][0].split()[-2] == SUB
    assert lines["as-token"][0].split()[-2] == f"token:{token_fingerprint(API_TOKEN)}"
    assert " 401 " in lines["as-nobody"][0] and lines["as-nobody"][0].split()[-2] == "-"
    log = server.log.read_text()
    assert API_TOKEN not in log and header not in log and header.split(".")[2] not in log
