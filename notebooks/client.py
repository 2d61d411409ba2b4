"""HTTP sessions for the validation notebooks.

A service behind an authenticating proxy needs a token. It is read from the environment
(:data:`TOKEN_ENV`) by the kernel itself, never passed as a notebook parameter: papermill writes
parameters into the executed notebook (metadata and the injected-parameters cell), and those
notebooks are the published reports.
"""

from __future__ import annotations

import os

import requests

TOKEN_ENV = "FINNEWS_VALIDATION_TOKEN"
USER_AGENT = "finnews-validation"


def session() -> requests.Session:
    """A session that sends the bearer token from the environment, when one is set."""
    http = requests.Session()
    http.headers["User-Agent"] = USER_AGENT
    token = os.environ.get(TOKEN_ENV)
    if token:
        http.headers["Authorization"] = f"Bearer {token}"
    return http
