"""The client side of terminals: lxc-console's session and the pty proxy lxc-attach uses.

``console(container, ttynum, stdinfd, stdoutfd, stderrfd, escape)`` asks the container's
monitor for a tty (the pty master arrives over the command socket, see
``lxcz.runtime.client.get_console``), puts the local terminal in raw mode and copies
bytes both ways until the user types the escape prefix (Ctrl+a by default) then ``q``;
the prefix typed twice sends it once. ``console_getfd`` hands the master fd to the caller.
``proxy`` is the copying loop itself, also used by lxc-attach for its pty (with a log
file, and ending when the attached process exits).
"""

from __future__ import annotations

import errno
import os
import select
import signal

from lxcz.errors import LxczError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, List, Optional


def escape_code(text: str) -> int:
    """The control code for an ``-e`` value: ``a``/``^a``/``A`` mean Ctrl+a (1)."""
    if not text:
        raise LxczError("empty escape prefix")
    ch = text[1] if text[0] == "^" and len(text) > 1 else text[0]
    code = ord(ch.lower()) - ord("a") + 1
    if not 1 <= code <= 26:
        raise LxczError(f"invalid escape prefix '{text}' (use a letter, e.g. -e ^b)")
    return code


def _write_all(fd: int, data: bytes) -> bool:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except InterruptedError:
            continue
        except OSError:
            return False
        view = view[n:]
    return True


class _Escape:
    def __init__(self, code: int) -> None:
        self.code = code
        self.seen = False
        self.quit = False

    def filter(self, data: bytes) -> bytes:
        if self.code < 1:
            return data
        out = bytearray()
        for b in data:
            if b == self.code and not self.seen:
                self.seen = True
                continue
            if b == ord("q") and self.seen:
                self.quit = True
                break
            self.seen = False
            out.append(b)
        return bytes(out)


def proxy(master: int, stdinfd: int = 0, stdoutfd: int = 1, escape: int = -1,
          log_fd: Optional[int] = None, child_pid: Optional[int] = None,
          raw: bool = True) -> None:
    """Copy stdin -> master and master -> stdout (and log_fd) until the session ends.

    It ends when the master reports EOF/EIO (nobody holds the tty any more), when
    ``child_pid`` has exited and its output is drained, or on the escape sequence.
    The local terminal is in raw mode meanwhile and follows window size changes.
    """
    import termios
    import tty

    from lxcz.sys import attachcalls

    istty = os.isatty(stdinfd)
    saved: Optional[List[Any]] = None
    old_winch: Any = None
    if istty:
        size = attachcalls.get_winsize(stdinfd)
        if size:
            attachcalls.set_winsize(master, size)

        def on_winch(_sig: int, _frame: Any) -> None:
            s = attachcalls.get_winsize(stdinfd)
            if s:
                attachcalls.set_winsize(master, s)

        old_winch = signal.signal(signal.SIGWINCH, on_winch)
        if raw:
            saved = termios.tcgetattr(stdinfd)
            tty.setraw(stdinfd, termios.TCSAFLUSH)
    pidfd = -1
    if child_pid is not None and hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(child_pid)
        except OSError:
            pidfd = -1
    esc = _Escape(escape)
    watch = [master]
    stdin_open = True
    if stdinfd >= 0:
        watch.append(stdinfd)
    if pidfd >= 0:
        watch.append(pidfd)
    from lxcz.sys import trim

    trim.long_lived()
    try:
        while True:
            try:
                ready, _, _ = select.select(watch, [], [], None if pidfd >= 0 or
                                            child_pid is None else 0.2)
            except InterruptedError:
                continue
            if not ready and child_pid is not None and _exited(child_pid):
                _drain(master, stdoutfd, log_fd)
                return
            if pidfd in ready:
                _drain(master, stdoutfd, log_fd)
                return
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError as err:
                    if err.errno == errno.EIO:
                        return
                    raise
                if not data:
                    return
                if not _write_all(stdoutfd, data):
                    return
                if log_fd is not None:
                    _write_all(log_fd, data)
            if stdin_open and stdinfd in ready:
                try:
                    data = os.read(stdinfd, 4096)
                except OSError:
                    data = b""
                if not data:
                    stdin_open = False
                    watch.remove(stdinfd)
                    if not istty:
                        _write_all(master, b"\x04")  # pass the end of input on
                    continue
                data = esc.filter(data)
                if data and not _write_all(master, data):
                    return
                if esc.quit:
                    return
    finally:
        if saved is not None:
            termios.tcsetattr(stdinfd, termios.TCSAFLUSH, saved)
        if old_winch is not None:
            signal.signal(signal.SIGWINCH, old_winch)
        if pidfd >= 0:
            os.close(pidfd)


def _exited(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return True


def _drain(master: int, stdoutfd: int, log_fd: Optional[int]) -> None:
    os.set_blocking(master, False)
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            _write_all(stdoutfd, data)
            if log_fd is not None:
                _write_all(log_fd, data)
    finally:
        os.set_blocking(master, True)


def console_getfd(container: Any, ttynum: int = -1) -> int:
    """The pty master of tty ``ttynum`` of a running container (-1: the first free)."""
    from lxcz.runtime import client

    fd, _num = client.get_console(container, ttynum)
    return fd


def console(container: Any, ttynum: int = -1, stdinfd: int = 0, stdoutfd: int = 1,
            stderrfd: int = 2, escape: int = 1,
            notice: Optional[Callable[[str], None]] = None) -> bool:
    """Run an interactive console session on a container tty; True when it ends cleanly.

    ``notice`` receives the "Connected to tty N" banner (the tool writes it to stderr).
    """
    fd, num, chan = _open_console(container, ttynum)
    try:
        try:
            os.setsid()
        except OSError:
            pass
        if escape >= 1 and notice is not None:
            key = chr(ord("a") + escape - 1)
            notice(f"\nConnected to tty {num}\nType <Ctrl+{key} q> to exit the console, "
                   f"<Ctrl+{key} Ctrl+{key}> to enter Ctrl+{key} itself\n")
        proxy(fd, stdinfd, stdoutfd, escape)
    finally:
        os.close(fd)
        chan.close()
    return True


def _open_console(container: Any, ttynum: int) -> Any:
    """(master fd, tty number, channel): the channel stays open for the whole session,
    which is how the monitor knows the tty is in use (as with LXC's command socket)."""
    from lxcz.runtime import client

    try:
        chan = client.connect(container)
    except client.NotRunning:
        from lxcz.runtime import lxcwire

        try:  # upstream LXC may run it: its monitor hands out its ttys as well
            got = lxcwire.get_tty(container.config_path, container.name, ttynum)
        except OSError as err:
            raise LxczError(err.strerror or str(err)) from None
        if got is None:
            raise
        return got
    try:
        chan.send({"cmd": "get_console", "ttynum": ttynum})
        reply, fds = chan.recv()
    except OSError as err:
        chan.close()
        raise LxczError(f"cannot get a console from the monitor: {err.strerror}") from None
    if reply is None or "error" in reply or not fds:
        for fd in fds:
            os.close(fd)
        chan.close()
        if reply is None:
            raise LxczError(f"{container.name} is not running")
        raise LxczError(str(reply.get("error") or "the monitor sent no terminal"))
    for extra in fds[1:]:
        os.close(extra)
    return fds[0], int(reply.get("ttynum", ttynum)), chan
