"""lxc-start-ephemeral: the LXC 1.x tool, kept for the older guides.

``lxc-start-ephemeral -o BASE [-n NAME] [-d] [-k] [-b DIR] [-s tmpfs|dir] [-- CMD]`` maps
onto ``lxc-copy -e``: an overlay snapshot of BASE, started, destroyed when it stops
(kept with -k). A command after ``--`` is not supported; use lxc-attach on the copy.
"""

from __future__ import annotations

from lxcz.tools.common import NONE, REQUIRED, Args, Opt, ToolParser, UsageError, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

OPTIONS = [
    Opt("o", "orig", "orig", REQUIRED, "ORIG", "name of the original container"),
    Opt("n", "name", "name", REQUIRED, "NAME", "name of the ephemeral container"),
    Opt("d", "daemon", "daemon", NONE, help="run in the background", action="store_true"),
    Opt("k", "keep-data", "keep", NONE, help="keep the container after it stops",
        action="store_true"),
    Opt("b", "bdir", "bdir", REQUIRED, "DIR", "bind mount DIR into the container",
        action="append", default=[]),
    Opt("s", "storage-type", "storage", REQUIRED, "TYPE",
        "where the writable layer lives: tmpfs or dir"),
    Opt("p", "lxcpath", "lxcpath", REQUIRED, "PATH", "lxcpath of the original container"),
]


def parser(prog: str) -> ToolParser:
    return ToolParser(prog, "-o ORIG [-n NAME] [-d] [-k] [-b DIR] [-s tmpfs|dir]",
                      "start an ephemeral copy of a container (legacy; see lxc-copy -e)",
                      OPTIONS, name_opt=False, rcfile_opt=False)


def validate(args: Args) -> None:
    if not args.orig:
        raise UsageError("-o ORIG is needed")
    if args.storage not in (None, "tmpfs", "dir"):
        raise UsageError(f"invalid storage type '{args.storage}': tmpfs or dir")
    if args.command:
        raise UsageError("running a command in the copy is not supported: start it with -d "
                         "and use lxc-attach")


def body(args: Args) -> int:
    from lxcz.log import log
    from lxcz.tools import lxc_copy

    log.warning("lxc-start-ephemeral is deprecated: use lxc-copy -e -n %s", args.orig)
    argv = ["-n", args.orig, "-e", "-d" if args.daemon else "-F"]
    if args.name:
        argv += ["-N", args.name]
    if args.lxcpath:
        argv += ["-P", args.lxcpath]
    if args.keep:
        argv.append("-D")
    if args.storage == "tmpfs":
        argv.append("-t")
    for d in args.bdir or []:
        argv += ["-m", f"bind={d}"]
    return lxc_copy.main(argv, prog=args.prog)


def main(argv: List[str], prog: Optional[str] = None) -> int:
    return run(parser(prog or "lxc-start-ephemeral"), argv, body, validate)
