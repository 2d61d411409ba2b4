"""The checks a validation notebook records, and how the runner reads them back.

A notebook measures, then calls :meth:`Checks.check` once per criterion with the measured value,
the comparison and the threshold: pass or fail is computed here, never written by hand. Every
check names the source of its threshold: either the notebook parameter that holds it (whose
comment in the `parameters` cell ends with ``source: ...``, the one place a threshold's source is
written) or, for a threshold that is not a parameter (a contract of the API, a baseline), the
source itself. A check that cannot run in this environment is recorded with
:meth:`Checks.not_applicable`, a visible row that does not fail the release, never left out.

A parameter's default is the limit the release is planned to meet. An environment's profile or a
run's --set may move a threshold (the rehearsal on a shared 2-core machine); the check then gates
at the moved threshold and also records its verdict at the default, so a report says whether the
release would have passed as planned.

Figures that are not checks but that later runs compare against (a p50, an nDCG) are recorded
with :meth:`Checks.measure`. The second-to-last cell calls :meth:`Checks.record`, which shows
the table in the report and embeds the same rows, machine-readable, as a display output of type
:data:`MIME_TYPE`; the last cell calls :meth:`Checks.raise_if_failed`, so a failed check also
fails the notebook, after the summary is on the page. :func:`recorded` reads them back.
"""

from __future__ import annotations

import ast
import functools
import math
import numbers
import operator
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

MIME_TYPE = "application/vnd.finnews.validation-checks+json"
NOTEBOOK_DIR = Path(__file__).resolve().parent
# How a parameter's comment names the source of the threshold it holds.
SOURCE_MARK = "source: "

