"""The one table of configuration keys (lxc.container.conf(5), LXC 5.0).

Every key LXC 5.0 accepts is one ``Key`` row here: its name (or a prefix ending in ``.``
for families such as ``lxc.cgroup.``; the per-interface keys are rows of ``NET_KEYS`` and
apply to ``lxc.net.N.<sub>``), how its value is checked and parsed, whether it is single
valued, a list (each line adds one value; an empty value clears the list) or a word list
(each line adds its blank-separated words), the pre-3.0 spellings that map onto it, whether
the runtime applies it yet, and one line of documentation.

``applied`` is the guard for issue 3 point 8: the runtime refuses to start a container that
sets a key whose row says ``applied=False``. Runtime code flips a row to True when it lands.
Keys that need no action at start (``lxc.include``, autostart ordering, clone/destroy hooks)
are True from the start.

The parser, the model's get/set/clear, lxc-config, lxc-update-config, the legacy
translation and docs/lxc.container.conf.md all read this table.
"""

from __future__ import annotations

from lxcz.config import values as V

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Optional, Tuple

SINGLE = "single"   # last line wins; an empty value unsets
LIST = "list"       # each line appends; an empty value clears the list
WORDS = "words"     # each line appends its words; an empty value clears
FAMILY = "family"   # only an empty value, which clears every key under name + "."


class Key:
    """One row of the table."""

    __slots__ = ("name", "check", "parse", "kind", "applied", "doc", "legacy", "sub",
                 "sep", "example", "sub_example", "view", "unset")

    def __init__(self, name: str, check: Callable[[str], str] = V.any_text,
                 parse: Optional[Callable[[str], object]] = None, kind: str = SINGLE,
                 applied: bool = False, doc: str = "", legacy: Tuple[str, ...] = (),
                 sub: Optional[Callable[[str], None]] = None, sep: str = "\n",
                 example: str = "", sub_example: str = "",
                 view: Optional[Callable[[List[str]], List[str]]] = None,
                 unset: str = "") -> None:
        self.name = name
        self.check = check
        self.parse = parse
        self.kind = kind
        self.applied = applied
        self.doc = doc
        self.legacy = legacy
        self.sub = sub
        self.sep = sep
        self.example = example
        self.sub_example = sub_example  # for a prefix row: a valid suffix for the example
        self.view = view  # repeating keys: what the values amount to, for get/get_list
        self.unset = unset  # what get_config_item says when the key is not set (LXC's default)

    @property
    def is_prefix(self) -> bool:
        return self.name.endswith(".")

    @property
    def repeats(self) -> bool:
        return self.kind in (LIST, WORDS)

    def __repr__(self) -> str:
        return f"Key({self.name!r}, kind={self.kind}, applied={self.applied})"


_i, _u, _b = V.integer, V.unsigned, V.boolean
_pi, _pb = V.parse_int, V.parse_bool
_hooks = ("pre-start", "pre-mount", "mount", "autodev", "start", "stop", "post-stop",
          "clone", "destroy", "start-host")
_APPLIED_HOOKS = _hooks  # every hook type is run by lxcz.runtime

