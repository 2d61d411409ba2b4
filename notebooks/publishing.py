"""Publishing an attempt: its folder (REPORTS/RELEASE/ATTEMPT/, never replaced), each executed
notebook with its verdict on top and its HTML page, summary.json (notebooks/summary.schema.json),
and REPORTS/index.html with the trends of each environment (notebooks/history.py).
"""

from __future__ import annotations

import datetime as dt
import html
import json
from dataclasses import asdict
from pathlib import Path

import jinja2
import nbformat
from nbconvert import HTMLExporter

from notebooks import history
from notebooks.checks import FAIL, NOT_APPLICABLE, Check, checks_table
from notebooks.execution import NotebookRun
from notebooks.parameters import NOTEBOOK_DIR, UsageError

ATTEMPT_FORMAT = "%Y%m%dT%H%M%SZ"


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


def write_atomically(path: Path, text: str) -> None:
    """Write through a temporary file, so a reader never sees half of it."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


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


def publish_summary(
    folder: Path,
    release: str,
    base_url: str,
    started_at: dt.datetime,
    facts: dict,
    baseline: dict | None,
    overridden: dict[str, dict],
    runs: list[NotebookRun],
    checks: list[Check],
) -> dict:
    """Write the attempt's summary.json: every check, the figures later attempts compare with, the
    baseline, the overrides and the provenance; return it."""
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
    write_atomically(folder / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


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
    write_atomically(
        index,
        environment.get_template("index.html.j2").render(
            attempts=list(reversed(attempts)),
            trends={name: history.trend_svgs(attempts, name) for name in environments},
        ),
    )
    return index
