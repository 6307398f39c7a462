"""lxc-clone: the pre-2.0 tool, kept for the older guides (``lxc-clone -o OLD -n NEW``).

Options as it took them: -o/--orig, -n/--new, -s/--snapshot, -B/--backingstore,
-L/--fssize, -K/--keepname, -M/--keepmac, -p/--lxcpath (source) and -P/--newpath. It maps
onto what lxc-copy does.
"""

from __future__ import annotations

from lxcz.tools.common import NONE, REQUIRED, Args, Opt, ToolParser, UsageError, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

OPTIONS = [
    Opt("o", "orig", "orig", REQUIRED, "ORIG", "name of the original container"),
    Opt("n", "new", "name", REQUIRED, "NEW", "name of the new container"),
    Opt("s", "snapshot", "snapshot", NONE, help="create a snapshot clone",
        action="store_true"),
    Opt("B", "backingstore", "bdev", REQUIRED, "TYPE", "backing store type of the clone"),
    Opt("L", "fssize", "fssize", REQUIRED, "SIZE", "size of a new block device"),
    Opt("K", "keepname", "keepname", NONE, help="keep the hostname", action="store_true"),
    Opt("M", "keepmac", "keepmac", NONE, help="keep the MAC addresses", action="store_true"),
    Opt("p", "lxcpath", "lxcpath", REQUIRED, "PATH", "lxcpath of the original container"),
    Opt("P", "newpath", "newpath", REQUIRED, "PATH", "lxcpath of the new container"),
]


def parser(prog: str) -> ToolParser:
    return ToolParser(prog, "-o ORIG -n NEW [-s] [-B TYPE] [-L SIZE] [-K] [-M] [-p PATH] "
                      "[-P NEWPATH]", "clone a container (legacy; see lxc-copy)", OPTIONS,
                      name_opt=False, rcfile_opt=False)


def validate(args: Args) -> None:
    if not args.orig or not args.name:
        raise UsageError("both -o ORIG and -n NEW are needed")


def body(args: Args) -> int:
    from lxcz.log import log
    from lxcz.tools import lxc_copy

    log.warning("lxc-clone is deprecated: use lxc-copy -n %s -N %s", args.orig, args.name)
    argv = ["-n", args.orig, "-N", args.name]
    for flag, value in (("-P", args.lxcpath), ("-p", args.newpath), ("-B", args.bdev),
                        ("-L", args.fssize)):
        if value:
            argv += [flag, value]
    argv += ["-s"] * bool(args.snapshot) + ["-K"] * bool(args.keepname) + \
        ["-M"] * bool(args.keepmac)
    return lxc_copy.main(argv, prog=args.prog)


def main(argv: List[str], prog: Optional[str] = None) -> int:
    return run(parser(prog or "lxc-clone"), argv, body, validate)
