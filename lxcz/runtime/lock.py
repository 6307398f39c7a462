"""Per-container lock: serializes commands that change a container (start, destroy,
rename, ...). It is an abstract unix socket name bound for the duration: the kernel drops
it when the holder exits, even by SIGKILL, so a crashed command never blocks the next
one and nothing is left on disk."""

from __future__ import annotations

import _socket
import errno
import time

from lxcz.errors import LxczError
from lxcz.runtime import paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional


class container_lock:  # noqa: N801 - used like the function it replaced
    """Hold NAME's lock (``with container_lock(lxcpath, name):``); LxczError if another
    command holds it longer than timeout. A class, not @contextmanager: contextlib would
    cost every start a millisecond of imports."""

    def __init__(self, lxcpath: str, name: str, timeout: float = 30.0) -> None:
        self.addr = paths.abstract(paths.lock_socket(lxcpath, name))
        self.name = name
        self.timeout = timeout
        self.sock: Optional[_socket.socket] = None

    def __enter__(self) -> None:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
        deadline = time.monotonic() + self.timeout
        delay = 0.001
        try:
            while True:
                try:
                    sock.bind(self.addr)
                    break
                except OSError as err:
                    if err.errno != errno.EADDRINUSE:
                        raise LxczError(f"cannot lock {self.name}: {err.strerror}") from None
                    if time.monotonic() >= deadline:
                        raise LxczError(f"{self.name} is locked by another command"
                                        ) from None
                    time.sleep(delay)
                    delay = min(delay * 2, 0.05)
        except BaseException:
            sock.close()
            raise
        self.sock = sock

    def __exit__(self, *exc: Any) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
