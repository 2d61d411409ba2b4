"""docs/troubleshooting.md holds every failure message the release prints, so that a new message
without its entry (cause and fix) fails here.

The messages, read from the code:
- the ``fail_msg`` of every ``assert`` and the ``msg`` of every ``fail`` in playbooks/ and
  roles/*/tasks/;
- every ``debug`` message there whose head starts with an outcome in capitals (``SCALED IN:``,
  ``ROLLED BACK:``, ``SWITCHED BACK:``...);
- every problem the preflight's ``release_prerequisites`` module reports (the second argument of
  each ``problems.add``), and what ``flask es status`` may say, as the preflight keys its fixes
  (each ``when`` of ``release_preflight_es_fixes``).

How a message is matched, by its stable prefix: the message's head (its first line; of a list,
the first item), each Jinja expression in it a placeholder, cut after its first eight words (a
placeholder is a word, or part of the word it is written against). The page must quote that
prefix at the start of a code span, each placeholder written as any text in angle brackets
(``<version>``), words separated by any whitespace (a long message may wrap). An expression that
only chooses between fixed texts - ``'A' if ... else 'B'``, ``{1: 'A', 2: 'B'}.get(...)``,
``default('A')``, or a message picked from a dict in the task's ``vars`` - stands for each of
them: each is a message of its own. A message without fixed words (an AWS error passed on) has
no prefix and is not required.
"""

from __future__ import annotations

import ast
import functools
import itertools
import re
from pathlib import Path

import jinja2
import pytest
import yaml
from jinja2 import nodes

from tests.helpers import ROOT

PAGE = ROOT / "docs" / "troubleshooting.md"
PREREQUISITES = ROOT / "plugins" / "modules" / "release_prerequisites.py"
ES_FIXES = ROOT / "roles" / "release_preflight" / "defaults" / "main.yml"
PLACEHOLDER = "\0"
PREFIX_WORDS = 8
ASSERTS = ("ansible.builtin.assert", "assert")
FAILS = ("ansible.builtin.fail", "fail")
DEBUGS = ("ansible.builtin.debug", "debug")
OUTCOME = re.compile(r"^[A-Z][A-Z ]*[A-Z]:")
# An entry of the page: from a line opening with a quoted message (**`...`**) to the next one.
ENTRY = re.compile(r"^\*\*`", re.M)


def task_files() -> list[Path]:
    return sorted([*ROOT.glob("playbooks/**/*.yml"), *ROOT.glob("roles/*/tasks/**/*.yml")])


def product(parts: list[list[list[str]]]) -> list[list[str]]:
    """Each way of choosing one variant per part, joined in order."""
    return [list(itertools.chain.from_iterable(choice)) for choice in itertools.product(*parts)]


def expression_variants(node: nodes.Node, task_vars: dict) -> list[list[str]]:
    """What an expression prints: its fixed texts where it only chooses between them, else a placeholder."""
    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        return [[node.value]]
    if isinstance(node, nodes.CondExpr):
        return expression_variants(node.expr1, task_vars) + (
            expression_variants(node.expr2, task_vars) if node.expr2 is not None else [[]]
        )
    if isinstance(node, nodes.Concat):
        return product([expression_variants(part, task_vars) for part in node.nodes])
    if isinstance(node, nodes.Filter) and node.name == "default" and node.args:
        return expression_variants(node.node, task_vars) + expression_variants(node.args[0], task_vars)
    if (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.Getattr)
        and node.node.attr == "get"
        and isinstance(node.node.node, nodes.Dict)
    ):
        found = [v for pair in node.node.node.items for v in expression_variants(pair.value, task_vars)]
        return found + (expression_variants(node.args[1], task_vars) if len(node.args) > 1 else [])
    if isinstance(node, nodes.Getitem) and isinstance(node.node, nodes.Name):
        picked = task_vars.get(node.node.name)
        if isinstance(picked, dict) and all(isinstance(v, str) for v in picked.values()):
            return [v for message in picked.values() for v in template_variants(message, task_vars)]
    return [[PLACEHOLDER]]


def template_variants(template: str, task_vars: dict) -> list[list[str]]:
    parts: list[list[list[str]]] = []
    for node in jinja2.Environment().parse(template).body:
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                if isinstance(child, nodes.TemplateData):
                    parts.append([[child.data]])
                else:
                    parts.append(expression_variants(child, task_vars))
        else:  # a {% statement %}: what it prints is not fixed
            parts.append([[PLACEHOLDER]])
    return product(parts)


def python_variants(node: ast.expr) -> list[list[str]]:
    """What a Python string expression (an f-string, a +, an if/else) prints, as template_variants."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [[node.value]]
    if isinstance(node, ast.JoinedStr):
        return product([python_variants(value) for value in node.values])
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return product([python_variants(node.left), python_variants(node.right)])
    if isinstance(node, ast.IfExp):
        return python_variants(node.body) + python_variants(node.orelse)
    return [[PLACEHOLDER]]


def prefix(printed: list[str]) -> str:
    """The stable prefix of one variant: its head line's first words, placeholders as PLACEHOLDER."""
    text = "".join(printed).strip().split("\n", 1)[0]
    text = re.sub(f"{PLACEHOLDER}+", PLACEHOLDER, text)
    words = text.split()[:PREFIX_WORDS]
    return " ".join(words) if any(w.replace(PLACEHOLDER, "") for w in words) else ""


