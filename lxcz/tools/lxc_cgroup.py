"""lxc-cgroup: read or write one cgroup file of a running container."""

from __future__ import annotations

import sys

from lxcz.tools.common import Args, ToolParser, UsageError, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

SYNOPSIS = "--name=NAME state-object [value]"


def make_parser(prog: str) -> ToolParser:
    parser = ToolParser(prog, SYNOPSIS, "", [], max_positional=2)
    default = parser.help_text()
    tail = default[default.index("\nCommon options :"):]
    head = (f"Usage: {prog} {SYNOPSIS}\n\n"
            "Get or set the value of a state object (for example, 'cpuset.cpus')\n"
            "in the container's cgroup for the corresponding subsystem.\n\nOptions :\n"
            "  -n, --name=NAME      NAME of the container\n"
            "  --rcfile=FILE        Load configuration file FILE\n")
    parser.help_text = lambda: head + tail  # type: ignore[method-assign]
    return parser


def validate(args: Args) -> None:
    if not args.positional:
        raise UsageError("missing state object")


def body(args: Args) -> int:
    from lxcz.cgroups import ops
    from lxcz.container import Container

    c = Container(args.name, args.lxcpath, rcfile=args.rcfile)
    key = args.positional[0]
    if len(args.positional) == 2:
        ops.call(c, "set_cgroup_item", key, args.positional[1])
        return 0
    value = ops.call(c, "get_cgroup_item", key)
    # the value with its newline, then LXC's own: lxc-cgroup prints an empty line after
    sys.stdout.write(value.rstrip("\n") + "\n\n")
    return 0


def main(argv: List[str], prog: Optional[str] = None) -> int:
    return run(make_parser(prog or "lxc-cgroup"), argv, body, validate)
