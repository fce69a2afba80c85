"""Models page: the catalog with its status, and the pull / import / unload actions."""

from __future__ import annotations

import streamlit as st

from avatar.models.devices import format_bytes
from avatar.errors import AvatarError
from ui.sidebar import registry_resource

st.title("Models")
st.caption(
    "Every model the app can use. Nothing is downloaded unless you ask for it here or with "
    "`avatar models pull ID`."
)
registry = registry_resource()
statuses = registry.statuses()
any_loaded = any(s.loaded for s in statuses)
# A static table: every row and the whole of every cell on the page (wrapped), none behind a scroll of its own.
st.table(
    [
        {
            "id": s.id,
            "used for": s.feature,
            "status": s.state,
            "size": format_bytes(s.size_bytes if s.installed else s.download_size),
            **({"in memory": f"{format_bytes(s.memory_bytes)} on {s.device}" if s.loaded else ""} if any_loaded else {}),
            "license": s.license,
        }
        for s in statuses
    ],
    hide_index=True,
)
st.caption("The size of a missing model is its download.")

st.subheader("Actions")
chosen = st.selectbox("Model", [s.id for s in statuses if s.state != "bundled"], key="model_id")
pull_col, unload_col = st.columns(2)
if pull_col.button("Download (pull)", key="pull"):
    bar = st.progress(0.0, text="connecting")
    try:
        path = registry.pull(chosen, progress=lambda stage, fraction: bar.progress(fraction, text=stage))
        st.success(f"{chosen} is installed in {path}.")
    except AvatarError as exc:
        st.error(str(exc))
if unload_col.button("Unload from memory", key="unload"):
    try:
        st.info(f"{chosen} unloaded." if registry.unload(chosen) else f"{chosen} was not loaded.")
    except AvatarError as exc:
        st.error(str(exc))

import_path = st.text_input("Import a local copy: folder (or checkpoint file) path", key="import_path")
copy = st.checkbox("Copy the files instead of linking to them", key="import_copy")
if st.button("Import", key="import"):
    if not import_path.strip():
        st.error("Type the path of the folder or file to import first.")
    else:
        try:
            with st.spinner(f"Checking that {import_path} loads as {chosen}..."):
                path = registry.import_model(chosen, import_path.strip(), copy=copy)
            st.success(f"{chosen} imported: {path}.")
        except AvatarError as exc:
            st.error(str(exc))

missing = [s for s in statuses if not s.installed]
if missing:
    st.subheader("Missing models")
    st.caption("The command that installs each one, or use the actions above.")
    for s in missing:
        st.markdown(f"**{s.id}** ({s.name}, {format_bytes(s.download_size)}, {s.license})")
        st.code(s.install_command, language="bash")
