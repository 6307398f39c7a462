"""lxc-monitor: print the state changes of the containers whose name matches a regular
expression (-n, default every container), for one or more lxcpaths (-P repeats)."""

from __future__ import annotations

from lxcz.tools.common import NONE, REQUIRED, Args, Opt, ToolParser, UsageError, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

SYNOPSIS = "[--name=NAME]"
OPTS = [
    Opt("n", "name", "name", REQUIRED, "NAME", "NAME of the container\n"
        "NAME may be a regular expression"),
    Opt("Q", "quit", "quit", NONE, help="tell lxc-monitord to quit", action="store_true"),
    Opt("P", "lxcpath", "lxcpaths", REQUIRED, "PATH", "Use specified container path",
        action="append", default=[], hidden=True),
]


def make_parser(prog: str) -> ToolParser:
    parser = ToolParser(prog, SYNOPSIS, "", OPTS, rcfile_opt=False, name_required=False)
    default = parser.help_text()
    tail = default[default.index("\nCommon options :"):]
    tail = tail.replace("  -?, --help", "  -P, --lxcpath=PATH               Use specified container path\n  -?, --help", 1) \
        if "--lxcpath" not in tail else tail
    rows = []
    for o in OPTS:
        if o.hidden:
            continue
        lines = o.help.split("\n")
        rows.append(f"  {o.spelling():<18}{lines[0]}")
        rows += [" " * 20 + x for x in lines[1:]]
    head = (f"Usage: {prog} {SYNOPSIS}\n\n"
            f"{prog} monitors the state of the NAME container\n\nOptions :\n"
            + "\n".join(rows) + "\n")
    parser.help_text = lambda: head + tail  # type: ignore[method-assign]
    return parser


def body(args: Args) -> int:
    import re
    import select
    import sys

    from lxcz.container import default_lxcpath
    from lxcz.runtime.client import EventListener

    if args.quit:
        # there is no lxc-monitord: every monitor sends its events itself
        return 0
    try:
        pattern = re.compile(f"^(?:{args.name or '.*'})$")
    except re.error as err:
        raise UsageError(f"invalid regular expression '{args.name}': {err}") from None
    paths = args.lxcpaths or [default_lxcpath()]
    listeners = [EventListener(p) for p in paths]
    from lxcz.sys import trim

    trim.long_lived()
    try:
        while True:
            ready, _, _ = select.select(listeners, [], [])
            for lst in ready:
                ev = lst.recv_event(0)
                if ev is None or not pattern.match(ev[1]):
                    continue
                if ev[0] == "state":
                    sys.stdout.write(f"'{ev[1]}' changed state to [{ev[2]}]\n")
                elif ev[2].isdigit():  # a wait status: its exit code, as LXC prints it
                    sys.stdout.write(f"'{ev[1]}' exited with status "
                                     f"[{(int(ev[2]) >> 8) & 0xFF}]\n")
                sys.stdout.flush()
    finally:
        for lst in listeners:
            lst.close()


def main(argv: List[str], prog: Optional[str] = None) -> int:
    return run(make_parser(prog or "lxc-monitor"), argv, body)
