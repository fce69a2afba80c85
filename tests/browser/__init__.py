"""Real-browser tests: Chromium (Debian's) driven by Playwright against `streamlit run`."""
