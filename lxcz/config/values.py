"""Value checkers and parsers used by the key table (lxcz.config.keys).

A checker takes the raw value of one configuration line (already stripped of blanks and
one pair of matching quotes) and returns its canonical text, or raises ValueError with a
cause ready to print. A parser turns canonical text into a Python value for
``ContainerConfig.get``/``get_list``. Both are plain functions so the table can name them.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, List, Tuple

    Checker = Callable[[str], str]

# -- generic ----------------------------------------------------------------------------



def _re():  # type: ignore[no-untyped-def]
    """re, imported on first use: most configs never need it, and it costs a start-up."""
    import re

    return re

def any_text(value: str) -> str:
    return value


def no_newline(value: str) -> str:
    if "\n" in value or "\0" in value:
        raise ValueError("value must be a single line")
    return value


def _int(value: str, what: str = "an integer") -> int:
    text = value.strip()
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not digits or not all("0" <= c <= "9" for c in digits):
        raise ValueError(f"invalid value \"{value}\": not {what}")
    return int(text)


def integer(value: str) -> str:
    n = _int(value)
    if not -(2 ** 31) <= n < 2 ** 31:
        raise ValueError(f"invalid value \"{value}\": out of range")
    return str(n)


def unsigned(value: str) -> str:
    n = _int(value, "an unsigned integer")
    if n < 0 or n >= 2 ** 32:
        raise ValueError(f"invalid value \"{value}\": not an unsigned integer")
    return str(n)


def boolean(value: str) -> str:
    if value.strip() not in ("0", "1"):
        raise ValueError(f"invalid value \"{value}\": must be 0 or 1")
    return value.strip()


def one_of(*choices: str) -> Checker:
    def check(value: str) -> str:
        if value not in choices:
            raise ValueError(f"invalid value \"{value}\": must be one of {', '.join(choices)}")
        return value
    check.__doc__ = "one of: " + ", ".join(choices)
    return check


def words_of(*choices: str) -> Checker:
    """A blank-separated list of words from ``choices``; canonical form single-spaced."""
    def check(value: str) -> str:
        words = value.split()
        for w in words:
            if w not in choices:
                raise ValueError(f"invalid value \"{w}\": must be one of {', '.join(choices)}")
        return " ".join(words)
    check.__doc__ = "words from: " + ", ".join(choices)
    return check


def parse_int(value: str) -> int:
    return int(value)


def parse_bool(value: str) -> bool:
    return value == "1"


def parse_words(value: str) -> List[str]:
    return value.split()


# -- signals ----------------------------------------------------------------------------

_SIGNALS = {
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7,
    "FPE": 8, "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14,
    "TERM": 15, "STKFLT": 16, "CHLD": 17, "CLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20,
    "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27,
    "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
}
SIGRTMIN, SIGRTMAX = 34, 64


def signal_number(value: str) -> int:
    """LXC's sig_parse: a number, or SIGNAME / SIGRTMIN+n / SIGRTMAX-n (any case)."""
    text = value.strip()
    bad = ValueError(f"invalid signal \"{value}\"")
    if text[:1].isdigit():
        if not text.isdigit():
            raise bad
        num = int(text)
    elif text[:3].upper() == "SIG":
        name = text[3:].upper()
        if name.startswith("RT"):
            rest = name[2:]
            m = _re().fullmatch(r"(MIN|MAX)(?:([+-])([0-9]+))?", rest)
            if m:
                base = SIGRTMIN if m.group(1) == "MIN" else SIGRTMAX
                off = int(m.group(3) or 0)
                num = base + off if m.group(2) == "+" else base - off
            elif rest.isdigit():
                num = SIGRTMIN + int(rest)
            else:
                raise bad
        elif name in _SIGNALS:
            num = _SIGNALS[name]
        else:
            raise bad
    else:
        raise bad
    if not 1 <= num <= SIGRTMAX:
        raise bad
    return num


def signal(value: str) -> str:
    return str(signal_number(value))


# -- sizes and times --------------------------------------------------------------------

_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024 ** 2, "mb": 1024 ** 2,
               "g": 1024 ** 3, "gb": 1024 ** 3}


