"""lxc-usernsexec: run a command as root in a new user (and mount) namespace.

Command line as upstream's: ``lxc-usernsexec [-h] [-m <uid-maps>] [-s] -- [command [arg
..]]``; ``-m [u|g|b]:NSID:HOSTID:RANGE`` may repeat; with no ``-m`` the caller's first
/etc/subuid and /etc/subgid ranges are mapped at 0; ``-s`` also maps the caller's own uid
and gid to the first namespace ids not yet mapped. The command defaults to /bin/sh.
Maps go through newuidmap/newgidmap when not root (lxcz.security.idmap).
"""

from __future__ import annotations

import getopt
import os
import sys

from lxcz.errors import LxczError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

USAGE = """\
usage: {prog} [-h] [-m <uid-maps>] [-s] -- [command [arg ..]]

  -h            this message

  -m <uid-maps> uid maps to use

  -s:           map self
  uid-maps: [u|g|b]:ns_id:host_id:range
            [u|g|b]: map user id, group id, or both
            ns_id: the base id in the new namespace
            host_id: the base id in the parent namespace
            range: how many ids to map
  Note: This program uses newuidmap(2) and newgidmap(2).
        As such, /etc/subuid and /etc/subgid must grant the
        calling user permission to use the mapped ranges
"""


def map_self(maps: list) -> list:
    """Upstream's -s: own uid/gid at the first namespace id past the maps that hold 0."""
    from lxcz.security.idmap import IdMap

    nsuid = nsgid = 0
    for m in maps:
        if m.kind == "u" and m.nsid <= nsuid < m.nsid + m.count:
            nsuid += m.count
        elif m.kind == "g" and m.nsid <= nsgid < m.nsid + m.count:
            nsgid += m.count
    return list(maps) + [IdMap("g", nsgid, os.getgid(), 1), IdMap("u", nsuid, os.getuid(), 1)]


def _child(argv: List[str], ready_w: int, go_r: int) -> None:
    """In the forked child: never returns."""
    from lxcz.sys import calls

    try:
        calls.unshare(calls.CLONE_NEWUSER | calls.CLONE_NEWNS)
        calls.wait_for_maps(ready_w, go_r)
        calls.become_userns_root()
        try:
            calls.mount(None, "/", None, calls.MS_SLAVE | calls.MS_REC)
        except OSError:
            pass
        os.execvp(argv[0], argv)
    except OSError as e:
        sys.stderr.write(f"lxc-usernsexec: {argv[0]}: {e.strerror or e}\n")
    except BaseException as e:  # noqa: BLE001 - the child must not return into the tool
        sys.stderr.write(f"lxc-usernsexec: {e}\n")
    os._exit(1)


def run(maps_text: List[str], self_map: bool, argv: List[str]) -> int:
    from lxcz.security import idmap

    maps = idmap.parse(maps_text) if maps_text else idmap.default_maps()
    if self_map:
        maps = map_self(maps)
        idmap.check(maps)
    if idmap.host_id(maps, "u", 0) is None or idmap.host_id(maps, "g", 0) is None:
        raise LxczError("uid 0 and gid 0 in the namespace must be mapped "
                        "(lxc-usernsexec switches to root there)")
    idmap.check_allowed(maps)
    argv = argv or ["/bin/sh"]
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        os.close(go_w)
        _child(argv, ready_w, go_r)
    os.close(ready_w)
    os.close(go_r)
    try:
        if os.read(ready_r, 1) != b"1":
            os.close(go_w)
            os.waitpid(pid, 0)
            return 1
        try:
            idmap.write_maps(pid, maps)
        except BaseException:
            os.write(go_w, b"0")
            os.waitpid(pid, 0)
            raise
        os.write(go_w, b"1")
    finally:
        os.close(ready_r)
        try:
            os.close(go_w)
        except OSError:
            pass
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
        except KeyboardInterrupt:
            continue  # the child got the same SIGINT; wait for it to end
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def main(argv: List[str], prog: Optional[str] = None) -> int:
    prog = prog or "lxc-usernsexec"
    try:
        opts, rest = getopt.gnu_getopt(list(argv), "m:hs")
    except getopt.GetoptError as e:
        if e.opt and "requires argument" in e.msg:
            sys.stderr.write(f"{prog}: option requires an argument -- '{e.opt}'\n")
        else:
            sys.stderr.write(f"{prog}: invalid option -- '{e.opt}'\n")
        sys.stdout.write(USAGE.format(prog=prog))
        return 1
    maps: List[str] = []
    self_map = False
    for opt, val in opts:
        if opt == "-h":
            sys.stdout.write(USAGE.format(prog=prog))
            return 0
        if opt == "-s":
            self_map = True
        elif opt == "-m":
            maps.append(val)
    try:
        return run(maps, self_map, rest)
    except LxczError as e:
        sys.stderr.write(f"{prog}: {e}\n")
        return e.exit_code
