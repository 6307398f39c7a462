"""Announcing state changes (and how init ended) to lxc-monitor and lxc-wait listeners of
an lxcpath: lxcz's, and upstream LXC's lxc-monitor through its lxc-monitord's FIFO."""

from __future__ import annotations

import _socket
import os
import sys

from lxcz.runtime import paths


def broadcast(lxcpath: str, name: str, state: str) -> None:
    """Send (name, state) to every listener bound under the lxcpath's event prefix."""
    _send(lxcpath, f"{name}\0{state}".encode())
    _lxc_fifo(lxcpath, name, 0, state)


def broadcast_exit(lxcpath: str, name: str, status: int) -> None:
    """Send the wait status init ended with (lxc-monitor: "exited with status [N]");
    an empty state field tells it from a state change."""
    _send(lxcpath, f"{name}\0\0{status}".encode())
    _lxc_fifo(lxcpath, name, 2, status)


def _lxc_fifo(lxcpath: str, name: str, kind: int, value: int | str) -> None:
    """LXC's lxc-monitord (started by LXC's lxc-monitor) reads ``struct lxc_msg {int type;
    char name[256]; int value;}`` (type 0: a state, given by name, as LXC numbers it; 2:
    an exit status) from a FIFO in the run directory; nothing when none listens (the
    open fails with ENOENT or ENXIO)."""
    run = "/run" if os.geteuid() == 0 else os.environ.get("XDG_RUNTIME_DIR", "")
    if not run:
        return
    try:
        fd = os.open(f"{run}/lxc/{lxcpath}/monitor-fifo", os.O_WRONLY | os.O_NONBLOCK |
                     os.O_CLOEXEC)
    except OSError:
        return
    if isinstance(value, str):
        from lxcz.runtime.lxcwire import STATES  # only with a listener: not in every monitor

        if value not in STATES:
            os.close(fd)
            return
        value = STATES.index(value)
    try:
        os.write(fd, kind.to_bytes(4, sys.byteorder, signed=True) +
                 name.encode()[:255].ljust(256, b"\0") +
                 value.to_bytes(4, sys.byteorder, signed=True))
    except OSError:
        pass
    finally:
        os.close(fd)


def _send(lxcpath: str, data: bytes) -> None:
    targets = paths.abstract_names(paths.event_prefix(lxcpath))
    if not targets:
        return
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
    try:
        s.setblocking(False)
        for t in targets:
            try:
                s.sendto(data, paths.abstract(t))
            except OSError:
                pass
    finally:
        s.close()
