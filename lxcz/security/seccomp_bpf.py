"""Compile a seccomp Policy into a classic BPF program the kernel runs on every syscall.

Public API:

- ``compile_policy(policy, arch=None, warnings=None) -> bytes``: the packed
  ``struct sock_filter`` array for the kernel of architecture ``arch`` (default: the
  running one, ``lxcz.sys.arch.detect()``), ready for ``lxcz.sys.seccomp.install_filter``.
  The byte order is the target's. ``warnings``, if a list, receives one message per rule
  skipped because its syscall does not exist on the target architecture. Raises
  ``lxcz.errors.ConfigError`` (path, line) for rules that contradict each other and
  ``LxczError`` if the program would exceed the kernel's 4096 instructions.
- ``build(policy, arch=None, warnings=None) -> list[tuple[int, int, int, int]]``: the same
  program as (code, jt, jf, k) tuples, for tests and debugging.

Shape of the program:

1. load ``seccomp_data.arch``; for each ABI the kernel runs (the native one and, for
   version 2 policies, its compat ABIs: i386 and x32 on x86_64, arm on aarch64, ppc on
   ppc64, s390 on s390x) jump to that ABI's part; any other arch: KILL_PROCESS, because
   its syscall numbers mean different calls;
2. each part loads ``seccomp_data.nr`` and runs a binary search over number ranges (x32
   numbers, which carry bit 30, share the x86_64 part); runs of numbers with the same
   outcome collapse into one range, so ``0-300`` costs one comparison, not 301;
3. a syscall with argument filters gets a small block: its conditional rules in file
   order, each a chain of 32-bit comparisons that fails over to the next rule, then its
   unconditional rule or the policy default. A 64-bit argument is compared as its high
   and low words (unsigned, as libseccomp does); for 32-bit ABIs only the low word is
   compared and the value and mask are truncated to 32 bits.

Rules of a version 2 policy apply to the parts of their section (``[all]`` or no section:
every part). A rule naming a syscall missing on a part is skipped there (with a warning
when the part is the native ABI). Two unconditional rules giving one syscall different
actions are an error. Conditional jumps longer than 255 instructions are routed through
``BPF_JA`` trampolines by the assembler.
"""

from __future__ import annotations

import struct

from lxcz.errors import ConfigError, LxczError
from lxcz.security.seccomp_policy import Policy, Rule, action_name
from lxcz.sys import arch as archmod
from lxcz.sys.seccomp import BPF_MAXINSNS, SECCOMP_RET_KILL_PROCESS

BPF_LD_W_ABS = 0x20
BPF_ALU_AND_K = 0x54
BPF_JA = 0x05
BPF_JEQ = 0x15
BPF_JGT = 0x25
BPF_JGE = 0x35
BPF_RET_K = 0x06

OFF_NR = 0
OFF_ARCH = 4
OFF_ARGS = 16

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple

    Insn = Tuple[int, int, int, int]


class _Asm:
    """Instructions with symbolic forward jump targets; assemble() resolves them."""

    def __init__(self) -> None:
        self.items: List[tuple] = []
        self._n = 0

    def label(self) -> int:
        self._n += 1
        return self._n

    def place(self, label: int) -> None:
        self.items.append(("L", label))

    def ld(self, off: int) -> None:
        self.items.append(("S", BPF_LD_W_ABS, off))

    def and_(self, k: int) -> None:
        self.items.append(("S", BPF_ALU_AND_K, k))

    def ret(self, k: int) -> None:
        self.items.append(("S", BPF_RET_K, k))

    def jmp(self, code: int, k: int, jt: Optional[int] = None,
            jf: Optional[int] = None) -> None:
        """Conditional jump; None means the next instruction."""
        self.items.append(("J", code, k, jt, jf))

    def assemble(self) -> List[Insn]:
        """Resolve labels. A conditional jump reaches at most 255 instructions ahead; a
        longer one goes through a BPF_JA trampoline placed right after it. Every jump goes
        forward, so walking the items backwards, all that lies between a jump and its
        target (trampolines included) is known when the jump is reached: one backward
        pass decides every trampoline, one forward pass emits the program."""
        items = self.items
        far: Dict[int, Tuple[bool, bool]] = {}
        rem: Dict[int, int] = {}  # label -> instructions from it to the end
        after = 0  # instructions after the current item
        for i in range(len(items) - 1, -1, -1):
            item = items[i]
            kind = item[0]
            if kind == "L":
                rem[item[1]] = after
            elif kind == "S":
                after += 1
            else:
                jt, jf = item[3], item[4]
                if (jt is not None and jt not in rem) or (jf is not None and jf not in rem):
                    raise AssertionError("backward jump in seccomp program")
                flags = (jt is not None and after - rem[jt] > 255,
                         jf is not None and after - rem[jf] > 255)
                far[i] = flags
                after += 1 + flags[0] + flags[1]
        total = after
        out: List[Insn] = []
        for i, item in enumerate(items):
            kind = item[0]
            if kind == "L":
                continue
            if kind == "S":
                out.append((item[1], 0, 0, item[2]))
                continue
            here = len(out)
            flags = far[i]
            slot = here + 1
            nxt = slot + flags[0] + flags[1]  # first instruction after the trampolines
            offs = []
            tramps = []
            for n, target in enumerate(item[3:5]):
                dest = nxt if target is None else total - rem[target]
                if flags[n]:
                    offs.append(slot - (here + 1))
                    tramps.append((BPF_JA, 0, 0, dest - (slot + 1)))
                    slot += 1
                else:
                    offs.append(dest - (here + 1))
            out.append((item[1], offs[0], offs[1], item[2]))
            out.extend(tramps)
        return out


