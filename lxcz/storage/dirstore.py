"""The ``dir`` backing store: a rootfs that is a plain directory, and a safe tree remover.

``lxc.rootfs.path`` for this store is ``dir:/abs/path`` (LXC 5 writes the prefix) or just
``/abs/path``. Removal walks the tree through directory file descriptors, never follows a
symlink and never crosses onto another filesystem, so a container cannot steer lxc-destroy
at a host file, and a bind mount left behind inside a rootfs is reported, not emptied.
"""

from __future__ import annotations

import errno
import os
import stat

from lxcz.errors import LxczError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

TYPE = "dir"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def rootfs_dir(spec: Optional[str]) -> Optional[str]:
    """The directory an ``lxc.rootfs.path`` value names, or None when it is not a dir store.

    ``dir:/x`` and ``/x`` are directories; other stores (``overlay:``, ``loop:``,
    ``btrfs:``... or a block device) are not handled here.
    """
    if not spec:
        return None
    if spec.startswith("dir:"):
        return spec[4:] or None
    if ":" in spec.split("/", 1)[0]:
        return None
    if spec.startswith("/dev/"):
        return None
    return spec


def create(path: str) -> str:
    """Make the rootfs directory ``path`` (mode 0755); return the lxc.rootfs.path value."""
    try:
        os.mkdir(path, 0o755)
    except FileExistsError:
        if not os.path.isdir(path) or os.path.islink(path):
            raise LxczError(f"rootfs {path} exists and is not a directory") from None
    except OSError as err:
        raise LxczError(f"cannot create rootfs directory {path}: {err.strerror}") from None
    os.chmod(path, 0o755)
    return "dir:" + path


def remove_tree(path: str) -> None:
    """Remove the directory ``path`` and everything below it on the same filesystem.

    Symlinks are removed, never followed. A directory on another filesystem (a mount
    left behind) stops the removal with an error naming it. A missing ``path`` is fine.
    """
    busy = mounts_below(path)
    if busy:
        raise LxczError(f"{busy[0]} is a mount point; unmount it first")
    try:
        fd = os.open(path, _DIR_FLAGS)
    except FileNotFoundError:
        return
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.ENOTDIR):
            os.unlink(path)
            return
        raise LxczError(f"cannot open {path}: {err.strerror}") from None
    try:
        _remove_contents(fd, os.fstat(fd).st_dev, path)
    finally:
        os.close(fd)
    try:
        os.rmdir(path)
    except OSError as err:
        raise LxczError(f"cannot remove {path}: {err.strerror}") from None


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as \\ooo octal escapes
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit() and i + 3 < len(field):
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mounts_below(path: str) -> list:
    """Mount points at or below ``path`` (bind mounts on the same filesystem included,
    which a device comparison cannot see)."""
    top = os.path.realpath(path).rstrip("/") or "/"
    found = []
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            lines = f.read().decode("utf-8", "surrogateescape").splitlines()
    except OSError:
        return found
    for line in lines:
        fields = line.split(" ")
        if len(fields) < 5:
            continue
        point = _unescape(fields[4])
        if point == top or point.startswith(top + "/"):
            found.append(point)
    return sorted(found)


def _remove_contents(dfd: int, dev: int, where: str) -> None:
    with os.scandir(dfd) as it:
        entries = [(e.name, e.stat(follow_symlinks=False)) for e in it]
    for name, st in entries:
        here = os.path.join(where, name)
        if stat.S_ISDIR(st.st_mode):
            if st.st_dev != dev:
                raise LxczError(f"{here} is a mount point; unmount it first")
            sub = os.open(name, _DIR_FLAGS, dir_fd=dfd)
            try:
                _remove_contents(sub, dev, here)
            finally:
                os.close(sub)
            try:
                os.rmdir(name, dir_fd=dfd)
            except OSError as err:
                raise LxczError(f"cannot remove {here}: {err.strerror}") from None
        else:
            try:
                os.unlink(name, dir_fd=dfd)
            except FileNotFoundError:
                pass
            except OSError as err:
                raise LxczError(f"cannot remove {here}: {err.strerror}") from None
