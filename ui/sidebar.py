"""The sidebar every page shows: device, memory budget and use, loaded models, and an API key signed in with."""

from __future__ import annotations

import streamlit as st

from avatar.models.devices import format_bytes
from avatar.models.registry import Registry, get_registry
from ui.session import signed_in


@st.cache_resource
def registry_resource() -> Registry:
    """The process's one registry, shared by every browser session."""
    return get_registry()


def render_sidebar() -> Registry:
    """Draw the model/memory summary in the sidebar and return the shared registry."""
    registry = registry_resource()
    stats = registry.stats()
    with st.sidebar:
        st.markdown("**Models**")
        st.caption(f"Device: `{stats.device}` ({stats.dtype})")
        if stats.device != "cpu":
            st.caption(f"GPU memory: {format_bytes(stats.gpu_used)} of {format_bytes(stats.gpu_budget)}")
        st.caption(f"CPU memory: {format_bytes(stats.cpu_used)} of {format_bytes(stats.cpu_budget)}")
        if stats.loaded:
            for model in stats.loaded:
                st.caption(f"- {model.id} on {model.device}, {format_bytes(model.memory_bytes)}" + (" (in use)" if model.pins else ""))
        else:
            st.caption("No model loaded yet.")
        if stats.queue_waiting:
            st.caption(f"{stats.queue_waiting} job(s) waiting for the {stats.device.upper()}.")
        if signed_in():
            st.caption(":material/key: Signed in with an API key: new jobs are the key's (History signs out).")
    return registry
