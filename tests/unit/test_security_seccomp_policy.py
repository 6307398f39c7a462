"""Parsing seccomp policy files: versions 1 and 2, legacy words, sections, bad input."""

from __future__ import annotations

import os

import pytest

from lxcz.errors import ConfigError
from lxcz.security import seccomp_policy as sp
from lxcz.sys.seccomp import (
    SECCOMP_RET_ALLOW,
    SECCOMP_RET_ERRNO,
    SECCOMP_RET_KILL_PROCESS,
    SECCOMP_RET_TRAP,
)

DEBIAN = "/usr/share/lxc/config/common.seccomp"


def parse(text):
    return sp.parse_policy(text, "/p")


def err(text):
    with pytest.raises(ConfigError) as e:
        parse(text)
    return e.value


def test_version1_whitelist_and_allowlist():
    for word in ("whitelist", "allowlist"):
        p = parse(f"1\n{word}\n0\n1\n# comment\n\n60\n")
        assert p.version == 1 and p.mode == "allowlist"
        assert [r.nr for r in p.rules] == [0, 1, 60]
        assert all(r.action == SECCOMP_RET_ALLOW for r in p.rules)
        # unlisted calls fail with ENOSYS instead of killing the program
        assert p.default_action == SECCOMP_RET_ERRNO | 38


def test_version1_bad_lines():
    e = err("1\nwhitelist\n0\nread\n")
    assert (e.path, e.line) == ("/p", 4)
    assert "expected a syscall number" in str(e)
    assert str(e).startswith("/p:4: ")
    e = err("1\nblacklist\n0\n")
    assert e.line == 2 and "only be allowlists" in str(e)
    assert err("1\nwhitelist\n-5\n").line == 3
    assert "out of range" in str(err("1\nwhitelist\n0\n4294967296\n"))


def test_bad_headers():
    assert err("").line is None
    e = err("3\ndenylist\n")
    assert e.line == 1 and "version" in str(e)
    assert err("two\ndenylist\n").line == 1
    assert err("2\n").line == 2
    e = err("2\ngreylist\n")
    assert e.line == 2 and "greylist" in str(e)
    e = err("2\ndenylist debug\n")
    assert "debug" in str(e)
    e = err("2\ndenylist frobnicate\n")
    assert e.line == 2 and "frobnicate" in str(e)


def test_v2_modes_and_default_actions():
    p = parse("2\ndenylist\nmknod\n")
    assert p.mode == "denylist" and p.default_action == SECCOMP_RET_ALLOW
    assert p.rules[0].action == SECCOMP_RET_KILL_PROCESS  # LXC: denylist rule default
    p = parse("2\nblacklist errno 13\nmknod errno 0\n")
    assert p.default_action == SECCOMP_RET_ERRNO | 13
    assert p.rules[0].action == SECCOMP_RET_ERRNO | 0
    p = parse("2\nallowlist\nread\nwrite trap\n")
    assert p.mode == "allowlist" and p.default_action == SECCOMP_RET_KILL_PROCESS
    assert p.rules[0].action == SECCOMP_RET_ALLOW
    assert p.rules[1].action == SECCOMP_RET_TRAP
    p = parse("2\nwhitelist errno 1\nread\n")
    assert p.mode == "allowlist" and p.default_action == SECCOMP_RET_ERRNO | 1


def test_sections():
    p = parse("2\ndenylist\nread errno 1\n[x86_64]\nwrite errno 2\n[X86]\nopen errno 3\n"
              "[arm64]\nclose errno 4\n[all]\ndup errno 5\n[mips]\nnot_a_call_at_all\n"
              "[ppc64le]\nfsync errno 6\n")
    got = [(r.section, r.name) for r in p.rules]
    assert got == [("all", "read"), ("x86_64", "write"), ("i386", "open"),
                   ("aarch64", "close"), ("all", "dup"), ("ppc64le", "fsync")]
    e = err("2\ndenylist\n[vax]\nread\n")
    assert e.line == 3 and "[vax]" in str(e)


def test_actions_and_bad_actions():
    p = parse("2\ndenylist\nread kill\nwrite allow\nopen errno 4095\n")
    assert [r.action for r in p.rules] == [SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_ALLOW,
                                           SECCOMP_RET_ERRNO | 4095]
    assert "out of range" in str(err("2\ndenylist\nread errno 4096\n"))
    assert "needs a number" in str(err("2\ndenylist\nread errno\n"))
    assert "needs a number" in str(err("2\ndenylist\nread errno x\n"))
    e = err("2\ndenylist\nioctl notify\n")
    assert e.line == 3 and "notify" in str(e) and "not supported" in str(e)
    e = err("2\ndenylist\nread explode\n")
    assert "explode" in str(e)
    assert err("2\ndenylist\nread kill now\n").line == 3


