"""`lxcz net up/down`: a bridge of the test's own, its NAT rule and DHCP, then nothing left.

Nothing is sent anywhere: the test checks the rule and the server, and restores the
host's ip_forward setting afterwards.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def lxcz(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lxcz", *args], cwd=ROOT,
                          capture_output=True, text=True)


@pytest.fixture
def settings(tmp_path):
    bridge = f"lxczt{random.randint(100, 999)}"
    path = tmp_path / "lxc-net"
    path.write_text(f'USE_LXC_BRIDGE="true"\nLXC_BRIDGE="{bridge}"\n'
                    'LXC_ADDR="10.213.60.1"\nLXC_NETMASK="255.255.255.0"\n'
                    'LXC_NETWORK="10.213.60.0/24"\nLXC_DHCP_RANGE="10.213.60.2,10.213.60.254"\n'
                    "# a comment\nLXC_DHCP_MAX=\"253\"\n")
    with open("/proc/sys/net/ipv4/ip_forward") as fh:
        forward = fh.read()
    try:
        yield str(path), bridge
    finally:
        lxcz("net", "down", "--force", "--settings", str(path))
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)
        with open("/proc/sys/net/ipv4/ip_forward", "w") as fh:
            fh.write(forward)


def test_up_down_idempotent(settings):
    path, bridge = settings
    r = lxcz("net", "up", "--settings", path)
    assert r.returncode == 0, r.stderr
    assert f"{bridge} up: 10.213.60.1/24" in r.stdout
    addr = subprocess.run(["ip", "-o", "addr", "show", bridge], capture_output=True,
                          text=True).stdout
    assert "10.213.60.1/24" in addr
    table = "lxc_" + bridge
    if subprocess.run(["which", "nft"], capture_output=True).returncode == 0:
        rules = subprocess.run(["nft", "list", "table", "ip", table], capture_output=True,
                               text=True).stdout
        assert "ip saddr 10.213.60.0/24 ip daddr != 10.213.60.0/24" in rules
        assert "masquerade" in rules
    assert "already up" in lxcz("net", "up", "--settings", path).stdout
    assert lxcz("net", "status", "--settings", path).stdout.strip() == f"{bridge}: up"
    r = lxcz("net", "down", "--settings", path)
    assert r.returncode == 0 and f"{bridge} down" in r.stdout
    assert not os.path.exists(f"/sys/class/net/{bridge}")
    if subprocess.run(["which", "nft"], capture_output=True).returncode == 0:
        assert subprocess.run(["nft", "list", "table", "ip", table],
                              capture_output=True).returncode != 0
    assert "already down" in lxcz("net", "down", "--settings", path).stdout


def test_disabled_bridge_makes_nothing(tmp_path):
    path = tmp_path / "lxc-net"
    path.write_text('USE_LXC_BRIDGE="false"\nLXC_BRIDGE="lxczoff0"\n')
    r = lxcz("net", "up", "--settings", str(path))
    assert r.returncode == 0 and "nothing to do" in r.stdout
    assert not os.path.exists("/sys/class/net/lxczoff0")


def test_bad_settings_and_words(tmp_path):
    path = tmp_path / "lxc-net"
    path.write_text('LXC_BRIDGE="lxczbad0"\nLXC_NETWORK="10.999.0.0/24"\n')
    r = lxcz("net", "up", "--settings", str(path))
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "10.999.0.0/24" in r.stderr
    assert not os.path.exists("/sys/class/net/lxczbad0")
    assert lxcz("net", "sideways").returncode == 2
