"""Facts about the running system that lxc-checkconfig reports next to the kernel options.

Everything here reads /proc, /sys and PATH; nothing is changed. The paths are parameters
so tests can point them at a fake tree.
"""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Set


class System:
    """What gather() found; every field may be passed to the constructor (tests do)."""

    def __init__(self, **kw: object) -> None:
        self.cgroup_v1_mounts: List[str] = []
        self.cgroup_v2_mounts: List[str] = []
        # upstream's checks for v1 layouts (None: skipped, cgroup2 is at /sys/fs/cgroup)
        self.v1_systemd_missing: Optional[bool] = None
        self.v1_freezer_missing: Optional[bool] = None
        self.v1_clone_children: Optional[bool] = None
        self.namespace_limits: Dict[str, int] = {}
        self.unprivileged_userns_clone: Optional[int] = None
        self.namespaces: List[str] = []
        self.uidmap: Dict[str, Optional[Dict[str, object]]] = {}
        self.loaded_modules: Optional[Set[str]] = None
        for key, val in kw.items():
            if not hasattr(self, key):
                raise TypeError(f"System has no field {key!r}")
            setattr(self, key, val)

    def to_json(self) -> Dict[str, object]:
        return {
            "cgroup_v1_mounts": self.cgroup_v1_mounts,
            "cgroup_v2_mounts": self.cgroup_v2_mounts,
            "cgroup_v1_systemd_missing": self.v1_systemd_missing,
            "cgroup_v1_freezer_missing": self.v1_freezer_missing,
            "cgroup_v1_clone_children": self.v1_clone_children,
            "namespace_limits": self.namespace_limits,
            "unprivileged_userns_clone": self.unprivileged_userns_clone,
            "namespaces": self.namespaces,
            "uidmap": self.uidmap,
        }


def _unescape(path: str) -> str:
    # /proc/self/mounts escapes space, tab, newline and backslash as \ooo
    if "\\" not in path:
        return path
    out, i = [], 0
    while i < len(path):
        if path[i] == "\\" and path[i + 1:i + 4].isdigit():
            out.append(chr(int(path[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(path[i])
            i += 1
    return "".join(out)


def cgroup_mounts(mounts_file: str = "/proc/self/mounts") -> Dict[str, List[str]]:
    v1: List[str] = []
    v2: List[str] = []
    try:
        with open(mounts_file) as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3 or parts[0].startswith("#"):
                    continue
                if parts[2] == "cgroup":
                    v1.append(_unescape(parts[1]))
                elif parts[2] == "cgroup2":
                    v2.append(_unescape(parts[1]))
    except OSError:
        pass
    return {"v1": v1, "v2": v2}


def loaded_modules(modules_file: str = "/proc/modules") -> Optional[Set[str]]:
    """Names of the loaded modules; None when the kernel has no module support."""
    names: Set[str] = set()
    try:
        with open(modules_file) as f:
            for line in f:
                names.add(line.split(" ", 1)[0])
    except OSError:
        return None
    return names


def which(name: str, path: Optional[str] = None) -> Optional[str]:
    for d in (path if path is not None else os.environ.get("PATH", "")).split(os.pathsep):
        cand = os.path.join(d or ".", name)
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return None


def uidmap_tools(path: Optional[str] = None) -> Dict[str, Optional[Dict[str, object]]]:
    """newuidmap/newgidmap: where they are and whether they can work (setuid or caps)."""
    out: Dict[str, Optional[Dict[str, object]]] = {}
    for tool in ("newuidmap", "newgidmap"):
        found = which(tool, path)
        if found is None:
            out[tool] = None
            continue
        st = os.stat(found)
        setuid = bool(st.st_mode & stat.S_ISUID) and st.st_uid == 0
        try:
            fcaps = os.getxattr(found, "security.capability") is not None
        except (OSError, AttributeError):
            fcaps = False
        out[tool] = {"path": found, "setuid": setuid, "file_caps": fcaps}
    return out


def gather(proc: str = "/proc") -> System:
    sysinfo = System()
    m = cgroup_mounts(os.path.join(proc, "self/mounts"))
    sysinfo.cgroup_v1_mounts, sysinfo.cgroup_v2_mounts = m["v1"], m["v2"]
    if "/sys/fs/cgroup" not in sysinfo.cgroup_v2_mounts:
        # the same checks upstream makes on legacy and hybrid layouts
        sysinfo.v1_systemd_missing = not any("/systemd" in p for p in m["v1"])
        sysinfo.v1_freezer_missing = not any("/freezer" in p for p in m["v1"])
        if m["v1"]:
            sysinfo.v1_clone_children = os.path.isfile(
                os.path.join(m["v1"][0], "cgroup.clone_children"))
    limits_dir = os.path.join(proc, "sys/user")
    try:
        for name in sorted(os.listdir(limits_dir)):
            if name.startswith("max_") and name.endswith("_namespaces"):
                try:
                    with open(os.path.join(limits_dir, name)) as f:
                        sysinfo.namespace_limits[name[4:-11]] = int(f.read().strip())
                except (OSError, ValueError):
                    pass
    except OSError:
        pass
    try:
        with open(os.path.join(proc, "sys/kernel/unprivileged_userns_clone")) as f:
            sysinfo.unprivileged_userns_clone = int(f.read().strip())
    except (OSError, ValueError):
        pass
    try:
        sysinfo.namespaces = sorted(os.listdir(os.path.join(proc, "self/ns")))
    except OSError:
        pass
    sysinfo.uidmap = uidmap_tools()
    sysinfo.loaded_modules = loaded_modules(os.path.join(proc, "modules"))
    return sysinfo
