"""Resource limits and per-container kernel settings: lxc.prlimit.*, lxc.sysctl.*,
lxc.proc.*, lxc.keyring.session and lxc.arch.

Public API (every function raises ``lxcz.errors.LxczError`` with a one-line cause; the
``check_*`` functions are meant for the parent, before anything is started):

- ``PRLIMITS``: the names ``man 5 lxc.container.conf`` lists (``as``, ``core``, ``cpu``,
  ``data``, ``fsize``, ``locks``, ``memlock``, ``msgqueue``, ``nice``, ``nofile``,
  ``nproc``, ``rss``, ``rtprio``, ``rttime``, ``sigpending``, ``stack``).
- ``parse_limit(value) -> (soft, hard)``: ``"1024"``, ``"1024:4096"``, ``"unlimited"``,
  ``"0:unlimited"``, an int, or a ``(soft, hard)`` pair; -1 and ``unlimited`` both mean
  RLIM_INFINITY (returned as -1).
- ``check_prlimits(limits: dict) -> dict[str, (soft, hard)]``: unknown names, bad values,
  soft above hard.
- ``apply_prlimits(pid, limits) -> None``: prlimit(2) on ``pid`` from the parent (what LXC
  does right after clone); ``pid=0`` means the calling process (setrlimit in the child).
  Raising a hard limit needs CAP_SYS_RESOURCE.
- ``check_sysctls(settings: dict, proc="/proc") -> None``: names (``net.ipv4.ip_forward``
  or ``net/ipv4/ip_forward``) must be sysctls the container's namespaces own (``net.*``,
  ``kernel.shm*``, ``kernel.msg*``, ``kernel.sem``, ``fs.mqueue.*``, ``kernel.hostname``,
  ``kernel.domainname``, ``user.*``) and must exist on this kernel.
- ``apply_sysctls(settings, proc="/proc") -> None``: in the child, inside the container's
  namespaces: write each value to ``/proc/sys/...``.
- ``apply_proc(pid, settings, proc="/proc") -> None``: write each ``lxc.proc.KEY`` value to
  ``/proc/PID/KEY`` of the init (e.g. ``oom_score_adj``), from the parent.
- ``join_session_keyring() -> int | None``: in the child: a fresh anonymous session keyring
  so the container does not share the host's. Like LXC, a kernel or seccomp policy that
  refuses keyctl (ENOSYS, EACCES, EPERM) is not an error (returns None).
- ``apply_personality(arch_word) -> int | None``: in the child: personality(2) for an
  ``lxc.arch`` word (``i686``, ``linux32``, ``x86_64``...); None/empty does nothing.
  Returns the value set.
"""

from __future__ import annotations

import errno
import os

from lxcz.errors import LxczError

PRLIMITS = ("as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
            "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack")

# asm-generic/resource.h numbering, used where the resource module lacks a constant;
# the module's values (from the C headers) win, so arches with their own numbering work.
_GENERIC = {"cpu": 0, "fsize": 1, "data": 2, "stack": 3, "core": 4, "rss": 5, "nproc": 6,
            "nofile": 7, "memlock": 8, "as": 9, "locks": 10, "sigpending": 11,
            "msgqueue": 12, "nice": 13, "rtprio": 14, "rttime": 15}

# Sysctls that belong to a namespace a container gets: prefixes and exact names.
NAMESPACED_PREFIXES = ("net.", "fs.mqueue.", "kernel.shm", "kernel.msg", "user.")
NAMESPACED_NAMES = ("kernel.sem", "kernel.sem_next_id", "kernel.hostname",
                    "kernel.domainname")

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Mapping, Optional, Tuple, Union

    Limit = Union[str, int, Tuple[int, int]]


def rlimit_number(name: str) -> int:
    import resource

    if name not in PRLIMITS:
        raise LxczError(f'unknown resource limit "lxc.prlimit.{name}" (known: '
                        f"{', '.join(PRLIMITS)})")
    return int(getattr(resource, "RLIMIT_" + name.upper(), _GENERIC[name]))


def _one(text: str, whole: str, name: str) -> int:
    text = text.strip()
    if text == "unlimited":
        return -1
    if not text.isdigit():
        raise LxczError(f'invalid value "{whole}" for lxc.prlimit.{name}: expected '
                        "SOFT[:HARD] with numbers or unlimited")
    n = int(text)
    if n >= 2 ** 64 - 1:
        raise LxczError(f'invalid value "{whole}" for lxc.prlimit.{name}: too large')
    return n


def parse_limit(value: Limit, name: str = "?") -> Tuple[int, int]:
    if isinstance(value, tuple):
        soft, hard = (int(v) for v in value)
    elif isinstance(value, int) and not isinstance(value, bool):
        soft = hard = value
    else:
        text = str(value)
        s, colon, h = text.partition(":")
        soft = _one(s, text, name)
        hard = _one(h, text, name) if colon else soft
    for v in (soft, hard):
        if v < -1:
            raise LxczError(f'invalid value "{value}" for lxc.prlimit.{name}')
    if hard != -1 and (soft == -1 or soft > hard):
        raise LxczError(f'invalid value "{value}" for lxc.prlimit.{name}: the soft '
                        "limit is above the hard limit")
    return soft, hard


def check_prlimits(limits: Mapping[str, Limit]) -> Dict[str, Tuple[int, int]]:
    out = {}
    for name, value in limits.items():
        rlimit_number(name)
        out[name] = parse_limit(value, name)
    return out


