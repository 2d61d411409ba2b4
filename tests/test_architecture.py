"""The layout is the architecture: the layers of webapp/ import only downwards, the runtime package
holds no tools, every setting is declared once and documented in docs/settings.md, every search
field is declared once, and the documentation's links lead somewhere."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT
from webapp.fields import ALL_PARTS, FIELD_BY_NAME, FIELD_DIMS, FIELDS, SENTIMENT, SENTIMENT_LABELS
from webapp.settings import SettingsError, load_settings, markdown_table

WEBAPP = ROOT / "webapp"
# What each module of webapp/ may import from webapp/ (besides itself): store below models below
# service below the API. Modules not named here sit at the top (the app, its blueprints, its CLI).
ALLOWED = {
    "webapp.fields": set(),
    "webapp.settings": set(),
    "webapp.fidelity": set(),
    "webapp.modelcache": {"webapp.fidelity"},
    "webapp.schemas": {"webapp.fields"},
    "webapp.sentiment": {"webapp.fields"},
    # The store package opens either backend (open_store).
    "webapp.store": {"webapp.fields", "webapp.settings", "webapp.store.embedded", "webapp.store.elasticsearch"},
    "webapp.store.embedded": {"webapp.fields", "webapp.store"},
    "webapp.store.elasticsearch": {"webapp.fields", "webapp.settings", "webapp.store"},
    "webapp.encoders": {"webapp.modelcache"},
    "webapp.embedding": {
        "webapp.encoders",
        "webapp.fidelity",
        "webapp.fields",
        "webapp.modelcache",
        "webapp.sentiment",
    },
    # The earlier system's shapes and their mapping: ingest's concern, below it.
    "webapp.earlier": {"webapp.fields", "webapp.schemas"},
    "webapp.ingest": {"webapp.earlier", "webapp.embedding", "webapp.fields", "webapp.schemas", "webapp.store"},
    "webapp.service": {
        "webapp.embedding",
        "webapp.settings",
        "webapp.fields",
        "webapp.modelcache",
        "webapp.schemas",
        "webapp.sentiment",
        "webapp.store",
    },
}
# Third-party packages that only the web layer may use.
WEB_ONLY = ("flask", "werkzeug", "prometheus_client", "click")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function (TYPE_CHECKING ones included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


MODULES = {module_name(path): imports(path) for path in sorted(WEBAPP.rglob("*.py"))}


@pytest.mark.parametrize("module", sorted(ALLOWED))
def test_lower_layers_import_only_what_lies_below(module):
    ours = {name for name in MODULES[module] if name.startswith("webapp.") and name in MODULES}
    assert ours - {module} <= ALLOWED[module], f"{module} imports {sorted(ours - ALLOWED[module] - {module})}"
    web = sorted(name for name in MODULES[module] if name.split(".")[0] in WEB_ONLY)
    assert not web, f"{module} imports {web}: only the web layer may"


def test_the_runtime_package_holds_no_tools():
    for module, imported in MODULES.items():
        assert not [name for name in imported if name.split(".")[0] == "tools"], module
    assert not (WEBAPP / "corpus.py").exists() and not (WEBAPP / "benchmark.py").exists()
    # What the production image copies is webapp/ alone.
    dockerfile = (ROOT / "docker" / "Dockerfile.api").read_text()
    assert "COPY tools" not in dockerfile and "COPY . " not in dockerfile


def test_each_field_is_declared_once_and_composed_from_declared_fields():
    assert [f.name for f in FIELDS] == ["embedding384d", "embedding768d", "embedding1155d"]
    composed = FIELD_BY_NAME["embedding1155d"]
    assert composed.dims == sum(FIELD_DIMS[part] for part in composed.parts) + len(SENTIMENT_LABELS) == 1155
    assert composed.depends_on == ("embedding384d", "embedding768d", SENTIMENT)
    assert ALL_PARTS == ("embedding384d", "embedding768d", SENTIMENT)
    # No other module spells out a field's dimensions.
    for path in WEBAPP.rglob("*.py"):
        if path.name != "fields.py":
            text = path.read_text()
            assert not any(f'"{name}": {dims}' in text for name, dims in FIELD_DIMS.items()), path


def test_the_settings_page_documents_every_setting_as_declared():
    page = (ROOT / "docs" / "settings.md").read_text()
    assert markdown_table() in page, (
        "the settings table of docs/settings.md differs from webapp/settings.py; paste this there:\n" + markdown_table()
    )


# -- the documentation: README.md and docs/*.md ----------------------------------------------
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
# A code span may go on over a line end, never over a blank line.
CODE_SPAN = re.compile(r"(`+)(?!`)(?:(?!\n[ \t]*\n).)*?(?<!`)\1(?!`)", re.S)
# [text](target) or ![alt](target), the text possibly over several lines, an optional "title".
LINK = re.compile(r"!?\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)


def prose(text: str) -> str:
    """The text outside fenced code blocks and code spans (where brackets are code, not links)."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def anchors(path: Path) -> set[str]:
    """GitHub's anchors of a file's headings: lower-case, punctuation removed, spaces to hyphens,
    a repeated heading suffixed -1, -2, ..."""
    found: set[str] = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text())):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")  # a link keeps its text
        slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
        candidate, n = slug, 0
        while candidate in found:
            n += 1
            candidate = f"{slug}-{n}"
        found.add(candidate)
    return found


