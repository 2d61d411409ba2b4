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
import ast
import datetime as dt
import html
import io
import json
import logging
import os
import platform
import re
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
import nbformat
import papermill
import requests
from jupyter_client import KernelManager
from jupyter_client.kernelspec import NoSuchKernel
from nbconvert import HTMLExporter
from pydantic import TypeAdapter, ValidationError

from notebooks import history
from notebooks.checks import FAIL, NOT_APPLICABLE, Check, Metric, checks_table, recorded
from notebooks.client import SECRETS_ENV, TOKEN_ENV, secret_values, session

log = logging.getLogger("notebooks.validate")

NOTEBOOK_DIR = Path(__file__).resolve().parent
ROOT = NOTEBOOK_DIR.parent
# In the order they are reported: health first, so a broken deployment is named before its
# symptoms; regression last, since it compares what the others measured with the baseline.
NOTEBOOKS = ("health", "endpoints", "performance", "relevance", "edge", "regression")
# How they run: each group after the one before, the notebooks of a group side by side (each in
# its own kernel). Performance measures latency and throughput, so nothing runs beside it; the
# regression notebook reads what the others recorded in the attempt's folder, so it runs last.
RUN_GROUPS = (("health", "endpoints", "relevance", "edge"), ("performance",), ("regression",))
KERNEL = "python3"
# Parameters the runner sets from its own options (each notebook gets those it declares); every
# notebook declares the first four.
RUNNER_PARAMETERS = (
    "base_url",
    "release",
    "environment",
    "overridden",
    "provenance",
    "client_location",
    "target_group_arn",
    "log_group",
    "log_file",
    "reports_dir",
    "attempt_dir",
    "baseline_dir",
)
COMMON_PARAMETERS = RUNNER_PARAMETERS[:4]
# A cell that runs longer than this is hung (the longest, the throughput phase, is bounded by
# its parameters).
CELL_TIMEOUT_S = 1800
# Seconds a notebook's kernel may take to start. Four start side by side (RUN_GROUPS), beside
# the service under test: on a loaded 2-core host one took over jupyter's 60 s.
KERNEL_START_TIMEOUT_S = 300
RELEASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
ATTEMPT_FORMAT = "%Y%m%dT%H%M%SZ"
REDACTED = "[redacted]"
# Where an override came from.
PROFILE, SET = "profile", "set"


class UsageError(Exception):
    """Bad options or an unusable environment (exit status 2)."""


# The annotations a notebook parameter may have, and the type a value is checked against.
PARAMETER_TYPES: dict[str, object] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list[str]": list[str],
    "dict[str, float]": dict[str, float],
    "dict[str, str]": dict[str, str],
}


# -- notebook parameters --------------------------------------------------------------------
@dataclass(frozen=True)
class Parameter:
    name: str
    annotation: str
    default: str
    help: str
    notebooks: tuple[str, ...]

    def parse(self, text: str) -> object:
        """A --set value, checked against the parameter's annotation (JSON for non-strings)."""
        if self.annotation == "str":
            return text
        adapter = TypeAdapter(PARAMETER_TYPES[self.annotation])
        try:
            return adapter.validate_json(text)
        except ValidationError as exc:
            raise UsageError(
                f"--set {self.name}={text}: not a valid {self.annotation}: {exc.errors()[0]['msg']}"
            ) from None

    def check(self, value: object, origin: str) -> object:
        """A profile value (already JSON), checked against the annotation."""
        try:
            return TypeAdapter(PARAMETER_TYPES[self.annotation]).validate_python(value, strict=True)
        except ValidationError as exc:
            raise UsageError(
                f"{origin} {self.name}: {value!r} is not a valid {self.annotation}: {exc.errors()[0]['msg']}"
            ) from None

    @property
    def default_value(self) -> object:
        return ast.literal_eval(self.default)


