"""Adding and removing devices and network interfaces of a running container (lxc-device).

A device node (``/dev/...``) is made inside the container by a child that joins the
container's mount namespace, so the path is resolved in the container's own root and a
symlink planted by the container cannot point it at a host file; the devices cgroup
(v1) is opened for it too. A network interface is moved into (or out of) the container's
network namespace with pyroute2, renamed on the way when asked.
"""

from __future__ import annotations

import os
import stat

from lxcz.errors import LxczError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from lxcz.container import Container


def _init_pid(c: Container) -> int:
    if not c.defined and not c.running:
        raise LxczError(f"{c.name} does not exist")
    pid = c.init_pid
    if pid <= 0:
        raise LxczError(f"{c.name} is not running")
    return pid


def _in_mount_ns(pid: int, fn) -> None:
    """Run fn() in a child inside pid's mount namespace; raise its error here."""
    from lxcz.sys import calls

    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(r)
        try:
            fd = calls.ns_fd(pid, "mnt")
            calls.setns(fd, calls.CLONE_NEWNS)
            os.chdir("/")
            fn()
            os._exit(0)
        except BaseException as err:  # noqa: BLE001 - reported through the pipe
            os.write(w, str(getattr(err, "strerror", None) or err).encode()[:500])
            os._exit(1)
    os.close(w)
    msg = b""
    while True:
        chunk = os.read(r, 512)
        if not chunk:
            break
        msg += chunk
    os.close(r)
    _, status = os.waitpid(child, 0)
    if status != 0:
        raise LxczError(msg.decode() or "failed inside the container")


def _dev_rule(st: os.stat_result) -> str:
    kind = "c" if stat.S_ISCHR(st.st_mode) else "b"
    return f"{kind} {os.major(st.st_rdev)}:{os.minor(st.st_rdev)} rwm"


def add_device_node(c: Container, src: str, dst: Optional[str] = None) -> bool:
    """python3-lxc's add_device_node: the host node src appears as dst in the container."""
    try:
        st = os.stat(src)
    except OSError as err:
        raise LxczError(f"{src}: {err.strerror}") from None
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        raise LxczError(f"{src} is not a device node")
    dst = dst or src
    if not dst.startswith("/"):
        raise LxczError(f"{dst}: the path in the container must be absolute")
    pid = _init_pid(c)
    try:
        c.set_cgroup_item("devices.allow", _dev_rule(st))
    except LxczError:
        pass  # no v1 devices controller: nothing to open

    def make() -> None:
        parent = os.path.dirname(dst)
        os.makedirs(parent, 0o755, exist_ok=True)
        if os.path.lexists(dst):
            raise LxczError(f"{dst} already exists in the container")
        os.mknod(dst, stat.S_IMODE(st.st_mode) | stat.S_IFMT(st.st_mode), st.st_rdev)
        os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)

    _in_mount_ns(pid, make)
    return True


def remove_device_node(c: Container, src: str, dst: Optional[str] = None) -> bool:
    dst = dst or src
    pid = _init_pid(c)

    def remove() -> None:
        if not os.path.lexists(dst):
            raise LxczError(f"{dst} does not exist in the container")
        st = os.lstat(dst)
        if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
            raise LxczError(f"{dst} is not a device node in the container")
        os.unlink(dst)

    _in_mount_ns(pid, remove)
    try:
        st = os.stat(src)
        c.set_cgroup_item("devices.deny", _dev_rule(st))
    except (OSError, LxczError):
        pass
    return True


def attach_interface(c: Container, dev: str, dst: Optional[str] = None) -> bool:
    """python3-lxc's attach_interface: move host interface dev into the container."""
    from pyroute2 import NetlinkError

    from lxcz.net import netdev

    pid = _init_pid(c)
    with netdev._iproute() as host:
        idx = netdev._lookup(host, dev)
        if idx is None:
            raise LxczError(f"host interface '{dev}' does not exist")
        try:
            host.link("set", index=idx, state="down")
            host.link("set", index=idx, net_ns_pid=pid)
        except NetlinkError as err:
            raise LxczError(f"cannot move {dev} into {c.name}: "
                            f"{os.strerror(err.code)}") from None
    if dst and dst != dev:
        with netdev._iproute(pid) as inner:
            idx = netdev._lookup(inner, dev)
            try:
                inner.link("set", index=idx, ifname=dst)
            except NetlinkError as err:
                inner.link("set", index=idx, net_ns_fd=_host_netns())
                raise LxczError(f"cannot rename {dev} to {dst}: "
                                f"{os.strerror(err.code)}") from None
    return True


def _host_netns() -> int:
    return os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)


def detach_interface(c: Container, dev: str, dst: Optional[str] = None) -> bool:
    """Move interface dev out of the container back to the host (renamed to dst)."""
    from pyroute2 import NetlinkError

    from lxcz.net import netdev

    pid = _init_pid(c)
    host_ns = _host_netns()
    try:
        with netdev._iproute(pid) as inner:
            idx = netdev._lookup(inner, dev)
            if idx is None:
                raise LxczError(f"{c.name} has no interface '{dev}'")
            try:
                inner.link("set", index=idx, state="down")
                if dst and dst != dev:
                    inner.link("set", index=idx, ifname=dst)
                inner.link("set", index=idx, net_ns_fd=host_ns)
            except NetlinkError as err:
                raise LxczError(f"cannot move {dev} out of {c.name}: "
                                f"{os.strerror(err.code)}") from None
    finally:
        os.close(host_ns)
    return True
