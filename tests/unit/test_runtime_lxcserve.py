"""lxcz.runtime.lxcserve: LXC 5's binary requests answered for a stand-in monitor, over a
real socket pair, as LXC's own client reads them (lxcz.runtime.lxcwire's layout)."""

from __future__ import annotations

import errno
import os
import socket
import struct

from lxcz.runtime import lxcserve

REQ = struct.Struct("iin")


class FakeSpec:
    name = "c1"
    lxcpath = "/var/lib/lxc"
    clone = ["mnt", "pid", "uts", "ipc", "net"]
    share: dict = {}
    stop_signal = 9


class FakeCgroup:
    def __init__(self, paths):
        self.paths = paths


class FakeMonitor:
    def __init__(self, paths=None):
        self.spec = FakeSpec()
        self.init_pid = 4242
        self.state = "RUNNING"
        self.status = None
        self.clients: dict = {}
        self.waiters: list = []
        self.dropped: list = []
        self.events: list = []
        self.cgroup = FakeCgroup(paths) if paths else None
        self.config = {"lxc.uts.name": "c1"}

    def current_state(self):
        return self.state

    def _drop(self, client):
        self.clients.pop(client.fileno(), None)
        self.dropped.append(client)
        client.close()

    def _config_item(self, key):
        return self.config.get(key, "")

    def set_state_event(self, state):
        self.events.append(state)


def ask(mon, cmd, data=b"", arg=0, keep=False):
    """Send one request, let the server handle it; (ret, value, body, fds, client end)."""
    server = lxcserve.Server(mon, None)
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    conn = lxcserve.LxcConn(theirs)
    mon.clients[conn.fileno()] = conn
    mine.sendall(REQ.pack(cmd, len(data), arg) + data)
    server.readable(conn)
    mine.settimeout(2)
    head, anc, _f, _a = mine.recvmsg(REQ.size, socket.CMSG_SPACE(4 * 20))
    fds = []
    for _lvl, _kind, blob in anc:
        fds += struct.unpack(f"{len(blob) // 4}i", blob)
    if len(head) < REQ.size:
        mine.close()
        return None
    ret, datalen, value = REQ.unpack(head)
    body = b""
    while len(body) < datalen:
        body += mine.recv(datalen - len(body))
    if not keep:
        mine.close()
        return ret, value, body, fds
    return ret, value, body, fds, mine, server, conn


def test_simple_answers():
    mon = FakeMonitor()
    assert ask(mon, lxcserve.GET_STATE)[:2] == (0, 2)
    mon.state = "FROZEN"
    assert ask(mon, lxcserve.GET_STATE)[:2] == (0, 6)
    assert ask(mon, lxcserve.GET_INIT_PID)[:2] == (0, 4242)
    assert ask(mon, lxcserve.GET_NAME)[2] == b"c1\0"
    assert ask(mon, lxcserve.GET_LXCPATH)[2] == b"/var/lib/lxc\0"
    flags = ask(mon, lxcserve.GET_CLONE_FLAGS)[1]
    assert flags == 0x20000 | 0x20000000 | 0x4000000 | 0x8000000 | 0x40000000
    assert ask(mon, lxcserve.GET_CONFIG_ITEM, b"lxc.uts.name\0")[::2] == (0, b"c1\0")
    assert ask(mon, lxcserve.GET_CONFIG_ITEM, b"lxc.bogus\0")[0] == -1
    assert ask(mon, lxcserve.GET_CONFIG_ITEM, b"no-nul")[0] == -1
    assert ask(mon, 99)[0] == -errno.ENOSYS
    assert ask(mon, lxcserve.CONSOLE_LOG)[0] == -errno.ENOSYS
    assert ask(mon, lxcserve.GET_SECCOMP_NOTIFY_FD)[0] == -errno.EBADF
    # a cgroup path for a controller the container has no cgroup of: closed unanswered
    assert ask(mon, lxcserve.GET_CGROUP, b"memory\0") is None
    assert ask(mon, lxcserve.GET_CGROUP, b"memory")[0] == -errno.EINVAL
    assert ask(mon, lxcserve.SERVE_STATE_CLIENTS, arg=6)[0] == 0
    assert mon.events == ["FROZEN"]
    assert not mon.clients  # every one-shot connection was let go


