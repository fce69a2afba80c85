"""The model registry: resolution, errors, sharing, eviction, concurrency, devices, safe loading."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import torch

from avatar.models.catalog import CATALOG
from avatar.models.devices import GB, DeviceCaps, DevicePolicy, choose_policy, parse_bytes
from avatar.errors import AvatarError, InputError, ModelNotInstalled
from avatar.models.job_queue import JobQueue
from avatar.models.loaders import SegmenterBundle, WeightFiles, load_model, load_weights_file
from avatar.models.registry import Registry, get_registry
from tests.tiny_models import save_tiny_clipseg, save_tiny_sd, save_tiny_sd_inpaint

CPU = DevicePolicy("cpu", torch.float32, gpu_budget=0, cpu_budget=16 * GB)


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory) -> Path:
    """One folder of tiny models, built once and linked into each test's checkpoints."""
    root = tmp_path_factory.mktemp("tiny_store")
    save_tiny_sd(root / "sd")
    save_tiny_sd_inpaint(root / "inpaint")
    save_tiny_clipseg(root / "clipseg")
    return root


def install(checkpoints: Path, model_id: str, source: Path) -> Path:
    checkpoints.mkdir(parents=True, exist_ok=True)
    (checkpoints / model_id).symlink_to(source, target_is_directory=True)
    return checkpoints / model_id


def test_missing_model_names_size_and_command(tmp_path):
    registry = Registry(policy=CPU, checkpoints=tmp_path / "ckpt", hf_cache=tmp_path / "hub")
    assert registry.status("sd21-base").state == "missing"
    assert not registry.is_installed("sd21-base")
    with pytest.raises(ModelNotInstalled) as caught:
        with registry.use("sd21-base"):
            pass
    message = str(caught.value)
    assert "sd21-base" in message and "5.2 GB" in message and "`avatar models pull sd21-base`" in message
    with pytest.raises(InputError, match="known models"):
        registry.status("no-such-model")


def test_bundled_models_resolve_to_package_files():
    registry = Registry(policy=CPU)
    for model_id in ("piper-joe", "dlib-landmarks"):
        status = registry.status(model_id)
        assert status.state == "bundled" and status.path.is_file() and status.size_bytes > 1_000_000
        with registry.use(model_id) as path:
            assert path == status.path


def test_resolution_checkpoints_first_then_hf_cache(tmp_path, tiny_store):
    spec = CATALOG["sd21-base"]
    hub = tmp_path / "hub"
    snapshot = hub / "models--stabilityai--stable-diffusion-2-1-base" / "snapshots" / spec.revision
    snapshot.parent.mkdir(parents=True)
    snapshot.symlink_to(tiny_store / "sd", target_is_directory=True)
    registry = Registry(policy=CPU, checkpoints=tmp_path / "ckpt", hf_cache=hub)
    assert registry.resolve("sd21-base") == ("installed", snapshot)
    assert registry.resolve("sd2-inpaint") == ("missing", None)

    local = install(tmp_path / "ckpt", "sd21-base", tiny_store / "sd")
    assert registry.resolve("sd21-base") == ("installed", local)
    # An incomplete folder (no model_index.json) is not an install.
    (tmp_path / "ckpt" / "sd2-inpaint").mkdir()
    assert registry.resolve("sd2-inpaint") == ("missing", None)


def test_checkpoints_dir_follows_environment(tmp_path, monkeypatch, tiny_store):
    install(tmp_path / "elsewhere", "sd21-base", tiny_store / "sd")
    registry = Registry(policy=CPU, hf_cache=tmp_path / "hub")
    assert not registry.is_installed("sd21-base")
    monkeypatch.setenv("AVATAR_CHECKPOINTS", str(tmp_path / "elsewhere"))
    assert registry.is_installed("sd21-base")


def test_use_loads_once_on_policy_device(tmp_path, tiny_store):
    install(tmp_path, "sd21-base", tiny_store / "sd")
    registry = Registry(policy=CPU, checkpoints=tmp_path, hf_cache=tmp_path / "hub")
    with registry.use("sd21-base") as first:
        assert type(first).__name__ == "StableDiffusionPipeline"
        assert first.unet.dtype == torch.float32 and first.device.type == "cpu"
        assert first._progress_bar_config.get("disable") is True
        assert registry.stats().loaded[0].pins == 1
    with registry.use("sd21-base") as second:
        assert second is first
    stats = registry.stats()
    assert (stats.misses, stats.hits) == (1, 1)
    assert stats.loaded[0].id == "sd21-base" and stats.loaded[0].memory_bytes > 100_000 and stats.loaded[0].pins == 0
    assert stats.load_seconds["sd21-base"] > 0
    status = registry.status("sd21-base")
    assert status.loaded and status.device == "cpu" and status.memory_bytes == stats.loaded[0].memory_bytes


