"""Per-container lock: serializes commands that change a container (start, destroy,
rename, ...). It is an abstract unix socket name bound for the duration: the kernel drops
it when the holder exits, even by SIGKILL, so a crashed command never blocks the next
one and nothing is left on disk."""

from __future__ import annotations

import errno
import socket
import time
from contextlib import contextmanager

from lxcz.errors import LxczError
from lxcz.runtime import paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterator


@contextmanager
def container_lock(lxcpath: str, name: str, timeout: float = 30.0) -> Iterator[None]:
    """Hold NAME's lock; LxczError if another command holds it longer than timeout."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    addr = paths.abstract(paths.lock_socket(lxcpath, name))
    deadline = time.monotonic() + timeout
    delay = 0.001
    try:
        while True:
            try:
                sock.bind(addr)
                break
            except OSError as err:
                if err.errno != errno.EADDRINUSE:
                    raise LxczError(f"cannot lock {name}: {err.strerror}") from None
                if time.monotonic() >= deadline:
                    raise LxczError(f"{name} is locked by another command") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        yield
    finally:
        sock.close()
