"""API keys: who owns a job when a script (or a signed-in browser) sends a key.

Keys come from `AVATAR_API_KEYS` (comma separated) and are kept only as SHA-256
hashes once read. A key's jobs belong to the owner `key:<first 16 hex digits of its
hash>`, the same for the HTTP API and for the History page of a browser signed in
with that key, so a script's jobs can be followed and downloaded in the app.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Optional


LOCAL_OWNER = "local"
"""The owner of jobs sent without a key: `avatar serve --no-auth` and `avatar jobs` on this machine."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def keys_from_env() -> list[str]:
    return [key.strip() for key in os.environ.get("AVATAR_API_KEYS", "").split(",") if key.strip()]


def hashes_from_env() -> list[str]:
    return [hash_key(key) for key in keys_from_env()]


def key_owner(key: str, hashes: list[str]) -> Optional[str]:
    """The job owner of `key` when it is one of the known `hashes` (compared in constant time), else None."""
    digest = hash_key(key.strip()) if key.strip() else ""
    if not digest or not any(hmac.compare_digest(digest, known) for known in hashes):
        return None
    return f"key:{digest[:16]}"
