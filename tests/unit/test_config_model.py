"""ContainerConfig behaviour: includes, comments and order on save, lists, families."""

from __future__ import annotations

import pytest

from lxcz.config import ConfigItem, ContainerConfig
from lxcz.errors import ConfigError


def load(tmp_path, text, name="config"):
    path = tmp_path / name
    path.write_text(text)
    return ContainerConfig.load(str(path)), path


def test_comments_blank_lines_and_order_survive_save(tmp_path):
    text = ("# head\n\n  lxc.uts.name = c1   \n\t# indented comment\nlxc.tty.max=4\n"
            "lxc.mount.entry = /a a none bind 0 0\n")
    cfg, path = load(tmp_path, text)
    cfg.save(str(path))
    assert path.read_text() == text
    cfg.set_item("lxc.tty.max", "2")
    cfg.set_item("lxc.mount.entry", "/b b none bind 0 0")
    cfg.set_item("lxc.arch", "x86_64")
    cfg.save(str(path))
    assert path.read_text() == ("# head\n\n  lxc.uts.name = c1   \n\t# indented comment\n"
                                "lxc.tty.max = 2\nlxc.mount.entry = /a a none bind 0 0\n"
                                "lxc.mount.entry = /b b none bind 0 0\nlxc.arch = x86_64\n")


def test_quotes_and_blanks(tmp_path):
    cfg, _ = load(tmp_path, "lxc.uts.name = \"c 1\"\nlxc.init.cmd = '/bin/sh -c x'\n"
                            "lxc.execute.cmd = \"unbalanced\n")
    assert cfg.get_item("lxc.uts.name") == "c 1"
    assert cfg.get_item("lxc.init.cmd") == "/bin/sh -c x"
    assert cfg.get_item("lxc.execute.cmd") == '"unbalanced'


def test_set_item_keeps_quotes_it_was_given(tmp_path):
    cfg = ContainerConfig()
    cfg.set_item("lxc.uts.name", "'q'")
    path = tmp_path / "c"
    cfg.save(str(path))
    assert ContainerConfig.load(str(path)).get_item("lxc.uts.name") == "'q'"


def test_include_file_and_directory(tmp_path):
    d = tmp_path / "conf.d"
    d.mkdir()
    (d / "20-b.conf").write_text("lxc.mount.entry = /b b none bind 0 0\n")
    (d / "10-a.conf").write_text("lxc.mount.entry = /a a none bind 0 0\n")
    (d / "ignored.txt").write_text("lxc.foo = 1\n")
    (tmp_path / "common.conf").write_text("lxc.uts.name = common\nlxc.tty.max = 1\n")
    cfg, path = load(tmp_path, "lxc.include = common.conf\nlxc.include = conf.d\n"
                               "lxc.uts.name = mine\n")
    assert cfg.get_item("lxc.uts.name") == "mine"
    assert cfg.get_item("lxc.tty.max") == "1"
    assert cfg.get_list("lxc.mount.entry") == ["/a a none bind 0 0", "/b b none bind 0 0"]
    tty = [i for i in cfg.items() if i.key == "lxc.tty.max"][0]
    assert tty == ConfigItem("lxc.tty.max", "1", str(path.parent / "common.conf"), 2)
    assert tty.where == f"{path.parent / 'common.conf'}:2"
    cfg.save(str(path))
    assert path.read_text() == ("lxc.include = common.conf\nlxc.include = conf.d\n"
                                "lxc.uts.name = mine\n")


def test_empty_value_clears_a_list(tmp_path):
    cfg, _ = load(tmp_path, "lxc.cap.drop = a b\nlxc.cap.drop =\nlxc.cap.drop = c\n"
                            "lxc.mount.entry = /a a none bind 0 0\nlxc.mount.entry = \n")
    assert cfg.get_list("lxc.cap.drop") == ["c"]
    assert cfg.get_list("lxc.mount.entry") == []
    assert cfg.get_item("lxc.mount.entry") == ""


def test_lxc_net_empty_clears_every_interface(tmp_path):
    cfg, path = load(tmp_path, "lxc.net.0.type = veth\nlxc.net.1.type = empty\nlxc.net =\n"
                               "lxc.net.2.type = phys\nlxc.net.2.link = eth9\n")
    assert [n["index"] for n in cfg.networks()] == [2]
    assert cfg.get_item("lxc.net") == "phys"
    with pytest.raises(ConfigError, match="no network 0"):
        cfg.get_item("lxc.net.0.type")
    cfg.clear_item("lxc.net.2")
    assert cfg.networks() == []
    cfg.save(str(path))
    assert path.read_text() == "lxc.net.0.type = veth\nlxc.net.1.type = empty\nlxc.net =\n"


