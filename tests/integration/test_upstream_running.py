"""A container that upstream LXC 5's own lxc-start runs, seen and handled by lxcz's tools
(lxcz.runtime.lxcwire, LXC's command socket): lxc-info, lxc-ls, lxc-wait, lxc-attach,
lxc-console, lxc-stop (clean, -k, -r) report and act as LXC's tools do, and lxc-destroy,
lxc-start and lxc-copy refuse it instead of deleting or starting a running container."""

from __future__ import annotations

import os
import sys

import pytest
from runtime_fixtures import ROOT, UPSTREAM_MARKS, console_session, lxcz, up, up_lxcpath

pytestmark = UPSTREAM_MARKS


@pytest.fixture
def running(tmp_path):
    """(lxcpath, name) of a busybox container made and started by upstream LXC."""
    path, empty = up_lxcpath(tmp_path)
    r = up("lxc-create", "-P", path, "-n", "u1", "-t", "busybox", "-f", empty)
    assert r.returncode == 0, r.stderr
    try:
        r = up("lxc-start", "-P", path, "-n", "u1")
        assert r.returncode == 0, r.stderr
        yield path, "u1"
    finally:
        up("lxc-stop", "-P", path, "-n", "u1", "-k")
        up("lxc-destroy", "-P", path, "-n", "u1", "-f")


def test_views_match_upstream(running):
    path, name = running
    for args in (["lxc-info", "-s", "-p"], ["lxc-info", "-s", "-H"]):
        mine, theirs = lxcz(*args, "-P", path, "-n", name), up(*args, "-P", path, "-n", name)
        assert mine.returncode == theirs.returncode == 0, mine.stderr
        assert mine.stdout == theirs.stdout
    assert "State:          RUNNING" in mine.stdout or mine.stdout.strip() == "RUNNING"
    for args in (["lxc-ls"], ["lxc-ls", "-f"], ["lxc-ls", "--running"], ["lxc-ls", "--stopped"],
                 ["lxc-ls", "-f", "-F", "NAME,STATE,PID"]):
        mine, theirs = lxcz(*args, "-P", path), up(*args, "-P", path)
        assert mine.returncode == theirs.returncode == 0, mine.stderr
        assert mine.stdout == theirs.stdout, args
    assert lxcz("lxc-wait", "-P", path, "-n", name, "-s", "RUNNING", "-t", "5").returncode == 0
    r = lxcz("lxc-wait", "-P", path, "-n", name, "-s", "STOPPED", "-t", "1")
    assert r.returncode != 0


def test_attach_and_freeze(running):
    path, name = running
    r = lxcz("lxc-attach", "-P", path, "-n", name, "--", "/bin/busybox", "hostname")
    assert r.returncode == 0 and r.stdout.strip() == name, r.stderr
    r = lxcz("lxc-attach", "-P", path, "-n", name, "--", "/bin/sh", "-c", "exit 7")
    assert r.returncode == 7
    assert lxcz("lxc-freeze", "-P", path, "-n", name).returncode == 0
    assert up("lxc-info", "-P", path, "-n", name, "-sH").stdout.strip() == "FROZEN"
    assert lxcz("lxc-info", "-P", path, "-n", name, "-sH").stdout.strip() == "FROZEN"
    assert lxcz("lxc-unfreeze", "-P", path, "-n", name).returncode == 0
    assert up("lxc-info", "-P", path, "-n", name, "-sH").stdout.strip() == "RUNNING"


def test_refused_while_upstream_runs_it(running):
    path, name = running
    r = lxcz("lxc-destroy", "-P", path, "-n", name)
    assert r.returncode != 0 and r.stderr.count("\n") == 1 and "running" in r.stderr
    assert os.path.isdir(os.path.join(path, name, "rootfs", "bin"))
    r = lxcz("lxc-start", "-P", path, "-n", name)  # as LXC's: already running, exit 0
    assert r.returncode == 0 and "already running under LXC" in r.stderr, r.stderr
    r = lxcz("lxc-copy", "-P", path, "-n", name, "-N", "copy")
    assert r.returncode != 0 and not os.path.exists(os.path.join(path, "copy"))
    assert up("lxc-info", "-P", path, "-n", name, "-sH").stdout.strip() == "RUNNING"


def test_console(running):
    path, name = running
    out, code = console_session([sys.executable, "-m", "lxcz", "lxc-console", "-P", path,
                                 "-n", name, "-t", "0"], {"PYTHONPATH": ROOT})
    assert b"Connected to tty 0" in out and b"hi-42" in out, out
    assert code == 0


def test_stop_clean_kill_reboot(running):
    path, name = running
    pid = int(up("lxc-info", "-P", path, "-n", name, "-pH").stdout)
    r = lxcz("lxc-stop", "-P", path, "-n", name, "-r", "-t", "20")
    assert r.returncode == 0, r.stderr
    assert up("lxc-info", "-P", path, "-n", name, "-sH").stdout.strip() == "RUNNING"
    assert int(up("lxc-info", "-P", path, "-n", name, "-pH").stdout) != pid
    r = lxcz("lxc-stop", "-P", path, "-n", name, "-t", "5")  # halt, then kill
    assert r.returncode == 0, r.stderr
    assert up("lxc-info", "-P", path, "-n", name, "-sH").stdout.strip() == "STOPPED"
    assert up("lxc-start", "-P", path, "-n", name).returncode == 0
    r = lxcz("lxc-stop", "-P", path, "-n", name, "-k")
    assert r.returncode == 0, r.stderr
    assert up("lxc-info", "-P", path, "-n", name, "-sH").stdout.strip() == "STOPPED"
    r = lxcz("lxc-stop", "-P", path, "-n", name, "-k")
    assert r.returncode == 2 and "not running" in r.stderr


def test_destroy_force_stops_it_first(running):
    path, name = running
    r = lxcz("lxc-destroy", "-P", path, "-n", name, "-f")
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(os.path.join(path, name))
    assert not lxcwire_running(path, name)


def lxcwire_running(path: str, name: str) -> bool:
    from lxcz.runtime import lxcwire

    return lxcwire.is_running(path, name)
