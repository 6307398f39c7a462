"""The overlay store: ``overlay:LOWER:UPPER`` (``overlayfs:`` in older configs).

LXC 5 keeps the writable layer in ``CONTAINER/overlay/delta`` and overlayfs's work
directory beside it in ``CONTAINER/overlay/work``; snapshot clones of a dir container use
the base's rootfs as the lower layer, so the base must not change while clones exist.
"""

from __future__ import annotations

import os

from lxcz.errors import LxczError
from lxcz.storage.bdev import StoreOptions, copy_tree

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional, Tuple

TYPE = "overlay"
can_snapshot = True


def split(value: str) -> Tuple[str, str]:
    """overlay:LOWER:UPPER -> (LOWER, UPPER); a lower that is itself overlay:... is kept."""
    rest = value.split(":", 1)[1] if ":" in value else value
    lower, sep, upper = rest.rpartition(":")
    if not sep or not lower or not upper:
        raise LxczError(f"invalid overlay rootfs '{value}': expected overlay:LOWER:UPPER")
    return lower, upper


def _layers(lower: str) -> str:
    """The lowerdir option: a lower that is an overlay of its own contributes its layers."""
    if lower.startswith(("overlay:", "overlayfs:")):
        inner_lower, inner_upper = split(lower)
        return inner_upper + ":" + _layers(inner_lower)
    return lower[4:] if lower.startswith("dir:") else lower


def create(container_dir: str, name: str, opts: StoreOptions) -> str:
    lower = os.path.join(container_dir, "rootfs")
    upper = os.path.join(container_dir, "overlay", "delta")
    for d in (lower, upper, os.path.join(container_dir, "overlay", "work")):
        os.makedirs(d, 0o755, exist_ok=True)
    return f"overlay:{lower}:{upper}"


def mount(value: str, target: str, readonly: bool = False) -> Optional[str]:
    from lxcz.sys import calls

    lower, upper = split(value)
    work = os.path.join(os.path.dirname(upper), "work")
    os.makedirs(work, 0o755, exist_ok=True)
    os.makedirs(upper, 0o755, exist_ok=True)
    data = f"lowerdir={_layers(lower)},upperdir={upper},workdir={work}"
    try:
        calls.mount("overlay", target, "overlay", calls.MS_RDONLY if readonly else 0, data)
    except OSError as err:
        raise LxczError(f"cannot mount overlay rootfs {value}: {err.strerror}") from None
    return target


def umount(target: str) -> None:
    from lxcz.sys import calls

    calls.umount2(target, calls.MNT_DETACH)


def clone(src_value: str, container_dir: str, name: str, snapshot: bool,
          opts: StoreOptions, src_mounted: Optional[str] = None) -> str:
    from lxcz.storage.bdev import store_type

    base = os.path.join(container_dir, "overlay")
    upper = os.path.join(base, "delta")
    os.makedirs(os.path.join(base, "work"), 0o755, exist_ok=True)
    kind = store_type(src_value)
    if kind == "dir":
        os.makedirs(upper, 0o755, exist_ok=True)
        os.makedirs(os.path.join(container_dir, "rootfs"), 0o755, exist_ok=True)
        lower = src_value[4:] if src_value.startswith("dir:") else src_value
        return f"overlay:{lower}:{upper}"
    if kind == "overlay":
        # a snapshot of a snapshot: same lower layer, a copy of the writable layer
        lower, src_upper = split(src_value)
        copy_tree(src_upper, upper)
        os.makedirs(os.path.join(container_dir, "rootfs"), 0o755, exist_ok=True)
        return f"overlay:{lower}:{upper}"
    raise LxczError(f"overlay snapshots need a dir or overlay base, not {kind}")


def destroy(value: str) -> None:
    _, upper = split(value)
    base = os.path.dirname(upper)
    if os.path.basename(base) == "overlay" and os.path.isdir(base) and not os.path.islink(base):
        import shutil

        shutil.rmtree(base)