def test_prefixed_families(tmp_path):
    cfg, _ = load(tmp_path, "lxc.cgroup.memory.limit_in_bytes = 1G\nlxc.cgroup.dir = x\n"
                            "lxc.cgroup2.memory.max = 2G\nlxc.sysctl.net.ipv4.ip_forward = 1\n"
                            "lxc.proc.oom_score_adj = 10\nlxc.prlimit.nofile = 10:unlimited\n"
                            "lxc.namespace.share.net = other\n")
    assert cfg.prefixed("lxc.cgroup.") == {"memory.limit_in_bytes": "1G"}
    assert cfg.prefixed("lxc.cgroup2") == {"memory.max": "2G"}
    assert cfg.prefixed("lxc.sysctl.") == {"net.ipv4.ip_forward": "1"}
    assert cfg.prefixed("lxc.proc.") == {"oom_score_adj": "10"}
    assert cfg.prefixed("lxc.prlimit.") == {"nofile": "10:unlimited"}
    assert cfg.get("lxc.prlimit.nofile") == (10, -1)
    assert cfg.prefixed("lxc.namespace.share.") == {"net": "other"}
    assert cfg.get_item("lxc.cgroup") == "lxc.cgroup.memory.limit_in_bytes = 1G"
    assert cfg.get_item("lxc.sysctl") == "lxc.sysctl.net.ipv4.ip_forward = 1"
    cfg.set_item("lxc.cgroup", "")
    assert cfg.prefixed("lxc.cgroup.") == {}
    assert cfg.prefixed("lxc.cgroup2.") == {"memory.max": "2G"}


def test_typed_values(tmp_path):
    cfg, _ = load(tmp_path, "lxc.signal.halt = SIGRTMIN+3\nlxc.signal.stop = sigkill\n"
                            "lxc.tty.max = 4\nlxc.ephemeral = 1\nlxc.idmap = u 0 100000 65536\n"
                            "lxc.idmap = g 0 100000 65536\nlxc.hook.start = /bin/a\n"
                            "lxc.hook.start = /bin/b\nlxc.environment = A=1\n"
                            "lxc.log.level = 1\nlxc.console.size = 1MB\n"
                            "lxc.time.offset.boot = 10s\nlxc.init.groups = 1,2\n")
    assert cfg.get("lxc.signal.halt") == 37
    assert cfg.get_item("lxc.signal.halt") == "37"
    assert cfg.get("lxc.signal.stop") == 9
    assert cfg.get("lxc.tty.max") == 4
    assert cfg.get("lxc.ephemeral") is True
    assert cfg.get("lxc.no_new_privs", False) is False
    assert cfg.get_list("lxc.idmap") == [("u", 0, 100000, 65536), ("g", 0, 100000, 65536)]
    assert cfg.get_item("lxc.idmap") == "u 0 100000 65536\ng 0 100000 65536"
    assert cfg.get_list("lxc.hook.start") == ["/bin/a", "/bin/b"]
    assert cfg.get_list("lxc.environment") == ["A=1"]
    assert cfg.get("lxc.log.level") == "DEBUG"
    assert cfg.get("lxc.console.size") == 1024 * 1024
    assert cfg.get("lxc.time.offset.boot") == 10 * 10 ** 9
    assert cfg.get_list("lxc.init.groups") == [1, 2]
    cfg.set_item("lxc.init.groups", "3")
    assert cfg.get_item("lxc.init.groups") == "1,2,3"
    assert cfg.get_item("lxc.uts.name") == ""
    assert cfg.get("lxc.uts.name", "dflt") == "dflt"


def test_keys():
    cfg = ContainerConfig()
    assert "lxc.uts.name" in cfg.keys() and "lxc.net." in cfg.keys()
    assert cfg.keys("lxc.signal") == ["halt", "reboot", "stop"]
    with pytest.raises(ConfigError):
        cfg.keys("lxc.bogus")
    with pytest.raises(ConfigError, match="no network 0"):
        cfg.keys("lxc.net.0")


