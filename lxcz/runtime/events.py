"""Announcing state changes to lxc-monitor and lxc-wait listeners of an lxcpath."""

from __future__ import annotations

import socket

from lxcz.runtime import paths


def broadcast(lxcpath: str, name: str, state: str) -> None:
    """Send (name, state) to every listener bound under the lxcpath's event prefix."""
    targets = paths.abstract_names(paths.event_prefix(lxcpath))
    if not targets:
        return
    data = f"{name}\0{state}".encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
        s.setblocking(False)
        for t in targets:
            try:
                s.sendto(data, paths.abstract(t))
            except OSError:
                pass
