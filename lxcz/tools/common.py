"""The argument parser and error handling every tool shares.

LXC's tools parse with getopt_long over a shared table of common options (-n, -P, -o, -l,
-q, --rcfile, -?, -h, --usage, --version) and print hand-aligned help. Here each tool
declares its own options as ``Opt`` rows; the parser handles GNU-style clustering
(``-dF``), attached and separate values (``-nNAME``, ``-n NAME``, ``--name=NAME``,
``--name NAME``), optional values (``--nesting[=N]``), options after operands, and ``--``.
The same rows produce ``--help`` and ``--usage`` in LXC's layout.
"""

from __future__ import annotations

import os
import sys

from lxcz import log as lxlog
from lxcz.errors import LxczError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Sequence


NONE, REQUIRED, OPTIONAL = 0, 1, 2


class Opt:
    """One option: short letter and/or long name, how it takes a value, where it goes.

    action is store, store_true, store_const, append or count.
    """

    __slots__ = ("short", "long", "dest", "arg", "metavar", "help", "action", "const",
                 "default", "hidden")

    def __init__(self, short: Optional[str], long: Optional[str], dest: str, arg: int = NONE,
                 metavar: str = "", help: str = "", action: str = "store", const: Any = None,
                 default: Any = None, hidden: bool = False) -> None:
        self.short = short
        self.long = long
        self.dest = dest
        self.arg = arg
        self.metavar = metavar
        self.help = help
        self.action = action
        self.const = const
        self.default = default
        self.hidden = hidden

    def spelling(self) -> str:
        if self.short and self.long:
            text = f"-{self.short}, --{self.long}"
        elif self.short:
            text = f"-{self.short}"
        else:
            text = f"    --{self.long}"
        if self.arg == REQUIRED:
            text += f"={self.metavar}" if self.long else f" {self.metavar}"
        elif self.arg == OPTIONAL:
            text += f"[={self.metavar}]"
        return text


COMMON_OPTS = [
    Opt("o", "logfile", "logfile", REQUIRED, "FILE", "Output log to FILE instead of stderr"),
    Opt("l", "logpriority", "logpriority", REQUIRED, "LEVEL", "Set log priority to LEVEL"),
    Opt("q", "quiet", "quiet", NONE, help="Don't produce any output", action="store_true"),
    Opt("P", "lxcpath", "lxcpath", REQUIRED, "PATH", "Use specified container path"),
    Opt("?", "help", "help", NONE, help="Give this help list", action="store_true"),
    Opt("h", None, "help", NONE, action="store_true", hidden=True),
    Opt(None, "usage", "usage", NONE, help="Give a short usage message", action="store_true"),
    Opt(None, "version", "version", NONE, help="Print the version number", action="store_true"),
]
NAME_OPT = Opt("n", "name", "name", REQUIRED, "NAME", "NAME of the container")
IGNORED_NAME_OPT = Opt("n", "name", "ignored_name", REQUIRED, "NAME", hidden=True)
RCFILE_OPT = Opt(None, "rcfile", "rcfile", REQUIRED, "FILE", "Load configuration file FILE")


class UsageError(LxczError):
    """Bad command line: the tool prints the message and its usage, exits 1."""


