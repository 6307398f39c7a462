"""LXC 5's command socket, server side: upstream LXC's own tools on a container lxcz runs.

lxcz and LXC share the on-disk layout, so the same container may be handled by either's
tools. Next to its own socket, lxcz's monitor binds the one LXC's monitor would
(``@LXCPATH/NAME/command``, or ``@lxc/HASH/command``: lxcz.runtime.lxcwire) and answers
LXC's binary requests there. LXC's lxc-start then finds the container running and starts
no second copy on the same rootfs; lxc-info, lxc-ls, lxc-wait, lxc-stop, lxc-attach,
lxc-console, lxc-freeze and lxc-cgroup work on it as on one LXC runs.

A request is ``struct lxc_cmd_req {int cmd; int datalen; const void *data;}`` sent with
the sender's credentials, followed by datalen bytes; a small argument travels in the
pointer field itself. An answer is ``struct lxc_cmd_rsp {int ret; int datalen; void
*data;}`` (ret 0 or -errno, a small value in data), datalen bytes after it, descriptors
with it. Most connections carry one request and are closed after the answer; a tty
(held for as long as the client keeps it open), a state client (answered with
``struct lxc_msg`` when the state it waits for comes) and a stop request (closed when the
monitor ends, which is how LXC's lxc-stop -k knows) stay open.
"""

from __future__ import annotations

import _signal
import _socket
import errno
import os
import struct
import sys

from lxcz.errors import LxczError
from lxcz.log import log
from lxcz.runtime import lxcwire

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

# LXC 5's lxc_cmd_t (src/lxc/commands.h)
GET_TTY_FD, TERMINAL_WINCH, STOP, GET_STATE, GET_INIT_PID, GET_CLONE_FLAGS = range(6)
GET_CGROUP, GET_CONFIG_ITEM, GET_NAME, GET_LXCPATH, ADD_STATE_CLIENT = range(6, 11)
CONSOLE_LOG, SERVE_STATE_CLIENTS, SECCOMP_NOTIFY_ADD_LISTENER = range(11, 14)
ADD_BPF_DEVICE_CGROUP, FREEZE, UNFREEZE, GET_CGROUP2_FD, GET_INIT_PIDFD = range(14, 19)
GET_LIMIT_CGROUP, GET_LIMIT_CGROUP2_FD, GET_DEVPTS_FD, GET_SECCOMP_NOTIFY_FD = range(19, 23)
GET_CGROUP_CTX, GET_CGROUP_FD, GET_LIMIT_CGROUP_FD, GET_SYSTEMD_SCOPE = range(23, 27)

STATES = lxcwire.STATES
MAX_STATE = len(STATES)
DATA_MAX = 4096  # LXC_CMD_DATA_MAX
_REQ = struct.Struct("iin")
# struct lxc_msg {lxc_msg_type_t type; char name[NAME_MAX + 1]; int value;}, type 0: state
_STATE_MSG = struct.Struct("i256si")
# struct cgroup_fd {s32 layout; u32 utilities; s32 type; s32 fd; char controller[64];}
_CGROUP_FD = struct.Struct("iIii64s")
CGROUP_CTX_MAX_FD = 20
# struct cgroup_ctx {s32 layout; u32 utilities; u32 fd_len; s32 fd[20];}, 8-aligned
_CGROUP_CTX = struct.Struct(f"iII{CGROUP_CTX_MAX_FD}i4x")
LAYOUT_LEGACY, LAYOUT_HYBRID, LAYOUT_UNIFIED = 0, 1, 2
CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC = 0x27E0EB, 0x63677270
FREEZER_CONTROLLER = 1 << 1

REAP, KEEP = "reap", "keep"


