"""The monitor's readiness loop: the part of ``selectors`` it uses, on select.epoll.

``selectors`` brings ``collections`` and more with it, a millisecond of every container
start; the monitor only ever waits for input on a few descriptors.

    p = Poller()
    p.register(sock_or_fd, data)
    for key, events in p.select(1.0):   # key.fileobj, key.fd, key.data
        ...
    p.unregister(sock_or_fd); p.close()
"""

from __future__ import annotations

import select

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple


class Key:
    __slots__ = ("fileobj", "fd", "data")

    def __init__(self, fileobj: Any, fd: int, data: Any) -> None:
        self.fileobj = fileobj
        self.fd = fd
        self.data = data


def _fd(fileobj: Any) -> int:
    return fileobj if isinstance(fileobj, int) else fileobj.fileno()


class Poller:
    """Wait for input (or hang-up) on registered descriptors or objects with fileno()."""

    def __init__(self) -> None:
        self._ep = select.epoll()
        self._keys: Dict[int, Key] = {}

    def register(self, fileobj: Any, data: Any = None) -> None:
        fd = _fd(fileobj)
        if fd in self._keys:
            raise KeyError(f"{fileobj!r} is already registered")
        self._ep.register(fd, select.EPOLLIN)
        self._keys[fd] = Key(fileobj, fd, data)

    def unregister(self, fileobj: Any) -> None:
        """KeyError when it was not registered."""
        fd = _fd(fileobj)
        del self._keys[fd]
        try:
            self._ep.unregister(fd)
        except (OSError, ValueError):
            pass  # already closed: the kernel dropped it

    def select(self, timeout: Optional[float] = None) -> List[Tuple[Key, int]]:
        events = self._ep.poll(-1 if timeout is None else timeout)
        keys = self._keys
        return [(keys[fd], ev) for fd, ev in events if fd in keys]

    def close(self) -> None:
        self._ep.close()
        self._keys.clear()
