"""Device rules on cgroup2: ``lxc.cgroup2.devices.allow/deny`` as a BPF program.

cgroup2 has no devices.allow file; the kernel asks a BPF_PROG_TYPE_CGROUP_DEVICE program
attached to the cgroup instead. Rules keep cgroup v1's language (``a``, ``c 1:3 rwm``,
``b *:* m``) and LXC 5's meaning: a bare ``a`` sets the default (deny ``a``: block
everything not allowed; allow ``a``: allow everything not denied) and forgets earlier
rules; otherwise the last rule that matches a device decides. ``build`` makes the
program (pure, testable anywhere); ``attach`` loads it and attaches it to a cgroup.

The bpf(2) call is made here through ctypes; it belongs in lxcz.sys next to the other
kernel calls and should move there.
"""

from __future__ import annotations

import os
import re
import struct
import sys
from dataclasses import dataclass

from lxcz.errors import LxczError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, List, Optional, Tuple

# linux/bpf.h
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2
DEV_BLOCK, DEV_CHAR = 1, 2
ACC_MKNOD, ACC_READ, ACC_WRITE = 1, 2, 4

_RULE = re.compile(r"^([abc])\s+(\d+|\*):(\d+|\*)\s+([rwm]{1,3})$")


@dataclass
class Rule:
    allow: bool
    type: str          # a, b, c
    major: int         # -1: any
    minor: int         # -1: any
    access: int        # mask of ACC_*


def parse(key: str, value: str) -> Tuple[bool, Optional[Rule]]:
    """(allow, rule) for ``devices.allow``/``devices.deny`` = value; rule None for a
    bare ``a`` (the default policy). ValueError on anything else."""
    allow = key.endswith("devices.allow")
    if not allow and not key.endswith("devices.deny"):
        raise ValueError(f"not a device rule key: {key}")
    text = value.strip()
    if text == "a":
        return allow, None
    m = _RULE.match(text)
    if not m:
        raise ValueError(f"invalid device rule '{value}' (TYPE MAJOR:MINOR ACCESS, "
                         "e.g. 'c 1:3 rwm', or 'a')")
    kind, major, minor, acc = m.groups()
    mask = 0
    for ch in acc:
        bit = {"r": ACC_READ, "w": ACC_WRITE, "m": ACC_MKNOD}[ch]
        if mask & bit:
            raise ValueError(f"invalid device rule '{value}': repeated access '{ch}'")
        mask |= bit
    return allow, Rule(allow, kind, -1 if major == "*" else int(major),
                       -1 if minor == "*" else int(minor), mask)


def compile_rules(pairs: Iterable[Tuple[str, str]]) -> Tuple[bool, List[Rule]]:
    """(default allow, rules newest first) from (key, value) pairs in config order."""
    default = True  # the kernel's default: every device allowed
    rules: List[Rule] = []
    for key, value in pairs:
        allow, rule = parse(key, value)
        if rule is None:
            default = allow
            rules = []
            continue
        same = next((r for r in rules if (r.type, r.major, r.minor, r.access) ==
                     (rule.type, rule.major, rule.minor, rule.access)), None)
        if same is not None:
            same.allow = allow
        else:
            rules.insert(0, rule)
    return default, rules


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    regs = (dst << 4 | src) if sys.byteorder == "big" else (src << 4 | dst)
    return struct.pack("=BBhi", code, regs, off, imm)


def build(default: bool, rules: List[Rule]) -> bytes:
    """The program: r2 = device type, r3 = access, r4 = major, r5 = minor; each rule
    returns its verdict when it matches; then the default."""
    prog = [
        _insn(0x61, 2, 1, 0),          # r2 = ctx->access_type
        _insn(0x54, 2, imm=0xFFFF),    # r2 &= 0xffff (type)
        _insn(0x61, 3, 1, 0),          # r3 = ctx->access_type
        _insn(0x74, 3, imm=16),        # r3 >>= 16 (access)
        _insn(0x61, 4, 1, 4),          # r4 = ctx->major
        _insn(0x61, 5, 1, 8),          # r5 = ctx->minor
    ]
    for r in rules:
        checks: List[Tuple[int, int, int, int]] = []  # (code, dst, src, imm) of jumps
        full = r.access == ACC_READ | ACC_WRITE | ACC_MKNOD
        if r.type != "a":
            checks.append((0x55, 2, 0, DEV_BLOCK if r.type == "b" else DEV_CHAR))
        if r.major >= 0:
            checks.append((0x55, 4, 0, r.major))
        if r.minor >= 0:
            checks.append((0x55, 5, 0, r.minor))
        block: List[bytes] = []
        jumps = len(checks) + (1 if not full else 0)
        if not full:
            block.append(_insn(0xbc, 1, 3))                 # r1 = r3
            block.append(_insn(0x54, 1, imm=r.access))      # r1 &= rule access
            block.append(_insn(0x5d, 1, 3, off=jumps + 1))  # if r1 != r3 skip
            jumps -= 1
        for code, dst, src, imm in checks:
            block.append(_insn(code, dst, src, off=jumps + 1, imm=imm))
            jumps -= 1
        block.append(_insn(0xb7, 0, imm=1 if r.allow else 0))  # r0 = verdict
        block.append(_insn(0x95))                               # exit
        prog.extend(block)
    prog.append(_insn(0xb7, 0, imm=1 if default else 0))
    prog.append(_insn(0x95))
    return b"".join(prog)


def _bpf(cmd: int, attr: bytes) -> int:
    import ctypes

    from lxcz.sys import arch

    libc = ctypes.CDLL(None, use_errno=True)
    fn = libc.syscall
    fn.restype = ctypes.c_long
    buf = ctypes.create_string_buffer(attr, len(attr))
    ret = fn(ctypes.c_long(arch.syscall_number("bpf")), ctypes.c_long(cmd), buf,
             ctypes.c_long(len(attr)))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(ret)


def attach(cgroup_dir: str, program: bytes) -> None:
    """Load the program and attach it to the cgroup (kept there by the kernel until the
    cgroup is removed)."""
    import ctypes

    insns = ctypes.create_string_buffer(program, len(program))
    license_ = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(1 << 16)

    def load(with_log: bool) -> int:
        attr = struct.pack("=IIQQIIQII16sII", BPF_PROG_TYPE_CGROUP_DEVICE, len(program) // 8,
                           ctypes.addressof(insns), ctypes.addressof(license_),
                           1 if with_log else 0, len(log) if with_log else 0,
                           ctypes.addressof(log) if with_log else 0, 0, 0, b"lxcz_devices",
                           0, 0)
        return _bpf(BPF_PROG_LOAD, attr)

    try:
        prog_fd = load(False)
    except OSError as err:
        detail = ""
        try:
            load(True)
        except OSError:
            detail = log.value.decode(errors="replace").strip().splitlines()[-1:] or ""
            detail = f" ({detail[0]})" if detail else ""
        raise LxczError(f"cannot load the device BPF program: {err.strerror}{detail}") \
            from None
    try:
        cg_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            _bpf(BPF_PROG_ATTACH, struct.pack("=IIIII", cg_fd, prog_fd, BPF_CGROUP_DEVICE,
                                              BPF_F_ALLOW_MULTI, 0))
        finally:
            os.close(cg_fd)
    except OSError as err:
        raise LxczError(f"cannot attach the device BPF program to {cgroup_dir}: "
                        f"{err.strerror}") from None
    finally:
        os.close(prog_fd)
