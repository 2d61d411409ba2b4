"""The validation history: every attempt ever published under a reports folder, the baseline a
release is compared with, and the trends the index and the regression notebook plot.

Layout: REPORTS/<release>/<attempt>/summary.json, <attempt> being the UTC time the attempt
started (20260101T120000Z). Attempts are never deleted, so the history is the folder.
"""

from __future__ import annotations

import io
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Trend:
    notebook: str  # the notebook that records the figure
    title: str
    parameter: str  # the notebook's per-field threshold parameter: its defaults are the planned limits
    scale: float  # from the parameter's unit to the figure's
    from_zero: bool  # the axis starts at 0 (a latency), or around the data and limits (a score)


# The figures the trends show, per search field: "<field>: <figure>" in each attempt's metrics.
TREND_FIGURES = {
    "server mean": Trend(
        "performance", "server-side mean latency (ms), one client", "max_mean_latency_s", 1000.0, True
    ),
    "nDCG@10": Trend("relevance", "nDCG@10 on the judged queries", "min_ndcg", 1.0, False),
}
# At most this many attempts are named under a trend's axis (every n-th beyond it).
TREND_LABELS = 12


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
    regression it brought in pass on its second try. Passing, because a failed attempt's figures
    are no yardstick, and one stopped by --fail-fast lacks the notebooks it did not run."""
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


def trend_figure(
    history: list[dict], environment: str, fields: tuple[str, ...], figures: tuple[str, ...] = tuple(TREND_FIGURES)
):
    """Each of `figures` (TREND_FIGURES' keys) per field over the attempts of one environment, in
    the order they ran (filled markers passed, hollow ones failed; a gap where an attempt recorded
    no such figure, as one stopped by --fail-fast before the notebook), side by side, with the planned
    limits (the notebooks' defaults) dashed, or named when they lie far beyond the data. None
    when the environment has no attempt."""
    import matplotlib.pyplot as plt

    from notebooks.checks import threshold_parameters

    runs = [summary for summary in history if summary["provenance"]["environment"] == environment]
    if not runs:
        return None
    fig, axes = plt.subplots(1, len(figures), figsize=(5.6 * len(figures), 4.0), squeeze=False)
    positions = list(range(len(runs)))
    labels = [f"{summary['release']}\n{summary['attempt'][4:8]}T{summary['attempt'][9:13]}" for summary in runs]
    step = math.ceil(len(runs) / TREND_LABELS)
    # Side by side rather than on top of each other: fields with equal figures stay visible.
    width = 0.3 if len(fields) > 1 else 0.0
    offsets = [width * (i / max(len(fields) - 1, 1) - 0.5) for i in range(len(fields))]
    for ax, figure in zip(axes[0], figures, strict=True):
        trend = TREND_FIGURES[figure]
        limits = threshold_parameters(trend.notebook)[trend.parameter].default
        highest, lowest, off_scale, colours = 0.0, math.inf, [], {}
        top = 0.0  # the highest limit drawn
        for offset, field in zip(offsets, fields, strict=True):
            values = [metric(summary, trend.notebook, f"{field}: {figure}") for summary in runs]
            xs = [x + offset for x in positions]
            ys = [math.nan if value is None else value for value in values]
            line = ax.plot(xs, ys, label=field, linewidth=1, alpha=0.8)[0]
            colour = colours[field] = line.get_color()
            for passed in (True, False):
                chosen = [(x, y) for x, y, summary in zip(xs, ys, runs, strict=True) if summary["passed"] is passed]
                if chosen:
                    ax.scatter(
                        *zip(*chosen, strict=True),
                        s=22,
                        color=colour if passed else "white",
                        edgecolors=colour,
                        zorder=3,
                    )
            measured = [y for y in ys if not math.isnan(y)]
            highest, lowest = max([highest, *measured]), min([lowest, *measured])
        for field, colour in colours.items():
            limit = limits[field] * trend.scale
            # A limit far beyond the data is named, not drawn: drawn, it would squash the data.
            if highest and limit > 3 * highest:
                off_scale.append(f"{field}: {limit:g}")
            else:
                ax.axhline(limit, color=colour, linestyle="--", linewidth=1)
                lowest, top = min(lowest, limit), max(top, limit * 1.05)
        if off_scale:
            ax.text(
                0.99,
                0.97,
                "planned limits off the scale:\n" + "\n".join(off_scale),
                transform=ax.transAxes,
                ha="right",
                va="top",
                fontsize=8,
                bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "#ccc"},
            )
        ax.set_xticks(positions[::step], labels[::step], fontsize=8)
        ax.tick_params(axis="y", labelsize=9)
        ax.set_xlim(-0.5, len(runs) - 0.5)
        ax.set_title(trend.title, fontsize=11)
        if trend.from_zero:
            ax.set_ylim(bottom=0, top=max(highest * 1.25, top) or None)
        elif math.isfinite(lowest):
            ax.set_ylim(bottom=max(0.0, lowest - 0.05))
        ax.legend(fontsize=8, loc="best", title="dashed: planned limit", title_fontsize=8)
    fig.suptitle(f"{environment}: attempts in the order they ran (hollow: failed)", fontsize=10)
    fig.tight_layout()
    return fig


def trend_svgs(history: list[dict], environment: str) -> list[str]:
    """The index's trends of one environment, one SVG per figure (side by side on a wide screen,
    one under the other on a phone); none when it has no attempt."""
    import matplotlib

    from webapp.fields import FIELD_NAMES

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    svgs = []
    for name in TREND_FIGURES:
        figure = trend_figure(history, environment, FIELD_NAMES, (name,))
        if figure is None:
            return []
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg")
        plt.close(figure)
        svg = buffer.getvalue()
        svgs.append(svg[svg.index("<svg") :])
    return svgs
