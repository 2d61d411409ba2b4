"""Executing the notebooks: each with papermill in a kernel of its own, group after group, and
what each recorded read back from the executed notebook. With fail_fast (--fail-fast), the
groups after one with a failed notebook are not run (notebooks/validate.py says why).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import papermill
from jupyter_client import KernelManager
from jupyter_client.kernelspec import NoSuchKernel

from notebooks.checks import FAIL, Check, Metric, recorded
from notebooks.parameters import NOTEBOOK_DIR, NOTEBOOKS, ROOT, UsageError

log = logging.getLogger(__name__)

# How they run: each group after the one before, the notebooks of a group side by side (each in
# its own kernel). Performance measures latency and throughput, so nothing runs beside it; the
# regression notebook reads what the others recorded in the attempt's folder, so it runs last.
RUN_GROUPS = (("health", "endpoints", "relevance", "edge"), ("performance",), ("regression",))
KERNEL = "python3"
# A cell that runs longer than this is hung (the longest, the throughput phase, is bounded by
# its parameters).
CELL_TIMEOUT_S = 1800
# Seconds a notebook's kernel may take to start. Four start side by side (RUN_GROUPS), beside
# the service under test: on a loaded 2-core host one took over jupyter's 60 s.
KERNEL_START_TIMEOUT_S = 300


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


def not_run_reason(failed: list[str]) -> str:
    """Why --fail-fast left a notebook out: the notebooks that failed in the group before."""
    names = ", ".join(failed[:-1]) + " and " + failed[-1] if len(failed) > 1 else failed[0]
    return f"{names} failed first (--fail-fast)"


def run_in_groups(run_notebook: Callable[[str], NotebookRun], fail_fast: bool) -> list[NotebookRun]:
    """Every notebook, in NOTEBOOKS' order: run by `run_notebook` group after group (RUN_GROUPS),
    the notebooks of a group side by side. With fail_fast, the groups after one with a failed
    notebook are not run (and say so)."""
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
    return [finished[name] for name in NOTEBOOKS]
