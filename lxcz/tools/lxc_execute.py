"""lxc-execute: run one command in a (possibly transient) container, with lxcz's own
PID-1 init (lxcz.runtime.init) as PID 1 and the command as PID 2.

The exit status is the command's (128+N when signal N killed it; 126/127 when it cannot
be run). With -f and a name that is not defined, nothing is written to the lxcpath.
"""

from __future__ import annotations

from lxcz.tools.common import NAME_OPT, NONE, REQUIRED, Args, Opt, ToolParser, UsageError, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

SYNOPSIS = "--name=NAME -- COMMAND"
# rows lxc-start has too (lxc_start imports them)
RCFILE_F_OPT = Opt("f", "rcfile", "rcfile", REQUIRED, "FILE", "Load configuration file FILE")
DEFINE_OPT = Opt("s", "define", "define", REQUIRED, "KEY=VAL",
                 "Assign VAL to configuration variable KEY", action="append", default=[])
OPTS = [
    NAME_OPT,
    Opt("d", "daemon", "daemon", NONE, help="Daemonize the container", action="store_true"),
    RCFILE_F_OPT,
    DEFINE_OPT,
    Opt("u", "uid", "uid", REQUIRED, "UID", "Execute COMMAND with UID inside the container"),
    Opt("g", "gid", "gid", REQUIRED, "GID", "Execute COMMAND with GID inside the container"),
]


def _rows(opts: List[Opt], width: int) -> List[str]:
    rows = []
    for o in opts:
        if o.hidden:
            continue
        spell = o.spelling().replace("--define=", "--define ")
        lines = o.help.split("\n")
        rows.append(f"  {spell:<{width - 2}}{lines[0]}")
        rows += [" " * width + x for x in lines[1:]]
    return rows


def run_parser(prog: str, opts: List[Opt], width: int, about: str,
               more: str = "") -> ToolParser:
    """The parser of lxc-execute or lxc-start, its help in LXC's layout for those two:
    ABOUT under the usage line, option text from column WIDTH, MORE after the rows."""
    parser = ToolParser(prog, SYNOPSIS, "", opts, rcfile_opt=False)
    default = parser.help_text()
    tail = default[default.index("\nCommon options :"):]
    rows = "\n".join(_rows(opts, width))
    head = (f"Usage: {prog} {SYNOPSIS}\n\n{about}\n\nOptions :\n" + rows + "\n" + more)
    parser.help_text = lambda: head + tail  # type: ignore[method-assign]
    return parser


def make_parser(prog: str) -> ToolParser:
    return run_parser(prog, OPTS, 23, f"{prog} creates a container with the identifier NAME\n"
                      "and execs COMMAND into this container.")


def apply_defines(c: object, defines: List[str]) -> None:
    """-s KEY=VAL: set each key in the in-memory configuration."""
    for d in defines or []:
        key, eq, val = d.partition("=")
        if not eq or not key.strip():
            raise UsageError(f"invalid -s value '{d}', expected KEY=VAL")
        c.set_config_item(key.strip(), val.strip())  # type: ignore[attr-defined]


def load(args: Args) -> object:
    import os

    from lxcz.container import Container
    from lxcz.errors import LxczError

    c = Container(args.name, args.lxcpath, rcfile=args.rcfile)
    if args.rcfile:
        if not os.path.isfile(args.rcfile):
            raise LxczError(f"configuration file '{args.rcfile}' does not exist")
    elif not c.defined:
        raise LxczError(f"no configuration: container '{args.name}' is not defined in "
                        f"{c.config_path} (give one with -f)")
    _ = c.config
    apply_defines(c, args.define)
    return c


def _id(text: Optional[str], what: str) -> Optional[int]:
    if text is None:
        return None
    if not text.isdigit():
        raise UsageError(f"invalid {what} '{text}'")
    return int(text)


def body(args: Args) -> int:
    from lxcz.errors import LxczError
    from lxcz.runtime import api
    from lxcz.runtime.start import AlreadyRunning

    uid = _id(args.uid, "uid")
    gid = _id(args.gid, "gid")
    c = load(args)
    opts = {}
    if uid is not None:
        opts["uid"] = uid
    if gid is not None:
        opts["gid"] = gid
    try:
        return api.start_code(c, useinit=True, daemonize=bool(args.daemon),
                              cmd=args.command, prog=args.prog, **opts)
    except AlreadyRunning as err:  # lxc-start says so and succeeds; lxc-execute fails
        raise LxczError(str(err)) from None


def validate(args: Args) -> None:
    if not args.command:
        raise UsageError("missing command to execute (give it after --)")


def main(argv: List[str], prog: Optional[str] = None) -> int:
    return run(make_parser(prog or "lxc-execute"), argv, body, validate)
