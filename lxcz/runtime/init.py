"""The PID-1 init of application containers (lxc-execute, lxc-init).

It is the lxcz process itself, already inside the container: it starts the command as
PID 2, reaps every zombie, forwards signals to the command, and exits with the command's
status (128+N when signal N killed it). The caller has already closed host descriptors
and made the process non-dumpable; ``run`` checks it again before starting anything.
"""

from __future__ import annotations

import _signal
import errno
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence, Tuple

FORWARDED = (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP, _signal.SIGQUIT, _signal.SIGUSR1,
             _signal.SIGUSR2, _signal.SIGWINCH, _signal.SIGALRM, _signal.SIGCONT)
# signals that ask an init to shut down; the command gets SIGTERM
SHUTDOWN = (_signal.SIGPWR,)
GRACE = 1.0  # seconds the remaining processes get between SIGTERM and SIGKILL
TRIM_AFTER = 0.5  # seconds after the command started: lxcz.sys.trim (see _trim_when_settled)


def import_fds() -> Tuple[int, ...]:
    """Descriptors this process imports its own code from: a zipapp whose cache cannot be
    used runs from an anonymous file, /proc/self/fd/N on sys.path (build/lxczboot.py).
    A monitor that closes what it does not use, or re-executes itself, keeps them; the
    container's init and an attached process close them like any host descriptor."""
    out = []
    for entry in sys.path:
        if entry.startswith("/proc/self/fd/"):
            fd = entry[14:].split("/", 1)[0]
            if fd.isdigit():
                out.append(int(fd))
    return tuple(out)


def exec_command(argv: Sequence[str], env: Optional[Dict[str, str]], prog: str,
                 name: str) -> None:
    """Exec argv (PATH search); on failure print one line and _exit(126/127)."""
    try:
        if env is None:
            os.execvp(argv[0], list(argv))
        else:
            os.execvpe(argv[0], list(argv), env)
    except OSError as err:
        code = 127 if err.errno in (errno.ENOENT, errno.ENOTDIR) else 126
        try:
            os.write(2, f"{prog}: {name}: cannot run '{argv[0]}': "
                        f"{os.strerror(err.errno or 0)}\n".encode())
        finally:
            os._exit(code)
    os._exit(127)


def status_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return 255


def _trim_when_settled() -> Any:
    """Half a second after the command started, give back the start-up pages this
    process will not use again while it waits (lxcz.sys.trim): once, from SIGALRM,
    which interrupts the waitpid the loop sleeps in. Returns the SIGALRM handler to
    restore, None when nothing was set up."""
    try:
        from lxcz.sys import trim
    except ImportError:  # in the container without it loaded beforehand
        return None

    def on_alarm(_sig: int, _frame: object) -> None:
        trim.trim()

    old = _signal.signal(_signal.SIGALRM, on_alarm)
    _signal.setitimer(_signal.ITIMER_REAL, TRIM_AFTER)
    return old if old is not None else _signal.SIG_DFL


def become_init(dumpable: bool = False) -> None:
    """What makes this process the init: the collector on again, non-dumpable (unless
    the caller will see to it later), named init.lxcz (and, as PID 1, nothing of the
    host's command line left to read)."""
    import gc

    from lxcz.sys import calls

    gc.enable()  # lxcz.sys.trim.long_lived, without needing that module in the container
    try:
        if not dumpable:
            calls.set_dumpable(False)
        calls.set_name("init.lxcz")
    except OSError:
        pass
    if os.getpid() == 1:
        calls.set_proc_title("init.lxcz")


def forward_signals() -> Dict[str, Any]:
    """Catch what init forwards to the command; returns the state the handler reads
    (``child``: the command's pid once known, ``done``: it has ended)."""
    state: Dict[str, Any] = {"child": 0, "done": False}

    def on_signal(sig: int, _frame: object) -> None:
        # runs between bytecodes of the main loop, even while it blocks in waitpid
        if state["child"] and not state["done"]:
            try:
                os.kill(state["child"], _signal.SIGTERM if sig in SHUTDOWN else sig)
            except ProcessLookupError:
                pass

    for sig in FORWARDED + SHUTDOWN:
        _signal.signal(sig, on_signal)
    _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
    _signal.signal(_signal.SIGPIPE, _signal.SIG_DFL)
    _signal.signal(_signal.SIGXFSZ, _signal.SIG_DFL)
    try:
        os.setsid()
    except OSError:
        pass
    return state


def command_session() -> None:
    """In the command's process, before its exec: default signal actions, a session of
    its own, and the terminal on stdin (if any) as its controlling terminal."""
    for sig in FORWARDED + SHUTDOWN:
        _signal.signal(sig, _signal.SIG_DFL)
    try:
        os.setsid()
        if os.isatty(0):
            import fcntl
            import termios

            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    except OSError:
        pass


def run(argv: List[str], env: Optional[Dict[str, str]] = None, prog: str = "lxc-init",
        name: str = "") -> int:
    """Be PID 1: run argv as a child, reap, forward, return the exit code to _exit with."""
    become_init()
    state = forward_signals()
    child = os.fork()
    if child == 0:
        command_session()
        exec_command(argv, env, prog, name)
    return supervise(child, state)


def supervise(child: int, state: Dict[str, Any]) -> int:
    """Forward signals to child (the command) and reap everything until it has ended;
    its exit code."""
    state["child"] = child
    old_alarm = _trim_when_settled()
    try:
        # kill(-1) is only ever used as PID 1 of a PID namespace
        return _reap_all(child, state, os.getpid() == 1)
    finally:
        if old_alarm is not None:
            _signal.setitimer(_signal.ITIMER_REAL, 0)
            _signal.signal(_signal.SIGALRM, old_alarm)


def _reap_all(child: int, state: Dict[str, Any], own_namespace: bool) -> int:
    """Reap until the command has ended and (as PID 1) every other process is gone;
    return the command's exit code."""
    code: Optional[int] = None
    deadline: Optional[float] = None
    while True:
        if code is not None and deadline is None:
            if not own_namespace:
                # not PID 1 of a PID namespace: kill(-1) would reach the whole host.
                # Only our own children are left to wait for.
                return code
            # the command is gone: ask the rest of the namespace to leave, then insist
            try:
                os.kill(-1, _signal.SIGTERM)
            except OSError:
                return code
            deadline = time.monotonic() + GRACE
        try:
            if deadline is None:
                pid, status = os.waitpid(-1, 0)
            else:
                pid, status = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    if time.monotonic() >= deadline and own_namespace:
                        try:
                            os.kill(-1, _signal.SIGKILL)
                        except OSError:
                            pass
                        deadline = time.monotonic() + 5
                    time.sleep(0.01)
                    continue
        except ChildProcessError:
            return code if code is not None else 0
        if pid == child:
            code = status_code(status)
            state["done"] = True
