"""lxc-update-config: rewrite a pre-3.0 container configuration with LXC 5's keys.

``lxc-update-config -c FILE`` copies FILE to FILE.backup and rewrites FILE the way
upstream's script does (see lxcz.config.update for the rules and where lxcz writes the
working key instead of the script's). Options as upstream: -c/--config FILE, -h/--help;
no arguments prints the usage. After the rewrite the file is read back and any key lxcz
would still refuse is reported as a warning.
"""

from __future__ import annotations

import sys

from lxcz.tools.common import REQUIRED, Opt, ToolParser

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional


class _Parser(ToolParser):
    def help_text(self) -> str:
        return (f"{self.prog} -h|--help [-c|--config]\n"
                "config: the container configuration to update\n")

    def usage_text(self) -> str:
        return self.help_text()


def _parser(prog: str) -> ToolParser:
    return _Parser(prog, "-c FILE", "updates a legacy pre-3.0 configuration file",
                   [Opt("c", "config", "config", REQUIRED, "FILE",
                        "the container configuration to update"),
                    Opt("h", "help", "help", action="store_true")],
                   name_opt=False, rcfile_opt=False)


def main(argv: List[str], prog: Optional[str] = None) -> int:
    from lxcz.tools import common

    prog = prog or "lxc-update-config"
    parser = _parser(prog)
    if not argv:
        sys.stdout.write(parser.help_text())
        return 0

    def validate(args: common.Args) -> None:
        if not args.config:
            raise common.UsageError("missing configuration file, use -c FILE")
        if args.positional:
            raise common.UsageError(f"unexpected argument '{args.positional[0]}'")

    def body(args: common.Args) -> int:
        from lxcz.config import ContainerConfig, update
        from lxcz.errors import ConfigError
        from lxcz.log import log

        path = args.config
        changed = update.update_file(path)
        for key in changed:
            log.info("%s: updated legacy key %s", path, key)
        try:
            ContainerConfig.load(path)
        except ConfigError as err:
            log.warning("%s (after the update)", err)
        return 0

    parser.max_positional = 10 ** 6
    return common.run(parser, argv, body, validate)
