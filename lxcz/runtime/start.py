"""Starting a container: the per-container monitor and the child that becomes its init.

Process layout (like LXC's):

* the monitor (the ``lxc-start``/``lxc-execute`` process itself in the foreground, a
  double-forked daemon with ``-d``) holds the abstract command socket, the cgroups, the
  host side of the terminals, and waits for init;
* init is forked into a new PID namespace (the monitor unshares CLONE_NEWPID for its
  next child only and restores its own afterwards), unshares the other namespaces, sets
  up the rootfs, /dev and mounts, pivot_roots and then either execs the container's init
  (``lxc-start``) or becomes lxcz's PID-1 init (``lxc-execute``, lxcz.runtime.init).
  With lxc.idmap the child first unshares its user namespace (the monitor writes the maps),
  then the others including PID, and forks init into them; the monitor, a child
  subreaper, adopts it.

The two talk over a SOCK_SEQPACKET pair carrying small dicts (marshal: both ends are this
same interpreter, and json would pull in re at every start); a failure in the
child comes back as one line and the start aborts with nothing left behind: the command
socket is an abstract name (gone with the monitor), the mounts live in the container's
mount namespace (gone with init), the cgroups are removed by the monitor.
"""

from __future__ import annotations

import _signal
import _socket
import errno
import marshal
import os
import sys
import time

from lxcz import log as lxlog
from lxcz.errors import LxczError
from lxcz.runtime import events, hooks, paths
from lxcz.sys import calls

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

log = lxlog.log

DEFAULT_ROOTFS_MOUNT = "/usr/lib/x86_64-linux-gnu/lxc"
FORWARDED = (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP, _signal.SIGQUIT, _signal.SIGUSR1,
             _signal.SIGUSR2, _signal.SIGWINCH)
NS_ORDER = ("user", "mnt", "pid", "uts", "ipc", "net", "cgroup", "time")
DEFAULT_NS = ("mnt", "pid", "uts", "ipc", "net", "cgroup")
# configuration items lxc-ls shows; for a running container, LXC asks its monitor for them
SHOWN = ("lxc.group", "lxc.start.auto", "lxc.idmap")


class AlreadyRunning(LxczError):
    """The container's monitor is up."""


class Spec:
    """Everything a start needs, resolved from the configuration before any fork.

    A plain class (not a dataclass: that import costs milliseconds on every start).
    """

    def __init__(self, name: str, lxcpath: str, config_file: str, cmd: List[str],
                 useinit: bool, **options: Any) -> None:
        self.name = name
        self.lxcpath = lxcpath
        self.config_file = config_file
        self.cmd = cmd
        self.useinit = useinit
        o = options
        self.prog: str = o.pop("prog", "lxc-start")
        self.rootfs: str = o.pop("rootfs", "")
        self.rootfs_mount: str = o.pop("rootfs_mount", "")
        self.rootfs_flags: int = o.pop("rootfs_flags", 0)
        self.hostname: str = o.pop("hostname", "")
        self.autodev: bool = o.pop("autodev", True)
        self.mount_auto: List[str] = o.pop("mount_auto") if "mount_auto" in o else []
        self.mount_entries: List[str] = o.pop("mount_entries") if "mount_entries" in o else []
        self.fstab: str = o.pop("fstab", "")
        self.tty_max: int = o.pop("tty_max", 0)
        self.tty_dir: str = o.pop("tty_dir", "")
        self.pty_max: int = o.pop("pty_max", 0)
        self.console: str = o.pop("console", "")  # "" = a pty, "none", or a host device path
        self.console_log: str = o.pop("console_log", "")
        self.console_size: int = o.pop("console_size", 0)  # lxc.console.size, 0: no limit
        self.console_rotate: bool = o.pop("console_rotate", False)
        self.console_buffer: int = o.pop("console_buffer", 0)  # lxc.console.buffer.size
        self.env: Dict[str, str] = o.pop("env") if "env" in o else {}
        self.uid: int = o.pop("uid", 0)
        self.gid: int = o.pop("gid", 0)
        self.groups: List[int] = o.pop("groups") if "groups" in o else []
        self.cwd: str = o.pop("cwd", "/")
        self.hooks: Dict[str, List[str]] = o.pop("hooks") if "hooks" in o else {}
        self.hook_version: int = o.pop("hook_version", 0)
        self.halt_signal: int = o.pop("halt_signal", _signal.SIGPWR)
        self.reboot_signal: int = o.pop("reboot_signal", _signal.SIGINT)
        self.stop_signal: int = o.pop("stop_signal", _signal.SIGKILL)
        self.clone: List[str] = o.pop("clone") if "clone" in o else []
        self.share: Dict[str, str] = o.pop("share") if "share" in o else {}
        self.cgroup_v1: Dict[str, str] = o.pop("cgroup_v1") if "cgroup_v1" in o else {}
        self.cgroup_v2: Dict[str, str] = o.pop("cgroup_v2") if "cgroup_v2" in o else {}
        self.cgroup_pattern: Optional[str] = o.pop("cgroup_pattern", None)
        # lxc.cgroup.dir.{container,monitor,container.inner,monitor.pivot}, .relative
        self.cgroup_dirs: Dict[str, Any] = o.pop("cgroup_dirs") if "cgroup_dirs" in o else {}
        self.pdeath_signal: int = o.pop("pdeath_signal", _signal.SIGKILL)
        self.daemonize: bool = o.pop("daemonize", True)
        self.foreground_console: bool = o.pop("foreground_console", False)
        self.pidfile: str = o.pop("pidfile", "")
        self.log_level: str = o.pop("log_level", "ERROR")
        self.cfg: Any = o.pop("cfg", None)
        self.cap_keep: Optional[Any] = o.pop("cap_keep", None)  # capability numbers; None: unchanged
        self.seccomp_prog: bytes = o.pop("seccomp_prog", b"")
        self.seccomp_nesting: bool = o.pop("seccomp_nesting", False)
        self.aa_label: Optional[str] = o.pop("aa_label", None)
        self.no_new_privs: bool = o.pop("no_new_privs", False)
        self.networks: List[Dict[str, Any]] = o.pop("networks") if "networks" in o else []
        self.rootfs_store: str = o.pop("rootfs_store", "")  # non-dir rootfs.path
        self.prlimits: Dict[str, Any] = o.pop("prlimits") if "prlimits" in o else {}
        self.sysctls: Dict[str, str] = o.pop("sysctls") if "sysctls" in o else {}
        self.procs: Dict[str, str] = o.pop("procs") if "procs" in o else {}
        self.keyring: bool = o.pop("keyring", True)  # lxc.keyring.session
        self.personality: str = o.pop("personality", "")
        self.idmap: List[Any] = o.pop("idmap") if "idmap" in o else []  # lxcz.security.idmap
        self.se_label: Optional[str] = o.pop("se_label", None)  # lxc.selinux.context
        self.se_keyring: Optional[str] = o.pop("se_keyring", None)
        self.sched_core: bool = o.pop("sched_core", False)
        self.monitor_unshare: bool = o.pop("monitor_unshare", False)
        self.autodev_size: int = o.pop("autodev_size", 0)  # bytes; 0: LXC's 500000
        self.time_offsets: Dict[str, int] = o.pop("time_offsets") if "time_offsets" in o \
            else {}  # "monotonic"/"boottime" -> nanoseconds
        # what lxc-attach needs of the configuration (lxcz.runtime.attach.config_items)
        self.attach_conf: Dict[str, Any] = o.pop("attach_conf") if "attach_conf" in o \
            else {}
        # what lxc-ls shows of the configuration, as the container was started (SHOWN)
        self.shown: Dict[str, str] = o.pop("shown") if "shown" in o else {}
        if o:
            raise TypeError(f"Spec() got unexpected arguments: {', '.join(sorted(o))}")

    def __repr__(self) -> str:
        return "Spec(" + ", ".join(f"{k}={v!r}" for k, v in vars(self).items()) + ")"


# -- configuration -> Spec --------------------------------------------------------------
def _int(value: Any, default: int = 0) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _signum(value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, int):
        return value
    text = str(value).upper()
    if text.isdigit():
        return int(text)
    if not text.startswith("SIG"):
        text = "SIG" + text
    return int(getattr(_signal, text, default))


