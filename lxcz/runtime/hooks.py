"""lxc.hook.* scripts, run the way LXC runs them: through /bin/sh with the container
name, section "lxc" and hook type as arguments (hook version 0) and LXC's environment."""

from __future__ import annotations

import os

from lxcz.errors import LxczError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional

TYPES = ("pre-start", "pre-mount", "mount", "autodev", "start-host", "start", "stop",
         "post-stop", "clone", "destroy")


def run(hooks: List[str], hook_type: str, name: str, env: Dict[str, str],
        version: int = 0, extra: Optional[List[str]] = None) -> None:
    """Run each hook; raise LxczError on the first failure."""
    import shlex
    import subprocess

    for hook in hooks:
        if not hook:
            continue
        full = dict(env)
        full["LXC_HOOK_TYPE"] = hook_type
        full["LXC_HOOK_SECTION"] = "lxc"
        full["LXC_HOOK_VERSION"] = str(version)
        cmd = hook
        if version == 0:
            cmd += " " + " ".join(shlex.quote(a) for a in [name, "lxc", hook_type]
                                  + list(extra or []))
        try:
            rc = subprocess.call(["/bin/sh", "-c", cmd], env=full, close_fds=True,
                                 stdin=subprocess.DEVNULL)
        except OSError as err:
            raise LxczError(f"{hook_type} hook '{hook}' could not run: {err.strerror}"
                            ) from None
        if rc != 0:
            raise LxczError(f"{hook_type} hook '{hook}' failed with status {rc}")


def base_env(name: str, config_file: str, rootfs: str, rootfs_mount: str,
             console: str = "", console_log: str = "", log_level: str = "ERROR") -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "TERM", "HOME")}
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    env.update({
        "LXC_NAME": name, "LXC_CONFIG_FILE": config_file, "LXC_ROOTFS_PATH": rootfs,
        "LXC_ROOTFS_MOUNT": rootfs_mount, "LXC_CGNS_AWARE": "1", "LXC_LOG_LEVEL": log_level,
    })
    if console:
        env["LXC_CONSOLE"] = console
    if console_log:
        env["LXC_CONSOLE_LOGPATH"] = console_log
    return env