def test_clipseg_yields_processor_and_model(tmp_path, tiny_store):
    install(tmp_path, "clipseg", tiny_store / "clipseg")
    registry = Registry(policy=CPU, checkpoints=tmp_path, hf_cache=tmp_path / "hub")
    with registry.use("clipseg") as bundle:
        assert isinstance(bundle, SegmenterBundle)
        assert type(bundle.processor).__name__ == "CLIPSegProcessor"
        assert type(bundle.model).__name__ == "CLIPSegForImageSegmentation" and not bundle.model.training


def test_low_memory_turns_on_slicing_and_tiling(tmp_path, tiny_store):
    install(tmp_path, "sd21-base", tiny_store / "sd")
    small = DevicePolicy("cpu", torch.float32, gpu_budget=0, cpu_budget=2 * GB)
    assert small.low_memory and not CPU.low_memory
    with Registry(policy=small, checkpoints=tmp_path, hf_cache=tmp_path / "hub").use("sd21-base") as pipe:
        assert pipe.vae.use_tiling
    with Registry(policy=CPU, checkpoints=tmp_path, hf_cache=tmp_path / "hub").use("sd21-base") as pipe:
        assert not pipe.vae.use_tiling


def test_eviction_is_least_recently_used_and_spares_pinned(tmp_path, tiny_store):
    for model_id, folder in (("sd21-base", "sd"), ("sd2-inpaint", "inpaint"), ("dreamshaper8-inpaint", "inpaint")):
        install(tmp_path, model_id, tiny_store / folder)
    probe = Registry(policy=CPU, checkpoints=tmp_path, hf_cache=tmp_path / "hub")
    with probe.use("sd2-inpaint"):
        one = probe.stats().loaded[0].memory_bytes
    # Room for two tiny pipelines, not three.
    policy = DevicePolicy("cpu", torch.float32, gpu_budget=0, cpu_budget=int(2.5 * one))
    registry = Registry(policy=policy, checkpoints=tmp_path, hf_cache=tmp_path / "hub")
    with registry.use("sd2-inpaint"):
        pass
    with registry.use("dreamshaper8-inpaint"):
        pass
    with registry.use("sd2-inpaint"):  # now dreamshaper8-inpaint is the least recently used
        pass
    with registry.use("sd21-base"):
        pass
    loaded = {m.id for m in registry.stats().loaded}
    assert loaded == {"sd2-inpaint", "sd21-base"} and registry.stats().evictions == 1

    # A pinned model stays even when the newcomer needs its room.
    tight = Registry(policy=DevicePolicy("cpu", torch.float32, 0, int(1.5 * one)), checkpoints=tmp_path, hf_cache=tmp_path / "hub")
    with tight.use("sd2-inpaint") as pinned:
        with tight.use("dreamshaper8-inpaint"):
            pass
        assert {m.id for m in tight.stats().loaded} == {"sd2-inpaint", "dreamshaper8-inpaint"}
        with tight.use("sd21-base"):
            pass
        ids = {m.id for m in tight.stats().loaded}
        assert "sd2-inpaint" in ids and "dreamshaper8-inpaint" not in ids
        with pytest.raises(AvatarError, match="in use"):
            tight.unload("sd2-inpaint")
    with tight.use("sd2-inpaint") as again:
        assert again is pinned
    assert tight.unload("sd2-inpaint") is True and tight.unload("sd2-inpaint") is False


class FakeGpuModel(torch.nn.Module):
    """A module that records moves instead of making them (there is no GPU here)."""

    def __init__(self, size: int):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(size))
        self.moves: list[str] = []

    def to(self, device):  # noqa: D102 - records the move only
        self.moves.append(str(device))
        return self


