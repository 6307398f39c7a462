"""The loop store: the rootfs is a filesystem image file (``loop:/path/rootdev``).

Created sparse with ``--fssize`` (default 1 GiB) and formatted with ``--fstype`` (default
ext4) by the mkfs program. Mounting binds a free loop device with autoclear, so the device
goes away with the last unmount.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from lxcz.errors import LxczError
from lxcz.storage.bdev import DEFAULT_FSSIZE, DEFAULT_FSTYPE, StoreOptions, copy_into, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

TYPE = "loop"
can_snapshot = False
FSTYPES = ("ext4", "ext3", "ext2", "xfs", "btrfs")


def path_of(value: str) -> str:
    return value.split(":", 1)[1] if value.startswith("loop:") else value


def check_fstype(fstype: str) -> None:
    if fstype not in FSTYPES or not shutil.which(f"mkfs.{fstype}"):
        known = ", ".join(t for t in FSTYPES if shutil.which(f"mkfs.{t}"))
        raise LxczError(f"loop store: cannot make a '{fstype}' filesystem here ({known})")


def make_image(path: str, size: int, fstype: str) -> None:
    check_fstype(fstype)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.ftruncate(fd, size)
    finally:
        os.close(fd)
    force = {"xfs": "-f", "btrfs": "-f"}.get(fstype, "-F")
    try:
        run([f"mkfs.{fstype}", "-q", force, path], f"mkfs.{fstype}")
    except BaseException:
        os.unlink(path)
        raise


def detect_fstype(path: str) -> str:
    res = subprocess.run(["blkid", "-o", "value", "-s", "TYPE", path], capture_output=True,
                         text=True)
    kind = res.stdout.strip()
    if not kind:
        raise LxczError(f"loop store: {path} holds no filesystem blkid recognises")
    return kind


def create(container_dir: str, name: str, opts: StoreOptions) -> str:
    path = os.path.join(container_dir, "rootdev")
    make_image(path, opts.fssize or DEFAULT_FSSIZE, opts.fstype or DEFAULT_FSTYPE)
    os.makedirs(os.path.join(container_dir, "rootfs"), 0o755, exist_ok=True)
    return "loop:" + path


def mount(value: str, target: str, readonly: bool = False) -> Optional[str]:
    from lxcz.sys import calls, loop

    path = path_of(value)
    if not os.path.isfile(path):
        raise LxczError(f"loop store: image {path} does not exist")
    fstype = detect_fstype(path)
    try:
        dev, held = loop.attach(path, readonly)
    except OSError as err:
        raise LxczError(f"loop store: cannot attach {path}: {err.strerror}") from None
    try:
        calls.mount(dev, target, fstype, calls.MS_RDONLY if readonly else 0)
    except OSError as err:
        raise LxczError(f"loop store: cannot mount {path}: {err.strerror}") from None
    finally:
        os.close(held)  # autoclear: the mount holds the device now, or nothing does
    return target


def umount(target: str) -> None:
    from lxcz.sys import calls

    calls.umount2(target, 0)


def clone(src_value: str, container_dir: str, name: str, snapshot: bool,
          opts: StoreOptions, src_mounted: Optional[str] = None) -> str:
    if snapshot:
        raise LxczError("loop store: snapshots are not supported (use -B overlay for a "
                        "snapshot clone)")
    src_path = path_of(src_value)
    size = opts.fssize or (os.stat(src_path).st_size if os.path.isfile(src_path)
                           else DEFAULT_FSSIZE)
    fstype = opts.fstype or (detect_fstype(src_path) if os.path.isfile(src_path)
                             else DEFAULT_FSTYPE)
    dst = os.path.join(container_dir, "rootdev")
    make_image(dst, size, fstype)
    value = "loop:" + dst
    os.makedirs(os.path.join(container_dir, "rootfs"), 0o755, exist_ok=True)
    try:
        copy_into(src_value, value, src_mounted)
    except BaseException:
        os.unlink(dst)
        raise
    return value


def destroy(value: str) -> None:
    path = path_of(value)
    if os.path.isfile(path):
        os.unlink(path)
