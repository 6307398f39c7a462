"""Networking with real containers: two on one bridge ping each other, macvlan, a phys NIC
moved in and given back, the older guides' unindexed config, the views (lxc-info -i,
lxc-ls -f), and cleanup after stop, a failed start and a monitor killed with SIGKILL.

Every test makes its own bridge on a test subnet and compares the host's links and routes
before and after. Traffic goes only between these containers and that bridge.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time

import pytest
from runtime_fixtures import HALT_USR1, define_busybox, have_busybox, lxcz

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def host_state() -> tuple:
    links = sorted(line.split(":")[1].strip().split("@")[0]
                   for line in sh("ip", "-o", "link").splitlines())
    return links, sh("ip", "route"), sh("ip", "-6", "route")


@pytest.fixture
def net(tmp_path):
    if not have_busybox():
        pytest.skip("busybox-static not installed")
    bridge = f"lxczb{random.randint(1000, 9999)}"
    lxcpath = str(tmp_path / "lxc")
    os.makedirs(lxcpath)
    names = []
    before = host_state()
    sh("ip", "link", "add", bridge, "type", "bridge")
    sh("ip", "addr", "add", "10.213.20.1/24", "dev", bridge)
    sh("ip", "link", "set", bridge, "up")

    def container(name: str, netconf: str) -> str:
        define_busybox(lxcpath, name, HALT_USR1 + netconf.replace("BRIDGE", bridge))
        names.append(name)
        return name

    try:
        yield {"lxcpath": lxcpath, "bridge": bridge, "container": container,
               "before": before}
    finally:
        for name in names:
            lxcz("lxc-stop", "-P", lxcpath, "-n", name, "-k")
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)
    for _ in range(50):  # veth ends vanish with their namespace, asynchronously
        if host_state() == before:
            break
        time.sleep(0.05)
    assert host_state() == before, "host links or routes changed"


def veth(addr: str, extra: str = "") -> str:
    return ("lxc.net.0.type = veth\nlxc.net.0.link = BRIDGE\nlxc.net.0.flags = up\n"
            f"lxc.net.0.name = eth0\nlxc.net.0.ipv4.address = {addr}\n"
            "lxc.net.0.ipv4.gateway = auto\nlxc.net.0.hwaddr = 00:16:3e:xx:xx:xx\n" + extra)


def start(n, name):
    r = lxcz("lxc-start", "-P", n["lxcpath"], "-n", name)
    assert r.returncode == 0, r.stderr


def attach(n, name, *cmd):
    return lxcz("lxc-attach", "-P", n["lxcpath"], "-n", name, "--", *cmd)


def test_two_containers_on_a_bridge(net):
    a = net["container"]("na", veth("10.213.20.2/24"))
    b = net["container"]("nb", veth("10.213.20.3/24"))
    start(net, a)
    start(net, b)
    for target in ("10.213.20.3", "10.213.20.1"):
        r = attach(net, a, "/bin/busybox", "ping", "-c", "1", "-W", "2", target)
        assert r.returncode == 0, r.stdout + r.stderr
    assert "default via 10.213.20.1" in attach(net, a, "/bin/busybox", "ip", "route").stdout
    info = lxcz("lxc-info", "-P", net["lxcpath"], "-n", a, "-i").stdout
    assert info.split() == ["IP:", "10.213.20.2"]
    full = lxcz("lxc-info", "-P", net["lxcpath"], "-n", a).stdout
    assert "Link:" in full and "TX bytes:" in full and "RX bytes:" in full
    fancy = lxcz("lxc-ls", "-P", net["lxcpath"], "-f").stdout
    assert "10.213.20.2" in fancy and "10.213.20.3" in fancy
    assert lxcz("lxc-stop", "-P", net["lxcpath"], "-n", a, "-k").returncode == 0
    assert lxcz("lxc-stop", "-P", net["lxcpath"], "-n", b, "-k").returncode == 0


def test_macvlan_with_addresses(net):
    c = net["container"]("nm", "lxc.net.0.type = macvlan\nlxc.net.0.link = BRIDGE\n"
                         "lxc.net.0.macvlan.mode = bridge\nlxc.net.0.flags = up\n"
                         "lxc.net.0.ipv4.address = 10.213.20.30/24\n"
                         "lxc.net.0.ipv6.address = fd00:213:20::30/64\n")
    start(net, c)
    out = attach(net, c, "/bin/busybox", "ip", "addr").stdout
    assert "10.213.20.30/24" in out and "fd00:213:20::30/64" in out


def test_phys_moved_in_and_given_back(net):
    nic = f"lxczp{random.randint(1000, 9999)}"
    sh("ip", "link", "add", nic, "type", "veth", "peer", "name", nic + "x")
    try:
        c = net["container"]("np", f"lxc.net.0.type = phys\nlxc.net.0.link = {nic}\n"
                             "lxc.net.0.name = eth5\nlxc.net.0.flags = up\n"
                             "lxc.net.0.ipv4.address = 10.213.21.5/24\n")
        start(net, c)
        assert "eth5" in attach(net, c, "/bin/busybox", "ip", "link").stdout
        assert subprocess.run(["ip", "link", "show", nic], capture_output=True).returncode
        assert lxcz("lxc-stop", "-P", net["lxcpath"], "-n", c, "-k").returncode == 0
        assert subprocess.run(["ip", "link", "show", nic], capture_output=True).returncode == 0
    finally:
        subprocess.run(["ip", "link", "del", nic], capture_output=True)


def test_older_guides_unindexed_config(net):
    legacy = ("lxc.network.type = veth\nlxc.network.flags = up\nlxc.network.link = BRIDGE\n"
              "lxc.network.name = eth1\nlxc.network.mtu = 1500\n"
              "lxc.network.hwaddr = 4a:49:43:49:79:bd\nlxc.network.ipv4 = 0.0.0.0\n"
              "lxc.network.type = veth\nlxc.network.flags = up\nlxc.network.link = BRIDGE\n"
              "lxc.network.name = eth2\nlxc.network.ipv4 = 10.213.20.40/24\n")
    c = net["container"]("nl", legacy)
    r = lxcz("lxc-start", "-P", net["lxcpath"], "-n", c)
    assert r.returncode == 0, r.stderr
    assert "lxc.network.type" in r.stderr  # the one-line legacy warnings
    out = attach(net, c, "/bin/busybox", "ip", "addr").stdout
    assert "eth1" in out and "4a:49:43:49:79:bd" in out and "mtu 1500" in out
    assert "10.213.20.40/24" in out
    r = attach(net, c, "/bin/busybox", "ping", "-c", "1", "-W", "2", "10.213.20.1")
    assert r.returncode == 0, r.stdout


def test_failed_start_leaves_the_host_unchanged(net):
    c = net["container"]("nf", veth("10.213.20.50/24", "lxc.hook.start-host = /bin/false\n"))
    r = lxcz("lxc-start", "-P", net["lxcpath"], "-n", c)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1
    assert lxcz("lxc-info", "-P", net["lxcpath"], "-n", c, "-s").stdout.split()[-1] == "STOPPED"


def test_monitor_killed_then_start_again_cleans_up(net):
    from lxcz.net import netdev

    c = net["container"]("nk", veth("10.213.20.60/24", "lxc.net.0.veth.pair = lxczkv0\n"))
    start(net, c)
    saved = netdev.state_path(net["lxcpath"], c)
    assert os.path.exists(saved)
    pid = int(lxcz("lxc-info", "-P", net["lxcpath"], "-n", c, "-p").stdout.split()[-1])
    with open(f"/proc/{pid}/status") as fh:
        monitor = int([ln for ln in fh if ln.startswith("PPid:")][0].split()[1])
    os.kill(monitor, signal.SIGKILL)  # the monitor our lxc-start made
    for _ in range(100):
        if lxcz("lxc-info", "-P", net["lxcpath"], "-n", c, "-s").stdout.split()[-1] \
                == "STOPPED":
            break
        time.sleep(0.05)
    lxcz("lxc-stop", "-P", net["lxcpath"], "-n", c, "-k")
    start(net, c)  # cleans what the dead monitor left, then starts normally
    assert "10.213.20.60" in attach(net, c, "/bin/busybox", "ip", "addr").stdout
    assert lxcz("lxc-stop", "-P", net["lxcpath"], "-n", c, "-k").returncode == 0
    assert not os.path.exists(saved)
