"""The dir store in the common interface: a rootfs that is a directory (``dir:/path``)."""

from __future__ import annotations

import os

from lxcz.errors import LxczError
from lxcz.storage.bdev import StoreOptions, copy_tree

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

TYPE = "dir"
can_snapshot = False


def path_of(value: str) -> str:
    return value[4:] if value.startswith("dir:") else value


def create(container_dir: str, name: str, opts: StoreOptions) -> str:
    path = opts.dir or os.path.join(container_dir, "rootfs")
    try:
        os.makedirs(path, 0o755, exist_ok=False)
    except FileExistsError:
        raise LxczError(f"rootfs {path} already exists") from None
    return "dir:" + path


def mount(value: str, target: str, readonly: bool = False) -> Optional[str]:
    return path_of(value)


def umount(target: str) -> None:
    return None


def clone(src_value: str, container_dir: str, name: str, snapshot: bool,
          opts: StoreOptions, src_mounted: Optional[str] = None) -> str:
    dst = os.path.join(container_dir, "rootfs")
    copy_tree(src_mounted or path_of(src_value), dst)
    return "dir:" + dst


def destroy(value: str) -> None:
    path = path_of(value)
    if os.path.islink(path):
        raise LxczError(f"rootfs {path} is a symbolic link: not removed")
    import shutil

    shutil.rmtree(path, ignore_errors=False) if os.path.isdir(path) else None
