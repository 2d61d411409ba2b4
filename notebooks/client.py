"""HTTP sessions for the validation notebooks, and the secrets they must never reveal.

A service that asks for a token gets it in every request. It is read from the environment
(:data:`TOKEN_ENV`) by the kernel itself, never passed as a notebook parameter: papermill writes
parameters into the executed notebook (metadata and the injected-parameters cell), and those
notebooks are the published reports. Other secret values of the deployment (:data:`SECRETS_ENV`,
one per line) reach the kernels the same way: the log check searches the service's logs for them,
and the runner searches every report for them.
"""

from __future__ import annotations

import os

import requests

TOKEN_ENV = "FINNEWS_VALIDATION_TOKEN"
SECRETS_ENV = "FINNEWS_VALIDATION_SECRETS"
USER_AGENT = "finnews-validation"


def session(token: bool = True) -> requests.Session:
    """A session that sends the bearer token from the environment, when one is set (and `token`)."""
    http = requests.Session()
    http.headers["User-Agent"] = USER_AGENT
    value = os.environ.get(TOKEN_ENV)
    if token and value:
        http.headers["Authorization"] = f"Bearer {value}"
    return http


def secret_values() -> list[str]:
    """The token and every other secret value the validation was given, none empty."""
    values = [os.environ.get(TOKEN_ENV, ""), *os.environ.get(SECRETS_ENV, "").splitlines()]
    return [value.strip() for value in values if value.strip()]
