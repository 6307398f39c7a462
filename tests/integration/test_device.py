"""lxc-device: a device node and a network interface added to a running container and
taken back, with the bad inputs, on a container this test starts and stops."""

from __future__ import annotations

import os
import random
import subprocess

import pytest
from runtime_fixtures import fresh_busybox, lxcz

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@pytest.fixture
def running(tmp_path):
    name = "dev1"
    lxcpath, _ = fresh_busybox(tmp_path, name)
    r = lxcz("lxc-start", "-P", lxcpath, "-n", name)
    assert r.returncode == 0, r.stderr
    try:
        yield lxcpath, name
    finally:
        lxcz("lxc-stop", "-P", lxcpath, "-n", name, "-k")


def attach(lxcpath: str, name: str, *cmd: str) -> subprocess.CompletedProcess:
    return lxcz("lxc-attach", "-P", lxcpath, "-n", name, "--", *cmd)


def test_interface_in_and_out(running):
    lxcpath, name = running
    host = f"lxczdv{random.randint(100, 999)}"
    subprocess.run(["ip", "link", "add", host, "type", "veth", "peer", "name", host + "p"],
                   check=True)
    try:
        r = lxcz("lxc-device", "-P", lxcpath, "-n", name, "add", host, "eth9")
        assert r.returncode == 0, r.stderr
        assert "eth9" in attach(lxcpath, name, "/bin/busybox", "ip", "link").stdout
        assert subprocess.run(["ip", "link", "show", host], capture_output=True).returncode
        r = lxcz("lxc-device", "-P", lxcpath, "-n", name, "del", "eth9", host)
        assert r.returncode == 0, r.stderr
        assert subprocess.run(["ip", "link", "show", host], capture_output=True).returncode == 0
    finally:
        subprocess.run(["ip", "link", "del", host], capture_output=True)


def test_device_node_in_and_out(running):
    lxcpath, name = running
    r = lxcz("lxc-device", "-P", lxcpath, "-n", name, "add", "/dev/loop7")
    assert r.returncode == 0, r.stderr
    out = attach(lxcpath, name, "/bin/ls", "-l", "/dev/loop7").stdout
    assert out.startswith("b") and "7,   7" in out
    assert lxcz("lxc-device", "-P", lxcpath, "-n", name, "del", "/dev/loop7").returncode == 0
    assert attach(lxcpath, name, "/bin/ls", "/dev/loop7").returncode != 0


def test_symlink_in_the_container_cannot_reach_the_host(running, tmp_path):
    """A container-made symlink /dev/evil -> /hostdir must resolve inside the container."""
    lxcpath, name = running
    outside = tmp_path / "outside"
    outside.mkdir()
    attach(lxcpath, name, "/bin/ln", "-s", str(outside), "/dev/evil")
    lxcz("lxc-device", "-P", lxcpath, "-n", name, "add", "/dev/loop7", "/dev/evil/loop7")
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("argv,msg", [
    (["add", "nosuch0"], "host interface 'nosuch0' does not exist"),
    (["add", "/etc/passwd"], "/etc/passwd is not a device node"),
    (["del", "/dev/nosuchdev"], "/dev/nosuchdev does not exist in the container"),
    (["del", "eth42"], "has no interface 'eth42'"),
    (["frob", "x"], "add or del"),
])
def test_bad_input(running, argv, msg):
    lxcpath, name = running
    r = lxcz("lxc-device", "-P", lxcpath, "-n", name, *argv)
    assert r.returncode != 0 and msg in r.stderr


def test_not_running(tmp_path):
    r = lxcz("lxc-device", "-P", str(tmp_path), "-n", "ghost", "add", "/dev/loop7")
    assert r.returncode != 0 and r.stderr.count("\n") == 1
