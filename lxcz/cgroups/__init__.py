"""Cgroups for containers on cgroup v1, v2 and hybrid hosts, behind one interface.

The runtime uses::

    from lxcz.cgroups import get_manager
    mgr = get_manager()                      # layout read from /proc/self/mountinfo
    cg = mgr.create(name, kind="payload")    # or "monitor"; pattern= lxc.cgroup.dir
    cg.paths          # {"memory": "/sys/fs/cgroup/memory/lxc.payload.c1", ...,
                      #  "unified": "/sys/fs/cgroup/unified/lxc.payload.c1"}
    cg.attach(pid)                           # every hierarchy
    cg.apply(v1={"memory.limit_in_bytes": "256M", "devices.allow": [...]},
             v2={"pids.max": "100"})         # or lists of (key, value) pairs, which keep
                                             # repeated keys (use cfg.prefixed_items);
                                             # returns the warnings it logged
    cg.set(key, value); cg.get(key)          # one file, found by its controller
    cg.freeze(timeout); cg.thaw(); cg.state()  # "FROZEN" | "FREEZING" | "THAWED"
    cg.pids(); cg.kill_all(sig); cg.stats()
    cg.leave(pid)     # a monitor moves itself to lxc.pivot before removing its cgroup
    cg.destroy()      # removes empty cgroups recursively; LxczError if still busy
    mgr.find(name, pid=None) -> ContainerCgroup | None
    mgr.cgroup_of(pid)  # {hierarchy key: directory} of any process

Names follow LXC 5: ``lxc.payload.NAME`` for the container, ``lxc.monitor.NAME`` for
its monitor, ``-1``, ``-2``... when the name is taken, below PID 1's cgroup for root
(``/init.scope`` dropped) and below the caller's own cgroup for other users. v1
cpusets are initialised from the parent. Errors are ``lxcz.errors.LxczError`` naming the
key or path. On a pure cgroup2 host ``lxc.cgroup2.devices.*`` become a BPF device
program (``devices``); v1 keys there, and v2 keys a hybrid host's cgroup2 mount lacks, are
skipped with a warning as LXC 5 skips them. For a cgroup namespace the runtime unshares CLONE_NEWCGROUP after the
payload is attached: the payload cgroup then is the namespace's root.

``freezer`` reads a freezer's state, and holds ``LazyCgroup``: a re-executed lean
monitor's container cgroup, which loads the manager only when more than names, paths
and the freezer state is needed.

``ops`` holds what the tools and ``lxcz.runtime.api`` call (freeze, unfreeze,
get_item, set_item, stats for a Container). ``fake.FakeCgroupFS`` lets tests run the
manager over an in-memory cgroupfs without root.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

    from lxcz.cgroups.manager import CgroupManager, ContainerCgroup

__all__ = ["CgroupManager", "ContainerCgroup", "get_manager"]

_default: Optional[CgroupManager] = None


def get_manager(fs: Any = None, mountinfo: Optional[str] = None,
                proc_cgroup: Optional[str] = None, relative: bool = False,
                euid: Optional[int] = None, delegate: Optional[bool] = None) -> CgroupManager:
    """The manager for this host (cached), or a fresh one for the arguments given."""
    from lxcz.cgroups.manager import CgroupManager

    global _default
    if fs is None and mountinfo is None and proc_cgroup is None and not relative \
            and euid is None and delegate is None:
        if _default is None:
            _default = CgroupManager()
        return _default
    return CgroupManager(fs=fs, mountinfo=mountinfo, proc_cgroup=proc_cgroup,
                         relative=relative, euid=euid, delegate=delegate)


def __getattr__(name: str) -> Any:
    # the manager is imported on first use: a child that only joins cgroups
    # (lxcz.cgroups.enter) does not pay for it
    if name in ("CgroupManager", "ContainerCgroup"):
        from lxcz.cgroups import manager

        return getattr(manager, name)
    raise AttributeError(f"module 'lxcz.cgroups' has no attribute {name!r}")
