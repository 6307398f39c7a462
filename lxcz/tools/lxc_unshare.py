"""lxc-unshare: run a command in a new set of namespaces.

``-s NAMESPACES`` is a pipe-separated list of MOUNT, PID, UTSNAME, IPC, USER, NETWORK,
CGROUP (or the kernel's names mnt, pid, uts, ipc, user, net, cgroup, time, in any case);
``-u USER`` switches to that user (with USER: maps it to the caller's uid first); ``-H``
sets the host name (needs UTSNAME); ``-i IFNAME`` (repeatable) moves an interface in
(needs NETWORK); ``-d`` does not wait; ``-M`` mounts fresh /proc, /sys, /dev/shm and
/dev/mqueue (needs MOUNT). The forked child unshares; with PID it forks once more so the
command is PID 1 of the new PID namespace.
"""

from __future__ import annotations

import os
import sys

from lxcz.errors import LxczError
from lxcz.tools.common import NONE, REQUIRED, Args, Opt, ToolParser, UsageError, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

SYNOPSIS = "-s NAMESPACES COMMAND"
DESCRIPTION = "run a COMMAND in a new set of NAMESPACES"
OPTS = [
    Opt("s", "namespaces", "namespaces", REQUIRED, "FLAGS",
        "ORed list of flags to unshare:\nMOUNT, PID, UTSNAME, IPC, USER, NETWORK"),
    Opt("u", "user", "user", REQUIRED, "USERID", "new id to be set if -s USER is specified"),
    Opt("H", "hostname", "hostname", REQUIRED, "HOSTNAME", "Set the hostname in the container"),
    Opt("i", "ifname", "ifname", REQUIRED, "IFNAME",
        "Interface name to be moved into container (presumably with NETWORK unsharing set)",
        action="append", default=[]),
    Opt("d", "daemon", "daemon", NONE, help="Daemonize (do not wait for container to exit)",
        action="store_true"),
    Opt("M", "remount", "remount", NONE,
        help="Remount default fs inside container (/proc /dev/shm /dev/mqueue)",
        action="store_true"),
]

# lxc-unshare/lxc-attach spellings -> the kernel's
_ALIASES = {"mount": "mnt", "network": "net", "utsname": "uts"}


def namespace_flags(text: str) -> int:
    from lxcz.sys import calls

    flags = 0
    for word in text.split("|"):
        key = word.strip().lower()
        key = _ALIASES.get(key, key)
        if key not in calls.NAMESPACES:
            raise UsageError(f'invalid namespace name "{word}"')
        flags |= calls.NAMESPACES[key]
    return flags


def lookup_user(text: str) -> int:
    import pwd

    try:
        if text.isdigit():
            return pwd.getpwuid(int(text)).pw_uid
        return pwd.getpwnam(text).pw_uid
    except KeyError:
        what = "uid" if text.isdigit() else "username"
        raise UsageError(f'invalid {what} "{text}": no such user') from None


def make_parser(prog: str) -> ToolParser:
    parser = ToolParser(prog, SYNOPSIS, DESCRIPTION, OPTS, name_opt=False,
                        rcfile_opt=False, max_positional=10 ** 6)
    default = parser.help_text()
    tail = default[default.index("\nCommon options :"):]
    rows = []
    for o in OPTS:
        lines = o.help.split("\n")
        spell = o.spelling()
        if len(spell) + 2 < 19:
            rows.append(f"  {spell:<18}{lines[0]}")
        else:
            rows += [f"  {spell}", " " * 20 + lines[0]]
        rows += [" " * 20 + x for x in lines[1:]]
    head = (f"Usage: {prog} {SYNOPSIS}\n\n{prog} {DESCRIPTION}\n\nOptions :\n"
            + "\n".join(rows) + "\n")
    parser.help_text = lambda: head + tail  # type: ignore[method-assign]
    return parser


def validate(args: Args) -> None:
    from lxcz.sys import calls

    command = args.positional + args.command
    if not command:
        raise LxczError("A command to execute in the new namespace is required")
    flags = namespace_flags(args.namespaces) if args.namespaces else 0
    if not flags:
        raise LxczError("A namespace to execute command is required")
    if args.ifname and not flags & calls.CLONE_NEWNET:
        raise LxczError("-i <interfacename> needs -s NETWORK option")
    if args.hostname and not flags & calls.CLONE_NEWUTS:
        raise LxczError("-H <hostname> needs -s UTSNAME option")
    if args.remount and not flags & calls.CLONE_NEWNS:
        raise LxczError("-M needs -s MOUNT option")
    if args.user is not None:
        lookup_user(args.user)
    if args.hostname is not None:
        from lxcz.config import values

        try:
            values.hostname(args.hostname)
        except ValueError as e:
            raise LxczError(str(e)) from None


