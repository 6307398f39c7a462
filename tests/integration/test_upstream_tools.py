"""A container lxcz runs, seen and handled by upstream LXC 5's own tools (lxcz's monitor
serves LXC's command socket, lxcz.runtime.lxcserve): LXC's lxc-start refuses to start a
second copy, lxc-info, lxc-ls and lxc-wait report what lxcz's tools report, lxc-attach,
lxc-cgroup, lxc-freeze, lxc-console and lxc-stop (clean, -r, -k) act on it, lxc-destroy
refuses it; a daemon monitor that re-executed itself lean still answers; nothing is left
behind."""

from __future__ import annotations

import glob
import os
import subprocess
import time

import pytest
from runtime_fixtures import (
    HALT_USR1,
    UPSTREAM_MARKS,
    console_session,
    fresh_busybox,
    have_busybox,
    lxcz,
    popen,
    snapshot,
    unique,
    up,
    wait_clean,
)

pytestmark = UPSTREAM_MARKS


def _defined(tmp_path, prefix, extra=HALT_USR1):
    """(lxcpath, name, host snapshot) of a new busybox container (fresh_busybox)."""
    name = unique(prefix)
    path, _rootfs = fresh_busybox(tmp_path, name, extra)
    return path, name, snapshot(name)


def _started(tmp_path, extra):
    """(lxcpath, name) of a busybox container (define_busybox with extra) lxcz started
    (lxc-start -d); afterwards stopped, and nothing of it left on the host."""
    path, name, before = _defined(tmp_path, "ut", extra)
    r = lxcz("lxc-start", "-P", path, "-n", name)
    assert r.returncode == 0, r.stderr
    try:
        yield path, name
    finally:
        lxcz("lxc-stop", "-P", path, "-n", name, "-k", timeout=20)
        assert wait_clean(name, before) == before


@pytest.fixture
def box(tmp_path):
    yield from _started(tmp_path, "lxc.signal.halt = SIGUSR1\nlxc.tty.max = 2\n")


@pytest.fixture
def template_box(tmp_path):
    """A container made by lxcz's lxc-create -t busybox (a shell on the console, as
    LXC's busybox template makes), started by lxcz."""
    if not have_busybox():
        pytest.skip("busybox-static not installed")
    name = unique("ut")
    path = str(tmp_path / "lxc")
    os.makedirs(path)
    empty = os.path.join(path, "empty.conf")
    open(empty, "w").close()
    before = snapshot(name)
    r = lxcz("lxc-create", "-P", path, "-n", name, "-t", "busybox", "-f", empty)
    assert r.returncode == 0, r.stderr
    try:
        assert lxcz("lxc-start", "-P", path, "-n", name).returncode == 0
        yield path, name
    finally:
        lxcz("lxc-stop", "-P", path, "-n", name, "-k", timeout=20)
        assert wait_clean(name, before) == before


def test_views_and_no_second_start(box):
    path, name = box
    pid = lxcz("lxc-info", "-P", path, "-n", name, "-pH").stdout
    for args in (["lxc-info", "-s", "-p"], ["lxc-info", "-sH"], ["lxc-info", "-c",
                                                                 "lxc.uts.name"]):
        mine, theirs = lxcz(*args, "-P", path, "-n", name), up(*args, "-P", path, "-n", name)
        assert mine.returncode == theirs.returncode == 0, theirs.stderr
        assert mine.stdout == theirs.stdout, args
    for args in (["lxc-ls"], ["lxc-ls", "-f"], ["lxc-ls", "--running"], ["lxc-ls", "--stopped"],
                 ["lxc-ls", "-f", "-F", "NAME,STATE,PID"]):
        mine, theirs = lxcz(*args, "-P", path), up(*args, "-P", path)
        assert mine.returncode == theirs.returncode == 0, theirs.stderr
        assert mine.stdout == theirs.stdout, args
    assert up("lxc-wait", "-P", path, "-n", name, "-s", "RUNNING", "-t", "5").returncode == 0
    r = up("lxc-start", "-P", path, "-n", name)
    assert "already running" in r.stderr, r.stderr
    # nothing started: one payload cgroup, the same init
    assert not glob.glob(f"/sys/fs/cgroup/*/lxc.payload.{name}-1")
    assert lxcz("lxc-info", "-P", path, "-n", name, "-pH").stdout == pid
    r = up("lxc-destroy", "-P", path, "-n", name)
    assert r.returncode != 0 and "running" in r.stderr
    assert os.path.isdir(os.path.join(path, name, "rootfs", "bin"))


