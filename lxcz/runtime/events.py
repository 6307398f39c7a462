"""Announcing state changes (and how init ended) to lxc-monitor and lxc-wait listeners of
an lxcpath."""

from __future__ import annotations

import _socket

from lxcz.runtime import paths


def broadcast(lxcpath: str, name: str, state: str) -> None:
    """Send (name, state) to every listener bound under the lxcpath's event prefix."""
    _send(lxcpath, f"{name}\0{state}".encode())


def broadcast_exit(lxcpath: str, name: str, status: int) -> None:
    """Send the wait status init ended with (lxc-monitor: "exited with status [N]");
    an empty state field tells it from a state change."""
    _send(lxcpath, f"{name}\0\0{status}".encode())


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
