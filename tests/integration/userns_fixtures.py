"""Fixtures for user-namespace tests (registered for tests/integration by its conftest):
``workdir``, a directory every user can reach, and ``unpriv_user``, a throwaway user with
a home there and, after ``add_ranges()``, a free 65536-id range in /etc/subuid and
/etc/subgid; the user, its ranges and any process it still has are removed afterwards."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time

import pytest


@pytest.fixture
def workdir():
    """A directory every test user can reach (pytest's tmp_path is root-only)."""
    d = tempfile.mkdtemp(prefix="lxcz-userns-", dir="/tmp")
    os.chmod(d, 0o777)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _free_base(count=65536):
    end = 1_000_000
    for path in ("/etc/subuid", "/etc/subgid"):
        try:
            for line in open(path):
                parts = line.strip().split(":")
                if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                    end = max(end, int(parts[1]) + int(parts[2]))
        except FileNotFoundError:
            pass
    # round up, and leave room for helpers adding ranges at the same time
    return (end // count + 1 + secrets.randbelow(64)) * count


@pytest.fixture
def unpriv_user(workdir):
    """A throwaway user without subordinate ids and with a home in ``workdir``;
    ``add_ranges()`` gives it a free 65536-id range in /etc/subuid and /etc/subgid."""
    for tool in ("useradd", "userdel", "usermod", "runuser", "newuidmap", "newgidmap"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    name = "lxczt" + secrets.token_hex(4)
    subprocess.run(["useradd", "-M", "-d", "/nonexistent", "-s", "/bin/sh", name],
                   check=True, capture_output=True)

    class U:
        pass

    u = U()
    u.name = name
    u.uid = int(subprocess.run(["id", "-u", name], capture_output=True, text=True,
                               check=True).stdout)
    u.gid = int(subprocess.run(["id", "-g", name], capture_output=True, text=True,
                               check=True).stdout)
    u.home = os.path.join(workdir, "home")
    os.mkdir(u.home)
    os.chown(u.home, u.uid, u.gid)
    u.base = None
    # useradd hands out a range itself where login.defs has SUB_UID_COUNT: start without
    from lxcz.security import idmap

    for path, opt in (("/etc/subuid", "--del-subuids"), ("/etc/subgid", "--del-subgids")):
        for start, count in idmap.subid_ranges(name, path):
            subprocess.run(["usermod", opt, f"{start}-{start + count - 1}", name],
                           check=True, capture_output=True)

    def add_ranges():
        u.base = _free_base()
        rng = f"{u.base}-{u.base + 65535}"
        subprocess.run(["usermod", "--add-subuids", rng, "--add-subgids", rng, name],
                       check=True, capture_output=True)

    u.add_ranges = add_ranges
    try:
        yield u
    finally:
        # a monitor may still be finishing its teardown after lxc-stop returned
        for _ in range(50):
            left = subprocess.run(["pgrep", "-u", name], capture_output=True,
                                  text=True).stdout
            if not left.strip():
                break
            time.sleep(0.1)
        # every process of this throwaway user was started by the test: end them so the
        # user can be removed, and fail below
        for pid in left.split():
            try:
                os.kill(int(pid), 9)
            except (ProcessLookupError, ValueError):
                pass
        if left.strip():
            time.sleep(0.2)
        if u.base is not None:
            rng = f"{u.base}-{u.base + 65535}"
            subprocess.run(["usermod", "--del-subuids", rng, "--del-subgids", rng, name],
                           capture_output=True)
        subprocess.run(["userdel", name], capture_output=True)
        for path in ("/etc/subuid", "/etc/subgid"):
            if os.path.exists(path):
                assert name + ":" not in open(path).read(), f"{name} left in {path}"
        assert not left.strip(), f"processes of {name} left behind: {left}"


