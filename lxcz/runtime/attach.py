"""Running a process inside a running container: lxc-attach and Container.attach[_wait].

The core is ``attach_to_pid(pid, ...)``: it starts a process in the namespaces of process
``pid`` (a container's init), in the given cgroups, with the environment, credentials,
capability bounding set, seccomp filter and working directory asked for, and runs either a
command (``attach_run_command``), the user's shell (``attach_run_shell``) or a Python
callable. The order of the steps follows LXC 5's attach.

How it gets there, in one fork: the caller enters the target PID namespace for its
children only (setns on ``pid``), forks, and returns to its own. The child is born in the
container's PID namespace as a direct child of the caller, so its exit status is exact and
signals can be forwarded. The child at once makes itself non-dumpable (container root
cannot ptrace it or open its /proc files while it still holds host memory), joins the
cgroups through their host paths, enters the user, mount, UTS, IPC, network and cgroup
namespaces, sets up the rest, closes every file descriptor above 2 and execs. A setup
error travels back on a close-on-exec pipe and becomes an ``LxczError`` in the caller; a
command that cannot be run exits 127 (not found) or 126 (not executable), like a shell.
"""

from __future__ import annotations

import _signal
import errno
import os
import sys

from lxcz.errors import LxczError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Sequence

# attach_flags (lxc/attach_options.h)
LXC_ATTACH_MOVE_TO_CGROUP = 0x00000001
LXC_ATTACH_DROP_CAPABILITIES = 0x00000002
LXC_ATTACH_SET_PERSONALITY = 0x00000004
LXC_ATTACH_LSM_EXEC = 0x00000008
LXC_ATTACH_REMOUNT_PROC_SYS = 0x00010000
LXC_ATTACH_LSM_NOW = 0x00020000
LXC_ATTACH_NO_NEW_PRIVS = 0x00040000
LXC_ATTACH_TERMINAL = 0x00080000
LXC_ATTACH_LSM_LABEL = 0x00100000
LXC_ATTACH_SETGROUPS = 0x00200000
LXC_ATTACH_DEFAULT = 0x0000FFFF
LXC_ATTACH_LSM = LXC_ATTACH_LSM_EXEC | LXC_ATTACH_LSM_NOW

LXC_ATTACH_KEEP_ENV = 0
LXC_ATTACH_CLEAR_ENV = 1

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# setns order: the user namespace first (it grants the rights for the others)
NS_ORDER = ("user", "mnt", "uts", "ipc", "net", "cgroup", "time")
ALL_NS = ("user", "mnt", "pid", "uts", "ipc", "net", "cgroup", "time")
NS_LXC_NAMES = {"MOUNT": "mnt", "PID": "pid", "UTSNAME": "uts", "IPC": "ipc",
                "USER": "user", "NETWORK": "net", "CGROUP": "cgroup", "TIME": "time",
                "MNT": "mnt", "UTS": "uts", "NET": "net"}

_ERR_SETUP = b"S"
_ERR_EXEC = b"X"


def attach_run_command(payload: Any) -> int:
    """Marker ``run`` function: exec ``payload`` (a list, or a string for one word)."""
    raise RuntimeError("attach_run_command only runs inside an attached process")


def attach_run_shell(payload: Any = None) -> int:
    """Marker ``run`` function: exec the attached user's shell (from /etc/passwd)."""
    raise RuntimeError("attach_run_shell only runs inside an attached process")


def parse_namespaces(text: str) -> List[str]:
    """lxc-attach -s: ``MOUNT|PID|UTSNAME|IPC|USER|NETWORK|CGROUP`` -> namespace names."""
    names = []
    for word in text.replace(",", "|").split("|"):
        w = word.strip()
        if not w:
            continue
        ns = NS_LXC_NAMES.get(w.upper())
        if ns is None and w.lower() in ALL_NS:
            ns = w.lower()
        if ns is None:
            raise LxczError(f"invalid namespace '{w}' (use MOUNT, PID, UTSNAME, IPC, "
                            f"USER, NETWORK or CGROUP)")
        names.append(ns)
    return names


