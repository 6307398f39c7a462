"""lxc-freeze and lxc-unfreeze: freeze or thaw every process of a running container (v1
freezer or cgroup.freeze). Both tools are this one module; lxc_unfreeze.py is its second
entry point."""

from __future__ import annotations

from lxcz.tools.common import Args, ToolParser, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

SYNOPSIS = "--name=NAME"
# verb -> the column LXC 5's own help aligns its option text at (the two tools differ)
HELP_COLUMN = {"freeze": 23, "unfreeze": 20}


def make_parser(prog: str, verb: str = "freeze") -> ToolParser:
    parser = ToolParser(prog, SYNOPSIS, "", [])
    default = parser.help_text()
    tail = default[default.index("\nCommon options :"):]
    width = HELP_COLUMN[verb] - 2
    head = (f"Usage: {prog} {SYNOPSIS}\n\n"
            f"{prog} {verb}s a container with the identifier NAME\n\nOptions :\n"
            f"  {'-n, --name=NAME':<{width}}NAME of the container\n"
            f"  {'--rcfile=FILE':<{width}}Load configuration file FILE\n")
    parser.help_text = lambda: head + tail  # type: ignore[method-assign]
    return parser


def run_verb(verb: str, argv: List[str], prog: Optional[str] = None) -> int:
    """The whole tool lxc-VERB, for VERB freeze or unfreeze."""
    def body(args: Args) -> int:
        from lxcz.cgroups import ops
        from lxcz.container import Container

        c = Container(args.name, args.lxcpath, rcfile=args.rcfile)
        ops.call(c, verb)
        return 0

    return run(make_parser(prog or "lxc-" + verb, verb), argv, body)


def main(argv: List[str], prog: Optional[str] = None) -> int:
    return run_verb("freeze", argv, prog)
