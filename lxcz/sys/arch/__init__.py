"""Per-architecture data: syscall numbers, audit-arch values, personalities.

Public API:

- ``detect() -> str``: the running kernel's architecture as an lxcz arch name
  (``x86_64``, ``i386``, ``arm``, ``aarch64``, ``ppc``, ``ppc64``, ``ppc64le``, ``s390``,
  ``s390x``, ``riscv64``).
- ``compat_arches(arch) -> tuple``: the other ABIs a kernel of that arch runs
  (``x86_64`` -> ``i386``, ``x32``; ``aarch64`` -> ``arm``; ``ppc64`` -> ``ppc``;
  ``s390x`` -> ``s390``).
- ``ARCHES[name] -> Arch``: audit arch (the value seccomp sees in ``seccomp_data.arch``),
  word size, byte order, table name.
- ``syscalls(arch) -> dict[str, int]``: name -> number for that ABI (x32 numbers come
  with ``X32_SYSCALL_BIT`` already set).
- ``syscall_number(name, arch=None) -> int`` (KeyError when the call does not exist there).
- ``all_syscall_names() -> frozenset``: every name known on any architecture.
- ``personality(name) -> int``: the personality(2) value for an ``lxc.arch`` word
  (ValueError for an unknown word).

The numbers live in ``syscall_table.py`` next to this file (a data module, so loading it is a
.pyc read), generated once by ``generate.py`` from libseccomp's ``src/syscalls.csv`` (itself built from the kernel's
syscall tables); nothing is read from the host at run time except ``uname``.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, FrozenSet, Optional, Tuple

# linux/audit.h: EM_* | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
AUDIT_ARCH_64BIT = 0x80000000
AUDIT_ARCH_LE = 0x40000000
AUDIT_ARCH_I386 = 0x40000003
AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_ARM = 0x40000028
AUDIT_ARCH_AARCH64 = 0xC00000B7
AUDIT_ARCH_PPC = 0x00000014
AUDIT_ARCH_PPC64 = 0x80000015
AUDIT_ARCH_PPC64LE = 0xC0000015
AUDIT_ARCH_S390 = 0x00000016
AUDIT_ARCH_S390X = 0x80000016
AUDIT_ARCH_RISCV64 = 0xC00000F3

# x32 calls arrive with AUDIT_ARCH_X86_64 and this bit set in the number.
X32_SYSCALL_BIT = 0x40000000

# linux/personality.h
PER_LINUX = 0x0000
PER_LINUX32 = 0x0008


class Arch(tuple):
    """name, audit arch, bits (width of a syscall argument register), big_endian, table
    (key in syscall_table.py), nr_offset (added to every number of the table: x32).

    A tuple with named fields, written out: namedtuple would load ``collections`` (400 KB
    in every process that starts a container) and typing.NamedTuple ``typing``."""

    __slots__ = ()
    _fields = ("name", "audit_arch", "bits", "big_endian", "table", "nr_offset")

    def __new__(cls, name: str, audit_arch: int, bits: int, big_endian: bool, table: str,
                nr_offset: int = 0) -> Arch:
        return tuple.__new__(cls, (name, audit_arch, bits, big_endian, table, nr_offset))

    def __repr__(self) -> str:
        return "Arch(" + ", ".join(f"{f}={v!r}" for f, v in zip(self._fields, self)) + ")"

    name = property(lambda self: self[0])
    audit_arch = property(lambda self: self[1])
    bits = property(lambda self: self[2])
    big_endian = property(lambda self: self[3])
    table = property(lambda self: self[4])
    nr_offset = property(lambda self: self[5])


ARCHES: Dict[str, Arch] = {
    "x86_64": Arch("x86_64", AUDIT_ARCH_X86_64, 64, False, "x86_64"),
    "i386": Arch("i386", AUDIT_ARCH_I386, 32, False, "i386"),
    "x32": Arch("x32", AUDIT_ARCH_X86_64, 64, False, "x32", X32_SYSCALL_BIT),
    "arm": Arch("arm", AUDIT_ARCH_ARM, 32, False, "arm"),
    "aarch64": Arch("aarch64", AUDIT_ARCH_AARCH64, 64, False, "aarch64"),
    "ppc": Arch("ppc", AUDIT_ARCH_PPC, 32, True, "ppc"),
    "ppc64": Arch("ppc64", AUDIT_ARCH_PPC64, 64, True, "ppc64"),
    "ppc64le": Arch("ppc64le", AUDIT_ARCH_PPC64LE, 64, False, "ppc64"),
    "s390": Arch("s390", AUDIT_ARCH_S390, 32, True, "s390"),
    "s390x": Arch("s390x", AUDIT_ARCH_S390X, 64, True, "s390x"),
    "riscv64": Arch("riscv64", AUDIT_ARCH_RISCV64, 64, False, "riscv64"),
}

# Architectures whose kernels lxcz supports as the host (the others appear only as compat).
NATIVE_ARCHES = ("x86_64", "i386", "arm", "aarch64", "ppc64le", "ppc64", "ppc", "s390x",
                 "riscv64")

_COMPAT: Dict[str, Tuple[str, ...]] = {
    "x86_64": ("i386", "x32"),
    "aarch64": ("arm",),
    "ppc64": ("ppc",),
    "s390x": ("s390",),
}

# uname -m -> arch name
_MACHINES = {
    "x86_64": "x86_64", "amd64": "x86_64",
    "i386": "i386", "i486": "i386", "i586": "i386", "i686": "i386",
    "aarch64": "aarch64", "arm64": "aarch64", "aarch64_be": "aarch64",
    "ppc64le": "ppc64le", "ppc64": "ppc64", "ppc": "ppc",
    "s390x": "s390x", "riscv64": "riscv64",
}

# lxc.arch words (as LXC 5 accepts them) -> personality(2) value
_PERSONALITIES = {
    **{w: PER_LINUX32 for w in ("arm", "armel", "armhf", "armv7l", "athlon", "i386",
                                "i486", "i586", "i686", "linux32", "mips", "mipsel",
                                "ppc", "powerpc", "x32", "x86")},
    **{w: PER_LINUX for w in ("aarch64", "amd64", "arm64", "linux64", "loongarch64",
                              "loong64", "mips64", "mips64el", "ppc64", "ppc64el",
                              "ppc64le", "powerpc64", "riscv64", "s390x", "x86_64")},
}

_data: Optional[dict] = None
_tables: Dict[str, Dict[str, int]] = {}


def machine_to_arch(machine: str, byteorder: str = sys.byteorder) -> str:
    """Map a ``uname -m`` string to an lxcz arch name (ValueError if unknown)."""
    if machine.startswith("arm") and machine not in _MACHINES:
        return "arm"
    arch = _MACHINES.get(machine)
    if arch is None:
        raise ValueError(f"unsupported architecture {machine!r}")
    if arch == "ppc64" and byteorder == "little":
        arch = "ppc64le"
    return arch


def detect() -> str:
    """The running kernel's architecture (not the personality of this process)."""
    return machine_to_arch(os.uname().machine)


