"""Loading a seccomp BPF program into the kernel, and no_new_privs.

Public API:

- ``install_filter(prog: bytes, flags: int = 0) -> None``: attach the classic-BPF program
  ``prog`` (packed ``struct sock_filter`` records, as ``lxcz.security.seccomp_bpf``
  builds them) to the calling thread with seccomp(2) ``SECCOMP_SET_MODE_FILTER``, falling
  back to ``prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)`` on kernels without seccomp(2).
  Without CAP_SYS_ADMIN the caller must have set no_new_privs first (the kernel says
  EACCES otherwise). Raises OSError(errno, "loading the seccomp filter: ...").
- ``set_no_new_privs() -> None`` / ``get_no_new_privs() -> bool``.
- ``mode() -> int``: the calling process's seccomp mode from /proc/self/status
  (0 none, 1 strict, 2 filter; -1 when the kernel has no seccomp).
- ``should_install(allow_nesting: bool) -> bool``: LXC's rule for whether to load the
  container's policy at all: always with ``lxc.seccomp.allow_nesting = 1``; otherwise not
  when the kernel has no seccomp or this process is already confined (a nested
  container), where stacking would usually fail.
- ``SECCOMP_RET_*``: the filter return values (linux/seccomp.h).

The calls go through lxcz.sys.tinyc; ``prepare`` binds them ahead of a pivot.
"""

from __future__ import annotations

import os

SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_KILL_THREAD = 0x00000000
SECCOMP_RET_TRAP = 0x00030000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_USER_NOTIF = 0x7FC00000
SECCOMP_RET_TRACE = 0x7FF00000
SECCOMP_RET_LOG = 0x7FFC0000
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ACTION_FULL = 0xFFFF0000
SECCOMP_RET_DATA = 0x0000FFFF

SECCOMP_MODE_FILTER = 2
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
SECCOMP_FILTER_FLAG_LOG = 2

PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39

BPF_MAXINSNS = 4096
SOCK_FILTER_SIZE = 8  # u16 code, u8 jt, u8 jf, u32 k


def prepare() -> None:
    """Bind what installing a filter needs now (before a pivot into a container where
    neither the standard library nor lxcz can be found any more)."""
    get_no_new_privs()  # binds prctl
    _seccomp_nr()
    _syscall()


def _syscall():
    """syscall(2) typed for seccomp(nr, operation, flags, address)."""
    from lxcz.sys import tinyc

    L = tinyc.Long
    return tinyc.function("syscall", L, (L, L, L, tinyc.VoidP))


def _prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    from lxcz.sys import calls

    return calls.prctl(option, arg2, arg3, arg4, arg5)


def set_no_new_privs() -> None:
    """PR_SET_NO_NEW_PRIVS: execve can no longer grant privileges (setuid, file caps)."""
    _prctl(PR_SET_NO_NEW_PRIVS, 1)


def get_no_new_privs() -> bool:
    return _prctl(PR_GET_NO_NEW_PRIVS) == 1


def mode() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Seccomp:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def should_install(allow_nesting: bool = False) -> bool:
    if allow_nesting:
        return True
    return mode() == 0


def install_filter(prog: bytes, flags: int = 0) -> None:
    """Attach the BPF program ``prog`` to the calling thread (and what it execs)."""
    import sys

    from lxcz.sys import tinyc

    if not prog or len(prog) % SOCK_FILTER_SIZE:
        raise ValueError("a seccomp program is a non-empty array of 8-byte instructions")
    count = len(prog) // SOCK_FILTER_SIZE
    if count > BPF_MAXINSNS:
        raise ValueError(f"seccomp program has {count} instructions, "
                         f"the kernel takes at most {BPF_MAXINSNS}")
    buf = tinyc.buffer(bytes(prog))
    size = tinyc.POINTER_SIZE
    # struct sock_fprog: unsigned short len, padding to a pointer's alignment, filter
    fprog = tinyc.buffer(count.to_bytes(2, sys.byteorder) + bytes(size - 2)
                         + tinyc.addressof(buf).to_bytes(size, sys.byteorder))
    err = 0
    nr = _seccomp_nr()
    if nr is not None:
        if _syscall()(nr, SECCOMP_SET_MODE_FILTER, flags, tinyc.addressof(fprog)) == 0:
            return
        err = tinyc.get_errno()
    if nr is None or (err == 38 and not flags):  # ENOSYS: kernel older than 3.17
        try:
            _prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, tinyc.addressof(fprog))
            return
        except OSError as e:
            err = e.errno or 0
    hint = ""
    if err == 13:  # EACCES
        hint = " (needs CAP_SYS_ADMIN or no_new_privs)"
    raise OSError(err, f"loading the seccomp filter: {os.strerror(err)}{hint}")


def _seccomp_nr():
    from lxcz.sys import arch

    try:
        return arch.syscall_number("seccomp")
    except (KeyError, ValueError):
        return None
