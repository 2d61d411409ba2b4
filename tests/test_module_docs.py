"""Our modules (plugins/modules) laid out as amazon.aws lays out its own: DOCUMENTATION, EXAMPLES
and RETURN first, as YAML; the options documented exactly as the module declares them (nested
suboptions too); every return value with when it is returned, its type and a sample; current
markup (O(), V(), C(), RV()) that names options and return values the module has; and ansible-doc
renders each.

Ansible stays out of this test process (importing its module utilities patches the interpreter
in ways torch's compiler does not accept): a module's argument_spec is read in a process of its
own, which runs the module with AnsibleAWSModule replaced by a stand-in that keeps what it is
constructed with.
"""

from __future__ import annotations

import ast
import functools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT
from tests.runbook_runs import FIND_MODULE_UTILS

BIN = Path(sys.executable).parent
MODULES = sorted((ROOT / "plugins" / "modules").glob("*.py"))
DOC_STRINGS = ("DOCUMENTATION", "EXAMPLES", "RETURN")

CAPTURE_ARGUMENT_SPECS = (
    FIND_MODULE_UTILS
    + """
import json, runpy, sys
from ansible_collections.amazon.aws.plugins.module_utils import modules

class Constructed(Exception):
    pass

def construct(**kwargs):
    raise Constructed(kwargs)

modules.AnsibleAWSModule = construct
specs = {}
for path in sys.argv[1:]:
    try:
        runpy.run_path(path, run_name="__main__")
    except Constructed as constructed:
        specs[path] = constructed.args[0]["argument_spec"]
print(json.dumps(specs))
"""
)


@functools.cache
def argument_specs() -> dict[str, dict]:
    """Each module's argument_spec, as its main() constructs its AnsibleAWSModule, by path."""
    process = subprocess.run(
        [sys.executable, "-c", CAPTURE_ARGUMENT_SPECS, *map(str, MODULES)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(process.stdout)


def doc_strings(module: Path) -> dict[str, ast.Assign]:
    tree = ast.parse(module.read_text())
    return {
        node.targets[0].id: node
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id in DOC_STRINGS
    }


def documented(module: Path, name: str):
    return yaml.safe_load(doc_strings(module)[name].value.value)


def test_every_module_is_checked():
    assert MODULES and set(argument_specs()) == set(map(str, MODULES))


@pytest.mark.parametrize("module", MODULES, ids=lambda path: path.stem)
def test_documentation_examples_and_return_come_first_as_yaml(module):
    found = doc_strings(module)
    assert set(found) == set(DOC_STRINGS), f"{module.name} lacks {set(DOC_STRINGS) - set(found)}"
    first_import = min(
        node.lineno for node in ast.parse(module.read_text()).body if isinstance(node, (ast.Import, ast.ImportFrom))
    )
    assert [name for name, node in found.items() if node.lineno > first_import] == []
    assert [found[name].lineno for name in DOC_STRINGS] == sorted(found[name].lineno for name in DOC_STRINGS)
    for name in DOC_STRINGS:
        assert documented(module, name), f"{module.name}'s {name} is empty"
    assert documented(module, "DOCUMENTATION")["module"] == module.stem


def option(entry: dict, nested: str) -> dict:
    """An option, from an argument_spec (NESTED: "options") or DOCUMENTATION ("suboptions"), with
    Ansible's defaults spelled out, so that the two compare."""
    return {
        "type": entry.get("type", "str"),
        "required": entry.get("required", False),
        "default": entry.get("default"),
        "choices": entry.get("choices"),
        "elements": entry.get("elements"),
        "aliases": entry.get("aliases", []),
        "suboptions": {name: option(sub, nested) for name, sub in entry.get(nested, {}).items()},
    }


@pytest.mark.parametrize("module", MODULES, ids=lambda path: path.stem)
def test_documented_options_are_the_argument_spec(module):
    spec = argument_specs()[str(module)]
    options = documented(module, "DOCUMENTATION").get("options") or {}
    assert {name: option(doc, "suboptions") for name, doc in options.items()} == {
        name: option(declared, "options") for name, declared in spec.items()
    }
    assert all(entry.get("description") for entry in walk(options, "suboptions"))


def walk(fields: dict, nested: str):
    for field in fields.values():
        yield field
        yield from walk(field.get(nested) or {}, nested)


@pytest.mark.parametrize("module", MODULES, ids=lambda path: path.stem)
def test_every_return_value_says_when_its_type_and_a_sample(module):
    returned = documented(module, "RETURN")
    incomplete = [
        field
        for field in walk(returned, "contains")
        if not all(field.get(key) for key in ("description", "returned", "type"))
        or ("sample" not in field and not field.get("contains"))
    ]
    assert incomplete == []


# Ansible's markup: a code ends at its first ")" (C(f()) shows "f(" and a stray ")"); I() and B()
# are the markup before options and values had their own, O() and V().
MARKUP = re.compile(r"\b(I|B|O|V|C|RV|E|M|L|U|P)\(([^)]*)(\)?)")


def paths(fields: dict, nested: str, prefix: str = "") -> set[str]:
    found = set()
    for name, field in fields.items():
        found |= {prefix + name} | paths(field.get(nested) or {}, nested, f"{prefix}{name}.")
    return found


def descriptions(fields: dict, nested: str):
    for field in walk(fields, nested):
        description = field.get("description") or []
        yield from [description] if isinstance(description, str) else description


@pytest.mark.parametrize("module", MODULES, ids=lambda path: path.stem)
def test_markup_is_current_and_names_what_the_module_has(module):
    documentation, returned = documented(module, "DOCUMENTATION"), documented(module, "RETURN")
    options, values = paths(documentation.get("options") or {}, "suboptions"), paths(returned, "contains")
    texts = [
        documentation["short_description"],
        *descriptions({"module": {"description": documentation["description"]}}, "options"),
        *descriptions(documentation.get("options") or {}, "suboptions"),
        *descriptions(returned, "contains"),
    ]
    wrong = []
    for text in texts:
        for kind, content, closed in MARKUP.findall(text):
            named = content.split("=", 1)[0].replace("[]", "")  # RV(list[].key=value)
            if not closed or "(" in content:
                wrong.append(f"{kind}({content}: unclosed, or closed early")
            elif kind in ("I", "B"):
                wrong.append(f"{kind}({content}): O() for an option, V() for a value, C() for code")
            elif (kind == "O" and named not in options) or (kind == "RV" and named not in values):
                wrong.append(f"{kind}({content}): {module.stem} has no such {'option' if kind == 'O' else 'value'}")
    assert wrong == []


@pytest.mark.parametrize("module", MODULES, ids=lambda path: path.stem)
def test_ansible_doc_renders_it(module):
    """ansible-doc finds the module where ansible.cfg says and renders it."""
    result = subprocess.run(
        [BIN / "ansible-doc", "-t", "module", "-M", module.parent, module.stem],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "ERROR" not in result.stdout + result.stderr, result.stdout + result.stderr
    assert module.stem in result.stdout
