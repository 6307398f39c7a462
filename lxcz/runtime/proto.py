"""The command-socket wire format: one JSON object per line, file descriptors (a console's
pty) attached to a reply with SCM_RIGHTS. Used by the monitor and by the client."""

from __future__ import annotations

import array
import json
import socket

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

MAX_LINE = 1 << 20


class Channel:
    """A connected stream socket speaking JSON lines."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.fds: List[int] = []

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, msg: Dict[str, Any], fds: Optional[List[int]] = None) -> None:
        data = json.dumps(msg, separators=(",", ":")).encode() + b"\n"
        if fds:
            anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
            sent = self.sock.sendmsg([data], anc)
            data = data[sent:]
        if data:
            self.sock.sendall(data)

    def feed(self) -> bool:
        """Read what is available; False on end of stream."""
        data, anc, _flags, _addr = self.sock.recvmsg(65536, socket.CMSG_SPACE(4 * 8))
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                arr = array.array("i")
                arr.frombytes(payload[: len(payload) - len(payload) % 4])
                self.fds.extend(arr)
        if not data:
            return False
        self.buf += data
        if len(self.buf) > MAX_LINE:
            raise ValueError("message too long")
        return True

    def pop(self) -> Optional[Dict[str, Any]]:
        """The next complete message, or None."""
        line, sep, rest = self.buf.partition(b"\n")
        if not sep:
            return None
        self.buf = rest
        msg = json.loads(line.decode())
        if not isinstance(msg, dict):
            raise ValueError("message is not an object")
        return msg

    def recv(self) -> Tuple[Optional[Dict[str, Any]], List[int]]:
        """Block until one message arrives; (None, []) at end of stream."""
        while True:
            msg = self.pop()
            if msg is not None:
                fds, self.fds = self.fds, []
                return msg, fds
            if not self.feed():
                return None, []

    def close(self) -> None:
        for fd in self.fds:
            try:
                import os

                os.close(fd)
            except OSError:
                pass
        self.fds = []
        self.sock.close()
