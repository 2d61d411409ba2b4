"""Keeping secrets out of the reports.

No secret is ever a notebook parameter (notebooks/client.py), so none is written into a report by
papermill; what a notebook prints or an error quotes still could be. Every published file is
searched for each secret value the validation was given, and redacted, which fails the run.
"""

from __future__ import annotations

from pathlib import Path

from notebooks.checks import FAIL, PASS, Check

REDACTED = "[redacted]"


def redact(path: Path, secrets: list[str]) -> bool:
    """Replace every secret in a file; True when one was there."""
    if not secrets or not path.exists():
        return False
    text = path.read_text(encoding="utf-8")
    found = [secret for secret in secrets if secret in text]
    for secret in found:
        text = text.replace(secret, REDACTED)
    if found:
        path.write_text(text, encoding="utf-8")
    return bool(found)


def redact_text(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def no_secret_published(leaked: list[str], secrets: list[str]) -> Check:
    """The run's own check: the files a secret was found (and redacted) in, none when it passes."""
    return Check(
        "validate",
        "no secret in the published reports",
        len(leaked),
        "==",
        0,
        not leaked,
        detail=f"found and redacted in: {', '.join(leaked)}"
        if leaked
        else f"searched for {len(secrets)} secret values",
        source="secrets never enter a report (the project's rules)",
        status=FAIL if leaked else PASS,
    )