def build_env(policy: int = LXC_ATTACH_KEEP_ENV, extra_env: Sequence[str] = (),
              extra_keep: Sequence[str] = (), config_env: Sequence[str] = (),
              base: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The attached process's environment, built the way LXC 5 builds it."""
    base = dict(os.environ if base is None else base)
    if policy == LXC_ATTACH_CLEAR_ENV:
        env = {k: base[k] for k in extra_keep if k in base}
        if "PATH" not in env:
            env["PATH"] = DEFAULT_PATH
    else:
        env = base
    env["container"] = "lxc"
    for item in list(config_env) + list(extra_env):
        key, eq, val = item.partition("=")
        if not key:
            continue
        if eq:
            env[key] = val
        elif key in base:  # lxc.environment = NAME passes the caller's value on
            env[key] = base[key]
    return env


def _same_ns(pid: int, ns: str) -> bool:
    try:
        return os.stat(f"/proc/{pid}/ns/{ns}").st_ino == \
            os.stat(f"/proc/self/ns/{ns}").st_ino
    except OSError:
        return True


def _write_err(fd: int, kind: bytes, text: str) -> None:
    try:
        os.write(fd, kind + text.encode("utf-8", "replace")[:4000])
    except OSError:
        pass


def _shell_for(uid: int) -> str:
    try:
        with open("/etc/passwd", "rb") as f:
            for line in f.read().decode("utf-8", "replace").splitlines():
                parts = line.split(":")
                if len(parts) >= 7 and parts[2] == str(uid) and parts[6]:
                    return parts[6]
    except OSError:
        pass
    return "/bin/sh"


class AttachSpec:
    """Everything the attached child does; see ``attach_to_pid``."""

    def __init__(self, **kw: Any) -> None:
        self.namespaces: Optional[List[str]] = kw.get("namespaces")
        self.env: Dict[str, str] = kw.get("env") or build_env()
        self.uid: int = kw.get("uid") if kw.get("uid") is not None else 0
        self.gid: int = kw.get("gid") if kw.get("gid") is not None else 0
        self.cwd: Optional[str] = kw.get("cwd")
        self.cgroup_paths: Sequence[str] = kw.get("cgroup_paths") or ()
        self.cgroup_in_v2 = False  # the child was created in the cgroup2 one
        self.caps_keep: Optional[set] = kw.get("caps_keep")
        self.last_cap: Optional[int] = kw.get("last_cap")  # the host's, when known
        self.no_new_privs: bool = bool(kw.get("no_new_privs"))
        self.personality: Optional[int] = kw.get("personality")
        self.remount_sys_proc: bool = bool(kw.get("remount_sys_proc"))
        self.seccomp: Optional[bytes] = kw.get("seccomp")
        self.stdio: Sequence[int] = kw.get("stdio") or (0, 1, 2)
        self.tty_slave: Optional[int] = kw.get("tty_slave")
        self.pty_sock: Optional[int] = kw.get("pty_sock")
        # (LSM, label, now): run under the container init's AppArmor/SELinux label
        self.lsm: Optional[tuple] = kw.get("lsm")


def spawn(pid: int, run: Callable[..., Any], payload: Any, spec: AttachSpec) -> int:
    """Start the attached process; return its pid (a child of the caller).

    Raises LxczError when it could not be set up (the child is reaped then).
    """
    from lxcz.sys import calls

    if pid <= 0:
        raise LxczError("the container has no init process")
    wanted = spec.namespaces if spec.namespaces is not None else list(ALL_NS)
    fds: Dict[str, int] = {}
    own_pidns = -1
    rfd = wfd = -1
    try:
        for ns in ALL_NS:
            if ns in wanted and not _same_ns(pid, ns):
                try:
                    fds[ns] = calls.ns_fd(pid, ns)
                except OSError as err:
                    raise LxczError(f"cannot open the {ns} namespace of process {pid}: "
                                    f"{err.strerror}") from None
        rfd, wfd = os.pipe2(os.O_CLOEXEC)
        if "user" in fds and os.geteuid() != 0:
            # not root: only inside the container's user namespace may we enter its PID
            # namespace, so an intermediate process joins both and forks the attached
            # one, which we adopt as subreaper once the intermediate is gone
            child = _spawn_via_userns(run, payload, spec, fds, rfd, wfd)
        else:
            if "pid" in fds:
                own_pidns = os.open("/proc/self/ns/pid_for_children",
                                    os.O_RDONLY | os.O_CLOEXEC)
                calls.setns(fds["pid"], calls.CLONE_NEWPID)
            from lxcz.cgroups import enter

            child, in_v2 = enter.fork_into(spec.cgroup_paths)  # plain fork without paths
            if child == 0:  # pragma: no cover - runs in the child, reports via the pipe
                os.close(rfd)
                spec.cgroup_in_v2 = in_v2
                try:
                    _child(run, payload, spec, fds, wfd)
                except BaseException as err:  # noqa: BLE001 - everything goes to the parent
                    _write_err(wfd, _ERR_SETUP, str(err) or type(err).__name__)
                    os._exit(255)
                os._exit(0)
    finally:
        if own_pidns >= 0:
            calls.setns(own_pidns, calls.CLONE_NEWPID)
            os.close(own_pidns)
        for fd in fds.values():
            os.close(fd)
        if wfd >= 0:
            os.close(wfd)
    msg = calls.read_to_eof(rfd)
    if msg.startswith(_ERR_SETUP):
        _reap(child)
        raise LxczError("failed to attach: " + msg[1:].decode("utf-8", "replace"))
    if msg.startswith(_ERR_EXEC):
        from lxcz.log import log

        log.error("%s", msg[1:].decode("utf-8", "replace"))
    return child


def _spawn_via_userns(run: Callable[..., Any], payload: Any, spec: AttachSpec,
                      fds: Dict[str, int], rfd: int, wfd: int) -> int:
    """Fork an intermediate that joins the user and PID namespaces and forks the attached
    process; return that process's pid (our child once the intermediate has exited)."""
    from lxcz.sys import calls

    calls.set_child_subreaper()
    pr, pw = os.pipe2(os.O_CLOEXEC)
    inter = os.fork()
    if inter == 0:  # pragma: no cover - the intermediate
        os.close(rfd)
        os.close(pr)
        try:
            calls.setns(fds["user"], calls.CLONE_NEWUSER)
            if "pid" in fds:
                calls.setns(fds["pid"], calls.CLONE_NEWPID)
            rest = {k: v for k, v in fds.items() if k not in ("user", "pid")}
            child = os.fork()
            if child == 0:
                os.close(pw)
                try:
                    _child(run, payload, spec, rest, wfd)
                except BaseException as err:  # noqa: BLE001 - everything to the parent
                    _write_err(wfd, _ERR_SETUP, str(err) or type(err).__name__)
                    os._exit(255)
                os._exit(0)
            os.write(pw, str(child).encode())
        except BaseException as err:  # noqa: BLE001
            _write_err(wfd, _ERR_SETUP, f"cannot enter the container's namespaces: "
                                        f"{getattr(err, 'strerror', None) or err}")
            os._exit(255)
        os._exit(0)
    os.close(pw)
    data = calls.read_to_eof(pr)
    _reap(inter)
    if not data:
        # the intermediate failed: its message is in the error pipe; a dead pid reaps
        # to nothing, so hand back the intermediate's (already reaped) pid
        return inter
    return int(data)


def _reap(pid: int) -> int:
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except InterruptedError:
            continue
        except ChildProcessError:
            return 0


def _terminal_in_container(spec: AttachSpec, in_mntns: bool
                           ) -> None:  # pragma: no cover - child only
    """Make a pty of the container's own devpts (when it has one) the controlling tty.

    The master goes to the caller over ``pty_sock``; the host pty prepared by the caller
    is the fallback (then ``tty`` in the container cannot name its terminal).
    """
    import _socket

    from lxcz.runtime import proto
    from lxcz.sys import attachcalls

    slave = spec.tty_slave
    master = -1
    if in_mntns:
        try:
            master = attachcalls.open_pty_master("/dev/ptmx")
            slave = attachcalls.peer_slave(master)
        except OSError:
            master = -1
            slave = spec.tty_slave
    if spec.pty_sock is not None:
        sock = _socket.socket(fileno=spec.pty_sock)
        if master >= 0:
            sock.sendmsg([b"C"], proto.fds_message([master]))
            os.close(master)
        else:
            sock.sendall(b"H")
        sock.close()
    attachcalls.make_controlling_tty(slave)
    for target in (0, 1, 2):
        os.dup2(slave, target)
    if slave > 2:
        os.close(slave)
    if spec.tty_slave is not None and spec.tty_slave != slave and spec.tty_slave > 2:
        os.close(spec.tty_slave)


def _remount_sys_proc(net_joined: bool) -> None:  # pragma: no cover - child only
    from lxcz.sys import calls

    calls.unshare(calls.CLONE_NEWNS)
    calls.mount(None, "/", None, calls.MS_SLAVE | calls.MS_REC)
    flags = calls.MS_NOSUID | calls.MS_NODEV | calls.MS_NOEXEC
    try:
        calls.umount2("/proc", calls.MNT_DETACH)
    except OSError:
        pass
    calls.mount("proc", "/proc", "proc", flags)
    if net_joined:
        try:
            calls.umount2("/sys", calls.MNT_DETACH)
        except OSError:
            pass
        calls.mount("sysfs", "/sys", "sysfs", flags)


def _child(run: Callable[..., Any], payload: Any, spec: AttachSpec, fds: Dict[str, int],
           errfd: int) -> None:  # pragma: no cover - runs in the attached child
    # Everything the child needs is imported now: once it is in the container's mount
    # namespace, neither lxcz nor the standard library can be found any more. Only what
    # this spec uses: each import is time before the command runs.
    from lxcz.cgroups import enter
    from lxcz.sys import calls

    last_cap = spec.last_cap or 0
    if spec.caps_keep is not None and spec.last_cap is None:
        from lxcz.security import caps

        last_cap = caps.last_cap()
    if spec.tty_slave is not None:
        import _socket  # noqa: F401 - used by _terminal_in_container

        from lxcz.runtime import proto  # noqa: F401
        from lxcz.sys import attachcalls  # noqa: F401
    if spec.lsm is not None:
        from lxcz.security import lsm
    _seccomp = None
    if spec.seccomp:
        from lxcz.sys import seccomp as _seccomp

        _seccomp.prepare()  # binds its calls and reads the syscall table while we can
    calls.set_dumpable(False)
    for sig in (_signal.SIGINT, _signal.SIGQUIT, _signal.SIGTERM, _signal.SIGHUP,
                _signal.SIGPIPE, _signal.SIGXFSZ, _signal.SIGCHLD, _signal.SIGWINCH,
                _signal.SIGUSR1, _signal.SIGUSR2):  # Python ignores SIGPIPE and SIGXFSZ
        _signal.signal(sig, _signal.SIG_DFL)
    if spec.tty_slave is None:
        for target, fd in enumerate(spec.stdio):
            if fd is not None and fd >= 0 and fd != target:
                os.dup2(fd, target)
    keep = {0, 1, 2, errfd} | set(fds.values())
    if spec.tty_slave is not None:
        keep.add(spec.tty_slave)
    if spec.pty_sock is not None:
        keep.add(spec.pty_sock)
    lsm_fd = -1
    if spec.lsm is not None:  # opened while the host's /proc is in sight
        lsm_fd = lsm.open_attr(spec.lsm[0], spec.lsm[1], spec.lsm[2])
        keep.add(lsm_fd)
    calls.close_fds_except(keep)
    enter.join_self(spec.cgroup_paths, spec.cgroup_in_v2)
    for ns in NS_ORDER:
        if ns in fds:
            try:
                calls.setns(fds[ns], calls.NAMESPACES[ns])
            except OSError as err:
                raise LxczError(f"cannot enter the {ns} namespace: "
                                f"{os.strerror(err.errno or 0)}") from None
    for fd in fds.values():
        os.close(fd)
    if spec.tty_slave is not None:
        _terminal_in_container(spec, "mnt" in fds)
    if spec.remount_sys_proc and "mnt" not in fds:
        _remount_sys_proc("net" in fds)
    if spec.cwd:
        try:
            os.chdir(spec.cwd)
        except OSError:
            if "mnt" in fds:
                os.chdir("/")
    if spec.personality is not None:
        calls.personality(spec.personality)
    if spec.caps_keep is not None:
        for cap in range(last_cap + 1):
            if cap not in spec.caps_keep:
                calls.capbset_drop(cap)
    try:
        os.setgroups([])
    except OSError as err:
        if err.errno != errno.EPERM:
            raise
    if spec.lsm is not None:
        lsm.set_label(lsm_fd, spec.lsm[0], spec.lsm[1], spec.lsm[2])
    if spec.no_new_privs:
        calls.prctl(calls.PR_SET_NO_NEW_PRIVS, 1)
    if _seccomp is not None:
        _seccomp.install_filter(spec.seccomp)
    os.setgid(spec.gid)
    os.setuid(spec.uid)
    calls.close_fds_except((0, 1, 2, errfd))

    if run is attach_run_command or run is attach_run_shell:
        if run is attach_run_shell:
            argv = [_shell_for(spec.uid)]
        else:
            argv = [payload] if isinstance(payload, str) else list(payload or [])
            if not argv:
                raise LxczError("no command to run")
        try:
            os.execvpe(argv[0], argv, spec.env)
        except OSError as err:
            code = 127 if err.errno in (errno.ENOENT, errno.ENOTDIR) else 126
            _write_err(errfd, _ERR_EXEC, f'failed to exec "{argv[0]}": '
                                         f"{os.strerror(err.errno or 0)}")
            os._exit(code)
    os.environ.clear()
    os.environ.update(spec.env)
    os.close(errfd)
    rc = run(payload)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # noqa: BLE001
        pass
    os._exit(int(rc or 0) & 0xFF)


FORWARDED = (_signal.SIGTERM, _signal.SIGHUP, _signal.SIGINT, _signal.SIGQUIT, _signal.SIGUSR1,
             _signal.SIGUSR2)


def wait_status(pid: int, forward: bool = False) -> int:
    """Wait for the attached process; return its raw wait status.

    With ``forward``, SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGUSR1 and SIGUSR2 sent to the
    caller are passed on to it meanwhile.
    """
    old: Dict[int, Any] = {}
    if forward:
        def fwd(sig: int, _frame: Any) -> None:
            try:
                os.kill(pid, sig)
            except OSError:
                pass

        for sig in FORWARDED:
            old[sig] = _signal.signal(sig, fwd)
    try:
        return _reap(pid)
    finally:
        for sig, handler in old.items():
            _signal.signal(sig, handler)


def exit_code(status: int) -> int:
    """A wait status as a shell reports it: the exit code, or 128 + the signal."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return 255


def attach_to_pid(pid: int, run: Callable[..., Any] = attach_run_command,
                  payload: Any = None, terminal: bool = False,
                  pty_log: Optional[str] = None, forward_signals: bool = False,
                  **spec_args: Any) -> int:
    """Run ``run(payload)`` attached to process ``pid``; wait; return the wait status.

    ``terminal``: give it a new pty as its controlling terminal and copy between that
    and the caller's stdio (``pty_log`` gets a copy of the output). Other arguments:
    see ``AttachSpec`` (namespaces, env, uid, gid, cwd, cgroup_paths, caps_keep,
    no_new_privs, personality, remount_sys_proc, seccomp, lsm, stdio).
    """
    import _socket

    master = slave = -1
    log_fd = None
    parent_sock = child_sock = None
    try:
        if terminal:
            master, slave = os.openpty()
            spec_args["tty_slave"] = slave
            parent_sock, child_sock = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
            spec_args["pty_sock"] = child_sock.fileno()
        if pty_log and terminal:
            try:
                log_fd = os.open(pty_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND |
                                 os.O_CLOEXEC, 0o600)
            except OSError as err:
                raise LxczError(f"cannot open pty log {pty_log}: {err.strerror}") from None
        child = spawn(pid, run, payload, AttachSpec(**spec_args))
        if terminal:
            os.close(slave)
            slave = -1
            assert parent_sock is not None and child_sock is not None
            child_sock.close()
            child_sock = None
            got = _recv_master(parent_sock)
            if got is not None:
                from lxcz.sys import attachcalls

                size = attachcalls.get_winsize(master)
                os.close(master)
                master = got
                if size:
                    attachcalls.set_winsize(master, size)
            from lxcz.runtime.console_client import proxy

            stdio = spec_args.get("stdio") or (0, 1, 2)
            old: Dict[int, Any] = {}
            if forward_signals:
                for sig in (_signal.SIGTERM, _signal.SIGHUP):
                    old[sig] = _signal.signal(sig, lambda s, _f: os.kill(child, s))
            try:
                proxy(master, stdio[0], stdio[1], -1, log_fd, child_pid=child)
            finally:
                for sig, handler in old.items():
                    _signal.signal(sig, handler)
        return wait_status(child, forward_signals)
    finally:
        for fd in (master, slave):
            if fd >= 0:
                os.close(fd)
        for sock in (parent_sock, child_sock):
            if sock is not None:
                sock.close()
        if log_fd is not None:
            os.close(log_fd)


def _recv_master(sock: Any) -> Optional[int]:
    """The container-side pty master the child sent, or None (host pty in use)."""
    import _socket

    from lxcz.runtime import proto

    try:
        data, anc, _flags, _addr = sock.recvmsg(1, _socket.CMSG_SPACE(4))
    except OSError:
        return None
    fds = proto.received_fds(anc)
    if not fds:
        return None
    os.set_inheritable(fds[0], False)
    return fds[0]


# -- the Container-level API --------------------------------------------------------

# the configuration items attach uses; the monitor keeps them (get_info "attach_conf")
CONFIG_KEYS = ("lxc.init.uid", "lxc.init.gid", "lxc.cap.drop", "lxc.cap.keep", "lxc.arch",
               "lxc.no_new_privs", "lxc.seccomp.profile")


def config_items(conf: Any) -> Dict[str, Any]:
    """What attach needs of a configuration, as plain data for the monitor to keep."""
    items: Dict[str, Any] = {k: conf.get_item(k) for k in CONFIG_KEYS}
    items["lxc.environment"] = [str(e) for e in (conf.get_list("lxc.environment") or [])]
    return items


def _options_to_spec(container: Any, info: Dict[str, Any], options: Dict[str, Any]
                     ) -> Dict[str, Any]:
    """Translate python3-lxc style options plus the container's config into spec args."""
    flags = options.get("attach_flags", LXC_ATTACH_DEFAULT)
    from lxcz.runtime.client import RunningConfig

    items = info.get("attach_conf")
    if isinstance(items, dict) and not getattr(container, "_rcfile", None):
        conf: Any = RunningConfig(items)
    else:  # lxc-attach -f FILE, or a monitor that does not report them
        conf = container.config
    spec: Dict[str, Any] = {}

    ns_opt = options.get("namespaces", -1)
    if isinstance(ns_opt, int):
        if ns_opt != -1:
            from lxcz.sys import calls

            spec["namespaces"] = [n for n, bit in calls.NAMESPACES.items() if ns_opt & bit]
    elif ns_opt is not None:
        spec["namespaces"] = list(ns_opt)

    config_env = [str(e) for e in (conf.get_list("lxc.environment") or [])]
    spec["env"] = build_env(options.get("env_policy", LXC_ATTACH_KEEP_ENV),
                            options.get("extra_env_vars") or (),
                            options.get("extra_keep_env") or (), config_env)

    uid, gid = options.get("uid"), options.get("gid")
    if uid is None or uid == -1:
        uid = int(conf.get_item("lxc.init.uid") or 0)
    if gid is None or gid == -1:
        gid = int(conf.get_item("lxc.init.gid") or 0)
    spec["uid"], spec["gid"] = uid, gid

    cwd = options.get("initial_cwd")
    if not cwd:
        try:
            cwd = os.getcwd()
        except OSError:
            cwd = "/"
    spec["cwd"] = cwd

    if flags & LXC_ATTACH_MOVE_TO_CGROUP:
        paths = info.get("cgroup_attach") or info.get("cgroup")  # .container.inner first
        if paths is None:
            from lxcz.runtime import client

            paths = client.get_cgroup_paths(container)
        from lxcz.cgroups import enter

        spec["cgroup_paths"] = enter.leaf(sorted(set(paths.values()))
                                          if isinstance(paths, dict) else list(paths))
    if flags & LXC_ATTACH_DROP_CAPABILITIES:
        drop = conf.get_item("lxc.cap.drop")
        keep = conf.get_item("lxc.cap.keep")
        resolved = conf.items.get("caps_keep") if isinstance(conf, RunningConfig) else None
        if resolved is not None:  # as the monitor resolved them for the container's start
            spec["caps_keep"] = set(resolved)
            spec["last_cap"] = conf.items.get("last_cap")
        elif drop or keep:
            from lxcz.security import caps

            spec["caps_keep"] = caps.resolve(drop.split("\n") if drop else [],
                                             keep.split("\n") if keep else [])
    if flags & LXC_ATTACH_SET_PERSONALITY:
        pers = options.get("personality", -1)
        if pers is None or pers == -1:
            arch = conf.get_item("lxc.arch")
            pers = None
            if arch:
                from lxcz.sys import attachcalls

                pers = attachcalls.personality_for(arch)
        if pers is not None and pers != -1:
            spec["personality"] = pers
    spec["no_new_privs"] = bool(flags & LXC_ATTACH_NO_NEW_PRIVS) or \
        conf.get_item("lxc.no_new_privs") in ("1", "true")
    spec["remount_sys_proc"] = bool(flags & LXC_ATTACH_REMOUNT_PROC_SYS)
    # a monitor reports the LSM active at the container's start ("lsm": None for none)
    no_lsm = isinstance(conf, RunningConfig) and "lsm" in conf.items \
        and not conf.items["lsm"]
    if flags & (LXC_ATTACH_LSM | LXC_ATTACH_LSM_LABEL) and not no_lsm:
        from lxcz.security import lsm

        label = options.get("lsm_label") if flags & LXC_ATTACH_LSM_LABEL else None
        if label:
            kind = lsm.active()
            found = (kind, str(label)) if kind else None
        else:
            found = lsm.label_of(int(info.get("pid", -1) or -1))
        if found is not None:  # at exec unless only LXC_ATTACH_LSM_NOW is asked for
            spec["lsm"] = (found[0], found[1], not flags & LXC_ATTACH_LSM_EXEC)
    profile = conf.get_item("lxc.seccomp.profile")
    if profile:
        from lxcz.security import seccomp_bpf, seccomp_policy

        spec["seccomp"] = seccomp_bpf.compile_policy(seccomp_policy.load_policy(profile))
    stdio = []
    for key, default in (("stdin", 0), ("stdout", 1), ("stderr", 2)):
        val = options.get(key)
        if val is None:
            stdio.append(default)
        else:
            stdio.append(val if isinstance(val, int) else val.fileno())
    spec["stdio"] = tuple(stdio)
    return spec


def _running_info(container: Any) -> Dict[str, Any]:
    from lxcz.runtime import client

    info = client.get_info(container)
    if info.get("state", "STOPPED") == "STOPPED" or int(info.get("pid", -1) or -1) <= 0:
        if not container.defined:
            raise LxczError("Container is not defined")
        raise LxczError(f"{container.name} is not running")
    return info


def attach_wait(container: Any, run: Callable[..., Any] = attach_run_command,
                payload: Any = None, **options: Any) -> int:
    """python3-lxc's attach_wait: run, wait, return the raw wait status.

    Options beyond python3-lxc's: ``terminal`` (use a pty), ``pty_log``,
    ``forward_signals``.
    """
    info = _running_info(container)
    spec = _options_to_spec(container, info, options)
    return attach_to_pid(int(info["pid"]), run, payload,
                         terminal=bool(options.get("terminal")),
                         pty_log=options.get("pty_log"),
                         forward_signals=bool(options.get("forward_signals")), **spec)


def attach(container: Any, run: Callable[..., Any] = attach_run_command, payload: Any = None,
           **options: Any) -> int:
    """python3-lxc's attach: start the process and return its pid without waiting."""
    info = _running_info(container)
    spec = _options_to_spec(container, info, options)
    return spawn(int(info["pid"]), run, payload, AttachSpec(**spec))
