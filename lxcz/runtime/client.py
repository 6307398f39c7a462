"""The command-socket client: how every tool talks to a running container's monitor.

A container is running exactly when its monitor holds the abstract command socket
(lxcz.runtime.paths.command_socket). No socket means STOPPED, init pid -1. Functions take
any object with ``name`` and ``config_path`` (the lxcpath), like lxcz.Container.

Sockets are ``_socket.socket`` objects: the socket module on top of it costs more
start-up time (enum, selectors) than an ``lxc-info`` round trip takes.
"""

from __future__ import annotations

import _socket
import os
from errno import ECONNREFUSED, ECONNRESET, ENOENT, EPIPE

from lxcz.errors import LxczError
from lxcz.runtime import paths
from lxcz.runtime.proto import Channel

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Iterator, List, Optional, Tuple

STATES = ("STOPPED", "STARTING", "RUNNING", "STOPPING", "ABORTING", "FREEZING", "FROZEN",
          "THAWED")
TIMEOUT = 10.0


class NotRunning(LxczError):
    """The container has no monitor (it is stopped)."""


class RunningConfig:
    """Configuration items as a running container's monitor reported them (get_info's
    "attach_conf" and "shown"): what the container was started with (``lxc-start -f``
    and ``-s`` included), read with no configuration parsing. None for a key it did not
    report."""
    __slots__ = ("items",)

    def __init__(self, items: Dict[str, Any]) -> None:
        self.items = items

    def get_item(self, key: str) -> Any:
        return self.items.get(key)

    def get_list(self, key: str) -> Any:
        return self.items.get(key) or []


def _addr(c: Any) -> bytes:
    return paths.abstract(paths.command_socket(c.config_path, c.name))


def connect(c: Any, timeout: Optional[float] = TIMEOUT) -> Channel:
    """Open a channel to NAME's monitor; NotRunning if it has none."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    sock.settimeout(timeout)
    try:
        sock.connect(_addr(c))
    except OSError as err:
        sock.close()
        if err.errno in (ECONNREFUSED, ENOENT):
            raise NotRunning(f"{c.name} is not running") from None
        raise LxczError(f"cannot reach the monitor of {c.name}: {err.strerror}") from None
    return Channel(sock)


def call(c: Any, cmd: str, timeout: Optional[float] = TIMEOUT,
         **args: Any) -> Tuple[Dict[str, Any], List[int]]:
    """Send one command, return (reply, fds). Raises NotRunning or LxczError."""
    chan = connect(c, timeout)
    try:
        msg = dict(args)
        msg["cmd"] = cmd
        try:
            chan.send(msg)
            reply, fds = chan.recv()
        except _socket.timeout:
            raise LxczError(f"the monitor of {c.name} did not answer") from None
        except OSError as err:
            if err.errno in (ECONNRESET, EPIPE):
                raise NotRunning(f"{c.name} is not running") from None
            raise
        if reply is None:
            raise NotRunning(f"{c.name} is not running")
        if "error" in reply:
            for fd in fds:
                os.close(fd)
            raise LxczError(str(reply["error"]))
        return reply, fds
    finally:
        chan.close()


def is_running(c: Any) -> bool:
    """Whether a monitor runs the container: lxcz's, or upstream LXC's (lxcz.runtime.
    lxcwire: the same container may have been started by either)."""
    ours = paths.command_socket(c.config_path, c.name)
    if ours in paths.abstract_names(ours):
        return True
    from lxcz.runtime import lxcwire

    return lxcwire.is_running(c.config_path, c.name)


def upstream_info(c: Any) -> Dict[str, Any]:
    """get_info's answer for a container lxcz's monitor does not run: what upstream LXC's
    monitor says (state, init pid, its cgroups, ``"lxc": True``), else STOPPED."""
    from lxcz.runtime import lxcwire

    state = lxcwire.state(c.config_path, c.name)
    if state is None or state == "STOPPED":
        return {"state": "STOPPED", "pid": -1}
    pid = lxcwire.init_pid(c.config_path, c.name)
    info: Dict[str, Any] = {"state": state, "pid": pid, "lxc": True}
    if pid > 0:
        try:  # the init's own cgroups: LXC's payload cgroup (stats, lxc-attach)
            from lxcz.cgroups import get_manager

            info["cgroup"] = get_manager().cgroup_of(pid) or None
        except (LxczError, OSError):
            pass
    return info


def get_state(c: Any) -> str:
    try:
        return call(c, "get_state")[0]["state"]
    except NotRunning:
        from lxcz.runtime import lxcwire

        return lxcwire.state(c.config_path, c.name) or "STOPPED"


def get_init_pid(c: Any) -> int:
    try:
        return int(call(c, "get_init_pid")[0]["pid"])
    except NotRunning:
        from lxcz.runtime import lxcwire

        return lxcwire.init_pid(c.config_path, c.name)


def get_info(c: Any) -> Dict[str, Any]:
    """State, init pid, cgroup paths, config file in one round trip; STOPPED if none
    (or, for a container upstream LXC runs, its state and pid: see upstream_info)."""
    try:
        return call(c, "get_info")[0]
    except NotRunning:
        return upstream_info(c)


def get_console(c: Any, ttynum: int = -1) -> Tuple[int, int]:
    """(pty master fd, tty number) for tty ttynum (0 = console, -1 = first free tty)."""
    reply, fds = call(c, "get_console", ttynum=ttynum)
    if not fds:
        raise LxczError("the monitor sent no terminal")
    for extra in fds[1:]:
        os.close(extra)
    return fds[0], int(reply["ttynum"])


def get_cgroup_paths(c: Any) -> Dict[str, str]:
    """Controller (or "unified") -> absolute cgroup directory of the payload."""
    return call(c, "get_cgroup_paths")[0]["paths"]


def get_config_item(c: Any, key: str) -> str:
    return call(c, "get_config_item", key=key)[0]["value"]


def signal(c: Any, sig: int) -> None:
    """Send sig to the container's init."""
    call(c, "signal", sig=sig)


