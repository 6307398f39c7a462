"""/dev for the container: lxc.autodev's tmpfs with the standard nodes, a new devpts
instance, /dev/ptmx, and /dev/console plus /dev/ttyN bound to host ptys."""

from __future__ import annotations

import errno
import os
import stat

from lxcz.errors import LxczError
from lxcz.runtime.rootfs import fd_path, resolve
from lxcz.sys import calls

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, List, Optional

NODES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("urandom", 1, 9),
         ("random", 1, 8), ("tty", 5, 0))
LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"))


def mount_dev(rootfd: int, size: int = 0) -> None:
    """Mount a tmpfs on /dev (lxc.autodev.tmpfs.size bytes, LXC's 500000 by default), with
    /dev/pts and /dev/shm in it: first, as LXC does, so that mount entries below dev/
    (dev/mqueue, dev/shm, ...) land on it rather than under it."""
    fd = resolve(rootfd, "dev", "dir", what="/dev")
    try:
        calls.mount("none", fd_path(fd), "tmpfs", calls.MS_NOSUID | calls.MS_NOEXEC,
                    f"size={size or 500000},mode=755")
    except OSError as err:
        raise LxczError(f"failed to mount tmpfs on /dev: {err.strerror}") from None
    finally:
        os.close(fd)

    def dirs(dev: int) -> None:
        os.mkdir("pts", 0o755, dir_fd=dev)
        os.mkdir("shm", 0o1777, dir_fd=dev)

    _populate(rootfd, dirs)


def _populate(rootfd: int, fill: Callable[[int], None]) -> None:
    """fill(fd of the container's /dev) with umask 0; an OSError becomes one LxczError."""
    dev = resolve(rootfd, "dev", None)
    try:
        old = os.umask(0)
        try:
            fill(dev)
        finally:
            os.umask(old)
    except OSError as err:
        raise LxczError(f"failed to populate /dev: {err.strerror}") from None
    finally:
        os.close(dev)


def fill_dev(rootfd: int) -> None:
    """The standard nodes (by mknod, else bound from the host) and links in /dev, after
    the mount entries and the autodev hooks: what one of those made already is kept."""
    _populate(rootfd, _nodes_and_links)


def _nodes_and_links(dev: int) -> None:
    for name, major, minor in NODES:
        try:
            os.mknod(name, 0o666 | stat.S_IFCHR, os.makedev(major, minor), dir_fd=dev)
        except FileExistsError:
            pass
        except PermissionError:
            # no mknod here (user namespace): bind the host's node
            try:
                f = os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666,
                            dir_fd=dev)
            except FileExistsError:
                continue
            os.close(f)
            t = resolve(dev, name, None)
            try:
                calls.mount("/dev/" + name, fd_path(t), None, calls.MS_BIND, None)
            finally:
                os.close(t)
    for name, target in LINKS:
        try:
            os.symlink(target, name, dir_fd=dev)
        except FileExistsError:
            pass


def devpts(rootfd: int, pty_max: Optional[int]) -> None:
    """A new devpts instance on /dev/pts and /dev/ptmx pointing into it."""
    fd = resolve(rootfd, "dev/pts", "dir", what="/dev/pts")
    data = "newinstance,ptmxmode=0666,mode=0620,gid=5"
    if pty_max:
        data += f",max={pty_max}"
    try:
        try:
            calls.mount("devpts", fd_path(fd), "devpts", calls.MS_NOSUID | calls.MS_NOEXEC,
                        data)
        except OSError as err:
            if err.errno != errno.EINVAL:
                raise
            # gid 5 (tty) is not mapped in this user namespace
            calls.mount("devpts", fd_path(fd), "devpts", calls.MS_NOSUID | calls.MS_NOEXEC,
                        data.replace(",gid=5", ""))
    except OSError as err:
        raise LxczError(f"failed to mount devpts: {err.strerror}") from None
    finally:
        os.close(fd)
    dev = resolve(rootfd, "dev", None)
    try:
        try:
            st = os.stat("ptmx", dir_fd=dev, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None and not stat.S_ISLNK(st.st_mode):
            # a node from the rootfs: cover it with the new instance's ptmx
            t = resolve(dev, "ptmx", None)
            try:
                p = resolve(rootfd, "dev/pts/ptmx", None)
                try:
                    calls.mount(fd_path(p), fd_path(t), None, calls.MS_BIND, None)
                finally:
                    os.close(p)
            finally:
                os.close(t)
        elif st is None:
            os.symlink("pts/ptmx", "ptmx", dir_fd=dev)
    except OSError as err:
        raise LxczError(f"failed to set up /dev/ptmx: {err.strerror}") from None
    finally:
        os.close(dev)


def bind_tty(rootfd: int, slave_path: str, name: str, ttydir: str = "",
             link: bool = False) -> None:
    """Bind a host pty slave onto /dev/NAME (made as an empty file if missing).

    With ttydir (lxc.tty.dir) the node is /dev/TTYDIR/NAME and, when link is set,
    /dev/NAME becomes a symlink to it (LXC's layout for the ttys)."""
    if ttydir:
        bind_tty(rootfd, slave_path, f"{ttydir}/{name}")
        if link:
            dev = resolve(rootfd, "dev", "dir", what="/dev")
            try:
                try:
                    os.unlink(name, dir_fd=dev)
                except FileNotFoundError:
                    pass
                except IsADirectoryError:
                    raise LxczError(f"/dev/{name} is a directory") from None
                os.symlink(f"{ttydir}/{name}", name, dir_fd=dev)
            except OSError as err:
                raise LxczError(f"failed to link /dev/{name}: {err.strerror}") from None
            finally:
                os.close(dev)
        return
    if "/" in name:
        sub, _, name = name.rpartition("/")
        dev = resolve(rootfd, "dev/" + sub, "dir", what="/dev/" + sub)
    else:
        dev = resolve(rootfd, "dev", "dir", what="/dev")
    try:
        try:
            st = os.stat(name, dir_fd=dev, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                os.unlink(name, dir_fd=dev)
                st = None
        except FileNotFoundError:
            st = None
        if st is None:
            f = os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600,
                        dir_fd=dev)
            os.close(f)
        t = resolve(dev, name, None)
        try:
            calls.mount(slave_path, fd_path(t), None, calls.MS_BIND, None)
        finally:
            os.close(t)
    except OSError as err:
        raise LxczError(f"failed to set up /dev/{name}: {err.strerror}") from None
    finally:
        os.close(dev)


class Pty:
    """A host pty pair: master kept by the monitor, slave bound into the container."""

    def __init__(self) -> None:
        import pty

        self.master, self.slave = pty.openpty()
        os.set_inheritable(self.master, False)
        self.slave_path = os.ttyname(self.slave)
        try:
            os.fchmod(self.slave, 0o620)  # crw--w----, as LXC leaves /dev/console, ttyN
        except OSError:
            pass

    def close_slave(self) -> None:
        if self.slave >= 0:
            os.close(self.slave)
            self.slave = -1


def allocate(count: int) -> List[Pty]:
    return [Pty() for _ in range(count)]
