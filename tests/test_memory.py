"""The allocator setting that keeps long jobs' memory flat."""

import sys

import pytest

from avatar.models.memory import limit_malloc_arenas


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_glibc_accepts_the_arena_limit():
    assert limit_malloc_arenas() is True
