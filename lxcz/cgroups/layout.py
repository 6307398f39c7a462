"""Discover the host's cgroup hierarchies from mountinfo and /proc/PID/cgroup text.

Pure functions over text, so tests feed them any layout: legacy (cgroup v1 only),
hybrid (v1 controllers plus a cgroup2 mount, usually without controllers, as on
Debian 11/12 with systemd's hybrid mode) and unified (cgroup2 only).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple


# v1 super options that are not controllers
_NOT_CONTROLLERS = {
    "rw", "ro", "relatime", "noatime", "nodiratime", "strictatime", "nosuid", "nodev",
    "noexec", "clone_children", "noprefix", "xattr", "cpuset_v2_mode", "favordynmods",
    "nsdelegate", "memory_localevents", "memory_recursiveprot", "memory_hugetlb_accounting",
    "pids_localevents", "none", "sync", "dirsync", "mand", "lazytime",
}

LEGACY, HYBRID, UNIFIED = "legacy", "hybrid", "unified"
UNIFIED_KEY = "unified"


class Hierarchy:
    """One mounted cgroup hierarchy and where our base cgroup lies in it.

    ``key`` names the hierarchy in ``ContainerCgroup.paths``: the v1 controllers joined
    with ',' as /proc/self/cgroup spells them (``cpu,cpuacct``, ``name=systemd``), or
    ``unified`` for cgroup2. ``base`` is the base cgroup relative to the hierarchy's
    root without a leading '/', '' for the root; ``base_dir`` is its directory.
    """

    __slots__ = ("version", "mountpoint", "mount_root", "controllers", "key", "base",
                 "base_dir", "readonly")

    def __init__(self, version: int, mountpoint: str, mount_root: str,
                 controllers: List[str], key: str, base: str = "", base_dir: str = "",
                 readonly: bool = False) -> None:
        self.version = version
        self.mountpoint = mountpoint
        self.mount_root = mount_root
        self.controllers = controllers
        self.key = key
        self.base = base
        self.base_dir = base_dir
        self.readonly = readonly

    def __repr__(self) -> str:
        return (f"Hierarchy(v{self.version} {self.mountpoint!r} {self.key!r} "
                f"base={self.base!r})")

    def has(self, controller: str) -> bool:
        return controller in self.controllers


def _unescape(text: str) -> str:
    """mountinfo writes space, tab, newline and backslash as \\ooo octal escapes."""
    if "\\" not in text:
        return text
    import re

    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def parse_mountinfo(text: str) -> List[Hierarchy]:
    """Every cgroup (v1) and cgroup2 mount, first mount of each hierarchy only."""
    found: List[Hierarchy] = []
    seen = set()
    for line in text.splitlines():
        parts = line.split()
        if " - " not in line or len(parts) < 10:
            continue
        sep = parts.index("-")
        fstype = parts[sep + 1]
        if fstype not in ("cgroup", "cgroup2"):
            continue
        root = _unescape(parts[3])
        mountpoint = _unescape(parts[4])
        mount_opts = parts[5].split(",")
        super_opts = parts[sep + 3].split(",") if len(parts) > sep + 3 else []
        readonly = "ro" in mount_opts
        if fstype == "cgroup2":
            ident: Tuple[str, ...] = ("cgroup2",)
            h = Hierarchy(2, mountpoint, root, [], UNIFIED_KEY, readonly=readonly)
        else:
            ctrls = [o for o in super_opts
                     if o not in _NOT_CONTROLLERS and ("=" not in o or o.startswith("name="))]
            if not ctrls:
                continue
            ident = tuple(sorted(ctrls))
            h = Hierarchy(1, mountpoint, root, ctrls, ",".join(ctrls), readonly=readonly)
        if ident in seen:
            continue
        seen.add(ident)
        found.append(h)
    return found


def parse_proc_cgroup(text: str) -> Dict[str, str]:
    """/proc/PID/cgroup as {controller set key: path}; cgroup2's line under 'unified'.

    The key of a v1 line is its sorted controller list joined with ',', so it matches
    ``hierarchy_ident`` whatever order the kernel printed.
    """
    result: Dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, ctrls, path = parts
        if not ctrls:
            result[UNIFIED_KEY] = path
        else:
            result[",".join(sorted(ctrls.split(",")))] = path
    return result


def hierarchy_ident(h: Hierarchy) -> str:
    return UNIFIED_KEY if h.version == 2 else ",".join(sorted(h.controllers))


def classify(hierarchies: List[Hierarchy]) -> str:
    has_v1 = any(h.version == 1 for h in hierarchies)
    has_v2 = any(h.version == 2 for h in hierarchies)
    if has_v1 and has_v2:
        return HYBRID
    if has_v2:
        return UNIFIED
    return LEGACY


def prune_init_scope(path: str) -> str:
    """LXC places root's containers beside systemd's init.scope, not inside it."""
    if path.endswith("/init.scope"):
        path = path[: -len("/init.scope")] or "/"
    return path


def relative_to_mount(cgpath: str, mount_root: str) -> Optional[str]:
    """The cgroup path as seen below the mount, '' for the mount's root; None if the
    cgroup is outside what this mount shows."""
    cg = "/" + cgpath.strip("/")
    root = "/" + mount_root.strip("/")
    if root == "/":
        return cg.strip("/")
    if cg == root:
        return ""
    if cg.startswith(root + "/"):
        return cg[len(root) + 1:]
    return None