ROWS: List[Key] = [
    Key("lxc.arch", V.arch, applied=True, doc="architecture (personality) of the container", legacy=(),
        example="x86_64"),
    Key("lxc.apparmor.profile", V.no_newline, applied=True, doc="AppArmor profile (generated, unchanged, "
        "unconfined or a name)", legacy=("lxc.aa_profile",), example="unconfined"),
    Key("lxc.apparmor.allow_incomplete", _b, _pb, applied=True, doc="start even if the kernel lacks "
        "AppArmor mount features", legacy=("lxc.aa_allow_incomplete",), example="1", unset="0"),
    Key("lxc.apparmor.allow_nesting", _b, _pb, applied=True, doc="generated profile allows nesting",
        example="1", unset="0"),
    Key("lxc.apparmor.raw", V.no_newline, kind=LIST, doc="raw AppArmor rule added to the "
        "generated profile", example="mount fstype=nfs,", applied=True),
    Key("lxc.autodev", _b, _pb, applied=True, doc="mount a tmpfs on /dev and fill it with the minimal "
        "device nodes", example="1", unset="1"),
    Key("lxc.autodev.tmpfs.size", _u, _pi, doc="size of the /dev tmpfs in MB (default 500000 kB)",
        example="1", applied=True, unset="0"),
    Key("lxc.cap.drop", V.capabilities, kind=WORDS, applied=True, doc="capabilities to drop (names without "
        "CAP_)", example="sys_module mac_admin"),
    Key("lxc.cap.keep", V.cap_keep, kind=WORDS, applied=True, doc="capabilities to keep, all others are "
        "dropped (none keeps none)", example="sys_admin"),
    Key("lxc.cgroup", kind=FAMILY, applied=True, doc="empty value clears every lxc.cgroup.* controller "
        "setting"),
    Key("lxc.cgroup.", V.no_newline, kind=LIST, sub=V.nonempty_sub, applied=True, doc="cgroup v1 controller file "
        "setting, lxc.cgroup.<file> = value", example="1024", sub_example="memory.limit_in_bytes"),
    Key("lxc.cgroup2", kind=FAMILY, applied=True, doc="empty value clears every lxc.cgroup2.* setting"),
    Key("lxc.cgroup2.", V.no_newline, kind=LIST, sub=V.nonempty_sub, applied=True, doc="cgroup v2 file setting, "
        "lxc.cgroup2.<file> = value", example="max", sub_example="memory.max"),
    Key("lxc.cgroup.dir", V.relative_path, applied=True, doc="cgroup path (relative to the root) for the "
        "container", example="lxc.payload/c1"),
    Key("lxc.cgroup.dir.monitor", V.relative_path, doc="cgroup path of the monitor",
        example="lxc.monitor/c1", applied=True),
    Key("lxc.cgroup.dir.monitor.pivot", V.relative_path, doc="cgroup the monitor moves to "
        "before it exits", example="lxc.pivot", applied=True),
    Key("lxc.cgroup.dir.container", V.relative_path, doc="cgroup path of the container "
        "payload", example="lxc.payload/c1", applied=True),
    Key("lxc.cgroup.dir.container.inner", V.single_dir_name, doc="inner cgroup the payload "
        "is placed in (delegation)", example="inner", applied=True),
    Key("lxc.cgroup.relative", _b, _pb, doc="place the container relative to the caller's "
        "cgroup", example="1", applied=True, unset="0"),
    Key("lxc.console.buffer.size", V.byte_size, V.parse_byte_size, doc="ring buffer size "
        "for the console (auto or bytes, kB, MB, GB; rounded up to a power of 2)", example="auto", applied=True, unset="0"),
    Key("lxc.console.logfile", V.no_newline, applied=True, doc="file the console output is logged to",
        example="/var/log/lxc/c1.console"),
    Key("lxc.console.path", V.no_newline, applied=True, doc="host device used as console, none for none",
        legacy=("lxc.console",), example="none"),
    Key("lxc.console.rotate", V.console_rotate, _pb, doc="rotate the console log file "
        "when it reaches lxc.console.size", example="1", applied=True, unset="0"),
    Key("lxc.console.size", V.byte_size, V.parse_byte_size, doc="console log file size "
        "limit", example="1MB", applied=True, unset="0"),
    Key("lxc.sched.core", _b, _pb, doc="put the container in its own core-scheduling "
        "domain", example="1", applied=True, unset="0"),
    Key("lxc.environment", V.environment, kind=LIST, applied=True, doc="environment variable NAME=VALUE "
        "for the container's init (a bare NAME takes the host's value)",
        example="FOO=bar"),
    Key("lxc.ephemeral", _b, _pb, applied=True, doc="destroy the container when it stops", example="1", unset="0"),
    Key("lxc.execute.cmd", V.no_newline, applied=True, doc="command lxc-execute runs when none is given",
        example="/bin/sh -c true"),
    Key("lxc.group", V.no_newline, kind=WORDS, applied=True, doc="autostart group the "
        "container belongs to", example="onboot"),
    Key("lxc.hook", kind=FAMILY, applied=True, doc="empty value clears every lxc.hook.* hook"),
] + [
    Key("lxc.hook." + h, V.no_newline, kind=LIST, applied=h in _APPLIED_HOOKS,
        doc=f"program run at the {h} hook", example="/bin/true")
    for h in _hooks
] + [
    Key("lxc.hook.version", V.hook_version, _pi, applied=True, doc="hook calling convention: 0 arguments, "
        "1 environment variables", example="1", unset="0"),
    Key("lxc.idmap", V.idmap, V.parse_idmap, kind=LIST, legacy=("lxc.id_map",), applied=True,
        doc="user namespace id map: u|g|b NSID HOSTID RANGE", example="u 0 100000 65536"),
    Key("lxc.include", V.no_newline, kind=LIST, applied=True, doc="read another config "
        "file, or every *.conf file of a directory, at this point"),
    Key("lxc.init.cmd", V.no_newline, applied=True, doc="init command lxc-start runs (default /sbin/init)",
        legacy=("lxc.init_cmd",), example="/sbin/init"),
    Key("lxc.init.uid", _u, _pi, legacy=("lxc.init_uid",), applied=True, doc="user id init runs as",
        example="0", unset="0"),
    Key("lxc.init.gid", _u, _pi, legacy=("lxc.init_gid",), applied=True, doc="group id init runs as",
        example="0", unset="0"),
    Key("lxc.init.groups", V.gid_list, _pi, kind=LIST, sep=",", view=V.split_commas, applied=True, doc="supplementary "
        "group ids of init, comma separated", example="10,20"),
    Key("lxc.init.cwd", V.no_newline, applied=True, doc="working directory of init", example="/root"),
    Key("lxc.keyring.session", _b, _pb, applied=True, doc="give the container a new session keyring "
        "(default 1)", example="0", unset="0"),
    Key("lxc.log.file", V.no_newline, applied=True, doc="log file of the container", legacy=("lxc.logfile",),
        example="/var/log/lxc/c1.log"),
    Key("lxc.log.level", V.log_level, applied=True, doc="log priority (name or 0-8)", legacy=("lxc.loglevel",),
        example="DEBUG", unset="NOTSET"),
    Key("lxc.log.syslog", V.one_of(*V.SYSLOG_FACILITIES), legacy=("lxc.syslog",),
        doc="send the log to syslog with this facility", example="daemon", applied=True),
    Key("lxc.monitor.unshare", _b, _pb, doc="monitor unshares its mount namespace",
        example="1", applied=True, unset="0"),
    Key("lxc.monitor.signal.pdeath", V.signal, _pi, applied=True, doc="signal sent to the container when "
        "the monitor dies", example="SIGKILL", unset="9"),
    Key("lxc.mount.auto", V.mount_auto, kind=WORDS, sep=" ", view=V.mount_auto_effective, applied=True, doc="file systems mounted "
        "automatically (proc, sys, cgroup variants, shmounts:)", example="proc:mixed sys:ro"),
    Key("lxc.mount.entry", V.mount_entry, kind=LIST, applied=True, doc="fstab-format mount entry",
        example="/srv srv none bind,create=dir 0 0"),
    Key("lxc.mount.fstab", V.no_newline, legacy=("lxc.mount",), applied=True, doc="fstab-format file of "
        "mounts", example="/var/lib/lxc/c1/fstab"),
    Key("lxc.namespace.clone", V.words_of(*V.NAMESPACES), kind=WORDS, sep="\n",
        applied=True, doc="namespaces to create (others shared with the host)", example="net uts"),
    Key("lxc.namespace.keep", V.words_of(*V.NAMESPACES), kind=WORDS, sep="\n",
        applied=True, doc="namespaces to share with the host", example="net"),
    Key("lxc.namespace.share.", V.no_newline, sub=V.namespace_name, applied=True, doc="share the "
        "namespace with a container or a PID, lxc.namespace.share.<ns> = NAME|PID",
        example="1", sub_example="net"),
    Key("lxc.time.offset.boot", V.time_offset, V.parse_time_offset, doc="boot clock "
        "offset in the time namespace (NUMBER h|m|s|ms|us|ns)", example="10 s", applied=True, unset="0 ns"),
    Key("lxc.time.offset.monotonic", V.time_offset, V.parse_time_offset, doc="monotonic "
        "clock offset in the time namespace", example="-5 ms", applied=True, unset="0ns"),
    Key("lxc.net", kind=FAMILY, applied=True, doc="empty value removes every network "
        "interface"),
    Key("lxc.no_new_privs", _b, _pb, applied=True, doc="set PR_SET_NO_NEW_PRIVS for the container",
        example="1", unset="0"),
    Key("lxc.prlimit", kind=FAMILY, applied=True, doc="empty value clears every lxc.prlimit.* limit"),
    Key("lxc.prlimit.", V.prlimit, V.parse_prlimit, sub=V.prlimit_name, legacy=("lxc.limit.",),
        applied=True, doc="resource limit, lxc.prlimit.<name> = SOFT[:HARD] (numbers or unlimited)",
        example="1024:4096", sub_example="nofile"),
    Key("lxc.pty.max", _u, _pi, legacy=("lxc.pts",), applied=True, doc="maximum number of pseudo "
        "terminals (a private devpts instance)", example="1024", unset="0"),
    Key("lxc.rootfs.managed", _b, _pb, applied=True, doc="lxc-destroy removes the rootfs "
        "(default 1)", example="0", unset="1"),
    Key("lxc.rootfs.mount", V.no_newline, applied=True, doc="where the rootfs is mounted on the host "
        "before pivot_root", example="/usr/lib/lxc/rootfs"),
    Key("lxc.rootfs.options", V.no_newline, applied=True, doc="mount options of the rootfs",
        example="ro"),
    Key("lxc.rootfs.path", V.no_newline, legacy=("lxc.rootfs",), applied=True, doc="root file system "
        "(a directory, [TYPE:]PATH, or a block device)", example="dir:/var/lib/lxc/c1/rootfs"),
    Key("lxc.seccomp.allow_nesting", _b, _pb, applied=True, doc="allow seccomp filters in the container",
        example="1", unset="0"),
    Key("lxc.seccomp.notify.cookie", V.no_newline, doc="cookie sent to the seccomp "
        "notify proxy", example="abc"),
    Key("lxc.seccomp.notify.proxy", V.seccomp_proxy, doc="seccomp notify proxy socket "
        "(unix:PATH)", example="unix:/run/proxy.sock"),
    Key("lxc.seccomp.profile", V.no_newline, applied=True, legacy=("lxc.seccomp",), doc="seccomp policy "
        "file", example="/usr/share/lxc/config/common.seccomp"),
    Key("lxc.selinux.context", V.no_newline, legacy=("lxc.se_context",), doc="SELinux "
        "context the container runs in", example="system_u:system_r:lxc_t:s0:c22", applied=True),
    Key("lxc.selinux.context.keyring", V.no_newline, doc="SELinux context of the session "
        "keyring", example="system_u:system_r:lxc_t:s0:c22", applied=True),
    Key("lxc.signal.halt", V.signal, _pi, legacy=("lxc.haltsignal",), applied=True, doc="signal that "
        "shuts the container down (default SIGPWR)", example="SIGRTMIN+3", unset="0"),
    Key("lxc.signal.reboot", V.signal, _pi, legacy=("lxc.rebootsignal",), applied=True, doc="signal that "
        "reboots the container (default SIGINT)", example="SIGTERM", unset="0"),
    Key("lxc.signal.stop", V.signal, _pi, legacy=("lxc.stopsignal",), applied=True, doc="signal that "
        "kills the container (default SIGKILL)", example="9", unset="0"),
    Key("lxc.start.auto", _b, _pb, applied=True, doc="lxc-autostart starts this container",
        example="1", unset="0"),
    Key("lxc.start.delay", _u, _pi, applied=True, doc="seconds lxc-autostart waits after "
        "starting it", example="5", unset="0"),
    Key("lxc.start.order", _i, _pi, applied=True, doc="lxc-autostart order (higher first)",
        example="-3", unset="0"),
    Key("lxc.tty.dir", V.single_dir_name, legacy=("lxc.devttydir",), applied=True, doc="directory under "
        "/dev for the ttys", example="lxc"),
    Key("lxc.tty.max", _u, _pi, legacy=("lxc.tty",), applied=True, doc="number of ttys made for the "
        "container", example="4", unset="0"),
    Key("lxc.uts.name", V.hostname, legacy=("lxc.utsname",), applied=True, doc="hostname of the "
        "container", example="c1"),
    Key("lxc.sysctl", kind=FAMILY, applied=True, doc="empty value clears every lxc.sysctl.* setting"),
    Key("lxc.sysctl.", V.no_newline, sub=V.nonempty_sub, applied=True, doc="kernel parameter set in the "
        "container, lxc.sysctl.<name> = value", example="1", sub_example="net.ipv4.ip_forward"),
    Key("lxc.proc", kind=FAMILY, applied=True, doc="empty value clears every lxc.proc.* setting"),
    Key("lxc.proc.", V.no_newline, sub=V.proc_name, applied=True, doc="/proc/PID file of init written "
        "at start, lxc.proc.<file> = value", example="-1000", sub_example="oom_score_adj"),
]

