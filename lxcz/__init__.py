"""lxcz: the classic LXC tools and python3-lxc's API in pure Python.

``lxcz.Container(name, config_path=None)`` and ``lxcz.list_containers()`` mirror
python3-lxc; they are imported lazily so that ``import lxcz`` stays cheap for the tools.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


__all__ = ["Container", "list_containers", "LxczError", "ConfigError", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("Container", "list_containers"):
        from lxcz import container

        return getattr(container, name)
    if name in ("LxczError", "ConfigError"):
        from lxcz import errors

        return getattr(errors, name)
    if name == "__version__":
        from lxcz.version import VERSION

        return VERSION
    raise AttributeError(name)