def relative_links(path: Path) -> list[tuple[str, str]]:
    """(link text, target) of every link of a markdown file that is not a URL."""
    return [
        (" ".join(text.split()), target)
        for text, target in LINK.findall(prose(path.read_text()))
        if not re.match(r"[a-z][a-z0-9+.-]*:", target, re.I)  # https:, mailto:
    ]


def test_the_anchors_are_githubs():
    assert re.findall(r"\]\(([^)]*)\)", prose("[a](#x) `[b](#y)`\n```\n[c](#z)\n```\n")) == ["#x"]
    page = ROOT / "docs" / "operating.md"
    assert {"releasing-the-runbook", "first-production-release", "container-image"} <= anchors(page)
    assert "what-is-verified-and-what-only-a-real-cluster-can-confirm" in anchors(ROOT / "docs" / "search.md")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_of_the_documentation_leads_to_a_file_and_heading(document):
    links = relative_links(document)
    broken = []
    for text, target in links:
        file, _, anchor = target.partition("#")
        linked = (document.parent / file).resolve() if file else document
        if not linked.exists():
            broken.append(f"[{text}]({target}): no file {linked}")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"[{text}]({target}): no heading of {linked.relative_to(ROOT)} has the anchor #{anchor}")
    assert not broken, f"{document.relative_to(ROOT)}:\n" + "\n".join(broken)


def test_the_readme_maps_every_page_of_the_documentation():
    mapped = {(ROOT / target.partition("#")[0]).resolve() for _, target in relative_links(ROOT / "README.md")}
    unmapped = [str(page.relative_to(ROOT)) for page in DOCUMENTS[1:] if page.resolve() not in mapped]
    assert not unmapped, f"README.md's 'Where to read on' names no link to {unmapped}"
    for page in DOCUMENTS[1:]:
        assert len(re.findall(r"^# ", FENCE.sub("", page.read_text()), re.M)) == 1, f"{page.name}: one '# ' title"


def test_settings_are_typed_and_refused_with_the_variable_named(monkeypatch):
    monkeypatch.setenv("FINNEWS_QUERY_CACHE_SIZE", "0")
    token = "123456-0000-is-a-secret-of-32-chars"  # a secret stays the string it is
    monkeypatch.setenv("FINNEWS_API_TOKENS", token)
    monkeypatch.setenv("FINNEWS_ES_HOSTS", '["https://es1:9200", "https://es2:9200"]')
    settings = load_settings()
    assert settings.query_cache_size == 0 and settings.api_tokens.get_secret_value() == token
    assert settings.es_hosts == ("https://es1:9200", "https://es2:9200")
    assert "123456" not in repr(settings) and settings.api_token_values == (token,)
    monkeypatch.setenv("FINNEWS_WORKERS", "none")
    monkeypatch.setenv("FINNEWS_STORE_BACKEND", "sqlite")
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert "FINNEWS_WORKERS" in str(refused.value) and "FINNEWS_STORE_BACKEND" in str(refused.value)
    assert "123456" not in str(refused.value)
    # Given values alone (tests): the environment is not read.
    assert load_settings({"APP_VERSION": "t"}).query_cache_size == 4096
    with pytest.raises(SettingsError, match="FINNEWS_NO_SUCH_SETTING"):
        load_settings({"NO_SUCH_SETTING": 1})


def test_gunicorn_takes_its_settings_from_the_service_settings(monkeypatch, tmp_path):
    import importlib

    # What the config sets for a serving process, restored for the rest of this one.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("FINNEWS_WORKERS", "3")
    monkeypatch.setenv("FINNEWS_THREADS", "2")
    monkeypatch.setenv("FINNEWS_BIND", "127.0.0.1:9123")
    import webapp.gunicorn_conf as conf

    conf = importlib.reload(conf)
    assert (conf.workers, conf.threads, conf.bind) == (3, 2, "127.0.0.1:9123")


def test_the_notebooks_take_per_field_thresholds_for_exactly_the_declared_fields():
    from notebooks.checks import require_every_field

    require_every_field("x", dict.fromkeys(FIELD_DIMS, 1.0))
    with pytest.raises(ValueError, match="missing: embedding1155d"):
        require_every_field("x", {"embedding384d": 1.0, "embedding768d": 1.0})
    for name in ("performance", "relevance"):
        notebook = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())
        source = "".join("".join(cell["source"]) for cell in notebook["cells"])
        assert "_384d" not in source and "_1155d" not in source, name