def byte_size(value: str) -> str:
    """LXC's console sizes: "auto" (128 KiB) or a number with an optional B/kB/MB/GB unit.

    Canonical form is bytes, at least a page and rounded up to a power of two, as LXC
    stores and prints it.
    """
    text = value.strip()
    if text == "auto":
        return str(1 << 17)
    m = _re().fullmatch(r"([0-9]{1,19})\s*([A-Za-z]*)", text)
    if not m or m.group(2).lower() not in _SIZE_UNITS:
        raise ValueError(f"invalid size \"{value}\"")
    size = int(m.group(1)) * _SIZE_UNITS[m.group(2).lower()]
    import os

    size = max(size, os.sysconf("SC_PAGE_SIZE"))
    size = 1 << (size - 1).bit_length()
    if size >= 1 << 63:
        raise ValueError(f"invalid size \"{value}\": too large")
    return str(size)


def parse_byte_size(value: str) -> int:
    return int(value)


_TIME_UNITS = {"h": 3600 * 10 ** 9, "m": 60 * 10 ** 9, "s": 10 ** 9, "ms": 10 ** 6,
               "us": 10 ** 3, "ns": 1}


def time_offset(value: str) -> str:
    """LXC keeps h/m/s offsets in seconds and ms/us/ns in nanoseconds, and prints them so."""
    m = _re().fullmatch(r"(-?[0-9]{1,18})\s*(h|m|s|ms|us|ns)", value.strip())
    if not m:
        raise ValueError(f"invalid time offset \"{value}\": a number with a unit "
                         "h, m, s, ms, us or ns")
    n, unit = int(m.group(1)), m.group(2)
    if unit in ("h", "m", "s"):
        return f"{n * _TIME_UNITS[unit] // 10 ** 9} s"
    return f"{n * _TIME_UNITS[unit]} ns"


def parse_time_offset(value: str) -> int:
    """Nanoseconds."""
    num, unit = value.split()
    return int(num) * _TIME_UNITS[unit]


# -- identities ---------------------------------------------------------------------------


def idmap(value: str) -> str:
    parts = value.split()
    if len(parts) != 4 or parts[0] not in ("u", "g", "b"):
        raise ValueError(f"invalid idmap \"{value}\": expected \"u|g|b NSID HOSTID RANGE\"")
    nums = []
    for p in parts[1:]:
        if not p.isdigit() or int(p) >= 2 ** 32:
            raise ValueError(f"invalid idmap \"{value}\": \"{p}\" is not an id")
        nums.append(int(p))
    if nums[2] == 0:
        raise ValueError(f"invalid idmap \"{value}\": range must not be 0")
    if nums[0] + nums[2] > 2 ** 32 or nums[1] + nums[2] > 2 ** 32:
        raise ValueError(f"invalid idmap \"{value}\": range overflows")
    return " ".join([parts[0]] + [str(n) for n in nums])


def parse_idmap(value: str) -> Tuple[str, int, int, int]:
    t, a, b, c = value.split()
    return (t, int(a), int(b), int(c))


def gid_list(value: str) -> str:
    out = []
    for p in value.split(","):
        p = p.strip()
        if not p.isdigit():
            raise ValueError(f"invalid group list \"{value}\": \"{p}\" is not a group id")
        out.append(str(int(p)))
    return ",".join(out)


def split_commas(values: List[str]) -> List[str]:
    """The view of lxc.init.groups: every line's comma-separated ids, in order."""
    return [g for v in values for g in v.split(",")]


def hostname(value: str) -> str:
    if len(value.encode("utf-8", "surrogateescape")) > 64 or "\n" in value:
        raise ValueError(f"invalid host name \"{value[:20]}...\": longer than 64 bytes"
                         if len(value) > 20 else f"invalid host name \"{value}\"")
    return value


def mount_auto_effective(words: List[str]) -> List[str]:
    """What a list of lxc.mount.auto words amounts to, as LXC prints it.

    Each family (proc, sys, cgroup/cgroup2/cgroup-full, shmounts) keeps its last word;
    bare ``proc`` and ``sys`` mean ``proc:mixed`` and ``sys:mixed``.
    """
    last = {}
    for w in words:
        if w in ("proc", "sys"):
            w += ":mixed"
        family = "shmounts" if w.startswith("shmounts:") else w.split(":")[0].split("-")[0]
        if family == "cgroup2":
            family = "cgroup"
        last[family] = w
    return [last[f] for f in ("proc", "sys", "cgroup", "shmounts") if f in last]


def environment(value: str) -> str:
    name = value.split("=", 1)[0]
    if not name or any(c.isspace() for c in name):
        raise ValueError(f"invalid environment variable \"{value}\"")
    return value


# -- logging ----------------------------------------------------------------------------

LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "NOTICE", "WARN", "ERROR", "CRIT", "ALERT", "FATAL")


