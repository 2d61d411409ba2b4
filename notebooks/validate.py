"""Validate a release: execute the validation notebooks against the running service, publish
the reports, and exit non-zero when any check failed.

Each notebook is executed with papermill into REPORTS/RELEASE/NAME.ipynb and converted to
NAME.html (plots embedded: the HTML opens without Jupyter). REPORTS/RELEASE/summary.json lists
every check (notebook, name, measured value, comparison, threshold, passed) and
REPORTS/index.html lists every release in REPORTS, newest first, with its verdict and links.
Validating a release again replaces its reports.

Exit status: 0 every check passed; 1 a check failed or a notebook stopped with an error (the
failed checks are named); 2 usage error, or the service cannot be reached.

The kernel is this Python's (the `python3` kernelspec that ipykernel installs into this
environment). A token for a service behind an authenticating proxy is read from the
environment variable FINNEWS_VALIDATION_TOKEN (or, with --token-stdin, from standard input, which
keeps it out of process listings and of Ansible's verbose output) and sent as a bearer token; it
is never a notebook
parameter, so it cannot be written into a report, and every executed notebook is searched for it
(and redacted, failing the run) before anything is published.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import re
import shutil
import sys
import time
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

from notebooks.checks import Check, recorded_checks
from notebooks.client import TOKEN_ENV, session

log = logging.getLogger("notebooks.validate")

NOTEBOOK_DIR = Path(__file__).resolve().parent
ROOT = NOTEBOOK_DIR.parent
# In the order they run: health first, so a broken deployment is named before its symptoms.
NOTEBOOKS = ("health", "endpoints", "performance", "relevance")
KERNEL = "python3"
# Parameters the runner sets from its own options.
RUNNER_PARAMETERS = ("base_url", "release")
# A cell that runs longer than this is hung (the longest, the throughput phase, is bounded by
# its parameters).
CELL_TIMEOUT_S = 1800
RELEASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
REDACTED = "[redacted]"


class UsageError(Exception):
    """Bad options or an unusable environment (exit status 2)."""


# The annotations a notebook parameter may have, and the type a --set value is checked against.
PARAMETER_TYPES: dict[str, object] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list[str]": list[str],
    "dict[str, float]": dict[str, float],
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


def parse_overrides(pairs: list[str], declared: dict[str, Parameter]) -> dict[str, object]:
    overrides = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep:
            raise UsageError(f"--set {pair}: use NAME=VALUE")
        if name in RUNNER_PARAMETERS:
            raise UsageError(f"--set {name}: use --{name.replace('_', '-')} instead")
        if name not in declared:
            raise UsageError(f"--set {name}: no notebook has this parameter (see --help)")
        overrides[name] = declared[name].parse(text)
    return overrides


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


def check_reachable(base_url: str) -> None:
    try:
        with session() as http:
            response = http.get(f"{base_url}/health/live", timeout=15)
    except requests.RequestException as exc:
        raise UsageError(f"cannot reach the service at {base_url}: {exc}") from None
    if response.status_code in (401, 403):
        raise UsageError(f"{base_url}/health/live answered {response.status_code}: set {TOKEN_ENV} to a valid token")


# -- execution ------------------------------------------------------------------------------
@dataclass
class NotebookRun:
    name: str
    duration_s: float
    error: str | None  # why the notebook stopped, when it did
    checks: list[Check] = field(default_factory=list)

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
            # The kernel warns on every start that its local TCP channels are not encrypted, and logs
            # the interrupt it gets at shutdown as an error; cell errors are in the notebook itself.
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
        )
    except papermill.PapermillExecutionError as exc:
        error = f"{exc.ename} in cell {exc.exec_count}: {exc.evalue.splitlines()[0] if exc.evalue else ''}"
    except Exception as exc:  # a dead kernel or a timeout: still publish what ran
        error = f"{type(exc).__name__}: {exc}"
    return NotebookRun(name, time.perf_counter() - started, error)


def redact(path: Path, secret: str | None) -> bool:
    """Replace the secret in a file; True when it was there."""
    if not secret or not path.exists():
        return False
    text = path.read_text(encoding="utf-8")
    if secret not in text:
        return False
    path.write_text(text.replace(secret, REDACTED), encoding="utf-8")
    return True


def to_html(notebook: nbformat.NotebookNode, title: str, path: Path) -> None:
    body, _ = HTMLExporter().from_notebook_node(notebook, resources={"metadata": {"name": title}})
    path.write_text(body, encoding="utf-8")


# -- publishing -----------------------------------------------------------------------------
def write_summary(folder: Path, summary: dict) -> None:
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


def write_index(reports_dir: Path) -> Path:
    """reports/index.html: every release with a summary, newest first."""
    releases = []
    for path in reports_dir.glob("*/summary.json"):
        try:
            releases.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("%s left out of the index: %s", path, exc)
    releases.sort(key=lambda summary: summary["finished_at"], reverse=True)
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(NOTEBOOK_DIR / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    index = reports_dir / "index.html"
    index.write_text(environment.get_template("index.html.j2").render(releases=releases), encoding="utf-8")
    return index


def validate(base_url: str, release: str, reports_dir: Path, overrides: dict, declared: dict[str, Parameter]) -> dict:
    """Execute every notebook, publish the reports and return the summary."""
    folder = reports_dir / release
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    secret = os.environ.get(TOKEN_ENV)
    started_at = dt.datetime.now(dt.UTC)
    runs: list[NotebookRun] = []
    leaked: list[str] = []
    for position, name in enumerate(NOTEBOOKS, start=1):
        log.info("[%d/%d] %s: executing", position, len(NOTEBOOKS), name)
        parameters = {
            "base_url": base_url,
            "release": release,
            **{key: value for key, value in overrides.items() if name in declared[key].notebooks},
        }
        run = execute(name, folder, parameters)
        executed = folder / f"{name}.ipynb"
        if redact(executed, secret):
            leaked.append(executed.name)
        if secret and run.error:
            run.error = run.error.replace(secret, REDACTED)
        if executed.exists():
            notebook = nbformat.read(executed, as_version=4)
            run.checks = recorded_checks(notebook) or []
            to_html(notebook, f"{name}: release {release}", folder / f"{name}.html")
        if run.error and run.passed:
            # Stopped by something other than a failed check (before recording them, or after).
            run.checks.append(
                Check(name, "notebook ran to the end", "stopped", "==", "completed", False, "", run.error)
            )
        failed = [c for c in run.checks if not c.passed]
        log.info(
            "[%d/%d] %s: %d of %d checks passed in %.1f s%s",
            position,
            len(NOTEBOOKS),
            name,
            len(run.checks) - len(failed),
            len(run.checks),
            run.duration_s,
            f" ({run.error})" if run.error and not failed else "",
        )
        runs.append(run)
    checks = [check for run in runs for check in run.checks]
    if secret:
        checks.append(
            Check(
                "validate",
                "no token in the executed notebooks",
                len(leaked),
                "==",
                0,
                not leaked,
                "notebooks",
                f"found and redacted in: {', '.join(leaked)}" if leaked else f"searched for ${TOKEN_ENV}",
            )
        )
    finished_at = dt.datetime.now(dt.UTC)
    summary = {
        "release": release,
        "base_url": base_url,
        "passed": all(c.passed for c in checks),
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": finished_at.isoformat(timespec="seconds"),
        "duration_s": round((finished_at - started_at).total_seconds(), 1),
        "overrides": overrides,
        "notebooks": [
            {
                "name": run.name,
                "passed": run.passed,
                "error": run.error,
                "duration_s": round(run.duration_s, 1),
                "notebook": f"{run.name}.ipynb",
                "html": f"{run.name}.html" if (folder / f"{run.name}.html").exists() else None,
            }
            for run in runs
        ],
        "checks": [asdict(check) for check in checks],
        "failed": [check.describe() for check in checks if not check.passed],
    }
    write_summary(folder, summary)
    write_index(reports_dir)
    return summary


# -- command line ---------------------------------------------------------------------------
def parser(declared: dict[str, Parameter]) -> argparse.ArgumentParser:
    lines = [f"notebook parameters (--set NAME=VALUE; lists as JSON), in {NOTEBOOK_DIR.relative_to(ROOT)}/:"]
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
        f"environment: {TOKEN_ENV} (optional) bearer token sent to the service, never written to a report.",
    ]
    result = argparse.ArgumentParser(
        prog="python -m notebooks.validate",
        description="Execute the release validation notebooks (health, endpoints, performance, relevance) "
        "against a running service; write REPORTS/RELEASE/*.ipynb, *.html and summary.json, and "
        "REPORTS/index.html; exit non-zero when any check fails.",
        epilog="\n".join(lines),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    result.add_argument("--base-url", required=True, help="the service under test, e.g. http://127.0.0.1:8000")
    result.add_argument(
        "--release",
        required=True,
        help="release id (letters, digits, '.', '_', '-'): names the report folder; "
        "/health must report it as the version unless expected_version is set",
    )
    result.add_argument(
        "--reports-dir", type=Path, default=Path("reports"), help="where reports are written (default: reports)"
    )
    result.add_argument(
        "--set",
        dest="overrides",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="override a notebook parameter (a threshold, a request count); repeatable",
    )
    result.add_argument(
        "--token-stdin",
        action="store_true",
        help=f"read the bearer token from standard input (its first line) instead of ${TOKEN_ENV}",
    )
    return result


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("papermill").setLevel(logging.WARNING)  # our own lines say what runs
    logging.getLogger("traitlets").setLevel(logging.ERROR)  # nbconvert: "alternative text is missing" per plot
    declared = notebook_parameters()
    arguments = parser(declared).parse_args(argv)
    if arguments.token_stdin:
        # The notebooks' kernels inherit the environment: that is how the token reaches them.
        os.environ[TOKEN_ENV] = sys.stdin.readline().strip()
    try:
        if not RELEASE_ID.fullmatch(arguments.release):
            raise UsageError(f"--release {arguments.release!r}: use letters, digits, '.', '_' and '-' only")
        base_url = normalise_base_url(arguments.base_url)
        overrides = parse_overrides(arguments.overrides, declared)
        check_kernel()
        check_reachable(base_url)
    except UsageError as exc:
        print(f"validate: error: {exc}", file=sys.stderr)
        return 2
    summary = validate(base_url, arguments.release, arguments.reports_dir, overrides, declared)
    folder = arguments.reports_dir / arguments.release
    total = len(summary["checks"])
    if summary["passed"]:
        print(f"release {arguments.release}: PASSED, {total} of {total} checks")
    else:
        print(f"release {arguments.release}: FAILED, {len(summary['failed'])} of {total} checks failed:")
        for line in summary["failed"]:
            print(f"  {line}")
    print(f"reports: {folder}/ (summary.json, *.html); index: {arguments.reports_dir / 'index.html'}")
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
