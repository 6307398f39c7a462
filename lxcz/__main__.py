"""Entry point: pick the tool from basename(argv[0]) busybox-style, else from argv[1].

``lxc-start -n c1`` (a symlink to lxcz), ``lxcz lxc-start -n c1`` and ``lxcz start -n c1``
run the same tool. ``lxcz --version``, ``lxcz --list``, ``lxcz install`` and
``lxcz uninstall`` manage lxcz itself.
"""

from __future__ import annotations

import gc
import os
import sys

USAGE = """\
Usage: lxcz TOOL [OPTIONS...]     (or call a link named TOOL that points at lxcz)
       lxcz --list | --version | --help
       lxcz install [--prefix DIR] [--force]
       lxcz uninstall [--prefix DIR]
       lxcz net up|down|status [--settings FILE]   (the lxcbr0 bridge, like lxc-net)
       lxcz usernet serve|status   (root service giving users veths, like lxc-user-nic)
"""


def run_tool(tool: str, argv: list[str], prog: str | None = None) -> int:
    """Run one tool by its table name with argv (without the program name)."""
    from lxcz.tools import TOOLS

    prog = prog or tool
    name = "lxcz.tools." + TOOLS[tool][0]
    try:
        __import__(name)
    except ModuleNotFoundError as err:
        if err.name != name:
            raise
        sys.stderr.write(f"{prog}: not implemented in lxcz yet\n")
        return 1
    rc = sys.modules[name].main(argv, prog=prog)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the interpreter's flush
    return rc


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    # A tool is a short-lived process: the cyclic collector only costs it time (0.5-1 ms of
    # collections while its modules load), and what it would free goes at exit anyway.
    # Whatever lives on (a monitor, lxc-init, the loops of lxc-monitor, lxc-console,
    # lxc-top, ...) turns it back on with lxcz.sys.trim.long_lived().
    gc.disable()
    from lxcz.tools import canonical

    invoked = os.path.basename(argv[0]) if argv else "lxcz"
    tool = canonical(invoked) if invoked.startswith("lxc-") else None
    if tool:
        return run_tool(tool, argv[1:], prog=invoked)
    if invoked.startswith("lxc-"):
        sys.stderr.write(f"lxcz: unknown tool '{invoked}' (lxcz --list shows every tool)\n")
        return 2
    if len(argv) < 2 or argv[1] in ("-h", "--help", "-?", "help"):
        (sys.stdout if len(argv) >= 2 else sys.stderr).write(USAGE)
        return 0 if len(argv) >= 2 else 2
    cmd, rest = argv[1], argv[2:]
    if cmd == "--version":
        from lxcz.version import LXC_COMPAT, VERSION

        sys.stdout.write(f"lxcz {VERSION} (LXC {LXC_COMPAT} compatible)\n")
        return 0
    if cmd == "--list":
        from lxcz.tools import TOOLS

        sys.stdout.write("".join(name + "\n" for name in TOOLS))
        return 0
    if cmd == "net":
        from lxcz.net import lxcnet

        return lxcnet.main(rest)
    if cmd == "usernet":
        from lxcz.net import usernic

        return usernic.main(rest)
    if cmd in ("install", "uninstall"):
        from lxcz import selfinstall

        return selfinstall.main(cmd, rest, argv[0])
    tool = canonical(cmd)
    if tool is None:
        sys.stderr.write(f"lxcz: unknown tool '{cmd}' (lxcz --list shows every tool)\n")
        return 2
    return run_tool(tool, rest)


def finish(code: object) -> None:
    """Exit with code as sys.exit would, without the interpreter's finalization: tearing
    down the modules a tool loaded costs 1-5 ms, a good share of a short tool's run.
    Python's buffered streams and, when loaded, the logging module are flushed first;
    lxcz keeps nothing else buffered or waiting for interpreter exit."""
    if code is None:
        rc = 0
    elif isinstance(code, int):
        rc = code
    else:
        sys.stderr.write(f"{code}\n")
        rc = 1
    logging = sys.modules.get("logging")
    if logging is not None:
        logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(rc & 0xFF)


def entry() -> None:
    """The command line: main(), then finish."""
    try:
        rc: object = main()
    except SystemExit as exc:
        rc = exc.code
    finish(rc)


if __name__ == "__main__":
    entry()