# lxc.net.N.<sub>
NET_KEYS: List[Key] = [
    Key("type", V.one_of(*V.NET_TYPES), doc="network type: " + ", ".join(V.NET_TYPES),
        example="veth"),
    Key("flags", V.one_of("up"), doc="up: bring the interface up", example="up"),
    Key("hwaddr", V.hwaddr, doc="MAC address (x for random hex digits)",
        example="00:16:3e:xx:xx:xx"),
    Key("ipv4.address", V.ipv4_address, kind=LIST, doc="IPv4 address A.B.C.D/PREFIX "
        "[BROADCAST]", legacy=("ipv4",), example="10.0.3.5/24"),
    Key("ipv4.gateway", V.ipv4_gateway, doc="IPv4 default gateway (address, auto or dev)",
        example="10.0.3.1"),
    Key("ipv6.address", V.ipv6_address, kind=LIST, doc="IPv6 address ADDR/PREFIX",
        legacy=("ipv6",), example="fd00::5/64"),
    Key("ipv6.gateway", V.ipv6_gateway, doc="IPv6 default gateway (address, auto or dev)",
        example="fd00::1"),
    Key("link", V.ifname, doc="host interface or bridge", example="lxcbr0"),
    Key("l2proxy", _b, _pb, doc="add proxy ARP/NDP entries for the addresses on the link",
        example="1"),
    Key("macvlan.mode", V.one_of("private", "vepa", "bridge", "passthru"), doc="macvlan "
        "mode", example="bridge"),
    Key("ipvlan.mode", V.one_of("l3", "l3s", "l2"), doc="ipvlan mode", example="l3s"),
    Key("ipvlan.isolation", V.one_of("bridge", "private", "vepa"), doc="ipvlan isolation",
        example="bridge"),
    Key("mtu", V.mtu, _pi, doc="MTU of the interface", example="1500"),
    Key("name", V.ifname, doc="interface name in the container", example="eth0"),
    Key("script.down", V.no_newline, doc="script run on the host when the interface goes "
        "down", example="/bin/true"),
    Key("script.up", V.no_newline, doc="script run on the host when the interface is "
        "created", example="/bin/true"),
    Key("vlan.id", V.vlan_id, _pi, doc="VLAN id of a vlan interface", example="10"),
    Key("veth.mode", V.one_of("bridge", "router"), doc="veth mode", example="router"),
    Key("veth.pair", V.ifname, doc="host-side name of the veth pair", example="vethc1"),
    Key("veth.ipv4.route", V.ipv4_route, kind=LIST, doc="IPv4 route to the container via "
        "the host-side veth", example="192.0.2.0/24"),
    Key("veth.ipv6.route", V.ipv6_route, kind=LIST, doc="IPv6 route to the container via "
        "the host-side veth", example="2001:db8::/64"),
    Key("veth.vlan.id", V.vlan_id, doc="untagged VLAN id of the host-side veth on a "
        "VLAN-aware bridge, or none", example="10"),
    Key("veth.vlan.tagged.id", V.vlan_id, _pi, kind=LIST, doc="tagged VLAN id of the "
        "host-side veth", example="20"),
]