class LxcConn:
    """One client of LXC's socket, registered in the monitor's poller and its clients
    (so a held tty is busy, and the monitor does not go lean, while it is open)."""

    lxc = True

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.states: Optional[bytes] = None  # a state client: the states it waits for

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        self.sock.close()

    def answer(self, ret: int = 0, value: int = 0, data: bytes = b"",
               fds: Tuple[int, ...] = ()) -> None:
        anc = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))] \
            if fds else []
        self.sock.sendmsg([_REQ.pack(ret, len(data), value)], anc)
        if data:
            self.sock.sendall(data)

    def send(self, msg: Dict[str, Any], fds: Optional[List[int]] = None) -> None:
        """What Monitor._get_console sends a channel, as LXC's answer to GET_TTY_FD."""
        self.answer(0, int(msg.get("ttynum", 0)), fds=tuple(fds or ()))


class Server:
    """LXC's requests to one monitor (lxcz.runtime.start.Monitor)."""

    def __init__(self, mon: Any, sock: Optional[_socket.socket]) -> None:
        self.mon = mon
        self.sock = sock  # the listening socket (Monitor.lxc_sock)

    def accept(self) -> None:
        try:
            fd, _ = self.sock._accept()  # _socket's accept: close-on-exec
        except OSError:
            return
        conn = _socket.socket(fileno=fd)
        creds = conn.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
        uid = int.from_bytes(creds[4:8], sys.byteorder)
        client = LxcConn(conn)
        if uid not in (0, os.geteuid()):  # LXC's own check
            try:
                conn.setblocking(False)
                client.answer(-errno.EPERM)
            except OSError:
                pass
            conn.close()
            return
        conn.settimeout(5)
        self.mon.clients[client.fd] = client
        self.mon.sel.register(conn, client)

    def readable(self, client: LxcConn) -> None:
        """A request (or, on a held connection, the client going away)."""
        try:
            head = client.sock.recv(_REQ.size, _socket.MSG_WAITALL)
            if len(head) < _REQ.size:
                self.mon._drop(client)
                return
            cmd, datalen, arg = _REQ.unpack(head)
            data = b""
            if datalen > 0:
                if datalen > DATA_MAX:
                    self.mon._drop(client)
                    return
                data = client.sock.recv(datalen, _socket.MSG_WAITALL)
                if len(data) < datalen:
                    self.mon._drop(client)
                    return
            if self.handle(client, cmd, arg, data) != KEEP:
                self.mon._drop(client)
        except OSError:
            self.mon._drop(client)

    # -- the commands ------------------------------------------------------------------
    def handle(self, client: LxcConn, cmd: int, arg: int, data: bytes) -> str:
        mon = self.mon
        s = mon.spec
        if cmd == GET_STATE:
            client.answer(0, STATES.index(mon.current_state()))
        elif cmd == GET_INIT_PID:
            client.answer(0, mon.init_pid)
        elif cmd == GET_INIT_PIDFD:
            try:
                pidfd = os.pidfd_open(mon.init_pid)
            except (OSError, AttributeError):
                client.answer(-errno.EBADF)
                return REAP
            try:
                client.answer(0, fds=(pidfd,))
            finally:
                os.close(pidfd)
        elif cmd == GET_CLONE_FLAGS:
            from lxcz.sys import calls

            flags = 0
            for ns in s.clone:
                if ns not in s.share:
                    flags |= calls.NAMESPACES.get(ns, 0)
            client.answer(0, flags)
        elif cmd in (GET_NAME, GET_LXCPATH):
            text = s.name if cmd == GET_NAME else s.lxcpath
            client.answer(0, data=text.encode() + b"\0")
        elif cmd == GET_CONFIG_ITEM:
            try:
                value = mon._config_item(_string(data))
            except (LxczError, ValueError):
                value = ""
            if not value:
                client.answer(-1)
            else:
                client.answer(0, data=value.encode() + b"\0")
        elif cmd in (GET_CGROUP, GET_LIMIT_CGROUP):
            try:
                rel = self._cgroup_rel(_string(data) if data else "")
            except ValueError:
                client.answer(-errno.EINVAL)
                return REAP
            if rel is None:
                return REAP  # LXC closes without an answer, its client reads "no path"
            client.answer(0, data=rel.encode() + b"\0")
        elif cmd in (GET_CGROUP_FD, GET_LIMIT_CGROUP_FD):
            self._cgroup_fd(client, data)
        elif cmd in (GET_CGROUP2_FD, GET_LIMIT_CGROUP2_FD):
            path = self._paths().get("unified")
            if path is None or self._layout() != LAYOUT_UNIFIED:
                client.answer(-errno.EINVAL)
            else:
                self._send_dirs(client, 0, b"", [path])
        elif cmd == GET_CGROUP_CTX:
            self._cgroup_ctx(client, data)
        elif cmd == STOP:
            return self._stop(client)
        elif cmd == ADD_STATE_CLIENT:
            return self._add_state_client(client, data)
        elif cmd == SERVE_STATE_CLIENTS:
            if 0 <= arg < MAX_STATE:
                mon.set_state_event(STATES[arg])
            client.answer(0)
        elif cmd in (FREEZE, UNFREEZE):
            client.answer(self._freeze(cmd == FREEZE, arg))
        elif cmd == GET_TTY_FD:
            try:
                mon._get_console(client, arg)
            except (LxczError, OSError):
                client.answer(-errno.EBADF)
                return REAP
            return KEEP
        elif cmd in (GET_DEVPTS_FD, GET_SECCOMP_NOTIFY_FD):
            client.answer(-errno.EBADF)  # LXC's answer when it holds none
        elif cmd == GET_SYSTEMD_SCOPE:
            client.answer(-errno.EINVAL)
        else:  # the console ring buffer, seccomp listeners, bpf device rules, unknown
            client.answer(-errno.ENOSYS)
        return REAP

    def _stop(self, client: LxcConn) -> str:
        """LXC_CMD_STOP: lxc.signal.stop (SIGKILL unless set) to init, the cgroup thawed;
        no answer: the connection closes when the monitor ends."""
        mon = self.mon
        sig = mon.spec.stop_signal
        if mon.init_pid <= 0 or mon.status is not None:
            client.answer(-errno.ESRCH)
            return REAP
        if sig == _signal.SIGKILL:
            mon.stopping = True
            mon._stop_now()
        else:
            try:
                os.kill(mon.init_pid, sig)
            except OSError as err:
                client.answer(-(err.errno or errno.ESRCH))
                return REAP
            if mon.cgroup is not None:
                try:
                    mon.cgroup.thaw()
                except LxczError as err:
                    log.warning("%s", err)
        mon.waiters.append(client)
        return KEEP

    def _add_state_client(self, client: LxcConn, data: bytes) -> str:
        if len(data) != 4 * MAX_STATE:
            client.answer(-errno.EINVAL)
            return REAP
        wanted = struct.unpack(f"{MAX_STATE}i", data)
        now = STATES.index(self.mon.current_state())
        if wanted[now] == 1:
            client.answer(0, now)  # already there: the client reads no message
            return KEEP
        client.states = bytes(1 if w else 0 for w in wanted)
        client.answer(0, MAX_STATE)
        return KEEP

    def notify(self, state: str) -> None:
        """A state change: its message to each state client waiting for it, which is then
        let go (LXC's lxc_serve_state_clients)."""
        index = STATES.index(state) if state in STATES else -1
        if index < 0:
            return
        msg = _STATE_MSG.pack(0, self.mon.spec.name.encode()[:255], index)
        for client in [c for c in self.mon.clients.values() if getattr(c, "lxc", False)]:
            if client.states is None or not client.states[index]:
                continue
            try:
                client.sock.send(msg, _socket.MSG_NOSIGNAL)
            except OSError:
                pass
            self.mon._drop(client)

    def _freeze(self, freeze: bool, timeout: int) -> int:
        """LXC's monitor freezes only a pure cgroup2 layout itself; else -ENOENT."""
        cg = self.mon.cgroup
        if cg is None or self._layout() != LAYOUT_UNIFIED:
            return -errno.ENOENT
        wait = None if timeout < 0 else float(timeout)
        try:
            cg.freeze(wait) if freeze else cg.thaw(wait)
        except LxczError:
            return -errno.ETIMEDOUT
        return 0

    # -- cgroups ---------------------------------------------------------------------------
    def _paths(self) -> Dict[str, str]:
        cg = self.mon.cgroup
        return dict(cg.paths) if cg is not None else {}

    def _layout(self) -> int:
        keys = set(self._paths())
        if keys == {"unified"}:
            return LAYOUT_UNIFIED
        return LAYOUT_HYBRID if "unified" in keys else LAYOUT_LEGACY

    def _hierarchy(self, controller: str) -> Optional[Tuple[str, str]]:
        """(key, directory) of the container's cgroup holding controller; "" or unknown
        to v1: cgroup2's (LXC's get_hierarchy)."""
        found = self._paths()
        for key, path in found.items():
            if key != "unified" and controller and controller in key.split(","):
                return key, path
        if "unified" not in found:
            return None
        if (self._v2_has(found["unified"], controller) if controller
                else self._layout() == LAYOUT_UNIFIED):
            return "unified", found["unified"]
        return None

    @staticmethod
    def _v2_has(path: str, controller: str) -> bool:
        try:
            with open(os.path.join(path, "cgroup.controllers")) as f:
                return controller in f.read().split()
        except OSError:
            return False

    def _cgroup_rel(self, controller: str) -> Optional[str]:
        """The container's cgroup as /proc/PID/cgroup shows it for controller."""
        pid = self.mon.init_pid
        found = self._hierarchy(controller)
        if found is None or pid <= 0:
            return None
        key = "" if found[0] == "unified" else found[0]
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                for line in f:
                    _num, keys, path = line.rstrip("\n").split(":", 2)
                    if keys == key:
                        return path
        except (OSError, ValueError):
            pass
        return None

    def _cgroup_fd(self, client: LxcConn, data: bytes) -> None:
        raw = data[:_CGROUP_FD.size].ljust(_CGROUP_FD.size, b"\0")
        _layout, _util, kind, _fd, name = _CGROUP_FD.unpack(raw)
        controller = name.split(b"\0", 1)[0].decode(errors="replace")
        found = self._hierarchy(controller) if controller else None
        if found is None:
            client.answer(-errno.EINVAL if not controller else -errno.ENOENT)
            return
        key, path = found
        magic = CGROUP2_SUPER_MAGIC if key == "unified" else CGROUP_SUPER_MAGIC
        if kind not in (0, magic):
            client.answer(-errno.EINVAL)
            return
        util = self._utilities(path) if key == "unified" else 0
        body = _CGROUP_FD.pack(self._layout(), util, magic, -1, name)
        self._send_dirs(client, 0, body[:len(data)] if data else b"", [path])

    def _cgroup_ctx(self, client: LxcConn, data: bytes) -> None:
        found = self._paths()
        dirs = list(found.items())[:CGROUP_CTX_MAX_FD]
        util = self._utilities(found["unified"]) if self._layout() == LAYOUT_UNIFIED else 0
        if not dirs:
            client.answer(-errno.ENOENT)
            return
        fds = list(range(len(dirs))) + [0] * (CGROUP_CTX_MAX_FD - len(dirs))
        body = _CGROUP_CTX.pack(self._layout(), util, len(dirs), *fds)
        self._send_dirs(client, 0, body[:len(data)], [p for _k, p in dirs])

    @staticmethod
    def _utilities(path: str) -> int:
        return FREEZER_CONTROLLER if os.path.exists(os.path.join(path, "cgroup.freeze")) \
            else 0

    @staticmethod
    def _send_dirs(client: LxcConn, ret: int, body: bytes, dirs: List[str]) -> None:
        fds: List[int] = []
        try:
            for path in dirs:
                fds.append(os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC))
        except OSError as err:
            client.answer(-(err.errno or errno.ENOENT))
        else:
            client.answer(ret, data=body, fds=tuple(fds))
        finally:
            for fd in fds:
                os.close(fd)


def _string(data: bytes) -> str:
    """A NUL-terminated request string (LXC's validate_string_request): ValueError when
    it is not one."""
    if not data or data[-1:] != b"\0" or b"\0" in data[:-1]:
        raise ValueError("not a string")
    return data[:-1].decode(errors="replace")
