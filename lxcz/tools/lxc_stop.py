"""lxc-stop: ask a container to halt cleanly (lxc.signal.halt), killing it after the
timeout unless --nokill; -k kills at once, -r reboots, -W does not wait."""

from __future__ import annotations

from lxcz.tools.common import NONE, REQUIRED, Args, Opt, ToolParser, UsageError, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

SYNOPSIS = "--name=NAME"
OPTS = [
    Opt("n", "name", "name", REQUIRED, "NAME", "NAME of the container"),
    Opt("r", "reboot", "reboot", NONE, help="reboot the container", action="store_true"),
    Opt("W", "nowait", "nowait", NONE, help="don't wait for shutdown or reboot to complete",
        action="store_true"),
    Opt("t", "timeout", "timeout", REQUIRED, "T", "wait T seconds before hard-stopping"),
    Opt("k", "kill", "kill", NONE, help="kill container rather than request clean shutdown",
        action="store_true"),
    Opt(None, "nolock", "nolock", NONE, help="Avoid using API locks", action="store_true"),
    Opt(None, "nokill", "nokill", NONE,
        help="Only request clean shutdown, don't force kill after timeout",
        action="store_true"),
    Opt(None, "rcfile", "rcfile", REQUIRED, "FILE", "Load configuration file FILE"),
]


def make_parser(prog: str) -> ToolParser:
    parser = ToolParser(prog, SYNOPSIS, "", OPTS, rcfile_opt=False)
    default = parser.help_text()
    tail = default[default.index("\nCommon options :"):]
    rows = []
    for o in OPTS:
        spell = o.spelling() if o.short else f"--{o.long}" + (
            f"={o.metavar}" if o.metavar else "")
        if not o.short and o.long in ("nolock", "nokill"):
            spell = "    " + spell
        rows.append(f"  {spell:<18}{o.help}")
    head = (f"Usage: {prog} {SYNOPSIS}\n\n"
            f"{prog} stops a container with the identifier NAME\n\nOptions :\n"
            + "\n".join(rows) + "\n")
    parser.help_text = lambda: head + tail  # type: ignore[method-assign]
    return parser


def _timeout(args: Args) -> int:
    if args.timeout is None:
        return -2
    try:
        t = int(args.timeout)
    except ValueError:
        raise UsageError(f"invalid timeout '{args.timeout}'") from None
    if t < -1:
        raise UsageError(f"invalid timeout '{args.timeout}'")
    return t


def validate(args: Args) -> None:
    t = _timeout(args)
    if args.kill and args.nokill:
        raise UsageError("-k can't be used with --nokill")
    if args.kill and args.reboot:
        raise UsageError("-k can't be used with -r")
    if args.kill and t not in (-2, 0):
        raise UsageError("-k doesn't allow timeouts")
    if args.nolock and not args.kill:
        raise UsageError("--nolock may only be used with -k")


def body(args: Args) -> int:
    from lxcz import log as lxlog
    from lxcz.container import Container
    from lxcz.runtime import api, client

    c = Container(args.name, args.lxcpath, rcfile=args.rcfile)
    timeout = _timeout(args)
    if timeout == -2:
        timeout = 0 if args.kill else 60
    if args.nowait:
        timeout = 0
    if client.get_state(c) == "STOPPED":
        api.cleanup_stale(c)
        lxlog.log.error("Container is not running")
        return 2
    try:
        if args.kill:
            return 0 if api.stop(c) else 1
        if args.reboot:
            return 0 if api.reboot(c, timeout) else 1
        if api.shutdown(c, timeout):
            return 0
        if timeout == 0:
            return 0
        if args.nokill:
            lxlog.log.error("Container did not stop within %d seconds", timeout)
            return 1
        return 0 if api.stop(c) else 1
    except api.NotRunningError:
        lxlog.log.error("Container is not running")
        return 2


def main(argv: List[str], prog: Optional[str] = None) -> int:
    return run(make_parser(prog or "lxc-stop"), argv, body, validate)
