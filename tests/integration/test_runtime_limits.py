"""lxc.prlimit.*, lxc.sysctl.*, lxc.proc.*, lxc.arch and lxc.keyring.session applied to
real containers, the host left as it was, and the bad inputs refused before starting."""

from __future__ import annotations

import os

import pytest
from runtime_fixtures import busybox_config, fresh_busybox, lxcz

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@pytest.fixture
def box(tmp_path):
    lxcpath, rootfs = fresh_busybox(tmp_path, "lim", "")

    def run(extra: str, script: str):
        with open(os.path.join(lxcpath, "lim", "config"), "w") as fh:
            fh.write(busybox_config(rootfs, "lim", extra))
        return lxcz("lxc-execute", "-P", lxcpath, "-n", "lim", "--", "/bin/sh", "-c", script)

    return run


def test_prlimits(box):
    r = box("lxc.prlimit.nofile = 1000:2000\nlxc.prlimit.core = unlimited\n",
            "grep -E 'open files|core file' /proc/self/limits")
    assert r.returncode == 0, r.stderr
    lines = {ln.split("  ")[0]: ln.split() for ln in r.stdout.splitlines()}
    assert lines["Max open files"][3:5] == ["1000", "2000"]
    assert lines["Max core file size"][4:6] == ["unlimited", "unlimited"]


def test_sysctl_inside_not_on_the_host(box):
    with open("/proc/sys/net/ipv4/ip_forward") as fh:
        host = fh.read()
    want = "0" if host.strip() == "1" else "1"
    r = box(f"lxc.sysctl.net.ipv4.ip_forward = {want}\nlxc.sysctl.kernel.msgmax = 4321\n",
            "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [want, "4321"]
    with open("/proc/sys/net/ipv4/ip_forward") as fh:
        assert fh.read() == host


def test_proc_and_arch(box):
    r = box("lxc.proc.oom_score_adj = 500\nlxc.arch = i686\n",
            "cat /proc/self/oom_score_adj; uname -m")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["500", "i686"]


def test_session_keyring(box):
    """By default (as in LXC 5) the container joins a new session keyring named _ses."""
    r = box("", "grep -c ' _ses: ' /proc/keys")
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) >= 1
    r = box("lxc.keyring.session = 0\n", "true")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("extra,msg", [
    ("lxc.prlimit.bogus = 10\n", "bogus"),
    ("lxc.sysctl.net.ipv4.no_such_knob = 1\n", "no_such_knob"),
    ("lxc.sysctl.vm.swappiness = 10\n", "vm.swappiness"),
    ("lxc.arch = pdp11\n", "pdp11"),
    ("lxc.prlimit.nofile = 10:5\n", "nofile"),
])
def test_bad_values_refused_before_start(box, extra, msg):
    r = box(extra, "echo should-not-run")
    assert r.returncode != 0 and "should-not-run" not in r.stdout
    assert msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