def test_state_client_waits_and_hears_once():
    mon = FakeMonitor()
    wanted = struct.pack("8i", 1, 0, 0, 0, 0, 0, 0, 0)  # STOPPED
    ret, value, _b, _f, mine, server, conn = ask(mon, lxcserve.ADD_STATE_CLIENT, wanted,
                                                 keep=True)
    try:
        assert (ret, value) == (0, lxcserve.MAX_STATE)  # not there yet: a message later
        assert conn.fileno() in mon.clients
        server.notify("STOPPING")  # not one it waits for
        assert conn.fileno() in mon.clients
        server.notify("STOPPED")
        msg = mine.recv(264, socket.MSG_WAITALL)
        kind, name, state = struct.unpack("i256si", msg)
        assert (kind, name.rstrip(b"\0"), state) == (0, b"c1", 0)
        assert mine.recv(1) == b""  # and let go
        assert conn in mon.dropped
    finally:
        mine.close()
    running = struct.pack("8i", 0, 0, 1, 0, 0, 0, 0, 0)
    assert ask(mon, lxcserve.ADD_STATE_CLIENT, running)[:2] == (0, 2)  # already there
    assert ask(mon, lxcserve.ADD_STATE_CLIENT, b"\1\0\0\0")[0] == -errno.EINVAL


def test_cgroup_descriptors(tmp_path):
    cpu, mem, uni = (tmp_path / "cpu", tmp_path / "mem", tmp_path / "uni")
    for d in (cpu, mem, uni):
        d.mkdir()
    (uni / "cgroup.controllers").write_text("cpu io memory pids\n")
    mon = FakeMonitor({"cpu,cpuacct": str(cpu), "memory": str(mem), "unified": str(uni)})
    req = struct.pack("iIii64s", 0, 0, 0, -1, b"cpuacct")
    ret, _v, body, fds = ask(mon, lxcserve.GET_LIMIT_CGROUP_FD, req)
    try:
        assert ret == 0 and len(fds) == 1 and os.readlink(f"/proc/self/fd/{fds[0]}") == str(cpu)
        layout, _util, kind, _fd, ctl = struct.unpack("iIii64s", body)
        assert (layout, kind, ctl.rstrip(b"\0")) == (1, 0x27E0EB, b"cpuacct")  # hybrid, v1
    finally:
        for fd in fds:
            os.close(fd)
    req = struct.pack("iIii64s", 0, 0, 0, -1, b"pids")  # only in cgroup2 here
    ret, _v, body, fds = ask(mon, lxcserve.GET_CGROUP_FD, req)
    for fd in fds:
        assert os.readlink(f"/proc/self/fd/{fd}") == str(uni)
        os.close(fd)
    assert ret == 0 and struct.unpack("iIii64s", body)[2] == 0x63677270
    req = struct.pack("iIii64s", 0, 0, 0, -1, b"bogus")
    assert ask(mon, lxcserve.GET_CGROUP_FD, req)[0] == -errno.ENOENT
    ret, _v, body, fds = ask(mon, lxcserve.GET_CGROUP_CTX, bytes(96))
    try:
        assert ret == 0 and len(body) == 96
        assert struct.unpack_from("iII", body) == (1, 0, 3)
        assert sorted(os.readlink(f"/proc/self/fd/{fd}") for fd in fds) == \
            sorted(map(str, (cpu, mem, uni)))
    finally:
        for fd in fds:
            os.close(fd)
    # cgroup2's own descriptor is for a pure cgroup2 layout only (as LXC answers)
    assert ask(mon, lxcserve.GET_CGROUP2_FD)[0] == -errno.EINVAL
    assert ask(mon, lxcserve.FREEZE, arg=-1)[0] == -errno.ENOENT
