"""Ansible callback: a check-mode run's plan, phase by phase, printed at its end."""

from __future__ import annotations

from pathlib import Path

from ansible import context
from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: release_plan
type: aggregate
short_description: The release's plan at the end of a check-mode run
description:
  - At the end of a run in check mode (C(--check)), prints a short block, RELEASE PLAN (check
    mode). For each play that ran a task (each phase of release.yml) it lists the tasks that
    would change, or says there is nothing to change; the tasks whose module has no check mode
    (not run, so what they would do is not known); and what the play's tasks reported for the plan.
  - A task reports for the plan with a debug task whose C(msg) is a dict with a C(release_plan)
    key, a line or a dict of them. The deploy phase reports its task definition (image,
    environment, the secrets' names and versions, never a value), the validation and the
    autoscaling what they would do.
  - Prints nothing for a run that is not in check mode.
requirements:
  - Enabled in ansible.cfg's callbacks_enabled.
options:
  file:
    description: Also write the plan there, as markdown.
    type: path
    env:
      - name: RELEASE_PLAN_FILE
    ini:
      - section: callback_release_plan
        key: file
"""

TITLE = "RELEASE PLAN (check mode)"
NO_CHECK_MODE = "does not support check mode"


class Phase:
    def __init__(self, name: str):
        self.name = name
        self.ran = False
        # Task names in the order they ran (dict keys: each once).
        self.changes: dict[str, None] = {}
        self.unchecked: dict[str, None] = {}
        self.details: list[object] = []


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "release_plan"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.phases: list[Phase] = []

    def v2_playbook_on_play_start(self, play):
        self.phases.append(Phase(play.get_name().strip()))

    def v2_playbook_on_task_start(self, task, is_conditional):
        if self.phases:
            self.phases[-1].ran = True

    def v2_runner_on_ok(self, result):
        if not self.phases:
            return
        phase, outcome = self.phases[-1], result._result
        if outcome.get("changed"):
            phase.changes[task_name(result)] = None
        message = outcome.get("msg")
        if isinstance(message, dict) and "release_plan" in message:
            phase.details.append(message["release_plan"])
        if any(NO_CHECK_MODE in str(item.get("msg", "")) for item in outcome.get("results", [])):
            phase.unchecked[task_name(result)] = None

    def v2_runner_on_skipped(self, result):
        outcome = result._result
        items = outcome.get("results", [outcome])
        if self.phases and any(NO_CHECK_MODE in str(item.get("msg", "")) for item in items):
            self.phases[-1].unchecked[task_name(result)] = None

    def v2_playbook_on_stats(self, stats):
        if not context.CLIARGS.get("check"):
            return
        plan = self.plan()
        self._display.banner(TITLE)
        for phase, entries in plan:
            self._display.display(phase)
            for level, text in entries:
                self._display.display("  " * (level + 1) + text)
        if self.get_option("file"):
            markdown = [f"# {TITLE}"]
            for phase, entries in plan:
                markdown += ["", f"## {phase}", ""] + [f"{'  ' * level}- {text}" for level, text in entries]
            Path(self.get_option("file")).write_text("\n".join(markdown) + "\n")

    def plan(self) -> list[tuple[str, list[tuple[int, str]]]]:
        """Each phase that ran a task, with its entries: (nesting level, text)."""
        plan = []
        for phase in self.phases:
            if not phase.ran:
                continue
            entries = [(0, f"would change: {name}") for name in phase.changes] or [(0, "nothing to change")]
            entries += [(0, f"not checked (its module has no check mode): {name}") for name in phase.unchecked]
            for detail in phase.details:
                entries += entries_of(detail)
            plan.append((phase.name, entries))
        return plan


def task_name(result) -> str:
    """The task's own name, without its role's."""
    return result._task.get_name().split(" : ", 1)[-1].strip()


def entries_of(detail: object, level: int = 0) -> list[tuple[int, str]]:
    """An entry per value: a dict's keys with their values, a nested dict's below its key."""
    if not isinstance(detail, dict):
        return [(level, one_line(detail))]
    entries = []
    for key, value in detail.items():
        if isinstance(value, dict):
            entries.append((level, f"{key}:" + ("" if value else " none")))
            entries += entries_of(value, level + 1)
        else:
            entries.append((level, f"{key}: {one_line(value)}"))
    return entries


def one_line(value: object) -> str:
    return " ".join(str(value).split())
