"""lxcz.runtime.api's shared state-stream reading (_follow, _commanded) and what shutdown
and reboot make of it, over a socketpair standing in for a monitor (no root, no kernel)."""

from __future__ import annotations

import json
import os
import signal
import socket

import pytest

from lxcz.runtime import api, client


class FakeChan:
    """The part of a client channel the stream readers use, over one socket end."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.closed = False

    def fileno(self) -> int:
        return self.sock.fileno()

    def feed(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def pop(self):
        line, sep, rest = self.buf.partition(b"\n")
        if not sep:
            return None
        self.buf = rest
        return json.loads(line)

    def close(self) -> None:
        self.closed = True
        self.sock.close()


class Box:
    name = "c1"
    config_path = "/nonexistent/lxcz-test-lxcpath"  # no LXC monitor runs it either


@pytest.fixture
def pair():
    ours, monitor = socket.socketpair()
    chan = FakeChan(ours)
    yield chan, monitor
    monitor.close()
    if not chan.closed:
        chan.close()


def send(monitor: socket.socket, *states: str, close: bool = False) -> None:
    monitor.sendall(b"".join(json.dumps({"state": s}).encode() + b"\n" for s in states))
    if close:
        monitor.shutdown(socket.SHUT_WR)


def stopped(msg) -> bool:
    return msg.get("state") == "STOPPED"


def test_follow_true_when_done_says_so(pair):
    chan, monitor = pair
    send(monitor, "STOPPING", "STOPPED")
    assert api._follow(chan, 5, stopped) is True


def test_follow_none_when_the_monitor_closes(pair):
    chan, monitor = pair
    send(monitor, "STOPPING", close=True)
    assert api._follow(chan, 5, stopped) is None


def test_follow_false_on_timeout(pair):
    chan, _monitor = pair
    assert api._follow(chan, 0.05, stopped) is False
    assert api._follow(chan, 0, stopped) is False


def test_wait_gone_counts_close_and_stopped_not_timeout(pair):
    chan, monitor = pair
    assert api._wait_gone(Box(), chan, 0.05) is False
    send(monitor, "STOPPED")
    assert api._wait_gone(Box(), chan, 5) is True
    send(monitor, close=True)
    assert api._wait_gone(Box(), chan, None) is True


@pytest.fixture
def monitor(pair, monkeypatch):
    """client.state_stream hands out the fake channel; client.call records the command."""
    chan, mon = pair
    sent = []
    monkeypatch.setattr(client, "state_stream", lambda c: (chan, "RUNNING"))
    monkeypatch.setattr(client, "call", lambda c, cmd, **kw: sent.append(cmd))
    return chan, mon, sent


def test_shutdown_sends_and_waits_then_closes(monitor):
    chan, mon, sent = monitor
    send(mon, "STOPPING", "STOPPED")
    assert api.shutdown(Box(), 5) is True
    assert sent == ["shutdown"] and chan.closed


def test_shutdown_timeout_zero_does_not_wait(monitor):
    chan, _mon, sent = monitor
    assert api.shutdown(Box(), 0) is False
    assert sent == ["shutdown"] and chan.closed


def test_shutdown_of_a_container_gone_meanwhile(monitor, monkeypatch):
    chan, _mon, _sent = monitor

    def gone(c, cmd, **kw):
        raise client.NotRunning("c1 is not running")

    monkeypatch.setattr(client, "call", gone)
    assert api.shutdown(Box(), 5) is True
    assert chan.closed


def test_reboot_needs_a_stop_before_running(monitor):
    chan, mon, sent = monitor
    send(mon, "RUNNING", "STOPPING", "RUNNING")
    assert api.reboot(Box(), 5) is True
    assert sent == ["reboot"] and chan.closed


def test_reboot_false_when_it_never_comes_back(monitor):
    chan, mon, _sent = monitor
    send(mon, "STOPPING", "STOPPED", close=True)
    assert api.reboot(Box(), 5) is False
    assert chan.closed


def test_reboot_timeout_zero_only_sends(monitor):
    chan, _mon, sent = monitor
    assert api.reboot(Box(), 0) is True
    assert sent == ["reboot"] and chan.closed


@pytest.mark.parametrize("fn", [api.shutdown, api.reboot])
def test_stopped_container_is_refused(fn, monkeypatch):
    monkeypatch.setattr(client, "state_stream", lambda c: (None, "STOPPED"))
    with pytest.raises(api.NotRunningError, match="c1 is not running") as err:
        fn(Box(), 5)
    assert err.value.exit_code == 2


@pytest.mark.parametrize("text, key, default, want", [
    ("", "lxc.signal.halt", signal.SIGPWR, signal.SIGPWR),  # not set: not signal 0
    ("", "lxc.signal.reboot", signal.SIGINT, signal.SIGINT),
    ("lxc.signal.halt = SIGUSR1\n", "lxc.signal.halt", signal.SIGPWR, signal.SIGUSR1),
    ("lxc.signal.reboot = 15\n", "lxc.signal.reboot", signal.SIGINT, signal.SIGTERM),
])
def test_signal_to_an_init_lxc_runs(tmp_path, monkeypatch, text, key, default, want):
    from lxcz.container import Container
    from lxcz.runtime import lxcwire

    os.makedirs(tmp_path / "c1")
    (tmp_path / "c1" / "config").write_text("lxc.uts.name = c1\n" + text)
    monkeypatch.setattr(lxcwire, "init_pid", lambda lxcpath, name: 4242)
    sent = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: sent.append((pid, sig)))
    assert api._lxc_signal(Container("c1", str(tmp_path)), key, default) == 4242
    assert sent == [(4242, want)]
