"""lxc-create -B for real: loop, btrfs (on a loop device made here), overlay and best,
recorded in lxc.rootfs.path as LXC 5 writes it, started, destroyed; failures leave no
directory, mount, loop device or image behind. Compared with upstream's layout."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from lifecycle_util import tool as lxcz_tool

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def mounts() -> set:
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f}


def loops() -> set:
    out = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    return {ln.split(":")[0] for ln in out.splitlines()}


@pytest.fixture
def clean(tmp_path):
    """An lxcpath; afterwards no mount or loop device that was not there before."""
    before_m, before_l = mounts(), loops()
    path = tmp_path / "lxc"
    path.mkdir()
    yield str(path)
    for name in os.listdir(path):
        lxcz_tool("lxc-destroy", "-P", str(path), "-n", name, "-f")
    assert mounts() - before_m == set()
    assert loops() - before_l == set()


def _no_net(config: str) -> None:
    text = open(config).read().replace("lxc.net.0.type = veth", "lxc.net.0.type = empty")
    with open(config, "w") as f:
        f.write("\n".join(ln for ln in text.split("\n") if not ln.startswith("lxc.net.0.link")))


def _rootfs_line(config: str) -> str:
    return next(ln for ln in open(config).read().split("\n")
                if ln.startswith("lxc.rootfs.path"))


def test_loop_store(clean):
    res = lxcz_tool("lxc-create", "-P", clean, "-n", "lp", "-t", "busybox", "-B", "loop",
                    "--fssize", "64M")
    assert res.returncode == 0, res.stderr
    cdir = os.path.join(clean, "lp")
    conf = os.path.join(cdir, "config")
    assert _rootfs_line(conf) == f"lxc.rootfs.path = loop:{cdir}/rootdev"
    assert sorted(os.listdir(cdir)) == ["config", "rootdev", "rootfs"]  # upstream's layout
    assert os.listdir(os.path.join(cdir, "rootfs")) == []  # the files are in the image
    _no_net(conf)
    res = lxcz_tool("lxc-execute", "-P", clean, "-n", "lp", "--", "sh", "-c",
                    "test -x /bin/busybox && grep ' / ' /proc/self/mounts")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("/dev/loop") and " ext4 " in res.stdout
    res = lxcz_tool("lxc-destroy", "-P", clean, "-n", "lp")
    assert res.returncode == 0 and not os.path.exists(cdir), res.stderr


def test_overlay_store_like_upstream(clean):
    res = lxcz_tool("lxc-create", "-P", clean, "-n", "ov", "-t", "busybox", "-B", "overlay")
    assert res.returncode == 0, res.stderr
    cdir = os.path.join(clean, "ov")
    conf = os.path.join(cdir, "config")
    assert _rootfs_line(conf) == \
        f"lxc.rootfs.path = overlay:{cdir}/rootfs:{cdir}/overlay/delta"
    assert os.path.exists(os.path.join(cdir, "rootfs", "bin", "busybox"))
    _no_net(conf)
    res = lxcz_tool("lxc-execute", "-P", clean, "-n", "ov", "--", "touch", "/root/made")
    assert res.returncode == 0, res.stderr
    assert os.path.exists(os.path.join(cdir, "overlay", "delta", "root", "made"))
    assert not os.path.exists(os.path.join(cdir, "rootfs", "root", "made"))


@pytest.mark.skipif(not shutil.which("mkfs.btrfs"), reason="btrfs-progs not installed")
def test_btrfs_and_best_on_btrfs(clean, tmp_path):
    img = tmp_path / "btrfs.img"
    mnt = tmp_path / "btrfs"
    mnt.mkdir()
    with open(img, "wb") as f:
        f.truncate(300 << 20)
    subprocess.run(["mkfs.btrfs", "-q", "-f", str(img)], check=True, capture_output=True)
    if subprocess.run(["mount", "-o", "loop", str(img), str(mnt)]).returncode != 0:
        pytest.skip("cannot mount btrfs here")
    try:
        for name, kind in (("bt", "btrfs"), ("be", "best")):
            res = lxcz_tool("lxc-create", "-P", str(mnt), "-n", name, "-t", "busybox", "-B",
                            kind)
            assert res.returncode == 0, res.stderr
            conf = os.path.join(mnt, name, "config")
            assert _rootfs_line(conf) == f"lxc.rootfs.path = btrfs:{mnt}/{name}/rootfs"
        subs = subprocess.run(["btrfs", "subvolume", "list", str(mnt)], capture_output=True,
                              text=True).stdout
        assert "bt/rootfs" in subs and "be/rootfs" in subs
        for name in ("bt", "be"):
            res = lxcz_tool("lxc-destroy", "-P", str(mnt), "-n", name)
            assert res.returncode == 0, res.stderr
        assert subprocess.run(["btrfs", "subvolume", "list", str(mnt)], capture_output=True,
                              text=True).stdout.strip() == ""
    finally:
        subprocess.run(["umount", str(mnt)])


def test_best_elsewhere_is_dir(clean):
    res = lxcz_tool("lxc-create", "-P", clean, "-n", "bd", "-t", "busybox", "-B", "best")
    assert res.returncode == 0, res.stderr
    assert _rootfs_line(os.path.join(clean, "bd", "config")) == \
        f"lxc.rootfs.path = dir:{clean}/bd/rootfs"


@pytest.mark.parametrize("argv,cause", [
    (["-B", "lvm", "--vgname", "lxcznovg"], "volume group 'lxcznovg' does not exist"),
    (["-B", "loop", "--fssize", "64M", "--fstype", "nofs"], "cannot make a 'nofs'"),
    (["-B", "loop", "--fssize", "64"], "invalid size '64'"),
    (["-B", "dir", "--fssize", "64M"], "only valid with block devices"),
    (["-B", "loop", "--dir", "/tmp/x"], "--dir is only valid with the dir backing store"),
])
def test_bad_store_leaves_nothing(clean, argv, cause):
    res = lxcz_tool("lxc-create", "-P", clean, "-n", "bad", "-t", "busybox", *argv)
    assert res.returncode != 0
    assert res.stderr.count("\n") == 1 and cause in res.stderr, res.stderr
    assert res.stderr.startswith("lxc-create: bad: ")
    assert os.listdir(clean) == []


def test_failing_template_removes_the_store(clean, tmp_path):
    tpl = tmp_path / "lxc-fails"
    tpl.write_text("#!/bin/sh\necho half > \"$(echo \"$@\" | sed 's/.*--rootfs[= ]//;s/ .*//')/x\""
                   "\nexit 3\n")
    tpl.chmod(0o755)
    res = lxcz_tool("lxc-create", "-P", clean, "-n", "tf", "-t", str(tpl), "-B", "loop",
                    "--fssize", "32M")
    assert res.returncode != 0 and res.stderr.count("\n") == 1, res.stderr
    assert os.listdir(clean) == []  # no directory, no image; the fixture checks mounts