def _mount_defaults(flags: int) -> None:
    """-M: fresh /proc (and /sys, /dev/shm, /dev/mqueue); failures other than /proc are
    skipped, as upstream does."""
    from lxcz.log import log
    from lxcz.sys import calls

    table = [("proc", "/proc", "proc", 0o555), ("sysfs", "/sys", "sysfs", 0o555),
             ("shmfs", "/dev/shm", "tmpfs", 0o1777), ("mqueue", "/dev/mqueue", "mqueue", 0o1777)]
    for source, target, fstype, mode in table:
        if not os.path.isdir(target):
            try:
                os.mkdir(target, mode)
            except OSError:
                continue
        try:
            calls.umount2(target, calls.MNT_DETACH)
        except OSError:
            pass
        try:
            calls.mount(source, target, fstype, calls.MS_NOSUID | calls.MS_NODEV
                        | (calls.MS_NOEXEC if fstype != "tmpfs" else 0))
        except OSError as e:
            if target == "/proc":
                raise
            log.debug("-M: %s", e)


def _start(args: Args, flags: int, uid: Optional[int]) -> None:
    """The command's process, in its namespaces: never returns."""
    from lxcz.sys import calls

    if flags & calls.CLONE_NEWNS:
        calls.mount(None, "/", None, calls.MS_REC | calls.MS_PRIVATE)
        if args.remount:
            _mount_defaults(flags)
    if args.hostname is not None:
        calls.sethostname(args.hostname)
    if uid is not None:
        os.setuid(uid)
    command = args.positional + args.command
    os.execvp(command[0], command)


def _child(args: Args, flags: int, uid: Optional[int], ready_w: int, go_r: int) -> None:
    from lxcz.sys import calls

    status = 1
    try:
        calls.unshare(flags)
        calls.wait_for_maps(ready_w, go_r)
        if flags & calls.CLONE_NEWPID:
            pid = os.fork()
            if pid == 0:
                try:
                    _start(args, flags, uid)
                except OSError as e:
                    sys.stderr.write(f"{args.prog}: {e.strerror or e}\n")
                os._exit(1)
            _, st = os.waitpid(pid, 0)
            status = 128 + os.WTERMSIG(st) if os.WIFSIGNALED(st) else os.WEXITSTATUS(st)
        else:
            _start(args, flags, uid)
    except OSError as e:
        sys.stderr.write(f"{args.prog}: {e.strerror or e}\n")
    except BaseException as e:  # noqa: BLE001 - never return into the tool's code
        sys.stderr.write(f"{args.prog}: {e}\n")
    os._exit(status)


def _move_interfaces(names: List[str], pid: int) -> None:
    try:
        from pyroute2 import IPRoute
    except ImportError:
        _move_with_ip(names, pid)
        return

    with IPRoute() as ipr:
        for name in names:
            idx = ipr.link_lookup(ifname=name)
            if not idx:
                raise LxczError(f'cannot move network device "{name}": no such interface')
            try:
                ipr.link("set", index=idx[0], net_ns_pid=pid)
            except Exception as e:  # noqa: BLE001 - pyroute2's NetlinkError and friends
                raise LxczError(f'cannot move network device "{name}" into the new '
                                f"network namespace: {e}") from None


def _move_with_ip(names: List[str], pid: int) -> None:
    """Without pyroute2: ip(8), as upstream does."""
    import subprocess

    for name in names:
        try:
            res = subprocess.run(["ip", "link", "set", "dev", name, "netns", str(pid)],
                                 capture_output=True, text=True, check=False)
        except OSError as e:
            raise LxczError(f'cannot move network device "{name}": ip: {e.strerror}') \
                from None
        if res.returncode != 0:
            why = " ".join(res.stderr.split()) or f"ip exited {res.returncode}"
            if "Cannot find device" in why:
                why = "no such interface"
            raise LxczError(f'cannot move network device "{name}": {why}')


def body(args: Args) -> int:
    from lxcz.sys import calls

    flags = namespace_flags(args.namespaces)
    uid = lookup_user(args.user) if args.user is not None else None
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        os.close(go_w)
        _child(args, flags, uid, ready_w, go_r)
    os.close(ready_w)
    os.close(go_r)
    try:
        if os.read(ready_r, 1) != b"1":
            os.waitpid(pid, 0)
            return 1
        try:
            if uid is not None and flags & calls.CLONE_NEWUSER:
                from lxcz.security import idmap

                idmap.write_maps(pid, [idmap.IdMap("u", uid, os.getuid(), 1)])
            if args.ifname:
                _move_interfaces(args.ifname, pid)
        except BaseException:
            os.write(go_w, b"0")
            os.waitpid(pid, 0)
            raise
        os.write(go_w, b"1")
    finally:
        os.close(ready_r)
        os.close(go_w)
    if args.daemon:
        return 0
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except (InterruptedError, KeyboardInterrupt):
            continue
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def main(argv: List[str], prog: Optional[str] = None) -> int:
    parser = make_parser(prog or "lxc-unshare")
    return run(parser, argv, lambda a: (validate(a), body(a))[1])
