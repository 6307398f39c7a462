"""Container: the one facade every tool and the Python API use.

Method and property names follow python3-lxc's ``lxc.Container``. One difference, on
purpose: a failure raises ``lxcz.errors.LxczError`` carrying a message a user can act on,
where python3-lxc returns False and leaves the reason in a log; success returns True, so
``if c.start(): ...`` code keeps working.

The facade holds no logic of its own beyond naming rules and paths: configuration is in
``lxcz.config``, running containers in ``lxcz.runtime.api``, backing stores, templates and
lifecycle in ``lxcz.storage.api``, network views in ``lxcz.net.api``. Those modules are
imported only when a method needs them.
"""

from __future__ import annotations

import os

from lxcz.errors import LxczError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Sequence

    from lxcz.config import ContainerConfig

NAME_MAX = 64  # LXC keeps names usable as hostnames, cgroup and socket names


def check_name(name: str) -> None:
    """Refuse names LXC cannot turn into a directory under the lxcpath."""
    if not name:
        raise LxczError("invalid container name: empty")
    if "/" in name or name in (".", "..") or "\0" in name:
        raise LxczError(f"invalid container name '{name}': no '/' and not '.' or '..'")
    if len(name) > NAME_MAX:
        raise LxczError(f"invalid container name '{name[:16]}...': longer than "
                        f"{NAME_MAX} characters")
    if any(c.isspace() for c in name):
        raise LxczError(f"invalid container name '{name}': contains white space")


def default_lxcpath() -> str:
    from lxcz.config import system

    return system.default_lxcpath()


