"""Every row of the key table: parse -> get -> save -> reparse gives the same value."""

from __future__ import annotations

import pytest

from lxcz.config import ContainerConfig
from lxcz.config import keys as K
from lxcz.errors import ConfigError


def _cases():
    for row in K.ROWS:
        if row.kind == K.FAMILY or row.name == "lxc.include":
            continue
        key = row.name + row.sub_example if row.is_prefix else row.name
        yield pytest.param(key, row.example, id=key)
    for row in K.NET_KEYS:
        key = "lxc.net.0." + row.name
        yield pytest.param(key, row.example, id=key)


CASES = list(_cases())


def test_table_is_complete():
    for row in K.ROWS + K.NET_KEYS:
        assert row.doc, row
        if row.kind != K.FAMILY and row.name != "lxc.include":
            assert row.example, row
        if row.is_prefix:
            assert row.sub_example, row
    # every key of LXC 5.0's confile.c table (src/lxc/confile.c, lxc-5.0.2)
    upstream = """lxc.arch lxc.apparmor.profile lxc.apparmor.allow_incomplete
    lxc.apparmor.allow_nesting lxc.apparmor.raw lxc.autodev.tmpfs.size lxc.autodev
    lxc.cap.drop lxc.cap.keep lxc.cgroup2 lxc.cgroup.dir.monitor.pivot lxc.cgroup.dir.monitor
    lxc.cgroup.dir.container.inner lxc.cgroup.dir.container lxc.cgroup.dir lxc.cgroup.relative
    lxc.cgroup lxc.console.buffer.size lxc.console.logfile lxc.console.path lxc.console.rotate
    lxc.console.size lxc.sched.core lxc.environment lxc.ephemeral lxc.execute.cmd lxc.group
    lxc.hook.autodev lxc.hook.clone lxc.hook.destroy lxc.hook.mount lxc.hook.post-stop
    lxc.hook.pre-mount lxc.hook.pre-start lxc.hook.start lxc.hook.start-host lxc.hook.stop
    lxc.hook.version lxc.hook lxc.idmap lxc.include lxc.init.cmd lxc.init.gid lxc.init.groups
    lxc.init.uid lxc.init.cwd lxc.keyring.session lxc.log.file lxc.log.level lxc.log.syslog
    lxc.monitor.unshare lxc.monitor.signal.pdeath lxc.mount.auto lxc.mount.entry
    lxc.mount.fstab lxc.namespace.clone lxc.namespace.keep lxc.namespace.share.
    lxc.time.offset.boot lxc.time.offset.monotonic lxc.net lxc.no_new_privs lxc.prlimit
    lxc.pty.max lxc.rootfs.managed lxc.rootfs.mount lxc.rootfs.options lxc.rootfs.path
    lxc.seccomp.allow_nesting lxc.seccomp.notify.cookie lxc.seccomp.notify.proxy
    lxc.seccomp.profile lxc.selinux.context.keyring lxc.selinux.context lxc.signal.halt
    lxc.signal.reboot lxc.signal.stop lxc.start.auto lxc.start.delay lxc.start.order
    lxc.tty.dir lxc.tty.max lxc.uts.name lxc.sysctl lxc.proc""".split()
    names = set(K.all_names())
    for name in upstream:
        assert name in names or name + "." in names, name
    net = """flags hwaddr ipv4.address ipv4.gateway ipv6.address ipv6.gateway link l2proxy
    macvlan.mode ipvlan.mode ipvlan.isolation mtu name script.down script.up type vlan.id
    veth.mode veth.pair veth.ipv4.route veth.ipv6.route veth.vlan.id
    veth.vlan.tagged.id""".split()
    assert sorted(net) == sorted(K.NET)


@pytest.mark.parametrize("key,value", CASES)
def test_round_trip(tmp_path, key, value):
    src = tmp_path / "config"
    src.write_text(f"# a comment\n{key} = {value}\n")
    cfg = ContainerConfig.load(str(src))
    got = cfg.get_item(key)
    assert got != ""
    out = tmp_path / "saved"
    cfg.save(str(out))
    assert out.read_text().startswith("# a comment\n")
    again = ContainerConfig.load(str(out))
    assert again.get_item(key) == got
    assert [i.key for i in again.items()] == [i.key for i in cfg.items()]
    # set_item with what get_item printed gives the same again
    row = K.lookup(key)
    fresh = ContainerConfig()
    for part in got.split(row.sep) if row.repeats else [got]:
        fresh.set_item(key, part)
    assert fresh.get_item(key) == got
    # typed access agrees with the text
    if row.repeats:
        assert len(cfg.get_list(key)) >= 1
    elif row.parse:
        assert cfg.get(key) == row.parse(got)
    else:
        assert cfg.get(key) == got
    # and clearing removes it from the file
    cfg.clear_item(key)
    assert key not in cfg
    cfg.save(str(out))
    assert key not in out.read_text()


@pytest.mark.parametrize("key,value", CASES)
def test_unapplied_is_reported(tmp_path, key, value):
    src = tmp_path / "config"
    src.write_text(f"\n{key} = {value}\n")
    cfg = ContainerConfig.load(str(src))
    row = K.lookup(key)
    if row.applied:
        cfg.require_applied()
        assert cfg.unapplied() == []
    else:
        assert [i.key for i in cfg.unapplied()] == [key] * len(cfg.unapplied())
        with pytest.raises(ConfigError) as err:
            cfg.require_applied()
        assert str(err.value).startswith(f"{src}:2: ")
        assert key in str(err.value)


def test_security_keys_applied_only_when_the_runtime_applies_them():
    # the runtime applies these (tests/integration/test_runtime_security.py proves it) ...
    for key in ("lxc.cap.drop", "lxc.cap.keep", "lxc.seccomp.profile", "lxc.apparmor.profile",
                "lxc.no_new_privs"):
        assert K.lookup(key).applied, key
    # ... user namespaces too (tests/integration/test_userns_runtime.py); seccomp notify
    # not: a config asking for it must be refused
    assert K.lookup("lxc.idmap").applied
    assert not K.lookup("lxc.seccomp.notify.proxy").applied


def test_lookup():
    assert K.lookup("lxc.cgroup.dir").name == "lxc.cgroup.dir"
    assert K.lookup("lxc.cgroup.cpu.shares").name == "lxc.cgroup."
    assert K.lookup("lxc.net.12.ipv4.address").name == "ipv4.address"
    assert K.lookup("lxc.net.x.type") is None
    assert K.lookup("lxc.net.0.bogus") is None
    assert K.lookup("lxc.cgroup.") is None
    assert K.lookup("lxc.foo") is None
