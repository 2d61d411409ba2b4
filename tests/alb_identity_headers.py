"""Identity headers as an ALB listener with authenticate-oidc forwards them, made here the way
the load balancer makes them (ES256, base64 padding kept in every segment and signed as it
stands), and the regional public-key endpoint that serves their keys: for the tests of the
service's sign-in (test_identity) and of the page (test_browser)."""

from __future__ import annotations

import base64
import http.server
import json
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tests.runbook_runs import serve_on_loopback

REGION = "eu-west-1"
SIGNER = f"arn:aws:elasticloadbalancing:{REGION}:123456789012:loadbalancer/app/finnews/50dc6c495c0c9188"
OTHER_SIGNER = f"arn:aws:elasticloadbalancing:{REGION}:123456789012:loadbalancer/app/elsewhere/7d1e4b2f0a9c3e55"
KID = "6f0c1a3e-2b4d-4e8f-9a7b-1c2d3e4f5a6b"
SUB = "23d498b2-3031-70d2-8a15-49dd886a087b"
EMAIL = "ada@example.com"

SIGNING_KEY = ec.generate_private_key(ec.SECP256R1())
STRANGER_KEY = ec.generate_private_key(ec.SECP256R1())


def pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


class KeyServer:
    """The regional public-key endpoint: GET /<region>/<kid> answers the key's PEM; it counts
    the fetches of each path."""

    def __init__(self):
        self.keys = {KID: pem(SIGNING_KEY)}
        self.fetches: dict[str, int] = {}
        keys, fetches = self.keys, self.fetches

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                fetches[self.path] = fetches.get(self.path, 0) + 1
                region, _, kid = self.path.lstrip("/").partition("/")
                body = keys.get(kid) if region == REGION else None
                self.send_response(200 if body else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args):
                pass

        self.server = serve_on_loopback(Handler)
        self.url_template = f"http://127.0.0.1:{self.server.server_port}/{{region}}/{{kid}}"


def padded(data: bytes) -> str:
    """base64url with its padding kept, as the load balancer writes each segment."""
    return base64.urlsafe_b64encode(data).decode()


def alb_header(
    key: ec.EllipticCurvePrivateKey = SIGNING_KEY,
    *,
    alg: str = "ES256",
    kid: str = KID,
    signer: str = SIGNER,
    expires_in: float = 60,
    claims: dict | None = None,
) -> str:
    """x-amzn-oidc-data as an ALB sends it: ES256 over the padded segments, the signature r || s."""
    exp = int(time.time() + expires_in)
    header = {"typ": "JWT", "kid": kid, "alg": alg, "iss": "https://idp.example.com", "client": "finnews-client"}
    header.update(signer=signer, exp=exp)
    payload = claims if claims is not None else {"sub": SUB, "email": EMAIL, "name": "Ada", "exp": exp}
    payload.setdefault("iss", "https://idp.example.com")
    signing_input = f"{padded(json.dumps(header).encode())}.{padded(json.dumps(payload).encode())}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    signature = padded(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    assert signature.endswith("=")  # 64 bytes: the padding is always there, and signed over in the rest
    return f"{signing_input}.{signature}"
