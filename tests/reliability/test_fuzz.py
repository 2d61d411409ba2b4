"""schemathesis against the service's own OpenAPI document, under gunicorn with a token required:
valid and invalid requests generated from the published schema, every answer checked (never a
5xx, status codes and bodies as documented, invalid input refused, no access without a token).

The schema is loaded when this module is imported (schemathesis 4.32's lazy, fixture-loaded
schemas do not run under pytest 9), from the same function that serves /openapi.json; the first
test checks that the server publishes exactly that document.

The count of requests is the service's own (http_requests_total in /metrics, before and
after), so it includes what the checks send besides the generated cases."""

from __future__ import annotations

import re

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from webapp.api import openapi_document

pytestmark = pytest.mark.slow

VERSION = "reliability"
schema = schemathesis.openapi.from_dict(openapi_document(VERSION))
_answered: dict[str, float] = {}


def answered(url: str, token: str) -> dict[str, float]:
    """Requests the service answered so far, by status class, from its own metrics."""
    text = requests.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30).text
    totals: dict[str, float] = {}
    for status, value in re.findall(r'^http_requests_total\{[^}]*status="(\d+)"\} (\S+)$', text, re.M):
        totals[status[0] + "xx"] = totals.get(status[0] + "xx", 0.0) + float(value)
    return totals


def test_the_fuzzed_document_is_the_one_served(served):
    _answered.update(answered(served.url, served.token))
    published = requests.get(f"{served.url}/openapi.json", timeout=30).json()
    assert published == {**openapi_document(VERSION), "info": published["info"]}


@schema.parametrize()
@settings(deadline=None, database=None, suppress_health_check=list(HealthCheck), phases=[Phase.generate])
def test_no_generated_request_gets_a_server_error(case, served):
    # How many examples: the scale's, through the hypothesis profile tests/reliability/conftest.py loads.
    case.call_and_validate(
        base_url=served.url,
        headers={"Authorization": f"Bearer {served.token}"},
        # "Valid per the schema" does not cover what the schema cannot say: a query of spaces
        # only, date_from after date_to; the service rightly answers 422 to those.
        excluded_checks=[positive_data_acceptance],
        timeout=60,
    )


def test_zz_fuzzing_figures(served, scale, record_figures):
    """Runs after the fuzzing (by name): how many requests the service answered, by status class."""
    after = answered(served.url, served.token)
    delta = {key: int(after.get(key, 0) - _answered.get(key, 0)) for key in sorted(after)}
    total = sum(delta.values())
    record_figures(requests_answered=total, by_status_class=delta, server_errors=delta.get("5xx", 0))
    assert delta.get("5xx", 0) == 0
    assert total >= scale.fuzz_requests, f"only {total} requests were made; wanted {scale.fuzz_requests}"
