"""Reading a cgroup's freezer state, and a container cgroup as a lean monitor holds it.

``read_state`` is the one reading of "FROZEN", "FREEZING" or "THAWED" from a v1
``freezer.state`` or a v2 ``cgroup.freeze`` (with ``cgroup.events``), and its error line,
used by ``ContainerCgroup.state`` and ``LazyCgroup.state``. ``LazyCgroup`` is a container's cgroup in a re-executed lean
monitor (lxcz.runtime.lean): its names, paths and freezer state, which is all that
answering lxc-info, lxc-ls and lxc-wait takes, without loading lxcz.cgroups.manager
(about 200 KB of a monitor that stays resident); any other use builds the full
``ContainerCgroup`` once and hands on to it.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Optional, Sequence


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def read_state(cgname: str, where: Optional[Sequence[str]],
               read: Callable[[str], str] = _read) -> str:
    """FROZEN, FREEZING or THAWED of cgroup cgname from where = ("v1", freezer.state
    path) or ("v2", cgroup.freeze path); THAWED when there is no freezer (None).
    LxczError naming the cgroup when a file cannot be read."""
    try:
        return _state(where, read)
    except OSError as err:
        from lxcz.errors import LxczError

        why = os.strerror(err.errno) if err.errno else str(err)
        raise LxczError(f"cannot read the freezer state of {cgname}: {why}") from None


def _state(where: Optional[Sequence[str]], read: Callable[[str], str]) -> str:
    if not where:
        return "THAWED"
    version, path = where
    if version == "v1":
        return read(path).strip()
    if read(path).strip() != "1":
        return "THAWED"
    events = read(os.path.join(os.path.dirname(path), "cgroup.events"))
    return "FROZEN" if "frozen 1" in events.splitlines() else "FREEZING"


class LazyCgroup:
    """See the module docstring. ``state`` raises LxczError like ContainerCgroup's."""

    def __init__(self, relative: bool, name: str, kind: str, cgname: str,
                 paths: Dict[str, str], freezer: Optional[Sequence[str]]) -> None:
        self.relative = relative
        self.name = name
        self.kind = kind
        self.cgname = cgname
        self.paths = paths
        self.freezer = freezer
        self._full: Any = None

    def state(self) -> str:
        return read_state(self.cgname, self.freezer)

    def full(self) -> Any:
        """The ContainerCgroup these names and paths are, built at the first need."""
        if self._full is None:
            from lxcz.cgroups import get_manager
            from lxcz.cgroups.manager import ContainerCgroup

            mgr = get_manager(relative=True) if self.relative else get_manager()
            full = ContainerCgroup(mgr, self.name, self.kind, self.cgname)
            full.paths = self.paths
            self._full = full
        return self._full

    def __getattr__(self, attr: str) -> Any:  # only what is not an attribute here
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(self.full(), attr)
