"""The PID-1 init's logic without a namespace: exit codes, and never kill(-1) unless it
really is PID 1 of its own PID namespace."""

from __future__ import annotations

import os
import signal

import pytest

from lxcz.runtime import init


@pytest.fixture(autouse=True)
def restore_signals():
    saved = {s: signal.getsignal(s) for s in init.FORWARDED + init.SHUTDOWN}
    yield
    for s, h in saved.items():
        signal.signal(s, h)
    try:
        from lxcz.sys import calls

        calls.set_dumpable(True)
    except OSError:
        pass


def test_status_code():
    assert init.status_code(0) == 0
    assert init.status_code(3 << 8) == 3
    assert init.status_code(signal.SIGKILL) == 128 + signal.SIGKILL


def test_not_pid1_never_kills_everything(monkeypatch):
    calls = []
    real_kill = os.kill

    def fake_kill(pid, sig):
        calls.append((pid, sig))
        if pid <= 0:
            raise AssertionError("init sent a signal to a process group or to -1")
        return real_kill(pid, sig)

    monkeypatch.setattr(os, "kill", fake_kill)
    monkeypatch.setattr(os, "setsid", lambda: None)
    assert os.getpid() != 1
    rc = init.run(["/bin/sh", "-c", "exit 4"], None, "lxc-init", "t")
    assert rc == 4
    assert all(pid > 0 for pid, _ in calls)


def test_exec_failure_codes(monkeypatch):
    monkeypatch.setattr(os, "setsid", lambda: None)
    assert init.run(["/no/such/program"], None, "lxc-init", "t") == 127
    assert init.run(["/"], None, "lxc-init", "t") == 126
