"""Cgroup operations on a running container, for the tools and lxcz.runtime.api.

Each function finds the container's payload cgroup by LXC 5's naming
(``lxc.payload.NAME`` below the base cgroup, or exactly through ``pid``, the
container's init, when the caller knows it) without a command-socket round trip, and
checks that the container is running: its cgroup exists and holds processes.
``container`` is anything with ``name`` and ``config_path`` (``lxcz.container.Container``).

Limitation: by name alone, two running containers with the same name in different
lxcpaths cannot be told apart (the second is ``lxc.payload.NAME-1``); pass ``pid``.
"""

from __future__ import annotations

from lxcz.cgroups import get_manager
from lxcz.cgroups.manager import ContainerCgroup, check_key
from lxcz.errors import LxczError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional

FREEZE_TIMEOUT = 30.0


def _from_monitor(container: Any, mgr: Any) -> Optional[ContainerCgroup]:
    """The payload cgroup as the running container's monitor knows it (whatever
    lxc.cgroup.dir* put it), or None."""
    try:
        from lxcz.runtime import client

        info = client.get_info(container)
    except (ImportError, LxczError, OSError):
        return None
    paths, cgname = info.get("cgroup"), info.get("cgname")
    if not paths or not cgname:
        return None
    cg = ContainerCgroup(mgr, container.name, "payload", str(cgname))
    cg.paths = {k: v for k, v in paths.items() if k in cg.paths}
    return cg


def running_cgroup(container: Any, pid: Optional[int] = None) -> ContainerCgroup:
    """The container's payload cgroup; LxczError when it is not running."""
    mgr = get_manager()
    cg = _from_monitor(container, mgr) if pid is None else None
    if cg is None:
        cg = mgr.find(container.name, pid=pid)
    if cg is None or not cg.pids():
        import os

        defined = os.path.isfile(os.path.join(container.config_path, container.name,
                                              "config"))
        if defined:
            raise LxczError(f"container is not running (lxcpath {container.config_path})")
        raise LxczError(f"no such container in {container.config_path}, and none of that "
                        "name is running")
    return cg


def freeze(container: Any, timeout: float = FREEZE_TIMEOUT, pid: Optional[int] = None) -> bool:
    """Freeze every process of the container and wait for FROZEN. True; LxczError else."""
    cg = running_cgroup(container, pid)
    if cg.state() != "FROZEN":
        cg.freeze(timeout)
    return True


def unfreeze(container: Any, timeout: float = FREEZE_TIMEOUT, pid: Optional[int] = None) -> bool:
    cg = running_cgroup(container, pid)
    if cg.state() != "THAWED":
        cg.thaw(timeout)
    return True


def freezer_state(container: Any, pid: Optional[int] = None) -> str:
    """FROZEN, FREEZING or THAWED for a running container."""
    return running_cgroup(container, pid).state()


def get_item(container: Any, key: str, pid: Optional[int] = None) -> str:
    """The value of cgroup file ``key`` (``memory.limit_in_bytes``), without newline."""
    check_key(key)
    return running_cgroup(container, pid).get(key)


def set_item(container: Any, key: str, value: str, pid: Optional[int] = None) -> bool:
    check_key(key)
    if value is None or str(value).strip() == "":
        raise LxczError(f'empty value for cgroup key "{key}"')
    running_cgroup(container, pid).set(key, str(value))
    return True


def stats(container: Any, pid: Optional[int] = None) -> Dict[str, Optional[int]]:
    """See ``ContainerCgroup.stats``."""
    return running_cgroup(container, pid).stats()


def pids(container: Any, pid: Optional[int] = None) -> list:
    return running_cgroup(container, pid).pids()


def active_names(lxcpath: str) -> list:
    """Names of the running containers of an lxcpath, sorted.

    Uses ``lxcz.runtime.api.active_names`` when the runtime provides it; until then,
    the containers defined in lxcpath whose payload cgroup holds processes.
    """
    try:
        from lxcz.runtime import api
    except ImportError as err:
        if getattr(err, "name", "") not in ("lxcz.runtime.api", "lxcz.runtime"):
            raise
        api = None
    if api is not None and hasattr(api, "active_names"):
        return sorted(api.active_names(lxcpath))
    import os

    mgr = get_manager()
    names = []
    try:
        entries = sorted(os.listdir(lxcpath))
    except OSError:
        return []
    for entry in entries:
        if not os.path.isfile(os.path.join(lxcpath, entry, "config")):
            continue
        try:
            cg = mgr.find(entry)
        except LxczError:
            continue
        if cg is not None and cg.pids():
            names.append(entry)
    return names


def call(container: Any, method: str, *args: Any) -> Any:
    """``container.<method>(*args)`` through the facade and lxcz.runtime.api; while the
    runtime does not provide that function yet, the matching function of this module."""
    api_name = {"get_cgroup_item": "get_cgroup_item", "set_cgroup_item": "set_cgroup_item",
                "freeze": "freeze", "unfreeze": "unfreeze"}[method]
    try:
        from lxcz.runtime import api
        ready = hasattr(api, api_name)
    except ImportError as err:
        if getattr(err, "name", "") not in ("lxcz.runtime.api", "lxcz.runtime"):
            raise
        ready = False
    if ready:
        return getattr(container, method)(*args)
    local = {"get_cgroup_item": get_item, "set_cgroup_item": set_item,
             "freeze": freeze, "unfreeze": unfreeze}[method]
    return local(container, *args)
