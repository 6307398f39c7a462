"""lxc-config: print LXC's system configuration values (lxc.system.conf(5)).

Behaves like LXC 5's lxc-config, which has none of the common options: ``-l`` lists the
keys, ``lxc-config KEY`` prints the value (a key may be abbreviated to any prefix; the
first matching key in -l order wins), ``KEY is not set.`` when it has no value, and
``Unknown configuration item: KEY`` with exit status 1 for anything else.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional


def _usage(prog: str) -> int:
    sys.stdout.write(f"Usage: {prog} -l: list all available configuration items\n"
                     f"       {prog} item: print configuration item\n")
    return 0


def main(argv: List[str], prog: Optional[str] = None) -> int:
    from lxcz.config import system
    from lxcz.tools.common import guarded

    prog = prog or "lxc-config"
    if not argv or "-h".startswith(argv[0]) or "--help".startswith(argv[0]):
        return _usage(prog)
    arg = argv[0]
    if "-l".startswith(arg):
        sys.stdout.write("".join(k + "\n" for k in system.LISTED))
        return 0

    def body() -> int:
        for key in system.LISTED:
            if key.startswith(arg):
                value = system.get(key)
                if value is None:
                    sys.stdout.write(f"{arg} is not set.\n")
                else:
                    sys.stdout.write(value + "\n")
                return 0
        sys.stdout.write(f"Unknown configuration item: {arg}\n")
        return 1

    return guarded(prog, "", body)
