"""netdev's one-request veth, its batched in-container configuration and its cleanup, on
this kernel: the host end on its bridge and up, a taken veth.pair name refused without
touching that interface, router-mode host routes, l2proxy entries, gateway "dev", a name
clash inside the container. Each test makes its own bridge and `unshare -n sleep`
processes, and kills only those; traffic stays between them.
"""

from __future__ import annotations

import os
import random
import subprocess
import time

import pytest

from lxcz.errors import LxczError

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def host_links() -> list:
    return sorted(ln.split(":")[1].strip().split("@")[0]
                  for ln in sh("ip", "-o", "link").splitlines())


def in_ns(pid: int, *cmd: str) -> str:
    return subprocess.run(["nsenter", "-t", str(pid), "-n", *cmd], capture_output=True,
                          text=True).stdout


@pytest.fixture
def netns_pid():
    p = subprocess.Popen(["unshare", "-n", "sleep", "60"])
    try:
        for _ in range(100):
            if os.stat(f"/proc/{p.pid}/ns/net").st_ino != os.stat(
                    "/proc/self/ns/net").st_ino:
                break
            time.sleep(0.01)
        else:
            raise RuntimeError("unshare did not make a netns")
        yield p.pid
    finally:
        p.kill()
        p.wait()


@pytest.fixture
def bridge():
    name = f"lxczbb{random.randint(1000, 9999)}"
    sh("ip", "link", "add", name, "type", "bridge")
    try:
        sh("ip", "addr", "add", "10.213.31.1/24", "dev", name)
        sh("ip", "link", "set", name, "up")
        yield name
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True)


def test_host_end_on_the_bridge_up_and_sized(netns_pid, bridge):
    from lxcz.net import netdev

    before = host_links()
    nets = [{"index": 0, "type": "veth", "link": bridge, "flags": "up", "mtu": "1300",
             "veth.pair": f"lxczh{random.randint(1000, 9999)}",
             "ipv4.address": ["10.213.31.2/24"], "ipv4.gateway": "auto"}]
    st = netdev.prepare("c", nets, netns_pid)
    try:
        host = st.made[0].host_name
        assert host == nets[0]["veth.pair"]
        out = sh("ip", "-o", "link", "show", "dev", host)
        assert f"master {bridge}" in out and "mtu 1300" in out and ",UP" in out
        assert st.made[0].peer_tmp not in " ".join(host_links())  # made in the netns
        netdev.configure(st)
        assert "eth0@" in in_ns(netns_pid, "ip", "-o", "link", "show", "eth0")
        assert "default via 10.213.31.1 dev eth0" in in_ns(netns_pid, "ip", "route")
    finally:
        netdev.teardown(st)
    assert host_links() == before


def test_taken_veth_pair_refused_and_left_alone(netns_pid, bridge):
    from lxcz.net import netdev

    taken = f"lxczt{random.randint(1000, 9999)}"
    sh("ip", "link", "add", taken, "type", "veth", "peer", taken + "p")
    try:
        before = host_links()
        with pytest.raises(LxczError, match=rf"lxc.net.0.veth.pair: host interface "
                                            rf"'{taken}' already exists"):
            netdev.prepare("c", [{"index": 0, "type": "veth", "link": bridge,
                                  "veth.pair": taken}], netns_pid)
        assert host_links() == before  # the interface that was there is still there
    finally:
        subprocess.run(["ip", "link", "del", taken], capture_output=True)


def test_router_mode_routes_and_l2proxy_undone(netns_pid, bridge):
    from lxcz.net import netdev

    before_routes = sh("ip", "route")
    before = host_links()
    nets = [{"index": 0, "type": "veth", "veth.mode": "router", "link": bridge,
             "flags": "up", "l2proxy": "1", "ipv4.address": ["10.213.32.2/24"],
             "veth.ipv4.route": ["10.213.33.0/24"], "ipv4.gateway": "dev"}]
    st = netdev.prepare("c", nets, netns_pid)
    try:
        netdev.configure(st)
        host = st.made[0].host_name
        routes = sh("ip", "route")
        assert f"10.213.32.2 dev {host}" in routes
        assert f"10.213.33.0/24 dev {host}" in routes
        assert "10.213.32.2" in sh("ip", "neigh", "show", "proxy", "dev", bridge)
        assert "master" not in sh("ip", "-o", "link", "show", "dev", host)
        assert "default dev eth0" in in_ns(netns_pid, "ip", "route")
    finally:
        netdev.teardown(st)
    assert sh("ip", "route") == before_routes
    assert "10.213.32.2" not in sh("ip", "neigh", "show", "proxy", "dev", bridge)
    assert host_links() == before


def test_name_taken_inside_the_container(netns_pid, bridge):
    from lxcz.net import netdev

    before = host_links()
    st = netdev.prepare("c", [{"index": 0, "type": "veth", "link": bridge, "name": "lo"}],
                        netns_pid)
    try:
        with pytest.raises(LxczError, match="lxc.net.0.name: interface 'lo' already exists"):
            netdev.configure(st)
    finally:
        netdev.teardown(st)
    assert host_links() == before


def test_bad_route_refused_before_anything_is_left(netns_pid, bridge):
    from lxcz.net import netdev

    before = host_links()
    with pytest.raises(LxczError, match=r"lxc.net.0.veth.ipv4.route: invalid route"):
        netdev.prepare("c", [{"index": 0, "type": "veth", "link": bridge,
                              "veth.ipv4.route": ["10.213.34.0/99"]}], netns_pid)
    assert host_links() == before


def test_ipv6_address_and_gateway_in_one_batch(netns_pid, bridge):
    from lxcz.net import netdev

    before = host_links()
    nets = [{"index": 0, "type": "veth", "link": bridge, "flags": "up", "name": "eth3",
             "ipv6.address": ["fd00:213:35::2/64"], "ipv6.gateway": "fd00:213:35::1",
             "ipv4.address": ["10.213.35.2/24 10.213.35.127"]}]
    st = netdev.prepare("c", nets, netns_pid)
    try:
        netdev.configure(st)
        assert "default via fd00:213:35::1 dev eth3" in in_ns(netns_pid, "ip", "-6", "route")
        addrs = in_ns(netns_pid, "ip", "-o", "addr", "show", "eth3")
        assert "fd00:213:35::2/64" in addrs
        assert "10.213.35.2/24 brd 10.213.35.127" in addrs  # the broadcast given
    finally:
        netdev.teardown(st)
    assert host_links() == before