def notebook_parameters() -> dict[str, Parameter]:
    """Every parameter the notebooks declare in their `parameters` cell, by name."""
    found: dict[str, Parameter] = {}
    for notebook in NOTEBOOKS:
        for name, spec in papermill.inspect_notebook(str(NOTEBOOK_DIR / f"{notebook}.ipynb")).items():
            if spec["inferred_type_name"] not in PARAMETER_TYPES:
                raise UsageError(
                    f"{notebook}.ipynb: parameter {name} is annotated {spec['inferred_type_name']!r}; "
                    f"use one of {', '.join(PARAMETER_TYPES)}"
                )
            known = found.get(name)
            found[name] = Parameter(
                name,
                spec["inferred_type_name"],
                " ".join(spec["default"].split()),
                spec["help"],
                (*known.notebooks, notebook) if known else (notebook,),
            )
    return found


def _settable(name: str, declared: dict[str, Parameter], origin: str) -> Parameter:
    if name in RUNNER_PARAMETERS:
        raise UsageError(f"{origin} {name}: set by the runner (--{name.replace('_', '-')})")
    if name not in declared:
        raise UsageError(f"{origin} {name}: no notebook has this parameter (see --help)")
    return declared[name]


def parse_overrides(pairs: list[str], declared: dict[str, Parameter]) -> dict[str, object]:
    overrides = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep:
            raise UsageError(f"--set {pair}: use NAME=VALUE")
        overrides[name] = _settable(name, declared, "--set").parse(text)
    return overrides


def parse_json_parameters(text: str, declared: dict[str, Parameter], option: str) -> dict[str, object]:
    """A JSON object of notebook parameters (--profile, --set-json), each checked against its annotation."""
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{option}: not JSON: {exc}") from None
    if not isinstance(values, dict):
        raise UsageError(f"{option}: give a JSON object of notebook parameters")
    return {name: _settable(name, declared, option).check(value, option) for name, value in values.items()}


def overrides_of(profile: dict, overrides: dict, declared: dict[str, Parameter]) -> dict[str, dict]:
    """Each parameter that does not keep its default: its value, default and where it came from
    (--set wins over the profile)."""
    given = {
        **{name: (value, PROFILE) for name, value in profile.items()},
        **{n: (v, SET) for n, v in overrides.items()},
    }
    return {
        name: {"value": value, "default": declared[name].default_value, "origin": origin}
        for name, (value, origin) in given.items()
        if value != declared[name].default_value
    }


# -- preconditions --------------------------------------------------------------------------
def check_kernel() -> None:
    """The notebooks must run on this environment's Python, where webapp's dependencies are."""
    try:
        command = KernelManager(kernel_name=KERNEL).format_kernel_cmd()
    except NoSuchKernel:
        raise UsageError(f"no Jupyter kernel {KERNEL!r}: install ipykernel into this environment") from None
    if os.path.abspath(command[0]) != os.path.abspath(sys.executable):
        raise UsageError(
            f"the Jupyter kernel {KERNEL!r} runs {command[0]}, not this environment's {sys.executable}: "
            "remove that kernelspec (jupyter kernelspec list) or set JUPYTER_PREFER_ENV_PATH=1"
        )


def normalise_base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"--base-url {url}: give an http:// or https:// URL")
    return url.rstrip("/")


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


# -- provenance -----------------------------------------------------------------------------
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


# -- execution ------------------------------------------------------------------------------
@dataclass
class NotebookRun:
    name: str
    duration_s: float
    error: str | None  # why the notebook stopped, when it did
    checks: list[Check] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)
    not_run: str | None = None  # why it was not run (--fail-fast after a failed group), when it was not

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def execute(name: str, folder: Path, parameters: dict) -> NotebookRun:
    output = (folder / f"{name}.ipynb").absolute()  # papermill changes directory to cwd while it runs
    started = time.perf_counter()
    error = None
    try:
        papermill.execute_notebook(
            str(NOTEBOOK_DIR / f"{name}.ipynb"),
            str(output),
            parameters=parameters,
            kernel_name=KERNEL,
            cwd=str(ROOT),  # notebooks import webapp and tools and read data/ relative to the repository
            progress_bar=sys.stderr.isatty(),
            execution_timeout=CELL_TIMEOUT_S,
            start_timeout=KERNEL_START_TIMEOUT_S,
            # The kernel warns on every start that its local TCP channels are not encrypted, and logs
            # the interrupt it gets at shutdown as an error; cell errors are in the notebook itself.
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
        )
    except papermill.PapermillExecutionError as exc:
        error = f"{exc.ename} in cell {exc.exec_count}: {exc.evalue.splitlines()[0] if exc.evalue else ''}"
    except Exception as exc:  # a dead kernel or a timeout: still publish what ran
        error = f"{type(exc).__name__}: {exc}"
    return NotebookRun(name, time.perf_counter() - started, error)


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