class Container:
    """A container named ``name`` under ``config_path`` (the lxcpath)."""

    def __init__(self, name: str, config_path: Optional[str] = None,
                 rcfile: Optional[str] = None) -> None:
        check_name(name)
        self.name = name
        self.config_path = os.path.abspath(config_path or default_lxcpath())
        self._rcfile = rcfile
        self._config: Optional[ContainerConfig] = None

    def __repr__(self) -> str:
        return f"Container({self.name!r}, config_path={self.config_path!r})"

    # -- paths and configuration ------------------------------------------------------
    @property
    def path(self) -> str:
        """The container's directory: lxcpath/NAME."""
        return os.path.join(self.config_path, self.name)

    @property
    def config_file_name(self) -> str:
        return self._rcfile or os.path.join(self.path, "config")

    @property
    def defined(self) -> bool:
        return os.path.isfile(os.path.join(self.path, "config"))

    def get_config_path(self) -> str:
        return self.config_path

    def set_config_path(self, path: str) -> bool:
        self.config_path = os.path.abspath(path)
        self._config = None
        return True

    @property
    def config(self) -> ContainerConfig:
        """The loaded configuration; loaded on first use (empty if the file is missing)."""
        if self._config is None:
            from lxcz.config import ContainerConfig

            path = self.config_file_name
            if os.path.exists(path) or self._rcfile:
                self._config = ContainerConfig.load(path)
            else:
                self._config = ContainerConfig()
        return self._config

    def load_config(self, path: Optional[str] = None) -> bool:
        from lxcz.config import ContainerConfig

        self._config = ContainerConfig.load(path or self.config_file_name)
        return True

    def save_config(self, path: Optional[str] = None) -> bool:
        target = path or os.path.join(self.path, "config")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        self.config.save(target)
        return True

    def get_config_item(self, key: str) -> Any:
        return self.config.get_item(key)

    def set_config_item(self, key: str, value: str) -> bool:
        self.config.set_item(key, value)
        return True

    def clear_config_item(self, key: str) -> bool:
        self.config.clear_item(key)
        return True

    def get_keys(self, key: Optional[str] = None) -> List[str]:
        return self.config.keys(key)

    def get_running_config_item(self, key: str) -> str:
        from lxcz.runtime import api

        return api.get_running_config_item(self, key)

    # -- state ------------------------------------------------------------------------
    @property
    def state(self) -> str:
        from lxcz.runtime import api

        return api.state(self)

    @property
    def running(self) -> bool:
        return self.state not in ("STOPPED", "ABORTING")

    @property
    def init_pid(self) -> int:
        from lxcz.runtime import api

        return api.init_pid(self)

    def wait(self, state: str, timeout: float = -1) -> bool:
        from lxcz.runtime import api

        return api.wait(self, state, timeout)

    # -- lifecycle of a running container ---------------------------------------------
    def start(self, useinit: bool = False, daemonize: bool = True, close_fds: bool = False,
              cmd: Optional[Sequence[str]] = None, **options: Any) -> bool:
        from lxcz.runtime import api

        return api.start(self, useinit=useinit, daemonize=daemonize, close_fds=close_fds,
                         cmd=cmd, **options)

    def stop(self) -> bool:
        from lxcz.runtime import api

        return api.stop(self)

    def shutdown(self, timeout: float = -1) -> bool:
        from lxcz.runtime import api

        return api.shutdown(self, timeout)

    def reboot(self) -> bool:
        from lxcz.runtime import api

        return api.reboot(self)

    def freeze(self) -> bool:
        from lxcz.runtime import api

        return api.freeze(self)

    def unfreeze(self) -> bool:
        from lxcz.runtime import api

        return api.unfreeze(self)

    def attach_wait(self, run: Callable[..., Any], payload: Any = None, **options: Any) -> int:
        from lxcz.runtime import attach  # not through runtime.api: lxc-attach needs no more

        return attach.attach_wait(self, run, payload, **options)

    def attach(self, run: Callable[..., Any], payload: Any = None, **options: Any) -> int:
        from lxcz.runtime import attach

        return attach.attach(self, run, payload, **options)

    def console(self, ttynum: int = -1, stdinfd: int = 0, stdoutfd: int = 1,
                stderrfd: int = 2, escape: int = 1) -> bool:
        from lxcz.runtime import api

        return api.console(self, ttynum, stdinfd, stdoutfd, stderrfd, escape)

    def console_getfd(self, ttynum: int = -1) -> int:
        from lxcz.runtime import api

        return api.console_getfd(self, ttynum)

    def get_cgroup_item(self, key: str) -> str:
        from lxcz.runtime import api

        return api.get_cgroup_item(self, key)

    def set_cgroup_item(self, key: str, value: str) -> bool:
        from lxcz.runtime import api

        return api.set_cgroup_item(self, key, value)

    # -- devices of a running container ------------------------------------------------
    def add_device_node(self, src_path: str, dest_path: Optional[str] = None) -> bool:
        from lxcz import device

        return device.add_device_node(self, src_path, dest_path)

    def remove_device_node(self, src_path: str, dest_path: Optional[str] = None) -> bool:
        from lxcz import device

        return device.remove_device_node(self, src_path, dest_path)

    def attach_interface(self, dev: str, dst_dev: Optional[str] = None) -> bool:
        from lxcz import device

        return device.attach_interface(self, dev, dst_dev)

    def detach_interface(self, dev: str, dst_dev: Optional[str] = None) -> bool:
        from lxcz import device

        return device.detach_interface(self, dev, dst_dev)

    # -- network views ----------------------------------------------------------------
    def get_interfaces(self) -> List[str]:
        from lxcz.net import api

        return api.get_interfaces(self)

    def get_ips(self, interface: Optional[str] = None, family: Optional[str] = None,
                scope: Optional[int] = None) -> List[str]:
        from lxcz.net import api

        return api.get_ips(self, interface, family, scope)

    # -- storage and lifecycle on disk ------------------------------------------------
    def create(self, template: Optional[str] = None, flags: int = 0,
               args: Sequence[str] = (), bdevtype: Optional[str] = None,
               **options: Any) -> bool:
        from lxcz.storage import api

        return api.create(self, template, flags, list(args), bdevtype, **options)

    def destroy(self, with_snapshots: bool = False, force: bool = False) -> bool:
        """Remove the container; one that snapshot clones depend on is refused.

        with_snapshots (lxc-destroy -s) first destroys its own snapshots; force
        (lxc-destroy -f) stops a running container first.
        """
        from lxcz.storage import api
        from lxcz.storage import clone as cl
        from lxcz.storage import snapshot as sn

        if with_snapshots and self.defined:
            sn.snapshot_destroy(self, "ALL")
        if self.defined:
            cl.check_no_dependents(self)
        base_of = cl.read_rdepends(self.path) if self.defined else None
        api.destroy(self, force=force)
        if base_of is not None:
            cl.drop_dependency_of(base_of, self.config_path, self.name)
        return True

    def destroy_with_snapshots(self) -> bool:
        return self.destroy(with_snapshots=True)

    def clone(self, newname: str, config_path: Optional[str] = None, flags: int = 0,
              bdevtype: Optional[str] = None, bdevdata: Optional[str] = None,
              newsize: int = 0, hookargs: Sequence[str] = ()) -> Container:
        from lxcz.storage import clone as cl

        return cl.clone(self, newname, config_path, flags, bdevtype, bdevdata, newsize,
                        list(hookargs))

    def rename(self, new_name: str) -> bool:
        from lxcz.storage import clone as cl

        return cl.rename(self, new_name)

    def snapshot(self, comment_path: Optional[str] = None) -> str:
        from lxcz.storage import snapshot as sn

        return sn.snapshot(self, comment_path)

    def snapshot_list(self) -> List[tuple]:
        from lxcz.storage import snapshot as sn

        return sn.snapshot_list(self)

    def snapshot_restore(self, name: str, newname: Optional[str] = None) -> bool:
        from lxcz.storage import snapshot as sn

        return sn.snapshot_restore(self, name, newname)

    def snapshot_destroy(self, name: str) -> bool:
        from lxcz.storage import snapshot as sn

        return sn.snapshot_destroy(self, name)


def list_containers(active: bool = True, defined: bool = True,
                    as_object: bool = False,
                    config_path: Optional[str] = None) -> List[Any]:
    """Names (or Container objects) under config_path, sorted, like python3-lxc's."""
    from lxcz.runtime import paths

    lxcpath = os.path.abspath(config_path or default_lxcpath())
    names: Dict[str, None] = {}
    if defined:
        try:
            for entry in sorted(os.listdir(lxcpath)):
                if paths.is_defined(lxcpath, entry):
                    names[entry] = None
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            pass
    if active:
        from lxcz.runtime import api

        for entry in api.active_names(lxcpath):
            names[entry] = None
    result = sorted(names)
    if as_object:
        return [Container(n, lxcpath) for n in result]
    return result