def _arg_offsets(index: int, big_endian: bool) -> Tuple[int, int]:
    """(low word offset, high word offset) of argument ``index`` in seccomp_data."""
    base = OFF_ARGS + 8 * index
    return (base + 4, base) if big_endian else (base, base + 4)


def _emit_cmp(asm: _Asm, cmp, bits: int, big_endian: bool, fail: int) -> None:
    """Fall through when the comparison holds, jump to ``fail`` when it does not."""
    lo_off, hi_off = _arg_offsets(cmp.index, big_endian)
    value, mask = cmp.value, cmp.mask
    vl, vh = value & 0xFFFFFFFF, value >> 32
    ml, mh = mask & 0xFFFFFFFF, mask >> 32
    op = cmp.op
    if bits == 32:
        asm.ld(lo_off)
        if op == "eq":
            asm.jmp(BPF_JEQ, vl, None, fail)
        elif op == "ne":
            asm.jmp(BPF_JEQ, vl, fail, None)
        elif op == "gt":
            asm.jmp(BPF_JGT, vl, None, fail)
        elif op == "ge":
            asm.jmp(BPF_JGE, vl, None, fail)
        elif op == "lt":
            asm.jmp(BPF_JGE, vl, fail, None)
        elif op == "le":
            asm.jmp(BPF_JGT, vl, fail, None)
        elif op == "masked_eq":
            asm.and_(ml)
            asm.jmp(BPF_JEQ, vl, None, fail)
        else:
            raise ValueError(op)
        return
    ok = asm.label()
    if op == "eq":
        asm.ld(hi_off)
        asm.jmp(BPF_JEQ, vh, None, fail)
        asm.ld(lo_off)
        asm.jmp(BPF_JEQ, vl, None, fail)
    elif op == "ne":
        asm.ld(hi_off)
        asm.jmp(BPF_JEQ, vh, None, ok)
        asm.ld(lo_off)
        asm.jmp(BPF_JEQ, vl, fail, None)
    elif op in ("gt", "ge"):
        asm.ld(hi_off)
        asm.jmp(BPF_JGT, vh, ok, None)
        asm.jmp(BPF_JEQ, vh, None, fail)
        asm.ld(lo_off)
        asm.jmp(BPF_JGT if op == "gt" else BPF_JGE, vl, None, fail)
    elif op in ("lt", "le"):
        asm.ld(hi_off)
        asm.jmp(BPF_JGT, vh, fail, None)
        asm.jmp(BPF_JEQ, vh, None, ok)
        asm.ld(lo_off)
        asm.jmp(BPF_JGE if op == "lt" else BPF_JGT, vl, fail, None)
    elif op == "masked_eq":
        asm.ld(hi_off)
        asm.and_(mh)
        asm.jmp(BPF_JEQ, vh, None, fail)
        asm.ld(lo_off)
        asm.and_(ml)
        asm.jmp(BPF_JEQ, vl, None, fail)
    else:
        raise ValueError(op)
    asm.place(ok)


class _Entry:
    __slots__ = ("conds", "uncond", "name")

    def __init__(self, name: str) -> None:
        self.conds: List[Rule] = []
        self.uncond: Optional[Rule] = None
        self.name = name


