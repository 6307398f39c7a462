"""lxcz.security.limits: prlimit/sysctl/proc parsing and writing into fake /proc trees."""

from __future__ import annotations

import os

import pytest

from lxcz.errors import LxczError
from lxcz.security import limits


def test_prlimit_names_match_the_man_page_and_config():
    from lxcz.config import values

    assert limits.PRLIMITS == values.PRLIMITS
    import resource

    assert limits.rlimit_number("nofile") == resource.RLIMIT_NOFILE
    assert limits.rlimit_number("as") == resource.RLIMIT_AS


@pytest.mark.parametrize("value,expect", [
    ("1024", (1024, 1024)), ("1024:4096", (1024, 4096)), ("unlimited", (-1, -1)),
    ("0:unlimited", (0, -1)), (5, (5, 5)), ((1, 2), (1, 2)), ("unlimited:unlimited", (-1, -1)),
])
def test_parse_limit(value, expect):
    assert limits.parse_limit(value) == expect


@pytest.mark.parametrize("value", ["abc", "1:b", "-5", "10:5", "unlimited:10", "1:2:3", ""])
def test_bad_limit_values(value):
    with pytest.raises(LxczError):
        limits.parse_limit(value, "nofile")


def test_unknown_prlimit_name():
    with pytest.raises(LxczError, match=r'unknown resource limit "lxc.prlimit.files"'):
        limits.check_prlimits({"nofile": "10", "files": "10"})


@pytest.fixture
def fakeproc(tmp_path):
    sysd = tmp_path / "sys"
    for rel, val in [("net/ipv4/ip_forward", "0"), ("net/ipv4/conf/default/forwarding", "0"),
                     ("kernel/shmmax", "1"), ("kernel/sem", "1 2 3 4"),
                     ("fs/mqueue/msg_max", "10"), ("vm/swappiness", "60"),
                     ("kernel/hostname", "h")]:
        p = sysd / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(val + "\n")
    (tmp_path / "4242").mkdir()
    (tmp_path / "4242" / "oom_score_adj").write_text("0\n")
    return str(tmp_path)


def test_sysctls_written(fakeproc):
    limits.apply_sysctls({"net.ipv4.ip_forward": "1", "kernel/shmmax": "99",
                          "kernel.sem": "5 6 7 8"}, proc=fakeproc)
    assert open(os.path.join(fakeproc, "sys/net/ipv4/ip_forward")).read().strip() == "1"
    assert open(os.path.join(fakeproc, "sys/kernel/shmmax")).read().strip() == "99"


def test_per_interface_sysctl_known_from_default(fakeproc):
    limits.check_sysctls({"net.ipv4.conf.eth0.forwarding": "1"}, proc=fakeproc)
    with pytest.raises(LxczError, match="unknown sysctl"):
        limits.check_sysctls({"net.ipv4.conf.eth0.nosuch": "1"}, proc=fakeproc)


@pytest.mark.parametrize("name,cause", [
    ("net.ipv4.nosuch", "unknown sysctl lxc.sysctl.net.ipv4.nosuch"),
    ("vm.swappiness", "not a namespaced sysctl"),
    ("kernel.panic", "not a namespaced sysctl"),
    ("net..x", "invalid sysctl name"),
])
def test_bad_sysctls(fakeproc, name, cause):
    before = open(os.path.join(fakeproc, "sys/net/ipv4/ip_forward")).read()
    with pytest.raises(LxczError) as e:
        limits.apply_sysctls({"net.ipv4.ip_forward": "1", name: "1"}, proc=fakeproc)
    assert cause in str(e.value)
    # checked before anything is written
    assert open(os.path.join(fakeproc, "sys/net/ipv4/ip_forward")).read() == before


def test_apply_proc(fakeproc):
    limits.apply_proc(4242, {"oom_score_adj": "-500"}, proc=fakeproc)
    assert open(os.path.join(fakeproc, "4242/oom_score_adj")).read().strip() == "-500"
    with pytest.raises(LxczError, match="no such file"):
        limits.apply_proc(4242, {"nosuch": "1"}, proc=fakeproc)
    with pytest.raises(LxczError, match="invalid lxc.proc key"):
        limits.apply_proc(4242, {"../4242/oom_score_adj": "1"}, proc=fakeproc)


def test_personality_words():
    from lxcz.sys import arch

    assert limits.personality_value("i686") == arch.PER_LINUX32
    assert limits.personality_value("linux32") == arch.PER_LINUX32
    assert limits.personality_value("x86_64") == arch.PER_LINUX
    with pytest.raises(LxczError, match='unknown architecture "lxc.arch = vax"'):
        limits.personality_value("vax")
    assert limits.apply_personality(None) is None
    assert limits.apply_personality("  ") is None
