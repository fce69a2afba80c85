"""The sidebar every page shows: the device, what this server process holds (memory, models in memory), where jobs
run, and an API key signed in with.

It is drawn twice per run (streamlit_app.py): before the page, with what is known without loading anything, and
after it, with what the page's job loaded. The device needs PyTorch, which takes seconds to import on a fresh
server: the first draw does not wait for it, so the page shows at once, and once the page has drawn a background
thread imports it (`prepare_registry`), also for a page that stopped early.
"""

from __future__ import annotations

import threading

import streamlit as st

from avatar.models.devices import format_bytes
from avatar.models.registry import Registry, get_registry
from ui.server_status import bundled_models_in_memory, jobs_run_here, process_memory
from ui.session import signed_in

_registry_ready = threading.Event()
_warm_up_lock = threading.Lock()
_warm_up: threading.Thread | None = None


@st.cache_resource(show_spinner="Loading PyTorch and checking the device...")
def registry_resource() -> Registry:
    """The process's one registry, shared by every browser session."""
    registry = get_registry()
    _registry_ready.set()
    return registry


def prepare_registry() -> None:
    """Create the registry (import PyTorch, pick the device) on a background thread, once per process. It draws
    nothing, so it is safe to call while a page stops or reruns."""
    global _warm_up

    def create() -> None:
        get_registry()
        _registry_ready.set()

    with _warm_up_lock:
        if _warm_up is None:
            _warm_up = threading.Thread(target=create, name="avatar-registry-warm-up", daemon=True)
            _warm_up.start()


def render_sidebar(slot=None, wait_for_registry: bool = True) -> None:
    """Draw the summary into `slot` (an `st.sidebar.empty()`, so a second draw replaces the first).

    Without `wait_for_registry`, a registry that does not exist yet is not created (that is `prepare_registry`'s
    job, after the page) and the device line says it is being detected, instead of holding up the page for PyTorch.
    """
    registry = registry_resource() if wait_for_registry or _registry_ready.is_set() else None
    here = jobs_run_here()
    memory = process_memory()
    stats = registry.stats() if registry is not None else None
    models = bundled_models_in_memory()
    if stats is not None:
        models += [f"`{m.id}`: on {m.device}, {format_bytes(m.memory_bytes)}" + (" (in use)" if m.pins else "")
                   for m in stats.loaded]

    with (slot or st.sidebar.empty()).container():
        st.markdown("**Models**")
        if stats is None:
            st.caption("Device: being detected (PyTorch is loading)...")
        else:
            st.caption(f"Device: `{stats.device}` ({stats.dtype})")
            if stats.device != "cpu":
                st.caption(f"GPU memory for models: {format_bytes(stats.gpu_used)} of {format_bytes(stats.gpu_budget)}")
        if memory is not None:
            amount = ("at most " if memory.peak else "") + format_bytes(memory.bytes)
            if here:
                st.caption(f"Memory: {amount} held by this server process, which runs the jobs.")
            else:
                st.caption(f"Memory: {amount} held by this server process. Jobs run on Celery workers; the models "
                           "they load are in the workers' memory, not shown here.")
        if models:
            st.caption("In memory in this process:\n" + "\n".join(f"- {name}" for name in models))
        elif here:
            st.caption("No model in memory yet: the first job loads the ones it needs.")
        if stats is not None and stats.loaded:
            st.caption(f"Large models: {format_bytes(stats.cpu_used)} of the {format_bytes(stats.cpu_budget)} "
                       "kept in CPU memory at most.")
        if stats is not None and stats.queue_waiting:
            st.caption(f"{stats.queue_waiting} job(s) waiting for the {stats.device.upper()}.")
        if signed_in():
            st.caption(":material/key: Signed in with an API key: new jobs are the key's (History signs out).")
