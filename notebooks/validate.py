"""Validate a release: execute the validation notebooks against the running service, publish
the reports, and exit non-zero when any check failed.

Each attempt is published in REPORTS/RELEASE/ATTEMPT/ (ATTEMPT: the UTC time it started,
20260101T120000Z), never replaced or deleted: validating a release again adds an attempt. Each
notebook is executed with papermill into NAME.ipynb and converted to NAME.html (plots embedded:
the HTML opens without Jupyter), a verdict banner at the top of both naming the failed checks.
summary.json lists every check (measured value, comparison, threshold, the threshold's source,
whether it was overridden, pass / fail / not applicable), the figures later attempts compare
with, the baseline it was compared with and its provenance (commit, image and digest, store
backend, workers, environment, where the client ran). REPORTS/index.html lists every attempt,
newest first, with its overrides and a trend of p50 and nDCG per environment.

Thresholds and request counts are the notebooks' defaults unless the environment's validation
profile (--profile, the inventory's release_validation_profile) or --set gives another value;
both are flagged as overrides wherever the value differs from the default.

With --fail-fast (as a release runs it), the groups of RUN_GROUPS after one with a failed check or
a notebook stopped by an error are not run: the verdict is already FAILED, and what they would
measure (the load, the regression) cannot change it. Each notebook not run is listed in
summary.json ("passed": null, "not_run": why), in the index, on the log and on every page's
verdict. Without it (make validate) every notebook runs, so every report is there to read.

The command line is this module; each job has its own, each importing only those before it:
notebooks/parameters.py (the notebooks' parameters: the shared ones declared once, the profile and
--set), notebooks/redaction.py (no secret in a report), notebooks/execution.py (papermill, group
after group), notebooks/provenance.py (what was validated) and notebooks/publishing.py (the
attempt's pages, summary.json and the index).

Exit status: 0 every check passed; 1 a check failed or a notebook stopped with an error (the
failed checks are named); 2 usage error, or the service cannot be reached.

The kernel is this Python's (the `python3` kernelspec that ipykernel installs into this
environment). A token for a service that asks for one is read from the environment variable
FINNEWS_VALIDATION_TOKEN (or, with --token-stdin, from the first line of standard input, which
keeps it out of process listings and of Ansible's verbose output; further lines are the
deployment's other secret values, which the log check looks for) and sent as a bearer token. No
secret is ever a notebook parameter, so none can be written into a report, and every published
file is searched for each of them (and redacted, failing the run) before the index is written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

from notebooks import history
from notebooks.checks import NOT_APPLICABLE
from notebooks.client import SECRETS_ENV, TOKEN_ENV, secret_values
from notebooks.execution import NotebookRun, check_kernel, execute, read_back, run_in_groups
from notebooks.parameters import (
    NOTEBOOK_DIR,
    NOTEBOOKS,
    ROOT,
    RUNNER_PARAMETERS,
    SHARED_BY_NAME,
    Parameter,
    UsageError,
    notebook_parameters,
    notebook_values,
    overrides_of,
    parse_json_parameters,
    parse_overrides,
)
from notebooks.provenance import provenance, provenance_line, service_health
from notebooks.publishing import new_attempt, publish, publish_summary, write_index
from notebooks.redaction import no_secret_published, redact, redact_text

log = logging.getLogger("notebooks.validate")

RELEASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def normalise_base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"--base-url {url}: give an http:// or https:// URL")
    return url.rstrip("/")


def validate(
    base_url: str,
    release: str,
    reports_dir: Path,
    profile: dict,
    overrides: dict,
    declared: dict[str, Parameter],
    facts: dict,
    runner_values: dict,
    fail_fast: bool = False,
) -> tuple[dict, Path]:
    """Execute every notebook into a new attempt folder, publish the reports and return the summary.
    With fail_fast, the groups after one with a failed notebook are not run (and reported so)."""
    started_at = dt.datetime.now(dt.UTC)
    folder = new_attempt(reports_dir, release, started_at)
    environment = facts["environment"]
    earlier = history.attempts(reports_dir)
    baseline = history.baseline(earlier, environment, release)
    overridden = overrides_of(profile, overrides, declared)
    values = {
        **runner_values,
        "base_url": base_url,
        "release": release,
        "environment": environment,
        "reports_dir": str(reports_dir.absolute()),
        "attempt_dir": str(folder.absolute()),
        "baseline_dir": baseline["folder"] if baseline else "",
        "provenance": {key: "" if value is None else str(value) for key, value in facts.items()},
    }
    secrets = secret_values()
    leaked: list[str] = []

    def run_notebook(name: str) -> NotebookRun:
        position = NOTEBOOKS.index(name) + 1
        log.info("[%d/%d] %s: executing", position, len(NOTEBOOKS), name)
        run = execute(name, folder, notebook_values(name, declared, values, {**profile, **overrides}, overridden))
        if redact(folder / f"{name}.ipynb", secrets):
            leaked.append(f"{name}.ipynb")
        if run.error:
            run.error = redact_text(run.error, secrets)
        read_back(run, folder)
        failed = [c for c in run.checks if not c.passed]
        log.info(
            "[%d/%d] %s: %d of %d checks passed, %d not applicable, in %.1f s%s",
            position,
            len(NOTEBOOKS),
            name,
            sum(c.status != NOT_APPLICABLE for c in run.checks) - len(failed),
            len(run.checks),
            sum(c.status == NOT_APPLICABLE for c in run.checks),
            run.duration_s,
            f" ({run.error})" if run.error and not failed else "",
        )
        return run

    runs = run_in_groups(run_notebook, fail_fast)
    # Published once every group ran or was left out, so each page's verdict names what was not run.
    not_run = tuple(run for run in runs if run.not_run)
    for run in runs:
        publish(run, folder, f"{run.name}: release {release}", provenance_line(release, facts), not_run)
    leaked += [path.name for path in folder.glob("*.html") if redact(path, secrets)]
    checks = [check for run in runs for check in run.checks]
    if secrets:
        checks.append(no_secret_published(leaked, secrets))
    summary = publish_summary(folder, release, base_url, started_at, facts, baseline, overridden, runs, checks)
    write_index(reports_dir)
    return summary, folder


# -- command line ---------------------------------------------------------------------------
def add_option(group, name: str, **how) -> None:
    """The runner's option for a shared notebook parameter: its flag, default and help as declared
    (notebooks/parameters.py)."""
    parameter = SHARED_BY_NAME[name]
    if not how.get("required"):
        how["default"] = parameter.default
    group.add_argument(parameter.option, help=parameter.option_help, **how)


def parser(declared: dict[str, Parameter]) -> argparse.ArgumentParser:
    lines = [
        f"notebook parameters (--set NAME=VALUE, lists and dicts as JSON; or in --profile), in "
        f"{NOTEBOOK_DIR.relative_to(ROOT)}/:"
    ]
    for p in declared.values():
        if p.name not in RUNNER_PARAMETERS:
            default = p.default if len(p.default) <= 60 else p.default[:57] + "..."
            lines.append(f"  {p.name} ({p.annotation}, default {default}; {', '.join(p.notebooks)})")
            if p.help:
                lines.append(f"      {p.help}")
    lines += [
        "",
        "exit status: 0 every check passed; 1 a check failed (named on stdout);",
        "2 usage error or the service cannot be reached.",
        f"environment: {TOKEN_ENV} (optional) bearer token sent to the service; {SECRETS_ENV} (optional)",
        "other secret values, one per line, that no log and no report may contain. Neither is ever written.",
    ]
    result = argparse.ArgumentParser(
        prog="python -m notebooks.validate",
        description="Execute the release validation notebooks (health, endpoints, performance, relevance, edge, "
        "regression) against a running service; publish REPORTS/RELEASE/ATTEMPT/*.ipynb, *.html and summary.json, "
        "and REPORTS/index.html; exit non-zero when any check fails.",
        epilog="\n".join(lines),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for name in ("base_url", "release", "environment"):
        add_option(result, name, required=True)
    add_option(result, "reports_dir", type=Path)
    result.add_argument(
        "--profile",
        default="{}",
        metavar="JSON",
        help="the environment's validation profile: a JSON object of notebook parameters "
        "(the inventory's release_validation_profile)",
    )
    result.add_argument(
        "--set",
        dest="overrides",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="override a notebook parameter for this run (a threshold, a request count); repeatable",
    )
    result.add_argument(
        "--set-json",
        default="{}",
        metavar="JSON",
        help="overrides for this run as one JSON object of notebook parameters (as the runbook gives them)",
    )
    result.add_argument(
        "--fail-fast",
        action="store_true",
        help="after a group of notebooks with a failed check or an error (health, endpoints, relevance, edge; "
        "then performance; then regression), run none of the later groups: they cannot change the verdict, "
        "and are reported as not run (the release's validate phase passes it). Without it every notebook "
        "runs, so every report is there to read",
    )
    result.add_argument(
        "--token-stdin",
        action="store_true",
        help=f"read the bearer token from the first line of standard input instead of ${TOKEN_ENV}; "
        "further lines are other secret values no log or report may contain",
    )
    deployment = result.add_argument_group(
        "the deployment (recorded in the provenance, or checked by the edge notebook)"
    )
    deployment.add_argument("--image", default="", help="the image the service runs (URI with its tag)")
    deployment.add_argument("--image-digest", default="", help="that image's digest (sha256:...)")
    deployment.add_argument("--tasks", type=int, help="tasks (containers) serving the release")
    deployment.add_argument("--workers", type=int, help="gunicorn workers per task")
    for name in ("client_location", "target_group_arn"):
        add_option(deployment, name)
    logs = deployment.add_mutually_exclusive_group()
    for name in ("log_group", "log_file"):
        add_option(logs, name)
    return result


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("papermill").setLevel(logging.WARNING)  # our own lines say what runs
    logging.getLogger("traitlets").setLevel(logging.ERROR)  # nbconvert: "alternative text is missing" per plot
    declared = notebook_parameters()
    arguments = parser(declared).parse_args(argv)
    if arguments.token_stdin:
        # The notebooks' kernels inherit the environment: that is how the secrets reach them.
        os.environ[TOKEN_ENV] = sys.stdin.readline().strip()
        os.environ[SECRETS_ENV] = "\n".join(line.strip() for line in sys.stdin if line.strip())
    try:
        if not RELEASE_ID.fullmatch(arguments.release):
            raise UsageError(f"--release {arguments.release!r}: use letters, digits, '.', '_' and '-' only")
        if not RELEASE_ID.fullmatch(arguments.environment):
            raise UsageError(f"--environment {arguments.environment!r}: use letters, digits, '.', '_' and '-' only")
        base_url = normalise_base_url(arguments.base_url)
        profile = parse_json_parameters(arguments.profile, declared, "--profile")
        overrides = {
            **parse_json_parameters(arguments.set_json, declared, "--set-json"),
            **parse_overrides(arguments.overrides, declared),
        }
        check_kernel()
        facts = provenance(arguments, service_health(base_url))
    except UsageError as exc:
        print(f"validate: error: {exc}", file=sys.stderr)
        return 2
    runner_values = {
        "client_location": facts["client_location"],
        "target_group_arn": arguments.target_group_arn,
        "log_group": arguments.log_group,
        "log_file": arguments.log_file,
    }
    summary, folder = validate(
        base_url,
        arguments.release,
        arguments.reports_dir,
        profile,
        overrides,
        declared,
        facts,
        runner_values,
        arguments.fail_fast,
    )
    total = len(summary["checks"])
    not_applicable = len(summary["not_applicable"])
    if summary["passed"]:
        overridden = f", {len(summary['overrides'])} parameters overridden" if summary["overrides"] else ""
        print(
            f"release {arguments.release}: PASSED, {total - not_applicable} of {total} checks "
            f"({not_applicable} not applicable{overridden})"
        )
    else:
        print(f"release {arguments.release}: FAILED, {len(summary['failed'])} of {total} checks failed:")
        for line in summary["failed"]:
            print(f"  {line}")
        for notebook in summary["notebooks"]:
            if notebook["not_run"]:
                print(f"  {notebook['name']}: not run, {notebook['not_run']}")
    if summary["failed_as_planned"]:
        print(f"  passed only at moved thresholds, {len(summary['failed_as_planned'])} checks fail as planned:")
        for line in summary["failed_as_planned"]:
            print(f"  {line}")
    for line in summary["not_applicable"]:
        print(f"  {line}")
    print(f"reports: {folder}/ (summary.json, *.html); index: {arguments.reports_dir / 'index.html'}")
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
