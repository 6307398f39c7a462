"""The configuration language of lxc.container.conf(5) and the system configuration.

``ContainerConfig`` (lxcz.config.model) is one container's configuration; ``system``
(lxcz.config.system) reads /etc/lxc/lxc.conf or ~/.config/lxc/lxc.conf. Every key is a row
of lxcz.config.keys. Importing this package is cheap: the parser, writer and system modules
load when first used.
"""

from __future__ import annotations

from lxcz.config.model import ConfigItem, ContainerConfig
from lxcz.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ConfigError", "ConfigItem", "ContainerConfig", "system"]


def __getattr__(name: str) -> Any:
    if name == "system":
        import importlib

        return importlib.import_module("lxcz.config.system")
    raise AttributeError(name)
