"""A person signed in at the load balancer: the identity header an ALB listener rule with an
``authenticate-oidc`` action forwards (``x-amzn-oidc-data``), verified.

The header is a JWT the load balancer signs with ES256 (ECDSA, P-256, SHA-256). Its header names
the key (``kid``), the load balancer (``signer``, its ARN) and when it expires (``exp``); its
payload holds the person's claims from the identity provider (``sub``, perhaps ``email`` and
``name``) and ``exp`` again. The public key of each ``kid`` is published as PEM at a regional
URL (FINNEWS_ALB_PUBLIC_KEY_URL) and fetched once per worker (:class:`PublicKeys`).

Unlike a standard JWT the segments keep their base64 padding ("=") and the signature covers the
padded text (AWS documents it; JWT libraries that insist on RFC 7515 refuse such tokens).
PyJWT decodes padded segments and verifies the text as it came, so it is used as it is; the tests
sign their headers the load balancer's way, padding included.

Anything wrong (a malformed header, another algorithm, a signer not configured, an unknown key,
a key server that does not answer, a bad signature, an expired header) is an
:class:`IdentityRefused` with a reason for the log: the request is then not a person's. The
reasons name the key id and the signer, never the header's content.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from webapp.settings import ALB_ARN

HEADER = "X-Amzn-Oidc-Data"
ALGORITHM = "ES256"
# Seconds of clock difference between the load balancer and this task tolerated at `exp`.
LEEWAY = 30
# A key server that does not answer within this long leaves the request unauthenticated (401);
# the next request with that key id asks again.
FETCH_TIMEOUT = 5
# A load balancer signs with a few keys per region and rotates them rarely; this many keys cover
# every signer of a deployment, while a stream of made-up key ids (which fail to fetch and are
# never kept) cannot grow the cache.
MAX_KEYS = 32
# A PEM public key is a few hundred bytes; more is not one.
MAX_KEY_BYTES = 16 * 1024
# Key ids are UUIDs; anything else is refused before it goes into a URL.
_KEY_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
# What of a refused signer the log repeats: an ARN's characters, nothing that could forge a line.
_PRINTABLE_ARN = re.compile(r"[A-Za-z0-9:/._-]{1,256}")


class IdentityRefused(Exception):
    """The identity header does not prove who sent it; the message says why (for the log)."""


class PublicKeyUnavailable(IdentityRefused):
    """The key that would verify the header could not be had: the key server's fault or ours,
    perhaps not the sender's."""


@dataclass(frozen=True)
class Claims:
    sub: str
    email: str | None
    name: str | None


class PublicKeys:
    """The load balancers' public keys by key id, fetched on first use and kept (at most
    MAX_KEYS, least recently used first out). A failed fetch is not kept."""

    def __init__(self, url_template: str):
        self.url_template = url_template
        self._keys: OrderedDict[str, ec.EllipticCurvePublicKey] = OrderedDict()  # by URL: region and key id
        self._lock = threading.Lock()

    def get(self, kid: str, region: str) -> ec.EllipticCurvePublicKey:
        url = self.url_template.format(region=region, kid=kid)
        with self._lock:
            if url in self._keys:
                self._keys.move_to_end(url)
                return self._keys[url]
        # Fetched outside the lock: a slow key server holds up only the requests that need this key.
        key = self._fetch(kid, url)
        with self._lock:
            self._keys[url] = key
            while len(self._keys) > MAX_KEYS:
                self._keys.popitem(last=False)
        return key

    def _fetch(self, kid: str, url: str) -> ec.EllipticCurvePublicKey:
        try:
            with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as response:  # an http(s) URL (settings)
                pem = response.read(MAX_KEY_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise PublicKeyUnavailable(
                f"the public key {kid} could not be fetched from {url}: HTTP {exc.code}"
            ) from None
        except (OSError, ValueError) as exc:  # refused, unreachable, timed out, a bad URL
            raise PublicKeyUnavailable(
                f"the public key {kid} could not be fetched from {url}: {type(exc).__name__}"
            ) from None
        try:
            if len(pem) > MAX_KEY_BYTES:
                raise ValueError("too long")
            key = load_pem_public_key(pem)
        except ValueError:
            raise PublicKeyUnavailable(f"the public key {kid} from {url} is not a PEM public key") from None
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
            raise PublicKeyUnavailable(f"the public key {kid} from {url} is not a P-256 key")
        return key


def verify(token: str, signers: tuple[str, ...], keys: PublicKeys) -> Claims:
    """The claims of an identity header signed by one of SIGNERS (load balancer ARNs), or
    IdentityRefused."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise IdentityRefused("the identity header is not a signed token") from None
    # Checked before any key is fetched: a header no configured load balancer could have
    # signed costs no request to the key server.
    if header.get("alg") != ALGORITHM:
        raise IdentityRefused(f"the identity header is not signed with {ALGORITHM}")
    signer = header.get("signer")
    if not isinstance(signer, str) or signer not in signers:
        shown = signer if isinstance(signer, str) and _PRINTABLE_ARN.fullmatch(signer) else "an unnamed signer"
        raise IdentityRefused(f"the identity header was signed by {shown}, not a load balancer of FINNEWS_ALB_SIGNERS")
    kid = header.get("kid")
    if not isinstance(kid, str) or not _KEY_ID.fullmatch(kid):
        raise IdentityRefused("the identity header's key id is missing or malformed")
    key = keys.get(kid, ALB_ARN.fullmatch(signer).group(1))
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], leeway=LEEWAY, options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise IdentityRefused(f"the identity header (key {kid}) has expired") from None
    except jwt.PyJWTError as exc:
        raise IdentityRefused(f"the identity header (key {kid}) is refused: {type(exc).__name__}") from None
    # The expiry the load balancer also writes into the (now verified) header is held to as well.
    header_exp = header.get("exp", claims["exp"])
    if not isinstance(header_exp, int) or header_exp + LEEWAY < time.time():
        raise IdentityRefused(f"the identity header (key {kid}) has expired")
    if not isinstance(claims["sub"], str) or not claims["sub"]:
        raise IdentityRefused(f"the identity header (key {kid}) names no subject")
    return Claims(sub=claims["sub"], email=_text(claims.get("email")), name=_text(claims.get("name")))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
