"""Fixtures shared by every test: source on sys.path, root checks, temporary lxcpaths."""

from __future__ import annotations

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

DIST = os.path.join(ROOT, "dist", "lxcz")
SYSTEM_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def is_root() -> bool:
    return os.geteuid() == 0


needs_root = pytest.mark.skipif(not is_root(), reason="needs root and a real kernel")


@pytest.fixture
def lxcpath(tmp_path):
    """A fresh lxcpath for one test."""
    path = tmp_path / "lxc"
    path.mkdir()
    return str(path)


@pytest.fixture
def dist_lxcz():
    """The built zipapp; tests that need it skip when it has not been built."""
    if not os.path.exists(DIST):
        pytest.skip("dist/lxcz not built (run build/build)")
    return DIST


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "/integration/" in str(item.fspath) and not is_root():
            item.add_marker(pytest.mark.skip(reason="integration tests need root"))
