"""lxc.net.* wired through lxcz.net.netdev by the monitor: veth with an address, empty,
none, and a bad link that fails leaving no interface behind."""

from __future__ import annotations

import os

import pytest
from runtime_fixtures import busybox_box, lxcz, needs_busybox
from runtime_fixtures import sh_with as sh

pytestmark = needs_busybox


def host_links():
    return sorted(os.listdir("/sys/class/net"))


@pytest.fixture
def box(tmp_path, lxcpath):
    links = host_links()
    with busybox_box(tmp_path, lxcpath, "rn") as b:
        yield b
    assert host_links() == links


def test_veth_with_address(box):
    pair = "vz" + box["name"][-8:]
    r = sh(box, "lxc.net.0.type = veth\nlxc.net.0.name = eth0\nlxc.net.0.flags = up\n"
                f"lxc.net.0.veth.pair = {pair}\nlxc.net.0.ipv4.address = 10.213.7.2/24\n",
           f"ip -o -4 addr show eth0; test -e /sys/class/net/{pair} || echo no-host-end")
    assert r.returncode == 0, r.stderr
    assert "10.213.7.2/24" in r.stdout and "no-host-end" in r.stdout
    assert pair not in host_links()


def test_empty_has_loopback_only(box):
    r = sh(box, "lxc.net.0.type = empty\n", "ls /sys/class/net; ip -o link show lo")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == "lo" and "UP" in r.stdout


def test_none_shares_host_netns(box):
    host = os.readlink("/proc/self/ns/net")
    r = sh(box, "lxc.net.0.type = none\n", "readlink /proc/self/ns/net")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == host


def test_bad_link_fails_cleanly(box):
    r = sh(box, "lxc.net.0.type = veth\nlxc.net.0.link = nosuchbr0\n", "echo ran")
    assert r.returncode != 0
    assert "nosuchbr0" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "ran" not in r.stdout


def test_started_container_network_torn_down_on_stop(box):
    pair = "vy" + box["name"][-8:]
    cfg = os.path.join(box["tmp"], "config")
    with open(cfg, "w") as f:
        f.write(f"lxc.rootfs.path = dir:{box['rootfs']}\nlxc.uts.name = {box['name']}\n"
                f"lxc.net.0.type = veth\nlxc.net.0.veth.pair = {pair}\n")
    r = lxcz("lxc-start", "-n", box["name"], "-P", box["lxcpath"], "-f", cfg)
    assert r.returncode == 0, r.stderr
    assert pair in host_links()
    assert lxcz("lxc-stop", "-n", box["name"], "-P", box["lxcpath"], "-k").returncode == 0
    assert pair not in host_links()

