"""Network interfaces made, moved into a namespace, configured and undone, on this kernel.

Each test makes its own bridge and its own processes in new network namespaces (plain
`unshare -n sleep`), and compares the host's links and routes before and after. Traffic
goes only between those namespaces and that bridge.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time

import pytest

from lxcz.errors import LxczError

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def host_snapshot() -> tuple:
    links = sorted(line.split(":")[1].strip().split("@")[0]
                   for line in sh("ip", "-o", "link").splitlines())
    return links, sh("ip", "route"), sh("ip", "-6", "route")


@pytest.fixture
def netns_proc():
    """Processes in fresh network namespaces; killed (only these) at the end."""
    procs = []

    def make() -> int:
        p = subprocess.Popen(["unshare", "-n", "sleep", "60"])
        procs.append(p)
        for _ in range(100):
            if not os.path.exists(f"/proc/{p.pid}/ns/net"):
                break
            if os.stat(f"/proc/{p.pid}/ns/net").st_ino != os.stat(
                    "/proc/self/ns/net").st_ino:
                return p.pid
            time.sleep(0.01)
        raise RuntimeError("unshare did not make a netns")

    yield make
    for p in procs:
        p.kill()
        p.wait()


@pytest.fixture
def bridge():
    name = f"lxczbr{random.randint(1000, 9999)}"
    sh("ip", "link", "add", name, "type", "bridge")
    sh("ip", "addr", "add", "10.213.7.1/24", "dev", name)
    sh("ip", "link", "set", name, "up")
    try:
        yield name
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True)


def kernel_has(kind: str) -> bool:
    """Can this kernel make a link of this kind? (This machine's has no vlan, dummy, ipvlan.)"""
    name = f"lxczk{random.randint(1000, 9999)}"
    if kind in ("veth", "dummy"):
        extra = ["peer", name + "p"] if kind == "veth" else []
        ok = subprocess.run(["ip", "link", "add", name, "type", kind, *extra],
                            capture_output=True).returncode == 0
        subprocess.run(["ip", "link", "del", name], capture_output=True)
        return ok
    if not kernel_has("veth"):
        return False
    sh("ip", "link", "add", name, "type", "veth", "peer", name + "p")
    extra = ["id", "2"] if kind == "vlan" else []
    try:
        return subprocess.run(["ip", "link", "add", "link", name, "name", name + "v",
                               "type", kind, *extra], capture_output=True).returncode == 0
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True)


@pytest.fixture
def fake_nic():
    """A NIC to hand to a container as phys: a dummy, or one end of a veth pair."""
    name = f"lxczd{random.randint(1000, 9999)}"
    if kernel_has("dummy"):
        sh("ip", "link", "add", name, "type", "dummy")
    else:
        sh("ip", "link", "add", name, "type", "veth", "peer", name + "p")
    try:
        yield name
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True)
        subprocess.run(["ip", "link", "del", name + "p"], capture_output=True)


