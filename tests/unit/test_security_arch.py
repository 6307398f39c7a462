"""Per-architecture syscall tables, audit arches, detection and personalities."""

from __future__ import annotations

import os
import re

import pytest

from lxcz.sys import arch

# A few numbers per ABI, checked by hand against the kernel's syscall tables.
KNOWN = {
    "x86_64": {"read": 0, "write": 1, "execve": 59, "kexec_load": 246, "rseq": 334,
               "clone3": 435, "umount2": 166, "seccomp": 317},
    "i386": {"exit": 1, "read": 3, "execve": 11, "socketcall": 102, "kexec_load": 283,
             "umount2": 52, "rseq": 386, "seccomp": 354},
    "x32": {"read": 0x40000000, "execve": 0x40000000 + 520, "kexec_load": 0x40000000 + 528},
    "arm": {"read": 3, "execve": 11, "kexec_load": 347, "breakpoint": 0xF0001,
            "set_tls": 0xF0005, "rseq": 398, "seccomp": 383},
    "aarch64": {"read": 63, "write": 64, "execve": 221, "kexec_load": 104,
                "umount2": 39, "rseq": 293, "seccomp": 277},
    "ppc64le": {"read": 3, "execve": 11, "kexec_load": 268, "rseq": 387, "seccomp": 358},
    "ppc64": {"read": 3, "kexec_load": 268},
    "ppc": {"read": 3, "kexec_load": 268},
    "s390x": {"read": 3, "execve": 11, "kexec_load": 277, "rseq": 383, "seccomp": 348},
    "s390": {"read": 3, "kexec_load": 277},
    "riscv64": {"read": 63, "kexec_load": 104},
}

ABSENT = {
    "x86_64": ["socketcall", "mmap2", "_llseek", "breakpoint"],
    "aarch64": ["open", "fork", "mmap2", "arch_prctl"],
    "i386": ["arch_prctl_x"],
    "arm": ["arch_prctl", "socketcall"],
}


@pytest.mark.parametrize("name", sorted(arch.ARCHES))
def test_every_table_loads_and_is_sane(name):
    table = arch.syscalls(name)
    assert len(table) > 250
    offset = arch.ARCHES[name].nr_offset
    # numbers are unique per ABI
    assert len(set(table.values())) == len(table)
    assert all(nr >= offset for nr in table.values())
    for call in ("read", "write", "close", "exit_group", "kexec_load", "init_module",
                 "finit_module", "delete_module", "open_by_handle_at", "umount2"):
        assert call in table, (name, call)


@pytest.mark.parametrize("name,known", sorted(KNOWN.items()))
def test_known_numbers(name, known):
    table = arch.syscalls(name)
    for call, nr in known.items():
        assert table[call] == nr, (name, call)


@pytest.mark.parametrize("name,calls", sorted(ABSENT.items()))
def test_absent_calls(name, calls):
    table = arch.syscalls(name)
    for call in calls:
        assert call not in table


def test_audit_arches():
    assert arch.ARCHES["x86_64"].audit_arch == 0xC000003E
    assert arch.ARCHES["i386"].audit_arch == 0x40000003
    assert arch.ARCHES["aarch64"].audit_arch == 0xC00000B7
    assert arch.ARCHES["arm"].audit_arch == 0x40000028
    assert arch.ARCHES["ppc64le"].audit_arch == 0xC0000015
    assert arch.ARCHES["s390x"].audit_arch == 0x80000016
    for info in arch.ARCHES.values():
        # __AUDIT_ARCH_64BIT agrees with the word size, __AUDIT_ARCH_LE with byte order
        assert bool(info.audit_arch & arch.AUDIT_ARCH_64BIT) == (info.bits == 64 or
                                                                 info.name == "x32")
        assert bool(info.audit_arch & arch.AUDIT_ARCH_LE) == (not info.big_endian)


