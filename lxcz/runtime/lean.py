"""A daemon monitor's second life: re-executed into a fresh interpreter once idle.

A forked monitor keeps everything its start loaded for as long as the container runs:
the configuration parser and its key table, the tools' option parser, the rootfs,
security and seccomp code, ctypes: about 5.5 MB of private memory per container, where
a fresh interpreter holding only the monitor's loop needs about 3. So once a daemonized
container has been RUNNING with no client connected for ``IDLE`` seconds, the monitor
writes its state to a memfd (``Monitor.lean_state``) and execs
``python3 -I -S -c BOOT SITE FD NAME LXCPATH``; ``main`` rebuilds the Monitor from that
state and goes on with the same pid, command socket, terminals, child and cgroups. What
the loop does not need (the configuration, the network code, ctypes) is loaded again only
when a command or the teardown asks for it. When anything stands in the way (a client
connected, an id-mapped container, exec failing) the monitor simply stays as it is.
"""

from __future__ import annotations

import marshal
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

IDLE = 0.5  # seconds RUNNING without clients before a daemon monitor re-executes
BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
        "from lxcz.runtime.lean import main; main(int(sys.argv[2]))")


def handover(mon: Any) -> Optional[bool]:
    """Exec a lean monitor with mon's state. Does not return when it works; None when
    the monitor should not go lean now, False when it cannot (nothing changed)."""
    data = mon.lean_state()
    if data is None:
        return None
    site = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        fd = os.memfd_create("lxcz-monitor", 0)
        os.set_inheritable(fd, True)  # the new image reads it
    except (AttributeError, OSError):
        return False
    keep = mon.lean_fds()
    try:
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
        for k in keep:
            os.set_inheritable(k, True)
        s = mon.spec
        os.execv(sys.executable, [sys.executable, "-I", "-S", "-c", BOOT, site, str(fd),
                                  "[lxcz monitor]", s.lxcpath, s.name])
    except OSError:
        for k in keep:
            try:
                os.set_inheritable(k, False)
            except OSError:
                pass
        os.close(fd)
    return False


def main(fd: int) -> None:
    """The re-executed monitor: rebuild, serve until the container ends, exit."""
    from lxcz.runtime.start import Monitor
    from lxcz.sys import calls

    state = marshal.loads(calls.read_to_eof(fd))
    mon = Monitor.from_lean(state)
    code = 1
    try:
        code = mon.run(resumed=True)
    finally:
        os._exit(code)
