"""The notebooks' parameters: the ones they share, declared here once, and each notebook's own.

A notebook declares its parameters in its one `parameters`-tagged cell, as papermill reads them:
annotated literals with a comment (`papermill --help-notebook`, :func:`papermill.inspect_notebook`).
The parameters several notebooks share, most of them given by the runner, are declared here
(:data:`SHARED`): the runner takes its options for them, refuses them to --set, and checks what it
passes to papermill against this declaration; tests/test_validate.py checks that each notebook's
cell declares exactly the shared parameters it takes, with these types, defaults and comments.
A notebook's own parameters (its thresholds, its request counts) are read from its cell alone;
--profile and --set give them other values (overrides_of: where they differ from the default).
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

import papermill
from pydantic import TypeAdapter, ValidationError

NOTEBOOK_DIR = Path(__file__).resolve().parent
ROOT = NOTEBOOK_DIR.parent
# In the order they are reported: health first, so a broken deployment is named before its
# symptoms; regression last, since it compares what the others measured with the baseline.
NOTEBOOKS = ("health", "endpoints", "performance", "relevance", "edge", "regression")
# Where an override came from.
PROFILE, SET = "profile", "set"


class UsageError(Exception):
    """Bad options or an unusable environment (exit status 2)."""


# The annotations a notebook parameter may have, and the type a value is checked against.
PARAMETER_TYPES: dict[str, object] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list[str]": list[str],
    "dict[str, float]": dict[str, float],
    "dict[str, str]": dict[str, str],
}


# -- the shared parameters ------------------------------------------------------------------
@dataclass(frozen=True)
class SharedParameter:
    name: str
    annotation: str
    default: object
    help: str  # its comment in the notebooks' `parameters` cell
    notebooks: tuple[str, ...]  # the notebooks that take it
    by_runner: bool = True  # the runner gives it (--set refuses it); else any run may --set it
    option_help: str = ""  # the help of the runner's option that gives it, where one does

    @property
    def option(self) -> str:
        return f"--{self.name.replace('_', '-')}"


SHARED = (
    SharedParameter("base_url", "str", "http://127.0.0.1:8000", "the service under test", NOTEBOOKS,
                    option_help="the service under test, e.g. https://search.example.com"),
    SharedParameter("release", "str", "dev", "the release being validated", NOTEBOOKS,
                    option_help="release id (letters, digits, '.', '_', '-'): names the report folder; "
                    "/health must report it as the version unless expected_version is set"),
    SharedParameter("environment", "str", "development", "the environment the release runs in (its inventory)",
                    NOTEBOOKS,
                    option_help="the environment the release runs in (local, staging, production): a release is "
                    "compared with the last passing release of the same environment"),
    SharedParameter("overridden", "dict[str, str]", {},
                    "set by the runner: parameters not at their default, and from where", NOTEBOOKS),
    SharedParameter("provenance", "dict[str, str]", {},
                    "set by the runner: this attempt's provenance (what ran, where), as text", ("regression",)),
    SharedParameter("client_location", "str", "",
                    "set by the runner: where this client ran (client-side figures include the path)",
                    ("performance",),
                    option_help="where this validation runs, in words (client-side latency includes the path from "
                    "here); default: this machine's name"),
    SharedParameter("target_group_arn", "str", "",
                    "set by the runner: the service's target group (the runbook looks it up by name)", ("edge",),
                    option_help="the load balancer's target group of the service"),
    SharedParameter("log_group", "str", "",
                    "set by the runner: the CloudWatch Logs group the service's tasks write to", ("edge",),
                    option_help="the CloudWatch Logs group the service's tasks write to"),
    SharedParameter("log_file", "str", "",
                    "set by the runner: the service's log file, where it writes to a file (the local rehearsal)",
                    ("edge",), option_help="the service's log file, where it writes to one"),
    SharedParameter("reports_dir", "str", "reports",
                    "set by the runner: the reports folder, every earlier attempt's summary.json", ("regression",),
                    option_help="where reports are kept (default: reports)"),
    SharedParameter("attempt_dir", "str", "",
                    "set by the runner: this attempt's folder, where the notebooks before this one wrote",
                    ("regression",)),
    SharedParameter("baseline_dir", "str", "",
                    "set by the runner: the baseline attempt's folder under reports_dir; empty: none",
                    ("regression",)),
    SharedParameter("request_timeout_s", "float", 30.0, "per HTTP request", NOTEBOOKS[:-1], by_runner=False),
)  # fmt: skip
SHARED_BY_NAME = {parameter.name: parameter for parameter in SHARED}
# Parameters the runner sets from its own options and what it found (each notebook gets those it
# declares); every notebook declares the first four.
RUNNER_PARAMETERS = tuple(parameter.name for parameter in SHARED if parameter.by_runner)
COMMON_PARAMETERS = RUNNER_PARAMETERS[:4]


# -- every notebook's parameters, as its `parameters` cell declares them --------------------
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

    def check(self, value: object, origin: str) -> object:
        """A profile value (already JSON), checked against the annotation."""
        try:
            return TypeAdapter(PARAMETER_TYPES[self.annotation]).validate_python(value, strict=True)
        except ValidationError as exc:
            raise UsageError(
                f"{origin} {self.name}: {value!r} is not a valid {self.annotation}: {exc.errors()[0]['msg']}"
            ) from None

    @property
    def default_value(self) -> object:
        return ast.literal_eval(self.default)


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


# -- values other than the defaults: the profile and --set ----------------------------------
def _settable(name: str, declared: dict[str, Parameter], origin: str) -> Parameter:
    if name in RUNNER_PARAMETERS:
        raise UsageError(f"{origin} {name}: set by the runner ({SHARED_BY_NAME[name].option})")
    if name not in declared:
        raise UsageError(f"{origin} {name}: no notebook has this parameter (see --help)")
    return declared[name]


def parse_overrides(pairs: list[str], declared: dict[str, Parameter]) -> dict[str, object]:
    overrides = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep:
            raise UsageError(f"--set {pair}: use NAME=VALUE")
        overrides[name] = _settable(name, declared, "--set").parse(text)
    return overrides


def parse_json_parameters(text: str, declared: dict[str, Parameter], option: str) -> dict[str, object]:
    """A JSON object of notebook parameters (--profile, --set-json), each checked against its annotation."""
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{option}: not JSON: {exc}") from None
    if not isinstance(values, dict):
        raise UsageError(f"{option}: give a JSON object of notebook parameters")
    return {name: _settable(name, declared, option).check(value, option) for name, value in values.items()}


def overrides_of(profile: dict, overrides: dict, declared: dict[str, Parameter]) -> dict[str, dict]:
    """Each parameter that does not keep its default: its value, default and where it came from
    (--set wins over the profile)."""
    given = {
        **{name: (value, PROFILE) for name, value in profile.items()},
        **{n: (v, SET) for n, v in overrides.items()},
    }
    return {
        name: {"value": value, "default": declared[name].default_value, "origin": origin}
        for name, (value, origin) in given.items()
        if value != declared[name].default_value
    }


def notebook_values(
    notebook: str,
    declared: dict[str, Parameter],
    runner_values: dict[str, object],
    given: dict[str, object],
    overridden: dict[str, dict],
) -> dict[str, object]:
    """What papermill passes one notebook: the runner's values, which parameters were overridden
    and from where, and the values given for its own parameters (`given`: the profile's, then
    --set's), each only where the notebook declares it."""
    expected = set(RUNNER_PARAMETERS) - {"overridden"}
    if set(runner_values) != expected:
        raise ValueError(f"the runner's values must be exactly {sorted(expected)}, not {sorted(runner_values)}")
    own = {name for name, parameter in declared.items() if notebook in parameter.notebooks}
    return {
        **{name: value for name, value in runner_values.items() if name in own},
        "overridden": {name: entry["origin"] for name, entry in overridden.items() if name in own},
        **{name: value for name, value in given.items() if name in own},
    }
