"""The zfs store: the rootfs is a dataset (``zfs:ROOT/NAME``) mounted on CONTAINER/rootfs.

The dataset root comes from ``--zfsroot`` or lxc.conf's ``lxc.bdev.zfs.root`` (lxc).
Snapshot clones are ``zfs snapshot`` + ``zfs clone``.
"""

from __future__ import annotations

import os

from lxcz.errors import LxczError
from lxcz.storage.bdev import StoreOptions, copy_tree, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

TYPE = "zfs"
can_snapshot = True


def dataset_of(value: str) -> str:
    return value.split(":", 1)[1] if value.startswith("zfs:") else value


def _root(opts: StoreOptions) -> str:
    from lxcz.config import system

    return opts.zfsroot or system.get("lxc.bdev.zfs.root") or "lxc"


def create(container_dir: str, name: str, opts: StoreOptions) -> str:
    root = _root(opts)
    mnt = os.path.join(container_dir, "rootfs")
    try:
        run(["zfs", "list", "-H", root], "zfs list")
    except LxczError:
        raise LxczError(f"zfs store: dataset root '{root}' does not exist") from None
    run(["zfs", "create", "-o", f"mountpoint={mnt}", f"{root}/{name}"], "zfs create")
    return f"zfs:{root}/{name}"


def mount(value: str, target: str, readonly: bool = False) -> Optional[str]:
    ds = dataset_of(value)
    mnt = run(["zfs", "get", "-H", "-o", "value", "mountpoint", ds], "zfs get").strip()
    mounted = run(["zfs", "get", "-H", "-o", "value", "mounted", ds], "zfs get").strip()
    if mounted != "yes":
        run(["zfs", "mount", ds], "zfs mount")
    return mnt


def umount(target: str) -> None:
    return None


def clone(src_value: str, container_dir: str, name: str, snapshot: bool,
          opts: StoreOptions, src_mounted: Optional[str] = None) -> str:
    root = _root(opts)
    mnt = os.path.join(container_dir, "rootfs")
    if snapshot and src_value.startswith("zfs:"):
        src = dataset_of(src_value)
        run(["zfs", "snapshot", f"{src}@{name}"], "zfs snapshot")
        run(["zfs", "clone", "-o", f"mountpoint={mnt}", f"{src}@{name}", f"{root}/{name}"],
            "zfs clone")
        return f"zfs:{root}/{name}"
    value = create(container_dir, name, opts)
    try:
        copy_tree(src_mounted or mount(src_value, ""), mnt)
    except BaseException:
        destroy(value)
        raise
    return value


def destroy(value: str) -> None:
    run(["zfs", "destroy", "-r", dataset_of(value)], "zfs destroy")
