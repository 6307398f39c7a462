"""lxcz.Container's configuration methods (python3-lxc names) on top of ContainerConfig."""

from __future__ import annotations

import os

import pytest

import lxcz
from lxcz.errors import ConfigError, LxczError


@pytest.fixture
def c1(lxcpath):
    os.makedirs(os.path.join(lxcpath, "c1"))
    with open(os.path.join(lxcpath, "c1", "config"), "w") as f:
        f.write("# c1\nlxc.uts.name = c1\nlxc.net.0.type = veth\nlxc.net.0.link = br0\n"
                "lxc.cap.drop = sys_module sys_time\n")
    return lxcz.Container("c1", lxcpath)


def test_defined_and_paths(c1, lxcpath):
    assert c1.defined
    assert c1.config_file_name == os.path.join(lxcpath, "c1", "config")
    assert not lxcz.Container("nope", lxcpath).defined
    assert lxcz.list_containers(active=False, config_path=lxcpath) == ["c1"]


def test_get_set_clear_save(c1, lxcpath):
    assert c1.get_config_item("lxc.uts.name") == "c1"
    assert c1.get_config_item("lxc.net.0.link") == "br0"
    assert c1.get_config_item("lxc.cap.drop") == "sys_module\nsys_time"
    assert c1.get_config_item("lxc.net") == "veth"
    assert c1.set_config_item("lxc.uts.name", "renamed")
    assert c1.set_config_item("lxc.mount.entry", "/srv srv none bind 0 0")
    assert c1.clear_config_item("lxc.cap.drop")
    assert c1.save_config()
    text = open(c1.config_file_name).read()
    assert text == ("# c1\nlxc.uts.name = renamed\nlxc.net.0.type = veth\n"
                    "lxc.net.0.link = br0\nlxc.mount.entry = /srv srv none bind 0 0\n")
    other = lxcz.Container("c1", lxcpath)
    assert other.get_config_item("lxc.uts.name") == "renamed"
    assert other.get_config_item("lxc.cap.drop") == ""


def test_get_keys(c1):
    assert "lxc.uts.name" in c1.get_keys()
    assert "link" in c1.get_keys("lxc.net.0")
    assert c1.get_keys("lxc.apparmor") == ["profile", "allow_incomplete", "allow_nesting",
                                           "raw"]


def test_unknown_key(c1):
    with pytest.raises(ConfigError, match='unknown key "lxc.foo"'):
        c1.get_config_item("lxc.foo")
    with pytest.raises(ConfigError):
        c1.set_config_item("lxc.foo", "1")
    with pytest.raises(ConfigError):
        c1.set_config_item("lxc.tty.max", "many")


def test_load_config_and_new_container(lxcpath, tmp_path):
    c = lxcz.Container("new", lxcpath)
    assert c.get_config_item("lxc.uts.name") == ""
    c.set_config_item("lxc.uts.name", "new")
    c.save_config()
    assert c.defined
    other = tmp_path / "other.conf"
    other.write_text("lxc.uts.name = other\n")
    assert c.load_config(str(other))
    assert c.get_config_item("lxc.uts.name") == "other"


def test_bad_config_names_file_and_line(lxcpath):
    os.makedirs(os.path.join(lxcpath, "bad"))
    path = os.path.join(lxcpath, "bad", "config")
    with open(path, "w") as f:
        f.write("lxc.uts.name = bad\n\nlxc.foo = 1\n")
    with pytest.raises(LxczError) as err:
        lxcz.Container("bad", lxcpath).get_config_item("lxc.uts.name")
    assert str(err.value) == f'{path}:3: unknown key "lxc.foo"'


def test_tool_line_format(lxcpath, capsys):
    from lxcz.tools.common import guarded

    os.makedirs(os.path.join(lxcpath, "bad"))
    path = os.path.join(lxcpath, "bad", "config")
    with open(path, "w") as f:
        f.write("lxc.tty.max = x\n")
    c = lxcz.Container("bad", lxcpath)
    rc = guarded("lxc-info", "bad", lambda: c.get_config_item("lxc.tty.max"))
    assert rc == 1
    err = capsys.readouterr().err
    assert err == (f'lxc-info: bad: {path}:1: lxc.tty.max: invalid value "x": '
                   "not an unsigned integer\n")


BAD_FILES = {
    "unknown key": ("lxc.uts.name = x\nlxc.foo = 1\n", 2, 'unknown key "lxc.foo"'),
    "no equals": ("lxc.uts.name = x\n\nlxc.tty.max\n", 3, "expected KEY = VALUE"),
    "bad value": ("lxc.net.0.type = veth\nlxc.net.0.hwaddr = 00:11\n", 2,
                  'lxc.net.0.hwaddr: invalid hardware address "00:11"'),
    "include loop": ("lxc.include = config\n", 1, "include loop"),
    "unreadable include": ("\nlxc.include = /nonexistent.conf\n", 2,
                           'cannot read include "/nonexistent.conf"'),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_tool_reports_bad_config_in_one_line(lxcpath, capsys, case):
    from lxcz.tools.common import guarded

    text, line, cause = BAD_FILES[case]
    os.makedirs(os.path.join(lxcpath, "bad"))
    path = os.path.join(lxcpath, "bad", "config")
    with open(path, "w") as f:
        f.write(text)
    before = sorted(os.listdir(os.path.join(lxcpath, "bad")))
    c = lxcz.Container("bad", lxcpath)
    rc = guarded("lxc-start", "bad", lambda: c.config.require_applied())
    err = capsys.readouterr().err
    assert rc != 0
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"lxc-start: bad: {path}:{line}: " if case != "include loop"
                          else f"lxc-start: bad: {path}:1: include loop: ")
    assert cause in err
    assert sorted(os.listdir(os.path.join(lxcpath, "bad"))) == before


def test_tool_reports_missing_config(tmp_path, capsys):
    from lxcz.config import ContainerConfig
    from lxcz.tools.common import guarded

    path = str(tmp_path / "nope")
    rc = guarded("lxc-execute", "c1", lambda: ContainerConfig.load(path))
    assert rc == 1
    assert capsys.readouterr().err == (f"lxc-execute: c1: {path}: cannot read config file: "
                                       "No such file or directory\n")