def log_level(value: str) -> str:
    text = value.strip()
    if text.isdigit() and int(text) < len(LOG_LEVELS):
        return LOG_LEVELS[int(text)]
    up = text.upper()
    if up == "WARNING":
        up = "WARN"
    if up in LOG_LEVELS:
        return up
    raise ValueError(f"invalid log level \"{value}\": one of {', '.join(LOG_LEVELS)} or 0-8")


SYSLOG_FACILITIES = ("daemon", "local0", "local1", "local2", "local3", "local4", "local5",
                     "local6", "local7", "auth", "authpriv", "cron", "kern", "lpr", "mail",
                     "news", "syslog", "user", "uucp")

# -- mounts, namespaces, capabilities ------------------------------------------------------

MOUNT_AUTO = (
    "proc", "proc:mixed", "proc:rw", "sys", "sys:ro", "sys:mixed", "sys:rw",
    "cgroup2", "cgroup2:ro", "cgroup2:force", "cgroup2:ro:force",
    "cgroup", "cgroup:mixed", "cgroup:ro", "cgroup:rw", "cgroup:force",
    "cgroup:mixed:force", "cgroup:ro:force", "cgroup:rw:force",
    "cgroup-full", "cgroup-full:mixed", "cgroup-full:ro", "cgroup-full:rw",
    "cgroup-full:force", "cgroup-full:mixed:force", "cgroup-full:ro:force",
    "cgroup-full:rw:force",
)


def mount_auto(value: str) -> str:
    words = value.split()
    for w in words:
        if w in MOUNT_AUTO:
            continue
        if w.startswith("shmounts:") and len(w) > len("shmounts:"):
            continue
        raise ValueError(f"invalid lxc.mount.auto word \"{w}\"")
    return " ".join(words)


def mount_entry(value: str) -> str:
    fields = value.split()
    if len(fields) < 3:
        raise ValueError(f"invalid mount entry \"{value}\": expected at least "
                         "\"SOURCE TARGET FSTYPE\"")
    return value


NAMESPACES = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")


def capabilities(value: str) -> str:
    words = value.split()
    for w in words:
        if not all(c.isascii() and (c.isalnum() or c == "_") for c in w):
            raise ValueError(f"invalid capability \"{w}\"")
    return " ".join(words)


def cap_keep(value: str) -> str:
    return capabilities(value)


# -- architecture -------------------------------------------------------------------------

ARCH_32 = ("arm", "armel", "armhf", "armv7l", "athlon", "i386", "i486", "i586", "i686",
           "linux32", "mips", "mipsel", "ppc", "powerpc", "x86")
ARCH_64 = ("aarch64", "amd64", "arm64", "linux64", "mips64", "mips64el", "ppc64", "ppc64el",
           "ppc64le", "powerpc64", "riscv64", "s390x", "x86_64")


def arch(value: str) -> str:
    if value not in ARCH_32 + ARCH_64:
        raise ValueError(f"invalid architecture \"{value}\"")
    return value


# -- networks -------------------------------------------------------------------------------

NET_TYPES = ("none", "empty", "veth", "vlan", "macvlan", "ipvlan", "phys")

def hwaddr(value: str) -> str:
    if not _re().fullmatch(r"(?:[0-9a-fA-Fx]{2}:){5}[0-9a-fA-Fx]{2}", value):
        raise ValueError(f"invalid hardware address \"{value}\": expected "
                         "xx:xx:xx:xx:xx:xx (hex digits, x for random)")
    return value


def ifname(value: str) -> str:
    if len(value) >= 16 or "/" in value or any(c.isspace() for c in value) or value in (
            ".", ".."):
        raise ValueError(f"invalid interface name \"{value}\"")
    return value


def mtu(value: str) -> str:
    n = _int(value, "an MTU")
    if not 0 < n < 2 ** 31:
        raise ValueError(f"invalid MTU \"{value}\"")
    return str(n)


def vlan_id(value: str) -> str:
    if value.strip() == "none":  # veth.vlan.id: leave the bridge's default untagged VLAN
        return "none"
    n = _int(value, "a VLAN id")
    if not 0 <= n <= 4094:
        raise ValueError(f"invalid VLAN id \"{value}\": 0-4094")
    return str(n)


def _ipaddress() -> Any:
    import ipaddress

    return ipaddress


