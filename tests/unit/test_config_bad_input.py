"""Bad configuration input: one ConfigError naming file, line and cause; nothing written."""

from __future__ import annotations

import os

import pytest

from lxcz.config import ContainerConfig
from lxcz.errors import ConfigError

BAD = [
    ("lxc.foo = 1", 'unknown key "lxc.foo"'),
    ("foo = 1", 'unknown key "foo"'),
    ("lxc.net.0.bogus = 1", 'unknown key "lxc.net.0.bogus"'),
    ("lxc.net.x.type = veth", 'unknown key "lxc.net.x.type"'),
    ("lxc.cgroup. = 1", 'unknown key "lxc.cgroup."'),
    ("lxc.uts.name", "expected KEY = VALUE"),
    ("just some words", "expected KEY = VALUE"),
    ("lxc.net.0.hwaddr = 00:16:3e:zz:00:00", "invalid hardware address"),
    ("lxc.net.0.hwaddr = 00:16:3e:00:00", "invalid hardware address"),
    ("lxc.idmap = u 0 100000", "invalid idmap"),
    ("lxc.idmap = x 0 100000 65536", "invalid idmap"),
    ("lxc.idmap = u 0 100000 0", "range must not be 0"),
    ("lxc.idmap = u 0 -1 10", "invalid idmap"),
    ("lxc.signal.halt = SIGFOO", "invalid signal"),
    ("lxc.signal.stop = KILL", "invalid signal"),
    ("lxc.signal.reboot = 65", "invalid signal"),
    ("lxc.monitor.signal.pdeath = 0", "invalid signal"),
    ("lxc.tty.max = four", "not an unsigned integer"),
    ("lxc.tty.max = -1", "not an unsigned integer"),
    ("lxc.start.order = 1.5", "not an integer"),
    ("lxc.pty.max = 99999999999", "not an unsigned integer"),
    ("lxc.net.0.mtu = big", "not an MTU"),
    ("lxc.net.0.vlan.id = 4095", "invalid VLAN id"),
    ("lxc.ephemeral = yes", "must be 0 or 1"),
    ("lxc.no_new_privs = 2", "must be 0 or 1"),
    ("lxc.autodev = true", "must be 0 or 1"),
    ("lxc.mount.auto = proc:mixed bogus", 'invalid lxc.mount.auto word "bogus"'),
    ("lxc.mount.auto = shmounts:", 'invalid lxc.mount.auto word "shmounts:"'),
    ("lxc.console.size = 10 parsecs", "invalid size"),
    ("lxc.console.buffer.size = lots", "invalid size"),
    ("lxc.net.0.type = ethernet", 'invalid value "ethernet"'),
    ("lxc.net.0.flags = down", 'invalid value "down"'),
    ("lxc.net.0.ipv4.address = 10.0.0.300/24", "invalid IPv4 address"),
    ("lxc.net.0.ipv4.address = 10.0.0.3/33", "invalid IPv4 address"),
    ("lxc.net.0.ipv6.address = fd00::zz/64", "invalid IPv6 address"),
    ("lxc.net.0.ipv4.gateway = gateway", "invalid IPv4 gateway"),
    ("lxc.net.0.name = averyveryverylongname", "invalid interface name"),
    ("lxc.log.level = LOUD", "invalid log level"),
    ("lxc.log.syslog = nowhere", 'invalid value "nowhere"'),
    ("lxc.arch = z80", "invalid architecture"),
    ("lxc.prlimit.nofile = lots", "invalid limit"),
    ("lxc.prlimit.bogus = 1", 'unknown resource limit "bogus"'),
    ("lxc.namespace.share.bogus = 1", 'unknown namespace "bogus"'),
    ("lxc.namespace.clone = net bogus", 'invalid value "bogus"'),
    ("lxc.time.offset.boot = 10 days", "invalid time offset"),
    ("lxc.hook.version = 2", "must be 0 or 1"),
    ("lxc.net = veth", '"lxc.net" must not have a value'),
    ("lxc.cgroup.dir = /abs", "must be relative"),
    ("lxc.tty.dir = a/b", "must be a single name"),
    ("lxc.seccomp.notify.proxy = /run/x", "expected unix:PATH"),
    ("lxc.init.groups = 1,x", "invalid group list"),
    ("lxc.environment = =x", "invalid environment variable"),
    ("lxc.mount.entry = /srv", "invalid mount entry"),
    ("lxc.uts.name = " + "h" * 65, "invalid host name"),
    ("lxc.net.99999999999.type = veth", "network index too large"),
]


