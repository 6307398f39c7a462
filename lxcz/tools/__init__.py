"""The table of every tool lxcz provides, LXC 5's and the older ones.

A tool named ``lxc-foo`` lives in ``lxcz/tools/lxc_foo.py`` (aliases point at another
module). Its module defines ``main(argv, prog) -> int``. A name in this table whose module
does not exist yet is a tool lxcz does not provide yet: dispatch says so and exits 1.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Optional


# tool name -> (module name under lxcz.tools, one-line summary)
TOOLS: Dict[str, tuple] = {
    "lxc-attach": ("lxc_attach", "start a process inside a running container"),
    "lxc-autostart": ("lxc_autostart", "start/stop/kill auto-started containers"),
    "lxc-cgroup": ("lxc_cgroup", "manage the control group associated with a container"),
    "lxc-checkconfig": ("lxc_checkconfig", "check the current kernel for LXC support"),
    "lxc-checkpoint": ("lxc_checkpoint", "checkpoint a container"),
    "lxc-config": ("lxc_config", "query LXC system configuration"),
    "lxc-console": ("lxc_console", "launch a console for the specified container"),
    "lxc-copy": ("lxc_copy", "copy an existing container"),
    "lxc-create": ("lxc_create", "create a container"),
    "lxc-destroy": ("lxc_destroy", "destroy a container"),
    "lxc-device": ("lxc_device", "manage devices of running containers"),
    "lxc-execute": ("lxc_execute", "run an application inside a container"),
    "lxc-freeze": ("lxc_freeze", "freeze all the container's processes"),
    "lxc-info": ("lxc_info", "query information about a container"),
    "lxc-init": ("lxc_init", "minimal init (PID 1) for application containers"),
    "lxc-ls": ("lxc_ls", "list the containers existing on the system"),
    "lxc-monitor": ("lxc_monitor", "monitor the container state"),
    "lxc-snapshot": ("lxc_snapshot", "snapshot an existing container"),
    "lxc-start": ("lxc_start", "run an application inside a container"),
    "lxc-stop": ("lxc_stop", "stop the application running inside a container"),
    "lxc-top": ("lxc_top", "monitor container statistics"),
    "lxc-unfreeze": ("lxc_unfreeze", "thaw all the container's processes"),
    "lxc-unshare": ("lxc_unshare", "run a task in a new set of namespaces"),
    "lxc-update-config": ("lxc_update_config", "update a legacy pre-3.0 LXC configuration file"),
    "lxc-usernsexec": ("lxc_usernsexec", "run a task as root in a new user namespace"),
    "lxc-wait": ("lxc_wait", "wait for a specific container state"),
    # tools LXC dropped, kept as aliases for the older guides
    "lxc-ps": ("lxc_ps", "list the processes belonging to a container (legacy)"),
    "lxc-clone": ("lxc_clone", "clone a container (legacy, see lxc-copy)"),
    "lxc-start-ephemeral": ("lxc_start_ephemeral", "start an ephemeral copy (legacy, see lxc-copy -e)"),
}


def canonical(name: str) -> Optional[str]:
    """Map ``lxc-start``, ``start`` or ``lxc_start`` to the table's ``lxc-start``."""
    name = name.replace("_", "-")
    if name in TOOLS:
        return name
    if "lxc-" + name in TOOLS:
        return "lxc-" + name
    return None