def test_clear_item(tmp_path):
    cfg, path = load(tmp_path, "lxc.uts.name = a\n# keep\nlxc.hook.start = /a\n"
                               "lxc.hook.stop = /b\n")
    cfg.clear_item("lxc.uts.name")
    cfg.clear_item("lxc.hook")
    assert cfg.items() == []
    assert cfg.text() == "# keep\n"
    with pytest.raises(ConfigError, match="unknown key"):
        cfg.clear_item("lxc.nope")


def test_unapplied_lists_file_and_line(tmp_path):
    (tmp_path / "inc.conf").write_text("lxc.seccomp.notify.proxy = unix:/run/x.sock\n")
    cfg, path = load(tmp_path, "lxc.start.auto = 1\nlxc.include = inc.conf\n", "c")
    assert cfg.unapplied() == [ConfigItem("lxc.seccomp.notify.proxy", "unix:/run/x.sock",
                                          str(tmp_path / "inc.conf"), 1)]
    with pytest.raises(ConfigError) as err:
        cfg.require_applied()
    assert str(err.value).startswith(f'{tmp_path / "inc.conf"}:1: key "lxc.seccomp.notify.proxy" is not')


def test_empty_and_new():
    cfg = ContainerConfig()
    assert cfg.items() == [] and cfg.networks() == [] and cfg.text() == ""
    with pytest.raises(ConfigError, match="no file"):
        cfg.save()


def test_mount_auto_reads_like_lxc():
    cfg = ContainerConfig()
    cfg.set_item("lxc.mount.auto", "proc sys:ro cgroup")
    cfg.set_item("lxc.mount.auto", "proc:rw cgroup2 shmounts:/a:/b")
    assert cfg.get_item("lxc.mount.auto") == "proc:rw sys:ro cgroup2 shmounts:/a:/b"
    assert cfg.get_list("lxc.mount.auto") == ["proc:rw", "sys:ro", "cgroup2", "shmounts:/a:/b"]
    assert cfg.text().count("lxc.mount.auto") == 2


def test_console_sizes_are_bytes_rounded_like_lxc():
    cfg = ContainerConfig()
    cfg.set_item("lxc.console.size", "1000")
    assert cfg.get("lxc.console.size") == 4096
    cfg.set_item("lxc.console.size", "5MB")
    assert cfg.get_item("lxc.console.size") == str(8 * 1024 * 1024)
    cfg.set_item("lxc.console.buffer.size", "auto")
    assert cfg.get("lxc.console.buffer.size") == 128 * 1024


def test_network_index_is_a_number(tmp_path):
    cfg, path = load(tmp_path, "lxc.net.01.type = veth\nlxc.net.1.link = br0\n")
    net = cfg.networks()[0]
    assert (net["index"], net["type"], net["link"]) == (1, "veth", "br0")
    assert cfg.get_item("lxc.net.001.type") == "veth"
    cfg.clear_item("lxc.net.1.type")
    assert cfg.text() == "lxc.net.1.link = br0\n"


def test_unknown_key_suggestion():
    cfg = ContainerConfig()
    with pytest.raises(ConfigError, match=r'unknown key "lxc.uts.nam" \(did you mean '
                                          r'"lxc.uts.name"\?\)'):
        cfg.set_item("lxc.uts.nam", "x")
    with pytest.raises(ConfigError, match=r'"lxc.net.3.lnk" \(did you mean "lxc.net.3.link"'):
        cfg.set_item("lxc.net.3.lnk", "x")


def test_nul_byte_in_value(tmp_path):
    path = tmp_path / "config"
    path.write_bytes(b"lxc.uts.name = a\x00b\n")
    with pytest.raises(ConfigError, match="NUL byte") as err:
        ContainerConfig.load(str(path))
    assert err.value.line == 1


