"""The system calls the runtime needs and Python's os module lacks, through lxcz.sys.tinyc
(``_ctypes`` alone: the full ctypes package costs about 600 KB in every process loading it).

Every call raises OSError(errno, "what: strerror") on failure, so callers can turn it into
a message naming the operation. Syscalls glibc does not wrap (pivot_root, setns on old
libcs) go through syscall(2) with numbers from lxcz.sys.arch where needed.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, Optional

# clone/unshare/setns flags (linux/sched.h)
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

# LXC's namespace names (lxc.namespace.*, lxc-attach -s, lxc-unshare -s) and /proc/PID/ns
NAMESPACES = {
    "mnt": CLONE_NEWNS, "pid": CLONE_NEWPID, "uts": CLONE_NEWUTS, "ipc": CLONE_NEWIPC,
    "net": CLONE_NEWNET, "user": CLONE_NEWUSER, "cgroup": CLONE_NEWCGROUP,
    "time": CLONE_NEWTIME,
}

# mount(2) flags
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

MNT_FORCE = 1
MNT_DETACH = 2
UMOUNT_NOFOLLOW = 8

# prctl(2) options
PR_SET_PDEATHSIG = 1
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SCHED_CORE = 62  # linux/prctl.h, Linux 5.14
PR_SCHED_CORE_CREATE = 1
PR_SCHED_CORE_SHARE_FROM = 3
PIDTYPE_PID = 0
PIDTYPE_TGID = 1
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4


def _check(ret: int, what: str) -> int:
    """OSError from errno when ret is -1 (ctypes' and tinyc's calls share one errno:
    ctypes.get_errno is _ctypes.get_errno)."""
    if ret == -1:
        from lxcz.sys import tinyc

        err = tinyc.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return ret


def _b(path: Optional[str]) -> Optional[bytes]:
    return None if path is None else os.fsencode(path)


# signatures bound ahead of a fork by bind_for_init (restype: Int unless given)
_PRCTL = ("prctl", "Int", "ULong", "ULong", "ULong", "ULong")
_PRCTL_NAME = ("prctl", "Int", "CharP", "ULong", "ULong", "ULong")
_CLOSE_RANGE = ("syscall", "Long", "ULong", "ULong", "ULong")  # restype Long
_MEMSET = ("memset", "VoidP", "Int", "ULong")  # restype VoidP
_MEMCPY = ("memcpy", "VoidP", "CharP", "ULong")  # restype VoidP
_SETNS = ("setns", "Int", "Int")


def bind_for_init() -> None:
    """Bind now the calls a forked init and its monitor make after the fork (prctl,
    close_range, the proc title's memset and memcpy, setns): each binding builds a
    class, and one built after the fork writes to pages the two processes would
    otherwise go on sharing."""
    _tiny_fn(*_PRCTL)
    _tiny_fn(*_PRCTL_NAME)
    _tiny_fn(*_SETNS)
    _tiny_fn(*_CLOSE_RANGE, restype="Long")
    _tiny_fn(*_MEMSET, restype="VoidP")
    _tiny_fn(*_MEMCPY, restype="VoidP")


def _tiny_fn(name: str, *argtypes: str, restype: str = "Int") -> Any:
    """libc's name through lxcz.sys.tinyc (integers, addresses and byte strings: no
    ctypes needed), the types named as tinyc spells them."""
    from lxcz.sys import tinyc

    return tinyc.function(name, getattr(tinyc, restype),
                          tuple(getattr(tinyc, t) for t in argtypes))


def unshare(flags: int) -> None:
    _check(_tiny_fn("unshare", "Int")(flags), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    _check(_tiny_fn(*_SETNS)(fd, nstype), "setns")


def mount(source: Optional[str], target: str, fstype: Optional[str] = None,
          flags: int = 0, data: Optional[str] = None) -> None:
    fn = _tiny_fn("mount", "CharP", "CharP", "CharP", "ULong", "CharP")
    ret = fn(_b(source), _b(target), _b(fstype), flags, _b(data))
    _check(ret, f"mount {source or fstype or ''} on {target}")


def umount2(target: str, flags: int = 0) -> None:
    fn = _tiny_fn("umount2", "CharP", "Int")
    _check(fn(_b(target), flags), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    nr = _syscall_number("pivot_root")
    fn = _tiny_fn("syscall", "Long", "CharP", "CharP", restype="Long")
    ret = fn(nr, _b(new_root), _b(put_old))
    _check(ret, f"pivot_root {new_root}")


# Used only until lxcz.sys.arch (the generated per-arch tables) can answer.
_PIVOT_ROOT = {"x86_64": 155, "i386": 217, "i686": 217, "aarch64": 41, "armv7l": 218,
               "armv6l": 218, "ppc64le": 203, "ppc64": 203, "s390x": 217}


def _syscall_number(name: str) -> int:
    # the small table first: importing the per-arch tables costs start-up time
    machine = os.uname().machine
    if name == "pivot_root" and machine in _PIVOT_ROOT:
        return _PIVOT_ROOT[machine]
    from lxcz.sys import arch

    return arch.syscall_number(name)


def sethostname(name: str) -> None:
    data = name.encode()
    _check(_tiny_fn("sethostname", "CharP", "ULong")(data, len(data)), "sethostname")


def setdomainname(name: str) -> None:
    data = name.encode()
    _check(_tiny_fn("setdomainname", "CharP", "ULong")(data, len(data)), "setdomainname")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    fn = _tiny_fn(*_PRCTL)
    return _check(fn(option, arg2, arg3, arg4, arg5), f"prctl({option})")


def set_name(name: str) -> None:
    """Set the calling thread's comm name (what ps shows)."""
    fn = _tiny_fn(*_PRCTL_NAME)
    fn(PR_SET_NAME, name.encode()[:15], 0, 0, 0)  # a bytes object ends in NUL


