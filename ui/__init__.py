"""Streamlit pieces shared by the pages (the library itself stays UI-free)."""
