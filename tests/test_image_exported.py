"""The torch-less production image: docker/Dockerfile.api with ENCODERS=exported, built offline as
`make image` builds it. It holds the models' ONNX exports (verified by their manifests) and no
torch, and serves every endpoint from them; its size is measured, printed and recorded in
test-artifacts/image-report.json beside the torch image's.

Needs root and Debian's buildah, skopeo and debootstrap (`make system-deps`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests import test_image
from tests.helpers import API_TOKEN, ROOT, wait_until_ready
from tests.test_image import gunicorn_processes, record, run
from tools.benchmark import free_port
from webapp.modelcache import ModelCache

small_index = test_image.small_index  # the same few sample records, ingested here

VERSION = "v0.0.0-test-exported"
IMAGE = f"localhost/finbert-rag/api:{VERSION}"
pytestmark = [pytest.mark.timeout(3600), pytest.mark.image]


@pytest.fixture(scope="module")
def image() -> dict:
    start = time.monotonic()
    result = subprocess.run(
        [ROOT / "docker" / "build-offline.sh", "--version", VERSION, "--build-arg", "ENCODERS=exported"],
        cwd=ROOT, capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    assert result.returncode == 0, f"the offline build failed:\n{result.stderr[-5000:]}\n{result.stdout[-2000:]}"
    manifest = json.loads(run("skopeo", "inspect", "--raw", f"containers-storage:{IMAGE}"))
    config = json.loads(run("buildah", "inspect", "--type", "image", IMAGE))["Docker"]["config"]
    size = sum(layer["size"] for layer in manifest["layers"])
    record(exported_image={"build_seconds": round(time.monotonic() - start, 1), "size_bytes": size})
    return {"size": size, "config": config}


@pytest.fixture(scope="module")
def rootfs(image):
    container = run("buildah", "from", "--pull-never", IMAGE).strip()
    try:
        yield Path(run("buildah", "mount", container).strip())
    finally:
        run("buildah", "rm", container)


def test_the_image_holds_exports_and_no_torch(image, rootfs, measured):
    site_packages = rootfs / "opt" / "venv" / "lib" / "python3.11" / "site-packages"
    for absent in ("torch", "sentence_transformers", "transformers"):
        assert not (site_packages / absent).exists(), absent
    for present in ("onnxruntime", "openvino", "tokenizers"):
        assert (site_packages / present).is_dir(), present
    models = rootfs / "opt" / "finnews" / "models"
    assert sorted(p.name for p in models.iterdir()) == ["all-MiniLM-L6-v2.onnx", "all-mpnet-base-v2.onnx"]
    cache = ModelCache(models)
    for name in cache.cached_names():
        cached = cache.verify(name)  # every file's sha256, and the source weights' pin
        assert cached.manifest["source"] == f"export:{name.removesuffix('.onnx')}"

    def megabytes(path: Path) -> int:
        return round(int(run("du", "-s", "--block-size=1", str(path)).split()[0]) / 1e6)

    parts = {
        "onnxruntime": megabytes(site_packages / "onnxruntime"),
        "openvino": megabytes(site_packages / "openvino"),
        "other Python packages": megabytes(rootfs / "opt" / "venv")
        - megabytes(site_packages / "onnxruntime")
        - megabytes(site_packages / "openvino"),
        "models (ONNX exports)": megabytes(models),
        "base (Debian, Python)": megabytes(rootfs) - megabytes(rootfs / "opt"),
    }
    record(exported_size_breakdown_mb=parts)
    measured(
        f"image {IMAGE}: {image['size'] / 1e6:.0f} MB uncompressed; "
        + ", ".join(f"{name} {mb} MB" for name, mb in parts.items())
    )


def test_the_torchless_container_serves_every_endpoint(image, small_index, tmp_path):
    bind = f"127.0.0.1:{free_port()}"
    url = f"http://{bind}"
    container = run("buildah", "from", "--pull-never", IMAGE).strip()
    log = (tmp_path / "container.log").open("w")
    process = subprocess.Popen(
        ["buildah", "run", "--isolation", "chroot", "--volume", f"{small_index}:/data/index:ro",
         "--env", "FINNEWS_WORKERS=2", "--env", f"FINNEWS_API_TOKENS={API_TOKEN}",
         container, "--", *image["config"]["Entrypoint"], "--bind", bind],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        wait_until_ready(f"{url}/health/ready", process, Path(log.name), timeout=300)
        for field in ("embedding384d", "embedding768d", "embedding1155d"):
            # Several at once: the workers' forked runtimes answer, batched.
            responses = [
                requests.post(
                    f"{url}/search/cosine/{field}/",
                    json={"query": f"bank earnings {i}", "size": 3},
                    headers={"Authorization": f"Bearer {API_TOKEN}"},  # closed by default, as production runs it
                    timeout=60,
                )
                for i in range(3)
            ]
            assert [r.status_code for r in responses] == [200] * 3, responses[0].text
            assert all(len(r.json()["results"]) == 3 for r in responses)
        assert "onnx/float32" in Path(log.name).read_text() or "openvino/" in Path(log.name).read_text()
    finally:
        processes = gunicorn_processes(bind)
        for pid, (_, parent) in processes.items():
            if parent not in processes:
                os.kill(pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        run("buildah", "rm", container)
