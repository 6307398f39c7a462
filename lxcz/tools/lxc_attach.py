"""lxc-attach: run a command (or the user's shell) inside a running container; the exit
code is the command's (128 + N when signal N ended it)."""

from __future__ import annotations

import os

from lxcz.tools.common import NONE, OPTIONAL, REQUIRED, Args, Opt, ToolParser, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

SYNOPSIS = "--name=NAME [-- COMMAND]"
OPTIONS_TEXT = """\
Options :
  -n, --name=NAME   NAME of the container
  -e, --elevated-privileges=PRIVILEGES
                    Use elevated privileges instead of those of the
                    container. If you don't specify privileges to be
                    elevated as OR'd list: CAP, CGROUP and LSM (capabilities,
                    cgroup and restrictions, respectively) then all of them
                    will be elevated.
                    WARNING: This may leak privileges into the container.
                    Use with care.
  -a, --arch=ARCH   Use ARCH for program instead of container's own
                    architecture.
  -s, --namespaces=FLAGS
                    Don't attach to all the namespaces of the container
                    but just to the following OR'd list of flags:
                    MOUNT, PID, UTSNAME, IPC, USER or NETWORK.
                    WARNING: Using -s implies -e with all privileges
                    elevated, it may therefore leak privileges into the
                    container. Use with care.
  -R, --remount-sys-proc
                    Remount /sys and /proc if not attaching to the
                    mount namespace when using -s in order to properly
                    reflect the correct namespace context. See the
                    lxc-attach(1) manual page for details.
      --clear-env   Clear all environment variables before attaching.
                    The attached shell/program will start with only
                    container=lxc set.
      --keep-env    Keep all current environment variables. This
                    is the current default behaviour, but is likely to
                    change in the future.
  -L, --pty-log=FILE
                    Log pty output to FILE
  -v, --set-var     Set an additional variable that is seen by the
                    attached program in the container. May be specified
                    multiple times.
      --keep-var    Keep an additional environment variable. Only
                    applicable if --clear-env is specified. May be used
                    multiple times.
  -f, --rcfile=FILE
                    Load configuration file FILE
  -u, --uid=UID     Execute COMMAND with UID inside the container
  -g, --gid=GID     Execute COMMAND with GID inside the container
  -c, --context=context
                    SELinux Context to transition into
"""

OPTS = [
    Opt("e", "elevated-privileges", "elevated", OPTIONAL, "PRIVILEGES", const=""),
    Opt("a", "arch", "arch", REQUIRED, "ARCH"),
    Opt("s", "namespaces", "namespaces", REQUIRED, "FLAGS"),
    Opt("R", "remount-sys-proc", "remount", NONE, action="store_true"),
    Opt(None, "clear-env", "env_policy", NONE, action="store_const", const="clear"),
    Opt(None, "keep-env", "env_policy", NONE, action="store_const", const="keep"),
    Opt(None, "keep-var", "keep_vars", REQUIRED, "VAR", action="append", default=[]),
    Opt("v", "set-var", "set_vars", REQUIRED, "VAR=VALUE", action="append", default=[]),
    Opt("L", "pty-log", "pty_log", REQUIRED, "FILE"),
    Opt("f", "rcfile", "rcfile", REQUIRED, "FILE"),
    Opt("u", "uid", "uid", REQUIRED, "UID"),
    Opt("g", "gid", "gid", REQUIRED, "GID"),
    Opt("c", "context", "context", REQUIRED, "context"),
]

PRIVILEGES = ("CAP", "CGROUP", "LSM")


def make_parser(prog: str) -> ToolParser:
    parser = ToolParser(prog, SYNOPSIS, "", OPTS, rcfile_opt=False, max_positional=1 << 16)
    default = parser.help_text()
    tail = default[default.index("\nCommon options :"):]
    head = (f"Usage: {prog} {SYNOPSIS}\n\nExecute the specified COMMAND - enter the "
            "container NAME\n\n")
    parser.help_text = lambda: head + OPTIONS_TEXT + tail  # type: ignore[method-assign]
    return parser


def elevated_flags(text: Optional[str]) -> int:
    """-e [CAP|CGROUP|LSM]: the attach flags to clear (all three without a list)."""
    from lxcz.errors import LxczError
    from lxcz.runtime import attach as A

    bits = {"CAP": A.LXC_ATTACH_DROP_CAPABILITIES, "CGROUP": A.LXC_ATTACH_MOVE_TO_CGROUP,
            "LSM": A.LXC_ATTACH_LSM}
    if not text:
        return bits["CAP"] | bits["CGROUP"] | bits["LSM"]
    out = 0
    for word in text.split("|"):
        w = word.strip().upper()
        if w not in bits:
            raise LxczError(f"invalid privilege '{word}' (use CAP, CGROUP or LSM)")
        out |= bits[w]
    return out


def _id(text: Optional[str], what: str) -> Optional[int]:
    from lxcz.tools.common import UsageError

    if text is None:
        return None
    try:
        value = int(text, 10)
    except ValueError:
        raise UsageError(f"invalid {what} '{text}'") from None
    if value < 0:
        raise UsageError(f"invalid {what} '{text}'")
    return value


def body(args: Args) -> int:
    from lxcz.container import Container
    from lxcz.errors import LxczError
    from lxcz.runtime import attach as A
    from lxcz.tools.common import UsageError

    flags = A.LXC_ATTACH_DEFAULT
    namespaces = None
    elevated = 0
    if args.namespaces:
        namespaces = A.parse_namespaces(args.namespaces)
        elevated = elevated_flags(None)  # -s implies -e
    if args.elevated is not None:  # "" when -e came without a list
        elevated |= elevated_flags(args.elevated or None)
    if args.context:
        if elevated & A.LXC_ATTACH_LSM:
            raise UsageError("cannot combine elevated LSM privileges (-e, -s) with an "
                             "LSM label (-c)")
        flags |= A.LXC_ATTACH_LSM_LABEL
    flags &= ~elevated
    if args.remount:
        flags |= A.LXC_ATTACH_REMOUNT_PROC_SYS
    personality = -1
    if args.arch:
        from lxcz.sys import attachcalls

        p = attachcalls.personality_for(args.arch)
        if p is None:
            raise LxczError(f"Invalid architecture specified: {args.arch}")
        personality = p
    uid = _id(args.uid, "uid")
    gid = _id(args.gid, "gid")
    terminal = any(os.isatty(fd) for fd in (0, 1, 2))
    # getopt's order: words before "--" that are not options start the command
    # (`-e CAP -- cmd` runs "CAP cmd", as LXC does: -e takes a value only as -eCAP)
    command = list(args.positional) + list(args.command)
    c = Container(args.name, args.lxcpath, rcfile=args.rcfile)
    status = c.attach_wait(
        A.attach_run_command if command else A.attach_run_shell, command or None,
        attach_flags=flags, namespaces=namespaces if namespaces is not None else -1,
        personality=personality,
        env_policy=A.LXC_ATTACH_CLEAR_ENV if args.env_policy == "clear"
        else A.LXC_ATTACH_KEEP_ENV,
        extra_env_vars=args.set_vars, extra_keep_env=args.keep_vars, uid=uid, gid=gid,
        lsm_label=args.context or None,
        terminal=terminal, pty_log=args.pty_log, forward_signals=True)
    return A.exit_code(status)


def main(argv: List[str], prog: Optional[str] = None) -> int:
    return run(make_parser(prog or "lxc-attach"), argv, body)