# Pre-3.0 keys LXC 5 no longer knows and that have no successor: read, warn, drop.
LEGACY_DROPPED: Tuple[str, ...] = ("lxc.pivotdir", "lxc.kmsg", "lxc.rootfs.backend")
LEGACY_NET_PREFIX = "lxc.network"

EXACT: Dict[str, Key] = {}
PREFIXES: List[Key] = []
NET: Dict[str, Key] = {}
LEGACY: Dict[str, str] = {}         # old exact name -> new name
LEGACY_PREFIXES: Dict[str, str] = {}  # old prefix -> new prefix
NET_LEGACY: Dict[str, str] = {}     # old sub -> new sub

for _row in ROWS:
    if _row.is_prefix:
        PREFIXES.append(_row)
        for _old in _row.legacy:
            LEGACY_PREFIXES[_old] = _row.name
    else:
        assert _row.name not in EXACT, _row.name
        EXACT[_row.name] = _row
        for _old in _row.legacy:
            LEGACY[_old] = _row.name
PREFIXES.sort(key=lambda r: -len(r.name))
# lxcz.runtime.start applies every lxc.net.N.* key through lxcz.net.netdev
_NET_NOT_APPLIED: Tuple[str, ...] = ()
for _row in NET_KEYS:
    _row.applied = _row.name not in _NET_NOT_APPLIED
    NET[_row.name] = _row
    for _old in _row.legacy:
        NET_LEGACY[_old] = _row.name



