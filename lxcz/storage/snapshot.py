"""Snapshots: snapN clones of a container kept where LXC 5 keeps them.

LXC 5 stores them in ``LXCPATH/NAME/snaps/snapN/`` (``config``, the rootfs, ``ts`` with the
time as ``YYYY:MM:DD HH:MM:SS``, and ``comment`` when one was given). Older LXC releases
used ``LXCPATH + "snaps"/NAME`` (``/var/lib/lxcsnaps/NAME``); snapshots found there are
listed, restored and destroyed too, and new ones go there while that directory exists, as
LXC does.

A snapshot shares blocks with its container where the store can (overlay, btrfs, lvm,
zfs); a dir container is snapshotted as a full copy, with a warning.
"""

from __future__ import annotations

import os
import time

from lxcz.errors import LxczError
from lxcz.storage import clone as cl

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, Tuple

    from lxcz.container import Container

SNAP_FLAGS = (cl.LXC_CLONE_SNAPSHOT | cl.LXC_CLONE_KEEPNAME | cl.LXC_CLONE_KEEPMACADDR
              | cl.LXC_CLONE_KEEPBDEVTYPE | cl.LXC_CLONE_MAYBE_SNAPSHOT)


def snap_number(name: str) -> Optional[int]:
    """N of a snapshot directory named snapN (regex ``^snap(\\d+)$``), else None."""
    if not name.startswith("snap"):
        return None
    digits = name[4:-1] if name.endswith("\n") else name[4:]
    return int(digits) if digits.isdecimal() else None


def snap_dir(c: Container) -> str:
    """Where new snapshots of c go: the older lxcsnaps location while it exists."""
    old = os.path.join(c.config_path + "snaps", c.name)
    if os.path.isdir(old):
        return old
    return os.path.join(c.path, "snaps")


def _snap_dirs(c: Container) -> List[str]:
    dirs = [os.path.join(c.path, "snaps"), os.path.join(c.config_path + "snaps", c.name)]
    return [d for d in dirs if os.path.isdir(d)]


def _find(c: Container, name: str) -> Tuple[str, str]:
    """(snapshot lxcpath, name) of snapshot `name`, or LxczError."""
    if snap_number(name) is None:
        raise LxczError(f"invalid snapshot name '{name}' (snap0, snap1, ...)")
    for d in _snap_dirs(c):
        if os.path.isfile(os.path.join(d, name, "config")):
            return d, name
    raise LxczError(f"{c.name} has no snapshot {name}")


def snapshot(c: Container, comment_path: Optional[str] = None) -> str:
    """Make the next snapN; returns its name."""
    if not c.defined:
        raise LxczError(f"{c.name} does not exist")
    if comment_path is not None and not os.path.isfile(comment_path):
        raise LxczError(f"comment file {comment_path} does not exist")
    where = snap_dir(c)
    taken = set()
    for d in _snap_dirs(c) + [where]:
        if os.path.isdir(d):
            taken |= {n for n in map(snap_number, os.listdir(d)) if n is not None}
    n = 0
    while n in taken:
        n += 1
    name = f"snap{n}"
    made_dir = not os.path.isdir(where)
    os.makedirs(where, 0o755, exist_ok=True)
    try:
        snap = cl.clone(c, name, where, SNAP_FLAGS)
        with open(os.path.join(snap.path, "ts"), "w") as fh:
            fh.write(time.strftime("%Y:%m:%d %H:%M:%S", time.localtime()))
        if comment_path:
            import shutil

            shutil.copyfile(comment_path, os.path.join(snap.path, "comment"))
    except BaseException:
        if os.path.isdir(os.path.join(where, name)):
            _destroy_snap(where, name)
        if made_dir:
            import shutil

            shutil.rmtree(where, ignore_errors=True)
        raise
    return name


def snapshot_list(c: Container) -> List[Tuple[str, str, str, str]]:
    """python3-lxc's list: (name, comment file or '', timestamp, snapshot lxcpath)."""
    out = []
    for d in _snap_dirs(c):
        for entry in os.listdir(d):
            number = snap_number(entry)
            if number is None or not os.path.isfile(os.path.join(d, entry, "config")):
                continue
            ts = ""
            try:
                with open(os.path.join(d, entry, "ts")) as fh:
                    ts = fh.read().strip()
            except OSError:
                pass
            comment = os.path.join(d, entry, "comment")
            out.append((number, (entry, comment if os.path.isfile(comment) else "",
                                          ts, d)))
    return [item for _, item in sorted(out)]


def snapshot_restore(c: Container, name: str, newname: Optional[str] = None) -> bool:
    """Restore snapN as newname (default: the container itself, replacing it)."""
    from lxcz.container import Container

    lxcpath, snapname = _find(c, name)
    snap = Container(snapname, lxcpath)
    target = newname or c.name
    if target != c.name:
        cl.clone(snap, target, c.config_path, cl.LXC_CLONE_KEEPMACADDR)
        return True
    if cl.is_running(c):
        raise LxczError(f"{c.name} is running: stop it before restoring a snapshot over it")
    if cl.read_snapshots(c.path):
        raise LxczError(f"{c.name} has snapshot clones that depend on it: restore under a "
                        "new name with -N")
    staging = f".{c.name}.restore{os.getpid()}"
    cl.clone(snap, staging, c.config_path, cl.LXC_CLONE_KEEPMACADDR | cl.LXC_CLONE_KEEPNAME)
    staged = os.path.join(c.config_path, staging)
    try:
        _replace_contents(c, staged)
    except BaseException:
        Container(staging, c.config_path).destroy()
        raise
    c._config = None
    return True


def _replace_contents(c: Container, staged: str) -> None:
    """Put the staged copy in place of c's config and rootfs, keeping c's snaps/."""
    import shutil

    from lxcz.storage import bdev

    with open(c.config_file_name) as fh:
        old_value = cl.rootfs_value(fh.read())
    with open(os.path.join(staged, "config")) as fh:
        staged_text = fh.read()
    if old_value:
        bdev.for_value(old_value).destroy(old_value)
    for entry in os.listdir(c.path):
        if entry in ("snaps", "config"):
            continue
        path = os.path.join(c.path, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    for entry in os.listdir(staged):
        if entry != "config":
            os.rename(os.path.join(staged, entry), os.path.join(c.path, entry))
    value = cl.rootfs_value(staged_text).replace(staged, c.path)
    text = cl.rewrite_config(staged_text, staged, c.path, c.name, value, keepname=True,
                             keepmac=True)
    tmp = c.config_file_name + ".new"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, c.config_file_name)
    os.unlink(os.path.join(staged, "config"))
    os.rmdir(staged)


def _destroy_snap(lxcpath: str, name: str) -> None:
    from lxcz.container import Container

    snap = Container(name, lxcpath)
    path = snap.path
    try:
        with open(snap.config_file_name) as fh:
            value = cl.rootfs_value(fh.read())
    except FileNotFoundError:
        value = ""
    cl.check_no_dependents(snap)
    if value:
        from lxcz.storage import bdev

        bdev.for_value(value).destroy(value)
    cl.drop_dependency(path, lxcpath, name)
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def snapshot_destroy(c: Container, name: str) -> bool:
    """Destroy snapN, or every snapshot with ALL."""
    if name == "ALL":
        for snapname, _, _, lxcpath in snapshot_list(c):
            _destroy_snap(lxcpath, snapname)
        return True
    lxcpath, snapname = _find(c, name)
    _destroy_snap(lxcpath, snapname)
    return True