def banner(run: NotebookRun, provenance: str = "", not_run: tuple[NotebookRun, ...] = ()) -> str:
    """The top of a notebook's report: its verdict in one of four states (failed, stopped, passed,
    not applicable: a notebook none of whose checks could run here has passed nothing), what was
    validated, the notebooks of the attempt that were not run and why, the failed checks in words,
    a link back to every attempt, and the table of checks."""
    failed = [c for c in run.checks if c.status == FAIL]
    not_applicable = [c for c in run.checks if c.status == NOT_APPLICABLE]
    passed = len(run.checks) - len(failed) - len(not_applicable)
    failing_the_plan = [c for c in run.checks if c.fails_the_plan]
    overridden = sorted({f"{c.parameter} ({c.override})" for c in run.checks if c.override})
    counts = f"{passed} passed, {len(failed)} failed, {len(not_applicable)} not applicable"
    if failed:
        colour, verdict = "#a4161a", f"FAILED: {len(failed)} of {len(run.checks)} checks failed ({counts})"
    elif run.error:
        colour, verdict = "#a4161a", f"STOPPED before its checks were complete: {run.error}"
    elif passed:
        colour, verdict = (
            "#11632a",
            f"PASSED: {passed} passed" + (f", {len(not_applicable)} not applicable" if not_applicable else ""),
        )
        if failing_the_plan:
            # Passed only because a threshold was moved: not a pass as planned, and the page says so.
            colour = "#8a5a00"
            verdict += f"; {len(failing_the_plan)} of them only at moved thresholds (they fail as planned)"
    else:
        colour, verdict = "#5c5c5c", f"NOT APPLICABLE: none of its {len(run.checks)} checks could run here"
    lines = [f'<div style="border-left: 6px solid {colour}; padding: 0.4em 0.8em; background: #f7f7f7">']
    lines.append(f'<strong style="color: {colour}">{run.name}: {html.escape(verdict)}</strong>')
    # The page is REPORTS/<release>/<attempt>/<notebook>.html; the index lists every attempt.
    if provenance:
        lines.append(f'<p style="color: #555">{html.escape(provenance)}</p>')
    skipped: dict[str, list[str]] = {}
    for other in not_run:
        skipped.setdefault(other.not_run or "", []).append(other.name)
    for reason, names in skipped.items():
        lines.append(f"<p><strong>Not run in this attempt: {', '.join(names)}; {html.escape(reason)}.</strong></p>")
    lines.append('<p><a href="../../index.html">All validation reports of this environment</a></p>')
    # The failed checks in words; the table below gives every check, with why one did not apply.
    if failed:
        lines.append("<ul>" + "".join(f"<li>{html.escape(c.describe())}</li>" for c in failed) + "</ul>")
    if failing_the_plan:
        lines.append(
            "<p>At the thresholds the notebooks plan (their defaults) these checks fail:</p><ul>"
            + "".join(f"<li>{html.escape(c.describe())}</li>" for c in failing_the_plan)
            + "</ul>"
        )
    if overridden:
        lines.append(f"<p>Thresholds not at their default: {html.escape(', '.join(overridden))}.</p>")
    if run.checks:
        lines.append(checks_table(run.checks).to_html(index=False, escape=True))
    lines.append("</div>")
    return "\n".join(lines)


