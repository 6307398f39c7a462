"""The cgroup2 device BPF program: rule parsing, LXC 5's list semantics, and the bytecode,
checked by running it in a small interpreter of the instructions it uses."""

from __future__ import annotations

import struct
import sys

import pytest

from lxcz.cgroups import devices as D


def run(program, dev_type, access, major, minor):
    """Interpret the subset of eBPF that build() emits; returns r0."""
    regs = [0] * 11
    ctx = (access << 16 | dev_type, major, minor)
    insns = [struct.unpack("=BBhi", program[i:i + 8]) for i in range(0, len(program), 8)]
    pc = 0
    while True:
        code, regbyte, off, imm = insns[pc]
        dst, src = ((regbyte >> 4, regbyte & 15) if sys.byteorder == "big"
                    else (regbyte & 15, regbyte >> 4))
        pc += 1
        if code == 0x61:
            regs[dst] = ctx[off // 4]
        elif code == 0x54:
            regs[dst] &= imm & 0xFFFFFFFF
        elif code == 0x74:
            regs[dst] >>= imm
        elif code == 0xbc:
            regs[dst] = regs[src]
        elif code == 0xb7:
            regs[dst] = imm
        elif code == 0x55:
            if regs[dst] != imm:
                pc += off
        elif code == 0x5d:
            if regs[dst] != regs[src]:
                pc += off
        elif code == 0x95:
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")


R, W, M = D.ACC_READ, D.ACC_WRITE, D.ACC_MKNOD
CHR, BLK = D.DEV_CHAR, D.DEV_BLOCK


def program(*pairs):
    default, rules = D.compile_rules(pairs)
    return D.build(default, rules)


def test_parse():
    assert D.parse("devices.deny", "a") == (False, None)
    allow, rule = D.parse("devices.allow", "c 136:* rw")
    assert allow and (rule.type, rule.major, rule.minor, rule.access) == ("c", 136, -1, R | W)
    for bad in ("x 1:3 rwm", "c 1 rwm", "c 1:3", "c 1:3 rwx", "c 1:3 rr", "/dev/null"):
        with pytest.raises(ValueError):
            D.parse("devices.allow", bad)
    with pytest.raises(ValueError):
        D.parse("devices.list", "a")


def test_allowlist_like_lxc_common_conf():
    prog = program(("devices.deny", "a"), ("devices.allow", "c *:* m"),
                   ("devices.allow", "b *:* m"), ("devices.allow", "c 1:3 rwm"),
                   ("devices.allow", "c 136:* rwm"))
    assert run(prog, CHR, R | W, 1, 3) == 1          # /dev/null
    assert run(prog, CHR, R, 1, 5) == 0              # /dev/zero not listed
    assert run(prog, CHR, M, 1, 5) == 1              # mknod of any char device
    assert run(prog, BLK, M, 8, 0) == 1
    assert run(prog, BLK, R, 8, 0) == 0
    assert run(prog, CHR, R | W, 136, 7) == 1        # any pty
    assert run(prog, CHR, R | W | M, 136, 7) == 1


def test_denylist_and_last_rule_wins():
    prog = program(("devices.allow", "a"), ("devices.deny", "c 1:3 w"))
    assert run(prog, CHR, R, 1, 3) == 1
    assert run(prog, CHR, W, 1, 3) == 0
    assert run(prog, CHR, R | W, 1, 3) == 1  # not a subset of the denied access
    assert run(prog, BLK, R | W, 8, 0) == 1
    prog = program(("devices.deny", "a"), ("devices.allow", "c 1:3 rwm"),
                   ("devices.deny", "c 1:3 rwm"))
    assert run(prog, CHR, R, 1, 3) == 0
    prog = program(("devices.deny", "a"), ("devices.allow", "c *:* rwm"),
                   ("devices.deny", "c 5:1 rwm"))
    assert run(prog, CHR, R, 5, 1) == 0 and run(prog, CHR, R, 5, 0) == 1


def test_bare_a_resets_the_list():
    prog = program(("devices.deny", "a"), ("devices.allow", "c 1:3 rwm"), ("devices.allow", "a"))
    default, rules = D.compile_rules([("devices.deny", "a"), ("devices.allow", "c 1:3 rwm"),
                                      ("devices.allow", "a")])
    assert default is True and rules == []
    assert run(prog, BLK, R, 8, 0) == 1


def test_default_kernel_policy_allows():
    assert run(program(), CHR, R, 1, 3) == 1
