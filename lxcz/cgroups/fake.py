"""An in-memory cgroupfs for tests: the manager runs over it without root or kernel.

``FakeCgroupFS(layout)`` mounts hierarchies like a host would ("legacy", "hybrid" as
on Debian 12 with systemd's hybrid mode, or "unified"), and imitates what the manager
relies on: mkdir creating the interface files of the hierarchy's controllers, one
process per cgroup per hierarchy via cgroup.procs, rmdir refusing busy cgroups, empty
v1 cpusets refusing tasks, the v1 freezer and cgroup.freeze/cgroup.events, cgroup.kill,
cgroup.subtree_control, value checks on the usual limit files, and /proc/PID/cgroup
and /proc/self/mountinfo generated from that state.
"""

from __future__ import annotations

import errno
import os
import re
import signal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Set, Tuple

_SIZE = re.compile(r"^-?\d+[kKmMgG]?$")
_DEVICE = re.compile(r"^(a|[abc] (\d+|\*):(\d+|\*) [rwm]{1,3})$")
_READONLY = ("cgroup.controllers", "cgroup.events", "devices.list", "cpu.stat",
             "memory.stat", "io.stat", "cpuacct.stat", "cpuacct.usage", "pids.current",
             "memory.current", "memory.usage_in_bytes", "memory.kmem.usage_in_bytes",
             "memory.memsw.usage_in_bytes", "blkio.throttle.io_service_bytes",
             "blkio.throttle.io_serviced")
V1_FILES = {
    "cpu": {"cpu.shares": "1024", "cpu.cfs_quota_us": "-1"},
    "cpuacct": {"cpuacct.usage": "0", "cpuacct.stat": "user 0\nsystem 0\n"},
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": ""},
    "memory": {"memory.limit_in_bytes": "9223372036854771712", "memory.usage_in_bytes": "0",
               "memory.memsw.usage_in_bytes": "0",
               "memory.memsw.limit_in_bytes": "9223372036854771712",
               "memory.kmem.usage_in_bytes": "0",
               "memory.kmem.limit_in_bytes": "9223372036854771712"},
    "devices": {"devices.allow": "", "devices.deny": "", "devices.list": "a *:* rwm\n"},
    "freezer": {"freezer.state": "THAWED"},
    "blkio": {"blkio.throttle.io_service_bytes": "Total 0\n",
              "blkio.throttle.io_serviced": "Total 0\n"},
    "pids": {"pids.max": "max", "pids.current": "0"},
}
V2_FILES = {
    "memory": {"memory.current": "0", "memory.max": "max", "memory.swap.current": "0",
               "memory.swap.max": "max",
               "memory.stat": "anon 0\nfile 0\nkernel 0\nkernel_stack 0\npagetables 0\n"
                              "sock 0\nslab 0\n"},
    "pids": {"pids.max": "max", "pids.current": "0"},
    "io": {"io.stat": "", "io.max": ""},
    "cpu": {"cpu.max": "max 100000", "cpu.weight": "100"},
    "hugetlb": {"hugetlb.2MB.max": "max"},
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": ""},
}
LAYOUTS = {
    "legacy": [("/sys/fs/cgroup/cpu,cpuacct", 1, ["cpu", "cpuacct"]),
               ("/sys/fs/cgroup/cpuset", 1, ["cpuset"]),
               ("/sys/fs/cgroup/memory", 1, ["memory"]),
               ("/sys/fs/cgroup/devices", 1, ["devices"]),
               ("/sys/fs/cgroup/freezer", 1, ["freezer"]),
               ("/sys/fs/cgroup/blkio", 1, ["blkio"]),
               ("/sys/fs/cgroup/pids", 1, ["pids"]),
               ("/sys/fs/cgroup/systemd", 1, ["name=systemd"])],
    "hybrid": [("/sys/fs/cgroup/cpu", 1, ["cpu"]),
               ("/sys/fs/cgroup/cpuacct", 1, ["cpuacct"]),
               ("/sys/fs/cgroup/cpuset", 1, ["cpuset"]),
               ("/sys/fs/cgroup/memory", 1, ["memory"]),
               ("/sys/fs/cgroup/devices", 1, ["devices"]),
               ("/sys/fs/cgroup/freezer", 1, ["freezer"]),
               ("/sys/fs/cgroup/blkio", 1, ["blkio"]),
               ("/sys/fs/cgroup/pids", 1, ["pids"]),
               ("/sys/fs/cgroup/systemd", 1, ["name=systemd"]),
               ("/sys/fs/cgroup/unified", 2, ["hugetlb"])],
    "unified": [("/sys/fs/cgroup", 2, ["cpuset", "cpu", "io", "memory", "hugetlb", "pids"])],
}