def compat_arches(arch: str) -> Tuple[str, ...]:
    return _COMPAT.get(arch, ())


def _load() -> dict:
    global _data
    if _data is None:
        from lxcz.sys.arch import syscall_table as table  # a .pyc read: no json, re

        _data = {"names": table.NAMES, "numbers": table.NUMBERS, "source": table.SOURCE}
    return _data


def table_source() -> str:
    """Where the tables came from (for --version output and docs)."""
    return str(_load().get("source", "unknown"))


def syscalls(arch: str) -> Dict[str, int]:
    """name -> number for one ABI; KeyError for an arch lxcz has no table for."""
    table = _tables.get(arch)
    if table is None:
        info = ARCHES[arch]
        data = _load()
        numbers = data["numbers"][info.table]
        table = {name: nr + info.nr_offset
                 for name, nr in zip(data["names"], numbers) if nr >= 0}
        _tables[arch] = table
    return table


def syscall_number(name: str, arch: Optional[str] = None) -> int:
    """The number of syscall ``name`` on ``arch`` (default: the running kernel's)."""
    return syscalls(arch or detect())[name]


def syscall_names(arch: str) -> Dict[int, str]:
    """number -> name for one ABI (for messages and debugging)."""
    return {nr: name for name, nr in syscalls(arch).items()}


def all_syscall_names() -> FrozenSet[str]:
    return frozenset(_load()["names"])


def personality(name: str) -> int:
    """personality(2) value for an ``lxc.arch`` word such as ``i686`` or ``linux32``."""
    try:
        return _PERSONALITIES[name.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}") from None


def personality_words() -> Tuple[str, ...]:
    return tuple(sorted(_PERSONALITIES))