def test_cgroup_lines_repeat_in_file_order(tmp_path):
    cfg, _ = load(tmp_path, "lxc.cgroup.devices.deny = a\nlxc.cgroup.devices.allow = c 1:3 rwm\n"
                            "lxc.cgroup.devices.deny = c 1:5 rwm\n"
                            "lxc.cgroup.devices.allow = c 1:9 rwm\nlxc.cgroup.dir = x\n"
                            "lxc.cgroup2.devices.allow = c 1:3 rwm\n")
    assert cfg.prefixed_items("lxc.cgroup.") == [
        ("devices.deny", "a"), ("devices.allow", "c 1:3 rwm"), ("devices.deny", "c 1:5 rwm"),
        ("devices.allow", "c 1:9 rwm")]
    assert cfg.prefixed("lxc.cgroup.") == {"devices.deny": "c 1:5 rwm",
                                           "devices.allow": "c 1:9 rwm"}
    assert cfg.get_item("lxc.cgroup.devices.allow") == "c 1:3 rwm\nc 1:9 rwm"
    cfg.set_item("lxc.cgroup.devices.deny", "")
    assert cfg.prefixed_items("lxc.cgroup.") == [("devices.allow", "c 1:3 rwm"),
                                                 ("devices.allow", "c 1:9 rwm")]
    cfg.set_item("lxc.cgroup", "")
    assert cfg.prefixed_items("lxc.cgroup.") == []
    assert cfg.prefixed_items("lxc.cgroup2.") == [("devices.allow", "c 1:3 rwm")]
    assert cfg.prefixed_items("lxc.sysctl.") == []


def test_changes_to_included_values_survive_save(tmp_path):
    (tmp_path / "common.conf").write_text("lxc.net.0.type = veth\nlxc.uts.name = common\n"
                                          "lxc.cap.drop = sys_module\n")
    cfg, path = load(tmp_path, "lxc.uts.name = top\nlxc.include = common.conf\n")
    assert cfg.get_item("lxc.uts.name") == "common"
    cfg.set_item("lxc.uts.name", "mine")
    cfg.set_item("lxc.net", "")
    cfg.set_item("lxc.cap.drop", "")
    cfg.save(str(path))
    again = ContainerConfig.load(str(path))
    assert again.get_item("lxc.uts.name") == "mine"
    assert again.networks() == [] and again.get_list("lxc.cap.drop") == []
    assert path.read_text() == ("lxc.uts.name = top\nlxc.include = common.conf\n"
                                "lxc.uts.name = mine\nlxc.net =\nlxc.cap.drop =\n")


def test_include_directory_missing_or_with_slash(tmp_path):
    cfg, _ = load(tmp_path, "lxc.include = /nonexistent.d/\nlxc.include = missing.d/\n"
                            "lxc.include =\nlxc.uts.name = x\n")
    assert cfg.get_item("lxc.uts.name") == "x"


def test_lxc_shipped_configs_load():
    import glob

    files = glob.glob("/usr/share/lxc/config/*.conf") + glob.glob("/etc/lxc/default.conf")
    if not files:
        pytest.skip("LXC's configuration files are not installed")
    for f in files:
        ContainerConfig.load(f)


def test_clear_item_of_included_value_survives_save(tmp_path):
    (tmp_path / "common.conf").write_text("lxc.uts.name = common\nlxc.hook.start = /a\n")
    cfg, path = load(tmp_path, "lxc.include = common.conf\nlxc.uts.name = top\n")
    cfg.clear_item("lxc.uts.name")
    cfg.clear_item("lxc.hook")
    cfg.save(str(path))
    assert path.read_text() == "lxc.include = common.conf\nlxc.uts.name =\nlxc.hook =\n"
    again = ContainerConfig.load(str(path))
    assert again.items()[0].key == "lxc.include" and len(again.items()) == 1


def test_unset_keys_read_as_lxc_prints_them():
    cfg = ContainerConfig()
    # LXC's getters print the default of a key nobody set
    for key, shown in (("lxc.start.auto", "0"), ("lxc.log.level", "NOTSET"),
                       ("lxc.tty.max", "0"), ("lxc.autodev", "1"),
                       ("lxc.monitor.signal.pdeath", "9"), ("lxc.rootfs.managed", "1"),
                       ("lxc.uts.name", ""), ("lxc.mount.entry", "")):
        assert cfg.get_item(key) == shown, key
    cfg.set_item("lxc.start.auto", "1")
    assert cfg.get_item("lxc.start.auto") == "1"
    cfg.clear_item("lxc.start.auto")
    assert cfg.get_item("lxc.start.auto") == "0"
    assert cfg.get("lxc.start.auto") is None  # the model still knows it is not set


def test_group_line_splits_on_blanks_not_commas():
    cfg = ContainerConfig()
    cfg.set_item("lxc.group", "a b,c")
    cfg.set_item("lxc.group", "d")
    assert cfg.get_item("lxc.group") == "a\nb,c\nd"
    cfg.set_item("lxc.group", "")
    assert cfg.get_item("lxc.group") == ""
