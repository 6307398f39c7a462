"""lxcz.runtime.lxcwire against a stand-in for LXC's monitor: LXC 5's socket names (plain
and hashed), the binary request with the caller's credentials, answers in the data field
(negative ones too), a descriptor handed over with the answer, and no monitor at all."""

from __future__ import annotations

import os
import socket
import struct
import threading

from lxcz.runtime import lxcwire, paths

MSG = struct.Struct("iin")


def test_socket_names_as_lxc_makes_them():
    assert lxcwire.socket_name("/var/lib/lxc", "c1") == "/var/lib/lxc/c1/command"
    assert lxcwire.socket_name("/var/lib/lxc/", "c1") == "/var/lib/lxc/c1/command"
    long_path = "/srv/" + "x" * 100
    name = lxcwire.socket_name(long_path, "c1")
    h = 0xCBF29CE484222325  # FNV-1a 64 of "LXCPATH/NAME", as lxc_make_abstract_socket_name
    for byte in f"{long_path}/c1".encode():
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    assert name == f"lxc/{h:016x}/command"


class FakeMonitor:
    """Listens where LXC's monitor of NAME would; answers each request with answer(cmd,
    arg) -> (ret, data, fd or None), recording (cmd, arg, credentials)."""

    def __init__(self, lxcpath: str, name: str, answer) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(paths.abstract(lxcwire.socket_name(lxcpath, name)))
        self.sock.listen(4)
        self.answer = answer
        self.seen: list = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            data, anc, _, _ = conn.recvmsg(MSG.size, socket.CMSG_SPACE(12))
            cmd, _datalen, arg = MSG.unpack(data)
            creds = [struct.unpack("iII", blob) for lvl, kind, blob in anc
                     if kind == socket.SCM_CREDENTIALS]
            self.seen.append((cmd, arg, creds))
            ret, value, fd = self.answer(cmd, arg)
            anc_out = [] if fd is None else [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                              struct.pack("i", fd))]
            conn.sendmsg([MSG.pack(ret, 0, value)], anc_out)
            conn.close()

    def close(self) -> None:
        # An accepted connection carries the listener's name in /proc/net/unix until the
        # serving thread closes it; join so that nothing named is left behind.
        self.sock.shutdown(socket.SHUT_RDWR)
        self.thread.join(5)
        self.sock.close()


def test_state_pid_and_credentials(tmp_path):
    answers = {lxcwire.CMD_GET_STATE: (0, 6, None), lxcwire.CMD_GET_INIT_PID: (0, 4242, None)}
    mon = FakeMonitor(str(tmp_path), "c1", lambda cmd, arg: answers[cmd])
    try:
        assert lxcwire.is_running(str(tmp_path), "c1")
        assert lxcwire.running_names(str(tmp_path)) == ["c1"]
        assert lxcwire.state(str(tmp_path), "c1") == "FROZEN"
        assert lxcwire.init_pid(str(tmp_path), "c1") == 4242
        answers[lxcwire.CMD_GET_INIT_PID] = (0, -1, None)  # sign-extended in the pointer
        assert lxcwire.init_pid(str(tmp_path), "c1") == -1
        assert mon.seen[0][2] == [(os.getpid(), os.getuid(), os.getgid())]
    finally:
        mon.close()
    assert lxcwire.state(str(tmp_path), "c1") is None
    assert lxcwire.init_pid(str(tmp_path), "c1") == -1
    assert not lxcwire.is_running(str(tmp_path), "c1")


def test_tty_is_handed_over_and_held(tmp_path):
    r, w = os.pipe()
    mon = FakeMonitor(str(tmp_path), "c1", lambda cmd, arg: (0, 3 if arg == -1 else arg, w))
    try:
        fd, num, conn = lxcwire.get_tty(str(tmp_path), "c1", -1)
        try:
            assert num == 3 and mon.seen[-1][:2] == (lxcwire.CMD_GET_TTY_FD, -1)
            os.write(fd, b"x")
            assert os.read(r, 1) == b"x"  # the very descriptor the monitor sent
        finally:
            os.close(fd)
            conn.close()
    finally:
        mon.close()
        os.close(r)
        os.close(w)


def test_busy_tty_is_an_error(tmp_path):
    mon = FakeMonitor(str(tmp_path), "c1", lambda cmd, arg: (-16, 0, None))
    try:
        try:
            lxcwire.get_tty(str(tmp_path), "c1", 1)
        except OSError as err:
            assert "busy" in str(err)
        else:
            raise AssertionError("a refused tty was accepted")
    finally:
        mon.close()
