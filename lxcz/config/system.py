"""The system configuration, lxc.system.conf(5): /etc/lxc/lxc.conf and its defaults.

As root LXC reads /etc/lxc/lxc.conf; any other user reads ~/.config/lxc/lxc.conf and has
per-user defaults (lxcpath ~/.local/share/lxc, default config ~/.config/lxc/default.conf).
A key's value is the first line ``KEY = VALUE`` (blanks allowed around the key and the
``=``; lines starting with ``#`` skipped) with a non-empty value; the trailing newline is
removed and, for lxc.lxcpath, trailing slashes. Values are read once per process, like LXC.
LXC 5 honours no environment variable here; neither does lxcz.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple

GLOBAL_CONF = "/etc/lxc/lxc.conf"
GLOBAL_DEFAULT_CONFIG = "/etc/lxc/default.conf"
GLOBAL_LXCPATH = "/var/lib/lxc"

# The keys lxc-config lists, in its order.
LISTED = ("lxc.default_config", "lxc.lxcpath", "lxc.bdev.lvm.vg", "lxc.bdev.lvm.thin_pool",
          "lxc.bdev.zfs.root", "lxc.cgroup.use", "lxc.cgroup.pattern")
# Keys LXC's lxc_global_config_value knows, with their fixed defaults (None: unset).
KNOWN: Dict[str, Optional[str]] = {
    "lxc.bdev.lvm.vg": "lxc",
    "lxc.bdev.lvm.thin_pool": "lxc",
    "lxc.bdev.zfs.root": "lxc",
    "lxc.bdev.rbd.rbdpool": "lxc",
    "lxc.lxcpath": None,
    "lxc.default_config": None,
    "lxc.cgroup.pattern": None,
    "lxc.cgroup.use": None,
}

_cache: Dict[Tuple[str, int, str], Optional[str]] = {}


def _identity() -> Tuple[int, str]:
    return os.geteuid(), os.environ.get("HOME") or "/"


def config_path(euid: Optional[int] = None, home: Optional[str] = None) -> str:
    """The system configuration file for this user."""
    if euid is None:
        euid, home = _identity()
    if euid == 0:
        return GLOBAL_CONF
    return os.path.join(home or "/", ".config/lxc/lxc.conf")


def _defaults(euid: int, home: str) -> Dict[str, Optional[str]]:
    d = dict(KNOWN)
    if euid == 0:
        d["lxc.lxcpath"] = GLOBAL_LXCPATH
        d["lxc.default_config"] = GLOBAL_DEFAULT_CONFIG
    else:
        d["lxc.lxcpath"] = os.path.join(home, ".local/share/lxc")
        d["lxc.default_config"] = os.path.join(home, ".config/lxc/default.conf")
    return d


def _from_file(path: str, key: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().split("\n")
    except (OSError, ValueError):
        return None
    for line in lines:
        if line.startswith("#"):
            continue
        s = line.lstrip(" \t")
        if not s.startswith(key):
            continue
        rest = s[len(key):].lstrip(" \t")
        if not rest.startswith("="):
            continue
        value = rest[1:].lstrip(" \t").rstrip("\r")
        if not value:
            continue
        return value
    return None


def get(key: str, euid: Optional[int] = None, home: Optional[str] = None) -> Optional[str]:
    """The value of a system key, its default, or None when unset or not a system key."""
    if euid is None:
        euid, home = _identity()
    home = home or "/"
    if key not in KNOWN:
        return None
    cache_key = (key, euid, home)
    if cache_key in _cache:
        return _cache[cache_key]
    value = _from_file(config_path(euid, home), key)
    if value is None:
        value = _defaults(euid, home)[key]
    if key == "lxc.lxcpath" and value:
        value = value.rstrip("/") or "/"
    _cache[cache_key] = value
    return value


def reset() -> None:
    """Forget cached values (tests; a long-lived process after editing lxc.conf)."""
    _cache.clear()


def default_lxcpath() -> str:
    value = get("lxc.lxcpath")
    assert value is not None
    return value


def default_config_path() -> str:
    value = get("lxc.default_config")
    assert value is not None
    return value


def all_items() -> List[Tuple[str, Optional[str]]]:
    """(key, value) for every key lxc-config lists, in its order."""
    return [(k, get(k)) for k in LISTED]