def ipv4_address(value: str) -> str:
    """``A.B.C.D[/PREFIX] [BROADCAST]``; without a prefix LXC takes the classful one."""
    ip = _ipaddress()
    parts = value.split()
    if not 1 <= len(parts) <= 2:
        raise ValueError(f"invalid IPv4 address \"{value}\"")
    addr, slash, prefix = parts[0].partition("/")
    try:
        a = ip.IPv4Address(addr)
        if slash and not (prefix.isdigit() and int(prefix) <= 32):
            raise ValueError
        if len(parts) == 2:
            ip.IPv4Address(parts[1])
    except ValueError:
        raise ValueError(f"invalid IPv4 address \"{value}\"") from None
    if not slash:
        first = int(a) >> 24
        prefix = "8" if first < 128 else "16" if first < 192 else "24" if first < 224 else "0"
    return " ".join([f"{addr}/{int(prefix)}"] + parts[1:])


def ipv6_address(value: str) -> str:
    """``ADDR[/PREFIX]``; the prefix defaults to 64 as in LXC."""
    ip = _ipaddress()
    addr, slash, prefix = value.strip().partition("/")
    try:
        ip.IPv6Address(addr)
        if slash and not (prefix.isdigit() and int(prefix) <= 128):
            raise ValueError
    except ValueError:
        raise ValueError(f"invalid IPv6 address \"{value}\"") from None
    return f"{addr}/{int(prefix) if slash else 64}"


def ipv4_gateway(value: str) -> str:
    if value in ("auto", "dev"):
        return value
    try:
        _ipaddress().IPv4Address(value)
    except ValueError:
        raise ValueError(f"invalid IPv4 gateway \"{value}\": an address, auto or dev") from None
    return value


def ipv6_gateway(value: str) -> str:
    if value in ("auto", "dev"):
        return value
    try:
        _ipaddress().IPv6Address(value)
    except ValueError:
        raise ValueError(f"invalid IPv6 gateway \"{value}\": an address, auto or dev") from None
    return value


def ipv4_route(value: str) -> str:
    try:
        _ipaddress().IPv4Network(value, strict=False)
    except ValueError:
        raise ValueError(f"invalid IPv4 route \"{value}\"") from None
    if "/" not in value:
        raise ValueError(f"invalid IPv4 route \"{value}\": needs /PREFIX")
    return value


def ipv6_route(value: str) -> str:
    try:
        _ipaddress().IPv6Network(value, strict=False)
    except ValueError:
        raise ValueError(f"invalid IPv6 route \"{value}\"") from None
    if "/" not in value:
        raise ValueError(f"invalid IPv6 route \"{value}\": needs /PREFIX")
    return value


# -- prefixed families ------------------------------------------------------------------------

PRLIMITS = ("as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
            "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack")


def prlimit_name(sub: str) -> None:
    if sub not in PRLIMITS:
        raise ValueError(f"unknown resource limit \"{sub}\"")


def _limit(text: str, whole: str) -> int:
    if text == "unlimited":
        return -1
    if not text.isdigit():
        raise ValueError(f"invalid limit \"{whole}\": numbers or unlimited, as SOFT[:HARD]")
    return int(text)


def prlimit(value: str) -> str:
    soft, colon, hard = value.partition(":")
    _limit(soft, value)
    if colon:
        _limit(hard, value)
    return value


def parse_prlimit(value: str) -> Tuple[int, int]:
    """(soft, hard); -1 is unlimited."""
    soft, colon, hard = value.partition(":")
    s = _limit(soft, value)
    return (s, _limit(hard, value) if colon else s)


def namespace_name(sub: str) -> None:
    if sub not in NAMESPACES:
        raise ValueError(f"unknown namespace \"{sub}\"")


def nonempty_sub(sub: str) -> None:
    if not sub or sub.endswith(".") or len(sub.split()) != 1 or sub.strip() != sub:
        raise ValueError(f"invalid key suffix \"{sub}\"")


def proc_name(sub: str) -> None:
    if not _re().fullmatch(r"[A-Za-z0-9_.\-/]+", sub) or ".." in sub:
        raise ValueError(f"invalid /proc file \"{sub}\"")


def seccomp_proxy(value: str) -> str:
    if not value.startswith("unix:") or len(value) <= 5:
        raise ValueError(f"invalid seccomp notify proxy \"{value}\": expected unix:PATH")
    return value


def single_dir_name(value: str) -> str:
    if "/" in value or value in (".", ".."):
        raise ValueError(f"invalid directory name \"{value}\": must be a single name")
    return value


def relative_path(value: str) -> str:
    if value.startswith("/") or ".." in value.split("/"):
        raise ValueError(f"invalid cgroup path \"{value}\": must be relative, without ..")
    return value


def hook_version(value: str) -> str:
    if value.strip() not in ("0", "1"):
        raise ValueError(f"invalid hook version \"{value}\": must be 0 or 1")
    return value.strip()


def console_rotate(value: str) -> str:
    return boolean(value)