def test_unknown_syscall_is_an_error_but_other_arch_calls_are_not():
    e = err("2\ndenylist\n\nno_such_syscall errno 1\n")
    assert (e.path, e.line) == ("/p", 4) and "no_such_syscall" in str(e)
    # exists on arm only: accepted here, skipped by the compiler on other arches
    p = parse("2\ndenylist\narm_fadvise64_64 errno 1\nsocketcall errno 1\n")
    assert len(p.rules) == 2


def test_argument_filters():
    p = parse("2\ndenylist\n"
              "personality errno 1 [0,0xffffffff,SCMP_CMP_EQ]\n"
              "mount errno 2 [2,1,SCMP_CMP_MASKED_EQ,1] [3,5,!=]\n"
              "clone errno 3 [0,18446744073709551615,>=][1,010,<]\n"
              "kill [0,1,==]\n")
    r = p.rules
    assert r[0].args == (sp.ArgCmp(0, "eq", 0xFFFFFFFF, 0),)
    assert r[1].args == (sp.ArgCmp(2, "masked_eq", 1, 1), sp.ArgCmp(3, "ne", 5, 0))
    assert r[2].args == (sp.ArgCmp(0, "ge", 2**64 - 1, 0), sp.ArgCmp(1, "lt", 8, 0))
    assert r[3].action == SECCOMP_RET_KILL_PROCESS and r[3].args == (sp.ArgCmp(0, "eq", 1),)
    for op, name in (("SCMP_CMP_NE", "ne"), ("SCMP_CMP_LT", "lt"), ("SCMP_CMP_LE", "le"),
                     ("SCMP_CMP_GE", "ge"), ("SCMP_CMP_GT", "gt"), ("<=", "le"),
                     (">", "gt"), ("&=", "masked_eq")):
        assert parse(f"2\ndenylist\nread errno 1 [1,2,{op}]\n").rules[0].args[0].op == name


@pytest.mark.parametrize("args,cause", [
    ("[6,1,SCMP_CMP_EQ]", "index 6"),
    ("[x,1,SCMP_CMP_EQ]", "index"),
    ("[0,1]", "3 or 4 fields"),
    ("[0,1,SCMP_CMP_EQ,1,2]", "3 or 4 fields"),
    ("[0,-1,SCMP_CMP_EQ]", "value"),
    ("[0,18446744073709551616,SCMP_CMP_EQ]", "64 bits"),
    ("[0,1,SCMP_CMP_FOO]", "SCMP_CMP_FOO"),
    ("[0,1,SCMP_CMP_EQ] junk", "junk"),
    ("[0,1,SCMP_CMP_MASKED_EQ,zz]", "mask"),
    ("[0,1,==]" * 7, "at most 6"),
])
def test_bad_argument_filters(args, cause):
    e = err(f"2\ndenylist\nread errno 1 {args}\n")
    assert e.line == 3 and cause in str(e)


def test_comments_and_blank_lines():
    p = parse("2\ndenylist  # trailing\n# whole line\n\n   \nreject_force_umount  # x\n"
              "read errno 1 # why\n")
    assert [r.name for r in p.rules] == ["umount2", "read"]
    assert p.rules[0].args == (sp.ArgCmp(1, "masked_eq", 1, 1),)
    assert p.rules[0].action == SECCOMP_RET_ERRNO | 13


def test_conflicting_rules_parse(tmp_path):
    # conflicts are per architecture, so they are found when compiling
    p = parse("2\ndenylist\nread errno 1\nread errno 2\n")
    assert len(p.rules) == 2


def test_load_policy_file_errors(tmp_path):
    with pytest.raises(ConfigError) as e:
        sp.load_policy(str(tmp_path / "missing"))
    assert str(tmp_path / "missing") in str(e.value) and "cannot read" in str(e.value)
    bad = tmp_path / "bin"
    bad.write_bytes(b"2\ndenylist\n\xff\xfe\n")
    with pytest.raises(ConfigError):
        sp.load_policy(str(bad))
    good = tmp_path / "ok"
    good.write_text("2\ndenylist\nread errno 1\n")
    assert sp.load_policy(str(good)).path == str(good)


def test_debian_common_seccomp():
    if not os.path.exists(DEBIAN):
        pytest.skip(f"{DEBIAN} not installed (apt-get install lxc)")
    p = sp.load_policy(DEBIAN)
    assert p.version == 2 and p.mode == "denylist"
    names = {r.name for r in p.rules}
    assert {"kexec_load", "open_by_handle_at", "init_module", "finit_module",
            "delete_module", "umount2"} <= names


def test_action_names():
    assert sp.action_name(SECCOMP_RET_ERRNO | 5) == "errno 5"
    assert sp.action_name(SECCOMP_RET_ALLOW) == "allow"
    assert sp.action_name(SECCOMP_RET_KILL_PROCESS) == "kill"


def test_should_install_follows_lxc():
    from lxcz.sys import seccomp

    assert seccomp.should_install(True)
    assert seccomp.should_install(False) == (seccomp.mode() == 0)
