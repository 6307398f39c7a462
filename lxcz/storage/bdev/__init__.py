"""Backing stores behind one interface: dir, overlay, btrfs, loop, lvm, zfs.

An ``lxc.rootfs.path`` value names its store the way LXC 5 writes it: ``dir:/p``,
``overlay:LOWER:UPPER`` (also the older ``overlayfs:``), ``btrfs:/p``, ``loop:/file``,
``lvm:/dev/VG/LV`` (or a bare ``/dev/VG/LV``), ``zfs:POOL/PATH``. ``for_value`` picks the
store, and every store offers the same operations:

- ``create(container_dir, name, opts) -> value`` makes an empty rootfs,
- ``mount(value, target)`` / ``umount(target)`` give it a directory to work in,
- ``clone(src_value, container_dir, name, snapshot, opts) -> value`` copies or snapshots,
- ``destroy(value)`` removes it, ``can_snapshot`` says whether clones can share blocks.

Errors are LxczError naming the store and the cause. Every ``create``/``clone`` removes
what it made when it fails part-way.
"""

from __future__ import annotations

import os

from lxcz.errors import LxczError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional

DEFAULT_FSSIZE = 1 << 30  # LXC's default for loop and lvm: 1 GiB
DEFAULT_FSTYPE = "ext4"


class StoreOptions:
    """What lxc-create -B / lxc-copy pass on (LXC's bdev_specs).

    A plain class, not a dataclass: importing dataclasses costs lxc-copy -s about a
    third of its run time.
    """

    __slots__ = ("fssize", "fstype", "dir", "vgname", "lvname", "thinpool", "zfsroot",
                 "extra")

    def __init__(self, fssize: int = 0, fstype: str = "", dir: str = "", vgname: str = "",
                 lvname: str = "", thinpool: str = "", zfsroot: str = "",
                 extra: Optional[Dict[str, str]] = None) -> None:
        self.fssize = fssize
        self.fstype = fstype
        self.dir = dir  # --dir: rootfs elsewhere (dir store)
        self.vgname = vgname
        self.lvname = lvname
        self.thinpool = thinpool
        self.zfsroot = zfsroot
        self.extra = {} if extra is None else extra

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"StoreOptions({fields})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StoreOptions):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in self.__slots__)


def parse_size(text: str) -> int:
    """'1G', '512M', '4096B' -> bytes. Units B K M G T (powers of 1024); a unit is required,
    so that '--fssize 1' cannot silently mean one byte."""
    t = text.strip()
    units = {"B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    if not t or t[-1].upper() not in units:
        raise LxczError(f"invalid size '{text}': a whole number with a unit B, K, M, G or T "
                        "(e.g. 1G)")
    number = t[:-1]
    if not number.isdigit() or int(number) <= 0:
        raise LxczError(f"invalid size '{text}': a positive whole number with a unit "
                        "B, K, M, G or T (e.g. 1G)")
    return int(number) * units[t[-1].upper()]


def run(argv: List[str], what: str) -> str:
    """Run a storage tool; its last error line becomes the LxczError."""
    import shutil
    import subprocess

    if not shutil.which(argv[0]):
        raise LxczError(f"{what}: {argv[0]} is not installed")
    res = subprocess.run(argv, capture_output=True, text=True)
    if res.returncode != 0:
        detail = (res.stderr or res.stdout).strip().splitlines()
        raise LxczError(f"{what}: {detail[-1] if detail else f'{argv[0]} failed'}")
    return res.stdout


def copy_tree(src: str, dst: str) -> None:
    """Copy a rootfs preserving owners, modes, links, devices, xattrs and hard links."""
    import subprocess

    os.makedirs(dst, exist_ok=True)
    res = subprocess.run(["cp", "-a", "--one-file-system", src.rstrip("/") + "/.", dst],
                         capture_output=True, text=True)
    if res.returncode != 0:
        lines = res.stderr.strip().splitlines()
        raise LxczError(f"copying {src} to {dst} failed: "
                        f"{lines[-1] if lines else 'cp exited ' + str(res.returncode)}")


def copy_into(src_value: str, dst_value: str, src_mounted: Optional[str] = None) -> None:
    """Copy the rootfs of one store into a freshly made block-device store: the source is
    mounted read-only (unless the caller has it mounted already), the destination
    read-write, both in a temporary directory and unmounted afterwards."""
    import tempfile

    src_store, dst_store = for_value(src_value), for_value(dst_value)
    with tempfile.TemporaryDirectory(prefix="lxcz-clone-") as tmp:
        src_dir, dst_dir = os.path.join(tmp, "src"), os.path.join(tmp, "dst")
        os.mkdir(src_dir)
        os.mkdir(dst_dir)
        mounted_src = src_mounted or src_store.mount(src_value, src_dir, True)
        try:
            dst_store.mount(dst_value, dst_dir)
            try:
                copy_tree(mounted_src, dst_dir)
            finally:
                dst_store.umount(dst_dir)
        finally:
            if not src_mounted:
                src_store.umount(src_dir)


def is_mountpoint(path: str) -> bool:
    try:
        with open("/proc/self/mountinfo") as fh:
            return any(line.split()[4] == path for line in fh)
    except OSError:
        return os.path.ismount(path)


def store_type(value: str) -> str:
    """The store an lxc.rootfs.path value names."""
    if not value:
        return "dir"
    head = value.split(":", 1)[0] if ":" in value.split("/", 1)[0] else ""
    if head == "overlayfs":
        return "overlay"
    if head:
        return head
    if value.startswith("/dev/"):
        if os.path.exists("/dev/zvol") and value.startswith("/dev/zvol/"):
            return "zfs"
        return "lvm"
    return "dir"


def get_store(kind: str):  # -> module implementing the store
    kind = {"overlayfs": "overlay", "best": "dir"}.get(kind, kind)
    if kind == "dir":
        from lxcz.storage.bdev import dir as mod
    elif kind == "overlay":
        from lxcz.storage.bdev import overlay as mod
    elif kind == "btrfs":
        from lxcz.storage.bdev import btrfs as mod
    elif kind == "loop":
        from lxcz.storage.bdev import loop as mod
    elif kind == "lvm":
        from lxcz.storage.bdev import lvm as mod
    elif kind == "zfs":
        from lxcz.storage.bdev import zfs as mod
    else:
        raise LxczError(f"unknown backing store type '{kind}' "
                        "(dir, overlay, btrfs, loop, lvm, zfs)")
    return mod


def for_value(value: str):
    return get_store(store_type(value))


def mount_rootfs(value: str, target: str, readonly: bool = False) -> Optional[str]:
    """Mount a non-dir rootfs on target; returns the directory to use as the rootfs.

    A dir store needs no mount and returns its own path.
    """
    return for_value(value).mount(value, target, readonly)