def shown(message: str) -> str:
    return message.replace(PLACEHOLDER, "<...>")


def pattern(message: str) -> re.Pattern:
    words = [r"<[^<>\n]+>".join(re.escape(piece) for piece in word.split(PLACEHOLDER)) for word in message.split()]
    return re.compile(r"(?<=`)" + r"\s+".join(words))


def yaml_messages(node, task_vars: dict | None = None):
    """(kind, head template) of each failure message of a task file, with the task's vars."""
    if isinstance(node, list):
        for item in node:
            yield from yaml_messages(item)
    elif isinstance(node, dict):
        own_vars = node.get("vars") if isinstance(node.get("vars"), dict) else {}
        for key, value in node.items():
            if key in ASSERTS and isinstance(value, dict) and "fail_msg" in value:
                yield "assert", value["fail_msg"], own_vars
            elif key in FAILS and isinstance(value, dict):
                yield "fail", value.get("msg", ""), own_vars
            elif key in DEBUGS and isinstance(value, dict) and isinstance(value.get("msg", ""), (str, list)):
                # A mapping (check mode's release_plan entries) is data for the plan, no message.
                yield "debug", value.get("msg", ""), own_vars
            elif isinstance(value, (dict, list)):
                yield from yaml_messages(value)


@functools.cache
def release_messages() -> dict[str, str]:
    """Each message's stable prefix, and where it comes from (read once: the tests only read it)."""
    found: dict[str, str] = {}
    for path in task_files():
        for kind, message, task_vars in yaml_messages(yaml.safe_load(path.read_text())):
            head = message[0] if isinstance(message, list) else message
            for variant in template_variants(str(head), task_vars):
                stable = prefix(variant)
                if stable and (kind != "debug" or OUTCOME.match(stable)):
                    found.setdefault(stable, f"{path.relative_to(ROOT)} ({kind})")
    for call in ast.walk(ast.parse(PREREQUISITES.read_text())):
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "add"
            and isinstance(call.func.value, ast.Name)
            and call.func.value.id == "problems"
        ):
            for variant in python_variants(call.args[1]):
                if stable := prefix(variant):
                    found.setdefault(stable, f"{PREREQUISITES.relative_to(ROOT)}:{call.lineno}")
    return found


def missing_messages(page: str) -> list[str]:
    return [
        f"{where}: `{shown(message)}`"
        for message, where in release_messages().items()
        if not pattern(message).search(page)
    ]


def test_every_failure_message_has_its_entry():
    missing = missing_messages(PAGE.read_text())
    assert not missing, (
        "docs/troubleshooting.md lacks these messages (quote each in a code span, placeholders as <what>, "
        "then say what it means and what to do):\n" + "\n".join(missing)
    )


def test_every_answer_of_flask_es_status_the_preflight_knows_is_explained():
    page = " ".join(PAGE.read_text().split())
    fixes = yaml.safe_load(ES_FIXES.read_text())["release_preflight_es_fixes"]
    unexplained = [fix["when"] for fix in fixes if " ".join(fix["when"].split()) not in page]
    assert not unexplained, f"docs/troubleshooting.md does not say what to do when flask es status says {unexplained}"


# The outcome lines a failed release ends with: each must be found, each with an entry of its own.
OUTCOMES = [
    "RELEASE FAILED: \0 did not deploy (\0)",
    "RELEASE FAILED: \0 failed validation (\0)",
    "RELEASE FAILED: \0 failed its switch (\0)",
    "RELEASE FAILED: \0 failed during its bake time",
    "ROLLBACK FAILED: \0 needs a person now.",
    "ROLLED BACK: \0",
    "NOTHING ROLLED BACK: \0",
    "SCALED IN: \0",
    "FIRST RELEASE FAILED: \0",
    "validation checks failed:",
    "validation could not run (usage, or the service",
]


def test_the_messages_are_read_from_the_code():
    """The reading finds what the release prints, so that the check above can fail."""
    found = release_messages()
    assert set(OUTCOMES) <= set(found), sorted(set(OUTCOMES) - set(found))
    assert any(m.startswith("SWITCHED BACK: users reach") for m in found)
    assert sum(where.startswith(str(PREREQUISITES.relative_to(ROOT))) for where in found.values()) >= 15
    # The messages an assert picks from its task's vars (the rollout's outcomes).
    assert {"could not read the service \0 in \0:", "the rollout of \0 did not complete within"} <= set(found)


@pytest.mark.parametrize("outcome", OUTCOMES, ids=lambda m: shown(m))
def test_a_deleted_entry_fails_the_check(outcome):
    page = PAGE.read_text()
    match = pattern(outcome).search(page)
    assert match, f"no entry quotes `{shown(outcome)}`"
    starts = [m.start() for m in ENTRY.finditer(page)]
    start = max((s for s in starts if s <= match.start()), default=0)
    end = min((s for s in starts if s > match.start()), default=len(page))
    missing = missing_messages(page[:start] + page[end:])
    assert any(line.endswith(f"`{shown(outcome)}`") for line in missing), missing
