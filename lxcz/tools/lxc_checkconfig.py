"""lxc-checkconfig: check a kernel configuration for what LXC needs.

With no argument it checks the running kernel (its configuration found as described in
lxcz.checkconfig.discover) and reports facts about the running system too. ``--config
PATH`` or ``CONFIG=PATH`` checks any configuration file or kernel image instead.

Exit codes: 0 every required option is there, 1 a required option is missing,
2 no configuration could be found or read.
"""

from __future__ import annotations

import os
import sys

from lxcz.tools.common import REQUIRED, Args, Opt, ToolParser, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

OPTIONS = [
    Opt(None, "config", "config", REQUIRED, "PATH",
        "check the kernel configuration (or kernel image with\n"
        "an embedded configuration) at PATH instead of the\n"
        "running kernel's; the CONFIG variable does the same"),
    Opt(None, "json", "json", help="print the report as JSON", action="store_true"),
]


def _body(args: Args) -> int:
    from lxcz.checkconfig import discover, extract, output, rules
    from lxcz.version import LXC_COMPAT, VERSION

    path = args.config or os.environ.get("CONFIG") or None
    found_at = None
    if path:
        config = extract.load(path)
        live = os.path.realpath(path) == discover.PROC_CONFIG
    else:
        config, _notes = discover.find()
        live = True
        if config.source != discover.PROC_CONFIG:
            found_at = config.source
    system = None
    if live:
        from lxcz.checkconfig import live as livemod

        system = livemod.gather()
    report = rules.evaluate(config, rules.load_rules(), live=live,
                            loaded_modules=system.loaded_modules if system else None,
                            proc_ns=set(system.namespaces) if system else None)
    if args.quiet:
        pass  # the exit code is the answer
    elif args.json:
        sys.stdout.write(output.render_json(report, system, LXC_COMPAT, VERSION, not path))
    else:
        sys.stdout.write(output.render_text(
            report, system, args.prog, f"{LXC_COMPAT} (lxcz {VERSION})",
            color=sys.stdout.isatty(), found_at=found_at))
    return report.exit_code()


def main(argv: List[str], prog: Optional[str] = None) -> int:
    parser = ToolParser(
        prog or "lxc-checkconfig", "[--config=PATH] [--json]",
        "checks a kernel configuration for what LXC needs:\n"
        "the running kernel's by default, or the configuration file or kernel image\n"
        "given with --config (or the CONFIG environment variable).\n\n"
        "Exit status: 0 all required options present, 1 a required option is missing,\n"
        "2 no kernel configuration found or readable.",
        OPTIONS, name_opt=False, rcfile_opt=False)
    return run(parser, argv, _body)
