"""lxc-wait: wait until a container reaches one of the given states (-s 'A|B'), or until
the timeout (-t seconds) passes (exit 1)."""

from __future__ import annotations

from lxcz.tools.common import REQUIRED, Args, Opt, ToolParser, UsageError, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

SYNOPSIS = "--name=NAME --state=STATE"
OPTS = [
    Opt("n", "name", "name", REQUIRED, "NAME", "NAME of the container"),
    Opt("s", "state", "state", REQUIRED, "STATE",
        "ORed states to wait for\nSTOPPED, STARTING, RUNNING, STOPPING,\n"
        "ABORTING, FREEZING, FROZEN, THAWED"),
    Opt("t", "timeout", "timeout", REQUIRED, "TMO", "Seconds to wait for state changes"),
    Opt(None, "rcfile", "rcfile", REQUIRED, "FILE", "Load configuration file FILE"),
]


def make_parser(prog: str) -> ToolParser:
    parser = ToolParser(prog, SYNOPSIS, "", OPTS, rcfile_opt=False)
    default = parser.help_text()
    tail = default[default.index("\nCommon options :"):]
    rows = []
    for o in OPTS:
        spell = o.spelling() if o.short else f"--{o.long}={o.metavar}"
        lines = o.help.split("\n")
        rows.append(f"  {spell:<18}{lines[0]}")
        rows += [" " * 20 + x for x in lines[1:]]
    head = (f"Usage: {prog} {SYNOPSIS}\n\n"
            f"{prog} waits for NAME container state to reach STATE\n\nOptions :\n"
            + "\n".join(rows) + "\n")
    parser.help_text = lambda: head + tail  # type: ignore[method-assign]
    return parser


def validate(args: Args) -> None:
    if not args.state:
        raise UsageError("missing state option to wait for")
    if args.timeout is not None:
        try:
            int(args.timeout)
        except ValueError:
            raise UsageError(f"invalid timeout '{args.timeout}'") from None


def body(args: Args) -> int:
    from lxcz.container import Container
    from lxcz.runtime import api

    c = Container(args.name, args.lxcpath, rcfile=args.rcfile)
    timeout = int(args.timeout) if args.timeout is not None else -1
    return 0 if api.wait(c, args.state, timeout) else 1


def main(argv: List[str], prog: Optional[str] = None) -> int:
    return run(make_parser(prog or "lxc-wait"), argv, body, validate)