def test_gpu_eviction_offloads_to_cpu_before_dropping(tmp_path):
    for model_id in ("sd21-base", "sd2-inpaint", "dreamshaper8-inpaint", "sd-x4-upscaler"):
        (tmp_path / model_id).mkdir()
        (tmp_path / model_id / "model_index.json").write_text("{}")
    loaded: dict[str, FakeGpuModel] = {}

    def loader(spec, path, policy):
        model = FakeGpuModel(1000)  # 4000 bytes
        model.to(policy.device)
        loaded[spec.id] = model
        return model

    def placement():
        return {m.id: m.device for m in registry.stats().loaded}

    # Room for two models on the GPU and one on the CPU.
    policy = DevicePolicy("cuda", torch.float16, gpu_budget=9000, cpu_budget=5000)
    registry = Registry(policy=policy, checkpoints=tmp_path, hf_cache=tmp_path / "hub", loader=loader)
    for model_id in ("sd21-base", "sd2-inpaint", "dreamshaper8-inpaint"):
        with registry.use(model_id):
            pass
    stats = registry.stats()
    assert loaded["sd21-base"].moves == ["cuda", "cpu"] and stats.offloads == 1 and stats.evictions == 0
    assert placement() == {"sd21-base": "cpu", "sd2-inpaint": "cuda", "dreamshaper8-inpaint": "cuda"}
    assert (stats.gpu_used, stats.cpu_used) == (8000, 4000)

    # Using the offloaded model brings it back and offloads the least recently used one.
    with registry.use("sd21-base") as model:
        assert model is loaded["sd21-base"] and model.moves[-1] == "cuda"
    assert placement() == {"sd21-base": "cuda", "sd2-inpaint": "cpu", "dreamshaper8-inpaint": "cuda"}
    assert registry.stats().offloads == 2 and registry.stats().evictions == 0

    # A newcomer pushes dreamshaper8-inpaint to the CPU, which is full: there, sd2-inpaint is dropped.
    with registry.use("sd-x4-upscaler"):
        pass
    assert placement() == {"sd21-base": "cuda", "sd-x4-upscaler": "cuda", "dreamshaper8-inpaint": "cpu"}
    stats = registry.stats()
    assert stats.offloads == 3 and stats.evictions == 1


def test_concurrent_first_use_loads_once(tmp_path, tiny_store):
    install(tmp_path, "sd21-base", tiny_store / "sd")
    calls = []

    def slow_loader(spec, path, policy):
        calls.append(spec.id)
        time.sleep(0.3)  # widen the window in which the other threads arrive
        return load_model(spec, path, policy)

    registry = Registry(policy=CPU, checkpoints=tmp_path, hf_cache=tmp_path / "hub", max_jobs=6, loader=slow_loader)
    results, errors = [], []
    barrier = threading.Barrier(6)

    def worker():
        barrier.wait()
        try:
            with registry.use("sd21-base") as pipe:
                results.append(pipe)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors and calls == ["sd21-base"] and len(results) == 6
    assert all(pipe is results[0] for pipe in results)
    assert registry.stats().misses == 1 and registry.stats().hits == 5