def _collect(policy: Policy, part: str, native: str, entries: Dict[int, _Entry],
             warnings: Optional[list]) -> None:
    """Add the rules of ``policy`` that apply to ABI ``part`` to ``entries`` (nr -> rules)."""
    info = archmod.ARCHES[part]
    table = archmod.syscalls(part) if policy.version == 2 else {}
    for rule in policy.rules:
        if policy.version == 1:
            nr = rule.nr
            name = f"syscall {nr}"
        else:
            if rule.section not in ("all", part):
                continue
            nr = table.get(rule.name)
            name = rule.name
            if nr is None:
                msg = (f"{policy.path}:{rule.line}: syscall \"{rule.name}\" does not exist "
                       f"on {part}, rule skipped")
                from lxcz.log import log
                if part == native:
                    log.warning("%s", msg)
                    if warnings is not None:
                        warnings.append(msg)
                else:
                    log.debug("%s", msg)
                continue
        entry = entries.get(nr)
        if entry is None:
            entry = entries[nr] = _Entry(name)
        if rule.args:
            if info.bits == 32:
                args = tuple(a._replace(value=a.value & 0xFFFFFFFF, mask=a.mask & 0xFFFFFFFF)
                             for a in rule.args)
                rule = rule._replace(args=args)
            entry.conds.append(rule)
        elif entry.uncond is None:
            entry.uncond = rule
        elif entry.uncond.action != rule.action:
            raise ConfigError(
                f'conflicting actions for syscall "{name}" on {part}: '
                f'"{action_name(entry.uncond.action)}" (line {entry.uncond.line}) and '
                f'"{action_name(rule.action)}"', policy.path, rule.line)


def _emit_part(asm: _Asm, entries: Dict[int, _Entry], default: int, bits: int,
               big_endian: bool) -> None:
    # segments: (first nr, target) covering 0..2**32-1 in order; target is an action
    # (int) or an _Entry with argument filters
    segs: List[list] = []

    def add(start: int, target) -> None:
        if segs and not isinstance(target, _Entry) and segs[-1][1] == target:
            return
        segs.append([start, target])

    nxt = 0
    for nr in sorted(entries):
        entry = entries[nr]
        if nr > nxt:
            add(nxt, default)
        if entry.conds:
            add(nr, entry)
        else:
            add(nr, entry.uncond.action if entry.uncond else default)
        nxt = nr + 1
    if nxt <= 0xFFFFFFFF:
        add(nxt, default)

    def leaf(target) -> None:
        if not isinstance(target, _Entry):
            asm.ret(target)
            return
        for rule in target.conds:
            nxt_rule = asm.label()
            for cmp in rule.args:
                _emit_cmp(asm, cmp, bits, big_endian, nxt_rule)
            asm.ret(rule.action)
            asm.place(nxt_rule)
        asm.ret(target.uncond.action if target.uncond else default)

    def tree(lo: int, hi: int) -> None:
        if hi - lo == 1:
            leaf(segs[lo][1])
            return
        mid = (lo + hi) // 2
        right = asm.label()
        asm.jmp(BPF_JGE, segs[mid][0], right, None)
        tree(lo, mid)
        asm.place(right)
        tree(mid, hi)

    asm.ld(OFF_NR)  # only leaves change A, and every leaf ends in a return
    tree(0, len(segs))


def build(policy: Policy, arch: Optional[str] = None,
          warnings: Optional[list] = None) -> List[Insn]:
    native = arch or archmod.detect()
    if native not in archmod.ARCHES:
        raise LxczError(f"no seccomp support for architecture {native}")
    info = archmod.ARCHES[native]
    parts = [native]
    if policy.version == 2:
        parts += list(archmod.compat_arches(native))
    groups: Dict[int, Dict[int, _Entry]] = {}
    bits: Dict[int, int] = {}
    for part in parts:
        pinfo = archmod.ARCHES[part]
        entries = groups.setdefault(pinfo.audit_arch, {})
        bits[pinfo.audit_arch] = pinfo.bits
        _collect(policy, part, native, entries, warnings)
    asm = _Asm()
    asm.ld(OFF_ARCH)
    labels = {}
    for audit in groups:
        labels[audit] = asm.label()
        asm.jmp(BPF_JEQ, audit, labels[audit], None)
    asm.ret(SECCOMP_RET_KILL_PROCESS)
    for audit, entries in groups.items():
        asm.place(labels[audit])
        _emit_part(asm, entries, policy.default_action, bits[audit], info.big_endian)
    prog = asm.assemble()
    if len(prog) > BPF_MAXINSNS:
        raise LxczError(f"{policy.path}: seccomp policy compiles to {len(prog)} BPF "
                        f"instructions, more than the kernel's limit of {BPF_MAXINSNS}")
    return prog


def pack(prog: List[Insn], big_endian: bool) -> bytes:
    fmt = ">HBBI" if big_endian else "<HBBI"
    return b"".join(struct.pack(fmt, *insn) for insn in prog)


def compile_policy(policy: Policy, arch: Optional[str] = None,
                   warnings: Optional[list] = None) -> bytes:
    native = arch or archmod.detect()
    prog = build(policy, native, warnings)
    return pack(prog, archmod.ARCHES[native].big_endian)