def _words(value: Any) -> List[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        out: List[str] = []
        for v in value:
            out.extend(_words(v))
        return out
    return str(value).split()


def _environment(entries: List[Any]) -> Dict[str, str]:
    env: Dict[str, str] = {}
    for e in entries:
        text = str(e)
        key, eq, val = text.partition("=")
        key = key.strip()
        if not key:
            continue
        if eq:
            env[key] = val
        elif key in os.environ:
            env[key] = os.environ[key]
    return env


def check_applied(cfg: Any) -> None:
    """Refuse keys the runtime would silently ignore, naming the first one."""
    pending = cfg.unapplied()
    if pending:
        item = pending[0]
        where = f"{item.path}:{item.line}: " if item.path and item.line else \
            (f"{item.path}: " if item.path else "")
        raise LxczError(f"{where}{item.key} is not supported by lxcz yet")


def make_spec(c: Any, cmd: Optional[List[str]], useinit: bool, prog: str,
              options: Dict[str, Any]) -> Spec:
    cfg = c.config
    check_applied(cfg)
    if useinit:
        if not cmd:
            ecmd = cfg.get("lxc.execute.cmd")
            cmd = ecmd.split() if ecmd else []
        if not cmd:
            raise LxczError("no command given to execute")
    elif not cmd:
        icmd = cfg.get("lxc.init.cmd")
        cmd = str(icmd).split() if icmd else ["/sbin/init"]
    spec = Spec(name=c.name, lxcpath=c.config_path,
                config_file=getattr(cfg, "path", None) or c.config_file_name,
                cmd=list(cmd), useinit=useinit, prog=prog, cfg=cfg)
    from lxcz.runtime.rootfs import rootfs_source

    kind, path = rootfs_source(cfg.get("lxc.rootfs.path"))
    if path:
        if kind != "dir":
            # mounted in the container's own mount namespace (setup_rootfs), so the
            # mount, and a loop device with autoclear, go away with the container
            from lxcz.storage import bdev

            bdev.get_store(kind)
            spec.rootfs_store = str(cfg.get("lxc.rootfs.path"))
            path = os.path.join(c.path, "rootfs")
            os.makedirs(path, 0o755, exist_ok=True)
        if not os.path.isdir(path):
            raise LxczError(f"rootfs '{path}' does not exist or is not a directory")
        spec.rootfs = os.path.realpath(path)
        mnt = cfg.get("lxc.rootfs.mount")
        spec.rootfs_mount = os.path.realpath(mnt) if mnt and os.path.isdir(mnt) \
            else spec.rootfs
        from lxcz.runtime.rootfs import parse_options

        flags, _prop, data, _lxc = parse_options(str(cfg.get("lxc.rootfs.options") or ""))
        if data:
            raise LxczError(f"lxc.rootfs.options: unsupported option '{data[0]}' for a "
                            "dir rootfs")
        spec.rootfs_flags = flags
    spec.hostname = str(cfg.get("lxc.uts.name") or "")
    spec.autodev = bool(_int(cfg.get("lxc.autodev"), 1))
    spec.autodev_size = _int(cfg.get("lxc.autodev.tmpfs.size"), 0)
    spec.monitor_unshare = bool(_int(cfg.get("lxc.monitor.unshare"), 0))
    for key, clock in (("lxc.time.offset.monotonic", "monotonic"),
                       ("lxc.time.offset.boot", "boottime")):
        off = cfg.get(key)
        if off:
            spec.time_offsets[clock] = int(off)
    spec.mount_auto = _words(cfg.get_list("lxc.mount.auto"))
    spec.mount_entries = [str(x) for x in cfg.get_list("lxc.mount.entry")]
    spec.fstab = str(cfg.get("lxc.mount.fstab") or "")
    spec.tty_max = _int(cfg.get("lxc.tty.max"), 0)
    spec.tty_dir = str(cfg.get("lxc.tty.dir") or "")
    spec.pty_max = _int(cfg.get("lxc.pty.max"), 0)
    spec.console = str(cfg.get("lxc.console.path") or "")
    spec.console_log = str(cfg.get("lxc.console.logfile") or "")
    if options.get("console"):
        spec.console = options["console"]
    if options.get("console_log"):
        spec.console_log = options["console_log"]
    spec.console_size = _int(cfg.get("lxc.console.size"), 0)
    spec.console_rotate = bool(_int(cfg.get("lxc.console.rotate"), 0))
    spec.console_buffer = _int(cfg.get("lxc.console.buffer.size"), 0)
    # as LXC 5's: a clear environment, lxc.environment, container=lxc; no PATH (a command
    # is looked up in /bin:/usr/bin then, as execvp does) and not the caller's TERM
    env = _environment(cfg.get_list("lxc.environment"))
    env["container"] = "lxc"
    spec.env = env
    spec.uid = _int(options.get("uid"), _int(cfg.get("lxc.init.uid"), 0))
    spec.gid = _int(options.get("gid"), _int(cfg.get("lxc.init.gid"), 0))
    spec.groups = [_int(g) for g in _words(cfg.get_list("lxc.init.groups"))]
    spec.cwd = str(cfg.get("lxc.init.cwd") or "/")
    for h in hooks.TYPES:
        spec.hooks[h] = [str(x) for x in cfg.get_list("lxc.hook." + h)]
    spec.hook_version = _int(cfg.get("lxc.hook.version"), 0)
    spec.halt_signal = _signum(cfg.get("lxc.signal.halt"), _signal.SIGPWR)
    spec.reboot_signal = _signum(cfg.get("lxc.signal.reboot"), _signal.SIGINT)
    spec.stop_signal = _signum(cfg.get("lxc.signal.stop"), _signal.SIGKILL)
    spec.pdeath_signal = _signum(cfg.get("lxc.monitor.signal.pdeath"), _signal.SIGKILL)
    spec.clone = namespaces(cfg, options)
    if spec.time_offsets:
        if not os.path.exists("/proc/self/ns/time"):
            raise LxczError("lxc.time.offset.* needs time namespaces (Linux 5.6 or newer)")
        if "time" not in spec.clone:
            spec.clone = [n for n in NS_ORDER if n in spec.clone or n == "time"]
    user_namespace(spec, cfg)
    security(spec, cfg)
    spec.networks = list(cfg.networks())
    if any(n.get("type") == "none" for n in spec.networks):
        # lxc.net.N.type = none: the container shares the host's network namespace
        spec.clone = [n for n in spec.clone if n != "net"]
        spec.networks = []
    elif "net" not in spec.clone or "net" in options.get("share", {}):
        spec.networks = []
    if spec.networks:
        from lxcz.net import netdev

        netdev.validate(spec.networks)
        if os.geteuid() != 0:
            for n in spec.networks:
                key = f"lxc.net.{n.get('index', 0)}"
                if n.get("type") not in ("veth", "empty"):
                    raise LxczError(f"{key}.type: an unprivileged container can have veth "
                                    f"and empty networks only, not {n.get('type')}")
                if n.get("type") == "veth" and not n.get("link"):
                    raise LxczError(f"{key}.link: an unprivileged veth needs a bridge "
                                    "allowed in /etc/lxc/lxc-usernet")
    share = dict(cfg.prefixed("lxc.namespace.share."))
    for ns, target in (options.get("share") or {}).items():
        share[ns] = target
    spec.share = {ns: resolve_share(ns, t, c.config_path) for ns, t in share.items()}
    spec.cgroup_v1 = dict(cfg.prefixed("lxc.cgroup."))
    for k in ("dir", "dir.monitor", "dir.monitor.pivot", "dir.container",
              "dir.container.inner", "relative"):
        spec.cgroup_v1.pop(k, None)
    spec.cgroup_v2 = dict(cfg.prefixed("lxc.cgroup2."))
    pattern = cfg.get("lxc.cgroup.dir")
    spec.cgroup_pattern = str(pattern) if pattern else None
    spec.cgroup_dirs = cgroup_dirs(cfg, spec.cgroup_pattern)
    spec.daemonize = bool(options.get("daemonize", True))
    spec.pidfile = options.get("pidfile") or ""
    spec.foreground_console = not spec.daemonize and not useinit
    lvl = cfg.get("lxc.log.level")
    spec.log_level = str(lvl) if lvl is not None else "ERROR"
    from lxcz.runtime.attach import config_items

    spec.attach_conf = config_items(cfg)
    if spec.cap_keep is not None:  # resolved once here: lxc-attach needs no capability table
        from lxcz.security import caps

        spec.attach_conf["caps_keep"] = sorted(spec.cap_keep)
        spec.attach_conf["last_cap"] = caps.last_cap()
    from lxcz.security import lsm

    # the host's LSM does not change while it runs: attach need not look when there is none
    spec.attach_conf["lsm"] = lsm.active()
    spec.shown = {k: str(cfg.get_item(k) or "") for k in SHOWN}
    return spec


def security(spec: Spec, cfg: Any) -> None:
    """Capabilities, seccomp, AppArmor and no_new_privs, all checked and compiled here in
    the parent so the child only has to apply them (lxcz.security)."""
    drop = [str(x) for x in cfg.get_list("lxc.cap.drop")]
    keep = [str(x) for x in cfg.get_list("lxc.cap.keep")]
    if drop or keep:
        from lxcz.security import caps

        spec.cap_keep = caps.resolve(drop, keep)
    profile = cfg.get("lxc.seccomp.profile")
    if profile:
        from lxcz.security import seccomp_bpf, seccomp_policy

        warnings: List[str] = []
        policy = seccomp_policy.load_policy(str(profile))
        spec.seccomp_prog = seccomp_bpf.compile_policy(policy, warnings=warnings)
        for w in warnings:
            log.warning("%s", w)
        spec.seccomp_nesting = bool(_int(cfg.get("lxc.seccomp.allow_nesting"), 0))
    aa = cfg.get("lxc.apparmor.profile")
    aa_incomplete = bool(_int(cfg.get("lxc.apparmor.allow_incomplete"), 0))
    from lxcz.security import apparmor

    if aa is not None or apparmor.enabled():
        spec.aa_label = apparmor.prepare(None if aa is None else str(aa), aa_incomplete)
    if cfg.get_list("lxc.apparmor.raw") and spec.aa_label is None:
        # raw rules only ever go into a generated profile: with none (no AppArmor here,
        # or another profile) LXC 5 has nothing to add them to, and neither has lxcz
        log.info("lxc.apparmor.raw is ignored: no generated AppArmor profile")
    spec.no_new_privs = bool(_int(cfg.get("lxc.no_new_privs"), 0))
    se = cfg.get("lxc.selinux.context")
    se_key = cfg.get("lxc.selinux.context.keyring")
    if se or se_key:
        from lxcz.security import selinux

        spec.se_label = selinux.prepare(str(se) if se else None)
        spec.se_keyring = selinux.prepare(str(se_key)) if se_key else spec.se_label
    spec.sched_core = bool(_int(cfg.get("lxc.sched.core"), 0))
    from lxcz.security import limits

    spec.prlimits = dict(cfg.prefixed("lxc.prlimit."))
    limits.check_prlimits(spec.prlimits)
    spec.sysctls = {k: str(v) for k, v in cfg.prefixed("lxc.sysctl.").items()}
    limits.check_sysctls(spec.sysctls)
    spec.procs = {k: str(v) for k, v in cfg.prefixed("lxc.proc.").items()}
    spec.keyring = bool(_int(cfg.get("lxc.keyring.session"), 1))
    arch = cfg.get("lxc.arch")
    if arch:
        limits.personality_value(str(arch))  # an unknown word fails here, not in the child
        spec.personality = str(arch)


def namespaces(cfg: Any, options: Dict[str, Any]) -> List[str]:
    clone = _words(cfg.get_list("lxc.namespace.clone"))
    keep = set(_words(cfg.get_list("lxc.namespace.keep")))
    chosen = clone or list(DEFAULT_NS)
    for n in chosen + list(keep):
        if n not in calls.NAMESPACES:
            raise LxczError(f"unknown namespace '{n}'")
    if not os.path.exists("/proc/self/ns/cgroup") and "cgroup" in chosen:
        chosen.remove("cgroup")
    return [n for n in NS_ORDER if n in chosen and n not in keep]


def cgroup_dirs(cfg: Any, pattern: Optional[str]) -> Dict[str, Any]:
    """lxc.cgroup.dir.container/.monitor (set together, instead of lxc.cgroup.dir),
    .container.inner, .monitor.pivot and lxc.cgroup.relative, checked as LXC 5 does."""
    d: Dict[str, Any] = {}
    for key, name in (("lxc.cgroup.dir.container", "container"),
                      ("lxc.cgroup.dir.monitor", "monitor"),
                      ("lxc.cgroup.dir.container.inner", "inner"),
                      ("lxc.cgroup.dir.monitor.pivot", "monitor.pivot")):
        v = cfg.get(key)
        if v:
            d[name] = str(v).strip("/")
    if d.get("container") or d.get("monitor"):
        if pattern:
            raise LxczError("lxc.cgroup.dir cannot be combined with lxc.cgroup.dir.container "
                            "and lxc.cgroup.dir.monitor")
        if not (d.get("container") and d.get("monitor")):
            raise LxczError("lxc.cgroup.dir.container and lxc.cgroup.dir.monitor must be "
                            "set together")
        if d["container"] == d["monitor"]:
            raise LxczError("lxc.cgroup.dir.container and lxc.cgroup.dir.monitor must differ")
    if d.get("inner") and "/" in d["inner"]:
        raise LxczError("lxc.cgroup.dir.container.inner must be a single directory name")
    if _int(cfg.get("lxc.cgroup.relative"), 0):
        d["relative"] = True
    return d


def user_namespace(spec: Spec, cfg: Any) -> None:
    """lxc.idmap: a new user namespace with these maps (LXC adds CLONE_NEWUSER whenever a
    map is set). Not root: the maps are required and must be the caller's to give."""
    where = [it for it in cfg.items() if it.key in ("lxc.idmap", "lxc.id_map")]
    items = [" ".join(str(p) for p in m) if isinstance(m, (tuple, list)) else str(m)
             for m in cfg.get_list("lxc.idmap")]
    euid = os.geteuid()
    if not items:
        if "user" in spec.clone and "user" not in spec.share:
            raise LxczError("lxc.namespace.clone has user but no lxc.idmap is set")
        if euid != 0:
            raise LxczError("an unprivileged container needs lxc.idmap entries (for "
                            "example in ~/.config/lxc/default.conf): no map for root")
        return
    from lxcz.security import idmap

    try:
        maps = idmap.parse(items)
    except LxczError as err:
        # name the entry that broke the list: the first prefix that fails to parse
        bad = next((i for i in range(len(items)) if _fails(idmap.parse, items[:i + 1])),
                   len(items) - 1)
        it = where[bad] if bad < len(where) else None
        if it is not None and it.path:
            raise LxczError(f"{it.path}:{it.line}: {err}") from None
        raise
    idmap.root_ids(maps)  # container root must be mapped
    if euid != 0:
        idmap.check_allowed(maps)
    spec.idmap = maps
    if "user" not in spec.clone:
        spec.clone = [n for n in NS_ORDER if n in spec.clone or n == "user"]


def _fails(fn: Any, arg: Any) -> bool:
    try:
        fn(arg)
    except LxczError:
        return True
    return False


def resolve_share(ns: str, target: str, lxcpath: str) -> str:
    """/proc/PID/ns/NS path to join for lxc.namespace.share.NS (a pid or a container)."""
    if ns not in calls.NAMESPACES:
        raise LxczError(f"cannot share unknown namespace '{ns}'")
    if target.isdigit():
        pid = int(target)
    else:
        from lxcz.runtime import client

        class _C:
            pass

        other = _C()
        other.name = target
        other.config_path = lxcpath
        pid = client.get_init_pid(other)
        if pid <= 0:
            raise LxczError(f"cannot share the {ns} namespace of '{target}': not running")
    nsname = "mnt" if ns == "mnt" else ns
    path = f"/proc/{pid}/ns/{nsname}"
    if not os.path.exists(path):
        raise LxczError(f"cannot share the {ns} namespace of pid {pid}: no such process")
    return path


# -- the command socket ----------------------------------------------------------------
def bind_command_socket(lxcpath: str, name: str) -> _socket.socket:
    """Bind NAME's abstract command socket; AlreadyRunning if another monitor holds it."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.bind(paths.abstract(paths.command_socket(lxcpath, name)))
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise AlreadyRunning("Container is already running", exit_code=0) from None
        raise LxczError(f"cannot create the command socket: {err.strerror}") from None
    sock.listen(16)
    return sock


# -- entry point -------------------------------------------------------------------------
def start(c: Any, cmd: Optional[List[str]], useinit: bool, daemonize: bool,
          prog: str = "lxc-start", **options: Any) -> int:
    """Start container c. Foreground: returns the container's exit code once it ends.
    Daemonized: returns 0 once the container is RUNNING. Raises LxczError on failure."""
    from lxcz.runtime.lock import container_lock

    options["daemonize"] = daemonize
    with container_lock(c.config_path, c.name):
        if os.path.exists(os.path.join(c.config_path, c.name, "partial")):
            # lxc-create is still at work (or died half-way): LXC 5 refuses as well
            raise LxczError("Ongoing container creation detected")
        ours = paths.command_socket(c.config_path, c.name)
        theirs = paths.lxc_command_socket(c.config_path, c.name)
        bound = paths.abstract_names("")
        if theirs in bound and ours not in bound:  # (lxcz's monitor serves both)
            raise AlreadyRunning(f"Container is already running under LXC (its monitor "
                                 f"holds @{theirs}); stop it with LXC's lxc-stop first",
                                 exit_code=0)
        spec = make_spec(c, list(cmd) if cmd else None, useinit, prog, options)
        sock = bind_command_socket(spec.lxcpath, spec.name)
    _container_log(spec)
    if not daemonize:
        if options.get("close_fds"):
            calls.close_fds_except((0, 1, 2, sock.fileno()) + _monitor_fds())
        mon = Monitor(spec, sock, report_fd=-1)
        return mon.run()
    try:
        mon_cg, orig = monitor_cgroup(spec)
    except LxczError:
        sock.close()
        raise
    mon_paths = list(mon_cg.paths.values()) if mon_cg is not None else []
    rfd, wfd = os.pipe2(os.O_CLOEXEC)
    from lxcz.cgroups import enter

    try:
        pid, in_v2 = enter.fork_into(mon_paths)  # a plain fork without paths
    except OSError as err:
        for fd in (rfd, wfd):
            os.close(fd)
        sock.close()
        _drop_cgroup(mon_cg)
        raise LxczError(f"cannot fork the monitor: {err.strerror}") from None
    if pid == 0:
        code = 1
        running = False  # once the monitor runs, it removes its cgroup itself
        try:
            os.close(rfd)
            enter.join_self(mon_paths, in_v2)
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            os.chdir("/")
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            if null > 2:
                os.close(null)
            _drop_stderr_logging()
            # --daemon implies --close-all-fds: keep only what the monitor uses
            calls.close_fds_except((0, 1, 2, sock.fileno(), wfd) + _monitor_fds())
            mon = Monitor(spec, sock, report_fd=wfd)
            if mon_cg is not None:
                mon.mon_cgroup, mon.orig_cgroups, mon.mon_attached = mon_cg, orig, True
            running = True
            code = mon.run()
        except BaseException as err:  # noqa: BLE001 - a daemon must never unwind into the tool
            if not running:
                try:
                    os.write(wfd, marshal.dumps({"error": _message(err)}))
                except OSError:
                    pass
                _abandon_cgroup(mon_cg, orig)
            code = 1
        finally:
            os._exit(code)
    os.close(wfd)
    sock.close()
    os.waitpid(pid, 0)
    data = calls.read_to_eof(rfd)
    if not data:
        raise LxczError("the monitor exited before the container started")
    msg = marshal.loads(data)
    if msg.get("error"):
        raise LxczError(msg["error"])
    return 0


def _drop_cgroup(cg: Any) -> None:
    if cg is not None:
        try:
            cg.destroy()
        except LxczError:
            pass


def _abandon_cgroup(cg: Any, orig: Dict[str, str]) -> None:
    """A daemon failing before its monitor runs: back to orig, then remove cg."""
    if cg is None:
        return
    _rejoin(orig)
    _drop_cgroup(cg)


def _rejoin(cgroups: Dict[str, str]) -> None:
    """Back into the cgroups this process came from (each one that still exists)."""
    from lxcz.cgroups import enter

    for path in cgroups.values():
        try:
            enter.join_self([path])
        except LxczError:
            pass


def _container_log(spec: Spec) -> None:
    """lxc.log.file / lxc.log.level: the container's own log, in LXC's layout; and
    lxc.log.syslog: the same lines to syslog with that facility."""
    cfg = spec.cfg
    facility = cfg.get("lxc.log.syslog") if cfg is not None else None
    if facility:
        _syslog_log(spec, str(facility), str(cfg.get("lxc.log.level") or "ERROR"))
    path = cfg.get("lxc.log.file") if cfg is not None else None
    if not path:
        return
    level_name = str(cfg.get("lxc.log.level") or "ERROR")
    if log.real is None:
        try:
            lxlog.setup(spec.prog, spec.name, str(path), level_name, log.quiet)
        except (OSError, ValueError) as err:
            raise LxczError(f"lxc.log.file: cannot open '{path}': {err}") from None
        return
    import logging

    level = lxlog.parse_priority(level_name)
    try:
        handler = logging.FileHandler(str(path))
    except OSError as err:
        raise LxczError(f"lxc.log.file: cannot open '{path}': {err.strerror}") from None
    handler.setFormatter(lxlog._file_formatter(logging, spec.prog, spec.name))
    handler.setLevel(level)
    log.real.addHandler(handler)
    log.real.setLevel(min(log.real.level or level, level))


def _syslog_log(spec: Spec, facility: str, level_name: str) -> None:
    import logging
    import syslog

    lxlog._register_levels(logging)
    if log.real is None:
        real = logging.getLogger("lxcz")
        real.propagate = False
        if not log.quiet:
            ch = logging.StreamHandler(sys.stderr)
            ch.setFormatter(lxlog._console_formatter(logging, log.prefix))
            ch.setLevel(lxlog.WARNING)
            real.addHandler(ch)
        log.real = real
    level = lxlog.parse_priority(level_name)
    fac = getattr(syslog, "LOG_" + facility.upper())
    # logging's own SysLogHandler needs socket; the C syslog module is lighter
    syslog.openlog(spec.prog, syslog.LOG_PID, fac)
    prio = {lxlog.TRACE: syslog.LOG_DEBUG, logging.DEBUG: syslog.LOG_DEBUG,
            logging.INFO: syslog.LOG_INFO, lxlog.NOTICE: syslog.LOG_NOTICE,
            logging.WARNING: syslog.LOG_WARNING, logging.ERROR: syslog.LOG_ERR,
            logging.CRITICAL: syslog.LOG_CRIT}

    class SyslogHandler(logging.Handler):
        def emit(self, record: Any) -> None:
            try:
                syslog.syslog(prio.get(record.levelno, syslog.LOG_INFO),
                              f"{spec.name}: {record.getMessage()}")
            except Exception:  # noqa: BLE001 - logging must not fail the start
                pass

    h = SyslogHandler()
    h.setLevel(level)
    log.real.addHandler(h)
    log.real.setLevel(min(log.real.level or level, level))


def _monitor_fds() -> Tuple[int, ...]:
    """What a monitor closing the host's descriptors keeps besides its own: the log's
    files and those it imports its code from (lxcz.runtime.init.import_fds)."""
    from lxcz.runtime.init import import_fds

    fds = list(import_fds())
    for h in log.handlers:
        stream = getattr(h, "stream", None)
        try:
            fds.append(stream.fileno())  # type: ignore[union-attr]
        except (AttributeError, OSError, ValueError):
            pass
    return tuple(fds)


def _drop_stderr_logging() -> None:
    log.drop_console()


# -- the monitor --------------------------------------------------------------------------
def _cgroup_manager(s: Spec) -> Any:
    """The cgroup manager for the container (lxc.cgroup.relative), or None (logged)."""
    try:
        from lxcz.cgroups import get_manager

        return get_manager(relative=True) if s.cgroup_dirs.get("relative") else get_manager()
    except (ImportError, LxczError) as err:
        log.warning("no cgroups for the container: %s", err)
        return None


def _clean_leftovers(mgr: Any, s: Spec) -> Dict[str, str]:
    """Remove the empty cgroups a monitor killed with SIGKILL left under our names; return
    the cgroups this process is in (where a monitor goes back to before it ends)."""
    for kind in ("payload", "monitor"):
        old = mgr.find(s.name, kind=kind, pattern=s.cgroup_pattern)
        if old is not None and not old.all_pids():
            try:
                old.destroy()
            except LxczError:
                pass
    try:
        return mgr.cgroup_of(os.getpid())
    except OSError:
        return {}


def monitor_cgroup(s: Spec) -> Tuple[Any, Dict[str, str]]:
    """For root's daemon: lxc.monitor.NAME made before the monitor process, so the process
    is created in it (lxcz.cgroups.enter) rather than moved there later. (None, {}) when
    that does not apply; LxczError when the cgroup cannot be made."""
    if os.geteuid() != 0:
        return None, {}
    mgr = _cgroup_manager(s)
    if mgr is None:
        return None, {}
    orig = _clean_leftovers(mgr, s)
    return _new_monitor_cgroup(mgr, s), orig


def _new_monitor_cgroup(mgr: Any, s: Spec) -> Any:
    """lxc.monitor.NAME (lxc.cgroup.dir.monitor, or the pattern)."""
    return mgr.create(s.name, kind="monitor", pattern=s.cgroup_pattern,
                      path=s.cgroup_dirs.get("monitor"))


class Monitor:
    """Owns one container's lifetime; see the module docstring."""

    def __init__(self, spec: Spec, sock: _socket.socket, report_fd: int) -> None:
        self.spec = spec
        self.sock = sock
        self.report_fd = report_fd
        self.state = "STOPPED"
        self.init_pid = -1
        self.status: Optional[int] = None
        self.cgroup: Any = None
        self.cgroup_inner: Any = None  # lxc.cgroup.dir.container.inner
        self.mon_cgroup: Any = None
        self.orig_cgroups: Dict[str, str] = {}
        self.listeners: List[Any] = []     # channels with state_listen
        self.waiters: List[Any] = []       # channels closed when the monitor ends
        self.clients: Dict[int, Any] = {}
        self.console: Any = None
        self.ttys: List[Any] = []
        self.tty_busy: Dict[int, Any] = {}  # tty number -> the client channel using it
        self.reboot_requested = False
        self.stopping = False
        self.sig_r = self.sig_w = -1
        self.pending: List[int] = []
        self.console_buf = bytearray()
        self.console_log_fd = -1
        self.proxies: Dict[int, Tuple[int, int]] = {}
        self.fg_in = -1
        self.fg_saved_tty: Any = None
        self.sel: Any = None
        self.sync: Any = None
        self.net_state: Any = None
        self.join_paths: List[str] = []  # cgroups the child joins itself
        self.in_v2 = False  # it was created in the cgroup2 one (clone3)
        self.mon_attached = False  # this process is in mon_cgroup
        self.quiet_since = 0.0  # last activity on the loop (lean.IDLE counts from it)
        self.lean_tried = False
        self.trimmed = False  # lxcz.sys.trim done since the loop was last busy
        self.lean_cfg: Optional[Tuple[str, str]] = None  # (text, path) to parse on demand
        self.lean_net: Optional[Dict[str, Any]] = None  # NetState.to_json() + netns_fd
        self.lean_ephemeral = False
        self.lxc: Any = None  # LXC's command socket, served (lxcz.runtime.lxcserve)
        self.lxc_sock: Optional[_socket.socket] = None

    # -- state -------------------------------------------------------------------------
    def set_state(self, state: str) -> None:
        self.state = state
        log.info("'%s' changed state to [%s]", self.spec.name, state)
        for ch in list(self.listeners):
            try:
                ch.send({"state": state})
            except OSError:
                self._drop(ch)
        if self.lxc is not None:
            self.lxc.notify(state)
        try:
            events.broadcast(self.spec.lxcpath, self.spec.name, state)
        except OSError:
            pass

    def current_state(self) -> str:
        if self.state == "RUNNING" and self.cgroup is not None:
            try:
                fz = self.cgroup.state()
                if fz in ("FROZEN", "FREEZING"):
                    return fz
            except LxczError:
                pass
        return self.state

    def report(self, error: Optional[str]) -> None:
        if self.report_fd >= 0:
            try:
                os.write(self.report_fd, marshal.dumps({"error": error}))
            except OSError:
                pass
            os.close(self.report_fd)
            self.report_fd = -1

    # -- main --------------------------------------------------------------------------
    def run(self, resumed: bool = False) -> int:
        """Start, serve, end (and again on reboot). resumed: the container already runs
        (a re-executed lean monitor, lxcz.runtime.lean)."""
        from lxcz.sys import trim

        trim.long_lived()
        self._setup_signals()
        if not resumed:
            try:
                calls.set_child_subreaper()
            except OSError:
                pass
        code = 1
        try:
            while True:
                if resumed:
                    resumed = False
                    self._reap_now()  # init may have ended during the exec
                elif not self._start_once():
                    return 1
                self.loop()
                code = self.exit_code()
                rebooting = self.rebooting()
                if self.status is not None:  # before STOPPING, as LXC 5 sends it
                    events.broadcast_exit(self.spec.lxcpath, self.spec.name, self.status)
                self.set_state("STOPPING")
                self.teardown(aborted=False, reboot=rebooting)
                if not rebooting:
                    break
                self.reboot_requested = False
                self.stopping = False
                self.status = None
            self._stop_listening()
            self.set_state("STOPPED")
            return code
        finally:
            self._restore_tty()
            self._close_all()
            # after the socket is closed: waiters are released before the (slow) cgroup
            # migration; a new start meanwhile simply gets lxc.monitor.NAME-1
            self._leave_monitor_cgroup()
            self._destroy_if_ephemeral()

    def _start_once(self) -> bool:
        """startup(), then report RUNNING. A failure aborts with everything cleaned up
        and reported: False for a daemon, LxczError for the foreground caller."""
        try:
            self.startup()
        except Exception as err:  # noqa: BLE001 - every failure aborts cleanly
            if not isinstance(err, LxczError):
                log.debug("start failed", exc_info=True)
            message = _message(err)
            self.set_state("ABORTING")
            self.teardown(aborted=True)
            self.report(message)
            self._stop_listening()
            self.set_state("STOPPED")
            if self.spec.daemonize:
                return False
            if isinstance(err, LxczError):
                raise
            raise LxczError(message) from None
        self.report(None)
        self.attach_monitor()
        return True

    def _destroy_if_ephemeral(self) -> None:
        """lxc.ephemeral = 1: the container goes away when it stops, as in LXC 5."""
        cfg = self.spec.cfg
        if not (_int(cfg.get("lxc.ephemeral"), 0) if cfg is not None else self.lean_ephemeral):
            return
        from lxcz.container import Container

        try:
            Container(self.spec.name, self.spec.lxcpath).destroy()
        except LxczError as err:
            log.error("ephemeral container not destroyed: %s", err)

    def exit_code(self) -> int:
        if self.status is None:
            return 1
        if os.WIFSIGNALED(self.status):
            return 128 + os.WTERMSIG(self.status)
        return os.WEXITSTATUS(self.status)

    def rebooting(self) -> bool:
        if self.stopping or self.spec.useinit:
            return False
        if self.reboot_requested:
            return True
        st = self.status
        return st is not None and os.WIFSIGNALED(st) and os.WTERMSIG(st) == _signal.SIGHUP

    def _setup_signals(self) -> None:
        self.sig_r, self.sig_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        _signal.set_wakeup_fd(self.sig_w)

        def handler(sig: int, _frame: object) -> None:
            self.pending.append(sig)

        for sig in FORWARDED + (_signal.SIGCHLD,):
            _signal.signal(sig, handler)

    def hook_env(self) -> Dict[str, str]:
        s = self.spec
        env = hooks.base_env(s.name, s.config_file, s.rootfs, s.rootfs_mount,
                             s.console if s.console not in ("", "none") else "",
                             s.console_log, s.log_level)
        if self.init_pid > 0:
            env["LXC_PID"] = str(self.init_pid)
        return env

    def run_hooks(self, kind: str, extra_env: Optional[Dict[str, str]] = None) -> None:
        hs = self.spec.hooks.get(kind) or []
        if hs:
            env = self.hook_env()
            env.update(extra_env or {})
            hooks.run(hs, kind, self.spec.name, env, self.spec.hook_version)

    # -- start -------------------------------------------------------------------------
    def startup(self) -> None:
        s = self.spec
        self.set_state("STARTING")
        if s.monitor_unshare:
            # lxc.monitor.unshare: the monitor (and so the hooks and the container) gets a
            # mount namespace of its own before anything runs, its mounts slaves of the host
            try:
                calls.unshare(calls.CLONE_NEWNS)
                calls.mount(None, "/", None, calls.MS_SLAVE | calls.MS_REC, None)
            except OSError as err:
                raise LxczError("lxc.monitor.unshare: cannot unshare the mount namespace: "
                                f"{os.strerror(err.errno or 0)}") from None
        self.setup_cgroups()
        self.run_hooks("pre-start")
        self.setup_terminals()
        self.spawn()
        if s.pidfile:
            try:
                with open(s.pidfile, "w") as f:
                    f.write(str(os.getpid()))  # the monitor's, no newline: as LXC 5
            except OSError as err:
                raise LxczError(f"cannot write pid file '{s.pidfile}': {err.strerror}"
                                ) from None
        self.set_state("RUNNING")
        try:
            self.run_hooks("start-host")
        except LxczError:
            self.kill_container()
            raise

    def setup_cgroups(self) -> None:
        s = self.spec
        mgr = _cgroup_manager(s)
        if mgr is None:
            return
        if self.mon_cgroup is not None:  # a reboot, or made before the monitor was forked
            self._make_payload(mgr)
            self._chown_payload()
            return
        self.orig_cgroups = _clean_leftovers(mgr, s)
        try:
            if s.daemonize:
                # attached once RUNNING is reported (the daemon of an ordinary user)
                self.mon_cgroup = _new_monitor_cgroup(mgr, s)
            self._make_payload(mgr)
        except LxczError as err:
            if os.geteuid() == 0 or s.cgroup_v1 or s.cgroup_v2:
                raise
            # an unprivileged user without a delegated cgroup: the container runs in
            # ours, without limits (lxc.cgroup.* keys make this an error instead)
            log.info("%s; the container stays in the caller's cgroup", err)
            if self.mon_cgroup is not None:
                self.mon_cgroup.destroy()
                self.mon_cgroup = None
            return
        self._chown_payload()

    def _chown_payload(self) -> None:
        s = self.spec
        if s.idmap and os.geteuid() == 0:
            from lxcz.security import idmap

            for cg in (self.cgroup, self.cgroup_inner):
                if cg is not None:
                    cg.chown(*idmap.root_ids(s.idmap))

    def _make_payload(self, mgr: Any) -> None:
        """The container's cgroup (lxc.cgroup.dir.container, or the pattern) with its
        limits, and lxc.cgroup.dir.container.inner below it for the processes."""
        s = self.spec
        self.cgroup = mgr.create(s.name, kind="payload", pattern=s.cgroup_pattern,
                                 path=s.cgroup_dirs.get("container"))
        try:
            self.cgroup.apply(s.cgroup_v1, s.cgroup_v2)
            inner = s.cgroup_dirs.get("inner")
            self.cgroup_inner = self.cgroup.child(inner) if inner else None
        except BaseException:
            try:
                self.cgroup.destroy()
            except LxczError:
                pass
            self.cgroup = None
            raise

    def attach_cgroup(self) -> Any:
        """Where the container's processes (init, lxc-attach) go."""
        return self.cgroup_inner if self.cgroup_inner is not None else self.cgroup

    def chown_terminals(self) -> None:
        """The console and tty slaves belong to the container's root (a user namespace),
        or its init could not reopen them."""
        from lxcz.security import idmap

        terms = ([self.console] if self.console is not None else []) + list(self.ttys)
        if not terms:
            return
        uid, gid = idmap.root_ids(self.spec.idmap)
        if os.geteuid() != 0:
            # like LXC: chown inside a namespace mapping only the container's root and
            # us, after giving the slaves our own group (their tty group is unmapped)
            from lxcz.security import userns_exec

            me, mygid = os.geteuid(), os.getegid()
            for t in terms:
                os.fchown(t.slave, -1, mygid)
            maps = [idmap.IdMap("u", 0, uid, 1), idmap.IdMap("u", 1, me, 1),
                    idmap.IdMap("g", 0, gid, 1), idmap.IdMap("g", 1, mygid, 1)]
            userns_exec.run_in_userns(maps, _chown_all, [t.slave_path for t in terms])
            return
        for t in terms:
            try:
                os.fchown(t.slave, uid, gid)
            except OSError as err:
                log.warning("cannot hand %s to the container: %s", t.slave_path, err.strerror)

    def attach_monitor(self) -> None:
        if self.mon_cgroup is not None and not self.mon_attached:
            from lxcz.cgroups import enter

            try:
                enter.join_self(list(self.mon_cgroup.paths.values()))
                self.mon_attached = True
            except LxczError as err:
                log.warning("%s", err)

    def setup_terminals(self) -> None:
        from lxcz.runtime import dev

        s = self.spec
        if s.useinit:
            return
        if s.console == "":
            self.console = dev.Pty()
            if s.console_log:
                try:
                    self.console_log_fd = os.open(
                        s.console_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                        0o600)
                except OSError as err:
                    raise LxczError(f"cannot open console log '{s.console_log}': "
                                    f"{err.strerror}") from None
        self.ttys = dev.allocate(s.tty_max)

    def spawn(self) -> None:
        s = self.spec
        # the child pivots into the container: everything it runs is imported now
        import fcntl  # noqa: F401
        import termios  # noqa: F401

        from lxcz.runtime import dev, init, rootfs  # noqa: F401
        from lxcz.sys import tinyc  # noqa: F401 - what calls binds setns, prctl... with

        if s.useinit:
            from lxcz.sys import trim

            # the init and this monitor share their pages until either writes one: what
            # both will use after the fork is bound and imported before it
            trim.prepare()
            calls.bind_for_init()
            from lxcz.cgroups import freezer  # noqa: F401 - the state of a request
            from lxcz.runtime import lean, poller  # noqa: F401 - the loop

        if s.cap_keep is not None:
            from lxcz.security import caps
            from lxcz.sys import capabilities

            caps.last_cap()  # cached now: the container may have no /proc/sys
            capabilities.prepare()
        if s.seccomp_prog or s.no_new_privs:
            from lxcz.sys import seccomp

            seccomp.prepare()  # binds its calls before the pivot
        if s.aa_label:
            from lxcz.security import apparmor  # noqa: F401
        if s.se_label or s.se_keyring:
            from lxcz.security import selinux  # noqa: F401
        if s.keyring or s.personality or s.sysctls:
            from lxcz.security import limits  # noqa: F401
            from lxcz.sys import keyring

            keyring.prepare()  # binds keyctl and reads its number now, not after the pivot
            if s.personality:
                limits.personality_value(s.personality)

        if any(s.hooks.get(h) for h in ("pre-mount", "mount", "autodev", "start")):
            import shlex  # noqa: F401
            import subprocess  # noqa: F401
        parent, child = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        for x in (parent, child):
            os.set_inheritable(x.fileno(), False)
        userns = bool(s.idmap) and "user" not in s.share
        if userns:
            from lxcz.security import idmap

            calls.set_child_subreaper()  # adopts init once its first parent exits
            self.chown_terminals()
        # with a user namespace the child makes the PID namespace itself (it must belong
        # to the new user namespace) and forks init into it
        newpid = "pid" in s.clone and "pid" not in s.share and not userns
        # a time namespace, too, is entered by the children of whoever unshares it
        newtime = "time" in s.clone and "time" not in s.share and not userns
        oldns = oldtime = -1
        # as root the child joins the cgroups itself, without the kernel's migration wait
        # (lxcz.cgroups.enter); otherwise we write its pid after the fork
        self.join_paths = list(self.attach_cgroup().paths.values()) \
            if self.cgroup is not None and os.geteuid() == 0 else []
        if newpid:
            oldns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
            calls.unshare(calls.CLONE_NEWPID)
        try:
            if newtime:
                oldtime = os.open("/proc/self/ns/time", os.O_RDONLY | os.O_CLOEXEC)
                calls.unshare(calls.CLONE_NEWTIME)
                calls.set_timens_offsets(s.time_offsets)
            import gc

            from lxcz.cgroups import enter

            # what exists now is shared with the child (and init) until written: a garbage
            # collection in either would write to every object and copy all of it
            gc.freeze()
            pid, self.in_v2 = enter.fork_into(self.join_paths)  # plain fork without paths
        except OSError as err:
            self._restore_ns(oldns, oldtime)
            raise LxczError(f"cannot create the container's init: {err.strerror}") from None
        if pid == 0:
            parent.close()
            code = 1
            try:
                code = Child(s, child, self).run()
            except BaseException as err:  # noqa: BLE001 - report, never unwind
                _send(child, {"error": _message(err)})
            finally:
                os._exit(code)
        self._restore_ns(oldns, oldtime)
        child.close()
        self.init_pid = pid
        self.sync = parent
        try:
            if self.cgroup is not None and not self.join_paths:
                self.attach_cgroup().attach(pid)
            if not userns:
                self.apply_limits(pid)
            _send(parent, {"go": True})
            if userns:
                msg = _recv(parent)
                if msg is None or "error" in msg:
                    raise LxczError(msg["error"] if msg else
                                    "the container's init exited before its user "
                                    "namespace was set up")
                idmap.write_maps(pid, s.idmap)
                _send(parent, {"go": True})
                msg = _recv(parent)  # the pid of init, forked into the new PID namespace
                if msg is None or "error" in msg:
                    raise LxczError(msg["error"] if msg else
                                    "the container's init exited during the start")
                os.waitpid(pid, 0)
                pid = int(msg["pid"])
                self.init_pid = pid
                self.apply_limits(pid)
                _send(parent, {"go": True})
            while True:
                msg = _recv(parent)
                if msg is None:
                    # exec closed the channel (lxc-start) or the child died
                    self._reap_now()
                    if self.status is not None:
                        raise LxczError(f"the container's init exited at once "
                                        f"(status {self.exit_code()})")
                    break
                if "error" in msg:
                    raise LxczError(msg["error"])
                if msg.get("unshared"):
                    _send(parent, {"go": True, "made": self.setup_network(pid)})
                    continue
                if msg.get("ready"):
                    if s.useinit:
                        break
                    continue
                if "hook" in msg:
                    try:
                        self.run_hooks(msg["hook"], msg.get("env"))
                        _send(parent, {"ok": True})
                    except LxczError as err:
                        _send(parent, {"error": str(err)})
                        raise
        except BaseException:
            self.kill_container()
            raise
        finally:
            parent.close()
        for t in self.ttys:
            t.close_slave()
        # the console's slave stays open here as long as the container runs (as LXC's
        # monitor keeps it): else, whenever nothing in the container has /dev/console
        # open (an init reopening it, no shell on it), reading the master fails with EIO
        # and the console would be dropped from the loop for good

    @staticmethod
    def _restore_ns(oldpid: int, oldtime: int) -> None:
        """Our next children in our own PID and time namespaces again."""
        for fd, kind in ((oldpid, calls.CLONE_NEWPID), (oldtime, calls.CLONE_NEWTIME)):
            if fd >= 0:
                calls.setns(fd, kind)
                os.close(fd)

    def apply_limits(self, pid: int) -> None:
        s = self.spec
        if s.prlimits or s.procs:
            from lxcz.security import limits

            limits.apply_prlimits(pid, s.prlimits)
            limits.apply_proc(pid, s.procs)

    def setup_network(self, pid: int) -> Optional[List[Dict[str, Any]]]:
        """Host side of lxc.net.*: make the interfaces, move them into init's netns,
        configure them, run script.up. Not root: see setup_user_network."""
        if os.geteuid() != 0:
            return self.setup_user_network(pid)
        from lxcz.net import netdev

        s = self.spec
        saved = netdev.state_path(s.lxcpath, s.name)
        from lxcz.runtime.api import cleanup_stale_network

        cleanup_stale_network(s.lxcpath, s.name)  # left by a monitor that was killed
        self.net_state = netdev.prepare(s.name, s.networks, pid)
        if any(m.kind == "phys" for m in self.net_state.made):
            # keep the namespace alive past the init, to give phys NICs back by name
            self.net_state.netns_fd = os.open(f"/proc/{pid}/ns/net",
                                              os.O_RDONLY | os.O_CLOEXEC)
        netdev.configure(self.net_state)
        if self.net_state.made:
            netdev.save_state(self.net_state, saved)
        made = {m.index: m for m in self.net_state.made}
        for net in s.networks:
            if net.get("script.up"):
                netdev.run_script(net["script.up"], s.name, s.config_file, net,
                                  made.get(net.get("index", 0)), "up")

    def setup_user_network(self, pid: int) -> List[Dict[str, Any]]:
        """An unprivileged container: each veth comes from the usernet service (lxcz's
        lxc-user-nic) as /etc/lxc/lxc-usernet allows; the child configures them inside
        its namespace, where it is root. The host ends go away with the namespace."""
        made: List[Dict[str, Any]] = []
        nets = [n for n in self.spec.networks if n.get("type") == "veth"]
        if not nets:
            return made
        from lxcz.net import usernic

        fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            for net in nets:
                try:
                    host, name = usernic.request_veth(
                        fd, str(net.get("link") or ""), str(net.get("name") or ""),
                        container=self.spec.name, lxcpath=self.spec.lxcpath)
                except LxczError as err:
                    raise LxczError(f"lxc.net.{net.get('index', 0)}: {err}") from None
                made.append({"index": net.get("index", 0), "kind": "veth",
                             "host_name": host, "peer_tmp": name, "final_name": name,
                             "moved": True})
        finally:
            os.close(fd)
        return made

    def teardown_network(self) -> None:
        if self._net() is None:
            return
        from lxcz.net import netdev

        s = self.spec
        made = {m.index: m for m in self.net_state.made}
        for net in s.networks:
            if net.get("script.down"):
                try:
                    netdev.run_script(net["script.down"], s.name, s.config_file, net,
                                      made.get(net.get("index", 0)), "down")
                except LxczError as err:
                    log.error("%s", err)
        netdev.teardown(self.net_state)
        netdev.forget_state(netdev.state_path(s.lxcpath, s.name))
        self.net_state = None

    def _reap_now(self) -> None:
        if self.status is not None or self.init_pid <= 0:
            return
        try:
            pid, st = os.waitpid(self.init_pid, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == self.init_pid:
            self.status = st

    def kill_container(self) -> None:
        """SIGKILL everything in the container and reap init."""
        if self.init_pid > 0 and self.status is None:
            try:
                os.kill(self.init_pid, _signal.SIGKILL)
            except ProcessLookupError:
                pass
            if self.cgroup is not None:
                try:
                    self.cgroup.kill_all(_signal.SIGKILL)
                except LxczError as err:
                    log.warning("%s", err)
            try:
                _, self.status = os.waitpid(self.init_pid, 0)
            except ChildProcessError:
                self.status = self.status or 0

    def teardown(self, aborted: bool, reboot: bool = False) -> None:
        """After init is gone (or the start failed): stop hooks, cgroups, terminals."""
        self.kill_container()
        self.teardown_network()
        target = "reboot" if reboot else "stop"
        if not aborted:
            try:
                self.run_hooks("stop", {"LXC_TARGET": target})
            except LxczError as err:
                log.error("%s", err)
        if self.cgroup is not None:
            try:
                self.cgroup.kill_all(_signal.SIGKILL)
                self.cgroup.destroy()
            except LxczError as err:
                log.error("%s", err)
            self.cgroup = None
            self.cgroup_inner = None
        for t in self.ttys:
            t.close_slave()
            try:
                os.close(t.master)
            except OSError:
                pass
        self.ttys = []
        if self.console is not None:
            self.console.close_slave()
            try:
                os.close(self.console.master)
            except OSError:
                pass
            self.console = None
        for a, b in self.proxies.values():
            for fd in (a, b):
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.proxies = {}
        self.init_pid = -1
        try:
            self.run_hooks("post-stop", {"LXC_TARGET": target})
        except LxczError as err:
            log.error("%s", err)
        if self.spec.pidfile and not reboot:
            try:
                os.unlink(self.spec.pidfile)
            except OSError:
                pass

    def _leave_monitor_cgroup(self) -> None:
        if self.mon_cgroup is None:
            return
        pivot = self.spec.cgroup_dirs.get("monitor.pivot")
        if pivot:
            try:
                self.mon_cgroup.manager.pivot(os.getpid(), pivot)
            except LxczError as err:
                log.error("%s", err)
        if not pivot:
            _rejoin(self.orig_cgroups)
        try:
            self.mon_cgroup.destroy()
        except LxczError:
            try:
                self.mon_cgroup.leave()
                self.mon_cgroup.destroy()
            except LxczError as err:
                log.error("%s", err)
        self.mon_cgroup = None

    # -- running -------------------------------------------------------------------------
    def _lean_due(self) -> bool:
        """Whether to re-execute lean, once the loop has been quiet for lean.IDLE."""
        return self.spec.daemonize and not self.lean_tried

    def _go_lean(self) -> None:
        from lxcz.runtime import lean

        if lean.handover(self) is None:  # not now: try again after another quiet spell
            self.quiet_since = time.monotonic()
        else:  # returns only when the exec failed
            self.lean_tried = True

    def loop(self) -> None:
        """Serve until init ends. A daemon monitor idle long enough re-executes itself
        lean on the way (lxcz.runtime.lean; it does not come back here then)."""
        from lxcz.runtime.poller import Poller

        self.quiet_since = time.monotonic()

        sel = Poller()
        self.sel = sel
        sel.register(self.sock, "accept")
        self._serve_lxc(sel)
        sel.register(self.sig_r, "signal")
        if self.console is not None:
            sel.register(self.console.master, "console")
            if self.spec.foreground_console:
                self._foreground_console(sel)
        for ch in self.clients.values():
            sel.register(ch.sock, ch)
        self._handle_signals()
        try:
            while self.status is None:
                try:
                    self._iterate(sel)
                except Exception:  # noqa: BLE001 - the monitor must outlive its bugs
                    log.error("monitor error", exc_info=True)
                    time.sleep(0.01)
        finally:
            if self.console is not None:
                # init is gone: let go of the slave, so that draining what is left ends
                # (EIO once nothing holds it) instead of waiting for more
                self.console.close_slave()
                self._console_output(final=True)
            sel.close()

    def _iterate(self, sel: Any) -> None:
        from lxcz.runtime import lean

        if self.clients:
            timeout = 1.0
        elif self.trimmed:
            timeout = 30.0  # a safety net only: signals and clients wake the loop
        else:
            timeout = max(0.0, min(1.0, self.quiet_since + lean.IDLE - time.monotonic()))
        events = sel.select(timeout)
        if events:
            self.quiet_since = time.monotonic()
            self.trimmed = False
        for key, _ev in events:
            what = key.data
            if what == "accept":
                self._accept(sel)
            elif what == "lxcaccept":
                self._lxc_accept()
            elif getattr(what, "lxc", False):
                self.lxc.readable(what)
            elif what == "signal":
                try:
                    while os.read(self.sig_r, 512):
                        pass
                except BlockingIOError:
                    pass
            elif what == "console":
                self._console_output()
            elif what == "stdin":
                self._stdin_input(sel)
            elif isinstance(what, tuple):
                self._proxy(what, sel)
            else:
                self._client(what, sel)
        self._handle_signals()
        if self.status is None:
            self._reap_now()
        if not events and not self.clients and self.status is None \
                and time.monotonic() - self.quiet_since >= lean.IDLE:
            if self._lean_due():
                self._go_lean()  # returns only when it did not re-execute
            if not self.trimmed:
                # quiet for a while: give back the pages start-up touched and the loop
                # does not need (lxcz.sys.trim)
                from lxcz.sys import trim

                trim.trim()
                self.trimmed = True

    def _serve_lxc(self, sel: Any) -> None:
        """Listen where upstream LXC's monitor would, for LXC's own tools (bound once, kept
        across reboots and a lean re-execution; lxcz.runtime.lxcserve answers them, loaded
        at the first request)."""
        if self.lxc_sock is None:
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
            try:
                sock.bind(paths.abstract(paths.lxc_command_socket(self.spec.lxcpath,
                                                                  self.spec.name)))
                sock.listen(16)
            except OSError as err:
                sock.close()
                log.warning("LXC's tools will not see %s: cannot bind its command socket: %s",
                            self.spec.name, err.strerror)
                return
            sock.setblocking(False)
            self.lxc_sock = sock
        sel.register(self.lxc_sock, "lxcaccept")

    def _lxc_accept(self) -> None:
        if self.lxc is None:
            from lxcz.runtime import lxcserve

            self.lxc = lxcserve.Server(self, self.lxc_sock)
        self.lxc.accept()

    def _handle_signals(self) -> None:
        while self.pending:
            sig = self.pending.pop(0)
            if sig == _signal.SIGCHLD:
                self._reap_now()
                continue
            if sig == _signal.SIGWINCH and self.spec.foreground_console:
                self._winsize()
                continue
            if self.init_pid > 0 and self.status is None:
                try:
                    os.kill(self.init_pid, sig)
                except ProcessLookupError:
                    pass

    def _accept(self, sel: Any) -> None:
        from lxcz.runtime.proto import Channel

        try:
            fd, _ = self.sock._accept()  # _socket's accept, close-on-exec
            conn = _socket.socket(fileno=fd)
        except OSError:
            return
        creds = conn.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
        uid = int.from_bytes(creds[4:8], sys.byteorder)
        if uid not in (0, os.geteuid()):
            conn.close()
            return
        conn.setblocking(True)
        conn.settimeout(5)
        ch = Channel(conn)
        self.clients[conn.fileno()] = ch
        sel.register(conn, ch)

    def _drop(self, ch: Any) -> None:
        try:
            self.sel.unregister(ch.sock)
        except (KeyError, ValueError, AttributeError):
            pass
        self.clients.pop(ch.fileno(), None)
        for n, owner in list(self.tty_busy.items()):
            if owner is ch:  # its console session ended: the tty is free again
                del self.tty_busy[n]
        for lst in (self.listeners, self.waiters):
            if ch in lst:
                lst.remove(ch)
        ch.close()

    def _client(self, ch: Any, sel: Any) -> None:
        try:
            if not ch.feed():
                self._drop(ch)
                return
            while True:
                msg = ch.pop()
                if msg is None:
                    break
                self._command(ch, msg)
        except (OSError, ValueError):
            self._drop(ch)

    def _command(self, ch: Any, msg: Dict[str, Any]) -> None:
        cmd = msg.get("cmd")
        s = self.spec
        try:
            if cmd == "get_state":
                ch.send({"state": self.current_state()})
            elif cmd == "get_init_pid":
                ch.send({"pid": self.init_pid})
            elif cmd == "get_info":
                ch.send({"state": self.current_state(), "pid": self.init_pid,
                         "name": s.name, "lxcpath": s.lxcpath,
                         "config_file": s.config_file,
                         "cgroup": dict(self.cgroup.paths) if self.cgroup else {},
                         "cgname": self.cgroup.cgname if self.cgroup else "",
                         "cgroup_attach": dict(self.attach_cgroup().paths)
                         if self.cgroup else {},
                         "ttys": s.tty_max, "attach_conf": s.attach_conf,
                         "shown": s.shown})
            elif cmd == "get_cgroup_paths":
                ch.send({"paths": dict(self.cgroup.paths) if self.cgroup else {}})
            elif cmd == "get_config_item":
                ch.send({"value": self._config_item(str(msg.get("key", "")))})
            elif cmd == "signal":
                self._signal_init(int(msg.get("sig", s.halt_signal)))
                ch.send({"ok": True})
            elif cmd == "shutdown":
                self._signal_init(s.halt_signal)
                ch.send({"ok": True})
            elif cmd == "stop":
                self.stopping = True
                ch.send({"ok": True})
                self.waiters.append(ch)
                self._stop_now()
            elif cmd == "reboot":
                self.reboot_requested = True
                self._signal_init(s.reboot_signal)
                ch.send({"ok": True})
            elif cmd == "state_listen":
                ch.send({"state": self.current_state()})
                self.listeners.append(ch)
            elif cmd == "notify_state":
                self.set_state_event(str(msg.get("state", "")))
                ch.send({"ok": True})
            elif cmd == "get_console":
                self._get_console(ch, int(msg.get("ttynum", -1)))
            else:
                ch.send({"error": f"unknown command '{cmd}'"})
        except LxczError as err:
            ch.send({"error": str(err)})

    def set_state_event(self, state: str) -> None:
        for ch in list(self.listeners):
            try:
                ch.send({"state": state})
            except OSError:
                self._drop(ch)
        if self.lxc is not None:
            self.lxc.notify(state)
        events.broadcast(self.spec.lxcpath, self.spec.name, state)

    def _cfg(self) -> Any:
        """The configuration (a lean monitor parses its saved text on demand)."""
        s = self.spec
        if s.cfg is None and self.lean_cfg is not None:
            from lxcz.config import parser
            from lxcz.config.model import ContainerConfig

            text, path = self.lean_cfg
            cfg = ContainerConfig()
            cfg.path = path
            parser.load_text(cfg, text, path)
            s.cfg = cfg
        return s.cfg

    def _net(self) -> Any:
        """The network state (a lean monitor rebuilds it on demand)."""
        if self.net_state is None and self.lean_net is not None:
            from lxcz.net import netdev

            st = netdev.NetState.from_json(self.lean_net)
            st.networks = self.spec.networks
            st.netns_fd = self.lean_net.get("netns_fd", -1)
            self.net_state = st
            self.lean_net = None
        return self.net_state

    def _config_item(self, key: str) -> str:
        """The value the container runs with (including -s definitions)."""
        cfg = self._cfg()
        if cfg is None:
            raise LxczError("no configuration loaded")
        value = cfg.get_item(key)
        parts = key.split(".")
        if not value and len(parts) == 5 and parts[:2] == ["lxc", "net"] and \
                parts[3:] == ["veth", "pair"] and self._net() is not None:
            # a generated host-side name: what LXC 5 reports for the running container
            for m in self.net_state.made:
                if str(m.index) == parts[2] and m.kind == "veth":
                    return m.host_name
        return "" if value is None else str(value)

    def _signal_init(self, sig: int) -> None:
        if self.init_pid <= 0 or self.status is not None:
            raise LxczError(f"{self.spec.name} has no init to signal")
        try:
            os.kill(self.init_pid, sig)
        except ProcessLookupError:
            pass

    def _stop_now(self) -> None:
        """SIGKILL init (the PID namespace goes with it); teardown empties the cgroup once
        init is reaped (a zombie init would keep it busy)."""
        if self.init_pid > 0 and self.status is None:
            if self.cgroup is not None:
                try:
                    if self.cgroup.state() != "THAWED":
                        self.cgroup.thaw()  # frozen tasks take a signal only once thawed
                except LxczError as err:
                    log.warning("%s", err)
            try:
                os.kill(self.init_pid, _signal.SIGKILL)
            except ProcessLookupError:
                pass

    # -- terminals -------------------------------------------------------------------------
    def _console_output(self, final: bool = False) -> None:
        if self.console is None:
            return
        while True:
            try:
                data = os.read(self.console.master, 65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                if not final:
                    try:
                        self.sel.unregister(self.console.master)
                    except (KeyError, ValueError):
                        pass
                return
            if self.console_log_fd >= 0:
                try:
                    self._console_log_write(data)
                except OSError:
                    pass
            if self.spec.foreground_console:
                try:
                    _write_all(1, data)
                except OSError:
                    pass
            for a, _b in self.proxies.values():
                try:
                    os.write(a, data)
                except OSError:
                    pass
            if self.spec.console_buffer:
                self.console_buf += data
                if len(self.console_buf) > self.spec.console_buffer:
                    del self.console_buf[:-self.spec.console_buffer]
            if final:
                continue
            return

    def _console_log_write(self, data: bytes) -> None:
        """lxc.console.logfile, limited to lxc.console.size: when full it is truncated, or
        with lxc.console.rotate renamed to FILE.1 and started again (LXC's rules)."""
        s = self.spec
        fd = self.console_log_fd
        size = s.console_size
        if not size:
            _write_all(fd, data)
            return
        space = size - os.fstat(fd).st_size
        if space <= 0 and not s.console_rotate:
            os.ftruncate(fd, 0)
            _write_all(fd, data[:size])
            return
        if len(data) <= space:
            _write_all(fd, data)
            return
        if space > 0:
            _write_all(fd, data[:space])
            data = data[space:]
        if s.console_rotate:
            os.close(fd)
            self.console_log_fd = -1
            os.replace(s.console_log, s.console_log + ".1")
            self.console_log_fd = fd = os.open(
                s.console_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        else:
            os.ftruncate(fd, 0)
        _write_all(fd, data[:size])

    def _console_buffer_to_log(self) -> None:
        """At the end, like LXC: with a ring buffer, the log file holds what it kept."""
        if self.console_log_fd < 0 or not self.console_buf:
            return
        try:
            os.ftruncate(self.console_log_fd, 0)
            keep = self.spec.console_size or len(self.console_buf)
            _write_all(self.console_log_fd, bytes(self.console_buf[-keep:]))
        except OSError as err:
            log.warning("cannot write the console buffer to %s: %s", self.spec.console_log,
                        err.strerror)

    def _foreground_console(self, sel: Any) -> None:
        os.set_blocking(self.console.master, False)
        if os.isatty(0):
            import termios
            import tty

            try:
                self.fg_saved_tty = termios.tcgetattr(0)
                tty.setraw(0)
            except termios.error:
                self.fg_saved_tty = None
            self._winsize()
        self.fg_in = 0
        try:
            sel.register(0, "stdin")
        except (ValueError, OSError, PermissionError):
            self.fg_in = -1

    def _winsize(self) -> None:
        if self.console is None or not os.isatty(0):
            return
        import fcntl
        import termios

        try:
            ws = fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8)
            fcntl.ioctl(self.console.master, termios.TIOCSWINSZ, ws)
        except OSError:
            pass

    def _stdin_input(self, sel: Any) -> None:
        try:
            data = os.read(0, 4096)
        except OSError:
            data = b""
        if not data:
            sel.unregister(0)
            self.fg_in = -1
            return
        try:
            _write_all(self.console.master, data)
        except OSError:
            pass

    def _restore_tty(self) -> None:
        if self.fg_saved_tty is not None:
            import termios

            try:
                termios.tcsetattr(0, termios.TCSAFLUSH, self.fg_saved_tty)
            except termios.error:
                pass
            self.fg_saved_tty = None

    def _get_console(self, ch: Any, ttynum: int) -> None:
        if ttynum == 0 or (ttynum == -1 and not self.ttys):
            if self.console is None:
                raise LxczError("the container has no console")
            if self._tty_in_use(0):  # one console client at a time, as LXC
                raise LxczError("tty 0 is busy")
            # a fresh pty for the client; the monitor copies between it and the console
            import pty

            master, slave = pty.openpty()
            import tty

            tty.setraw(slave)  # a plain pipe: no echo or line editing of its own
            os.set_blocking(slave, False)
            os.set_blocking(self.console.master, False)
            self.proxies[slave] = (slave, master)
            self.sel.register(slave, (slave, master))
            ch.send({"ttynum": 0}, [master])
            os.close(master)
            self.tty_busy[0] = ch
            return
        if ttynum == -1:
            for i in range(1, len(self.ttys) + 1):
                if not self._tty_in_use(i):
                    ttynum = i
                    break
            else:
                raise LxczError("no free tty")
        if ttynum < 0 or ttynum > len(self.ttys):
            raise LxczError(f"tty {ttynum} does not exist (lxc.tty.max = {len(self.ttys)})")
        if self._tty_in_use(ttynum):
            raise LxczError(f"tty {ttynum} is busy")
        self.tty_busy[ttynum] = ch
        ch.send({"ttynum": ttynum}, [self.ttys[ttynum - 1].master])

    def _tty_in_use(self, n: int) -> bool:
        """A client holds tty n: its channel is still open (compared as an object: a
        later client may get the same descriptor number)."""
        owner = self.tty_busy.get(n)
        if owner is None:
            return False
        if any(c is owner for c in self.clients.values()):
            return True
        del self.tty_busy[n]
        return False

    def _proxy(self, pair: Tuple[int, int], sel: Any) -> None:
        slave, _master = pair
        try:
            data = os.read(slave, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            try:
                sel.unregister(slave)
            except (KeyError, ValueError):
                pass
            self.proxies.pop(slave, None)
            os.close(slave)
            return
        try:
            os.write(self.console.master, data)
        except OSError:
            pass

    # -- lean re-execution (lxcz.runtime.lean) ------------------------------------------
    def lean_state(self) -> Optional[bytes]:
        """This running monitor as marshal data for a re-executed one, or None when it
        should not go lean now (clients, consoles in use, an id map, logging set up)."""
        s = self.spec
        if (self.status is not None or self.state != "RUNNING" or self.clients
                or self.listeners or self.waiters or self.proxies or self.tty_busy
                or self.pending or self.reboot_requested or self.stopping
                or self.fg_in >= 0 or s.idmap or log.real is not None):
            return None

        def cg(c: Any) -> Any:
            if c is None:
                return None
            freezer = c.freezer_file()
            return [c.name, c.kind, c.cgname, dict(c.paths),
                    list(freezer) if freezer else None]

        def pty(p: Any) -> Any:
            return [p.master, p.slave_path, p.slave]

        cfg = s.cfg
        net = None
        if self.net_state is not None:
            net = self.net_state.to_json()
            net["netns_fd"] = self.net_state.netns_fd
        state = {
            "spec": {k: v for k, v in vars(s).items() if k != "cfg"},
            "cfg": [cfg.text(), cfg.path or s.config_file] if cfg is not None else None,
            "ephemeral": bool(_int(cfg.get("lxc.ephemeral"), 0)) if cfg is not None
            else False,
            "sock": self.sock.fileno(), "state": self.state, "init_pid": self.init_pid,
            "cgroup": cg(self.cgroup), "cgroup_inner": cg(self.cgroup_inner),
            "mon_cgroup": cg(self.mon_cgroup), "mon_attached": self.mon_attached,
            "orig_cgroups": self.orig_cgroups, "relative": bool(s.cgroup_dirs.get("relative")),
            "console": pty(self.console) if self.console is not None else None,
            "ttys": [pty(t) for t in self.ttys], "console_buf": bytes(self.console_buf),
            "console_log_fd": self.console_log_fd, "net": net,
            "lxc_sock": self.lxc_sock.fileno() if self.lxc_sock is not None else -1,
        }
        try:
            return marshal.dumps(state)
        except ValueError:  # something in the spec marshal cannot carry
            return None

    def lean_fds(self) -> List[int]:
        """The descriptors the re-executed monitor goes on with."""
        fds = [self.sock.fileno()] + [t.master for t in self.ttys]
        if self.lxc_sock is not None:
            fds.append(self.lxc_sock.fileno())
        if self.console is not None:
            fds.append(self.console.master)
            if self.console.slave >= 0:
                fds.append(self.console.slave)
        if self.console_log_fd >= 0:
            fds.append(self.console_log_fd)
        netns = self.net_state.netns_fd if self.net_state is not None else \
            (self.lean_net or {}).get("netns_fd", -1)
        if netns >= 0:
            fds.append(netns)
        from lxcz.runtime.init import import_fds

        return fds + list(import_fds())

    @classmethod
    def from_lean(cls, st: Dict[str, Any]) -> Monitor:
        """The monitor lean_state described, in this (re-executed) process."""
        spec = Spec.__new__(Spec)
        spec.__dict__.update(st["spec"])
        spec.cfg = None
        sock = _socket.socket(fileno=st["sock"])
        mon = cls(spec, sock, report_fd=-1)
        mon.state = st["state"]
        mon.init_pid = st["init_pid"]
        mon.lean_tried = True
        mon.lean_cfg = tuple(st["cfg"]) if st["cfg"] else None  # type: ignore[assignment]
        mon.lean_ephemeral = st["ephemeral"]
        mon.lean_net = st["net"]
        mon.orig_cgroups = st["orig_cgroups"]
        mon.mon_attached = st["mon_attached"]
        if st["cgroup"] or st["mon_cgroup"]:
            from lxcz.cgroups.freezer import LazyCgroup

            for attr in ("cgroup", "cgroup_inner", "mon_cgroup"):
                if st[attr]:
                    setattr(mon, attr, LazyCgroup(st["relative"], *st[attr]))
        if st["console"]:
            mon.console = _HeldPty(*st["console"])
        mon.ttys = [_HeldPty(*t) for t in st["ttys"]]
        mon.console_buf = bytearray(st["console_buf"])
        mon.console_log_fd = st["console_log_fd"]
        if st.get("lxc_sock", -1) >= 0:
            mon.lxc_sock = _socket.socket(fileno=st["lxc_sock"])
        for fd in mon.lean_fds():
            os.set_inheritable(fd, False)
        return mon

    def _stop_listening(self) -> None:
        """Close the command socket before STOPPED goes out: whoever sees STOPPED (lxc-stop,
        lxc-destroy -f, lxc-wait) must not then find the container still running."""
        for sock in (self.sock, self.lxc_sock):
            try:
                if sock is not None:
                    sock.close()
            except OSError:
                pass

    def _close_all(self) -> None:
        for ch in list(self.clients.values()):
            try:
                ch.close()
            except OSError:
                pass
        self.clients = {}
        self._stop_listening()
        if self.console_log_fd >= 0:
            self._console_buffer_to_log()
            os.close(self.console_log_fd)
            self.console_log_fd = -1
        _signal.set_wakeup_fd(-1)
        for fd in (self.sig_r, self.sig_w):
            if fd >= 0:
                os.close(fd)
        self.sig_r = self.sig_w = -1


class _HeldPty:
    """The host end of a console or tty a lean monitor took over (lxcz.runtime.dev.Pty's
    attributes, without loading that module); a console's slave is still held."""

    def __init__(self, master: int, slave_path: str, slave: int = -1) -> None:
        self.master = master
        self.slave = slave
        self.slave_path = slave_path

    def close_slave(self) -> None:
        if self.slave >= 0:
            os.close(self.slave)
            self.slave = -1


def _chown_all(paths: List[str]) -> None:
    for p in paths:
        os.chown(p, 0, 0)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            time.sleep(0.001)
            continue
        view = view[n:]


def _send(sock: _socket.socket, msg: Dict[str, Any]) -> None:
    try:
        sock.send(marshal.dumps(msg))
    except OSError:
        pass


def _recv(sock: _socket.socket) -> Optional[Dict[str, Any]]:
    while True:
        try:
            data = sock.recv(65536)
        except InterruptedError:
            continue
        except ConnectionResetError:
            return None
        if not data:
            return None
        return marshal.loads(data)


def _message(err: BaseException) -> str:
    if isinstance(err, LxczError):
        return str(err)
    if isinstance(err, OSError):
        return f"{err.strerror or err}" if not err.filename else \
            f"{err.filename}: {err.strerror}"
    return f"internal error: {type(err).__name__}: {err}"


# -- the child that becomes init ---------------------------------------------------------------
class Child:
    """Runs in the forked child: namespaces, filesystem, then exec or the PID-1 init."""

    def __init__(self, spec: Spec, sync: _socket.socket, monitor: Monitor) -> None:
        self.spec = spec
        self.sync = sync
        self.monitor = monitor
        self.init_chan: Optional[_socket.socket] = None  # to the init (split_init)

    def hook(self, kind: str, env: Optional[Dict[str, str]] = None) -> None:
        """Run a hook in this (the container's) mount namespace."""
        hs = self.spec.hooks.get(kind) or []
        if hs:
            full = self.monitor.hook_env()
            # the init's pid: ours, or our parent's when we set up for it (split_init)
            full["LXC_PID"] = str(os.getppid() if self.init_chan else os.getpid())
            full.update(env or {})
            hooks.run(hs, kind, self.spec.name, full, self.spec.hook_version)

    def run(self) -> int:
        s = self.spec
        _signal.set_wakeup_fd(-1)
        for sig in FORWARDED + (_signal.SIGCHLD,):
            _signal.signal(sig, _signal.SIG_DFL)
        _signal.signal(_signal.SIGPIPE, _signal.SIG_DFL)
        _signal.signal(_signal.SIGXFSZ, _signal.SIG_DFL)  # Python ignores both at start-up
        userns = bool(s.idmap) and "user" not in s.share
        if not userns:
            calls.set_dumpable(False)  # later with a user namespace: newuidmap checks us
        try:
            calls.set_pdeathsig(s.pdeath_signal)
        except OSError:
            pass
        msg = _recv(self.sync)
        if not msg or not msg.get("go"):
            return 1
        from lxcz.cgroups import enter

        # before any namespace: the cgroup namespace's root is where init is now
        enter.join_self(self.monitor.join_paths, self.monitor.in_v2)
        if userns:
            if s.rootfs_store and s.rootfs and os.geteuid() == 0:
                # a block or overlay store cannot be mounted from inside the user
                # namespace: mount it now, in a mount namespace of our own
                calls.unshare(calls.CLONE_NEWNS)
                calls.mount(None, "/", None, calls.MS_SLAVE | calls.MS_REC, None)
                from lxcz.storage import bdev

                source = bdev.mount_rootfs(s.rootfs_store, s.rootfs) or s.rootfs
                if source != s.rootfs:
                    calls.mount(source, s.rootfs, None, calls.MS_BIND | calls.MS_REC, None)
                s.rootfs_store = ""
            self.enter_userns()
        flags = 0
        for ns in s.clone:
            if ns not in ("pid", "user", "time") and ns not in s.share:
                flags |= calls.NAMESPACES[ns]
        if userns:  # PID and time namespaces owned by the user namespace: made here
            for ns in ("pid", "time"):
                if ns in s.clone and ns not in s.share:
                    flags |= calls.NAMESPACES[ns]
        for ns, path in s.share.items():
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                calls.setns(fd, 0)
            except OSError as err:
                raise LxczError(f"cannot join the {ns} namespace {path}: "
                                f"{os.strerror(err.errno or 0)}") from None
            finally:
                os.close(fd)
        if flags:
            try:
                calls.unshare(flags)
            except OSError as err:
                raise LxczError(f"cannot create namespaces: {os.strerror(err.errno or 0)}"
                                ) from None
        if flags & calls.CLONE_NEWTIME:
            calls.set_timens_offsets(s.time_offsets)
        if flags & (calls.CLONE_NEWPID | calls.CLONE_NEWTIME):
            self.fork_init()
        if s.useinit:
            self.split_init()
        if s.networks:
            _send(self.sync, {"unshared": True})
            msg = _recv(self.sync)
            if not msg or not msg.get("go"):
                return 1
            if msg.get("made") is not None:
                self.configure_network(msg["made"])
        if userns:
            # not before: an unprivileged monitor opens /proc/PID/ns/net of a dumpable init
            calls.set_dumpable(False)
        if flags & calls.CLONE_NEWUTS and s.hostname:
            calls.sethostname(s.hostname)
        if s.sysctls:
            from lxcz.security import limits

            # through the host's /proc, still mounted here: net.* and the IPC sysctls
            # resolve to the namespaces of the writer, i.e. the container's
            limits.apply_sysctls(s.sysctls)
        newns = bool(flags & calls.CLONE_NEWNS)
        if newns:
            calls.mount(None, "/", None, calls.MS_SLAVE | calls.MS_REC, None)
        self.hook("pre-mount")
        if s.rootfs and newns:
            self.setup_rootfs()
        elif s.rootfs:
            raise LxczError("a rootfs needs a new mount namespace (lxc.namespace.keep mnt)")
        self.setup_stdio()
        calls.close_fds_except((0, 1, 2, self.sync.fileno(),
                                self.init_chan.fileno() if self.init_chan else -1))
        env = dict(s.env)
        os.environ.clear()
        os.environ.update(env)
        self.hook("start")
        if s.keyring or s.personality:
            from lxcz.security import limits

            if s.keyring:
                if s.se_keyring:
                    from lxcz.security import selinux

                    selinux.apply_keyring(s.se_keyring)
                limits.join_session_keyring()
            if s.personality:
                limits.apply_personality(s.personality)
        self.confine()
        self.drop_ids()
        if s.useinit:
            from lxcz.runtime import init

            # init confines itself before the command runs: until then it could be
            # traced by container root
            self.init_chan.send(b"r")
            if self.init_chan.recv(1) != b"g":
                return 1
            self.init_chan.close()
            _send(self.sync, {"ready": True})
            self.sync.close()
            init.command_session()
            init.exec_command(s.cmd, env, s.prog, s.name)
        _send(self.sync, {"ready": True})
        try:
            os.execvpe(s.cmd[0], s.cmd, env)
        except OSError as err:
            raise LxczError(f"cannot run '{s.cmd[0]}' in the container: "
                            f"{os.strerror(err.errno or 0)}") from None
        return 1

    def configure_network(self, made: List[Dict[str, Any]]) -> None:
        """An unprivileged container's interfaces, set up from inside its namespace."""
        from lxcz.net import netdev

        # our pid as the host's /proc (still mounted here) knows it
        state = netdev.NetState(self.spec.name, int(os.readlink("/proc/self")),
                                self.spec.networks)
        state.made = [netdev.Made(**m) for m in made]
        netdev.configure(state)

    def enter_userns(self) -> None:
        """Unshare the user namespace, let the monitor write its maps, become its root."""
        try:
            calls.unshare(calls.CLONE_NEWUSER)
        except OSError as err:
            raise LxczError("cannot create a user namespace: "
                            f"{os.strerror(err.errno or 0)}") from None
        _send(self.sync, {"userns": True})
        msg = _recv(self.sync)
        if not msg or not msg.get("go"):
            os._exit(1)
        try:
            calls.become_userns_root()
        except OSError as err:
            raise LxczError("cannot become root in the user namespace: "
                            f"{os.strerror(err.errno or 0)}") from None
        calls.set_dumpable(True)  # the id change cleared it; see set_dumpable(False) below

    def split_init(self) -> None:
        """lxc-execute: fork the process that sets the container up and then becomes the
        command (PID 2); this process stays the init (PID 1) and returns only in that
        child. The init runs none of the set-up: every page either it or the monitor
        writes after the monitor's fork is copied, and the pair pays for it twice.
        It waits until the child is ready to exec, confines itself as the command will
        be (until then container root could trace it), lets the command go, then
        forwards signals and reaps until the command has ended."""
        from lxcz.runtime import init

        os.chdir("/")  # the pivot moves a root or cwd that is the old root, no other
        mine, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        state = init.forward_signals()
        pid = os.fork()
        if pid == 0:
            mine.close()
            self.init_chan = theirs
            return
        theirs.close()
        self.sync.close()
        calls.close_fds_except((0, 1, 2, mine.fileno()))
        # dumpable a while longer in a user namespace: the monitor, not root on the host,
        # opens our /proc/PID/ns/net while the child sets the network up
        userns = bool(self.spec.idmap) and "user" not in self.spec.share
        init.become_init(dumpable=userns)
        failed = False
        if mine.recv(1) == b"r":  # else the child failed and told the monitor why
            try:
                if userns:
                    calls.set_dumpable(False)
                self.confine(init_of=pid)
                self.drop_ids()
                mine.send(b"g")
            except LxczError as err:
                os.write(2, f"{self.spec.prog}: {self.spec.name}: {err}\n".encode())
                os.kill(pid, _signal.SIGKILL)
                failed = True
        mine.close()
        code = init.supervise(pid, state)
        os._exit(1 if failed else code)

    def fork_init(self) -> None:
        """After unshare(CLONE_NEWPID): fork init, PID 1 of the new namespace, tell the
        monitor its pid and leave; init goes on with the start once the monitor (our
        subreaper) has adopted it."""
        pid = os.fork()
        if pid:
            _send(self.sync, {"pid": pid})
            os._exit(0)
        msg = _recv(self.sync)
        if not msg or not msg.get("go"):
            os._exit(1)
        try:
            calls.set_pdeathsig(self.spec.pdeath_signal)  # our parent is the monitor now
        except OSError:
            pass

    def setup_rootfs(self) -> None:
        from lxcz.runtime import dev, rootfs

        s = self.spec
        source = s.rootfs
        if s.rootfs_store:
            from lxcz.storage import bdev

            source = bdev.mount_rootfs(s.rootfs_store, s.rootfs) or s.rootfs
        try:
            calls.mount(source, s.rootfs_mount, None, calls.MS_BIND | calls.MS_REC, None)
        except OSError as err:
            raise LxczError(f"cannot mount the rootfs {s.rootfs}: "
                            f"{os.strerror(err.errno or 0)}") from None
        rootfd = os.open(s.rootfs_mount, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            # LXC's order: /dev's tmpfs, proc and sys, fstab and mount entries (which may
            # mount below dev/ or mount /sys), cgroups, the mount hooks, the autodev hooks,
            # then the nodes in /dev
            if s.autodev:
                dev.mount_dev(rootfd, s.autodev_size)
            rootfs.mount_auto(s.mount_auto, rootfd, "net" in s.clone, cgroups=False)
            if s.fstab:
                for line in rootfs.fstab_lines(s.fstab):
                    rootfs.mount_entry(line, rootfd, s.rootfs, s.rootfs_mount,
                                       "lxc.mount.fstab")
            for line in s.mount_entries:
                rootfs.mount_entry(line, rootfd, s.rootfs, s.rootfs_mount)
            rootfs.mount_auto(s.mount_auto, rootfd, "net" in s.clone, cgroups=True)
            self.hook("mount")
            if s.autodev:
                self.hook("autodev")
                dev.fill_dev(rootfd)
            if s.autodev or s.pty_max or s.tty_max or self.monitor.console is not None:
                dev.devpts(rootfd, s.pty_max)
            con = self.monitor.console
            console_dev = con.slave_path if con is not None else (
                s.console if s.console not in ("", "none") and not s.useinit else "")
            if console_dev:
                if s.tty_dir:
                    dev.bind_tty(rootfd, console_dev, "console", s.tty_dir)
                dev.bind_tty(rootfd, console_dev, "console")
            for i, t in enumerate(self.monitor.ttys, 1):
                dev.bind_tty(rootfd, t.slave_path, f"tty{i}", s.tty_dir, link=True)
            if s.rootfs_flags & calls.MS_RDONLY:
                calls.mount(None, s.rootfs_mount, None,
                            calls.MS_REMOUNT | calls.MS_BIND | calls.MS_RDONLY, None)
        finally:
            os.close(rootfd)
        rootfs.pivot(s.rootfs_mount)
        try:
            os.chdir(s.cwd or "/")
        except OSError:
            os.chdir("/")

    def setup_stdio(self) -> None:
        """The init's stdio, as LXC 5 sets it: the console in the foreground (the
        monitor copies it to the caller's terminal), /dev/null for a daemon; either
        way a new session without a controlling terminal, so that the console is free
        to become the terminal of the shell or getty init runs on it (with the console
        as init's own terminal, that shell has no job control)."""
        con = self.monitor.console
        s = self.spec
        if s.useinit:
            return
        os.setsid()
        if con is not None and not s.daemonize:
            for fd in (0, 1, 2):
                os.dup2(con.slave, fd)
        elif s.daemonize:
            null = os.open(os.devnull, os.O_RDWR) if os.path.exists(os.devnull) else -1
            if null >= 0:
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                os.close(null)

    def confine(self, init_of: int = 0) -> None:
        """AppArmor label for the next exec, no_new_privs, the seccomp filter, then the
        capability sets (loading a filter needs CAP_SYS_ADMIN or no_new_privs).
        init_of: the init confining itself once its child (that pid, already confined)
        is about to exec the command: no exec labels (the init never execs), and the
        child's core-scheduling cookie rather than a new one."""
        s = self.spec
        if s.aa_label and not init_of:
            from lxcz.security import apparmor

            apparmor.apply_at_exec(s.aa_label)
        if s.se_label and not init_of:
            from lxcz.security import selinux

            selinux.apply_at_exec(s.se_label)
        if s.sched_core:
            try:
                # a new core-scheduling cookie for the command's thread group; what it
                # forks, the init and lxc-attach (sharing it) keep the same cookie
                if init_of:
                    calls.prctl(calls.PR_SCHED_CORE, calls.PR_SCHED_CORE_SHARE_FROM,
                                init_of, calls.PIDTYPE_PID, 0)
                else:
                    calls.prctl(calls.PR_SCHED_CORE, calls.PR_SCHED_CORE_CREATE, 0,
                                calls.PIDTYPE_TGID, 0)
            except OSError as err:
                why = "the kernel does not support core scheduling" \
                    if err.errno == errno.EINVAL else os.strerror(err.errno or 0)
                raise LxczError(f"lxc.sched.core: cannot create a core scheduling domain: "
                                f"{why}") from None
        if s.no_new_privs:
            from lxcz.sys import seccomp

            seccomp.set_no_new_privs()
        if s.seccomp_prog:
            from lxcz.sys import seccomp

            if seccomp.should_install(s.seccomp_nesting):
                try:
                    seccomp.install_filter(s.seccomp_prog)
                except (OSError, ValueError) as err:
                    raise LxczError(f"cannot load the seccomp filter: {err}") from None
        if s.cap_keep is not None:
            from lxcz.security import caps

            try:
                caps.apply(set(s.cap_keep))
            except OSError as err:
                raise LxczError(f"cannot drop capabilities: {os.strerror(err.errno or 0)}"
                                ) from None

    def drop_ids(self) -> None:
        s = self.spec
        if s.gid or s.uid or s.groups:
            try:
                os.setgroups(s.groups)
                if s.gid:
                    os.setgid(s.gid)
                if s.uid:
                    os.setuid(s.uid)
            except OSError as err:
                raise LxczError(f"cannot switch to uid {s.uid} gid {s.gid}: "
                                f"{os.strerror(err.errno or 0)}") from None
            try:
                calls.set_pdeathsig(s.pdeath_signal)
            except OSError:
                pass
        if s.cwd and s.cwd != "/":
            try:
                os.chdir(s.cwd)
            except OSError as err:
                raise LxczError(f"cannot change to the directory '{s.cwd}': "
                                f"{os.strerror(err.errno or 0)}") from None
