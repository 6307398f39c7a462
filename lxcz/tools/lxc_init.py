"""lxc-init: the minimal PID-1 init on its own (``lxc-init -n NAME -- CMD``): runs CMD
as a child, reaps zombies, forwards signals, exits with CMD's status."""

from __future__ import annotations

from lxcz.tools.common import REQUIRED, Args, Opt, ToolParser, UsageError, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

SYNOPSIS = "--name=NAME -- COMMAND"
OPTS = [Opt("n", "name", "name", REQUIRED, "NAME", "NAME of the container")]


def make_parser(prog: str) -> ToolParser:
    parser = ToolParser(prog, SYNOPSIS, "", OPTS, rcfile_opt=False, name_required=False)
    default = parser.help_text()
    tail = default[default.index("\nCommon options :"):]
    tail = "\n".join(x for x in tail.split("\n") if "--logfile" not in x
                     and "--logpriority" not in x)
    head = (f"Usage: {prog} {SYNOPSIS}\n\n"
            f"  {prog} start a COMMAND as PID 2 inside a container\n\nOptions :\n"
            f"  -n, --name=NAME                  NAME of the container\n")
    parser.help_text = lambda: head + tail.replace("\nCommon options :\n", "", 1)  # type: ignore[method-assign]
    return parser


def validate(args: Args) -> None:
    if not args.command and not args.positional:
        raise UsageError("missing command to launch (give it after --)")


def body(args: Args) -> int:
    import os

    from lxcz.runtime import init
    from lxcz.sys import calls

    cmd = args.command or args.positional
    if os.getpid() != 1:
        try:
            calls.set_child_subreaper()
        except OSError:
            pass
    return init.run(cmd, None, args.prog, args.name or "")


def main(argv: List[str], prog: Optional[str] = None) -> int:
    parser = make_parser(prog or "lxc-init")
    parser.max_positional = 1 << 16
    return run(parser, argv, body, validate)
