"""A container lxcz runs, seen and handled by upstream LXC 5's own tools (lxcz's monitor
serves LXC's command socket, lxcz.runtime.lxcserve): LXC's lxc-start refuses to start a
second copy, lxc-info, lxc-ls and lxc-wait report what lxcz's tools report, lxc-attach,
lxc-cgroup, lxc-freeze, lxc-console and lxc-stop (clean, -r, -k) act on it, lxc-destroy
refuses it; a daemon monitor that re-executed itself lean still answers; nothing is left
behind."""

from __future__ import annotations

import glob
import os
import pty
import select
import subprocess
import time

import pytest
from runtime_fixtures import (
    UPSTREAM_MARKS,
    define_busybox,
    have_busybox,
    lxcz,
    popen,
    snapshot,
    unique,
    up,
    wait_clean,
)

pytestmark = UPSTREAM_MARKS


def _started(tmp_path, extra):
    """(lxcpath, name) of a busybox container (define_busybox with extra) lxcz started
    (lxc-start -d); afterwards stopped, and nothing of it left on the host."""
    if not have_busybox():
        pytest.skip("busybox-static not installed")
    name = unique("ut")
    path = str(tmp_path / "lxc")
    define_busybox(path, name, extra)
    before = snapshot(name)
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
    pid, fd = pty.fork()
    if pid == 0:
        os.execv("/usr/bin/lxc-console", ["lxc-console", "-P", path, "-n", name, "-t", "0"])
    out = b""

    def pump(seconds: float) -> None:
        nonlocal out
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    return

    try:
        pump(1.0)
        os.write(fd, b"\r")
        pump(0.5)
        os.write(fd, b"echo hi-$((6*7))\r")
        pump(1.0)
        os.write(fd, b"\x01q")
        pump(1.0)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert b"Connected to tty 0" in out and b"hi-42" in out, out
    assert os.waitstatus_to_exitcode(status) == 0


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
    if not have_busybox():
        pytest.skip("busybox-static not installed")
    name = unique("ux")
    path = str(tmp_path / "lxc")
    define_busybox(path, name)
    before = snapshot(name)
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

    if not have_busybox():
        pytest.skip("busybox-static not installed")
    name = unique("um")
    path = str(tmp_path / "lxc")
    define_busybox(path, name)
    before = snapshot(name)
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