def _net_split(key: str) -> Optional[Tuple[str, str]]:
    r"""(digits, sub) of ``lxc.net.<digits>.<sub>`` (what r"lxc\.net\.([0-9]+)\.(.+)\Z"
    matches; plain string code so that reading a config does not import re)."""
    if not key.startswith("lxc.net."):
        return None
    digits, dot, sub = key[8:].partition(".")
    if not dot or not sub or not digits or "\n" in sub or \
            not all("0" <= c <= "9" for c in digits):
        return None
    return digits, sub

NET_INDEX_MAX = 2 ** 31


def lookup(key: str) -> Optional[Key]:
    """The row for ``key`` (exact, lxc.net.N.<sub>, or a prefix family), or None."""
    row = EXACT.get(key)
    if row is not None:
        return row
    if key.startswith("lxc.net."):
        m = _net_split(key)
        if m:
            return NET.get(m[1])
        return None
    for row in PREFIXES:
        if key.startswith(row.name):
            sub = key[len(row.name):]
            if not sub:
                return None
            return row
    return None


def normalize(key: str) -> str:
    """``lxc.net.01.type`` is ``lxc.net.1.type`` (LXC reads the index as a number).

    Raises ValueError for an index beyond what LXC accepts.
    """
    m = _net_split(key)
    if not m:
        return key
    n = int(m[0])
    if n >= NET_INDEX_MAX:
        raise ValueError(f'network index too large in "{key}"')
    if m[0] != str(n):
        return f"lxc.net.{n}.{m[1]}"
    return key


def suggest(key: str) -> str:
    """' (did you mean "..."?)' for a misspelt key, else ''."""
    import difflib

    idx = net_index(key)
    if idx is not None:
        names = [f"lxc.net.{idx[0]}.{r.name}" for r in NET_KEYS]
    else:
        names = [r.name for r in ROWS if not r.is_prefix]
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.85)
    return f' (did you mean "{close[0]}"?)' if close else ""


def net_index(key: str) -> Optional[Tuple[int, str]]:
    """(N, sub) for ``lxc.net.N.sub``, else None."""
    m = _net_split(key)
    if not m:
        return None
    return int(m[0]), m[1]


def all_names() -> List[str]:
    """Every key name of the table as LXC's get_keys(NULL) lists them."""
    names = [r.name for r in ROWS]
    names.insert(names.index("lxc.net") + 1, "lxc.net.")
    return names


def doc_name(row: Key) -> str:
    """The name under which a row is documented (lxc.net.N.sub, lxc.cgroup.<file>)."""
    if row in NET_KEYS:
        return "lxc.net.N." + row.name
    if row.is_prefix:
        return row.name + "*"
    return row.name