@pytest.mark.parametrize("line,cause", BAD, ids=[b[0] for b in BAD])
def test_bad_line(tmp_path, line, cause):
    path = tmp_path / "config"
    path.write_text(f"# ok\nlxc.uts.name = c1\n\n{line}\nlxc.tty.max = 1\n")
    with pytest.raises(ConfigError) as err:
        ContainerConfig.load(str(path))
    e = err.value
    assert (e.path, e.line) == (str(path), 4)
    assert cause in e.cause
    assert str(e) == f"{path}:4: {e.cause}"
    assert "\n" not in str(e)


@pytest.mark.parametrize("line,cause", BAD, ids=[b[0] for b in BAD])
def test_bad_set_item_changes_nothing(line, cause):
    if "=" not in line:
        return
    key, _, value = line.partition("=")
    cfg = ContainerConfig()
    cfg.set_item("lxc.uts.name", "c1")
    before = (cfg.text(), [tuple(i) for i in cfg.items()])
    with pytest.raises(ConfigError):
        cfg.set_item(key.strip(), value.strip())
    assert (cfg.text(), [tuple(i) for i in cfg.items()]) == before


def test_missing_file(tmp_path):
    path = tmp_path / "nope"
    with pytest.raises(ConfigError) as err:
        ContainerConfig.load(str(path))
    assert str(err.value) == f"{path}: cannot read config file: No such file or directory"


def test_directory_as_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        ContainerConfig.load(str(tmp_path))


def test_include_loop(tmp_path):
    a, b = tmp_path / "a.conf", tmp_path / "b.conf"
    a.write_text("lxc.uts.name = a\nlxc.include = b.conf\n")
    b.write_text("\n\nlxc.include = " + str(a) + "\n")
    with pytest.raises(ConfigError) as err:
        ContainerConfig.load(str(a))
    assert (err.value.path, err.value.line) == (str(b), 3)
    assert "include loop" in err.value.cause


def test_self_include_via_directory(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "x.conf").write_text(f"lxc.include = {d}\n")
    with pytest.raises(ConfigError, match="include loop"):
        ContainerConfig.load(str(d / "x.conf"))


def test_unreadable_include(tmp_path):
    a = tmp_path / "a.conf"
    a.write_text("lxc.include = /nonexistent/x.conf\n")
    with pytest.raises(ConfigError) as err:
        ContainerConfig.load(str(a))
    assert str(err.value) == (f'{a}:1: cannot read include "/nonexistent/x.conf": '
                              "No such file or directory")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files without permission")
def test_unreadable_include_permission(tmp_path):
    a, b = tmp_path / "a.conf", tmp_path / "b.conf"
    b.write_text("lxc.uts.name = b\n")
    b.chmod(0)
    a.write_text(f"lxc.include = {b}\n")
    with pytest.raises(ConfigError, match="Permission denied"):
        ContainerConfig.load(str(a))


def test_include_of_a_fifo_does_not_block(tmp_path):
    fifo = tmp_path / "fifo.conf"
    os.mkfifo(str(fifo))
    a = tmp_path / "a.conf"
    a.write_text(f"lxc.include = {fifo}\n")
    with pytest.raises(ConfigError, match="not a regular file"):
        ContainerConfig.load(str(a))


def test_save_failure_leaves_file(tmp_path):
    cfg = ContainerConfig()
    cfg.set_item("lxc.uts.name", "x")
    with pytest.raises(ConfigError, match="cannot write config file"):
        cfg.save(str(tmp_path / "no" / "dir" / "config"))
    assert os.listdir(str(tmp_path)) == []


def test_namespace_clone_and_keep_conflict(tmp_path):
    path = tmp_path / "config"
    path.write_text("lxc.namespace.clone = net\nlxc.namespace.keep = user\n")
    with pytest.raises(ConfigError, match="cannot set both"):
        ContainerConfig.load(str(path))
