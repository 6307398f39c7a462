"""What lxcz.Container's runtime methods call: state, start, stop, wait and friends.

attach goes to lxcz.runtime.attach, the console to lxcz.runtime.console_client, the
freezer and cgroup files to lxcz.cgroups.ops; everything that needs the running
container's monitor goes through lxcz.runtime.client.
"""

from __future__ import annotations

import select
import time
from _signal import SIGPWR as _SIGPWR  # the signal module would import enum

from lxcz.errors import LxczError
from lxcz.runtime import client

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Sequence


class NotRunningError(LxczError):
    """An operation that needs a running container met a stopped one."""


def state(c: Any) -> str:
    return client.get_state(c)


def init_pid(c: Any) -> int:
    return client.get_init_pid(c)


def active_names(lxcpath: str) -> List[str]:
    return client.active_names(lxcpath)


def _states(spec: str) -> List[str]:
    # exactly as LXC 5 spells them: "running" or " FROZEN" are invalid there too
    wanted = [s for s in spec.split("|") if s]
    for s in wanted:
        if s not in client.STATES:
            hint = f" (states are upper case: {s.strip().upper()})" \
                if s.strip().upper() in client.STATES else ""
            raise LxczError(f"invalid state '{s}'{hint}")
    if not wanted:
        raise LxczError("no state given")
    return wanted


def _lxc_runs(c: Any) -> bool:
    """Whether upstream LXC's monitor, not lxcz's, runs the container."""
    from lxcz.runtime import lxcwire

    return lxcwire.is_running(c.config_path, c.name)


def _lxc_poll(c: Any, done: Callable[[str], bool], deadline: Optional[float]) -> bool:
    """Ask LXC's monitor for the state until done(state) (True) or the deadline (False).
    LXC announces its states to its own clients only, in a protocol of its own: polled,
    every 20 ms."""
    from lxcz.runtime import lxcwire

    while True:
        if done(lxcwire.state(c.config_path, c.name) or "STOPPED"):
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def wait(c: Any, state_spec: str, timeout: float = -1) -> bool:
    """Wait until the container is in one of the '|'-separated states; False on timeout."""
    wanted = _states(state_spec)
    deadline = None if timeout is None or timeout < 0 else time.monotonic() + timeout
    listener = client.EventListener(c.config_path)
    try:
        while True:
            chan, current = client.state_stream(c)
            try:
                if chan is None and _lxc_runs(c):
                    return _lxc_poll(c, lambda st: st in wanted, deadline)
                if current in wanted:
                    return True
                while True:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    fds = [listener.fileno()] + ([chan.fileno()] if chan else [])
                    ready, _, _ = select.select(fds, [], [], left)
                    if not ready:
                        return False
                    if listener.fileno() in ready:
                        ev = listener.recv(0)
                        if ev and ev[0] == c.name:
                            if ev[1] in wanted:
                                return True
                            if chan is None:
                                break  # it came up: follow it through its socket
                    if chan is not None and chan.fileno() in ready:
                        try:
                            alive = chan.feed()
                        except OSError:
                            alive = False
                        while alive:
                            msg = chan.pop()
                            if msg is None:
                                break
                            if msg.get("state") in wanted:
                                return True
                        if not alive:
                            break  # monitor gone: look again
            finally:
                if chan is not None:
                    chan.close()
    finally:
        listener.close()


def start_code(c: Any, useinit: bool = False, daemonize: bool = True,
               cmd: Optional[Sequence[str]] = None, prog: str = "lxc-start",
               **options: Any) -> int:
    """Start; the container's exit code in the foreground, 0 once RUNNING with daemonize."""
    from lxcz.runtime import start as st

    return st.start(c, list(cmd) if cmd else None, useinit, daemonize, prog=prog, **options)


def start(c: Any, useinit: bool = False, daemonize: bool = True, close_fds: bool = False,
          cmd: Optional[Sequence[str]] = None, **options: Any) -> bool:
    return start_code(c, useinit, daemonize, cmd, **options) == 0


def _follow(chan: Any, timeout: Optional[float], done: Callable[[Dict[str, Any]], bool]
            ) -> Optional[bool]:
    """Hand each message of a state stream to done until it says so (True), the monitor
    closes the stream (None), or timeout seconds pass (False; None or < 0: no limit)."""
    deadline = None if timeout is None or timeout < 0 else time.monotonic() + timeout
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return False
        ready, _, _ = select.select([chan.fileno()], [], [], left)
        if not ready:
            return False
        try:
            if not chan.feed():
                return None
        except OSError:
            return None
        while True:
            msg = chan.pop()
            if msg is None:
                break
            if done(msg):
                return True


def _wait_gone(c: Any, chan: Any, timeout: Optional[float]) -> bool:
    """Read chan until the monitor closes it; False if timeout passes first."""
    return _follow(chan, timeout, lambda msg: msg.get("state") == "STOPPED") is not False


class _commanded:  # noqa: N801 - a with-statement helper (contextlib costs every start)
    """Open the running container's state stream, then send cmd to its monitor; the body
    reads the stream, which is closed afterwards. NotRunningError when it is stopped."""

    def __init__(self, c: Any, cmd: str) -> None:
        self.c = c
        self.cmd = cmd
        self.chan: Any = None

    def __enter__(self) -> Any:
        chan, _current = client.state_stream(self.c)
        if chan is None:
            raise NotRunningError(f"{self.c.name} is not running", exit_code=2)
        try:
            client.call(self.c, self.cmd)
        except BaseException:
            chan.close()
            raise
        self.chan = chan
        return chan

    def __exit__(self, *exc: Any) -> None:
        self.chan.close()


