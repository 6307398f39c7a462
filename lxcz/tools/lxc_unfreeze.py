"""lxc-unfreeze: thaw every process of a frozen container; shares lxc_freeze's code."""

from __future__ import annotations

from lxcz.tools.lxc_freeze import run_verb

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional


def main(argv: List[str], prog: Optional[str] = None) -> int:
    return run_verb("unfreeze", argv, prog)