def in_ns(pid: int, *cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(["nsenter", "-t", str(pid), "-n", *cmd], capture_output=True,
                          text=True)


def test_two_veths_on_a_bridge_ping(netns_proc, bridge):
    from lxcz.net import netdev

    before = host_snapshot()
    a, b = netns_proc(), netns_proc()
    states = []
    try:
        for pid, ip in ((a, "10.213.7.2"), (b, "10.213.7.3")):
            nets = [{"index": 0, "type": "veth", "link": bridge, "flags": "up",
                     "name": "eth1", "mtu": "1400", "hwaddr": "00:16:3e:xx:xx:xx",
                     "ipv4.address": [f"{ip}/24"], "ipv4.gateway": "auto"}]
            st = netdev.prepare("c", nets, pid)
            states.append(st)
            netdev.configure(st)
        out = in_ns(a, "ip", "-o", "addr", "show", "eth1").stdout
        assert "10.213.7.2/24" in out
        link = in_ns(a, "ip", "-o", "link", "show", "eth1").stdout
        assert "mtu 1400" in link and "00:16:3e:" in link
        assert "default via 10.213.7.1" in in_ns(a, "ip", "route").stdout
        assert "state UNKNOWN" in in_ns(a, "ip", "-o", "link", "show", "lo").stdout or \
            "LOOPBACK,UP" in in_ns(a, "ip", "-o", "link", "show", "lo").stdout
        for target in ("10.213.7.3", "10.213.7.1"):
            r = in_ns(a, BUSYBOX, "ping", "-c", "1", "-W", "2", target)
            assert r.returncode == 0, r.stdout + r.stderr
    finally:
        for st in states:
            netdev.teardown(st)
    assert host_snapshot()[0] == sorted(before[0])


def test_macvlan_and_empty(netns_proc, bridge):
    from lxcz.net import netdev

    if not kernel_has("macvlan"):
        pytest.skip("this kernel has no macvlan (CONFIG_MACVLAN)")
    before = host_snapshot()
    pid = netns_proc()
    nets = [
        {"index": 0, "type": "macvlan", "link": bridge, "macvlan.mode": "bridge",
         "flags": "up", "ipv4.address": ["10.213.7.20/24"],
         "ipv6.address": ["fd00:213::2/64"]},
        {"index": 1, "type": "empty"},
    ]
    st = netdev.prepare("c", nets, pid)
    try:
        netdev.configure(st)
        out = in_ns(pid, "ip", "-d", "-o", "link").stdout
        assert "macvlan mode bridge" in out
        addrs = in_ns(pid, "ip", "-o", "addr", "show", "eth0").stdout
        assert "10.213.7.20/24" in addrs and "fd00:213::2/64" in addrs
    finally:
        netdev.teardown(st)
    assert host_snapshot() == before


@pytest.mark.parametrize("kind", ["vlan", "ipvlan"])
def test_vlan_and_ipvlan(netns_proc, fake_nic, kind):
    from lxcz.net import netdev

    if not kernel_has(kind):
        pytest.skip(f"this kernel cannot make {kind} links (the VM guests test it)")
    before = host_snapshot()
    pid = netns_proc()
    net = {"index": 0, "type": kind, "link": fake_nic, "flags": "up", "name": "x0",
           "ipv4.address": ["10.213.9.2/24"]}
    net.update({"vlan.id": "42"} if kind == "vlan" else {"ipvlan.mode": "l2"})
    st = netdev.prepare("c", [net], pid)
    try:
        netdev.configure(st)
        out = in_ns(pid, "ip", "-d", "-o", "link", "show", "x0").stdout
        assert ("vlan protocol 802.1Q id 42" if kind == "vlan" else "ipvlan") in out
        assert "10.213.9.2/24" in in_ns(pid, "ip", "-o", "addr", "show", "x0").stdout
    finally:
        netdev.teardown(st)
    assert host_snapshot() == before


def test_phys_moved_in_and_given_back(netns_proc, fake_nic):
    from lxcz.net import netdev

    name = fake_nic
    before = host_snapshot()
    pid = netns_proc()
    st = netdev.prepare("c", [{"index": 0, "type": "phys", "link": name,
                               "name": "eth5", "flags": "up",
                               "ipv4.address": ["10.213.8.5/24"]}], pid)
    netdev.configure(st)
    assert "eth5" in in_ns(pid, "ip", "-o", "link").stdout
    assert name + ":" not in sh("ip", "-o", "link").replace("@", ":")
    netdev.teardown(st)
    assert host_snapshot()[0] == before[0]


def test_phys_comes_back_after_the_init_died(fake_nic):
    """The monitor holds the netns open, so the NIC is still there to take back."""
    from lxcz.net import netdev

    name = fake_nic
    p = subprocess.Popen(["unshare", "-n", "sleep", "60"])
    try:
        time.sleep(0.2)
        st = netdev.prepare("c", [{"index": 0, "type": "phys", "link": name,
                                   "name": "eth7"}], p.pid)
        st.netns_fd = os.open(f"/proc/{p.pid}/ns/net", os.O_RDONLY)
        netdev.configure(st)
    finally:
        p.kill()
        p.wait()
    netdev.teardown(st)
    links = sh("ip", "-o", "link")
    assert f" {name}@" in links or f" {name}:" in links
    assert "eth7" not in links


@pytest.mark.parametrize("net,match", [
    ({"type": "veth", "link": "nosuchbr0"}, r"lxc.net.0.link: host interface 'nosuchbr0' "),
    ({"type": "bogus"}, r"lxc.net.0.type: unknown network type"),
    ({"type": "vlan", "link": "lo"}, r"lxc.net.0.vlan.id: a vlan interface needs vlan.id"),
    ({"type": "phys", "link": "nosuchnic9"}, r"lxc.net.0.link: host interface"),
    ({"type": "veth", "ipv4.address": ["10.1.1.1"]}, r"has no prefix length"),
])
def test_bad_networks_leave_host_unchanged(netns_proc, net, match):
    from lxcz.net import netdev

    before = host_snapshot()
    pid = netns_proc()
    with pytest.raises(LxczError, match=match):
        netdev.prepare("c", [dict(net, index=0)], pid)
    assert host_snapshot() == before


def test_duplicate_names_refused():
    from lxcz.net import netdev

    with pytest.raises(LxczError, match="lxc.net.1.name: duplicate interface name 'eth0'"):
        netdev.validate([{"index": 0, "type": "veth", "name": "eth0"},
                         {"index": 1, "type": "veth", "name": "eth0"}])


def test_not_a_bridge_refused_and_cleaned(netns_proc, fake_nic):
    from lxcz.net import netdev

    before = host_snapshot()
    pid = netns_proc()
    with pytest.raises(LxczError, match="is not a bridge"):
        netdev.prepare("c", [{"index": 0, "type": "veth", "link": fake_nic}], pid)
    assert host_snapshot() == before


def test_stale_state_of_a_killed_monitor_is_undone(tmp_path, fake_nic):
    """A phys NIC that came back to the host under its container name is renamed back,
    and the state file goes away (what the next start does after a SIGKILLed monitor)."""
    from lxcz.net import netdev

    sh("ip", "link", "set", fake_nic, "name", "eth7")
    try:
        st = netdev.NetState("c", -1, [])
        st.made = [netdev.Made(0, "phys", host_name=fake_nic, peer_tmp=fake_nic,
                               final_name="eth7", moved=True)]
        path = str(tmp_path / "state.json")
        netdev.save_state(st, path)
        assert netdev.cleanup_stale(path) is True
        assert not os.path.exists(path)
        links = sh("ip", "-o", "link")
        assert f" {fake_nic}@" in links and " eth7@" not in links
        assert netdev.cleanup_stale(path) is False
    finally:
        subprocess.run(["ip", "link", "set", "eth7", "name", fake_nic], capture_output=True)
