"""Pre-3.0 keys: translated in memory with one warning per key; lxc-update-config."""

from __future__ import annotations

import os
import subprocess

import pytest

from lxcz.config import ContainerConfig, update
from lxcz.config import keys as K

RENAMES = [(old, row) for row in K.ROWS for old in row.legacy if not row.is_prefix]


class _Warnings:
    def __init__(self) -> None:
        self.lines = []

    def record(self, msg, *args, **kw) -> None:
        self.lines.append(msg % args if args else msg)


@pytest.fixture
def warnings(monkeypatch):
    """The warning lines lxcz.log would print, whatever the logger's set-up."""
    from lxcz import log

    rec = _Warnings()
    monkeypatch.setattr(log.log, "warning", rec.record)
    return rec


@pytest.mark.parametrize("old,row", RENAMES, ids=[o for o, _ in RENAMES])
def test_every_renamed_key(tmp_path, warnings, old, row):
    path = tmp_path / "config"
    path.write_text(f"{old} = {row.example}\n{old} = {row.example}\n")
    cfg = ContainerConfig.load(str(path))
    fresh = ContainerConfig()
    fresh.set_item(row.name, row.example)
    got = cfg.get_item(row.name)
    if row.repeats:
        assert cfg.get_list(row.name) == fresh.get_list(row.name) * 2
    else:
        assert got == fresh.get_item(row.name)
    lines = warnings.lines
    assert len(lines) == 1  # one line per legacy key, not per occurrence
    assert lines[0].startswith(f"{path}:1: legacy key \"{old}\" read as \"{row.name}\"")
    # saving writes today's key, so LXC 5 itself can read the file
    cfg.save(str(path))
    text = path.read_text()
    assert old + " " not in text and row.name in text


def test_get_set_with_legacy_names(warnings):
    cfg = ContainerConfig()
    cfg.set_item("lxc.utsname", "c1")
    assert cfg.get_item("lxc.uts.name") == "c1"
    assert cfg.get_item("lxc.utsname") == "c1"
    assert cfg.text() == "lxc.uts.name = c1\n"


@pytest.mark.parametrize("old", ["lxc.pivotdir", "lxc.kmsg", "lxc.rootfs.backend"])
def test_dropped_keys(tmp_path, warnings, old):
    path = tmp_path / "config"
    path.write_text(f"lxc.uts.name = a\n{old} = x\n")
    cfg = ContainerConfig.load(str(path))
    assert [i.key for i in cfg.items()] == ["lxc.uts.name"]
    assert "obsolete and ignored" in warnings.lines[0]
    assert cfg.text() == "lxc.uts.name = a\n"


def test_limit_prefix(tmp_path, warnings):
    path = tmp_path / "config"
    path.write_text("lxc.limit.nofile = 1024:2048\n")
    cfg = ContainerConfig.load(str(path))
    assert cfg.prefixed("lxc.prlimit.") == {"nofile": "1024:2048"}
    assert cfg.get("lxc.prlimit.nofile") == (1024, 2048)


UNINDEXED = """\
lxc.network.type = veth
lxc.network.flags = up
lxc.network.link = lxcbr0
lxc.network.name = eth0
lxc.network.hwaddr = 00:16:3e:xx:xx:xx
lxc.network.ipv4 = 10.0.3.5/24
lxc.network.ipv4 = 10.0.4.5/24 10.0.4.255
lxc.network.ipv4.gateway = 10.0.3.1
lxc.network.ipv6 = fd00::5/64
lxc.network.ipv6.gateway = fd00::1
lxc.network.veth.pair = vethc1
lxc.network.script.up = /bin/true
lxc.network.mtu = 1400

lxc.network.type = vlan
lxc.network.link = eth0
lxc.network.vlan.id = 10
"""


def test_unindexed_network(tmp_path, warnings):
    path = tmp_path / "config"
    path.write_text(UNINDEXED)
    cfg = ContainerConfig.load(str(path))
    n0, n1 = cfg.networks()
    assert n0["index"] == 0 and n0["type"] == "veth" and n0["link"] == "lxcbr0"
    assert n0["ipv4.address"] == ["10.0.3.5/24", "10.0.4.5/24 10.0.4.255"]
    assert n0["ipv4.gateway"] == "10.0.3.1"
    assert n0["ipv6.address"] == ["fd00::5/64"]
    assert n0["veth.pair"] == "vethc1" and n0["mtu"] == "1400" and n0["flags"] == "up"
    assert n1 == {**{r.name: [] for r in K.NET_KEYS if r.repeats},
                  "index": 1, "type": "vlan", "link": "eth0", "vlan.id": "10"}
    msgs = warnings.lines
    assert len(msgs) == len({m.split('"')[1] for m in msgs})  # one per key name


def test_indexed_legacy_network(tmp_path, warnings):
    path = tmp_path / "config"
    path.write_text("lxc.network.0.type = veth\nlxc.network.0.ipv4 = 10.0.3.5/24\n"
                    "lxc.network.1.type = empty\nlxc.network =\nlxc.network.2.type = phys\n"
                    "lxc.network.2.link = eth1\n")
    cfg = ContainerConfig.load(str(path))
    assert [n["index"] for n in cfg.networks()] == [2]
    assert cfg.get_item("lxc.net.2.link") == "eth1"


