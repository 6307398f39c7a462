"""Containers on non-dir stores start: an overlay snapshot clone and a loop copy of a
busybox container run, write into their own layer, and leave no mount or loop device."""

from __future__ import annotations

import os
import subprocess

import pytest
from runtime_fixtures import fresh_busybox, lxcz

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def mounts_and_loops() -> tuple:
    with open("/proc/self/mountinfo") as fh:
        mounts = {line.split()[4] for line in fh}
    loops = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    return mounts, loops


@pytest.fixture
def base(tmp_path):
    lxcpath, _ = fresh_busybox(tmp_path, "base")
    before = mounts_and_loops()
    yield lxcpath
    for name in ("snap", "lp", "eph"):
        lxcz("lxc-stop", "-P", lxcpath, "-n", name, "-k")
    assert mounts_and_loops() == before


@pytest.mark.parametrize("copy_args,name", [(["-s"], "snap"), (["-B", "loop", "-L", "64M"], "lp")])
def test_clone_starts_and_writes_its_own_layer(base, copy_args, name):
    r = lxcz("lxc-copy", "-P", base, "-n", "base", "-N", name, *copy_args)
    assert r.returncode == 0, r.stderr
    r = lxcz("lxc-execute", "-P", base, "-n", name, "--", "/bin/sh", "-c",
             "hostname; echo changed > /etc/hostname; cat /etc/hostname")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{name}\nchanged\n"
    assert not os.path.exists(os.path.join(base, "base", "rootfs", "etc", "hostname"))
    r = lxcz("lxc-start", "-P", base, "-n", name)
    assert r.returncode == 0, r.stderr
    r = lxcz("lxc-attach", "-P", base, "-n", name, "--", "/bin/cat", "/etc/hostname")
    assert r.stdout == "changed\n", r.stderr
    assert lxcz("lxc-stop", "-P", base, "-n", name, "-k").returncode == 0
    assert lxcz("lxc-destroy", "-P", base, "-n", name).returncode == 0


def test_missing_store_refused(base):
    with open(os.path.join(base, "base", "config"), "a") as fh:
        fh.write("lxc.rootfs.path = loop:/nonexistent/rootdev\n")
    r = lxcz("lxc-execute", "-P", base, "-n", "base", "--", "/bin/true")
    assert r.returncode != 0 and "/nonexistent/rootdev" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_ephemeral_copy_is_gone_after_stop(base, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "data").write_text("from the host\n")
    r = lxcz("lxc-copy", "-P", base, "-n", "base", "-N", "eph", "-e",
             "-m", f"bind={shared}:/mnt/shared")
    assert r.returncode == 0, r.stderr
    assert "Created eph as clone of base" in r.stdout
    r = lxcz("lxc-attach", "-P", base, "-n", "eph", "--", "/bin/cat", "/mnt/shared/data")
    assert r.stdout == "from the host\n", r.stderr
    assert lxcz("lxc-stop", "-P", base, "-n", "eph", "-k").returncode == 0
    for _ in range(50):
        if not os.path.exists(os.path.join(base, "eph")):
            break
        import time

        time.sleep(0.1)
    assert not os.path.exists(os.path.join(base, "eph"))
    assert not os.path.exists(os.path.join(base, "base", "lxc_snapshots"))


def test_ephemeral_keepdata_survives(base):
    r = lxcz("lxc-copy", "-P", base, "-n", "base", "-N", "eph", "-e", "-D")
    assert r.returncode == 0, r.stderr
    assert lxcz("lxc-stop", "-P", base, "-n", "eph", "-k").returncode == 0
    assert os.path.isfile(os.path.join(base, "eph", "config"))
    assert lxcz("lxc-destroy", "-P", base, "-n", "eph").returncode == 0