def cleanup_stale(c: Any) -> None:
    """Undo what a monitor killed with SIGKILL left behind: its network state (phys NICs
    given back, veths and routes removed) and its empty cgroups."""
    if client.is_running(c):
        return
    cleanup_stale_network(c.config_path, c.name)
    try:
        from lxcz.cgroups import get_manager

        mgr = get_manager()
        for kind in ("payload", "monitor"):
            cg = mgr.find(c.name, kind=kind)
            if cg is not None and not cg.all_pids():
                cg.destroy()
    except (ImportError, LxczError, OSError):
        pass


def cleanup_stale_network(lxcpath: str, name: str) -> None:
    """The saved network state of a dead monitor, also under the name older builds used."""
    import os

    from lxcz.runtime.paths import lxcpath_key

    base = os.path.join("/run/lxcz/net", f"{lxcpath_key(lxcpath)}-{name}")
    found = [p for p in (base + ".state", base + ".json") if os.path.exists(p)]
    if not found:
        return
    from lxcz.net import netdev

    for path in found:
        try:
            netdev.cleanup_stale(path)
        except (LxczError, OSError) as err:
            from lxcz.log import log

            log.warning("%s: %s", path, err)


def stop(c: Any, timeout: float = -1) -> bool:
    """Kill the container and wait until it is stopped."""
    try:
        chan = client.connect(c)
    except client.NotRunning:
        if _lxc_runs(c):
            from lxcz.runtime import lxcwire

            return lxcwire.stop(c.config_path, c.name, None if timeout < 0 else timeout)
        cleanup_stale(c)
        raise NotRunningError(f"{c.name} is not running", exit_code=2) from None
    try:
        chan.send({"cmd": "stop"})
        reply, _ = chan.recv()
        if reply is None:
            return True
        if "error" in reply:
            raise LxczError(str(reply["error"]))
        chan.sock.settimeout(None)
        return _wait_gone(c, chan, timeout)
    finally:
        chan.close()


def _lxc_signal(c: Any, key: str, default: int) -> int:
    """Send init of a container LXC runs the signal its configuration names for key
    (as LXC's own lxc-stop does, straight to the init's pid); the init's pid."""
    import os

    from lxcz.runtime import lxcwire
    from lxcz.runtime.start import _signum

    pid = lxcwire.init_pid(c.config_path, c.name)
    if pid <= 0:
        raise NotRunningError(f"{c.name} is not running", exit_code=2)
    try:  # as make_spec reads it: get_item would give "0" for a key that is not set
        sig = _signum(c.config.get(key), default)
    except LxczError:
        sig = default
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
    return pid


def shutdown(c: Any, timeout: float = -1) -> bool:
    """Send the halt signal to init and wait up to timeout for STOPPED (True if it did)."""
    try:
        with _commanded(c, "shutdown") as chan:
            return timeout != 0 and _wait_gone(c, chan, timeout)
    except client.NotRunning:
        return True
    except NotRunningError:
        if not _lxc_runs(c):
            raise
    _lxc_signal(c, "lxc.signal.halt", _SIGPWR)
    deadline = None if timeout < 0 else time.monotonic() + timeout
    return timeout != 0 and _lxc_poll(c, lambda st: st == "STOPPED", deadline)


def reboot(c: Any, timeout: float = -1) -> bool:
    """Send the reboot signal; with a timeout, wait until it is RUNNING again."""
    seen_stop = []

    def back_up(msg: Dict[str, Any]) -> bool:
        st = msg.get("state")
        if st in ("STOPPING", "STARTING"):
            seen_stop.append(st)
        return st == "RUNNING" and bool(seen_stop)

    try:
        with _commanded(c, "reboot") as chan:
            return timeout == 0 or _follow(chan, timeout, back_up) is True
    except NotRunningError:
        if not _lxc_runs(c):
            raise
    from _signal import SIGINT

    from lxcz.runtime import lxcwire

    before = _lxc_signal(c, "lxc.signal.reboot", SIGINT)

    def new_init(st: str) -> bool:  # back up: RUNNING with another init
        return st == "RUNNING" and lxcwire.init_pid(c.config_path, c.name) not in (before, -1)

    deadline = None if timeout < 0 else time.monotonic() + timeout
    return timeout == 0 or _lxc_poll(c, new_init, deadline)


def freeze(c: Any) -> bool:
    from lxcz.cgroups import ops

    client.notify_state(c, "FREEZING")
    ok = ops.freeze(c)
    client.notify_state(c, "FROZEN")
    return ok


def unfreeze(c: Any) -> bool:
    from lxcz.cgroups import ops

    try:
        ok = ops.unfreeze(c)
    except LxczError:
        if c.defined and c.state == "STOPPED":
            return True  # nothing to thaw: LXC 5 says yes too (freeze says no)
        raise
    client.notify_state(c, "THAWED")
    client.notify_state(c, "RUNNING")
    return ok


def get_cgroup_item(c: Any, key: str) -> str:
    from lxcz.cgroups import ops

    return ops.get_item(c, key)


def set_cgroup_item(c: Any, key: str, value: str) -> bool:
    from lxcz.cgroups import ops

    return ops.set_item(c, key, value)


def get_running_config_item(c: Any, key: str) -> str:
    try:
        return client.get_config_item(c, key)
    except client.NotRunning:
        raise NotRunningError(f"{c.name} is not running") from None


def console(c: Any, ttynum: int = -1, stdinfd: int = 0, stdoutfd: int = 1, stderrfd: int = 2,
            escape: int = 1) -> bool:
    from lxcz.runtime import console_client

    return console_client.console(c, ttynum, stdinfd, stdoutfd, stderrfd, escape)


def console_getfd(c: Any, ttynum: int = -1) -> int:
    from lxcz.runtime import console_client

    return console_client.console_getfd(c, ttynum)


HALT_DEFAULT = _SIGPWR