def read_back(run: NotebookRun, folder: Path) -> None:
    """Read back the checks and figures the executed notebook recorded. A notebook that stopped
    with every recorded check passed (or with none, or before its output was written) gets a
    failed check saying so: it never passes."""
    executed = folder / f"{run.name}.ipynb"
    found = recorded(nbformat.read(executed, as_version=4)) if executed.exists() else None
    if found:
        run.checks, run.metrics = list(found.checks), list(found.metrics)
    if run.error and run.passed:
        # Stopped by something other than a failed check (before recording them, or after).
        run.checks.append(
            Check(
                run.name,
                "notebook ran to the end",
                "stopped",
                "==",
                "completed",
                False,
                detail=run.error,
                source="every notebook runs to its end",
                status=FAIL,
            )
        )


def publish(
    run: NotebookRun, folder: Path, title: str, provenance: str = "", not_run: tuple[NotebookRun, ...] = ()
) -> None:
    """Put the verdict banner at the top of the executed notebook, and write its HTML report."""
    executed = folder / f"{run.name}.ipynb"
    if not executed.exists():
        return
    notebook = nbformat.read(executed, as_version=4)
    cell = nbformat.v4.new_markdown_cell(banner(run, provenance, not_run))
    cell.metadata["tags"] = ["validation-verdict"]
    notebook.cells.insert(0, cell)
    nbformat.write(notebook, executed)
    # The page shows what was measured, not the code that measured it (the executed notebook
    # beside it keeps the code): no code, no prompts, the parameters cells gone with their code.
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": title}})
    (folder / f"{run.name}.html").write_text(body, encoding="utf-8")


# -- publishing -----------------------------------------------------------------------------
def new_attempt(reports_dir: Path, release: str, started_at: dt.datetime) -> Path:
    """A folder of its own for this attempt, named by when it started."""
    stamp = started_at.strftime(ATTEMPT_FORMAT)
    for suffix in ("", *(f"-{n}" for n in range(2, 100))):
        folder = reports_dir / release / f"{stamp}{suffix}"
        try:
            folder.mkdir(parents=True)
            return folder
        except FileExistsError:
            continue
    raise UsageError(f"{reports_dir / release}: too many attempts started at {stamp}")


