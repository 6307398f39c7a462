"""lxc-destroy: remove a container's directory and rootfs (-f stops it first)."""

from __future__ import annotations

from lxcz.tools.common import NONE, Args, Opt, ToolParser, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

SYNOPSIS = "--name=NAME [-f] [-P lxcpath]"
OPTS = [
    Opt("s", "snapshots", "snapshots", NONE, help="destroy including all snapshots",
        action="store_true"),
    Opt("f", "force", "force", NONE,
        help="stop and destroy the container if it's still running", action="store_true"),
]


def make_parser(prog: str) -> ToolParser:
    parser = ToolParser(prog, SYNOPSIS, "destroys a container with the identifier NAME",
                        OPTS)
    default = parser.help_text()
    tail = default[default.index("\nCommon options :"):]
    head = (f"Usage: {prog} {SYNOPSIS}\n\n{prog} destroys a container with the identifier "
            "NAME\n\nOptions :\n"
            "  -n, --name=NAME   NAME of the container\n"
            "  -s, --snapshots   destroy including all snapshots\n"
            "  -f, --force       stop and destroy the container if it's still running\n"
            "  --rcfile=FILE     Load configuration file FILE\n")
    parser.help_text = lambda: head + tail  # type: ignore[method-assign]
    return parser


def body(args: Args) -> int:
    from lxcz.container import Container

    c = Container(args.name, args.lxcpath, rcfile=args.rcfile)
    if not c.defined:
        from lxcz.errors import LxczError

        raise LxczError("Container is not defined")
    c.destroy(with_snapshots=bool(args.snapshots), force=bool(args.force))
    return 0


def main(argv: List[str], prog: Optional[str] = None) -> int:
    return run(make_parser(prog or "lxc-destroy"), argv, body)
