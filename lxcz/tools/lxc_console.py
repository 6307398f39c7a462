"""lxc-console: an interactive session on a container's tty (-t N) or its console; leave
with the escape prefix (Ctrl+a, -e to change it) followed by q."""

from __future__ import annotations

import sys

from lxcz.tools.common import REQUIRED, Args, Opt, ToolParser, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

SYNOPSIS = "--name=NAME [--tty NUMBER]"
OPTS = [
    Opt("t", "tty", "tty", REQUIRED, "NUMBER", "console tty number"),
    Opt("e", "escape", "escape", REQUIRED, "PREFIX", "prefix for escape command"),
]


def make_parser(prog: str) -> ToolParser:
    parser = ToolParser(prog, SYNOPSIS, "logs on the container with the identifier NAME",
                        OPTS)
    default = parser.help_text()
    tail = default[default.index("\nCommon options :"):]
    head = (f"Usage: {prog} {SYNOPSIS}\n\n{prog} logs on the container with the "
            "identifier NAME\n\nOptions :\n"
            "  -n, --name=NAME      NAME of the container\n"
            "  -t, --tty=NUMBER     console tty number\n"
            "  -e, --escape=PREFIX  prefix for escape command\n"
            "  --rcfile=FILE        Load configuration file FILE\n")
    parser.help_text = lambda: head + tail  # type: ignore[method-assign]
    return parser


def body(args: Args) -> int:
    from lxcz.container import Container
    from lxcz.errors import LxczError
    from lxcz.runtime import client, console_client
    from lxcz.tools.common import UsageError

    ttynum = -1
    if args.tty is not None:
        if not args.tty.isdigit():
            raise UsageError(f"invalid tty number '{args.tty}'")
        ttynum = int(args.tty)
    escape = console_client.escape_code(args.escape) if args.escape is not None else 1
    c = Container(args.name, args.lxcpath, rcfile=args.rcfile)
    if not client.is_running(c):
        if not c.defined:
            raise LxczError("Container is not defined")
        raise LxczError(f"{c.name} is not running")

    def notice(text: str) -> None:
        sys.stderr.write(text)
        sys.stderr.flush()

    console_client.console(c, ttynum, 0, 1, 2, escape, notice=notice)
    return 0


def main(argv: List[str], prog: Optional[str] = None) -> int:
    return run(make_parser(prog or "lxc-console"), argv, body)