def test_failed_load_is_reported_to_every_waiter_and_retried(tmp_path):
    (tmp_path / "sd21-base").mkdir()
    (tmp_path / "sd21-base" / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    registry = Registry(policy=CPU, checkpoints=tmp_path, hf_cache=tmp_path / "hub")
    for _ in range(2):  # nothing is cached after a failure
        with pytest.raises(AvatarError, match="could not be loaded"):
            with registry.use("sd21-base"):
                pass
    assert registry.stats().loaded == [] and registry.stats().misses == 2


def test_job_queue_reports_place_and_allows_nesting():
    queue = JobQueue(slots=1)
    places: list[int] = []
    holding, release, done = threading.Event(), threading.Event(), threading.Event()

    def first():
        with queue.slot():
            with queue.slot():  # the same thread nests without waiting for itself
                holding.set()
                release.wait(5)

    def second():
        with queue.slot(on_wait=places.append):
            done.set()

    a = threading.Thread(target=first)
    a.start()
    holding.wait(5)
    b = threading.Thread(target=second)
    b.start()
    deadline = time.time() + 5
    while queue.waiting == 0 and time.time() < deadline:
        time.sleep(0.01)
    assert queue.waiting == 1 and not done.is_set()
    release.set()
    a.join(5)
    b.join(5)
    assert done.is_set() and places == [1] and queue.running == 0


def test_device_policy_from_capabilities():
    gpu = DeviceCaps(cuda=True, mps=False, cuda_memory=8 * GB, cpu_memory=32 * GB)
    policy = choose_policy(gpu, env={})
    assert (policy.device, policy.dtype) == ("cuda", torch.float16)
    assert policy.gpu_budget == int(8 * GB * 0.9) and policy.cpu_budget == 16 * GB and policy.low_memory
    big = choose_policy(DeviceCaps(cuda=True, mps=False, cuda_memory=24 * GB), env={})
    assert not big.low_memory
    mac = choose_policy(DeviceCaps(cuda=False, mps=True, cpu_memory=16 * GB), env={})
    assert (mac.device, mac.dtype, mac.gpu_budget) == ("mps", torch.float32, 8 * GB)
    cpu = choose_policy(DeviceCaps(cuda=False, mps=False, cpu_memory=8 * GB), env={})
    assert (cpu.device, cpu.dtype, cpu.budget) == ("cpu", torch.float32, 4 * GB)
    forced = choose_policy(gpu, env={"AVATAR_DEVICE": "cpu", "AVATAR_GPU_MEMORY": "2GB", "AVATAR_CPU_MEMORY": "512MB"})
    assert (forced.device, forced.dtype, forced.gpu_budget, forced.cpu_budget) == ("cpu", torch.float32, 2 * GB, 512 * 1024**2)
    with pytest.raises(InputError, match="no cuda device"):
        choose_policy(DeviceCaps(cuda=False, mps=False), env={"AVATAR_DEVICE": "cuda"})
    with pytest.raises(InputError, match="not a device"):
        choose_policy(gpu, env={"AVATAR_DEVICE": "tpu"})
    with pytest.raises(InputError, match="not a size"):
        parse_bytes("lots", "AVATAR_CPU_MEMORY")
    assert parse_bytes("1.5G") == int(1.5 * GB) and parse_bytes("1024") == 1024


class RunsCode:
    """Unpickling this would run a shell command."""

    def __reduce__(self):
        import os

        return (os.system, ("touch pwned-by-pickle",))


def test_weights_only_refuses_pickles_that_run_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "wav2lip_gan.pth"
    torch.save({"state_dict": {"w": torch.ones(2)}, "hook": RunsCode()}, evil)
    with pytest.raises(InputError, match="refused"):
        load_weights_file(evil)
    registry = Registry(policy=CPU, checkpoints=tmp_path / "ckpt", hf_cache=tmp_path / "hub")
    with pytest.raises(InputError, match="refused"):
        registry.import_model("wav2lip-gan", evil)
    assert not (tmp_path / "pwned-by-pickle").exists()
    assert not registry.is_installed("wav2lip-gan")

    good = tmp_path / "good.pth"
    torch.save({"state_dict": {"w": torch.ones(2)}}, good)
    registry.import_model("wav2lip-gan", good, copy=True)
    with registry.use("wav2lip-gan") as weights:
        assert isinstance(weights, WeightFiles)
        assert torch.equal(weights.state_dicts["wav2lip_gan.pth"]["state_dict"]["w"], torch.ones(2))
    assert registry.stats().loaded[0].memory_bytes == 8


def test_import_checks_class_and_replaces_loaded_copy(tmp_path, tiny_store):
    registry = Registry(policy=CPU, checkpoints=tmp_path / "ckpt", hf_cache=tmp_path / "hub")
    with pytest.raises(InputError, match="StableDiffusionInpaintPipeline"):
        registry.import_model("sd21-base", tiny_store / "inpaint")
    with pytest.raises(InputError, match="does not exist"):
        registry.import_model("sd21-base", tmp_path / "nowhere")
    with pytest.raises(InputError, match="model_index.json is missing"):
        registry.import_model("sd21-base", tmp_path)
    assert not (tmp_path / "ckpt" / "sd21-base").exists()
    path = registry.import_model("sd21-base", tiny_store / "sd")
    assert path.is_symlink() and registry.status("sd21-base").state == "installed"


def test_pull_of_bundled_and_unpinned_url_needs_no_network(tmp_path):
    registry = Registry(policy=CPU, checkpoints=tmp_path, hf_cache=tmp_path / "hub")
    assert registry.pull("piper-joe").is_file()
    with pytest.raises(AvatarError, match="avatar models import wav2lip-gan"):
        registry.pull("wav2lip-gan")
    assert list(tmp_path.iterdir()) == []


def test_get_registry_is_one_per_process():
    assert get_registry() is get_registry()


def test_parts_load_count_and_unload_on_their_own(tmp_path):
    """A job asks for one part (say one renderer size); each part is one entry, shared by later jobs."""
    folder = tmp_path / "ckpt" / "sadtalker"
    folder.mkdir(parents=True)
    (folder / "SadTalker_V0.0.2_256.safetensors").write_bytes(b"x")
    loads = []

    def loader(spec, path, policy, part=None):
        loads.append(part)
        return torch.nn.Linear(64 if part == "256-crop" else 32, 8)

    registry = Registry(policy=CPU, checkpoints=tmp_path / "ckpt", hf_cache=tmp_path / "hub", loader=loader)
    with registry.use("sadtalker", part="256-crop") as first:
        with registry.use("sadtalker", part="256-crop") as again:
            assert again is first
    with registry.use("sadtalker", part="256-full") as other:
        assert other is not first
    assert loads == ["256-crop", "256-full"]
    status = registry.status("sadtalker")
    assert status.loaded and status.memory_bytes == (64 * 8 + 8 + 32 * 8 + 8) * 4
    assert sorted(m.id for m in registry.stats().loaded) == ["sadtalker/256-crop", "sadtalker/256-full"]
    with pytest.raises(InputError, match="no part '1024-crop'"):
        with registry.use("sadtalker", part="1024-crop"):
            pass
    assert registry.unload("sadtalker") and not registry.status("sadtalker").loaded