def test_gunicorn_behind_a_load_balancer(monkeypatch, tmp_path):
    """Keep-alive above an ALB's 60 s idle timeout, workers replaced with jitter, a bounded
    number of connections per worker over a bounded listen queue: what gunicorn will be given."""
    import importlib

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import webapp.gunicorn_conf as conf

    conf = importlib.reload(conf)
    alb_idle_timeout_s = 60
    assert conf.keepalive > alb_idle_timeout_s
    assert conf.max_requests > 0 and 0 < conf.max_requests_jitter < conf.max_requests
    assert conf.threads < conf.worker_connections <= 64 and conf.backlog <= 256
    assert load_settings({}).request_timeout < conf.timeout
    with pytest.raises(SettingsError, match="FINNEWS_WORKER_CONNECTIONS must exceed FINNEWS_THREADS"):
        load_settings({"threads": 8, "worker_connections": 8})


def test_a_stopped_server_leaves_no_metrics_folder_behind(tmp_path):
    """gunicorn's master makes the multiprocess metrics folder when no operator gave one, and
    removes it when it exits; an operator's own folder stays."""
    import os
    import subprocess
    import sys

    script = (
        "import os, sys\n"
        "import webapp.gunicorn_conf as conf\n"
        "folder = os.environ['PROMETHEUS_MULTIPROC_DIR']\n"
        "assert os.path.isdir(folder), folder\n"
        "conf.on_exit(None)\n"
        "print(folder, os.path.isdir(folder))\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    made = subprocess.run(
        [sys.executable, "-c", script], env={**env, "TMPDIR": str(tmp_path)}, cwd=ROOT,
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert made[0].startswith(str(tmp_path / "finnews-prometheus-")) and made[1] == "False"
    assert list(tmp_path.iterdir()) == []

    own = tmp_path / "operator-metrics"
    own.mkdir()
    kept = subprocess.run(
        [sys.executable, "-c", script], env={**env, "PROMETHEUS_MULTIPROC_DIR": str(own)}, cwd=ROOT,
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert kept == [str(own), "True"]


def test_a_replaced_workers_metrics_are_kept_and_its_files_go(monkeypatch, tmp_path):
    """gunicorn replaces workers (max_requests): their counts survive in one archive per type,
    and the multiprocess folder does not grow with every worker that ever lived."""
    import subprocess
    import sys

    script = (
        "from prometheus_client import Counter, Histogram\n"
        "Counter('jobs_total', 'jobs', ['kind']).labels('a').inc(3)\n"
        "Histogram('wait_seconds', 'wait', buckets=(1.0,)).observe(0.5)\n"
    )
    env = {**__import__("os").environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(3):  # three workers, one after the other
        subprocess.run([sys.executable, "-c", script], env=env, check=True)
    files_before = sorted(p.name for p in tmp_path.iterdir())
    assert len(files_before) == 6, files_before
    # prometheus_client picks its value class when first imported: imported here under the
    # variable, every later test's metrics would be multiprocess ones with no folder.
    import prometheus_client.values  # noqa: F401

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess

    from webapp.metrics import retire_process

    for name in files_before:
        if name.startswith("counter_"):
            retire_process(int(name.removesuffix(".db").split("_")[1]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter_archive.db", "histogram_archive.db"]
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    text = generate_latest(registry).decode()
    assert 'jobs_total{kind="a"} 9.0' in text
    assert "wait_seconds_count 3.0" in text and 'wait_seconds_bucket{le="1.0"} 3.0' in text


def test_no_test_imports_ansible_into_the_test_process():
    # Ansible's module utilities patch the interpreter (sys.intern) in ways torch's compiler does
    # not accept: every model load after such an import fails. Tests run Ansible in processes.
    for path in sorted((ROOT / "tests").rglob("*.py")):
        ansible = sorted(name for name in imports(path) if name.split(".")[0] == "ansible")
        assert not ansible, f"{path.relative_to(ROOT)} imports {ansible}"


def test_importing_the_package_leaves_the_process_as_it_was_and_the_factory_prepares_it():
    # A library import with side effects surprises whoever imports it (a test, a notebook, a
    # tool); the process is prepared where it starts: the app factory, gunicorn's configuration.
    script = (
        "import os\n"
        "before = dict(os.environ)\n"
        "import webapp\n"
        "assert dict(os.environ) == before, set(os.environ.items()) ^ set(before.items())\n"
        "webapp.create_app({'ALLOW_ANONYMOUS': True})\n"
        "print(os.environ.get('MKL_DISABLE_FAST_MM'))\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "MKL_DISABLE_FAST_MM"}
    process = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
    assert process.returncode == 0, process.stderr[-3000:]
    assert process.stdout.split() == ["1"]


def test_conftest_holds_fixtures_and_hooks_only():
    # What the tests share besides fixtures lives in tests/helpers.py and tests/runbook_runs.py,
    # imported by name; a test module never imports from a conftest.
    for conftest in sorted((ROOT / "tests").rglob("conftest.py")):
        tree = ast.parse(conftest.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                fixture = any("fixture" in ast.unparse(decorator) for decorator in node.decorator_list)
                assert fixture or node.name.startswith("pytest_"), f"{conftest.relative_to(ROOT)}: {node.name}"
            elif isinstance(node, ast.ClassDef):
                pytest.fail(f"{conftest.relative_to(ROOT)}: class {node.name}")
    for path in sorted((ROOT / "tests").rglob("*.py")):
        assert not [name for name in imports(path) if name.endswith("conftest")], path.relative_to(ROOT)