def test_attach_cgroup_freeze(box):
    path, name = box
    r = up("lxc-attach", "-P", path, "-n", name, "--", "/bin/hostname")
    assert r.returncode == 0 and r.stdout.strip() == name, r.stderr
    r = up("lxc-attach", "-P", path, "-n", name, "--", "/bin/sh", "-c", "exit 7")
    assert r.returncode == 7
    # the attached process joined the container's cgroups (the root of its cgroup
    # namespace; in cgroup2 LXC's lxc-attach makes and joins a leaf .lxc, as on its own)
    r = up("lxc-attach", "-P", path, "-n", name, "--", "/bin/cat", "/proc/self/cgroup")
    assert r.returncode == 0, r.stderr
    for line in r.stdout.split():
        assert line.endswith(":/") or line == "0::/.lxc", r.stdout
    assert up("lxc-cgroup", "-P", path, "-n", name, "pids.max", "77").returncode == 0
    assert lxcz("lxc-cgroup", "-P", path, "-n", name, "pids.max").stdout.strip() == "77"
    assert up("lxc-cgroup", "-P", path, "-n", name, "pids.max").stdout.strip() == "77"
    assert up("lxc-freeze", "-P", path, "-n", name).returncode == 0
    assert lxcz("lxc-info", "-P", path, "-n", name, "-sH").stdout.strip() == "FROZEN"
    assert up("lxc-wait", "-P", path, "-n", name, "-s", "FROZEN", "-t", "5").returncode == 0
    assert up("lxc-unfreeze", "-P", path, "-n", name).returncode == 0
    assert up("lxc-info", "-P", path, "-n", name, "-sH").stdout.strip() == "RUNNING"


def test_console(template_box):
    path, name = template_box
    out, code = console_session(["/usr/bin/lxc-console", "-P", path, "-n", name, "-t", "0"])
    assert b"Connected to tty 0" in out and b"hi-42" in out, out
    assert code == 0


def test_stop_reboot_clean_kill(box):
    path, name = box
    pid = int(up("lxc-info", "-P", path, "-n", name, "-pH").stdout)
    r = up("lxc-stop", "-P", path, "-n", name, "-r", "-t", "20")
    assert r.returncode == 0, r.stderr
    assert lxcz("lxc-wait", "-P", path, "-n", name, "-s", "RUNNING", "-t", "5").returncode == 0
    assert int(lxcz("lxc-info", "-P", path, "-n", name, "-pH").stdout) != pid
    r = up("lxc-stop", "-P", path, "-n", name, "-t", "10")  # halt (SIGUSR1), waits
    assert r.returncode == 0, r.stderr
    assert lxcz("lxc-info", "-P", path, "-n", name, "-sH").stdout.strip() == "STOPPED"
    assert lxcz("lxc-start", "-P", path, "-n", name).returncode == 0
    time.sleep(0.8)  # past lean.IDLE: the daemon monitor re-executed itself
    r = up("lxc-stop", "-P", path, "-n", name, "-k")
    assert r.returncode == 0, r.stderr
    assert up("lxc-info", "-P", path, "-n", name, "-sH").stdout.strip() == "STOPPED"
    assert lxcz("lxc-info", "-P", path, "-n", name, "-sH").stdout.strip() == "STOPPED"


def test_execute_seen_by_lxc(tmp_path):
    path, name, before = _defined(tmp_path, "ux")
    proc = popen("lxc-execute", "-P", path, "-n", name, "--", "/bin/sleep", "30")
    try:
        r = lxcz("lxc-wait", "-P", path, "-n", name, "-s", "RUNNING", "-t", "10")
        assert r.returncode == 0, r.stderr
        assert up("lxc-info", "-P", path, "-n", name, "-sH").stdout.strip() == "RUNNING"
        r = up("lxc-attach", "-P", path, "-n", name, "--", "/bin/ps")
        assert r.returncode == 0 and "init.lxcz" in r.stdout and "sleep 30" in r.stdout
        assert up("lxc-stop", "-P", path, "-n", name, "-k").returncode == 0
        assert proc.wait(10) == 137
    finally:
        if proc.poll() is None:
            lxcz("lxc-stop", "-P", path, "-n", name, "-k")
            proc.wait(10)
    assert wait_clean(name, before) == before


def test_lxc_monitor_hears_lxcz(tmp_path):
    """LXC's lxc-monitor (through its lxc-monitord) prints lxcz's state changes as it
    prints LXC's own."""
    path, name, before = _defined(tmp_path, "um")
    mon = subprocess.Popen(["/usr/bin/lxc-monitor", "-P", path, "-n", name],
                           stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 5  # lxc-monitord makes its FIFO
        while not os.path.exists(f"/run/lxc/{path}/monitor-fifo"):
            assert time.monotonic() < deadline, "lxc-monitord made no FIFO"
            time.sleep(0.05)
        assert lxcz("lxc-start", "-P", path, "-n", name).returncode == 0
        assert lxcz("lxc-stop", "-P", path, "-n", name, "-k").returncode == 0
        lines = []
        deadline = time.monotonic() + 5
        while not lines or "[STOPPED]" not in lines[-1]:
            assert time.monotonic() < deadline, lines
            lines.append(mon.stdout.readline().strip())
    finally:
        mon.terminate()
        mon.wait(5)
    assert lines == [f"'{name}' changed state to [{s}]" for s in ("STARTING", "RUNNING")] + \
        [f"'{name}' exited with status [0]"] + \
        [f"'{name}' changed state to [{s}]" for s in ("STOPPING", "STOPPED")]
    assert wait_clean(name, before) == before