def test_machine_mapping_and_compat():
    assert arch.machine_to_arch("x86_64") == "x86_64"
    assert arch.machine_to_arch("i686") == "i386"
    assert arch.machine_to_arch("armv7l") == "arm"
    assert arch.machine_to_arch("armv8l") == "arm"
    assert arch.machine_to_arch("aarch64") == "aarch64"
    assert arch.machine_to_arch("ppc64le") == "ppc64le"
    assert arch.machine_to_arch("ppc64", "little") == "ppc64le"
    assert arch.machine_to_arch("ppc64", "big") == "ppc64"
    assert arch.machine_to_arch("s390x") == "s390x"
    with pytest.raises(ValueError):
        arch.machine_to_arch("vax")
    assert arch.compat_arches("x86_64") == ("i386", "x32")
    assert arch.compat_arches("aarch64") == ("arm",)
    assert arch.compat_arches("ppc64le") == ()
    assert arch.detect() in arch.NATIVE_ARCHES


def test_syscall_number_defaults_to_running_arch():
    native = arch.detect()
    assert arch.syscall_number("read") == arch.syscalls(native)["read"]
    with pytest.raises(KeyError):
        arch.syscall_number("no_such_call")


def test_personality_words():
    assert arch.personality("i686") == arch.PER_LINUX32
    assert arch.personality("linux32") == arch.PER_LINUX32
    assert arch.personality("x86_64") == arch.PER_LINUX
    assert arch.personality("arm64") == arch.PER_LINUX
    with pytest.raises(ValueError):
        arch.personality("pdp11")


def test_table_source_recorded():
    assert "libseccomp" in arch.table_source()


HEADERS = {
    "x86_64": "/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
    "i386": "/usr/include/x86_64-linux-gnu/asm/unistd_32.h",
    "x32": "/usr/include/x86_64-linux-gnu/asm/unistd_x32.h",
    "aarch64": "/usr/include/aarch64-linux-gnu/asm/unistd.h",
}


def _header_numbers(path):
    out = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"#define __NR_(\w+)\s+(?:\(__X32_SYSCALL_BIT \+ )?(\d+)\)?\s*$",
                         line)
            if m:
                nr = int(m.group(2))
                if "__X32_SYSCALL_BIT" in line:
                    nr += arch.X32_SYSCALL_BIT
                out[m.group(1)] = nr
    return out


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_tables_match_installed_kernel_headers(name):
    """The kernel's uapi headers (linux-libc-dev) agree with every number they define."""
    path = HEADERS[name]
    if not os.path.exists(path):
        pytest.skip(f"{path} not installed (linux-libc-dev for this arch)")
    header = _header_numbers(path)
    assert len(header) > 250
    table = arch.syscalls(name)
    wrong = {n: (nr, table.get(n)) for n, nr in header.items() if table.get(n) != nr}
    assert not wrong


def test_running_kernel_knows_the_native_table():
    """Calls the running kernel implements show up as sys_* symbols; the table has them."""
    try:
        with open("/proc/kallsyms") as f:
            syms = {line.split()[2] for line in f if " T " in line or " t " in line}
    except OSError:
        pytest.skip("/proc/kallsyms not readable")
    native = arch.detect()
    prefix = {"x86_64": "__x64_sys_", "aarch64": "__arm64_sys_", "s390x": "__s390x_sys_",
              "riscv64": "__riscv_sys_"}.get(native)
    if prefix is None or not any(s.startswith(prefix) for s in syms):
        pytest.skip("no per-arch syscall symbols in /proc/kallsyms")
    table = arch.syscalls(native)
    kernel_calls = {s[len(prefix):] for s in syms if s.startswith(prefix)}
    common = {"read", "write", "openat", "clone", "execve", "seccomp", "open_by_handle_at"}
    assert common <= kernel_calls
    assert common <= set(table)
    # most of what the kernel implements is in the table under the same name
    assert len(kernel_calls & set(table)) > 250
