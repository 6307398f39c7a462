"""A new process into a container's cgroups without the kernel's migration wait.

Writing a pid to cgroup.procs makes the kernel wait for an RCU grace period before the
move (6-30 ms on an idle host, with every other cgroup operation queued behind it). Two
moves skip that wait, and a freshly forked, single-threaded child can use both:

* cgroup2: clone3(CLONE_INTO_CGROUP) creates the child in the directory
  (``lxcz.sys.clone``);
* cgroup v1: the child writes ``0`` ("this thread") to the hierarchy's ``tasks`` file;
  Linux 5.18 and later move the calling thread without the global lock, and a
  single-threaded process is wholly moved by it.

Where neither works (clone3 missing or refused, a threaded caller) the pid goes to
cgroup.procs as before, so the result is the same, only slower.

    pid, in_v2 = fork_into(paths)       # like os.fork; in_v2: already in the v2 path
    if pid == 0:
        join_self(paths, in_v2)         # in the child, before it unshares anything

An attached process goes, on cgroup2, into the leaf ``.lxc`` below the container's cgroup
(``leaf``), as LXC 5 does it.
"""

from __future__ import annotations

import os

from lxcz.cgroups.fs import RealFS  # at import: join_self runs in children that closed fds
from lxcz.errors import LxczError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, Sequence, Tuple


def v2_path(paths: Sequence[str]) -> Optional[str]:
    """The cgroup2 directory among paths (a v1 directory has a tasks file), or None."""
    for p in paths:
        if not os.path.exists(os.path.join(p, "tasks")):
            return p
    return None


LEAF = ".lxc"


def leaf(paths: Sequence[str]) -> List[str]:
    """paths with the cgroup2 directory replaced by its leaf ``.lxc``, made when missing:
    where LXC 5 puts attached processes. A container that enabled controllers for its
    own cgroup's children can hold no process in that cgroup itself (cgroup2's rule
    against internal processes); a leaf below it always can. Unchanged when the leaf
    cannot be made (not ours to write, say); join_self falls back to the cgroup itself
    when the leaf refuses the process."""
    v2 = v2_path(paths)
    if v2 is None:
        return list(paths)
    target = os.path.join(v2, LEAF)
    try:
        os.mkdir(target, 0o755)
    except FileExistsError:
        pass
    except OSError:
        return list(paths)
    return [target if p == v2 else p for p in paths]


def fork_into(paths: Sequence[str]) -> Tuple[int, bool]:
    """os.fork, but the child starts in the cgroup2 directory of paths when the kernel
    can: (pid, True) then, (pid, False) after a plain fork. OSError as os.fork."""
    target = v2_path(paths)
    if target is not None:
        from lxcz.sys import clone

        try:
            fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            fd = -1
        if fd >= 0:
            try:
                return clone.fork_into_cgroup(fd), True
            except OSError:
                pass  # old kernel, seccomp, threads: the child writes its pid instead
            finally:
                os.close(fd)
    return os.fork(), False


def join_self(paths: Sequence[str], in_v2: bool = False) -> None:
    """Move the calling (single-threaded) process into every directory of paths: v1
    through tasks, v2 through cgroup.procs unless in_v2. LxczError naming the path."""
    write = RealFS().write
    me = str(os.getpid())
    for path in paths:
        tasks = os.path.join(path, "tasks")
        v1 = os.path.exists(tasks)
        if not v1 and in_v2:
            continue
        try:
            write(tasks if v1 else os.path.join(path, "cgroup.procs"), "0" if v1 else me)
        except OSError as err:
            if v1 or os.path.basename(path) != LEAF:
                raise LxczError(f"cannot join cgroup {path}: {err.strerror}") from None
            parent = os.path.dirname(path)
            try:  # the leaf refused us: the container's cgroup itself
                write(os.path.join(parent, "cgroup.procs"), me)
            except OSError as err2:
                raise LxczError(f"cannot join cgroup {parent}: {err2.strerror}") from None