def apply_prlimits(pid: int, limits: Mapping[str, Limit]) -> None:
    import resource

    parsed = check_prlimits(limits)
    inf = resource.RLIM_INFINITY
    for name, (soft, hard) in parsed.items():
        pair = (inf if soft == -1 else soft, inf if hard == -1 else hard)
        try:
            if pid in (0, os.getpid()):
                resource.setrlimit(rlimit_number(name), pair)
            else:
                resource.prlimit(pid, rlimit_number(name), pair)
        except (OSError, ValueError) as e:
            why = getattr(e, "strerror", None) or str(e)
            if getattr(e, "errno", None) == errno.EPERM or "not allowed" in why:
                why += " (raising a hard limit needs CAP_SYS_RESOURCE)"
            shown = ":".join("unlimited" if v == -1 else str(v) for v in (soft, hard))
            raise LxczError(f"lxc.prlimit.{name} = {shown}: cannot set it on process "
                            f"{pid or os.getpid()}: {why}") from None


# -- sysctls -------------------------------------------------------------------------------

def _dotted(name: str) -> str:
    return name.strip().strip("/").replace("/", ".")


def _path(name: str, proc: str) -> str:
    return os.path.join(proc, "sys", *_dotted(name).split("."))


def _namespaced(name: str) -> bool:
    return name.startswith(NAMESPACED_PREFIXES) or name in NAMESPACED_NAMES


def _exists(name: str, proc: str) -> bool:
    if os.path.isfile(_path(name, proc)):
        return True
    # per-interface settings exist only once the interface is in the namespace:
    # net.ipv4.conf.eth0.forwarding is known when net.ipv4.conf.default.forwarding is
    parts = name.split(".")
    if len(parts) >= 5 and parts[0] == "net" and parts[2] in ("conf", "neigh"):
        alt = ".".join(parts[:3] + ["default"] + parts[4:])
        return os.path.isfile(_path(alt, proc))
    return False


def check_sysctls(settings: Mapping[str, str], proc: str = "/proc") -> None:
    for raw, value in settings.items():
        name = _dotted(raw)
        if not name or ".." in name or any(not p for p in name.split(".")):
            raise LxczError(f'invalid sysctl name "lxc.sysctl.{raw}"')
        if not _namespaced(name):
            raise LxczError(f'lxc.sysctl.{name}: not a namespaced sysctl (only net.*, '
                            "kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*, "
                            "kernel.hostname, kernel.domainname, user.*): setting it "
                            "would change the host")
        if not _exists(name, proc):
            raise LxczError(f"unknown sysctl lxc.sysctl.{name}: this kernel has no "
                            f"{_path(name, proc)}")
        if "\n" in str(value):
            raise LxczError(f"lxc.sysctl.{name}: the value must be one line")


def apply_sysctls(settings: Mapping[str, str], proc: str = "/proc") -> None:
    check_sysctls(settings, proc)
    for raw, value in settings.items():
        name = _dotted(raw)
        path = _path(name, proc)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise LxczError(f"unknown sysctl lxc.sysctl.{name}: no {path} in the "
                            "container") from None
        except OSError as e:
            raise LxczError(f"lxc.sysctl.{name}: cannot open {path}: {e.strerror}") from None
        try:
            os.write(fd, str(value).encode())
        except OSError as e:
            raise LxczError(f'lxc.sysctl.{name} = {value}: {e.strerror}') from None
        finally:
            os.close(fd)


# -- /proc/PID/... ---------------------------------------------------------------------------

def apply_proc(pid: int, settings: Mapping[str, str], proc: str = "/proc") -> None:
    for key, value in settings.items():
        parts = key.strip("/").split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise LxczError(f'invalid lxc.proc key "lxc.proc.{key}"')
        path = os.path.join(proc, str(pid), *parts)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise LxczError(f"lxc.proc.{key}: no such file {path}") from None
        except OSError as e:
            raise LxczError(f"lxc.proc.{key}: cannot open {path}: {e.strerror}") from None
        try:
            os.write(fd, str(value).encode())
        except OSError as e:
            raise LxczError(f"lxc.proc.{key} = {value}: writing {path}: {e.strerror}") \
                from None
        finally:
            os.close(fd)


# -- keyring, personality -----------------------------------------------------------------

def join_session_keyring() -> Optional[int]:
    from lxcz.sys import keyring

    try:
        return keyring.join_session_keyring()
    except OSError as e:
        if e.errno in (errno.ENOSYS, errno.EACCES, errno.EPERM):
            from lxcz.log import log

            log.debug("no new session keyring: %s", e)
            return None
        raise LxczError(f"cannot create a session keyring: {e.strerror}") from None


def personality_value(arch_word: str) -> int:
    from lxcz.sys import arch

    try:
        return arch.personality(arch_word)
    except ValueError:
        raise LxczError(f'unknown architecture "lxc.arch = {arch_word}"') from None


def apply_personality(arch_word: Optional[str]) -> Optional[int]:
    if not arch_word or not arch_word.strip():
        return None
    value = personality_value(arch_word)
    from lxcz.sys import calls

    try:
        calls.personality(value)
    except OSError as e:
        raise LxczError(f"lxc.arch = {arch_word}: personality({value:#x}) failed: "
                        f"{e.strerror}") from None
    return value
