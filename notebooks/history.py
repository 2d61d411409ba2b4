"""The validation history: every attempt ever published under a reports folder, the baseline a
release is compared with, and the trends the index and the regression notebook plot.

Layout: REPORTS/<release>/<attempt>/summary.json, <attempt> being the UTC time the attempt
started (20260101T120000Z). Attempts are never deleted, so the history is the folder.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)

# The figures the trends show, per search field: "<field>: <figure>" in each attempt's metrics.
TREND_FIGURES = {
    "server p50": ("performance", "server p50 latency (ms), single client"),
    "nDCG@10": ("relevance", "nDCG@10 on the judged queries"),
}


def attempts(reports_dir: Path) -> list[dict]:
    """Every published attempt's summary, oldest first; each gets `folder` (relative to
    reports_dir). A summary that cannot be read is left out, with a warning."""
    found = []
    for path in sorted(reports_dir.glob("*/*/summary.json")):
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("%s left out of the history: %s", path, exc)
            continue
        if "provenance" not in summary:
            log.warning("%s left out of the history: written by an earlier runner (no provenance)", path)
            continue
        summary["folder"] = path.parent.relative_to(reports_dir).as_posix()
        found.append(summary)
    return sorted(found, key=lambda summary: summary["started_at"])


def baseline(history: list[dict], environment: str, release: str) -> dict | None:
    """The last passing attempt of another release in the same environment: what a release is
    compared with. Another release, because an earlier attempt of the same one would let a
    regression it brought in pass on its second try."""
    passing = [
        summary
        for summary in history
        if summary["passed"] and summary["provenance"]["environment"] == environment and summary["release"] != release
    ]
    return passing[-1] if passing else None


def metric(summary_or_metrics: dict | list, notebook: str, name: str):
    """One recorded figure's value, or None."""
    metrics = summary_or_metrics["metrics"] if isinstance(summary_or_metrics, dict) else summary_or_metrics
    for row in metrics:
        if row["notebook"] == notebook and row["name"] == name:
            return row["value"]
    return None


def trend_figure(history: list[dict], environment: str, fields: tuple[str, ...]):
    """Server p50 and nDCG@10 per field over the attempts of one environment, in the order they ran:
    filled markers passed, hollow ones failed. None when the environment has no attempt yet."""
    import matplotlib.pyplot as plt

    runs = [summary for summary in history if summary["provenance"]["environment"] == environment]
    if not runs:
        return None
    fig, axes = plt.subplots(1, len(TREND_FIGURES), figsize=(6 * len(TREND_FIGURES), 3.6), squeeze=False)
    positions = range(len(runs))
    labels = [f"{summary['release']}\n{summary['attempt'][4:8]}T{summary['attempt'][9:13]}" for summary in runs]
    for ax, (figure, (notebook, title)) in zip(axes[0], TREND_FIGURES.items(), strict=True):
        for field in fields:
            values = [metric(summary, notebook, f"{field}: {figure}") for summary in runs]
            line = ax.plot(positions, [float("nan") if v is None else v for v in values], label=field)[0]
            for x, value, summary in zip(positions, values, runs, strict=True):
                if value is not None:
                    ax.plot(
                        x,
                        value,
                        marker="o",
                        color=line.get_color(),
                        markerfacecolor=line.get_color() if summary["passed"] else "white",
                    )
        ax.set_xticks(list(positions), labels, fontsize=7)
        ax.set_title(title, fontsize=10)
        ax.set_ylim(bottom=0)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{environment}: attempts in the order they ran (hollow: failed)", fontsize=10)
    fig.tight_layout()
    return fig
