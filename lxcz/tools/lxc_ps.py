"""lxc-ps (legacy, dropped from LXC 2.0): ``ps`` restricted to a container's processes,
with a CONTAINER column in front.

``lxc-ps -n NAME [-n NAME2...] [--lxc] [-- PS_OPTIONS]``: the processes of the named
containers (``--lxc``: of every running container of the lxcpath), as the host's ``ps``
shows them with PS_OPTIONS; the processes are those of the containers' cgroups.
"""

from __future__ import annotations

import sys

from lxcz.tools.common import NONE, REQUIRED, Args, Opt, ToolParser, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional

SYNOPSIS = "[--name=NAME]... [--lxc] [-- ps options]"
OPTS = [
    Opt("n", "name", "names", REQUIRED, "NAME",
        "list the processes of container NAME (repeatable)", action="append", default=[]),
    Opt(None, "lxc", "all", NONE, help="list the processes of every running container",
        action="store_true"),
]


def make_parser(prog: str) -> ToolParser:
    return ToolParser(prog, SYNOPSIS, "lists the processes of containers (legacy tool)",
                      OPTS, name_opt=False, rcfile_opt=False, max_positional=1 << 16)


def container_pids(name: str, lxcpath: str) -> List[int]:
    """The processes of running container ``name`` (its cgroup, recursively)."""
    from lxcz.cgroups import get_manager
    from lxcz.container import Container
    from lxcz.errors import LxczError
    from lxcz.runtime import client

    c = Container(name, lxcpath)
    pid = client.get_init_pid(c)
    if pid <= 0:
        if not c.defined:
            raise LxczError(f"{name}: Container is not defined")
        raise LxczError(f"{name} is not running")
    cg = get_manager().find(name, pid=pid)
    pids = cg.pids(recursive=True) if cg is not None else []
    return sorted(set(pids) | {pid})


def filter_ps(output: str, owner: Dict[int, str]) -> str:
    """Keep ps's header and the lines of the given pids, CONTAINER column in front."""
    lines = output.splitlines()
    if not lines:
        return ""
    header = lines[0]
    cols = header.split()
    if "PID" not in cols:
        from lxcz.errors import LxczError

        raise LxczError("the ps options must show a PID column")
    index = cols.index("PID")
    width = max([len("CONTAINER")] + [len(n) for n in owner.values()])
    out = [f"{'CONTAINER':<{width}} {header}"]
    for line in lines[1:]:
        fields = line.split(None, index + 1)
        try:
            pid = int(fields[index])
        except (IndexError, ValueError):
            continue
        if pid in owner:
            out.append(f"{owner[pid]:<{width}} {line}")
    return "\n".join(out) + "\n"


def body(args: Args) -> int:
    import os
    import shutil
    import subprocess

    from lxcz.errors import LxczError

    if args.lxcpath:
        lxcpath = os.path.abspath(args.lxcpath)
    else:
        from lxcz.config import system

        lxcpath = system.default_lxcpath()
    names = list(args.names)
    if args.all:
        from lxcz.runtime import client

        names += [n for n in client.active_names(lxcpath) if n not in names]
    if not names:
        from lxcz.tools.common import UsageError

        raise UsageError("missing container name, use --name or --lxc")
    owner: Dict[int, str] = {}
    for name in names:
        for pid in container_pids(name, lxcpath):
            owner.setdefault(pid, name)
    ps = shutil.which("ps")
    if ps is None:
        raise LxczError("ps not found (apt-get install procps)")
    psargs = list(args.command) + list(args.positional)
    pidlist = ",".join(str(p) for p in sorted(owner))
    if not any(a in ("-e", "-A", "ax", "aux", "-ax") for a in psargs):
        psargs = psargs + ["-p", pidlist] if pidlist else psargs
    proc = subprocess.run([ps] + psargs, stdout=subprocess.PIPE, check=False)
    if proc.returncode not in (0, 1):
        raise LxczError(f"ps {' '.join(psargs)} failed (exit status {proc.returncode})")
    sys.stdout.write(filter_ps(proc.stdout.decode("utf-8", "replace"), owner))
    return 0


def main(argv: List[str], prog: Optional[str] = None) -> int:
    return run(make_parser(prog or "lxc-ps"), argv, body)
