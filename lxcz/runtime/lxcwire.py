"""Upstream LXC's command socket, client side: containers that LXC 5's own lxc-start runs.

lxcz and LXC share the on-disk layout, so a container made by either may be running under
the other's monitor. LXC's monitor holds the abstract socket ``@LXCPATH/NAME/command`` (or,
when that would not fit a socket address, ``@lxc/HASH/command``, HASH the 64-bit FNV-1a
of ``LXCPATH/NAME``) and answers fixed-size binary requests: ``struct lxc_cmd_req {int
cmd; int datalen; const void *data;}``, sent with the caller's credentials, and ``struct
lxc_cmd_rsp {int ret; int datalen; void *data;}``, small answers carried in ``data``
itself. This module asks the few things lxcz's tools need to treat such a container as
running: its state, its init's pid, and (lxc-stop -k) to be killed. Nothing here starts,
attaches to or changes an LXC container otherwise.
"""

from __future__ import annotations

import _socket
import errno
import os
import struct
from errno import ECONNREFUSED, ECONNRESET, ENOENT, EPIPE

from lxcz.runtime import paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterable, List, Optional, Tuple

# LXC 5's lxc_cmd_t (src/lxc/commands.h)
CMD_GET_TTY_FD = 0
CMD_STOP = 2
CMD_GET_STATE = 3
CMD_GET_INIT_PID = 4
CMD_SERVE_STATE_CLIENTS = 12
# LXC's lxc_state_t, in order
STATES = ("STOPPED", "STARTING", "RUNNING", "STOPPING", "ABORTING", "FREEZING", "FROZEN",
          "THAWED")
# int, int, pointer-sized (signed: LXC puts a sign-extended int in it): C's layout
_MSG = struct.Struct("iin")
TIMEOUT = 5.0


def socket_name(lxcpath: str, name: str) -> str:
    """The abstract name (without its leading NUL) LXC's monitor of NAME binds."""
    return paths.lxc_command_socket(lxcpath, name)


def is_running(lxcpath: str, name: str) -> bool:
    """Whether LXC's monitor of NAME holds its command socket (no round trip)."""
    want = socket_name(lxcpath, name)
    return want in paths.abstract_names(want)


def running_names(lxcpath: str, defined: Iterable[str] = ()) -> List[str]:
    """Names of the containers of lxcpath that LXC runs: those under the plain socket
    name, and those of defined whose name is hashed."""
    prefix = os.path.abspath(lxcpath) + "/"
    found = set()
    for sock in paths.abstract_names(prefix):
        rest = sock[len(prefix):]
        if rest.endswith("/command") and rest.count("/") == 1:
            found.add(rest[:-len("/command")])
    hashed = [n for n in defined if socket_name(lxcpath, n).startswith("lxc/")]
    if hashed:
        bound = set(paths.abstract_names("lxc/"))
        found.update(n for n in hashed if socket_name(lxcpath, n) in bound)
    return sorted(found)


def ask(lxcpath: str, name: str, cmd: int, timeout: Optional[float] = TIMEOUT,
        arg: int = 0, fds: Optional[List[int]] = None,
        keep: Optional[List[Any]] = None) -> Optional[Tuple[int, int]]:
    """Send LXC command cmd (arg: its argument, carried in the request's data field) to
    NAME's monitor: (ret, data) of its answer, None when LXC does not run NAME or closed
    the connection without answering (as LXC_CMD_STOP does once the container is gone).
    Descriptors sent with the answer are appended to fds; with keep, the connection is
    appended to it instead of being closed. OSError for anything else."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.settimeout(timeout)
        try:
            sock.connect(paths.abstract(socket_name(lxcpath, name)))
        except OSError as err:
            if err.errno in (ECONNREFUSED, ENOENT):
                return None
            raise
        creds = struct.pack("iII", os.getpid(), os.getuid(), os.getgid())
        try:
            sock.sendmsg([_MSG.pack(cmd, 0, arg)],
                         [(_socket.SOL_SOCKET, _socket.SCM_CREDENTIALS, creds)])
            data = b""
            while len(data) < _MSG.size:
                chunk, anc, _flags, _addr = sock.recvmsg(_MSG.size - len(data),
                                                          _socket.CMSG_SPACE(4 * 4))
                for level, kind, blob in anc:
                    if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                        got = struct.unpack(f"{len(blob) // 4}i", blob[:len(blob) // 4 * 4])
                        for fd in got:
                            os.set_inheritable(fd, False)
                        if fds is None:
                            for fd in got:
                                os.close(fd)
                        else:
                            fds.extend(got)
                if not chunk:
                    return None
                data += chunk
        except OSError as err:
            if err.errno in (ECONNRESET, EPIPE):
                return None
            raise
        ret, datalen, value = _MSG.unpack(data)
        if datalen > 0:  # none of the commands asked here answers with more; drain it
            left = datalen
            while left > 0:
                chunk = sock.recv(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
        if keep is not None:
            keep.append(sock)
            sock = None
        return ret, value
    finally:
        if sock is not None:
            sock.close()


def state(lxcpath: str, name: str) -> Optional[str]:
    """NAME's state as LXC's monitor reports it; None when LXC does not run NAME."""
    try:
        got = ask(lxcpath, name, CMD_GET_STATE)
    except OSError:
        return None
    if got is None:
        return None
    value = got[1]
    return STATES[value] if 0 <= value < len(STATES) else None


def init_pid(lxcpath: str, name: str) -> int:
    """The host pid of NAME's init under LXC; -1 when LXC does not run NAME."""
    try:
        got = ask(lxcpath, name, CMD_GET_INIT_PID)
    except OSError:
        return -1
    return got[1] if got is not None and got[1] > 0 else -1


def announce(lxcpath: str, name: str, state: str) -> None:
    """Tell LXC's monitor of NAME that it is now FROZEN or THAWED (after its freezer
    cgroup was written), as LXC's own lxc-freeze does: the monitor keeps the state it
    reports, and its clients hear of it. Quietly nothing when LXC does not run NAME."""
    try:
        ask(lxcpath, name, CMD_SERVE_STATE_CLIENTS, arg=STATES.index(state))
    except (OSError, ValueError):
        pass


def stop(lxcpath: str, name: str, timeout: Optional[float] = None) -> bool:
    """Have LXC's monitor kill NAME (LXC_CMD_STOP, what LXC's lxc-stop -k sends) and
    wait until it is gone. False when LXC refused (its answer is an error)."""
    got = ask(lxcpath, name, CMD_STOP, timeout)
    return got is None or got[0] >= 0


def get_tty(lxcpath: str, name: str, ttynum: int) -> Optional[Tuple[int, int, Any]]:
    """(pty master fd, tty number, connection) of tty ttynum (-1: the first free, 0: the
    console) of NAME under LXC; the connection holds the tty until it is closed, as LXC's
    lxc-console does. None when LXC does not run NAME; OSError (EBUSY) when LXC has no
    such tty free."""
    fds: List[int] = []
    keep: List[Any] = []
    got = ask(lxcpath, name, CMD_GET_TTY_FD, arg=ttynum, fds=fds, keep=keep)
    if got is None:
        for fd in fds:
            os.close(fd)
        return None
    if got[0] < 0 or not fds:
        for fd in fds:
            os.close(fd)
        for k in keep:
            k.close()
        raise OSError(errno.EBUSY, f"tty {ttynum} invalid, busy or all ttys busy")
    for extra in fds[1:]:
        os.close(extra)
    return fds[0], got[1], keep[0]
