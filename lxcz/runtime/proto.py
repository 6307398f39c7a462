"""The command-socket wire format: one JSON object per line, file descriptors (a console's
pty) attached to a reply with SCM_RIGHTS. Used by the monitor and by the client.

Every short-lived tool (lxc-info, lxc-ls, lxc-wait, lxc-stop) pays for this module at
start-up, so it avoids the costly imports: the socket module (``_socket`` underneath has
all a channel needs, without enum and selectors) and the json package (whose decoder
imports ``re``). Lines are encoded here for the plain values the protocol carries and
decoded with the C scanner of ``_json``; anything else falls back to ``json``, so what
goes over the wire is exactly ``json.dumps(msg, separators=(",", ":"))``.
"""

from __future__ import annotations

import _socket
from sys import byteorder as _BYTEORDER

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Tuple

MAX_LINE = 1 << 20
_FD_SPACE = _socket.CMSG_SPACE(4 * 8)

try:
    from _json import encode_basestring_ascii as _quote
except ImportError:  # an interpreter without the C accelerator: json does it all
    _quote = None


class _Fallback(Exception):
    """A value the fast encoder leaves to json (floats, custom types, odd keys)."""


def _enc(o: Any, out: List[str]) -> None:
    t = type(o)
    if t is str:
        out.append(_quote(o))
    elif t is int:
        out.append(int.__repr__(o))
    elif o is None:
        out.append("null")
    elif o is True:
        out.append("true")
    elif o is False:
        out.append("false")
    elif t is dict:
        out.append("{")
        first = True
        for k, v in o.items():
            if type(k) is not str:
                raise _Fallback
            if not first:
                out.append(",")
            first = False
            out.append(_quote(k))
            out.append(":")
            _enc(v, out)
        out.append("}")
    elif t is list or t is tuple:
        out.append("[")
        for i, v in enumerate(o):
            if i:
                out.append(",")
            _enc(v, out)
        out.append("]")
    else:
        raise _Fallback


def encode(msg: Any) -> bytes:
    """``json.dumps(msg, separators=(",", ":")).encode()``, without importing json for
    the dicts of strings, integers, booleans, None, lists and dicts the protocol uses."""
    if _quote is not None:
        out: List[str] = []
        try:
            _enc(msg, out)
        except (_Fallback, RecursionError):
            pass
        else:
            return "".join(out).encode()
    import json

    return json.dumps(msg, separators=(",", ":")).encode()


class _ScanContext:
    """What ``_json.make_scanner`` reads from a JSONDecoder: plain json.loads settings."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"),
                      "NaN": float("nan")}.__getitem__


_scanner: Optional[Callable[[str, int], Tuple[Any, int]]] = None


def decode(text: str) -> Any:
    """``json.loads(text)`` (ValueError on bad input) through the C scanner when there
    is one."""
    global _scanner
    if _scanner is None:
        try:
            from _json import make_scanner

            _scanner = make_scanner(_ScanContext())
        except (ImportError, TypeError, AttributeError):
            import json

            _scanner = json.JSONDecoder().scan_once
    s = text.strip(" \t\r\n")
    try:
        obj, end = _scanner(s, 0)
    except StopIteration:
        raise ValueError("malformed JSON message") from None
    if end != len(s):
        raise ValueError("extra data after the JSON message")
    return obj


def fds_message(fds: List[int]) -> List[Tuple[int, int, bytes]]:
    """The ancillary data (for sendmsg) that passes the descriptors fds along."""
    raw = b"".join(fd.to_bytes(4, _BYTEORDER, signed=True) for fd in fds)
    return [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, raw)]


def received_fds(anc: List[Tuple[int, int, bytes]]) -> List[int]:
    """The descriptors in the ancillary data recvmsg returned (none: [])."""
    fds: List[int] = []
    for level, kind, payload in anc:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            n = len(payload) - len(payload) % 4
            fds.extend(int.from_bytes(payload[i:i + 4], _BYTEORDER, signed=True)
                       for i in range(0, n, 4))
    return fds


class Channel:
    """A connected stream socket (``socket.socket`` or ``_socket.socket``) speaking JSON
    lines."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.buf = b""
        self.fds: List[int] = []

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, msg: Dict[str, Any], fds: Optional[List[int]] = None) -> None:
        data = encode(msg) + b"\n"
        if fds:
            sent = self.sock.sendmsg([data], fds_message(fds))
            data = data[sent:]
        if data:
            self.sock.sendall(data)

    def feed(self) -> bool:
        """Read what is available; False on end of stream."""
        data, anc, _flags, _addr = self.sock.recvmsg(65536, _FD_SPACE)
        self.fds.extend(received_fds(anc))
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
        msg = decode(line.decode())
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
        if self.fds:
            import os

            for fd in self.fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.fds = []
        self.sock.close()


