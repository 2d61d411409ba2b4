"""What the edge notebook checks in front of the service and around it: the HTTP to HTTPS redirect
and the certificate on the address users reach, the load balancer's view of its targets, and the
service's own logs (no secret, no model download).

Each function returns what it found; the notebook decides pass or fail, so these can be tested
against real local servers (tests/test_validate.py) without a notebook.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import ssl
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

# A model fetched at run time: huggingface_hub and sentence-transformers log "Downloading ...".
DOWNLOADING = re.compile(r"\bdownloading\b", re.IGNORECASE)
# Credentials of any kind that have no business in a log, whatever their value.
CREDENTIAL_PATTERNS = {
    "an Authorization header value": re.compile(
        r"authorization['\"]?\s*[:=]\s*['\"]?(bearer|basic|apikey)\s+\S{8,}", re.I
    ),
    "an AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "a private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
}
# Shorter values are too likely to occur by chance (and are not secrets worth the name).
MIN_SECRET_LENGTH = 8


# -- HTTP to HTTPS --------------------------------------------------------------------------
def http_twin(https_url: str) -> str:
    """The plain-HTTP address of an HTTPS one (port 80 where the HTTPS one uses the default)."""
    parts = urlsplit(https_url)
    if parts.scheme != "https":
        raise ValueError(f"{https_url}: not an https:// URL")
    netloc = parts.hostname if parts.port in (None, 443) else f"{parts.hostname}:{parts.port}"
    return urlunsplit(("http", netloc, parts.path, parts.query, ""))


@dataclass(frozen=True)
class Redirect:
    status: int | None
    location: str
    problem: str = ""


def redirect(http_url: str, timeout: float) -> Redirect:
    """What plain HTTP answers, not following it."""
    try:
        response = requests.get(http_url, allow_redirects=False, timeout=timeout)
    except requests.RequestException as exc:
        return Redirect(None, "", f"no answer: {exc}")
    return Redirect(response.status_code, response.headers.get("Location", ""))


# -- TLS ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Certificate:
    """The certificate the server presented, verified against the trust store for the host name."""

    host: str
    verified: bool
    problem: str = ""
    subject: str = ""
    issuer: str = ""
    names: tuple[str, ...] = ()
    not_after: dt.datetime | None = None
    tls_version: str = ""

    def days_left(self, now: dt.datetime | None = None) -> float | None:
        if self.not_after is None:
            return None
        return (self.not_after - (now or dt.datetime.now(dt.UTC))).total_seconds() / 86400


def _name(entries) -> str:
    return ", ".join(f"{key}={value}" for entry in entries for key, value in entry)


def certificate(https_url: str, timeout: float, ca_file: str | None = None) -> Certificate:
    """Open a TLS connection as a browser would (the system's trust store, or `ca_file`; the host
    name checked against the certificate) and read what it presented."""
    parts = urlsplit(https_url)
    host, port = parts.hostname, parts.port or 443
    context = ssl.create_default_context(cafile=ca_file)
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            presented, version = tls.getpeercert(), tls.version() or ""
    except ssl.SSLCertVerificationError as exc:
        return Certificate(host, False, f"not valid for {host}: {exc.verify_message}")
    except (OSError, ssl.SSLError) as exc:
        return Certificate(host, False, f"no TLS connection to {host}:{port}: {exc}")
    return Certificate(
        host,
        True,
        subject=_name(presented.get("subject", ())),
        issuer=_name(presented.get("issuer", ())),
        names=tuple(value for kind, value in presented.get("subjectAltName", ()) if kind == "DNS"),
        not_after=dt.datetime.fromtimestamp(ssl.cert_time_to_seconds(presented["notAfter"]), dt.UTC),
        tls_version=version,
    )


# -- load balancer targets ------------------------------------------------------------------
def target_health(elbv2, target_group_arn: str) -> list[dict]:
    """Every registered target and its state, as the load balancer sees it (describe-target-health)."""
    descriptions = elbv2.describe_target_health(TargetGroupArn=target_group_arn)["TargetHealthDescriptions"]
    return [
        {
            "target": f"{d['Target']['Id']}:{d['Target'].get('Port', '')}",
            "state": d["TargetHealth"]["State"],
            "reason": d["TargetHealth"].get("Reason", ""),
            "description": d["TargetHealth"].get("Description", ""),
        }
        for d in descriptions
    ]


# -- logs -----------------------------------------------------------------------------------
def file_log_lines(path: str | Path) -> Iterator[str]:
    with open(path, encoding="utf-8", errors="replace") as handle:
        yield from (line.rstrip("\n") for line in handle)


def cloudwatch_log_lines(logs, log_group: str, since: dt.datetime, until: dt.datetime) -> Iterator[str]:
    """Every event of the log group between two times (all its streams: every task of the service)."""
    paginator = logs.get_paginator("filter_log_events")
    pages = paginator.paginate(
        logGroupName=log_group,
        startTime=int(since.timestamp() * 1000),
        endTime=int(until.timestamp() * 1000),
    )
    for page in pages:
        for event in page["events"]:
            yield f"{event['logStreamName']}: {event['message'].rstrip()}"


@dataclass
class LogScan:
    lines: int = 0
    downloading: list[tuple[int, str]] = field(default_factory=list)  # (line number, line, secrets masked)
    secrets: dict[str, list[int]] = field(default_factory=dict)  # what was found -> line numbers


def mask(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "[secret]")
    return text


def scan_logs(lines: Iterable[str], secrets: Iterable[str]) -> LogScan:
    """Count the lines, and find model downloads and secrets: the given secret values verbatim
    (named by their position, never shown) and credentials of the usual shapes."""
    values = [secret for secret in dict.fromkeys(secrets) if len(secret) >= MIN_SECRET_LENGTH]
    scan = LogScan()
    for number, line in enumerate(lines, start=1):
        scan.lines += 1
        for position, secret in enumerate(values, start=1):
            if secret in line:
                scan.secrets.setdefault(f"secret value #{position}", []).append(number)
        for what, pattern in CREDENTIAL_PATTERNS.items():
            if pattern.search(line):
                scan.secrets.setdefault(what, []).append(number)
        if DOWNLOADING.search(line):
            scan.downloading.append((number, mask(line, values)[:300]))
    return scan