def test_unindexed_network_key_before_type(tmp_path):
    from lxcz.errors import ConfigError

    path = tmp_path / "config"
    path.write_text("lxc.network.link = br0\n")
    with pytest.raises(ConfigError, match=r":1: .*before any \"lxc.network.type\""):
        ContainerConfig.load(str(path))


LEGACY_FILE = """\
# Template used to create this container: /usr/share/lxc/templates/lxc-debian
#lxc.utsname = commented
lxc.utsname = c1
lxc.rootfs = /var/lib/lxc/c1/rootfs
lxc.tty = 4
lxc.pts = 1024
lxc.devttydir = lxc
lxc.id_map = u 0 100000 65536
lxc.id_map = g 0 100000 65536
lxc.aa_profile = unconfined
lxc.aa_allow_incomplete = 1
lxc.se_context = system_u:system_r:lxc_t:s0:c22
lxc.seccomp = /usr/share/lxc/config/common.seccomp
lxc.mount = /var/lib/lxc/c1/fstab
lxc.mount.entry = proc proc proc nodev,noexec,nosuid 0 0
lxc.console = none
lxc.console.logfile = /tmp/console.log
lxc.haltsignal = SIGPWR
lxc.rebootsignal = SIGINT
lxc.stopsignal = SIGKILL
lxc.syslog = daemon
lxc.loglevel = 1
lxc.logfile = /var/log/lxc/c1.log
lxc.init_cmd = /sbin/init
lxc.init_uid = 0
lxc.init_gid = 0
lxc.pivotdir = lxc_putold
lxc.kmsg = 0
  lxc.cap.drop = sys_module
""" + "\n" + UNINDEXED

LEGACY_INDEXED = """\
lxc.network.0.type = veth
lxc.network.0.link = br0
lxc.network.1.type=macvlan
lxc.network.1.macvlan.mode = bridge
lxc.network.1.link = eth0
lxc.network =
lxc.rootfs = /dev/vg/c1
lxc.rootfs.backend = lvm
"""

EXPECTED_INDEXED = """\
lxc.net.0.type = veth
lxc.net.0.link = br0
lxc.net.1.type=macvlan
lxc.net.1.macvlan.mode = bridge
lxc.net.1.link = eth0
lxc.net =
lxc.rootfs.path = lvm:/dev/vg/c1
"""


def test_update_text_known_result():
    assert update.update_text(LEGACY_INDEXED)[0] == EXPECTED_INDEXED
    new, changed = update.update_text(LEGACY_FILE)
    assert "lxc.rootfs.path = dir:/var/lib/lxc/c1/rootfs\n" in new
    assert "#lxc.uts.name = commented\n" in new
    assert "lxc.net.0.ipv4.address = 10.0.4.5/24 10.0.4.255\n" in new
    assert "lxc.net.1.vlan.id = 10\n" in new
    assert "pivotdir" not in new and "kmsg" not in new
    assert "lxc.utsname" in changed and "lxc.network.type" in changed


@pytest.mark.parametrize("text", [LEGACY_FILE, LEGACY_INDEXED], ids=["unindexed", "indexed"])
def test_update_file_matches_upstream_script(tmp_path, text):
    script = "/usr/bin/lxc-update-config"
    if (not os.path.isfile(script) or os.path.islink(script)
            or open(script, "rb").read(9) != b"#!/bin/sh"):
        pytest.skip("upstream lxc-update-config script not installed")
    ours, theirs = tmp_path / "ours.conf", tmp_path / "theirs.conf"
    ours.write_text(text)
    theirs.write_text(text)
    subprocess.run([script, "-c", str(theirs)], check=True, cwd=str(tmp_path),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    update.update_file(str(ours))
    assert ours.read_text() == theirs.read_text()
    assert (tmp_path / "ours.conf.backup").read_text() == text
    # and the result loads without a legacy warning or an error
    cfg = ContainerConfig.load(str(ours))
    assert cfg.get_item("lxc.rootfs.path").startswith(("dir:", "lvm:"))


def test_update_where_upstream_writes_broken_keys():
    new, _ = update.update_text("lxc.network.0.ipv4 = 10.0.0.2/24\nlxc.limit.nofile = 10\n"
                                "lxc.rootfs = overlayfs:/a:/b\n")
    assert new == ("lxc.net.0.ipv4.address = 10.0.0.2/24\nlxc.prlimit.nofile = 10\n"
                   "lxc.rootfs.path = overlayfs:/a:/b\n")


def test_loaded_legacy_equals_updated(tmp_path, warnings):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text(LEGACY_FILE)
    b.write_text(update.update_text(LEGACY_FILE)[0])
    ca, cb = ContainerConfig.load(str(a)), ContainerConfig.load(str(b))
    strip = {"lxc.rootfs.path"}  # the update adds the dir: backend prefix
    va = [(i.key, i.value) for i in ca.items() if i.key not in strip]
    vb = [(i.key, i.value) for i in cb.items() if i.key not in strip]
    assert va == vb
    assert cb.get_item("lxc.rootfs.path") == "dir:" + ca.get_item("lxc.rootfs.path")
