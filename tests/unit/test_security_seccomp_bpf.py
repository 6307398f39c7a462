"""The seccomp BPF compiler, checked by running its programs in a small BPF interpreter."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lxcz.errors import ConfigError, LxczError
from lxcz.security import seccomp_bpf as sb
from lxcz.security import seccomp_policy as sp
from lxcz.sys import arch as archmod
from lxcz.sys.seccomp import (
    SECCOMP_RET_ALLOW,
    SECCOMP_RET_ERRNO,
    SECCOMP_RET_KILL_PROCESS,
    SECCOMP_RET_TRAP,
)

DEBIAN = "/usr/share/lxc/config/common.seccomp"
ALLOW, KILL = SECCOMP_RET_ALLOW, SECCOMP_RET_KILL_PROCESS


def errno(n):
    return SECCOMP_RET_ERRNO | n


class Program:
    """A compiled filter plus a classic-BPF interpreter that checks it the way the
    kernel's seccomp_check_filter does (aligned 32-bit loads inside seccomp_data,
    forward jumps inside the program, only the opcodes seccomp accepts)."""

    def __init__(self, policy, native):
        self.native = native
        self.big = archmod.ARCHES[native].big_endian
        self.raw = sb.compile_policy(policy, native)
        fmt = ">HBBI" if self.big else "<HBBI"
        assert len(self.raw) % 8 == 0
        self.insns = [struct.unpack_from(fmt, self.raw, i) for i in range(0, len(self.raw), 8)]
        assert 0 < len(self.insns) <= 4096
        for pc, (code, jt, jf, k) in enumerate(self.insns):
            if code == sb.BPF_LD_W_ABS:
                assert k % 4 == 0 and k + 4 <= 64
            elif code in (sb.BPF_JEQ, sb.BPF_JGT, sb.BPF_JGE):
                assert pc + 1 + max(jt, jf) < len(self.insns)
            elif code == sb.BPF_JA:
                assert pc + 1 + k < len(self.insns)
            else:
                assert code in (sb.BPF_RET_K, sb.BPF_ALU_AND_K), hex(code)
        assert self.insns[-1][0] == sb.BPF_RET_K

    def run(self, part, nr, args=(0, 0, 0, 0, 0, 0), audit=None):
        info = archmod.ARCHES[part]
        if audit is None:
            audit = info.audit_arch
        if isinstance(nr, str):
            nr = archmod.syscalls(part)[nr]
        args = tuple(args) + (0,) * (6 - len(args))
        if info.bits == 32:
            args = tuple(a & 0xFFFFFFFF for a in args)  # what a 32-bit task can pass
        data = struct.pack((">" if self.big else "<") + "IIQ6Q", nr, audit, 0x1000, *args)
        word = ">I" if self.big else "<I"
        a = 0
        pc = 0
        steps = 0
        while True:
            steps += 1
            assert steps <= len(self.insns)
            code, jt, jf, k = self.insns[pc]
            if code == sb.BPF_LD_W_ABS:
                a = struct.unpack_from(word, data, k)[0]
                pc += 1
            elif code == sb.BPF_ALU_AND_K:
                a &= k
                pc += 1
            elif code == sb.BPF_JA:
                pc += 1 + k
            elif code == sb.BPF_JEQ:
                pc += 1 + (jt if a == k else jf)
            elif code == sb.BPF_JGT:
                pc += 1 + (jt if a > k else jf)
            elif code == sb.BPF_JGE:
                pc += 1 + (jt if a >= k else jf)
            elif code == sb.BPF_RET_K:
                return k
            else:
                raise AssertionError(f"opcode {code:#x}")


def families():
    for native in archmod.NATIVE_ARCHES:
        yield native, (native,) + archmod.compat_arches(native)


FAMILIES = list(families())


def compile_text(text, native):
    return Program(sp.parse_policy(text, "/p"), native)


@pytest.mark.parametrize("native,parts", FAMILIES)
def test_debian_common_seccomp_every_arch(native, parts):
    if not os.path.exists(DEBIAN):
        pytest.skip(f"{DEBIAN} not installed (apt-get install lxc)")
    prog = Program(sp.load_policy(DEBIAN), native)
    mnt_force, mnt_detach = 1, 2
    for part in parts:
        for call in ("kexec_load", "open_by_handle_at", "init_module", "finit_module",
                     "delete_module"):
            assert prog.run(part, call) == errno(1), (native, part, call)
        for call in ("read", "write", "execve", "mount", "exit_group"):
            assert prog.run(part, call) == ALLOW, (native, part, call)
        assert prog.run(part, "umount2", (0, mnt_force)) == errno(13)
        assert prog.run(part, "umount2", (0, mnt_force | mnt_detach)) == errno(13)
        assert prog.run(part, "umount2", (0, mnt_detach)) == ALLOW
        assert prog.run(part, "umount2", (0, 0)) == ALLOW
    # any ABI outside the family: its numbers mean other calls, so it dies
    assert prog.run(native, 0, audit=0x12345678) == KILL
    other = "aarch64" if native != "aarch64" else "x86_64"
    assert prog.run(native, 0, audit=archmod.ARCHES[other].audit_arch) == KILL


def test_v1_whitelist_from_the_old_docs():
    text = "1\nwhitelist\n" + "".join(f"{n}\n" for n in [*range(301), *range(1024, 1080)])
    prog = compile_text(text, "x86_64")
    for nr in (0, 1, 59, 231, 300, 1024, 1079):
        assert prog.run("x86_64", nr) == ALLOW
    for nr in (301, 334, 435, 1023, 1080, 0xFFFFFFFF):
        assert prog.run("x86_64", nr) == errno(38)  # ENOSYS: libc falls back
    assert prog.run("x32", "read") == errno(38)
    # version 1 numbers are native numbers: a compat (i386) task is not let through
    assert prog.run("i386", 3) == KILL
    # range compression: the whole list is a handful of comparisons
    assert len(prog.insns) < 15


@pytest.mark.parametrize("native,parts", FAMILIES)
def test_sections_apply_to_their_abi_only(native, parts):
    text = ("2\ndenylist\n[all]\nread errno 1\n[x86]\nwrite errno 2\n[x86_64]\nwrite errno 3\n"
            "[x32]\nwrite errno 4\n[arm]\nwrite errno 5\n[arm64]\nwrite errno 6\n"
            "[ppc64le]\nwrite errno 7\n[s390x]\nwrite errno 8\n[ppc]\nwrite errno 9\n"
            "[ppc64]\nwrite errno 10\n[s390]\nwrite errno 11\n[riscv64]\nwrite errno 12\n")
    expect = {"i386": 2, "x86_64": 3, "x32": 4, "arm": 5, "aarch64": 6, "ppc64le": 7,
              "s390x": 8, "ppc": 9, "ppc64": 10, "s390": 11, "riscv64": 12}
    prog = compile_text(text, native)
    for part in parts:
        assert prog.run(part, "read") == errno(1)
        assert prog.run(part, "write") == errno(expect[part])
        assert prog.run(part, "close") == ALLOW


def test_allowlist_with_default_and_rule_actions():
    text = "2\nallowlist errno 1\nread\nwrite\nexit_group\nopenat trap\n"
    prog = compile_text(text, "aarch64")
    for part in ("aarch64", "arm"):
        assert prog.run(part, "read") == ALLOW
        assert prog.run(part, "openat") == SECCOMP_RET_TRAP
        assert prog.run(part, "close") == errno(1)
    prog = compile_text("2\nallowlist\nread\n", "s390x")
    assert prog.run("s390x", "write") == KILL
    assert prog.run("s390", "read") == ALLOW


def test_name_missing_on_an_arch_is_skipped_with_a_warning():
    pol = sp.parse_policy("2\ndenylist\narm_fadvise64_64 errno 1\nsocketcall errno 2\n", "/p")
    warnings = []
    prog = sb.build(pol, "x86_64", warnings)
    assert prog
    assert any('"arm_fadvise64_64" does not exist on x86_64' in w for w in warnings)
    assert all("/p:" in w for w in warnings)
    # socketcall exists on i386 (compat): enforced there, and no warning for it on x86_64's
    # compat part
    p = Program(pol, "x86_64")
    assert p.run("i386", "socketcall") == errno(2)
    p = Program(pol, "aarch64")
    assert p.run("arm", "arm_fadvise64_64") == errno(1)


def test_conflicting_actions_are_an_error():
    pol = sp.parse_policy("2\ndenylist\nread errno 1\n\nread errno 2\n", "/p")
    with pytest.raises(ConfigError) as e:
        sb.compile_policy(pol, "x86_64")
    assert e.value.line == 5 and e.value.path == "/p" and "read" in str(e.value)
    # the same action twice is fine, and so is a section override that agrees
    pol = sp.parse_policy("2\ndenylist\nread errno 1\n[x86_64]\nread errno 1\n", "/p")
    assert sb.compile_policy(pol, "x86_64")
    # different sections that never meet on one ABI do not conflict
    pol = sp.parse_policy("2\ndenylist\n[x86_64]\nread errno 1\n[x86]\nread errno 2\n", "/p")
    p = Program(pol, "x86_64")
    assert p.run("x86_64", "read") == errno(1) and p.run("i386", "read") == errno(2)


def test_conditional_rules_are_tried_in_order_then_the_plain_rule():
    text = ("2\ndenylist\npersonality errno 1 [0,8,SCMP_CMP_EQ]\n"
            "personality errno 2 [0,16,SCMP_CMP_GE]\npersonality errno 3\n")
    for native in ("x86_64", "s390x"):
        prog = compile_text(text, native)
        assert prog.run(native, "personality", (8,)) == errno(1)
        assert prog.run(native, "personality", (17,)) == errno(2)
        assert prog.run(native, "personality", (9,)) == errno(3)


def test_several_argument_filters_are_anded():
    text = "2\ndenylist\nmount errno 1 [2,5,==] [3,0x10,&=,0x10]\n"
    prog = compile_text(text, "x86_64")
    assert prog.run("x86_64", "mount", (0, 0, 5, 0x11)) == errno(1)
    assert prog.run("x86_64", "mount", (0, 0, 5, 0x01)) == ALLOW
    assert prog.run("x86_64", "mount", (0, 0, 6, 0x10)) == ALLOW


def expected(op, arg, value, mask):
    return {"eq": arg == value, "ne": arg != value, "lt": arg < value, "le": arg <= value,
            "gt": arg > value, "ge": arg >= value,
            "masked_eq": (arg & mask) == value}[op]


U64 = st.one_of(st.integers(0, 2**64 - 1), st.sampled_from(
    [0, 1, 2**32 - 1, 2**32, 2**32 + 1, 2**63, 2**64 - 1, 0xFFFFFFFF00000000]))


@settings(max_examples=150, deadline=None)
@given(op=st.sampled_from(sp.OPS), arg=U64, value=U64, mask=U64, index=st.integers(0, 5),
       native=st.sampled_from(["x86_64", "s390x", "aarch64", "ppc64"]))
def test_64bit_comparisons_match_python(op, arg, value, mask, index, native):
    if op == "masked_eq":
        value &= mask if arg % 2 else 2**64 - 1  # make matches likely half the time
        if arg % 3 == 0:
            arg = (arg & ~mask) | value
    pol = sp.Policy(2, "denylist", ALLOW, [sp.Rule("all", "lseek", None, errno(7),
                                                   (sp.ArgCmp(index, op, value, mask),), 3)],
                    "/p")
    prog = Program(pol, native)
    args = [0] * 6
    args[index] = arg
    want = errno(7) if expected(op, arg, value, mask) else ALLOW
    assert prog.run(native, "lseek", args) == want


@settings(max_examples=100, deadline=None)
@given(op=st.sampled_from(sp.OPS), arg=st.integers(0, 2**32 - 1), value=U64, mask=U64,
       native=st.sampled_from(["x86_64", "aarch64", "s390x"]))
def test_32bit_compat_abis_compare_the_low_word(op, arg, value, mask, native):
    compat = archmod.compat_arches(native)[0]
    pol = sp.Policy(2, "denylist", ALLOW, [sp.Rule("all", "lseek", None, errno(7),
                                                   (sp.ArgCmp(1, op, value, mask),), 3)],
                    "/p")
    prog = Program(pol, native)
    want = expected(op, arg, value & 0xFFFFFFFF, mask & 0xFFFFFFFF)
    assert prog.run(compat, "lseek", (0, arg)) == (errno(7) if want else ALLOW)


def test_long_jumps_go_through_trampolines():
    # many syscalls with argument filters: the binary search must jump further than 255
    table = archmod.syscalls("x86_64")
    names = sorted(table, key=table.get)[:150]
    lines = [f"{n} errno {i + 1} [0,{i},SCMP_CMP_EQ] [1,{i},SCMP_CMP_NE]"
             for i, n in enumerate(names)]
    prog = compile_text("2\ndenylist\n[x86_64]\n" + "\n".join(lines) + "\n", "x86_64")
    assert any(code == sb.BPF_JA for code, *_ in prog.insns)
    for i, n in enumerate(names):
        assert prog.run("x86_64", n, (i, i + 1)) == errno(i + 1)
        assert prog.run("x86_64", n, (i, i)) == ALLOW
        assert prog.run("x86_64", n, (i + 1, 0)) == ALLOW


def test_too_large_a_program_is_refused():
    table = archmod.syscalls("x86_64")
    names = sorted(table)[:300]
    lines = [f"{n} errno 1 " + "[0,1,<][1,2,>][2,3,<=][3,4,>=][4,5,!=][5,6,==]"
             for n in names]
    pol = sp.parse_policy("2\ndenylist\n" + "\n".join(lines) + "\n", "/p")
    with pytest.raises(LxczError) as e:
        sb.compile_policy(pol, "x86_64")
    assert "4096" in str(e.value) and "/p" in str(e.value)


def test_output_byte_order_follows_the_target():
    pol = sp.parse_policy("2\ndenylist\nread errno 1\n", "/p")
    le = sb.compile_policy(pol, "x86_64")
    be = sb.compile_policy(pol, "s390x")
    assert le[:2] == b"\x20\x00" and be[:2] == b"\x00\x20"


def test_unknown_target_arch():
    pol = sp.parse_policy("2\ndenylist\nread errno 1\n", "/p")
    with pytest.raises(LxczError):
        sb.compile_policy(pol, "vax")