def set_dumpable(on: bool) -> None:
    prctl(PR_SET_DUMPABLE, 1 if on else 0)


def set_pdeathsig(sig: int) -> None:
    prctl(PR_SET_PDEATHSIG, sig)


def set_child_subreaper() -> None:
    prctl(PR_SET_CHILD_SUBREAPER, 1)


def read_to_eof(fd: int) -> bytes:
    """Everything a pipe gives until every writer has closed it; fd is closed after."""
    chunks = []
    try:
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


def wait_for_maps(ready_w: int, go_r: int) -> None:
    """In a child that has just unshared its user namespace: tell the parent (ready_w)
    and wait until it has written the id maps (b"1" on go_r); _exit(1) when it has not."""
    os.write(ready_w, b"1")
    os.close(ready_w)
    ok = os.read(go_r, 1)
    os.close(go_r)
    if ok != b"1":
        os._exit(1)


def set_timens_offsets(offsets: Dict[str, int]) -> None:
    """After unshare(CLONE_NEWTIME), before the first fork: the new time namespace's clock
    offsets ({"monotonic"|"boottime": nanoseconds}) through /proc/self/timens_offsets."""
    lines = []
    for clock, ns in offsets.items():
        secs, nsecs = divmod(int(ns), 10 ** 9)
        lines.append(f"{clock} {secs} {nsecs}\n")
    fd = os.open("/proc/self/timens_offsets", os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, "".join(lines).encode())
    finally:
        os.close(fd)


def become_userns_root() -> None:
    """uid and gid 0 of the (mapped) user namespace we are in, no supplementary groups
    where the kernel allows dropping them. OSError when the ids are not mapped."""
    try:
        os.setgroups([])
    except OSError:
        pass  # EPERM where setgroups is denied: there are no extra groups then
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)


def personality(persona: int) -> int:
    return _check(_tiny_fn("personality", "ULong")(persona), "personality")


def capbset_drop(cap: int) -> None:
    prctl(PR_CAPBSET_DROP, cap)


SYS_CLOSE_RANGE = 436  # one number on every architecture (system calls added since 5.1)


def close_fds_except(keep: Iterable[int]) -> None:
    """Close every open descriptor whose number is not in keep, however high.

    close_range(2) over the gaps between the kept numbers (Linux 5.9 and later: a few
    system calls); else each descriptor /proc/self/fd lists; without /proc, every number
    below the open-files limit.
    """
    kept = sorted({k for k in keep if k >= 0})
    try:
        fn = _tiny_fn(*_CLOSE_RANGE, restype="Long")
        lo = 0
        for k in kept + [0x100000000]:  # the last gap runs to ~0U, the highest number
            if k > lo:
                _check(fn(SYS_CLOSE_RANGE, lo, k - 1, 0), "close_range")
            lo = k + 1
        return
    except (OSError, ImportError, AttributeError):  # ENOSYS before 5.9, a seccomp refusal
        pass
    try:
        fds = [int(x) for x in os.listdir("/proc/self/fd")]
    except OSError:
        fds = list(range(os.sysconf("SC_OPEN_MAX")))
    for fd in fds:
        if fd not in kept:
            try:
                os.close(fd)
            except OSError:
                pass


def ns_fd(pid: int, ns: str) -> int:
    """Open /proc/PID/ns/NS for setns."""
    return os.open(f"/proc/{pid}/ns/{ns}", os.O_RDONLY | os.O_CLOEXEC)


def same_ns(pid: int, ns: str, other: str = "self") -> bool:
    try:
        return os.stat(f"/proc/{pid}/ns/{ns}").st_ino == os.stat(
            f"/proc/{other}/ns/{ns}").st_ino
    except OSError:
        return False


def set_proc_title(title: str, wipe_environ: bool = True) -> bool:
    """Overwrite this process's argv area with title and zero its environ area, so
    /proc/PID/cmdline and /proc/PID/environ no longer show the host's command line and
    environment (os.environ, a copy, is unaffected). False if the areas are unknown."""
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        # proc(5) numbers from pid (1): fields[0] here is (3) state
        arg_start, arg_end, env_start, env_end = (int(x) for x in fields[45:49])
    except (OSError, ValueError, IndexError):
        return False
    if not (0 < arg_start < arg_end) or not (0 < env_start <= env_end):
        return False
    data = title.encode()[: arg_end - arg_start - 1]
    memset = _tiny_fn(*_MEMSET, restype="VoidP")
    memset(arg_start, 0, arg_end - arg_start)
    _tiny_fn(*_MEMCPY, restype="VoidP")(arg_start, data, len(data))
    if wipe_environ:
        memset(env_start, 0, env_end - env_start)
    return True