class _Done(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


class Args:
    """The parsed command line: option values as attributes, operands, and what follows --."""

    def __init__(self, prog: str, values: Optional[Dict[str, Any]] = None) -> None:
        self.prog = prog
        self.positional: List[str] = []
        self.command: List[str] = []
        self.values: Dict[str, Any] = values if values is not None else {}

    def __getattr__(self, key: str) -> Any:
        try:
            return self.__dict__["values"][key]
        except KeyError:
            raise AttributeError(key) from None


class ToolParser:
    """Parse one tool's command line; see the module docstring."""

    def __init__(self, prog: str, synopsis: str, description: str,
                 options: Sequence[Opt], *, name_opt: bool = True, rcfile_opt: bool = True,
                 name_required: bool = True, max_positional: int = 0,
                 epilog: str = "") -> None:
        self.prog = prog
        self.synopsis = synopsis
        self.description = description
        own = list(options)
        if name_opt and not any(o.dest == "name" for o in own):
            own.insert(0, NAME_OPT)
        if rcfile_opt and not any(o.long == "rcfile" for o in own):
            own.append(RCFILE_OPT)
        self.own = own
        common = list(COMMON_OPTS)
        if not name_opt:  # LXC's tools all take -n; the ones without a container ignore it
            common.append(IGNORED_NAME_OPT)
        self.all = own + [c for c in common
                          if not any((c.short and c.short == o.short) or
                                     (c.long and c.long == o.long) for o in own)]
        self.name_required = name_opt and name_required
        self.max_positional = max_positional
        self.epilog = epilog

    # -- text -------------------------------------------------------------------------
    def help_text(self) -> str:
        prog = self.prog
        lines = [f"Usage: {prog} {self.synopsis}".rstrip(), "",
                 f"{prog} {self.description}".rstrip(), "", "Options :"]
        lines += self._rows(self.own, 24)
        lines += ["", "Common options :"]
        lines += self._rows([c for c in self.all if c in COMMON_OPTS], 35)
        lines += ["", "Mandatory or optional arguments to long options are also mandatory "
                  "or optional", "for any corresponding short options.", ""]
        if self.epilog:
            lines += [self.epilog, ""]
        lines.append(f"See the {prog} man page for further information.")
        return "\n".join(lines) + "\n"

    @staticmethod
    def _rows(opts: Sequence[Opt], width: int) -> List[str]:
        rows = []
        for o in opts:
            if o.hidden:
                continue
            spell = o.spelling()
            helplines = o.help.split("\n") if o.help else [""]
            if len(spell) + 2 >= width:
                rows.append(f"  {spell} {helplines[0]}".rstrip())
            else:
                rows.append(f"  {spell:<{width - 2}}{helplines[0]}".rstrip())
            rows += [" " * width + extra for extra in helplines[1:]]
        return rows

    def usage_text(self) -> str:
        parts = []
        for o in self.all:
            if o.hidden:
                continue
            val = ""
            if o.arg == REQUIRED:
                val = "=" + (o.metavar or o.dest.upper())
            elif o.arg == OPTIONAL:
                val = "[=" + (o.metavar or o.dest.upper()) + "]"
            if o.short and o.long:
                parts.append(f"[-{o.short}|--{o.long}{val}]")
            elif o.short:
                parts.append(f"[-{o.short}{val.replace('=', ' ', 1)}]")
            else:
                parts.append(f"[--{o.long}{val}]")
        lines, cur = [], f"Usage: {self.prog}"
        for p in parts:
            if len(cur) + len(p) + 1 > 78:
                lines.append(cur + " ")
                cur = "\t" + p
            else:
                cur += " " + p
        lines.append(cur)
        return "\n".join(lines) + "\n"

    # -- parsing ----------------------------------------------------------------------
    def _find_long(self, name: str) -> Opt:
        exact = [o for o in self.all if o.long == name]
        if exact:
            return exact[0]
        prefix = [o for o in self.all if o.long and o.long.startswith(name)]
        if len({o.long for o in prefix}) == 1:
            return prefix[0]
        if prefix:
            raise UsageError(f"option '--{name}' is ambiguous")
        raise UsageError(f"unrecognized option '--{name}'")

    def _find_short(self, ch: str) -> Opt:
        for o in self.all:
            if o.short == ch:
                return o
        raise UsageError(f"invalid option -- '{ch}'")

    def _store(self, values: Dict[str, Any], opt: Opt, value: Optional[str]) -> None:
        if opt.action == "store_true":
            values[opt.dest] = True
        elif opt.action == "store_const":
            values[opt.dest] = opt.const
        elif opt.action == "count":
            values[opt.dest] = (values.get(opt.dest) or 0) + 1
        elif opt.action == "append":
            values.setdefault(opt.dest, [])
            values[opt.dest] = list(values[opt.dest]) + [value]
        else:
            if opt.dest == "lxcpath" and opt.short == "P":
                values["__lxcpaths"] = values.get("__lxcpaths", 0) + 1
            values[opt.dest] = value if value is not None else opt.const

    def parse(self, argv: Sequence[str]) -> Args:
        values: Dict[str, Any] = {}
        for o in self.all:
            if o.dest not in values:
                values[o.dest] = (list(o.default) if isinstance(o.default, list)
                                  else o.default)
        values.setdefault("help", False)
        args = Args(self.prog, values=values)
        argv = list(argv)
        i = 0
        while i < len(argv):
            a = argv[i]
            i += 1
            if a == "--":
                args.command = argv[i:]
                break
            if a.startswith("--"):
                name, eq, val = a[2:].partition("=")
                opt = self._find_long(name)
                if opt.arg == NONE:
                    if eq:
                        raise UsageError(f"option '--{opt.long}' doesn't allow an argument")
                    self._store(values, opt, None)
                elif opt.arg == REQUIRED:
                    if not eq:
                        if i >= len(argv):
                            raise UsageError(f"option '--{opt.long}' requires an argument")
                        val = argv[i]
                        i += 1
                    self._store(values, opt, val)
                else:
                    self._store(values, opt, val if eq else None)
            elif a.startswith("-") and len(a) > 1:
                j = 1
                while j < len(a):
                    opt = self._find_short(a[j])
                    j += 1
                    if opt.arg == NONE:
                        self._store(values, opt, None)
                        continue
                    if j < len(a):
                        self._store(values, opt, a[j:])
                    elif opt.arg == REQUIRED:
                        if i >= len(argv):
                            raise UsageError(f"option requires an argument -- '{opt.short}'")
                        self._store(values, opt, argv[i])
                        i += 1
                    else:
                        self._store(values, opt, None)
                    break
            else:
                args.positional.append(a)
        if self.name_required and not args.values.get("name") and args.positional:
            # as LXC: without -n the first non-option argument names the container
            args.values["name"] = args.positional.pop(0)
        return args

    def check(self, args: Args) -> None:
        if args.values.get("__lxcpaths", 0) > 1:  # LXC 5's words; only lxc-monitor takes more
            raise UsageError("This command only accepts 1 -P,--lxcpath arguments")
        if len(args.positional) > self.max_positional:
            raise UsageError(f"unexpected argument '{args.positional[self.max_positional]}'")
        if self.name_required and not args.values.get("name"):
            raise UsageError("missing container name, use --name option")


def run(parser: ToolParser, argv: Sequence[str], body: Callable[[Args], int],
        validate: Optional[Callable[[Args], None]] = None) -> int:
    """Parse, set up logging, run the tool body, and turn errors into LXC-style lines.

    Returns the exit code; never raises for user errors.
    """
    prog = parser.prog
    try:
        args = parser.parse(argv)
    except UsageError as err:
        sys.stderr.write(f"{prog}: {err}\n")
        sys.stderr.write(parser.help_text())
        return 1
    if args.values.get("help"):
        sys.stdout.write(parser.help_text())
        return 0
    if args.values.get("usage"):
        sys.stdout.write(parser.usage_text())
        return 0
    if args.values.get("version"):
        # the LXC release these tools behave as: scripts compare it to pick config keys
        # and options (upstream's lxc-checkconfig prints it); `lxcz --version` names lxcz
        from lxcz.version import LXC_COMPAT

        sys.stdout.write(LXC_COMPAT + "\n")
        return 0
    name = args.values.get("name") or ""
    try:
        v = args.values
        lxcpath = v.get("lxcpath")
        if v.get("logpriority") and not v.get("logfile") and not lxcpath and name:
            from lxcz.config import system

            lxcpath = system.default_lxcpath()
        lxlog.setup(prog, name, v.get("logfile"), v.get("logpriority"), bool(v.get("quiet")),
                    lxcpath=lxcpath)
    except (ValueError, OSError) as err:
        sys.stderr.write(f"{prog}: {name + ': ' if name else ''}{err}\n")
        return 1
    global _quiet
    _quiet = bool(args.values.get("quiet"))
    try:
        try:
            parser.check(args)
            if validate:
                validate(args)
        except UsageError as err:  # a value or combination LXC refuses: one line, as LXC's
            report(prog, name, str(err))
            return 1
        return guarded(prog, name, lambda: body(args))
    finally:
        _quiet = False


_quiet = False  # -q of the tool run() is running: its error line is not printed


def guarded(prog: str, name: str, body: Callable[[], int]) -> int:
    """Run body; LxczError and anything unexpected become one line and an exit code."""
    try:
        rc = body()
        return 0 if rc is None else rc
    except LxczError as err:
        report(prog, name, str(err))
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the final flush
        except OSError:
            pass
        return 141
    except Exception as err:  # noqa: BLE001 - last line of defence for users
        if lxlog.debug_enabled():
            lxlog.log.log(lxlog.DEBUG, "internal error", exc_info=True)
        report(prog, name, f"internal error: {type(err).__name__}: {err}")
        return 1


def report(prog: str, name: str, message: str) -> None:
    """Print the one-line error (not with -q, as LXC) and send it to the log file too."""
    prefix = f"{prog}: {name}: " if name else f"{prog}: "
    text = message if message.startswith(prefix) else prefix + message
    if not _quiet:
        sys.stderr.write(text + "\n")
    lxlog.log.to_logfile(lxlog.ERROR, message)


def tool_name(default: str, prog: Optional[str]) -> str:
    return prog or default
