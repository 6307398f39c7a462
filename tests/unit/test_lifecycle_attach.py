"""lxc-attach and lxc-console logic that needs no container: environment policy,
namespace and privilege lists, exit codes, the console escape sequence."""

from __future__ import annotations

import os

import pytest

from lxcz.errors import LxczError
from lxcz.runtime import attach as A
from lxcz.runtime import console_client as C
from lxcz.sys import attachcalls


def test_keep_env_adds_container_and_extra():
    env = A.build_env(A.LXC_ATTACH_KEEP_ENV, ["FOO=bar", "PATH=/x"], [], ["CFG=1"],
                      base={"HOME": "/root", "PATH": "/usr/bin"})
    assert env == {"HOME": "/root", "PATH": "/x", "container": "lxc", "CFG": "1",
                   "FOO": "bar"}


def test_clear_env_keeps_only_what_is_asked():
    base = {"HOME": "/root", "KEEPME": "k", "SECRET": "s"}
    env = A.build_env(A.LXC_ATTACH_CLEAR_ENV, ["A=b"], ["KEEPME", "ABSENT"], base=base)
    assert env == {"KEEPME": "k", "PATH": A.DEFAULT_PATH, "container": "lxc", "A": "b"}
    env = A.build_env(A.LXC_ATTACH_CLEAR_ENV, [], ["PATH"], base={"PATH": "/p"})
    assert env["PATH"] == "/p"


def test_config_environment_without_value_passes_the_callers():
    env = A.build_env(A.LXC_ATTACH_CLEAR_ENV, [], [], ["TERM", "X=1"], base={"TERM": "vt"})
    assert env["TERM"] == "vt" and env["X"] == "1"


def test_parse_namespaces():
    assert A.parse_namespaces("MOUNT|PID|UTSNAME|IPC|USER|NETWORK|CGROUP") == \
        ["mnt", "pid", "uts", "ipc", "user", "net", "cgroup"]
    assert A.parse_namespaces("net") == ["net"]
    with pytest.raises(LxczError, match="invalid namespace 'BOGUS'"):
        A.parse_namespaces("NETWORK|BOGUS")


def test_exit_code():
    assert A.exit_code(0) == 0
    assert A.exit_code(7 << 8) == 7
    assert A.exit_code(9) == 137


def test_elevated_flags():
    from lxcz.tools.lxc_attach import elevated_flags

    assert elevated_flags(None) == (A.LXC_ATTACH_DROP_CAPABILITIES |
                                    A.LXC_ATTACH_MOVE_TO_CGROUP | A.LXC_ATTACH_LSM)
    assert elevated_flags("CGROUP") == A.LXC_ATTACH_MOVE_TO_CGROUP
    with pytest.raises(LxczError):
        elevated_flags("ROOT")


@pytest.mark.parametrize("text,code", [("a", 1), ("^a", 1), ("b", 2), ("^B", 2),
                                       ("z", 26)])
def test_escape_code(text, code):
    assert C.escape_code(text) == code


def test_escape_filter_like_lxc():
    esc = C._Escape(1)
    assert esc.filter(b"ab\x01\x01c") == b"ab\x01c"  # prefix twice sends it once
    assert not esc.quit
    assert esc.filter(b"\x01x") == b"x"  # prefix + other key: the prefix is dropped
    assert esc.filter(b"ls\x01") == b"ls" and esc.filter(b"q") == b"" and esc.quit
    assert C._Escape(-1).filter(b"\x01q") == b"\x01q"


def test_personality_table():
    assert attachcalls.personality_for("i686") == attachcalls.PER_LINUX32
    assert attachcalls.personality_for("x86_64") == attachcalls.PER_LINUX
    assert attachcalls.personality_for("vax") is None


def test_proxy_copies_and_escapes():
    """proxy() between two pipes and a pty: output copied, Ctrl+a q ends the session."""
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    rin, win = os.pipe()
    rout, wout = os.pipe()
    try:
        os.write(slave, b"hello from the tty\n")
        os.write(win, b"typed\x01q")
        C.proxy(master, rin, wout, escape=1)
        os.close(wout)
        wout = -1
        got = b""
        while True:
            chunk = os.read(rout, 1024)
            if not chunk:
                break
            got += chunk
        assert b"hello from the tty" in got
        os.set_blocking(slave, False)
        assert os.read(slave, 100).startswith(b"typed")
    finally:
        for fd in (master, slave, rin, win, rout, wout):
            if fd >= 0:
                os.close(fd)


class _DiskConfig:
    def __init__(self, items):
        self.items = items

    def get_item(self, key):
        return self.items.get(key)

    def get_list(self, key):
        return self.items.get(key) or []


class _NoDisk:
    """A container whose configuration file must not be read."""
    _rcfile = None

    @property
    def config(self):
        raise AssertionError("the configuration file was parsed")


def test_config_items_are_what_attach_reads():
    conf = _DiskConfig({"lxc.init.uid": "5", "lxc.environment": ["A=b", "C"],
                        "lxc.cap.drop": "sys_time", "lxc.unrelated": "x"})
    items = A.config_items(conf)
    assert set(items) == set(A.CONFIG_KEYS) | {"lxc.environment"}
    assert items["lxc.init.uid"] == "5" and items["lxc.environment"] == ["A=b", "C"]
    assert items["lxc.arch"] is None


def test_attach_takes_the_running_configuration_from_the_monitor(monkeypatch):
    monkeypatch.setenv("C", "from-caller")
    items = A.config_items(_DiskConfig({"lxc.init.uid": "5", "lxc.init.gid": "6",
                                        "lxc.environment": ["A=b", "C"],
                                        "lxc.no_new_privs": "1"}))
    info = {"pid": 9, "cgroup_attach": {"pids": "/c"}, "attach_conf": items}
    spec = A._options_to_spec(_NoDisk(), info, {"attach_flags": A.LXC_ATTACH_DEFAULT &
                                                ~A.LXC_ATTACH_LSM})
    assert (spec["uid"], spec["gid"], spec["no_new_privs"]) == (5, 6, True)
    assert spec["env"]["A"] == "b" and spec["env"]["C"] == "from-caller"


def test_attach_rcfile_or_an_older_monitor_reads_the_file():
    disk = _DiskConfig({"lxc.init.uid": "7"})

    class WithRc:
        _rcfile = "/some/file"
        config = disk

    class Plain:
        _rcfile = None
        config = disk

    flags = {"attach_flags": A.LXC_ATTACH_DEFAULT & ~A.LXC_ATTACH_LSM}
    running = {"pid": 9, "cgroup_attach": {"pids": "/c"},
               "attach_conf": A.config_items(_DiskConfig({"lxc.init.uid": "3"}))}
    assert A._options_to_spec(WithRc(), running, flags)["uid"] == 7
    assert A._options_to_spec(Plain(), running, flags)["uid"] == 3
    older = {"pid": 9, "cgroup_attach": {"pids": "/c"}}
    assert A._options_to_spec(Plain(), older, flags)["uid"] == 7