COMPARISONS: dict[str, Callable[[object, object], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}
PASS, FAIL, NOT_APPLICABLE = "pass", "fail", "not applicable"

Scalar = float | int | str | bool | None


@dataclass(frozen=True)
class Check:
    notebook: str
    name: str
    value: Scalar
    comparison: str
    threshold: Scalar
    passed: bool  # False only when the check failed: a not-applicable row does not fail the release
    unit: str = ""
    detail: str = ""
    source: str = ""  # where the threshold comes from
    parameter: str = ""  # the notebook parameter holding the threshold, if one does
    override: str | None = None  # that parameter's value came from "profile" or "set", not its default
    status: str = PASS  # pass, fail or not applicable
    # When the threshold was moved from its parameter's default: the default (the planned limit)
    # and the verdict there; None when the check gates at the default.
    plan_threshold: Scalar = None
    plan_status: str | None = None

    @property
    def fails_the_plan(self) -> bool:
        """Passed at a moved threshold, but fails at its parameter's default."""
        return self.status == PASS and self.plan_status == FAIL

    def describe(self) -> str:
        """One line for logs, 'relevance: embedding384d: nDCG@10 = 0.6754 (needs >= 0.62)', with the
        detail when the check failed and the origin of an overridden threshold."""
        if self.status == NOT_APPLICABLE:
            return f"{self.notebook}: {self.name}: not applicable ({self.detail})"
        unit = f" {self.unit}" if self.unit else ""
        override = f", threshold from the {self.override}" if self.override else ""
        line = (
            f"{self.notebook}: {self.name} = {_format(self.value)}{unit} "
            f"(needs {self.comparison} {_format(self.threshold)}{unit}{override})"
        )
        if self.plan_status is not None:
            line += f"; at the planned {self.comparison} {_format(self.plan_threshold)}{unit}: {self.plan_status}"
        return f"{line}: {self.detail}" if self.detail and not self.passed else line


@dataclass(frozen=True)
class Metric:
    """A figure a later run compares against (a regression gate) or plots (a trend)."""

    notebook: str
    name: str
    value: Scalar
    unit: str = ""


def _format(value: Scalar) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _plain(value: object) -> Scalar:
    """numpy scalars to Python ones, floats to 6 significant digits (what is shown is what is
    compared), NaN to None (JSON has no NaN)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        return float(f"{value:.6g}") if math.isfinite(value) else None
    return value


@dataclass(frozen=True)
class ThresholdParameter:
    source: str  # where its default comes from
    default: object  # the planned limit


@functools.cache
def threshold_parameters(notebook: str) -> dict[str, ThresholdParameter]:
    """Each threshold parameter of a notebook: the source named by its comment in the
    `parameters` cell (``... source: the release plan``) and its default."""
    import papermill

    found = {}
    for name, spec in papermill.inspect_notebook(str(NOTEBOOK_DIR / f"{notebook}.ipynb")).items():
        _, mark, source = spec["help"].partition(SOURCE_MARK)
        if mark:
            found[name] = ThresholdParameter(source.strip(), ast.literal_eval(spec["default"]))
    return found


def parameter_sources(notebook: str) -> dict[str, str]:
    """The source of each threshold parameter of a notebook."""
    return {name: parameter.source for name, parameter in threshold_parameters(notebook).items()}


def _number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class Checks:
    """The checks of one notebook, in the order they were made.

    `overridden` is the runner's `overridden` parameter: each parameter whose value is not the
    notebook's default, and where it came from ("profile": the environment's validation profile,
    "set": --set on this run). A check whose threshold comes from one says so.
    """

    def __init__(self, notebook: str, overridden: dict[str, str] | None = None):
        self.notebook = notebook
        self.overridden = dict(overridden or {})
        self._parameters: dict[str, ThresholdParameter] | None = None
        self.checks: list[Check] = []
        self.metrics: list[Metric] = []

    def _source(self, parameter: str | None, source: str | None) -> tuple[str, str, str | None]:
        if (parameter is None) == (source is None):
            raise ValueError("name the threshold's source: either the parameter holding it or the source itself")
        if parameter is None:
            return source, "", None
        if parameter not in self._threshold_parameters():
            raise ValueError(
                f"{self.notebook}.ipynb: the comment of parameter {parameter!r} must end with '{SOURCE_MARK}...'"
            )
        return self._threshold_parameters()[parameter].source, parameter, self.overridden.get(parameter)

    def _threshold_parameters(self) -> dict[str, ThresholdParameter]:
        if self._parameters is None:
            self._parameters = threshold_parameters(self.notebook)
        return self._parameters

    def _planned(self, parameter: str, key: str | None, scale: float, threshold: Scalar) -> Scalar:
        """The parameter's default (its `key` for a per-field one, times `scale`) when the
        threshold applied was moved from it; None when the check gates at the default, or the two
        do not compare."""
        if not parameter or not self.overridden.get(parameter):
            return None
        default = self._threshold_parameters()[parameter].default
        if isinstance(default, dict):
            if key is None:
                raise ValueError(f"{parameter} holds one threshold per key: name the check's key")
            default = default.get(key)
        default = _plain(default * scale if _number(default) else default)
        return default if _number(default) and _number(threshold) and default != threshold else None

    def check(
        self,
        name: str,
        value: object,
        comparison: str,
        threshold: object,
        unit: str = "",
        detail: str = "",
        *,
        parameter: str | None = None,
        key: str | None = None,
        scale: float = 1,
        source: str | None = None,
    ) -> bool:
        """Record one check; a value that could not be measured (None, NaN) fails it. The threshold
        comes from `parameter` (its source is that parameter's comment; `key`: the threshold's key
        in a per-field parameter; `scale`: from the parameter's unit to the check's, 1000 for a
        limit in seconds checked in milliseconds) or from `source`."""
        if comparison not in COMPARISONS:
            raise ValueError(f"unknown comparison {comparison!r}; use one of {', '.join(COMPARISONS)}")
        source, parameter, override = self._source(parameter, source)
        value, threshold = _plain(value), _plain(threshold)
        passed = value is not None and bool(COMPARISONS[comparison](value, threshold))
        planned = self._planned(parameter, key, scale, threshold)
        plan_status = None
        if planned is not None:
            plan_status = PASS if value is not None and COMPARISONS[comparison](value, planned) else FAIL
        self.checks.append(
            Check(
                self.notebook,
                name,
                value,
                comparison,
                threshold,
                passed,
                unit,
                detail,
                source,
                parameter,
                override,
                PASS if passed else FAIL,
                planned,
                plan_status,
            )
        )
        return passed

    def not_applicable(
        self,
        name: str,
        comparison: str,
        threshold: object,
        reason: str,
        unit: str = "",
        *,
        parameter: str | None = None,
        source: str | None = None,
    ) -> None:
        """A check that cannot run here, shown as such with the reason: it does not fail the release."""
        if not reason:
            raise ValueError(f"{name}: say why the check does not apply")
        source, parameter, override = self._source(parameter, source)
        self.checks.append(
            Check(
                self.notebook,
                name,
                None,
                comparison,
                _plain(threshold),
                True,
                unit,
                reason,
                source,
                parameter,
                override,
                NOT_APPLICABLE,
            )
        )

    def measure(self, name: str, value: object, unit: str = "") -> None:
        """Record a figure for later runs (regression gates, trends)."""
        self.metrics.append(Metric(self.notebook, name, _plain(value), unit))

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

    @property
    def failing_the_plan(self) -> list[Check]:
        return [check for check in self.checks if check.fails_the_plan]

    def table(self):
        return checks_table(self.checks)

    def record(self) -> None:
        """Show the checks as a table and embed them, with the figures, for the runner, in one
        display output."""
        from IPython.display import display

        if not self.checks:
            raise RuntimeError(f"{self.notebook}: no check was made")
        table = self.table()
        display(
            {
                "text/plain": table.to_string(index=False),
                "text/html": table.to_html(index=False, escape=True),
                MIME_TYPE: {
                    "checks": [asdict(check) for check in self.checks],
                    "metrics": [asdict(metric) for metric in self.metrics],
                },
            },
            raw=True,
        )

    def raise_if_failed(self) -> None:
        failed = self.failed
        if failed:
            raise AssertionError(
                f"{len(failed)} of {len(self.checks)} checks failed:\n" + "\n".join(c.describe() for c in failed)
            )


def require_every_field(parameter: str, values: dict) -> None:
    """A per-field parameter must name every search field, and only those: a field without a
    threshold would go unchecked."""
    from webapp.fields import FIELD_NAMES

    missing, unknown = set(FIELD_NAMES) - set(values), set(values) - set(FIELD_NAMES)
    if missing or unknown:
        raise ValueError(
            f"{parameter} must give a value for each of {', '.join(FIELD_NAMES)}"
            f" (missing: {', '.join(sorted(missing)) or 'none'}; unknown: {', '.join(sorted(unknown)) or 'none'})"
        )


@dataclass(frozen=True)
class Recorded:
    checks: list[Check]
    metrics: list[Metric]


def checks_table(checks: list[Check]):
    """The checks as the reports show them: in the notebook's summary, and first in its page."""
    import pandas as pd

    rows = [
        {
            "check": c.name,
            "measured": "" if c.status == NOT_APPLICABLE else _format(c.value),
            "threshold": f"{c.comparison} {_format(c.threshold)}",
            "unit": c.unit,
            "result": c.status.upper() if c.status == FAIL else c.status,
            "at the planned threshold": ""
            if c.plan_status is None
            else f"{c.plan_status.upper() if c.plan_status == FAIL else c.plan_status} "
            f"({c.comparison} {_format(c.plan_threshold)})",
            "threshold source": f"{c.source} [{c.override}: {c.parameter}]" if c.override else c.source,
            "detail": c.detail,
        }
        for c in checks
    ]
    table = pd.DataFrame(
        rows,
        columns=[
            "check",
            "measured",
            "threshold",
            "unit",
            "result",
            "at the planned threshold",
            "threshold source",
            "detail",
        ],
    )
    # The column shows only where a threshold was moved from its default.
    return table if any(c.plan_status for c in checks) else table.drop(columns="at the planned threshold")


def recorded(notebook: nbformat.NotebookNode) -> Recorded | None:
    """The checks and figures an executed notebook recorded, or None when it stopped before
    recording them."""
    for cell in reversed(notebook.cells):
        for output in cell.get("outputs", []):
            if MIME_TYPE in output.get("data", {}):
                payload = output["data"][MIME_TYPE]
                return Recorded(
                    [Check(**row) for row in payload["checks"]], [Metric(**row) for row in payload["metrics"]]
                )
    return None
