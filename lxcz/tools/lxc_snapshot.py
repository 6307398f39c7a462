"""lxc-snapshot: make, list, restore and destroy snapshots of a container."""

from __future__ import annotations

from lxcz.tools.common import NONE, REQUIRED, Args, Opt, ToolParser, UsageError, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

OPTIONS = [
    Opt("L", "list", "list", NONE, help="list all snapshots", action="store_true"),
    Opt("r", "restore", "restore", REQUIRED, "NAME", "restore snapshot NAME, e.g. 'snap0'"),
    Opt("N", "newname", "newname", REQUIRED, "NEWNAME", "NEWNAME for the restored container"),
    Opt("d", "destroy", "destroy", REQUIRED, "NAME",
        "destroy snapshot NAME, e.g. 'snap0'\nuse ALL to destroy all snapshots"),
    Opt("c", "comment", "comment", REQUIRED, "FILE", "add FILE as a comment"),
    Opt("C", "showcomments", "showcomments", NONE, help="show snapshot comments",
        action="store_true"),
]


def parser(prog: str) -> ToolParser:
    return ToolParser(prog, "--name=NAME [-P lxcpath] [-L [-C]] [-c commentfile] "
                      "[-r snapname [-N newname]]", "snapshots a container", OPTIONS)


def validate(args: Args) -> None:
    chosen = [x for x in (args.list, args.restore, args.destroy) if x]
    if len(chosen) > 1:
        raise UsageError("-L, -r and -d cannot be combined")
    if args.newname and not args.restore:
        raise UsageError("-N goes with -r")
    if args.showcomments and not args.list:
        raise UsageError("-C goes with -L")


def body(args: Args) -> int:
    from lxcz.container import Container
    from lxcz.errors import LxczError

    c = Container(args.name, args.lxcpath, rcfile=args.rcfile)
    if not c.defined:
        raise LxczError(f"{args.name} does not exist")
    if args.list:
        snaps = c.snapshot_list()
        if not snaps:
            print("No snapshots")
            return 0
        for name, comment, ts, where in snaps:
            print(f"{name} ({where}) {ts}")
            if args.showcomments and comment:
                with open(comment) as fh:
                    print(fh.read().rstrip("\n"))
        return 0
    if args.restore:
        c.snapshot_restore(args.restore, args.newname)
        return 0
    if args.destroy:
        c.snapshot_destroy(args.destroy)
        return 0
    c.snapshot(args.comment)
    return 0


def main(argv: List[str], prog: Optional[str] = None) -> int:
    return run(parser(prog or "lxc-snapshot"), argv, body, validate)