def _write(path: Path, text: str) -> None:
    """Write through a temporary file, so a reader never sees half of it."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def trend_svgs(attempts: list[dict], environment: str) -> list[str]:
    """The index's trends of one environment, one SVG per figure (side by side on a wide screen,
    one under the other on a phone); none when it has no attempt."""
    import matplotlib

    from webapp.fields import FIELD_NAMES

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    svgs = []
    for name in history.TREND_FIGURES:
        figure = history.trend_figure(attempts, environment, FIELD_NAMES, (name,))
        if figure is None:
            return []
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg")
        plt.close(figure)
        svg = buffer.getvalue()
        svgs.append(svg[svg.index("<svg") :])
    return svgs


def write_index(reports_dir: Path) -> Path:
    """reports/index.html: every attempt, newest first, and the trends of each environment."""
    attempts = history.attempts(reports_dir)
    environments = sorted({summary["provenance"]["environment"] for summary in attempts})
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(NOTEBOOK_DIR / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    # A value as JSON, as it was written (Jinja's tojson escapes quotes for <script>: \u0027);
    # autoescape makes it safe for the page.
    environment.filters["as_json"] = lambda value: json.dumps(value, ensure_ascii=False)
    index = reports_dir / "index.html"
    _write(
        index,
        environment.get_template("index.html.j2").render(
            attempts=list(reversed(attempts)),
            trends={name: trend_svgs(attempts, name) for name in environments},
        ),
    )
    return index


def not_run_reason(failed: list[str]) -> str:
    """Why --fail-fast left a notebook out: the notebooks that failed in the group before."""
    names = ", ".join(failed[:-1]) + " and " + failed[-1] if len(failed) > 1 else failed[0]
    return f"{names} failed first (--fail-fast)"


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
        own = {key for key, parameter in declared.items() if name in parameter.notebooks}
        parameters = {
            **{key: value for key, value in values.items() if key in own},
            "overridden": {key: entry["origin"] for key, entry in overridden.items() if key in own},
            **{key: value for key, value in {**profile, **overrides}.items() if key in own},
        }
        run = execute(name, folder, parameters)
        if redact(folder / f"{name}.ipynb", secrets):
            leaked.append(f"{name}.ipynb")
        if run.error:
            for secret in secrets:
                run.error = run.error.replace(secret, REDACTED)
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

    finished: dict[str, NotebookRun] = {}
    failed_first: list[str] = []  # with fail_fast: the failed notebooks of the group that stopped the run
    for group in RUN_GROUPS:
        if failed_first:
            reason = not_run_reason(failed_first)
            for name in group:
                log.info("[%d/%d] %s: not run, %s", NOTEBOOKS.index(name) + 1, len(NOTEBOOKS), name, reason)
                finished[name] = NotebookRun(name, 0.0, None, not_run=reason)
            continue
        with ThreadPoolExecutor(max_workers=len(group), thread_name_prefix="notebook") as pool:
            ran = dict(zip(group, pool.map(run_notebook, group), strict=True))
        finished.update(ran)
        if fail_fast:
            failed_first = [name for name in group if not ran[name].passed]
    runs = [finished[name] for name in NOTEBOOKS]
    # Published once every group ran or was left out, so each page's verdict names what was not run.
    not_run = tuple(run for run in runs if run.not_run)
    for run in runs:
        publish(run, folder, f"{run.name}: release {release}", provenance_line(release, facts), not_run)
    leaked += [path.name for path in folder.glob("*.html") if redact(path, secrets)]
    checks = [check for run in runs for check in run.checks]
    if secrets:
        checks.append(
            Check(
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
                status=FAIL if leaked else "pass",
            )
        )
    finished_at = dt.datetime.now(dt.UTC)
    summary = {
        "release": release,
        "attempt": folder.name,
        "base_url": base_url,
        "passed": all(c.passed for c in checks),
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": finished_at.isoformat(timespec="seconds"),
        "duration_s": round((finished_at - started_at).total_seconds(), 1),
        "provenance": facts,
        "baseline": {"release": baseline["release"], "attempt": baseline["attempt"], "folder": baseline["folder"]}
        if baseline
        else None,
        "overrides": overridden,
        "notebooks": [
            {
                "name": run.name,
                "passed": None if run.not_run else run.passed,
                "not_run": run.not_run,
                "error": run.error,
                "duration_s": round(run.duration_s, 1),
                "notebook": f"{run.name}.ipynb" if (folder / f"{run.name}.ipynb").exists() else None,
                "html": f"{run.name}.html" if (folder / f"{run.name}.html").exists() else None,
            }
            for run in runs
        ],
        "checks": [asdict(check) for check in checks],
        "metrics": [asdict(metric) for run in runs for metric in run.metrics],
        "failed": [check.describe() for check in checks if not check.passed],
        "not_applicable": [check.describe() for check in checks if check.status == NOT_APPLICABLE],
        "failed_as_planned": [check.describe() for check in checks if check.fails_the_plan],
    }
    _write(folder / "summary.json", json.dumps(summary, indent=2) + "\n")
    write_index(reports_dir)
    return summary, folder


# -- command line ---------------------------------------------------------------------------
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
    result.add_argument("--base-url", required=True, help="the service under test, e.g. https://search.example.com")
    result.add_argument(
        "--release",
        required=True,
        help="release id (letters, digits, '.', '_', '-'): names the report folder; "
        "/health must report it as the version unless expected_version is set",
    )
    result.add_argument(
        "--environment",
        required=True,
        help="the environment the release runs in (local, staging, production): a release is compared with "
        "the last passing release of the same environment",
    )
    result.add_argument(
        "--reports-dir", type=Path, default=Path("reports"), help="where reports are kept (default: reports)"
    )
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
    deployment.add_argument(
        "--client-location",
        default="",
        help="where this validation runs, in words (client-side latency includes the path from here); "
        "default: this machine's name",
    )
    deployment.add_argument("--target-group-arn", default="", help="the load balancer's target group of the service")
    logs = deployment.add_mutually_exclusive_group()
    logs.add_argument("--log-group", default="", help="the CloudWatch Logs group the service's tasks write to")
    logs.add_argument("--log-file", default="", help="the service's log file, where it writes to one")
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
