"""Backing stores for real: overlay, loop, btrfs on a loop device, lvm where the kernel can.

Every test checks that no mount and no loop device it made is left behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from lxcz.errors import LxczError
from lxcz.storage import bdev
from lxcz.storage.bdev import StoreOptions

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def mounts() -> set:
    with open("/proc/self/mountinfo") as fh:
        return {line.split()[4] for line in fh}


def loops() -> set:
    out = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    return {line.split(":")[0] for line in out.splitlines()}


@pytest.fixture
def clean():
    before = (mounts(), loops())
    yield
    assert mounts() == before[0], "mounts left behind"
    assert loops() == before[1], "loop devices left behind"


def kernel_fs(name: str) -> bool:
    with open("/proc/filesystems") as fh:
        return any(line.split()[-1] == name for line in fh)


def test_overlay_snapshot_of_a_dir_base(tmp_path, clean):
    base = tmp_path / "base"
    value = bdev.get_store("dir").create(str(base), "base", StoreOptions())
    (base / "rootfs" / "hello").write_text("from base\n")
    clone_dir = tmp_path / "snap"
    clone_dir.mkdir()
    ov = bdev.get_store("overlay")
    cval = ov.clone(value, str(clone_dir), "snap", True, StoreOptions())
    assert cval == f"overlay:{base}/rootfs:{clone_dir}/overlay/delta"
    target = clone_dir / "rootfs"
    ov.mount(cval, str(target))
    try:
        assert (target / "hello").read_text() == "from base\n"
        (target / "hello").write_text("changed in clone\n")
    finally:
        ov.umount(str(target))
    assert (base / "rootfs" / "hello").read_text() == "from base\n"
    assert (clone_dir / "overlay" / "delta" / "hello").read_text() == "changed in clone\n"
    ov.destroy(cval)
    assert not (clone_dir / "overlay").exists()


def test_loop_store_create_mount_clone_destroy(tmp_path, clean):
    if not shutil.which("mkfs.ext4"):
        pytest.skip("mkfs.ext4 missing")
    c = tmp_path / "c1"
    c.mkdir()
    store = bdev.get_store("loop")
    value = store.create(str(c), "c1", StoreOptions(fssize=bdev.parse_size("64M")))
    assert value == f"loop:{c}/rootdev" and os.path.getsize(c / "rootdev") == 64 << 20
    store.mount(value, str(c / "rootfs"))
    try:
        (c / "rootfs" / "marker").write_text("inside the image\n")
    finally:
        store.umount(str(c / "rootfs"))
    assert not (c / "rootfs" / "marker").exists()
    c2 = tmp_path / "c2"
    c2.mkdir()
    v2 = store.clone(value, str(c2), "c2", False, StoreOptions())
    store.mount(v2, str(c2 / "rootfs"))
    try:
        assert (c2 / "rootfs" / "marker").read_text() == "inside the image\n"
    finally:
        store.umount(str(c2 / "rootfs"))
    with pytest.raises(LxczError, match="snapshots are not supported"):
        store.clone(value, str(c2), "c3", True, StoreOptions())
    store.destroy(value)
    store.destroy(v2)
    assert not (c / "rootdev").exists()


def test_loop_bad_fstype_leaves_nothing(tmp_path, clean):
    c = tmp_path / "c1"
    c.mkdir()
    with pytest.raises(LxczError, match="cannot make a 'vfat9' filesystem"):
        bdev.get_store("loop").create(str(c), "c1", StoreOptions(fstype="vfat9"))
    assert os.listdir(c) == []


def test_copy_into_a_full_filesystem_fails_cleanly(tmp_path, clean):
    """A 16M loop filesystem cannot hold a 40M rootfs: the clone fails, nothing is left."""
    if not shutil.which("mkfs.ext4"):
        pytest.skip("mkfs.ext4 missing")
    base = tmp_path / "base"
    value = bdev.get_store("dir").create(str(base), "base", StoreOptions())
    with open(base / "rootfs" / "big", "wb") as fh:
        fh.write(os.urandom(40 << 20))
    c = tmp_path / "c"
    c.mkdir()
    store = bdev.get_store("loop")
    with pytest.raises(LxczError, match="copying .* failed"):
        store.clone(value, str(c), "c", False, StoreOptions(fssize=16 << 20))
    assert not (c / "rootdev").exists()


@pytest.fixture
def btrfs_dir(tmp_path):
    if not kernel_fs("btrfs") or not shutil.which("mkfs.btrfs"):
        pytest.skip("no btrfs in this kernel or no btrfs-progs")
    from lxcz.sys import calls, loop

    image = tmp_path / "btrfs.img"
    with open(image, "wb") as fh:
        fh.truncate(256 << 20)
    subprocess.run(["mkfs.btrfs", "-q", "-f", str(image)], check=True, capture_output=True)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    dev, held = loop.attach(str(image))
    try:
        calls.mount(dev, str(mnt), "btrfs")
    finally:
        os.close(held)
    try:
        yield mnt
    finally:
        calls.umount2(str(mnt), 0)


def test_btrfs_subvolume_and_snapshot(btrfs_dir, clean):
    store = bdev.get_store("btrfs")
    c1 = btrfs_dir / "c1"
    c1.mkdir()
    value = store.create(str(c1), "c1", StoreOptions())
    (c1 / "rootfs" / "f").write_text("one\n")
    c2 = btrfs_dir / "c2"
    c2.mkdir()
    v2 = store.clone(value, str(c2), "c2", True, StoreOptions())
    assert (c2 / "rootfs" / "f").read_text() == "one\n"
    def show(p):
        return subprocess.run(["btrfs", "subvolume", "show", str(p)], capture_output=True,
                              text=True).stdout

    parent_uuid = [ln.split()[-1] for ln in show(c2 / "rootfs").splitlines()
                   if "Parent UUID" in ln][0]
    own_uuid = [ln.split()[-1] for ln in show(c1 / "rootfs").splitlines()
                if ln.strip().startswith("UUID")][0]
    assert parent_uuid == own_uuid  # a real snapshot, not a copy
    store.destroy(v2)
    store.destroy(value)
    assert not (c1 / "rootfs").exists() and not (c2 / "rootfs").exists()


def test_btrfs_refused_off_btrfs(tmp_path):
    with pytest.raises(LxczError, match="is not on a btrfs filesystem"):
        bdev.get_store("btrfs").create(str(tmp_path), "c", StoreOptions())


def test_lvm_without_a_volume_group(tmp_path):
    if not shutil.which("vgs"):
        pytest.skip("lvm2 not installed")
    with pytest.raises(LxczError, match="volume group 'lxcznovg' does not exist"):
        bdev.get_store("lvm").create(str(tmp_path), "c", StoreOptions(vgname="lxcznovg"))
