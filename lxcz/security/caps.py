"""Capabilities: lxc.cap.drop / lxc.cap.keep words, the resulting set, applying it.

Public API:

- ``resolve(drop: list[str], keep: list[str]) -> set[int]``: the capabilities the container
  KEEPS in its bounding set, given every ``lxc.cap.drop`` and ``lxc.cap.keep`` value in
  config order (each value may hold several words separated by blanks). Words are
  capability names with or without ``CAP_`` in any case (``sys_admin``, ``CAP_SYS_ADMIN``)
  or numbers up to the running kernel's last capability; ``none`` in ``lxc.cap.keep``
  forgets the keep words before it (``none`` alone keeps nothing). Using both keys is an
  error, as in LXC 5. Raises ``lxcz.errors.ConfigError`` (without path/line: the config
  layer knows those; it can call ``check_value`` per line to get them).
- ``check_value(value: str, keep: bool) -> list[int | None]``: validate one config value
  (``None`` stands for ``none``).
- ``parse_cap(word) -> int``, ``cap_name(nr) -> str``, ``last_cap() -> int`` (from
  ``/proc/sys/kernel/cap_last_cap``), ``all_caps() -> set[int]``.
- ``apply(keep: set[int]) -> None``: in the container's init, before it execs anything:
  drops every other capability from the bounding set (PR_CAPBSET_DROP, what LXC 5 does),
  lowers them from the ambient set, and removes them from the inheritable, permitted and
  effective sets (capset through ``lxcz.sys.capabilities.capget``/``capset``). After execve the
  program cannot hold a capability outside ``keep``. Raises OSError from the kernel.
  Order in the runtime: load the seccomp filter first (loading needs CAP_SYS_ADMIN in the
  effective set or no_new_privs), then ``apply``, then execve.
- ``current() -> dict``: the calling process's sets as read from /proc/self/status.
"""

from __future__ import annotations

from lxcz.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Iterable, List, Optional, Set

# linux/capability.h, in number order
CAP_NAMES = (
    "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid",
    "setuid", "setpcap", "linux_immutable", "net_bind_service", "net_broadcast",
    "net_admin", "net_raw", "ipc_lock", "ipc_owner", "sys_module", "sys_rawio",
    "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
    "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write",
    "audit_control", "setfcap", "mac_override", "mac_admin", "syslog", "wake_alarm",
    "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
)
_BY_NAME = {name: nr for nr, name in enumerate(CAP_NAMES)}

PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_LOWER = 3

_last_cap: Optional[int] = None


def last_cap() -> int:
    """The highest capability number the running kernel knows."""
    global _last_cap
    if _last_cap is None:
        try:
            with open("/proc/sys/kernel/cap_last_cap") as f:
                _last_cap = int(f.read().strip())
        except (OSError, ValueError):
            _last_cap = len(CAP_NAMES) - 1
    return _last_cap


def all_caps() -> Set[int]:
    return set(range(last_cap() + 1))


def cap_name(nr: int) -> str:
    return CAP_NAMES[nr] if 0 <= nr < len(CAP_NAMES) else str(nr)


def parse_cap(word: str) -> int:
    """One capability word -> its number; ConfigError for anything else."""
    text = word.strip()
    low = text.lower()
    if low.startswith("cap_"):
        low = low[4:]
    if low in _BY_NAME:
        return _BY_NAME[low]
    if text.isdigit():
        nr = int(text)
        if nr > last_cap():
            raise ConfigError(f'capability {nr} does not exist on this kernel '
                              f'(last is {last_cap()})')
        return nr
    raise ConfigError(f'unknown capability "{text}"')


def check_value(value: str, keep: bool) -> List[Optional[int]]:
    """Validate one lxc.cap.keep (keep=True) or lxc.cap.drop value."""
    out: List[Optional[int]] = []
    for word in value.split():
        if word.lower() == "none":
            if not keep:
                raise ConfigError('"none" is only valid in lxc.cap.keep')
            out.append(None)
        else:
            out.append(parse_cap(word))
    return out


def resolve(drop: Iterable[str], keep: Iterable[str]) -> Set[int]:
    """The capability numbers the container keeps in its bounding set."""
    drop = [v for v in drop if v and v.strip()]
    keep = [v for v in keep if v and v.strip()]
    if drop and keep:
        raise ConfigError("lxc.cap.drop and lxc.cap.keep are mutually exclusive")
    present = all_caps()
    if keep:
        kept: Set[int] = set()
        for value in keep:
            for nr in check_value(value, True):
                if nr is None:
                    kept.clear()
                else:
                    kept.add(nr)
        return kept & present
    dropped: Set[int] = set()
    for value in drop:
        dropped.update(nr for nr in check_value(value, False) if nr is not None)
    return present - dropped


def _mask(caps: Iterable[int]) -> int:
    m = 0
    for c in caps:
        m |= 1 << c
    return m


def current() -> Dict[str, int]:
    """CapInh/CapPrm/CapEff/CapBnd/CapAmb of this process as integers."""
    out: Dict[str, int] = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Cap"):
                key, val = line.split(":", 1)
                out[key] = int(val.strip(), 16)
    return out


def apply(keep: Set[int]) -> None:
    """Reduce every capability set of the calling process to ``keep``."""
    from lxcz.sys import calls

    keep_mask = _mask(keep)
    for nr in range(last_cap() + 1):
        if nr not in keep:
            try:
                calls.capbset_drop(nr)
            except OSError as e:
                if e.errno != 22:  # EINVAL: the kernel does not know it
                    raise
    sets = current()
    for nr in range(last_cap() + 1):
        if sets.get("CapAmb", 0) >> nr & 1 and nr not in keep:
            calls.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, nr)
    extra = (sets.get("CapInh", 0) | sets.get("CapPrm", 0) | sets.get("CapEff", 0)) & ~keep_mask
    if not extra:
        return
    from lxcz.sys import capabilities

    eff, prm, inh = capabilities.capget()
    capabilities.capset(eff & keep_mask, prm & keep_mask, inh & keep_mask)
