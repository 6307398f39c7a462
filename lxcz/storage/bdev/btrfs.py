"""The btrfs store: the rootfs is a subvolume (``btrfs:/path``); snapshots share blocks."""

from __future__ import annotations

import os

from lxcz.errors import LxczError
from lxcz.storage.bdev import StoreOptions, copy_tree, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

TYPE = "btrfs"
can_snapshot = True


def path_of(value: str) -> str:
    return value.split(":", 1)[1] if value.startswith("btrfs:") else value


def fs_type(path: str) -> str:
    """The filesystem type of the mount holding path (longest mount point prefix)."""
    path = os.path.realpath(path)
    best, kind = "", ""
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            fields = line.split()
            mnt = fields[4].replace("\\040", " ")
            fstype = fields[fields.index("-") + 1]
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                best, kind = mnt, fstype
    return kind


def check_btrfs(path: str) -> None:
    where = path if os.path.exists(path) else os.path.dirname(path)
    if fs_type(where) != "btrfs":
        raise LxczError(f"btrfs store: {where} is not on a btrfs filesystem")


def create(container_dir: str, name: str, opts: StoreOptions) -> str:
    path = os.path.join(container_dir, "rootfs")
    check_btrfs(container_dir)
    run(["btrfs", "-q", "subvolume", "create", path], "btrfs subvolume create")
    return "btrfs:" + path


def mount(value: str, target: str, readonly: bool = False) -> Optional[str]:
    return path_of(value)


def umount(target: str) -> None:
    return None


def clone(src_value: str, container_dir: str, name: str, snapshot: bool,
          opts: StoreOptions, src_mounted: Optional[str] = None) -> str:
    dst = os.path.join(container_dir, "rootfs")
    check_btrfs(container_dir)
    from lxcz.storage.bdev import store_type

    if store_type(src_value) == "btrfs" and fs_type(path_of(src_value)) == "btrfs":
        run(["btrfs", "-q", "subvolume", "snapshot", path_of(src_value), dst],
            "btrfs subvolume snapshot")
    else:
        run(["btrfs", "-q", "subvolume", "create", dst], "btrfs subvolume create")
        try:
            copy_tree(src_mounted or path_of(src_value), dst)
        except LxczError:
            destroy("btrfs:" + dst)
            raise
    return "btrfs:" + dst


def destroy(value: str) -> None:
    path = path_of(value)
    if not os.path.exists(path):
        return
    # nested subvolumes (a container running docker, say) go first, deepest first
    out = run(["btrfs", "subvolume", "list", "-o", path], "btrfs subvolume list")
    top = run(["btrfs", "subvolume", "show", path], "btrfs subvolume show").splitlines()
    rel = top[0].strip() if top else ""
    nested = []
    for line in out.splitlines():
        sub = line.split(" path ", 1)[-1].strip()
        if rel and sub.startswith(rel + "/"):
            nested.append(os.path.join(path, sub[len(rel) + 1:]))
    for sub in sorted(nested, key=len, reverse=True):
        run(["btrfs", "-q", "subvolume", "delete", sub], "btrfs subvolume delete")
    run(["btrfs", "-q", "subvolume", "delete", path], "btrfs subvolume delete")