def _oserror(code: int, path: str) -> OSError:
    return OSError(code, os.strerror(code), path)


class FakeCgroupFS:
    """See the module docstring. ``procs`` maps each mountpoint to {pid: directory}."""

    def __init__(self, layout: str = "hybrid", cpus: str = "0-1", mems: str = "0") -> None:
        self.mounts: List[Tuple[str, int, List[str]]] = list(LAYOUTS[layout])
        self.files: Dict[str, str] = {}
        self.dirs: Dict[str, Tuple[str, int, List[str]]] = {}
        self.procs: Dict[str, Dict[int, str]] = {}
        self.alive: Set[int] = set()
        self.self_pid = 1000
        self.proc_text: Dict[str, str] = {"/sys/devices/system/cpu/isolated": "\n",
                                          "/sys/devices/system/cpu/offline": "\n"}
        self.writes: List[Tuple[str, str]] = []
        self.device_programs: Dict[str, List[bytes]] = {}
        self.freeze_delay = 0  # reads of cgroup state before a v1/v2 freeze completes
        for mnt in self.mounts:
            self.procs[mnt[0]] = {}
            self._make_dir(mnt[0], mnt, root=True)
            if "cpuset" in mnt[2]:
                self.files[mnt[0] + "/cpuset.cpus"] = cpus
                self.files[mnt[0] + "/cpuset.mems"] = mems
        for pid in (1, self.self_pid):
            self.spawn(pid)

    # -- setting up ------------------------------------------------------------------
    def spawn(self, pid: int, where: Optional[Dict[str, str]] = None) -> None:
        """A live process in each hierarchy's root, or where[mountpoint] = directory."""
        self.alive.add(pid)
        for mnt in self.mounts:
            self.procs[mnt[0]][pid] = (where or {}).get(mnt[0], mnt[0])

    def mountinfo(self) -> str:
        lines = []
        for i, (mp, version, ctrls) in enumerate(self.mounts):
            if version == 2:
                lines.append(f"{40 + i} 31 0:{30 + i} / {mp} rw,relatime - cgroup2 cgroup2 rw")
            else:
                opts = ",".join(["rw"] + ctrls)
                lines.append(f"{40 + i} 31 0:{30 + i} / {mp} rw,relatime - cgroup cgroup {opts}")
        return "\n".join(["22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw"] + lines) + "\n"

    def proc_cgroup(self, pid: int) -> str:
        lines = []
        for n, (mp, version, ctrls) in enumerate(self.mounts):
            where = self.procs[mp].get(pid)
            if where is None:
                continue
            rel = "/" + where[len(mp):].lstrip("/")
            lines.append(f"0::{rel}" if version == 2 else f"{n + 1}:{','.join(ctrls)}:{rel}")
        return "\n".join(lines) + "\n"

    def _mount_of(self, path: str) -> Optional[Tuple[str, int, List[str]]]:
        best = None
        for mnt in self.mounts:
            if path == mnt[0] or path.startswith(mnt[0] + "/"):
                if best is None or len(mnt[0]) > len(best[0]):
                    best = mnt
        return best

    def _enabled_v2(self, parent: str) -> List[str]:
        return self.files.get(parent + "/cgroup.subtree_control", "").split()

    def _make_dir(self, path: str, mnt: Tuple[str, int, List[str]], root: bool = False) -> None:
        self.dirs[path] = mnt
        mp, version, ctrls = mnt
        parent = os.path.dirname(path)
        f = self.files
        if version == 1:
            f[path + "/cgroup.clone_children"] = "0"
            f[path + "/notify_on_release"] = "0"
            for c in ctrls:
                for name, value in V1_FILES.get(c, {}).items():
                    f[path + "/" + name] = value
            if not root and "cpuset" in ctrls and f.get(parent + "/cgroup.clone_children") == "1":
                f[path + "/cpuset.cpus"] = f[parent + "/cpuset.cpus"]
                f[path + "/cpuset.mems"] = f[parent + "/cpuset.mems"]
            return
        f[path + "/cgroup.controllers"] = " ".join(ctrls if root else self._enabled_v2(parent))
        f[path + "/cgroup.subtree_control"] = ""
        f[path + "/cgroup.stat"] = "nr_descendants 0\n"
        f[path + "/cgroup.max.descendants"] = "max"
        f[path + "/cgroup.max.depth"] = "max"
        f[path + "/cpu.stat"] = "usage_usec 0\nuser_usec 0\nsystem_usec 0\n"
        if not root:
            f[path + "/cgroup.freeze"] = "0"
            f[path + "/cgroup.events"] = "populated 0\nfrozen 0\n"
            f[path + "/cgroup.kill"] = ""
            f[path + "/cgroup.type"] = "domain"
            for c in self._enabled_v2(parent):
                for name, value in V2_FILES.get(c, {}).items():
                    f[path + "/" + name] = value

    # -- the fs interface ------------------------------------------------------------
    def exists(self, path: str) -> bool:
        return path in self.dirs or path in self.files or path.endswith(
            ("/cgroup.procs", "/tasks")) and os.path.dirname(path) in self.dirs

    def isdir(self, path: str) -> bool:
        return path in self.dirs

    def subdirs(self, path: str) -> List[str]:
        return [os.path.basename(d) for d in self.dirs if os.path.dirname(d) == path]

    def mkdir(self, path: str) -> None:
        if path in self.dirs or path in self.files:
            raise FileExistsError(errno.EEXIST, "File exists", path)
        parent = os.path.dirname(path)
        if parent not in self.dirs:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        self._make_dir(path, self.dirs[parent])

    def rmdir(self, path: str) -> None:
        if path not in self.dirs:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        mp = self.dirs[path][0]
        if path == mp or self.subdirs(path) or path in self.procs[mp].values():
            raise _oserror(errno.EBUSY, path)
        del self.dirs[path]
        for key in [k for k in self.files if os.path.dirname(k) == path]:
            del self.files[key]

    def read(self, path: str) -> str:
        d, name = os.path.dirname(path), os.path.basename(path)
        if name in ("cgroup.procs", "tasks") and d in self.dirs:
            mp = self.dirs[d][0]
            return "".join(f"{p}\n" for p, where in sorted(self.procs[mp].items())
                           if where == d)
        if name == "cgroup.controllers" and path in self.files and d != self.dirs[d][0]:
            return " ".join(self._enabled_v2(os.path.dirname(d))) + "\n"
        if name == "cgroup.events" and path in self.files:
            populated = any(w == d or w.startswith(d + "/")
                            for w in self.procs[self.dirs[d][0]].values())
            frozen = self.files[d + "/cgroup.freeze"] == "1" and self._settle(path)
            return f"populated {int(populated)}\nfrozen {int(frozen)}\n"
        if name == "freezer.state" and self.files.get(path) == "FREEZING":
            if self._settle(path):
                self.files[path] = "FROZEN"
        if path not in self.files:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        return self.files[path]

    def _settle(self, path: str) -> bool:
        """Freezing takes ``freeze_delay`` reads to complete."""
        left = self.files.get(path + "#delay", "0")
        if int(left) > 0:
            self.files[path + "#delay"] = str(int(left) - 1)
            return False
        return True

    def write(self, path: str, value: str) -> None:
        d, name = os.path.dirname(path), os.path.basename(path)
        value = value.strip()
        if name in ("cgroup.procs", "tasks") and d in self.dirs:
            self._move(d, value, path)
        elif path not in self.files:
            raise _oserror(errno.ENOENT if d in self.dirs else errno.ENOENT, path)
        elif name in _READONLY:
            raise _oserror(errno.EACCES, path)
        elif name == "freezer.state":
            if value not in ("FROZEN", "THAWED"):
                raise _oserror(errno.EINVAL, path)
            if value == "FROZEN" and self.freeze_delay:
                self.files[path + "#delay"] = str(self.freeze_delay)
                self.files[path] = "FREEZING"
            else:
                self.files[path] = value
        elif name == "cgroup.freeze":
            if value not in ("0", "1"):
                raise _oserror(errno.EINVAL, path)
            self.files[path] = value
            self.files[d + "/cgroup.events#delay"] = str(self.freeze_delay if value == "1"
                                                         else 0)
        elif name == "cgroup.kill":
            if value != "1":
                raise _oserror(errno.EINVAL, path)
            mp = self.dirs[d][0]
            for pid, where in list(self.procs[mp].items()):
                if where == d or where.startswith(d + "/"):
                    self.kill(pid, signal.SIGKILL)
        elif name == "cgroup.subtree_control":
            for word in value.split():
                ctrl = word[1:]
                if word[:1] not in "+-" or ctrl not in self.read(d + "/cgroup.controllers").split():
                    raise _oserror(errno.ENOENT, path)
                have = self.files[path].split()
                if word[0] == "+" and ctrl not in have:
                    have.append(ctrl)
                elif word[0] == "-" and ctrl in have:
                    have.remove(ctrl)
                self.files[path] = " ".join(have)
                if word[0] == "+":
                    for child in self.subdirs(d):
                        for fname, fvalue in V2_FILES.get(ctrl, {}).items():
                            self.files.setdefault(f"{d}/{child}/{fname}", fvalue)
        elif name in ("memory.limit_in_bytes", "memory.max", "pids.max", "memory.swap.max",
                      "memory.memsw.limit_in_bytes", "memory.kmem.limit_in_bytes"):
            if not (_SIZE.match(value) or value == "max"):
                raise _oserror(errno.EINVAL, path)
            self.files[path] = str(_bytes(value)) if name.endswith("_in_bytes") else value
        elif name in ("devices.allow", "devices.deny"):
            if not _DEVICE.match(value):
                raise _oserror(errno.EINVAL, path)
            rules = self.files[d + "/devices.list"].splitlines()
            if value == "a":
                rules = ["a *:* rwm"] if name == "devices.allow" else []
            elif name == "devices.allow":
                rules.append(value)
            else:
                rules = [r for r in rules if r != value]
            self.files[d + "/devices.list"] = "".join(r + "\n" for r in rules)
        elif name in ("cpuset.cpus", "cpuset.mems"):
            if value and not re.match(r"^[\d,-]+$", value):
                raise _oserror(errno.EINVAL, path)
            self.files[path] = value
        else:
            self.files[path] = value
        self.writes.append((path, value))

    def _move(self, d: str, value: str, path: str) -> None:
        if not value.isdigit() or int(value) not in self.alive:
            raise _oserror(errno.ESRCH if value.isdigit() else errno.EINVAL, path)
        mp, version, ctrls = self.dirs[d]
        if version == 1 and "cpuset" in ctrls and not self.files[d + "/cpuset.cpus"]:
            raise _oserror(errno.ENOSPC, path)
        self.procs[mp][int(value)] = d

    def kill(self, pid: int, sig: int = signal.SIGKILL) -> None:
        if pid not in self.alive:
            raise ProcessLookupError(errno.ESRCH, "No such process")
        if sig in (signal.SIGKILL, signal.SIGTERM):
            self.alive.discard(pid)
            for members in self.procs.values():
                members.pop(pid, None)

    def attach_device_program(self, cgroup_dir: str, program: bytes) -> None:
        if cgroup_dir not in self.dirs:
            raise _oserror(errno.ENOENT, cgroup_dir)
        self.device_programs.setdefault(cgroup_dir, []).append(program)

    def read_proc(self, path: str) -> str:
        if path == "/proc/self/mountinfo":
            return self.mountinfo()
        m = re.match(r"^/proc/(self|\d+)/cgroup$", path)
        if m:
            pid = self.self_pid if m.group(1) == "self" else int(m.group(1))
            if pid not in self.alive:
                raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
            return self.proc_cgroup(pid)
        if path in self.proc_text:
            return self.proc_text[path]
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)


def _bytes(value: str) -> int:
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(value[-1].lower(), 1)
    number = int(value[:-1]) if mult != 1 else int(value)
    return number * mult
