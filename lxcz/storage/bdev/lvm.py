"""The lvm store: the rootfs is a logical volume (``lvm:/dev/VG/LV``), thin or not.

Defaults come from lxc.conf: ``lxc.bdev.lvm.vg`` (lxc) and ``lxc.bdev.lvm.thin_pool``
(lxc). With a thin pool present the volume is thin and snapshots are thin snapshots;
otherwise snapshots are classic copy-on-write LVs of the origin's size.
"""

from __future__ import annotations

import os

from lxcz.errors import LxczError
from lxcz.storage.bdev import DEFAULT_FSSIZE, DEFAULT_FSTYPE, StoreOptions, copy_into, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

TYPE = "lvm"
can_snapshot = True


def path_of(value: str) -> str:
    return value.split(":", 1)[1] if value.startswith("lvm:") else value


def _defaults(opts: StoreOptions) -> tuple:
    from lxcz.config import system

    vg = opts.vgname or system.get("lxc.bdev.lvm.vg") or "lxc"
    thin = opts.thinpool or system.get("lxc.bdev.lvm.thin_pool") or "lxc"
    return vg, thin


def _vg_exists(vg: str) -> bool:
    try:
        run(["vgs", "--noheadings", vg], "vgs")
        return True
    except LxczError:
        return False


def _thin_pool_exists(vg: str, pool: str) -> bool:
    try:
        out = run(["lvs", "--noheadings", "-o", "lv_attr", f"{vg}/{pool}"], "lvs")
    except LxczError:
        return False
    return out.strip().startswith("t")


def _mkfs(dev: str, fstype: str) -> None:
    from lxcz.storage.bdev.loop import check_fstype

    check_fstype(fstype)
    run([f"mkfs.{fstype}", "-q", {"xfs": "-f", "btrfs": "-f"}.get(fstype, "-F"), dev],
        f"mkfs.{fstype}")


def create(container_dir: str, name: str, opts: StoreOptions) -> str:
    vg, thin = _defaults(opts)
    if not _vg_exists(vg):
        raise LxczError(f"lvm store: volume group '{vg}' does not exist")
    lv = opts.lvname or name
    size = opts.fssize or DEFAULT_FSSIZE
    if _thin_pool_exists(vg, thin):
        run(["lvcreate", "-q", "-T", f"{vg}/{thin}", "-V", f"{size}b", "-n", lv], "lvcreate")
    else:
        run(["lvcreate", "-q", "-L", f"{size}b", "-n", lv, vg, "-y"], "lvcreate")
    dev = f"/dev/{vg}/{lv}"
    try:
        _mkfs(dev, opts.fstype or DEFAULT_FSTYPE)
    except BaseException:
        run(["lvremove", "-f", dev], "lvremove")
        raise
    os.makedirs(os.path.join(container_dir, "rootfs"), 0o755, exist_ok=True)
    return "lvm:" + dev


def mount(value: str, target: str, readonly: bool = False) -> Optional[str]:
    from lxcz.storage.bdev.loop import detect_fstype
    from lxcz.sys import calls

    dev = path_of(value)
    try:
        calls.mount(dev, target, detect_fstype(dev), calls.MS_RDONLY if readonly else 0)
    except OSError as err:
        raise LxczError(f"lvm store: cannot mount {dev}: {err.strerror}") from None
    return target


def umount(target: str) -> None:
    from lxcz.sys import calls

    calls.umount2(target, 0)


def clone(src_value: str, container_dir: str, name: str, snapshot: bool,
          opts: StoreOptions, src_mounted: Optional[str] = None) -> str:
    from lxcz.storage.bdev import store_type

    vg, thin = _defaults(opts)
    if snapshot:
        if store_type(src_value) != "lvm":
            raise LxczError("lvm snapshots need an lvm base")
        origin = path_of(src_value)
        ovg = origin.split("/")[2]
        olv = origin.split("/")[3]
        attr = run(["lvs", "--noheadings", "-o", "lv_attr,lv_size", "--units", "b",
                    f"{ovg}/{olv}"], "lvs").split()
        if attr and attr[0].startswith("V"):
            run(["lvcreate", "-q", "-s", "-kn", "-n", name, f"{ovg}/{olv}"], "lvcreate")
        else:
            size = opts.fssize or (int(attr[1].rstrip("B")) if len(attr) > 1
                                   else DEFAULT_FSSIZE)
            run(["lvcreate", "-q", "-s", "-L", f"{size}b", "-n", name, origin], "lvcreate")
        os.makedirs(os.path.join(container_dir, "rootfs"), 0o755, exist_ok=True)
        return f"lvm:/dev/{ovg}/{name}"
    value = create(container_dir, name, opts)
    try:
        copy_into(src_value, value, src_mounted)
    except BaseException:
        destroy(value)
        raise
    return value


def destroy(value: str) -> None:
    dev = path_of(value)
    if os.path.exists(dev):
        run(["lvremove", "-f", dev], "lvremove")
