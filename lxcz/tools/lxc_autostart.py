"""lxc-autostart: start, stop, kill or reboot the containers marked lxc.start.auto."""

from __future__ import annotations

from lxcz.tools.common import NONE, REQUIRED, Args, Opt, ToolParser, UsageError, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

OPTIONS = [
    Opt("k", "kill", "kill", NONE, help="kill the containers instead of starting them",
        action="store_true"),
    Opt("L", "list", "list", NONE, help="list all affected containers and wait delay",
        action="store_true"),
    Opt("r", "reboot", "reboot", NONE, help="reboot the containers instead of starting them",
        action="store_true"),
    Opt("s", "shutdown", "shutdown", NONE,
        help="shutdown the containers instead of starting them", action="store_true"),
    Opt("a", "all", "all", NONE, help="list all auto-started containers (ignore groups)",
        action="store_true"),
    Opt("A", "ignore-auto", "ignore_auto", NONE, action="store_true",
        help="ignore lxc.start.auto and select all matching containers"),
    Opt("g", "groups", "groups", REQUIRED, "GROUPS", action="append", default=[],
        help="list of groups (comma separated) to select"),
    Opt("t", "timeout", "timeout", REQUIRED, "T", "wait T seconds before hard-stopping"),
]


def parser(prog: str) -> ToolParser:
    return ToolParser(prog, "", "managed auto-started containers", OPTIONS, name_opt=False,
                      rcfile_opt=False)


def validate(args: Args) -> None:
    if sum(bool(x) for x in (args.kill, args.reboot, args.shutdown)) > 1:
        raise UsageError("-k, -r and -s cannot be combined")
    if args.timeout is not None:
        try:
            if int(args.timeout) < 0:
                raise ValueError
        except ValueError:
            raise UsageError(f"invalid timeout '{args.timeout}'") from None


def body(args: Args) -> int:
    from lxcz import autostart
    from lxcz.log import log

    groups = autostart.parse_groups(args.groups or [])
    if groups and args.all:
        log.error("specifying -a (all) with -g (groups) doesn't make sense: -a wins")
    action = ("kill" if args.kill else "reboot" if args.reboot else
              "shutdown" if args.shutdown else "start")
    return autostart.run(args.lxcpath, action, groups, bool(args.all),
                         bool(args.ignore_auto), bool(args.list),
                         int(args.timeout) if args.timeout is not None else 60)


def main(argv: List[str], prog: Optional[str] = None) -> int:
    return run(parser(prog or "lxc-autostart"), argv, body, validate)
