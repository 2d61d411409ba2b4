"""What was validated, and where: the commit, the image, the service's store, the tasks, the
machine the validation ran on. Recorded in summary.json and named on every page.
"""

from __future__ import annotations

import argparse
import platform
import socket
import subprocess

import requests

from notebooks.client import TOKEN_ENV, session
from notebooks.parameters import ROOT, UsageError


def service_health(base_url: str) -> dict:
    """The service's /health (its store backend and document count go into the provenance);
    a service that cannot be reached, or refuses the token, is a usage error."""
    try:
        with session() as http:
            live = http.get(f"{base_url}/health/live", timeout=15)
            if live.status_code in (401, 403):
                raise UsageError(
                    f"{base_url}/health/live answered {live.status_code}: set {TOKEN_ENV} to a valid token"
                )
            health = http.get(f"{base_url}/health", timeout=30)
    except requests.RequestException as exc:
        raise UsageError(f"cannot reach the service at {base_url}: {exc}") from None
    try:
        report = health.json()
    except ValueError:
        report = {}
    return report if isinstance(report, dict) else {}


def git_commit() -> tuple[str | None, bool | None]:
    """The checkout's commit and whether tracked files differ from it (None outside git)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit, bool(changes)


def provenance(arguments: argparse.Namespace, health: dict) -> dict:
    commit, dirty = git_commit()
    store = health.get("store") or {}
    return {
        "environment": arguments.environment,
        "commit": commit,
        "commit_dirty": dirty,
        "service_version": health.get("version"),
        "image": arguments.image or None,
        "image_digest": arguments.image_digest or None,
        "backend": store.get("backend"),
        "documents": store.get("documents"),
        "tasks": arguments.tasks,
        "workers": arguments.workers,
        "client_location": arguments.client_location or f"{socket.getfqdn()} (the machine that ran the validation)",
        "client": f"{platform.node()}, {platform.system()} {platform.machine()}, Python {platform.python_version()}",
    }


def provenance_line(release: str, facts: dict) -> str:
    """What was validated, in one line: the release, the commit, the image, the store, the tasks
    and where the client ran."""
    commit = (facts.get("commit") or "unknown")[:12] + (" (modified)" if facts.get("commit_dirty") else "")
    digest = facts.get("image_digest") or ""
    image = (facts.get("image") or "not recorded") + (f" ({digest[:19]})" if digest else "")
    documents = facts.get("documents")
    return (
        f"release {release} in {facts.get('environment')}, serving {facts.get('service_version') or 'unknown'}; "
        f"commit {commit}; image {image}; {facts.get('backend') or 'unknown'} store, "
        f"{'?' if documents is None else f'{documents:,}'} documents; "
        f"tasks x workers: {facts.get('tasks') or '?'} x {facts.get('workers') or '?'}; "
        f"client: {facts.get('client_location') or 'unknown'}"
    )
