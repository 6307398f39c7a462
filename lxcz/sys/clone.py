"""fork(2) whose child starts in a cgroup2 directory: clone3 with CLONE_INTO_CGROUP.

Moving a process by writing its pid to a cgroup.procs file makes the kernel wait for an
RCU grace period first (the global threadgroup lock switching to its slow path: 6-30 ms
on an idle host, and every cgroup operation queues behind it). A child that clone3 puts
into the cgroup as it is created never waits. LXC 5 starts its containers this way too.

Python has no clone3, so ``fork_into_cgroup`` makes the raw system call (through
``lxcz.sys.tinyc``) with the interpreter's own fork protocol around it (``PyOS_BeforeFork`` and the
``PyOS_AfterFork_*`` calls that ``os.fork`` makes), the GIL held throughout. It refuses
(OSError) when the process has more than one thread, as a raw clone could copy a lock
another thread holds; callers then fork as usual and write the pid.
"""

from __future__ import annotations

import _signal
import errno
import os
import sys

CLONE_INTO_CGROUP = 0x200000000
SYS_CLONE3 = 435  # one number on every architecture (system calls added since 5.1 share it)
CLONE_ARGS_SIZE = 88  # struct clone_args up to .cgroup (CLONE_ARGS_SIZE_VER2)


def _api() -> tuple:
    """(syscall, PyOS_BeforeFork, PyOS_AfterFork_Child, PyOS_AfterFork_Parent), all
    called with the GIL held; tinyc binds each once."""
    from lxcz.sys import tinyc

    return (tinyc.function("syscall", tinyc.Long, (tinyc.Long, tinyc.CharP, tinyc.ULong),
                           python_api=True),
            *(tinyc.function(name, python_api=True) for name in
              ("PyOS_BeforeFork", "PyOS_AfterFork_Child", "PyOS_AfterFork_Parent")))


def _one_thread() -> bool:
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def fork_into_cgroup(cgroup_fd: int) -> int:
    """Fork; the child starts in the cgroup2 directory open as cgroup_fd. Returns 0 in
    the child and its pid in the parent, like os.fork. OSError when the kernel cannot
    (before 5.7: ENOSYS or E2BIG; a seccomp filter refusing clone3) or the process is
    threaded (EDEADLK): nothing was created then."""
    if not _one_thread():
        raise OSError(errno.EDEADLK, "clone3: the process has threads")
    syscall, before, after_child, after_parent = _api()
    from lxcz.sys import tinyc

    # struct clone_args: flags, pidfd, child_tid, parent_tid, exit_signal, stack,
    # stack_size, tls, set_tid, set_tid_size, cgroup (all __u64)
    fields = [CLONE_INTO_CGROUP, 0, 0, 0, int(_signal.SIGCHLD), 0, 0, 0, 0, 0, cgroup_fd]
    args = b"".join(v.to_bytes(8, sys.byteorder) for v in fields)
    before()
    tinyc.set_errno(0)
    pid = syscall(SYS_CLONE3, args, CLONE_ARGS_SIZE)
    if pid == 0:
        after_child()
        return 0
    err = tinyc.get_errno()
    after_parent()
    if pid < 0:
        raise OSError(err, f"clone3: {os.strerror(err)}")
    return int(pid)
