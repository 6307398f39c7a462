"""lxc-start: start a container with its init (lxc.init.cmd, /sbin/init, or -- CMD) under
a per-container monitor; daemonized by default, -F keeps the terminal as the console."""

from __future__ import annotations

from lxcz.tools.common import NAME_OPT, NONE, REQUIRED, Args, Opt, ToolParser, UsageError, run
from lxcz.tools.lxc_execute import DEFINE_OPT, RCFILE_F_OPT, load, run_parser

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional

OPTS = [
    NAME_OPT,
    Opt("d", "daemon", "daemon", NONE, help="Daemonize the container (default)",
        action="store_true"),
    Opt("F", "foreground", "foreground", NONE,
        help="Start with the current tty attached to /dev/console", action="store_true"),
    Opt("p", "pidfile", "pidfile", REQUIRED, "FILE", "Create a file with the process id"),
    RCFILE_F_OPT,
    Opt("c", "console", "console", REQUIRED, "FILE",
        "Use specified FILE for the container console"),
    Opt("L", "console-log", "console_log", REQUIRED, "FILE",
        "Log container console output to FILE"),
    Opt("C", "close-all-fds", "close_all_fds", NONE,
        help="If any fds are inherited, close them\nNote: --daemon implies --close-all-fds",
        action="store_true"),
    DEFINE_OPT,
    Opt(None, "share-net", "share_net", REQUIRED, "NAME", hidden=True),
    Opt(None, "share-ipc", "share_ipc", REQUIRED, "NAME", hidden=True),
    Opt(None, "share-uts", "share_uts", REQUIRED, "NAME", hidden=True),
    Opt(None, "share-pid", "share_pid", REQUIRED, "NAME", hidden=True),
]


def make_parser(prog: str) -> ToolParser:
    return run_parser(prog, OPTS, 25, f"{prog} start COMMAND in specified container NAME",
                      "      --share-[net|ipc|uts|pid]=NAME Share a namespace with another "
                      "container or pid\n")


def body(args: Args) -> int:
    import os

    from lxcz import log as lxlog
    from lxcz.runtime import api
    from lxcz.runtime.start import AlreadyRunning

    c = load(args)
    share: Dict[str, str] = {}
    for ns in ("net", "ipc", "uts", "pid"):
        v = args.values.get("share_" + ns)
        if v:
            share[ns] = v
    opts = {"share": share, "close_fds": bool(args.close_all_fds)}
    if args.pidfile:
        opts["pidfile"] = os.path.abspath(args.pidfile)
    if args.console:
        opts["console"] = args.console
    if args.console_log:
        opts["console_log"] = os.path.abspath(args.console_log)
    daemonize = not args.foreground
    try:
        rc = api.start_code(c, useinit=False, daemonize=daemonize, cmd=args.command or None,
                            prog=args.prog, **opts)
    except AlreadyRunning as err:
        lxlog.log.error("%s", err)
        return err.exit_code
    # in the foreground: the exit status of the container's init
    return rc


def validate(args: Args) -> None:
    if args.daemon and args.foreground:
        raise UsageError("-d and -F cannot be used together")


def main(argv: List[str], prog: Optional[str] = None) -> int:
    return run(make_parser(prog or "lxc-start"), argv, body, validate)
