"""Piper's ONNX graph, patched for alignments and seeded noise, and cached on disk.

Two patches are applied to the voice's graph:

* Piper's own `add_alignment_output` exposes the number of frames each phoneme id
  lasts, from which the phoneme timeline is built.
* Every RandomNormal(Like) node is replaced by a slice of a new float32 graph input
  `avatar_noise_<k>` (a flat buffer of standard-normal values), reshaped to the
  shape the node would have drawn. The graph also reports how many values each
  buffer had to supply (output `avatar_noise_<k>_size`). onnxruntime's own random
  nodes cannot be seeded per run, so with them the same text sounded slightly
  different every time; with the noise as an input the caller decides it. The
  noise is still multiplied by the voice's noise scales, so the voice sounds as
  before. A buffer shorter than needed is repeated (never an error), and the
  reported sizes let the caller run again with a buffer of the exact size.

Patching the 60 MB graph and serialising it costs time at every start, so the
patched graph is written to `$AVATAR_CACHE` (default `~/.cache/avatar-studio/`)
under a name made of the model's SHA-256 and `PATCH_VERSION`. Hashing the model is
itself about 0.1 s, so the hash is remembered in a small stamp file next to the
cache together with the model's path, size, mtime and inode; while those are
unchanged the stamp's hash is trusted, and when any changes the file is hashed
again. Both files are written to a temporary name and renamed into place, so two
processes starting at once may both build, but neither reads half a file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Union

_LOGGER = logging.getLogger(__name__)

PATCH_VERSION = "noise-input-1"
"""Changes whenever the patch below changes, so old cached graphs are not reused."""

NOISE_PREFIX = "avatar_noise_"
"""Graph inputs named NOISE_PREFIX + k feed random node k; outputs + '_size' say how much it used."""

_RANDOM_OPS = {"RandomNormal", "RandomNormalLike"}
_OTHER_RANDOM_OPS = {"RandomUniform", "RandomUniformLike", "Bernoulli", "Multinomial"}


def default_cache_dir() -> Path:
    """`$AVATAR_CACHE` if set, else `~/.cache/avatar-studio`."""
    configured = os.environ.get("AVATAR_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "avatar-studio"


def patch_model(model) -> int:
    """Add the alignment output and feed every random node from a graph input; return the count of those."""
    from piper.patch_voice_with_alignment import add_alignment_output

    add_alignment_output(model)
    return replace_random_nodes(model)


def replace_random_nodes(model) -> int:
    """Replace each RandomNormal(Like) node by a slice of a new noise input (in place).

    For node k with output Y the replacement computes
    `Y = mean + scale * Reshape(Slice(Tile(noise_k, ceil(size / len)), 0, size), shape)`,
    where `shape` is the shape the node would have drawn and `size` its element
    count. Raises ValueError for a random op this patch cannot make deterministic.
    """
    import onnx
    from onnx import TensorProto, helper

    graph = model.graph
    unsupported = {node.op_type for node in graph.node if node.op_type in _OTHER_RANDOM_OPS}
    if unsupported:
        raise ValueError(f"Cannot make these random ops deterministic: {sorted(unsupported)}")

    one = f"{NOISE_PREFIX}one"
    zero = f"{NOISE_PREFIX}zero"
    graph.initializer.extend(
        [
            onnx.numpy_helper.from_array(_int64([1]), one),
            onnx.numpy_helper.from_array(_int64([0]), zero),
        ]
    )

    new_nodes = []
    count = 0
    for node in graph.node:
        if node.op_type not in _RANDOM_OPS:
            new_nodes.append(node)
            continue
        attributes = {attribute.name: helper.get_attribute_value(attribute) for attribute in node.attribute}
        if attributes.get("dtype", TensorProto.FLOAT) != TensorProto.FLOAT:
            raise ValueError(f"Random node {node.name} does not draw float32 values")
        name = f"{NOISE_PREFIX}{count}"
        graph.input.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["noise"]))
        graph.output.append(helper.make_tensor_value_info(f"{name}_size", TensorProto.INT64, [1]))

        def tensor(suffix: str) -> str:
            return f"{name}/{suffix}"

        if node.op_type == "RandomNormalLike":
            new_nodes.append(helper.make_node("Shape", [node.input[0]], [tensor("shape")]))
        else:
            shape = onnx.numpy_helper.from_array(_int64(attributes["shape"]), tensor("shape"))
            graph.initializer.append(shape)
        new_nodes += [
            helper.make_node("ReduceProd", [tensor("shape")], [f"{name}_size"], keepdims=1),
            helper.make_node("Shape", [name], [tensor("length")]),
            # ceil(size / length) copies of the buffer cover the shape even when it is short.
            helper.make_node("Add", [f"{name}_size", tensor("length")], [tensor("sum")]),
            helper.make_node("Sub", [tensor("sum"), one], [tensor("sum_1")]),
            helper.make_node("Div", [tensor("sum_1"), tensor("length")], [tensor("copies")]),
            helper.make_node("Tile", [name, tensor("copies")], [tensor("tiled")]),
            helper.make_node("Slice", [tensor("tiled"), zero, f"{name}_size"], [tensor("flat")]),
        ]
        mean, scale = float(attributes.get("mean", 0.0)), float(attributes.get("scale", 1.0))
        if (mean, scale) == (0.0, 1.0):
            reshape = helper.make_node("Reshape", [tensor("flat"), tensor("shape")], list(node.output))
            new_nodes.append(reshape)
        else:
            graph.initializer.extend(
                [
                    onnx.numpy_helper.from_array(_float32(scale), tensor("scale")),
                    onnx.numpy_helper.from_array(_float32(mean), tensor("mean")),
                ]
            )
            new_nodes += [
                helper.make_node("Reshape", [tensor("flat"), tensor("shape")], [tensor("normal")]),
                helper.make_node("Mul", [tensor("normal"), tensor("scale")], [tensor("scaled")]),
                helper.make_node("Add", [tensor("scaled"), tensor("mean")], list(node.output)),
            ]
        count += 1
    del graph.node[:]
    graph.node.extend(new_nodes)
    return count


def _int64(values):
    import numpy as np

    return np.asarray(values, dtype=np.int64)


def _float32(value: float):
    import numpy as np

    return np.asarray(value, dtype=np.float32)


# --- the disk cache ------------------------------------------------------------


@dataclass(frozen=True)
class FileStamp:
    """What identifies a model file cheaply; when all of it matches, its hash is trusted."""

    path: str
    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> "FileStamp":
        status = path.stat()
        return cls(str(path.resolve()), status.st_size, status.st_mtime_ns, status.st_ino)


def model_digest(model_path: Path, cache_dir: Path) -> str:
    """SHA-256 of the model file, taken from the stamp file while the file is unchanged."""
    stamp = FileStamp.of(model_path)
    stamp_path = cache_dir / f"{model_path.name}.sha256.json"
    try:
        remembered = json.loads(stamp_path.read_text(encoding="utf-8"))
        if remembered.get("stamp") == asdict(stamp):
            return str(remembered["sha256"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # no stamp yet, or an unreadable one: hash again
    digest = _sha256(model_path)
    _write_atomically(stamp_path, json.dumps({"stamp": asdict(stamp), "sha256": digest}).encode("utf-8"))
    return digest


def cache_path(model_path: Path, cache_dir: Path) -> Path:
    """Where the patched graph of this model content and patch version is cached."""
    digest = model_digest(model_path, cache_dir)
    return cache_dir / f"{model_path.stem}.{digest[:16]}.{PATCH_VERSION}.onnx"


def patched_model(model_path: Union[str, Path], cache_dir: Path | None = None) -> Union[str, bytes]:
    """The patched graph for onnxruntime: a cached file's path, or bytes if the cache cannot be written.

    Builds the cached file when it is missing (first start, new model, new patch
    version) and removes cached graphs of this model's older contents or patches.
    """
    model_path = Path(model_path)
    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        target = cache_path(model_path, cache_dir)
        if not target.is_file():
            _write_atomically(target, build(model_path))
            _remove_stale(cache_dir, model_path.stem, keep=target)
        return str(target)
    except OSError as error:
        _LOGGER.warning(
            "Cannot use the voice cache in %s (%s); patching the voice in memory", cache_dir, error
        )
        return build(model_path)


def build(model_path: Path) -> bytes:
    """Load the model, patch it, and serialise it (about 0.2 s for the 60 MB voice)."""
    import onnx

    model = onnx.load(str(model_path))
    count = patch_model(model)
    _LOGGER.info("Patched %s: alignments and %d seeded noise inputs", model_path.name, count)
    return model.SerializeToString()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename: readers see all or nothing."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _remove_stale(cache_dir: Path, model_stem: str, keep: Path) -> None:
    """Delete cached graphs of the same model from older contents or patch versions."""
    for old in cache_dir.glob(f"{model_stem}.*.onnx"):
        if old != keep:
            try:
                old.unlink()
            except OSError:  # in use elsewhere (Windows) or already gone: harmless
                pass