def stop(c: Any, kill: bool = True) -> None:
    """Kill the container (every process in it); returns once the monitor accepted it."""
    call(c, "stop")


def reboot(c: Any) -> None:
    call(c, "reboot")


def notify_state(c: Any, state: str) -> None:
    """Ask the monitor to announce a state (FREEZING, FROZEN, THAWED) to its listeners."""
    try:
        call(c, "notify_state", state=state)
    except NotRunning:
        if state in ("FROZEN", "THAWED"):  # what LXC's own lxc-freeze tells its monitor
            from lxcz.runtime import lxcwire

            lxcwire.announce(c.config_path, c.name, state)


def state_stream(c: Any) -> Tuple[Optional[Channel], str]:
    """(channel, current state): the channel then yields {"state": S} on every change
    and ends when the monitor exits. (None, "STOPPED") when not running."""
    try:
        chan = connect(c, TIMEOUT)
    except NotRunning:
        return None, "STOPPED"
    try:
        chan.send({"cmd": "state_listen"})
        reply, _ = chan.recv()
    except OSError:
        chan.close()
        return None, "STOPPED"
    if reply is None:
        chan.close()
        return None, "STOPPED"
    chan.sock.settimeout(None)
    return chan, reply.get("state", "STOPPED")


class EventListener:
    """A datagram socket receiving (name, state) events from every monitor of an lxcpath.

    Monitors find listeners through /proc/net/unix (see events.broadcast); binding before
    reading the current state means no change is missed in between.
    """

    def __init__(self, lxcpath: str) -> None:
        self.sock = _socket.socket(_socket.AF_UNIX,
                                   _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
        name = f"{paths.event_prefix(lxcpath)}{os.getpid()}-{os.urandom(4).hex()}"
        self.sock.bind(paths.abstract(name))

    def fileno(self) -> int:
        return self.sock.fileno()

    def recv(self, timeout: Optional[float] = None) -> Optional[Tuple[str, str]]:
        """(name, state) of the next state change; None on timeout or another event."""
        ev = self.recv_event(timeout)
        return (ev[1], ev[2]) if ev is not None and ev[0] == "state" else None

    def recv_event(self, timeout: Optional[float] = None) -> Optional[Tuple[str, str, str]]:
        """("state", name, STATE) or ("exit", name, wait status); None on timeout."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except _socket.timeout:
            return None
        name, _, rest = data.decode("utf-8", "replace").partition("\0")
        if rest.startswith("\0"):
            return "exit", name, rest[1:]
        return "state", name, rest

    def close(self) -> None:
        self.sock.close()


def state_listen(lxcpath: str) -> Iterator[Tuple[str, str]]:
    """Yield (name, state) for every state change in lxcpath, forever."""
    listener = EventListener(lxcpath)
    try:
        while True:
            ev = listener.recv(None)
            if ev:
                yield ev
    finally:
        listener.close()


def active_names(lxcpath: str) -> List[str]:
    """Names of the containers of lxcpath whose monitor is up: lxcz's, and upstream
    LXC's where its socket carries the name (lxcz.runtime.lxcwire.running_names)."""
    prefix = f"{paths.PREFIX}/{paths.lxcpath_key(lxcpath)}/"
    names = []
    for n in paths.abstract_names(prefix):
        rest = n[len(prefix):]
        if rest.endswith("/command"):
            names.append(rest[: -len("/command")])
    from lxcz.runtime import lxcwire

    names += lxcwire.running_names(lxcpath)
    return sorted(set(names))
