"""The checks a validation notebook records, and how the runner reads them back.

A notebook measures, then calls :meth:`Checks.check` once per criterion with the measured value,
the comparison and the threshold: pass or fail is computed here, never written by hand. Its
second-to-last cell calls :meth:`Checks.record`, which shows the table in the report and embeds
the same rows, machine-readable, as a display output of type :data:`MIME_TYPE`; its last cell
calls :meth:`Checks.raise_if_failed`, so a failed check also fails the notebook, after the
summary is on the page. :func:`recorded_checks` reads the rows back from an executed notebook.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import asdict, dataclass

import nbformat

MIME_TYPE = "application/vnd.finnews.validation-checks+json"

COMPARISONS: dict[str, Callable[[object, object], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}

Scalar = float | int | str | bool | None


@dataclass(frozen=True)
class Check:
    notebook: str
    name: str
    value: Scalar
    comparison: str
    threshold: Scalar
    passed: bool
    unit: str = ""
    detail: str = ""

    def describe(self) -> str:
        """One line for logs, 'relevance: embedding384d: nDCG@10 = 0.6754 (needs >= 0.62)', with the
        detail when the check failed."""
        unit = f" {self.unit}" if self.unit else ""
        line = f"{self.notebook}: {self.name} = {_format(self.value)}{unit} (needs {self.comparison} {_format(self.threshold)}{unit})"
        return f"{line}: {self.detail}" if self.detail and not self.passed else line


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


class Checks:
    """The checks of one notebook, in the order they were made."""

    def __init__(self, notebook: str):
        self.notebook = notebook
        self.checks: list[Check] = []

    def check(
        self, name: str, value: object, comparison: str, threshold: object, unit: str = "", detail: str = ""
    ) -> bool:
        """Record one check; a value that could not be measured (None, NaN) fails it."""
        if comparison not in COMPARISONS:
            raise ValueError(f"unknown comparison {comparison!r}; use one of {', '.join(COMPARISONS)}")
        value, threshold = _plain(value), _plain(threshold)
        passed = value is not None and bool(COMPARISONS[comparison](value, threshold))
        self.checks.append(Check(self.notebook, name, value, comparison, threshold, passed, unit, detail))
        return passed

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

    def table(self):
        import pandas as pd

        rows = [
            {
                "check": c.name,
                "measured": _format(c.value),
                "threshold": f"{c.comparison} {_format(c.threshold)}",
                "unit": c.unit,
                "result": "pass" if c.passed else "FAIL",
                "detail": c.detail,
            }
            for c in self.checks
        ]
        return pd.DataFrame(rows, columns=["check", "measured", "threshold", "unit", "result", "detail"])

    def record(self) -> None:
        """Show the checks as a table and embed them for the runner, in one display output."""
        from IPython.display import display

        if not self.checks:
            raise RuntimeError(f"{self.notebook}: no check was made")
        table = self.table()
        display(
            {
                "text/plain": table.to_string(index=False),
                "text/html": table.to_html(index=False, escape=True),
                MIME_TYPE: [asdict(check) for check in self.checks],
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


def recorded_checks(notebook: nbformat.NotebookNode) -> list[Check] | None:
    """The checks an executed notebook recorded, or None when it stopped before recording them."""
    for cell in reversed(notebook.cells):
        for output in cell.get("outputs", []):
            if MIME_TYPE in output.get("data", {}):
                return [Check(**row) for row in output["data"][MIME_TYPE]]
    return None
