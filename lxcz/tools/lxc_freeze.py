"""lxc-freeze: freeze every process of a running container (v1 freezer or cgroup.freeze)."""

from __future__ import annotations

from lxcz.tools.common import Args, ToolParser, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

SYNOPSIS = "--name=NAME"


def make_parser(prog: str) -> ToolParser:
    parser = ToolParser(prog, SYNOPSIS, "", [])
    default = parser.help_text()
    tail = default[default.index("\nCommon options :"):]
    head = (f"Usage: {prog} {SYNOPSIS}\n\n"
            f"{prog} freezes a container with the identifier NAME\n\nOptions :\n"
            "  -n, --name=NAME      NAME of the container\n"
            "  --rcfile=FILE        Load configuration file FILE\n")
    parser.help_text = lambda: head + tail  # type: ignore[method-assign]
    return parser


def body(args: Args) -> int:
    from lxcz.cgroups import ops
    from lxcz.container import Container

    c = Container(args.name, args.lxcpath, rcfile=args.rcfile)
    ops.call(c, "freeze")
    return 0


def main(argv: List[str], prog: Optional[str] = None) -> int:
    return run(make_parser(prog or "lxc-freeze"), argv, body)
